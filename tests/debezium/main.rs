//! Tests that need the real Debezium connector (the compatibility oracle, `tests/oracle`).
//!
//! `oracle_reproduces_the_reference_facts` proves the oracle itself works: it runs Debezium 3.6.3 on a
//! test database and checks its records against the live facts recorded in the Debezium reference
//! (envelope and `source` layout, tombstones, headers, key and value Avro schemas).

mod conformance;
mod registry_interop;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::TestDb;
use sluice_tests::oracle::{DebeziumOracle, OracleRecord};

/// JVM start-up plus the snapshot; generous because the machine is shared.
const START: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(60);

fn oracle_props(db: &TestDb, slot: &str) -> BTreeMap<String, String> {
    [
        ("database.hostname", "127.0.0.1".to_owned()),
        ("database.port", db.port().to_string()),
        ("database.user", "postgres".to_owned()),
        ("database.password", String::new()),
        ("database.dbname", db.name.clone()),
        ("topic.prefix", "oracle".to_owned()),
        ("slot.name", slot.to_owned()),
        ("publication.name", slot.to_owned()),
        ("plugin.name", "pgoutput".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn next(oracle: &mut DebeziumOracle, timeout: Duration, what: &str) -> OracleRecord {
    match oracle.next_record(timeout).await {
        Ok(Some(r)) => r,
        Ok(None) => panic!("no {what} from the oracle within {timeout:?}; its log:\n{}", oracle.log_tail(60)),
        Err(e) => panic!("waiting for {what}: {e:#}"),
    }
}

fn field_names(schema: &Value) -> Vec<&str> {
    schema["fields"]
        .as_array()
        .expect("a struct schema has fields")
        .iter()
        .map(|f| f["field"].as_str().expect("a field has a name"))
        .collect()
}

fn keys(object: &Value) -> Vec<&str> {
    object.as_object().expect("an object").keys().map(String::as_str).collect()
}

const ENVELOPE_FIELDS: [&str; 8] =
    ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"];
const SOURCE_FIELDS: [&str; 16] = [
    "version",
    "connector",
    "name",
    "ts_ms",
    "snapshot",
    "db",
    "sequence",
    "ts_us",
    "ts_ns",
    "schema",
    "table",
    "txId",
    "lsn",
    "xmin",
    "origin",
    "origin_lsn",
];
const CONTEXT_HEADERS: [&str; 4] = [
    "__debezium.context.connectorLogicalName",
    "__debezium.context.taskId",
    "__debezium.context.connectorName",
    "__debezium.context.runId",
];

/// Checks what every data record of `customers` shares; returns its payload.
fn check_data_record<'a>(r: &'a OracleRecord, db: &TestDb, op: &str) -> &'a Value {
    assert_eq!(r.topic, "oracle.public.customers");
    assert!(!r.key_schema_null);
    let key = r.key.as_ref().expect("a key");
    assert_eq!(
        key["schema"],
        json!({
            "type": "struct",
            "fields": [{"type": "int32", "optional": false, "default": 0, "field": "id"}],
            "optional": false,
            "name": "oracle.public.customers.Key"
        })
    );
    let value = r.value.as_ref().expect("a value");
    let schema = &value["schema"];
    assert_eq!(schema["name"], "oracle.public.customers.Envelope");
    assert_eq!(schema["version"], 2);
    assert_eq!(schema["optional"], false);
    assert_eq!(field_names(schema), ENVELOPE_FIELDS);
    let source_schema = &schema["fields"][2];
    assert_eq!(source_schema["name"], "io.debezium.connector.postgresql.Source");
    assert_eq!(source_schema["version"], 1);
    assert_eq!(field_names(source_schema), SOURCE_FIELDS);
    assert_eq!(schema["fields"][3]["name"], "event.block");

    let payload = &value["payload"];
    assert_eq!(keys(payload), ENVELOPE_FIELDS, "payload fields in schema order");
    assert_eq!(payload["op"], op);
    assert_eq!(payload["transaction"], Value::Null);
    let source = &payload["source"];
    assert_eq!(keys(source), SOURCE_FIELDS, "source fields in schema order");
    assert_eq!(source["version"], "3.6.3.Final");
    assert_eq!(source["connector"], "postgresql");
    assert_eq!(source["name"], "oracle");
    assert_eq!(source["db"], db.name.as_str());
    assert_eq!(source["schema"], "public");
    assert_eq!(source["table"], "customers");
    assert!(source["txId"].is_u64() && source["lsn"].is_u64(), "{source}");
    assert_eq!(source["xmin"], Value::Null);
    for ts in ["ts_ms", "ts_us", "ts_ns"] {
        assert!(payload[ts].is_u64() && source[ts].is_u64(), "{ts}");
    }

    let header_keys: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(header_keys, CONTEXT_HEADERS);
    assert_eq!(r.header(CONTEXT_HEADERS[0]).unwrap()["payload"], "oracle");
    assert_eq!(r.header(CONTEXT_HEADERS[1]).unwrap()["payload"], "0");
    assert_eq!(r.header(CONTEXT_HEADERS[2]).unwrap()["payload"], "postgresql");
    assert_eq!(r.header(CONTEXT_HEADERS[0]).unwrap()["schema"], json!({"type": "string", "optional": false}));
    assert_eq!(r.source_partition, json!({"server": "oracle"}));

    assert_eq!(r.key_avro_json().expect("a key Avro schema"), expected_key_avro());
    assert_eq!(r.value_avro_json().expect("a value Avro schema"), expected_value_avro());
    payload
}

/// The key schema `AvroConverter` registers for `customers` (reference §2.3, prefix `oracle`).
fn expected_key_avro() -> Value {
    json!({
        "type": "record",
        "name": "Key",
        "namespace": "oracle.public.customers",
        "fields": [{"name": "id", "type": {"type": "int", "connect.default": 0}, "default": 0}],
        "connect.name": "oracle.public.customers.Key"
    })
}

/// The value schema `AvroConverter` registers for `customers` (reference §2.3, prefix `oracle`).
fn expected_value_avro() -> Value {
    let optional_long = |name: &str| json!({"name": name, "type": ["null", "long"], "default": null});
    let string = |name: &str| json!({"name": name, "type": "string"});
    let row = json!({
        "type": "record",
        "name": "Value",
        "fields": [
            {"name": "id", "type": {"type": "int", "connect.default": 0}, "default": 0},
            string("first_name"),
            string("last_name"),
            string("email"),
        ],
        "connect.name": "oracle.public.customers.Value"
    });
    let snapshot_enum = json!({
        "type": "string",
        "connect.version": 1,
        "connect.parameters": {
            "allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"
        },
        "connect.default": "false",
        "connect.name": "io.debezium.data.Enum"
    });
    let source = json!({
        "type": "record",
        "name": "Source",
        "namespace": "io.debezium.connector.postgresql",
        "fields": [
            string("version"),
            string("connector"),
            string("name"),
            {"name": "ts_ms", "type": "long"},
            {"name": "snapshot", "type": [snapshot_enum, "null"], "default": "false"},
            string("db"),
            {"name": "sequence", "type": ["null", "string"], "default": null},
            optional_long("ts_us"),
            optional_long("ts_ns"),
            string("schema"),
            string("table"),
            optional_long("txId"),
            optional_long("lsn"),
            optional_long("xmin"),
            {"name": "origin", "type": ["null", "string"], "default": null},
            optional_long("origin_lsn"),
        ],
        "connect.version": 1,
        "connect.name": "io.debezium.connector.postgresql.Source"
    });
    let block = json!({
        "type": "record",
        "name": "block",
        "namespace": "event",
        "fields": [
            string("id"),
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"},
        ],
        "connect.version": 1,
        "connect.name": "event.block"
    });
    json!({
        "type": "record",
        "name": "Envelope",
        "namespace": "oracle.public.customers",
        "fields": [
            {"name": "before", "type": ["null", row], "default": null},
            {"name": "after", "type": ["null", "Value"], "default": null},
            {"name": "source", "type": source},
            {"name": "transaction", "type": ["null", block], "default": null},
            string("op"),
            optional_long("ts_ms"),
            optional_long("ts_us"),
            optional_long("ts_ns"),
        ],
        "connect.version": 2,
        "connect.name": "oracle.public.customers.Envelope"
    })
}

#[tokio::test]
async fn oracle_reproduces_the_reference_facts() {
    sluice_tests::init_tracing();
    let db = TestDb::create("oracle_smoke").await.unwrap();
    db.exec(
        "CREATE TABLE customers (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, \
         email text NOT NULL);
         INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org');",
    )
    .await
    .unwrap();
    let mut oracle = DebeziumOracle::start(&oracle_props(&db, "oracle_smoke")).unwrap();

    // The snapshot: one row, so it is both first and last (`snapshot: "last"`).
    let read = next(&mut oracle, START, "the snapshot record").await;
    let payload = check_data_record(&read, &db, "r");
    assert_eq!(read.key_payload(), Some(&json!({"id": 1})));
    assert_eq!(payload["before"], Value::Null);
    assert_eq!(
        payload["after"],
        json!({"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"})
    );
    assert_eq!(payload["source"]["snapshot"], "last");
    assert_eq!(read.source_offset["snapshot_completed"], true, "{}", read.source_offset);

    // Streaming: the slot exists since before the snapshot, so these are captured whenever streaming starts.
    db.exec("INSERT INTO customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com')")
        .await
        .unwrap();
    db.exec("UPDATE customers SET email = 'anne@example.com' WHERE id = 1").await.unwrap();
    db.exec("DELETE FROM customers WHERE id = 2").await.unwrap();

    let insert = next(&mut oracle, WAIT, "the insert").await;
    let payload = check_data_record(&insert, &db, "c");
    assert_eq!(insert.key_payload(), Some(&json!({"id": 2})));
    assert_eq!(payload["before"], Value::Null);
    assert_eq!(
        payload["after"],
        json!({"id": 2, "first_name": "Sally", "last_name": "Thomas", "email": "sally.thomas@acme.com"})
    );
    assert_eq!(payload["source"]["snapshot"], "false");
    assert!(payload["source"]["sequence"].is_string());
    assert_eq!(insert.source_offset["messageType"], "INSERT");

    let update = next(&mut oracle, WAIT, "the update").await;
    let payload = check_data_record(&update, &db, "u");
    assert_eq!(update.key_payload(), Some(&json!({"id": 1})));
    // REPLICA IDENTITY DEFAULT and an unchanged key: pgoutput sends no old tuple.
    assert_eq!(payload["before"], Value::Null);
    assert_eq!(payload["after"]["email"], "anne@example.com");

    let delete = next(&mut oracle, WAIT, "the delete").await;
    let payload = check_data_record(&delete, &db, "d");
    assert_eq!(delete.key_payload(), Some(&json!({"id": 2})));
    // Only the key is in the old tuple; missing NOT NULL columns get the type's fallback value.
    assert_eq!(payload["before"], json!({"id": 2, "first_name": "", "last_name": "", "email": ""}));
    assert_eq!(payload["after"], Value::Null);

    let tombstone = next(&mut oracle, WAIT, "the tombstone").await;
    assert_eq!(tombstone.topic, delete.topic);
    assert_eq!(tombstone.key, delete.key);
    assert_eq!(tombstone.value, None);
    assert_eq!(tombstone.value_avro_schema, None);
    assert_eq!(tombstone.key_avro_schema, delete.key_avro_schema);
    assert_eq!(tombstone.headers, delete.headers);
    assert_eq!(tombstone.op(), None);

    let rest = oracle.records_until_idle(Duration::from_secs(2)).await;
    assert!(rest.is_empty(), "unexpected records: {rest:?}");
    oracle.stop();
}
