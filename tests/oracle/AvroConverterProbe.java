// Drives a schema registry with Confluent's own Java client, as Kafka Connect would: AvroConverter
// (kafka-connect-avro-converter 7.0.16) serializes Debezium-shaped records through the registry and
// reads them back, then CachedSchemaRegistryClient calls the registry's management API directly.
// sluice's registry_interop test (tests/debezium/registry_interop.rs) runs it against sluice's
// embedded registry and checks every line. Compiled by scripts/install-debezium with the oracle.
//
// Usage: java -cp '<libs>/*:<classes>' AvroConverterProbe <schema.registry.url>
//
// stdout carries JSON lines only (System.out is pointed at stderr for everyone else):
//   {"kind":"record", "name", "topic", "key_hex", "key_id", "value_hex", "value_id",
//    "key_sent_schema", "value_sent_schema",      the Avro text AvroConverter POSTs
//    "key_json", "value_json",                    JsonConverter (schemas.enable=true) of the record
//    "key_roundtrip", "value_roundtrip"}          JsonConverter of what a fresh AvroConverter reads back
//   {"kind":"error", "name", "topic", "sent_schema", "exception", "causes":[...], "status", "error_code"}
//   {"kind":"client", "op", "result"} or {"kind":"client", "op", "error":{"status","error_code","message"}}
//   {"kind":"done"}
// Exits 1 (with a stack trace on stderr) on anything unexpected.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.confluent.connect.avro.AvroConverter;
import io.confluent.connect.avro.AvroData;
import io.confluent.connect.avro.AvroDataConfig;
import io.confluent.kafka.schemaregistry.avro.AvroSchema;
import io.confluent.kafka.schemaregistry.client.CachedSchemaRegistryClient;
import io.confluent.kafka.schemaregistry.client.SchemaMetadata;
import io.confluent.kafka.schemaregistry.client.rest.entities.SubjectVersion;
import io.confluent.kafka.schemaregistry.client.rest.exceptions.RestClientException;
import io.debezium.data.Envelope;
import io.debezium.schema.SchemaFactory;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

public final class AvroConverterProbe {
    /** The topic of the probe table; subjects are `<TOPIC>-key` and `<TOPIC>-value`. */
    static final String TOPIC = "probe.public.customers";

    private static final PrintStream RECORDS =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String url;
    private final AvroConverter keyWriter = new AvroConverter();
    private final AvroConverter valueWriter = new AvroConverter();
    private final AvroConverter keyReader = new AvroConverter();
    private final AvroConverter valueReader = new AvroConverter();
    private final JsonConverter keyJson = new JsonConverter();
    private final JsonConverter valueJson = new JsonConverter();
    private final AvroData avroData = new AvroData(new AvroDataConfig(new HashMap<String, Object>()));

    private AvroConverterProbe(String url) {
        this.url = url;
        Map<String, Object> avro = new HashMap<>();
        avro.put("schema.registry.url", url);
        keyWriter.configure(avro, true);
        valueWriter.configure(avro, false);
        // Separate instances with empty caches: reading must fetch each schema from the registry by id.
        keyReader.configure(avro, true);
        valueReader.configure(avro, false);
        Map<String, Object> json = new HashMap<>();
        json.put("schemas.enable", "true");
        keyJson.configure(json, true);
        valueJson.configure(json, false);
    }

    public static void main(String[] args) throws Exception {
        System.setOut(System.err);
        if (System.getProperty("org.apache.logging.log4j.level") == null) {
            System.setProperty("org.apache.logging.log4j.level", "WARN");
        }
        if (args.length != 1) {
            System.err.println("usage: java -cp '<libs>/*:<classes>' AvroConverterProbe <schema.registry.url>");
            System.exit(2);
        }
        try {
            new AvroConverterProbe(args[0]).run();
        } catch (Throwable t) {
            t.printStackTrace(System.err);
            RECORDS.flush();
            Runtime.getRuntime().halt(1);
        }
        RECORDS.flush();
        Runtime.getRuntime().halt(0);
    }

    // -----------------------------------------------------------------------------------------
    // Schemas, as Debezium 3.6 builds them for
    //   CREATE TABLE customers (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
    //     email text NOT NULL, level smallint NOT NULL, balance numeric(10,3), created_at timestamp,
    //     birthday date, updated_at timestamptz, mood mood_enum, status text DEFAULT 'new')
    // (the connector's own builders for the envelope, snapshot enum, transaction block and semantic types).

    static Schema keySchema() {
        return SchemaBuilder.struct()
                .name(TOPIC + ".Key")
                .field("id", SchemaBuilder.int32().defaultValue(0).build())
                .build();
    }

    /** The row struct; `extra` adds columns: 1 = nullable `nickname`, 2 = also NOT NULL `tier`. */
    static Schema rowSchema(int extra) {
        SchemaBuilder b = SchemaBuilder.struct()
                .name(TOPIC + ".Value")
                .optional()
                .field("id", SchemaBuilder.int32().defaultValue(0).build())
                .field("first_name", Schema.STRING_SCHEMA)
                .field("last_name", Schema.STRING_SCHEMA)
                .field("email", Schema.STRING_SCHEMA)
                .field("level", Schema.INT16_SCHEMA)
                .field("balance", Decimal.builder(3).parameter("connect.decimal.precision", "10").optional().build())
                .field("created_at", io.debezium.time.MicroTimestamp.builder().optional().build())
                .field("birthday", io.debezium.time.Date.builder().optional().build())
                .field("updated_at", io.debezium.time.ZonedTimestamp.builder().optional().build())
                .field("mood", io.debezium.data.Enum.builder("sad,ok,happy").optional().build())
                .field("status", SchemaBuilder.string().optional().defaultValue("new").build());
        if (extra >= 1) {
            b.field("nickname", Schema.OPTIONAL_STRING_SCHEMA);
        }
        if (extra >= 2) {
            b.field("tier", Schema.STRING_SCHEMA);
        }
        return b.build();
    }

    static Schema sourceSchema() {
        return SchemaBuilder.struct()
                .name("io.debezium.connector.postgresql.Source")
                .version(1)
                .field("version", Schema.STRING_SCHEMA)
                .field("connector", Schema.STRING_SCHEMA)
                .field("name", Schema.STRING_SCHEMA)
                .field("ts_ms", Schema.INT64_SCHEMA)
                .field("snapshot", SchemaFactory.get().snapshotRecordSchema())
                .field("db", Schema.STRING_SCHEMA)
                .field("sequence", Schema.OPTIONAL_STRING_SCHEMA)
                .field("ts_us", Schema.OPTIONAL_INT64_SCHEMA)
                .field("ts_ns", Schema.OPTIONAL_INT64_SCHEMA)
                .field("schema", Schema.STRING_SCHEMA)
                .field("table", Schema.STRING_SCHEMA)
                .field("txId", Schema.OPTIONAL_INT64_SCHEMA)
                .field("lsn", Schema.OPTIONAL_INT64_SCHEMA)
                .field("xmin", Schema.OPTIONAL_INT64_SCHEMA)
                .field("origin", Schema.OPTIONAL_STRING_SCHEMA)
                .field("origin_lsn", Schema.OPTIONAL_INT64_SCHEMA)
                .build();
    }

    static Schema envelopeSchema(Schema row) {
        return Envelope.defineSchema()
                .withName(TOPIC + ".Envelope")
                .withRecord(row)
                .withSource(sourceSchema())
                .withTransaction(SchemaFactory.get().transactionBlockSchema())
                .build()
                .schema();
    }

    // -----------------------------------------------------------------------------------------
    // Values

    static Struct key(Schema schema, int id) {
        return new Struct(schema).put("id", id);
    }

    static Struct source(Schema envelope, String snapshot, Long txId, Long lsn, String sequence) {
        Struct s = new Struct(envelope.field("source").schema())
                .put("version", "3.6.3.Final")
                .put("connector", "postgresql")
                .put("name", "probe")
                .put("ts_ms", 1795234936771L)
                .put("db", "probe_db")
                .put("sequence", sequence)
                .put("ts_us", 1795234936771153L)
                .put("ts_ns", 1795234936771153000L)
                .put("schema", "public")
                .put("table", "customers")
                .put("txId", txId)
                .put("lsn", lsn);
        if (snapshot != null) {
            s.put("snapshot", snapshot);
        }
        return s;
    }

    static Struct envelope(Schema envelope, Struct before, Struct after, Struct source, Struct tx, String op) {
        Struct e = new Struct(envelope)
                .put("before", before)
                .put("after", after)
                .put("source", source)
                .put("transaction", tx)
                .put("op", op)
                .put("ts_ms", 1795234937000L)
                .put("ts_us", 1795234937000123L)
                .put("ts_ns", 1795234937000123456L);
        return e;
    }

    // -----------------------------------------------------------------------------------------

    private void run() throws Exception {
        Schema key = keySchema();
        Schema row1 = rowSchema(0);
        Schema env1 = envelopeSchema(row1);

        Struct anne = new Struct(row1)
                .put("id", 1)
                .put("first_name", "Anne")
                .put("last_name", "Kretchmar")
                .put("email", "annek@noanswer.org")
                .put("level", (short) 7)
                .put("balance", new BigDecimal("12345.678"))
                .put("created_at", 1478267490123456L)
                .put("birthday", 17109)
                .put("updated_at", "2016-11-04T11:51:30.123456Z")
                .put("mood", "happy")
                .put("status", "active");
        record("snapshot-read", key, key(key, 1), env1,
                envelope(env1, null, anne, source(env1, "last", 740L, 24023128L, null), null, "r"));

        Struct anneBefore = new Struct(row1)
                .put("id", 1)
                .put("first_name", "Anne")
                .put("last_name", "Kretchmar")
                .put("email", "annek@noanswer.org")
                .put("level", (short) -32768)
                .put("created_at", -1L);
        Struct anneAfter = new Struct(row1)
                .put("id", 1)
                .put("first_name", "Änne ☃ 😀")
                .put("last_name", "K\"retch\\mar\n")
                .put("email", "anne@example.com")
                .put("level", (short) 32767)
                .put("balance", new BigDecimal("-0.001"))
                .put("birthday", -719162)
                .put("mood", "sad");
        Struct tx = new Struct(env1.field("transaction").schema())
                .put("id", "741:24023300")
                .put("total_order", 1L)
                .put("data_collection_order", 1L);
        record("streamed-update", key, key(key, 1), env1, envelope(env1, anneBefore, anneAfter,
                source(env1, null, 741L, 24023300L, "[\"24023128\",\"24023300\"]"), tx, "u"));

        Struct deleted = new Struct(row1)
                .put("id", 2)
                .put("first_name", "")
                .put("last_name", "")
                .put("email", "")
                .put("level", (short) 0)
                .put("balance", new BigDecimal("9999999.999"));
        record("streamed-delete", key, key(key, 2), env1, envelope(env1, deleted, null,
                source(env1, "false", 742L, 24023400L, "[\"24023300\",\"24023400\"]"), null, "d"));

        // A nullable column added: BACKWARD-compatible, so version 2 of the value subject.
        Schema row2 = rowSchema(1);
        Schema env2 = envelopeSchema(row2);
        Struct sally = new Struct(row2)
                .put("id", 3)
                .put("first_name", "Sally")
                .put("last_name", "Thomas")
                .put("email", "sally.thomas@acme.com")
                .put("level", (short) 1)
                .put("balance", new BigDecimal("0.000"))
                .put("nickname", "Sal");
        record("added-optional-column", key, key(key, 3), env2, envelope(env2, null, sally,
                source(env2, null, 743L, 24023500L, "[\"24023400\",\"24023500\"]"), null, "c"));

        // A NOT NULL column without default added: not BACKWARD-compatible, refused with 409.
        Schema row3 = rowSchema(2);
        Schema env3 = envelopeSchema(row3);
        Struct george = new Struct(row3)
                .put("id", 4)
                .put("first_name", "George")
                .put("last_name", "Bailey")
                .put("email", "gbailey@foobar.com")
                .put("level", (short) 2)
                .put("tier", "gold");
        refused("added-required-column", env3, envelope(env3, null, george,
                source(env3, null, 744L, 24023600L, "[\"24023500\",\"24023600\"]"), null, "c"));

        clientCalls(key, env1, env2, env3);
        ObjectNode done = MAPPER.createObjectNode();
        done.put("kind", "done");
        emit(done);
    }

    private void record(String name, Schema keySchema, Struct key, Schema valueSchema, Struct value) throws Exception {
        ObjectNode out = MAPPER.createObjectNode();
        out.put("kind", "record");
        out.put("name", name);
        out.put("topic", TOPIC);
        byte[] keyBytes = keyWriter.fromConnectData(TOPIC, keySchema, key);
        byte[] valueBytes = valueWriter.fromConnectData(TOPIC, valueSchema, value);
        out.put("key_hex", hex(keyBytes));
        out.put("key_id", schemaId(keyBytes));
        out.put("value_hex", hex(valueBytes));
        out.put("value_id", schemaId(valueBytes));
        out.put("key_sent_schema", sentSchema(keySchema));
        out.put("value_sent_schema", sentSchema(valueSchema));
        out.set("key_json", MAPPER.readTree(keyJson.fromConnectData(TOPIC, keySchema, key)));
        out.set("value_json", MAPPER.readTree(valueJson.fromConnectData(TOPIC, valueSchema, value)));
        SchemaAndValue keyBack = keyReader.toConnectData(TOPIC, keyBytes);
        SchemaAndValue valueBack = valueReader.toConnectData(TOPIC, valueBytes);
        out.set("key_roundtrip", MAPPER.readTree(keyJson.fromConnectData(TOPIC, keyBack.schema(), keyBack.value())));
        out.set("value_roundtrip",
                MAPPER.readTree(valueJson.fromConnectData(TOPIC, valueBack.schema(), valueBack.value())));
        emit(out);
    }

    private void refused(String name, Schema valueSchema, Struct value) {
        ObjectNode out = MAPPER.createObjectNode();
        out.put("kind", "error");
        out.put("name", name);
        out.put("topic", TOPIC);
        out.put("sent_schema", sentSchema(valueSchema));
        try {
            byte[] bytes = valueWriter.fromConnectData(TOPIC, valueSchema, value);
            out.put("unexpected_success_hex", hex(bytes));
        } catch (RuntimeException e) {
            out.put("exception", e.toString());
            ArrayNode causes = out.putArray("causes");
            for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
                causes.add(t.toString());
                if (t instanceof RestClientException) {
                    out.put("status", ((RestClientException) t).getStatus());
                    out.put("error_code", ((RestClientException) t).getErrorCode());
                }
            }
        }
        emit(out);
    }

    private void clientCalls(Schema key, Schema env1, Schema env2, Schema env3) throws Exception {
        CachedSchemaRegistryClient client = new CachedSchemaRegistryClient(url, 100);
        String keySubject = TOPIC + "-key";
        String valueSubject = TOPIC + "-value";
        AvroSchema v1 = new AvroSchema(avroData.fromConnectSchema(env1));
        AvroSchema v2 = new AvroSchema(avroData.fromConnectSchema(env2));
        AvroSchema v3 = new AvroSchema(avroData.fromConnectSchema(env3));

        call("getAllSubjects", () -> MAPPER.valueToTree(new ArrayList<>(client.getAllSubjects())));
        call("getAllSubjectsByPrefix",
                () -> MAPPER.valueToTree(new ArrayList<>(client.getAllSubjectsByPrefix("probe."))));
        call("getLatestSchemaMetadata", () -> metadata(client.getLatestSchemaMetadata(valueSubject)));
        call("getSchemaMetadata(1)", () -> metadata(client.getSchemaMetadata(valueSubject, 1)));
        call("getVersion(v1)", () -> MAPPER.valueToTree(client.getVersion(valueSubject, v1)));
        call("getVersion(v2)", () -> MAPPER.valueToTree(client.getVersion(valueSubject, v2)));
        call("getVersion(v3)", () -> MAPPER.valueToTree(client.getVersion(valueSubject, v3)));
        call("getId(v2)", () -> MAPPER.valueToTree(client.getId(valueSubject, v2)));
        call("getAllVersions", () -> MAPPER.valueToTree(client.getAllVersions(valueSubject)));
        call("getSchemaById(v2)", () -> {
            int id = client.getId(valueSubject, v2);
            return MAPPER.valueToTree(client.getSchemaById(id).canonicalString());
        });
        call("getAllSubjectsById(key)", () -> {
            int id = client.getId(keySubject, new AvroSchema(avroData.fromConnectSchema(key)));
            return MAPPER.valueToTree(new ArrayList<>(client.getAllSubjectsById(id)));
        });
        call("getAllVersionsById(v1)", () -> {
            int id = client.getId(valueSubject, v1);
            ArrayNode a = MAPPER.createArrayNode();
            for (SubjectVersion sv : client.getAllVersionsById(id)) {
                a.addObject().put("subject", sv.getSubject()).put("version", sv.getVersion());
            }
            return a;
        });
        call("testCompatibility(v2)", () -> MAPPER.valueToTree(client.testCompatibility(valueSubject, v2)));
        call("testCompatibility(v3)", () -> MAPPER.valueToTree(client.testCompatibility(valueSubject, v3)));
        call("testCompatibilityVerbose(v3)",
                () -> MAPPER.valueToTree(client.testCompatibilityVerbose(valueSubject, v3)));
        call("getCompatibility(before)", () -> MAPPER.valueToTree(client.getCompatibility(valueSubject)));
        call("updateCompatibility(FULL)", () -> MAPPER.valueToTree(client.updateCompatibility(valueSubject, "FULL")));
        call("getCompatibility(after)", () -> MAPPER.valueToTree(client.getCompatibility(valueSubject)));
        call("testCompatibility(v3,FULL)", () -> MAPPER.valueToTree(client.testCompatibility(valueSubject, v3)));
        call("getMode", () -> MAPPER.valueToTree(client.getMode()));
        call("register(v3,other)", () -> MAPPER.valueToTree(client.register("other-value", v3)));
        call("setMode(other,READONLY)", () -> MAPPER.valueToTree(client.setMode("READONLY", "other-value")));
        call("getMode(other)", () -> MAPPER.valueToTree(client.getMode("other-value")));
        call("register(v1,other,readonly)", () -> MAPPER.valueToTree(client.register("other-value", v1)));
        call("setMode(other,READWRITE)", () -> MAPPER.valueToTree(client.setMode("READWRITE", "other-value")));
        call("deleteSubject(key)", () -> MAPPER.valueToTree(client.deleteSubject(keySubject)));
        call("getAllSubjects(after delete)", () -> MAPPER.valueToTree(new ArrayList<>(client.getAllSubjects())));
        call("getLatestSchemaMetadata(deleted)", () -> metadata(client.getLatestSchemaMetadata(keySubject)));
        call("deleteSubject(key,permanent)", () -> MAPPER.valueToTree(client.deleteSubject(keySubject, true)));
        call("deleteSubject(key,again)", () -> MAPPER.valueToTree(client.deleteSubject(keySubject)));
        // The serializer's cache still maps the key schema to its (now deleted) id; a fresh client
        // registers it again and gets the same id back, as Confluent does.
        call("register(key,fresh client)", () -> MAPPER.valueToTree(new CachedSchemaRegistryClient(url, 100)
                .register(keySubject, new AvroSchema(avroData.fromConnectSchema(key)))));
    }

    private interface Call {
        JsonNode run() throws Exception;
    }

    private static void call(String op, Call call) {
        ObjectNode out = MAPPER.createObjectNode();
        out.put("kind", "client");
        out.put("op", op);
        try {
            out.set("result", call.run());
        } catch (RestClientException e) {
            out.putObject("error")
                    .put("status", e.getStatus())
                    .put("error_code", e.getErrorCode())
                    .put("message", e.getMessage());
        } catch (Exception e) {
            out.putObject("error").put("exception", e.toString());
        }
        emit(out);
    }

    private static JsonNode metadata(SchemaMetadata m) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("id", m.getId());
        o.put("version", m.getVersion());
        o.put("schemaType", m.getSchemaType());
        o.put("schema", m.getSchema());
        return o;
    }

    /** The schema text AvroConverter POSTs for a Connect schema (its `AvroSchema.canonicalString()`). */
    private String sentSchema(Schema schema) {
        return new AvroSchema(avroData.fromConnectSchema(schema)).canonicalString();
    }

    private static int schemaId(byte[] framed) {
        if (framed.length < 5 || framed[0] != 0) {
            throw new IllegalStateException("not Confluent-framed: " + hex(framed));
        }
        return ByteBuffer.wrap(framed, 1, 4).getInt();
    }

    private static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            s.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return s.toString();
    }

    private static void emit(JsonNode node) {
        try {
            RECORDS.println(MAPPER.writeValueAsString(node));
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
