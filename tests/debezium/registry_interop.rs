//! The embedded schema registry under Confluent's own Java client.
//!
//! `tests/oracle/AvroConverterProbe.java` runs Confluent's `AvroConverter` (7.0.16, the converter
//! Kafka Connect users put in front of Debezium) and `CachedSchemaRegistryClient` against sluice's
//! registry, served in-process from a file log. The probe serializes Debezium-shaped records of
//! a `customers` table (key; envelope with `source`, `transaction`, Decimal, int16,
//! `io.debezium.time.*`, `io.debezium.data.Enum`, an optional column with a default), evolves the
//! row by an optional column (BACKWARD-compatible) and by a required one (refused), reads every
//! record back through a converter with empty caches (`GET /schemas/ids/{id}`), and calls the
//! client's management API. This test checks, from the Rust side:
//!
//! * each framed record: its schema id resolves in the registry, the registered text converts
//!   (`connect_schema_from_avro`) to the schema Confluent's `AvroData` derives from it, the body
//!   decodes to the record's value, and sluice's encoder reproduces the converter's bytes exactly;
//! * the registered texts equal, byte for byte, what `avro_schema_string` renders for the same
//!   Connect schemas built in Rust, and what the converter sent;
//! * subjects follow `TopicNameStrategy`, versions and ids are as Confluent assigns them, the
//!   incompatible schema got HTTP 409 / 40901, and every client call answered as Confluent's
//!   registry would;
//! * the registry's state survives reopening its file log.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_debezium::avro::{avro_schema_string, connect_schema_from_avro, decode, encode, unframe};
use sluice_debezium::connect::{ConnectValue, Field, Schema, SchemaType};
use sluice_debezium::{envelope, json as connect_json};
use sluice_registry::compatibility::CompatibilityLevel;
use sluice_registry::registry::VersionSelector;
use sluice_registry::{FileLog, Registry, RegistryClient, RegistryClientConfig};
use sluice_tests::oracle::java_command;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "probe.public.customers";
const KEY_SUBJECT: &str = "probe.public.customers-key";
const VALUE_SUBJECT: &str = "probe.public.customers-value";
const OTHER_SUBJECT: &str = "other-value";
/// JVM start-up and the probe's few dozen requests; generous because the machine is shared.
const PROBE_TIMEOUT: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------------------------------
// The probe's Connect schemas, built the sluice way.

fn field(name: &str, schema: Schema) -> Field {
    Field { name: name.to_owned(), schema: Arc::new(schema) }
}

fn prim(t: SchemaType) -> Schema {
    Schema::primitive(t)
}

fn key_schema() -> Schema {
    Schema::structure(
        format!("{TOPIC}.Key"),
        vec![field("id", prim(SchemaType::Int32).with_default(ConnectValue::Int32(0)))],
    )
}

/// The row struct; `extra` adds columns as the probe does: 1 = nullable `nickname`, 2 = also
/// NOT NULL `tier`.
fn row_schema(extra: u8) -> Schema {
    let mut fields = vec![
        field("id", prim(SchemaType::Int32).with_default(ConnectValue::Int32(0))),
        field("first_name", prim(SchemaType::String)),
        field("last_name", prim(SchemaType::String)),
        field("email", prim(SchemaType::String)),
        field("level", prim(SchemaType::Int16)),
        field(
            "balance",
            prim(SchemaType::Bytes)
                .named("org.apache.kafka.connect.data.Decimal")
                .versioned(1)
                .with_parameter("scale", "3")
                .with_parameter("connect.decimal.precision", "10")
                .optional(),
        ),
        field(
            "created_at",
            prim(SchemaType::Int64).named("io.debezium.time.MicroTimestamp").versioned(1).optional(),
        ),
        field("birthday", prim(SchemaType::Int32).named("io.debezium.time.Date").versioned(1).optional()),
        field(
            "updated_at",
            prim(SchemaType::String).named("io.debezium.time.ZonedTimestamp").versioned(1).optional(),
        ),
        field(
            "mood",
            prim(SchemaType::String)
                .named("io.debezium.data.Enum")
                .versioned(1)
                .with_parameter("allowed", "sad,ok,happy")
                .optional(),
        ),
        field("status", prim(SchemaType::String).optional().with_default(ConnectValue::String("new".into()))),
    ];
    if extra >= 1 {
        fields.push(field("nickname", prim(SchemaType::String).optional()));
    }
    if extra >= 2 {
        fields.push(field("tier", prim(SchemaType::String)));
    }
    Schema::structure(format!("{TOPIC}.Value"), fields).optional()
}

fn envelope_schema(extra: u8) -> Schema {
    let row = row_schema(extra);
    let optional_int64 = || prim(SchemaType::Int64).optional();
    Schema::structure(
        format!("{TOPIC}.Envelope"),
        vec![
            field("before", row.clone()),
            field("after", row),
            Field { name: "source".into(), schema: envelope::source_schema() },
            Field { name: "transaction".into(), schema: envelope::transaction_block_schema() },
            field("op", prim(SchemaType::String)),
            field("ts_ms", optional_int64()),
            field("ts_us", optional_int64()),
            field("ts_ns", optional_int64()),
        ],
    )
    .versioned(envelope::ENVELOPE_SCHEMA_VERSION)
}

// ---------------------------------------------------------------------------------------------
// Running the probe.

struct ProbeOutput {
    lines: Vec<Value>,
    stderr: String,
}

/// Runs the Java probe against `url` to completion (killed after [`PROBE_TIMEOUT`]), while this
/// runtime keeps serving the registry.
async fn run_probe(url: &str, dir: &Path) -> ProbeOutput {
    let stdout_path = dir.join("probe.stdout");
    let stderr_path = dir.join("probe.stderr");
    let mut cmd = java_command("AvroConverterProbe").expect("the probe is compiled with the oracle");
    cmd.arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut child = cmd.spawn().expect("could not start java");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > PROBE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "the probe failed ({status:?}, after {:?}); stdout:\n{stdout}\nstderr:\n{stderr}",
        started.elapsed()
    );
    let lines = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("probe printed a non-JSON line ({e}): {l}"))
        })
        .collect();
    ProbeOutput { lines, stderr }
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn id_of(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_else(|| panic!("not a schema id: {v}"))
}

/// A schema as the converter's reader sees it: `AvroConverter.toConnectData` gives an unversioned
/// top-level schema the registry version it was read under (`AvroData.toConnectData(schema, value,
/// version)`).
fn with_registry_version(mut schema: Schema, version: u32) -> Schema {
    if schema.version.is_none() {
        schema.version = Some(i32::try_from(version).unwrap());
    }
    schema
}

/// Asserts two schema texts are equal byte for byte; if not, says where they part.
fn assert_same_text(left: &str, right: &str, what: &str) {
    if left == right {
        return;
    }
    let at = left.bytes().zip(right.bytes()).take_while(|(a, b)| a == b).count();
    let around = |s: &str| {
        let mut start = at.saturating_sub(60).min(s.len());
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 60).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s[start..end].to_owned()
    };
    panic!(
        "{what}: the texts differ from byte {at} (lengths {} and {}):\n  …{}…\n  …{}…\nin full:\n{left}\n{right}",
        left.len(),
        right.len(),
        around(left),
        around(right)
    );
}

/// Checks one framed key or value printed by the probe; returns its schema id and decoded value.
async fn check_framed(
    name: &str,
    which: &str,
    line: &Value,
    expected_schema: &Schema,
    registry: &Registry,
    client: &RegistryClient,
    subject: &str,
) -> (u32, ConnectValue) {
    let what = format!("{name} {which}");
    let framed = unhex(line[format!("{which}_hex")].as_str().unwrap());
    let (id, body) = unframe(&framed).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(id, id_of(&line[format!("{which}_id")]), "{what}: the id in the frame");

    // The id resolves, over HTTP and in-process, to the text sluice renders for the same schema.
    let text = client.schema_by_id(id).await.unwrap_or_else(|e| panic!("{what}: schema {id}: {e}"));
    assert_eq!(&*text, registry.schema_by_id(id).await.unwrap().text, "{what}");
    let rendered = avro_schema_string(expected_schema).unwrap();
    let sent = line[format!("{which}_sent_schema")].as_str().unwrap();
    assert_same_text(
        sent,
        &rendered,
        &format!("{what}: AvroConverter's schema text vs sluice's avro_schema_string"),
    );
    assert_same_text(
        &text,
        &rendered,
        &format!("{what}: the registered text vs sluice's avro_schema_string"),
    );
    let holders = registry.versions_for_id(id, false).await.unwrap();
    assert!(
        holders.iter().any(|(s, _)| s == subject),
        "{what}: id {id} is held by {holders:?}, not {subject}"
    );

    // The Connect schema: built in Rust = built by the probe; derived from the registered text =
    // derived by the converter that read the record back.
    let java = &line[format!("{which}_json")];
    assert_eq!(
        connect_json::schema_to_json(expected_schema),
        java["schema"],
        "{what}: the Rust-built schema"
    );
    let derived = connect_schema_from_avro(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let version = holders.iter().find(|(s, _)| s == subject).map(|(_, v)| *v).unwrap();
    let roundtrip = &line[format!("{which}_roundtrip")];
    assert_eq!(
        connect_json::schema_to_json(&with_registry_version(derived.clone(), version)),
        roundtrip["schema"],
        "{what}: connect_schema_from_avro vs AvroData.toConnectSchema"
    );

    // The body: decodes to the record's value, and sluice's encoder writes the converter's bytes.
    let decoded = decode(&derived, body).unwrap_or_else(|e| panic!("{what}: decode: {e}"));
    assert_eq!(
        connect_json::value_to_json(&derived, &decoded).unwrap(),
        java["payload"],
        "{what}: decoded value"
    );
    assert_eq!(roundtrip["payload"], java["payload"], "{what}: the value the Java converter read back");
    let mut again = Vec::new();
    encode(expected_schema, &decoded, &mut again).unwrap();
    assert_eq!(hex(&again), hex(body), "{what}: sluice's Avro encoding vs AvroConverter's");
    (id, decoded)
}

fn client_result<'a>(calls: &'a BTreeMap<String, Value>, op: &str) -> &'a Value {
    let call = calls.get(op).unwrap_or_else(|| panic!("the probe did not report {op}"));
    assert!(call.get("error").is_none(), "{op} failed: {call}");
    &call["result"]
}

fn client_error<'a>(calls: &'a BTreeMap<String, Value>, op: &str, status: u64, code: u64) -> &'a str {
    let call = calls.get(op).unwrap_or_else(|| panic!("the probe did not report {op}"));
    let error = &call["error"];
    assert_eq!(
        (error["status"].as_u64(), error["error_code"].as_u64()),
        (Some(status), Some(code)),
        "{op}: {call}"
    );
    error["message"].as_str().unwrap()
}

#[tokio::test]
async fn confluent_avro_converter_and_client_work_against_the_embedded_registry() {
    sluice_tests::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("schemas.jsonl");
    let registry = Registry::open(Box::new(FileLog::open(&log_path).unwrap())).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let server =
        tokio::spawn(sluice_registry::server::serve(listener, Arc::clone(&registry), cancel.clone()));

    let probe = run_probe(&url, dir.path()).await;
    let context = || format!("probe stderr:\n{}", probe.stderr);
    assert_eq!(probe.lines.last(), Some(&json!({"kind": "done"})), "{}", context());
    let mut records = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut calls = BTreeMap::new();
    for line in &probe.lines {
        let name = line["name"].as_str().or(line["op"].as_str()).unwrap_or_default().to_owned();
        match line["kind"].as_str() {
            Some("record") => records.insert(name, line.clone()),
            Some("error") => errors.insert(name, line.clone()),
            Some("client") => calls.insert(name, line.clone()),
            _ => None,
        };
    }
    let client = RegistryClient::new(RegistryClientConfig::new(&url).unwrap()).unwrap();

    // 1. Records: the first schema for three records, the evolved one for the fourth.
    let key = key_schema();
    let (v1, v2, v3) = (envelope_schema(0), envelope_schema(1), envelope_schema(2));
    let mut key_ids = Vec::new();
    let mut value_ids = Vec::new();
    let mut values = Vec::new();
    for (name, value_schema) in [
        ("snapshot-read", &v1),
        ("streamed-update", &v1),
        ("streamed-delete", &v1),
        ("added-optional-column", &v2),
    ] {
        let line = records.get(name).unwrap_or_else(|| panic!("no record {name}; {}", context()));
        assert_eq!(line["topic"], TOPIC);
        key_ids.push(check_framed(name, "key", line, &key, &registry, &client, KEY_SUBJECT).await.0);
        let (id, value) =
            check_framed(name, "value", line, value_schema, &registry, &client, VALUE_SUBJECT).await;
        value_ids.push(id);
        values.push(value);
    }
    // The types JSON cannot show: int16, Decimal bytes (unscaled, minimal), semantic ints.
    let ConnectValue::Struct(envelope) = &values[0] else { panic!("not a struct: {:?}", values[0]) };
    assert_eq!(envelope[0], ConnectValue::Null, "before");
    let s = |t: &str| ConnectValue::String(t.to_owned());
    let anne = ConnectValue::Struct(vec![
        ConnectValue::Int32(1),
        s("Anne"),
        s("Kretchmar"),
        s("annek@noanswer.org"),
        ConnectValue::Int16(7),
        ConnectValue::Bytes(vec![0x00, 0xbc, 0x61, 0x4e]),
        ConnectValue::Int64(1_478_267_490_123_456),
        ConnectValue::Int32(17109),
        s("2016-11-04T11:51:30.123456Z"),
        s("happy"),
        s("active"),
    ]);
    assert_eq!(envelope[1], anne, "after");
    assert_eq!(envelope[4], s("r"), "op");
    let key_id = key_ids[0];
    assert!(key_ids.iter().all(|id| *id == key_id), "one key schema, one id: {key_ids:?}");
    let (v1_id, v2_id) = (value_ids[0], value_ids[3]);
    assert_eq!(&value_ids[..3], [v1_id; 3]);
    assert_eq!((key_id, v1_id, v2_id), (1, 2, 3), "ids in registration order");
    let v1_text = avro_schema_string(&v1).unwrap();
    let v2_text = avro_schema_string(&v2).unwrap();
    let v3_text = avro_schema_string(&v3).unwrap();

    // 2. The required column without default: refused with 409 / 40901, nothing registered.
    let refused = errors.get("added-required-column").unwrap_or_else(|| panic!("no refusal; {}", context()));
    assert_eq!(refused["sent_schema"].as_str(), Some(v3_text.as_str()), "the refused schema's text");
    assert!(
        refused.get("unexpected_success_hex").is_none(),
        "the incompatible schema was accepted: {refused}"
    );
    assert_eq!(
        (refused["status"].as_u64(), refused["error_code"].as_u64()),
        (Some(409), Some(40901)),
        "{refused}"
    );
    let causes = refused["causes"].to_string();
    for needle in [
        "Schema being registered is incompatible with an earlier schema for subject \\\"probe.public.customers-value\\\"",
        "READER_FIELD_MISSING_DEFAULT_VALUE",
        "'tier'",
        "error code: 40901",
    ] {
        assert!(causes.contains(needle), "the converter's error lacks {needle}: {refused}");
    }

    // 3. What CachedSchemaRegistryClient saw.
    assert_eq!(client_result(&calls, "getAllSubjects"), &json!([KEY_SUBJECT, VALUE_SUBJECT]));
    assert_eq!(client_result(&calls, "getAllSubjectsByPrefix"), &json!([KEY_SUBJECT, VALUE_SUBJECT]));
    let latest = client_result(&calls, "getLatestSchemaMetadata");
    assert_eq!(latest, &json!({"id": v2_id, "version": 2, "schemaType": "AVRO", "schema": v2_text}));
    let first = client_result(&calls, "getSchemaMetadata(1)");
    assert_eq!(first, &json!({"id": v1_id, "version": 1, "schemaType": "AVRO", "schema": v1_text}));
    assert_eq!(client_result(&calls, "getVersion(v1)"), 1);
    assert_eq!(client_result(&calls, "getVersion(v2)"), 2);
    client_error(&calls, "getVersion(v3)", 404, 40403);
    assert_eq!(id_of(client_result(&calls, "getId(v2)")), v2_id);
    assert_eq!(client_result(&calls, "getAllVersions"), &json!([1, 2]));
    assert_eq!(client_result(&calls, "getSchemaById(v2)"), v2_text.as_str());
    assert_eq!(client_result(&calls, "getAllSubjectsById(key)"), &json!([KEY_SUBJECT]));
    assert_eq!(
        client_result(&calls, "getAllVersionsById(v1)"),
        &json!([{"subject": VALUE_SUBJECT, "version": 1}])
    );
    assert_eq!(client_result(&calls, "testCompatibility(v2)"), true);
    assert_eq!(client_result(&calls, "testCompatibility(v3)"), false);
    let verbose = client_result(&calls, "testCompatibilityVerbose(v3)").to_string();
    assert!(verbose.contains("READER_FIELD_MISSING_DEFAULT_VALUE") && verbose.contains("tier"), "{verbose}");
    client_error(&calls, "getCompatibility(before)", 404, 40408);
    assert_eq!(client_result(&calls, "updateCompatibility(FULL)"), "FULL");
    assert_eq!(client_result(&calls, "getCompatibility(after)"), "FULL");
    assert_eq!(client_result(&calls, "testCompatibility(v3,FULL)"), false);
    assert_eq!(client_result(&calls, "getMode"), "READWRITE");
    let other_id = id_of(client_result(&calls, "register(v3,other)"));
    assert_eq!(other_id, 4, "a new subject takes the schema with the next id");
    assert_eq!(client_result(&calls, "setMode(other,READONLY)"), "READONLY");
    assert_eq!(client_result(&calls, "getMode(other)"), "READONLY");
    let read_only = client_error(&calls, "register(v1,other,readonly)", 422, 42205);
    assert!(read_only.contains("read-only"), "{read_only}");
    assert_eq!(client_result(&calls, "setMode(other,READWRITE)"), "READWRITE");
    assert_eq!(client_result(&calls, "deleteSubject(key)"), &json!([1]));
    assert_eq!(client_result(&calls, "getAllSubjects(after delete)"), &json!([OTHER_SUBJECT, VALUE_SUBJECT]));
    client_error(&calls, "getLatestSchemaMetadata(deleted)", 404, 40401);
    assert_eq!(client_result(&calls, "deleteSubject(key,permanent)"), &json!([1]));
    client_error(&calls, "deleteSubject(key,again)", 404, 40401);
    assert_eq!(id_of(client_result(&calls, "register(key,fresh client)")), key_id, "ids are never reused");

    // 4. The registry's own view, over HTTP and in-process.
    assert_eq!(client.subjects().await.unwrap(), [OTHER_SUBJECT, KEY_SUBJECT, VALUE_SUBJECT]);
    assert_eq!(client.versions(VALUE_SUBJECT).await.unwrap(), [1, 2]);
    assert_eq!(
        registry.versions(KEY_SUBJECT, true).await.unwrap(),
        [1],
        "versions restart after a hard delete"
    );
    for (subject, version, text) in
        [(VALUE_SUBJECT, 1, &v1_text), (VALUE_SUBJECT, 2, &v2_text), (OTHER_SUBJECT, 1, &v3_text)]
    {
        let found = registry.version(subject, VersionSelector::Number(version), false).await.unwrap();
        assert_same_text(
            &found.schema,
            text,
            &format!("{subject} version {version}: registered vs rendered"),
        );
    }
    assert_eq!(registry.config(Some(VALUE_SUBJECT), false).await.unwrap(), CompatibilityLevel::Full);
    assert_eq!(client.config(Some(KEY_SUBJECT)).await.unwrap(), "BACKWARD");

    // 5. Everything above is in the file log.
    cancel.cancel();
    server.await.unwrap().unwrap();
    let before = registry.snapshot().await.unwrap();
    // The file is locked while its registry is open.
    drop(registry);
    let reopened = Registry::open(Box::new(FileLog::open(&log_path).unwrap())).await.unwrap();
    assert_eq!(reopened.snapshot().await.unwrap(), before, "the state replayed from {}", log_path.display());
}
