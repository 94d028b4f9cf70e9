//! Differential conformance: the real Debezium 3.6.3 and sluice read the same database (each
//! through its own slot) under the same workload, and every record must be the same, field by field:
//! topic, key and value with their schemas (JsonConverter, `schemas.enable=true`), and headers.
//!
//! Ignored, because they are processing-time or per-run values: the envelope's `ts_ms`/`ts_us`/
//! `ts_ns`, the `__debezium.context.runId` header, and for snapshot reads the source's time, `txId`,
//! `lsn` and `sequence` (each side's snapshot belongs to its own slot, created at its own moment).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sluice_core::{SourceEvent, Timestamp};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::avro;
use sluice_debezium::json;
use sluice_debezium::record::{Record, RecordBuilder};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader;
use sluice_tests::TestDb;
use sluice_tests::capture::wait_for_slot;
use sluice_tests::oracle::{DebeziumOracle, OracleRecord};
use tokio_util::sync::CancellationToken;

const START: Duration = Duration::from_secs(180);

/// Stands for "no Avro schema can be derived from this Connect schema".
const AVRO_REFUSED: &str = "<AvroData refuses this schema>";

/// One record in comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Comparable {
    topic: String,
    key: Option<Value>,
    value: Option<Value>,
    headers: Vec<(String, Value)>,
    /// The Avro schemas Confluent's AvroConverter would register (compared as exact text).
    key_avro: Option<String>,
    value_avro: Option<String>,
}

impl Comparable {
    fn from_oracle(r: &OracleRecord) -> Self {
        Comparable {
            topic: r.topic.clone(),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
            // AvroData refuses some names (e.g. quoted identifiers without name adjustment); both
            // sides must then refuse.
            key_avro: r
                .key_avro_error
                .as_ref()
                .map(|_| AVRO_REFUSED.to_owned())
                .or_else(|| r.key_avro_schema.clone()),
            value_avro: r
                .value_avro_error
                .as_ref()
                .map(|_| AVRO_REFUSED.to_owned())
                .or_else(|| r.value_avro_schema.clone()),
        }
        .normalized()
    }

    fn from_sluice(r: &Record) -> Self {
        let parse =
            |bytes: Option<Vec<u8>>| bytes.map(|b| serde_json::from_slice::<Value>(&b).expect("valid JSON"));
        let key =
            parse(json::serialize(r.key_schema.as_deref(), r.key.as_ref(), true).expect("key serializes"));
        let value = parse(
            json::serialize(r.value_schema.as_deref(), r.value.as_ref(), true).expect("value serializes"),
        );
        let headers = r
            .headers
            .iter()
            .map(|h| {
                let v =
                    parse(json::serialize(Some(&h.schema), Some(&h.value), true).expect("header serializes"));
                (h.key.clone(), v.unwrap_or(Value::Null))
            })
            .collect();
        let avro = |schema: Option<&sluice_debezium::Schema>| {
            schema.map(|s| {
                sluice_debezium::avro::avro_schema_string(s).unwrap_or_else(|_| AVRO_REFUSED.to_owned())
            })
        };
        Comparable {
            topic: r.topic.clone(),
            key,
            value,
            headers,
            key_avro: avro(r.key_schema.as_deref()),
            value_avro: avro(r.value_schema.as_deref()),
        }
        .normalized()
    }

    fn normalized(mut self) -> Self {
        // Heartbeats carry the time they were sent.
        if self.topic.starts_with("__debezium-heartbeat")
            && let Some(ts) = self.value.as_mut().and_then(|v| v.pointer_mut("/payload/ts_ms"))
        {
            *ts = Value::Null;
        }
        if let Some(payload) =
            self.value.as_mut().and_then(|v| v.get_mut("payload")).and_then(Value::as_object_mut)
        {
            for f in ["ts_ms", "ts_us", "ts_ns"] {
                if payload.contains_key(f) {
                    payload.insert(f.into(), Value::Null);
                }
            }
            let is_read = payload.get("op").and_then(Value::as_str) == Some("r");
            if is_read && let Some(source) = payload.get_mut("source").and_then(Value::as_object_mut) {
                for f in ["ts_ms", "ts_us", "ts_ns", "txId", "lsn", "sequence"] {
                    source.insert(f.into(), Value::Null);
                }
            }
        }
        for (k, v) in &mut self.headers {
            if k == "__debezium.context.runId" {
                *v = Value::Null;
            }
        }
        // A transactional logical message is its own data collection, named after a Java identity
        // hash (docs/compatibility.md): compare the names without the hash, and the collections
        // of such a transaction in name order.
        if let Some(collections) = self
            .value
            .as_mut()
            .and_then(|v| v.pointer_mut("/payload/data_collections"))
            .and_then(Value::as_array_mut)
        {
            let mut has_message = false;
            for c in collections.iter_mut() {
                if let Some(name) = c.get_mut("data_collection")
                    && let Some((prefix, _)) =
                        name.as_str().and_then(|n| n.split_once("LogicalDecodingMessageId@"))
                {
                    *name = Value::String(format!("{prefix}LogicalDecodingMessageId@*"));
                    has_message = true;
                }
            }
            if has_message {
                collections.sort_by_key(|c| c.to_string());
            }
        }
        self
    }
}

/// Appends the differences between two JSON values to `out`, one line each.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let xk: Vec<&String> = x.keys().collect();
            let yk: Vec<&String> = y.keys().collect();
            if xk != yk {
                out.push(format!("{path}: keys debezium {xk:?} sluice {yk:?}"));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    diff(&format!("{path}.{k}"), v, w, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: debezium {a} sluice {b}")),
    }
}

/// Known, documented differences (docs/compatibility.md, "Intended differences"): a record path
/// suffix, Debezium's value and sluice's. Each is a place where Debezium's snapshot (read through
/// JDBC) silently changes a value that its own streaming, and sluice, report correctly.
const INTENDED: &[(&str, &str, &str)] = &[
    // date '4713-01-01 BC' in a snapshot: JDBC drops the era (4713 AD).
    (".value.payload.after.c_date", "1001860", "-2440550"),
    // date '-infinity' in a snapshot: JDBC's sentinel date, not Debezium's streaming value.
    (".value.payload.after.c_date_big", "-625821272", "-2147472691"),
    // The same two values with time.precision.mode=isostring.
    (".value.payload.after.c_date", "\"4713-01-01Z\"", "\"-4712-01-01Z\""),
    (".value.payload.after.c_date_big", "\"+292269055-12-02Z\"", "\"-5877611-06-22Z\""),
];

fn intended(line: &str) -> bool {
    // Multi-dimensional arrays of some element types: Debezium prints the Java array object
    // (`[Ljava.lang.String;@1a2b3c`, an identity hash); sluice sends null.
    if let Some((_, rest)) = line.split_once(": debezium ")
        && rest.contains("[Ljava.")
        && rest.ends_with(" sluice null")
    {
        return true;
    }
    INTENDED.iter().any(|(path, theirs, ours)| {
        line.split_once(": debezium ")
            .is_some_and(|(p, rest)| p.ends_with(path) && rest == format!("{theirs} sluice {ours}"))
    })
}

/// Compares the two record streams topic by topic, in order; returns readable differences.
fn compare(debezium: &[Comparable], sluice: &[Comparable]) -> Vec<String> {
    let by_topic = |records: &[Comparable]| {
        let mut m: BTreeMap<String, Vec<Comparable>> = BTreeMap::new();
        for r in records {
            m.entry(r.topic.clone()).or_default().push(r.clone());
        }
        m
    };
    let (d, s) = (by_topic(debezium), by_topic(sluice));
    let mut out = Vec::new();
    let topics: Vec<&String> =
        d.keys().chain(s.keys()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for topic in topics {
        let empty = Vec::new();
        let (mut dr, mut sr) = (&d.get(topic).unwrap_or(&empty)[..], &s.get(topic).unwrap_or(&empty)[..]);
        // How many heartbeats each side sent depends on timing; compare the first one's shape.
        if topic.starts_with("__debezium-heartbeat") {
            if dr.is_empty() || sr.is_empty() {
                out.push(format!("{topic}: debezium {} heartbeats, sluice {}", dr.len(), sr.len()));
            }
            dr = &dr[..dr.len().min(1)];
            sr = &sr[..sr.len().min(1)];
        }
        if dr.len() != sr.len() {
            let brief = |rs: &[Comparable]| -> Vec<String> {
                rs.iter()
                    .map(|r| match r.value.as_ref().map(|v| &v["payload"]) {
                        Some(p) => format!(
                            "{}{}",
                            p.get("op").or(p.get("status")).map(|v| v.to_string()).unwrap_or_default(),
                            p.get("id").map(|v| v.to_string()).unwrap_or_default()
                        ),
                        None => "tombstone".to_owned(),
                    })
                    .collect()
            };
            out.push(format!(
                "{topic}: debezium {} records {:?}, sluice {} records {:?}",
                dr.len(),
                brief(dr),
                sr.len(),
                brief(sr)
            ));
        }
        for (i, (a, b)) in dr.iter().zip(sr).enumerate() {
            let at = format!("{topic}[{i}]");
            diff(
                &format!("{at}.key"),
                &a.key.clone().unwrap_or(Value::Null),
                &b.key.clone().unwrap_or(Value::Null),
                &mut out,
            );
            diff(
                &format!("{at}.value"),
                &a.value.clone().unwrap_or(Value::Null),
                &b.value.clone().unwrap_or(Value::Null),
                &mut out,
            );
            let ha: Value =
                a.headers.iter().map(|(k, v)| Value::Array(vec![k.clone().into(), v.clone()])).collect();
            let hb: Value =
                b.headers.iter().map(|(k, v)| Value::Array(vec![k.clone().into(), v.clone()])).collect();
            diff(&format!("{at}.headers"), &ha, &hb, &mut out);
            if a.key_avro != b.key_avro {
                out.push(format!("{at}.key Avro schema: debezium {:?} sluice {:?}", a.key_avro, b.key_avro));
            }
            if a.value_avro != b.value_avro {
                out.push(format!(
                    "{at}.value Avro schema: debezium {:?} sluice {:?}",
                    a.value_avro, b.value_avro
                ));
            }
        }
    }
    out
}

fn props(db: &TestDb, slot: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("name", "conformance"),
        ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
        ("plugin.name", "pgoutput"),
        ("database.hostname", "127.0.0.1"),
        ("database.user", "postgres"),
        ("database.password", ""),
        ("database.dbname", db.name.as_str()),
        ("topic.prefix", "conf"),
        ("slot.name", slot),
        ("publication.name", slot),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    p.insert("database.port".into(), db.port().to_string());
    for (k, v) in extra {
        p.insert((*k).into(), (*v).into());
    }
    p
}

/// Runs sluice's reader and record builder, collecting comparable records until cancelled.
fn run_sluice(
    props: &BTreeMap<String, String>,
    cancel: CancellationToken,
) -> (Arc<Mutex<Vec<Comparable>>>, tokio::task::JoinHandle<usize>) {
    let mut source_props = props.clone();
    // Converter properties are the record layer's; the source ignores them.
    source_props.insert("database.sslmode".into(), "disable".into());
    let source = PostgresSourceConfig::from_properties(&source_props).expect("valid source config");
    let records = DebeziumConfig::from_properties(props).expect("valid record config");
    let collected = Arc::new(Mutex::new(Vec::new()));
    let sink = collected.clone();
    let task = tokio::spawn(async move {
        let mut handle = reader::spawn(source, None, cancel.clone());
        let mut builder = RecordBuilder::new(records.clone());
        // The direct path (what the publisher takes for reads and inserts under Avro converters)
        // runs beside it on the same events and must write the general path's bytes.
        let mut direct = RecordBuilder::new(records).with_context_headers(builder.context_headers().clone());
        let mut out = Vec::new();
        let mut direct_rows = 0;
        while let Some(event) = handle.events.recv().await {
            match &event {
                SourceEvent::Commit(c) => handle.acks.confirm(c.end_lsn),
                SourceEvent::Progress { lsn } => handle.acks.confirm(*lsn),
                _ => {}
            }
            let now = Timestamp::Micros(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
                    as i64,
            );
            builder.on_event(&event, now, &mut out).expect("sluice builds records");
            direct_rows += usize::from(check_direct_row(&mut direct, &event, now, &out));
            let mut sink = sink.lock().unwrap();
            sink.extend(out.drain(..).map(|r| Comparable::from_sluice(&r)));
        }
        let _ = handle.task.await;
        direct_rows
    });
    (collected, task)
}

/// Feeds `event` to the direct path's builder: a direct row must encode to the Avro bytes of the
/// one record the general path built; any other event must give the general path's records.
/// Returns whether the event went the direct way.
fn check_direct_row(
    direct: &mut RecordBuilder,
    event: &SourceEvent,
    now: Timestamp,
    expected: &[Record],
) -> bool {
    let Some(row) = direct.direct_row(event, now).expect("the direct path takes the event") else {
        let mut got = Vec::new();
        direct.on_event(event, now, &mut got).expect("sluice builds records");
        // Compared as text: a float NaN in a record is not equal to itself.
        assert_eq!(
            format!("{got:?}"),
            format!("{expected:?}"),
            "the direct path's builder fell out of step on {event:?}"
        );
        return false;
    };
    let [record] = expected else { panic!("a direct row for {} records: {event:?}", expected.len()) };
    let (mut key, mut want_key) = (Vec::new(), Vec::new());
    assert_eq!(row.write_key(&mut key).expect("direct key"), record.key.is_some());
    if let (Some(schema), Some(k)) = (&record.key_schema, &record.key) {
        avro::encode(schema, k, &mut want_key).expect("general key");
    }
    assert_eq!(key, want_key, "direct key bytes of {} differ", record.topic);
    let (mut value, mut want_value) = (Vec::new(), Vec::new());
    row.write_value(&mut value).expect("direct value");
    let (Some(schema), Some(v)) = (&record.value_schema, &record.value) else {
        panic!("a direct row for a tombstone")
    };
    avro::encode(schema, v, &mut want_value).expect("general value");
    assert_eq!(value, want_value, "direct value bytes of {} differ", record.topic);
    assert_eq!(row.topic(), record.topic);
    assert_eq!(row.key_schema(), record.key_schema.as_ref());
    assert_eq!(Some(row.value_schema()), record.value_schema.as_ref());
    assert_eq!(row.position(), &record.position);
    assert_eq!(&**row.headers(), &*record.headers);
    true
}

/// The workload both connectors observe after their snapshots.
const STREAMING: &[&str] = &[
    "INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')",
    "UPDATE customers SET email = 'anne@example.com' WHERE first_name = 'Anne'",
    "UPDATE customers SET id = 100 WHERE first_name = 'Anne'",
    "DELETE FROM customers WHERE id = 100",
    "INSERT INTO full_identity VALUES (1, 'a', repeat('t', 9000)), (2, 'b', 'short')",
    "UPDATE full_identity SET v = 'changed' WHERE id = 1",
    "DELETE FROM full_identity WHERE id = 2",
    "INSERT INTO no_key VALUES (1, 'x')",
    "ALTER TABLE customers ADD COLUMN phone varchar(20)",
    "INSERT INTO customers (first_name, last_name, email, phone) VALUES ('Bo', 'B', 'bo@x', '555')",
    // Unchanged TOAST values under REPLICA IDENTITY DEFAULT: the placeholder.
    "INSERT INTO toasty VALUES (1, 'n', repeat('x', 100000), (SELECT array_agg(g::text || repeat('y', 100)) FROM generate_series(1, 2000) g))",
    "UPDATE toasty SET note = 'changed' WHERE id = 1",
    // REPLICA IDENTITY USING INDEX: key from the index, old key on change.
    "INSERT INTO by_index VALUES (1, 'k1', 'a')",
    "UPDATE by_index SET code = 'k2', v = 'b' WHERE id = 1",
    "DELETE FROM by_index WHERE id = 1",
    // REPLICA IDENTITY NOTHING: inserts only (updates are refused by PostgreSQL when published).
    "INSERT INTO nothing VALUES (1, 'a')",
    // Schema evolution mid-stream.
    "INSERT INTO evolving VALUES (1, 1, 'x')",
    "ALTER TABLE evolving DROP COLUMN b",
    "INSERT INTO evolving VALUES (2, 2)",
    "ALTER TABLE evolving ALTER COLUMN a TYPE bigint",
    "INSERT INTO evolving VALUES (3, 3)",
    "ALTER TABLE evolving ADD COLUMN c numeric(6,2) NOT NULL DEFAULT 1.5",
    "INSERT INTO evolving VALUES (4, 4)",
    "TRUNCATE evolving",
    "SELECT pg_logical_emit_message(true, 'audit', 'hello')",
    "SELECT pg_logical_emit_message(false, 'audit', 'outside')",
    "INSERT INTO conformance_end VALUES (1)",
];

const SETUP: &str = "
    CREATE TABLE customers (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL);
    INSERT INTO customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com'), ('George', 'Bailey', 'gbailey@foobar.com');
    CREATE TABLE full_identity (id int PRIMARY KEY, v text, big text); ALTER TABLE full_identity REPLICA IDENTITY FULL;
    CREATE TABLE no_key (a int, b text);
    CREATE TABLE toasty (id int PRIMARY KEY, note text, big text, tags text[]);
    ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL; ALTER TABLE toasty ALTER COLUMN tags SET STORAGE EXTERNAL;
    CREATE TABLE by_index (id int NOT NULL, code text NOT NULL, v text); CREATE UNIQUE INDEX by_index_code ON by_index (code);
    ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
    CREATE TABLE nothing (id int PRIMARY KEY, v text); ALTER TABLE nothing REPLICA IDENTITY NOTHING;
    CREATE TABLE evolving (id int PRIMARY KEY, a int NOT NULL DEFAULT 7, b text);
    CREATE TABLE conformance_end (id int PRIMARY KEY);";

/// A workload: setup SQL (with `snapshot_rows` rows in captured tables before the connectors start)
/// and the statements run, one transaction each, once both are streaming.
struct Workload {
    setup: String,
    snapshot_rows: usize,
    streaming: Vec<String>,
    /// Topics Debezium must have written to (so a comparison cannot pass by both sides missing one).
    topics: Vec<&'static str>,
}

fn basic_workload() -> Workload {
    Workload {
        setup: SETUP.to_owned(),
        snapshot_rows: 2,
        streaming: STREAMING.iter().map(|s| (*s).to_owned()).collect(),
        topics: vec![
            "conf.public.customers",
            "conf.public.full_identity",
            "conf.public.no_key",
            "conf.public.toasty",
            "conf.public.by_index",
            "conf.public.nothing",
            "conf.public.evolving",
            "conf.message",
        ],
    }
}

/// Every supported type: two rows in the snapshot, then inserts, updates of every column, deletes
/// and a truncate, on a REPLICA IDENTITY FULL table (so before images carry every type too).
fn types_workload() -> Workload {
    use sluice_tests::workload::{TYPE_COLUMNS, TYPE_SETUP};
    let names: Vec<&str> = TYPE_COLUMNS.iter().map(|(n, _, _)| *n).collect();
    let literals = |k: usize| TYPE_COLUMNS.iter().map(|(_, _, v)| v[k]).collect::<Vec<_>>().join(", ");
    let ddl: Vec<String> = TYPE_COLUMNS.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    let insert = |id: i32, k: usize| {
        format!("INSERT INTO types (id, {}) VALUES ({id}, {})", names.join(", "), literals(k))
    };
    let set: Vec<String> = TYPE_COLUMNS.iter().map(|(n, _, v)| format!("{n} = {}", v[2])).collect();
    Workload {
        setup: format!(
            "{TYPE_SETUP} CREATE TABLE types (id int PRIMARY KEY, {}); ALTER TABLE types REPLICA IDENTITY FULL; \
             CREATE TABLE conformance_end (id int PRIMARY KEY); {}; {}; INSERT INTO types (id) VALUES (3);",
            ddl.join(", "),
            insert(1, 0),
            insert(2, 1)
        ),
        snapshot_rows: 3,
        streaming: vec![
            insert(4, 0),
            insert(5, 1),
            "INSERT INTO types (id) VALUES (6)".to_owned(),
            format!("UPDATE types SET {} WHERE id IN (1, 4)", set.join(", ")),
            "UPDATE types SET c_text = 'only text changed' WHERE id = 2".to_owned(),
            "DELETE FROM types WHERE id IN (3, 5)".to_owned(),
            "TRUNCATE types".to_owned(),
            "INSERT INTO conformance_end VALUES (1)".to_owned(),
        ],
        topics: vec!["conf.public.types"],
    }
}

/// The rest of Debezium's own type-test ground: NOT NULL columns of many types (whose values a
/// key-only before image replaces with Debezium's fallbacks), arrays of many element types, quoted
/// identifiers, and extension types in arrays.
fn edge_workload() -> Workload {
    let not_null_columns = [
        ("nn_bool", "boolean", "true"),
        ("nn_int2", "smallint", "2"),
        ("nn_int8", "bigint", "8"),
        ("nn_float4", "real", "4.5"),
        ("nn_float8", "double precision", "8.5"),
        ("nn_numeric", "numeric(7,2)", "12.34"),
        ("nn_vsd", "numeric", "1.5"),
        ("nn_money", "money", "3.5"),
        ("nn_text", "text", "'t'"),
        ("nn_char", "char(4)", "'c'"),
        ("nn_bytea", "bytea", "'\\x01'"),
        ("nn_date", "date", "'2020-02-02'"),
        ("nn_time", "time", "'10:00'"),
        ("nn_timetz", "timetz", "'10:00+02'"),
        ("nn_ts", "timestamp", "'2020-02-02 10:00'"),
        ("nn_tstz", "timestamptz", "'2020-02-02 10:00+00'"),
        ("nn_interval", "interval", "'1 day'"),
        ("nn_uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
        ("nn_json", "json", "'{}'"),
        ("nn_jsonb", "jsonb", "'[]'"),
        ("nn_xml", "xml", "'<a/>'"),
        ("nn_inet", "inet", "'10.0.0.1'"),
        ("nn_bit", "bit(3)", "B'101'"),
        ("nn_varbit", "varbit(5)", "B'11'"),
        ("nn_point", "point", "'(1,1)'"),
        ("nn_int4range", "int4range", "'[1,2)'"),
        ("nn_arr", "int4[]", "'{1}'"),
        ("nn_enum", "mood", "'ok'"),
        ("nn_hstore", "hstore", "'a=>b'"),
        ("nn_ltree", "ltree", "'a.b'"),
        ("nn_defaulted", "int4 DEFAULT 42", "43"),
        ("nn_ts_now", "timestamptz DEFAULT now()", "'2021-01-01 00:00+00'"),
    ];
    let arrays = [
        ("a_varchar", "varchar(10)[]", "'{a,b}'"),
        ("a_char", "char(2)[]", "'{ab,c}'"),
        ("a_citext", "citext[]", "'{A,b}'"),
        ("a_inet", "inet[]", "'{10.0.0.1,::1}'"),
        ("a_cidr", "cidr[]", "'{10.0.0.0/8}'"),
        ("a_macaddr", "macaddr[]", "'{08:00:2b:01:02:03}'"),
        ("a_tsrange", "tsrange[]", "'{\"[2019-01-01 00:00,2019-01-02 00:00)\"}'"),
        ("a_int8range", "int8range[]", "'{\"[1,5)\"}'"),
        ("a_date", "date[]", "'{2020-01-01,NULL}'"),
        ("a_time", "time[]", "'{10:00:00.123456}'"),
        ("a_timetz", "timetz[]", "'{10:00+02}'"),
        ("a_ts", "timestamp[]", "'{\"2020-01-01 10:00:00.5\"}'"),
        ("a_bool", "bool[]", "'{t,f,NULL}'"),
        ("a_float4", "real[]", "'{1.5,NaN}'"),
        ("a_float8", "float8[]", "'{2.5,-Infinity}'"),
        ("a_int2", "int2[]", "'{1,2}'"),
        ("a_int8", "int8[]", "'{9223372036854775807}'"),
        ("a_numeric", "numeric[]", "'{1.10,2}'"),
        ("a_json", "json[]", "'{\"{}\",\"[1]\"}'"),
        ("a_jsonb", "jsonb[]", "'{\"{\\\"a\\\": 1}\"}'"),
        ("a_bytea", "bytea[]", "'{\"\\\\x0102\"}'"),
        ("a_ltree", "ltree[]", "'{a.b,c}'"),
        ("a_hstore", "hstore[]", "ARRAY['a=>1'::hstore]"),
        ("a_money", "money[]", "'{1.5}'"),
        ("a_interval", "interval[]", "'{1 day}'"),
        // Arrays whose element schema Debezium declares required, holding a NULL element.
        ("a_enum_null", "mood[]", "'{ok,NULL}'"),
        ("a_enum_2d", "mood[][]", "'{{ok,sad}}'"),
    ];
    let nn_ddl: Vec<String> = not_null_columns.iter().map(|(n, t, _)| format!("{n} {t} NOT NULL")).collect();
    let nn_names: Vec<&str> = not_null_columns.iter().map(|(n, _, _)| *n).collect();
    let nn_values: Vec<&str> = not_null_columns.iter().map(|(_, _, v)| *v).collect();
    let arr_ddl: Vec<String> = arrays.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    let arr_names: Vec<&str> = arrays.iter().map(|(n, _, _)| *n).collect();
    let arr_values: Vec<&str> = arrays.iter().map(|(_, _, v)| *v).collect();
    Workload {
        setup: format!(
            "{setup} CREATE TABLE not_null (id int PRIMARY KEY, {nn}); CREATE TABLE arrays (id int PRIMARY KEY, {arr}); \
             CREATE SCHEMA \"Quoted_\"\" . Schema\"; \
             CREATE TABLE \"Quoted_\"\" . Schema\".\"Quoted_\"\" . Table\" (\"Quoted_\"\" . Text_Column\" text, id serial PRIMARY KEY); \
             INSERT INTO \"Quoted_\"\" . Schema\".\"Quoted_\"\" . Table\" (\"Quoted_\"\" . Text_Column\") VALUES ('snapshot'); \
             CREATE TABLE conformance_end (id int PRIMARY KEY);",
            setup = sluice_tests::workload::TYPE_SETUP,
            nn = nn_ddl.join(", "),
            arr = arr_ddl.join(", "),
        ),
        snapshot_rows: 1,
        streaming: vec![
            format!("INSERT INTO not_null (id, {}) VALUES (1, {})", nn_names.join(", "), nn_values.join(", ")),
            "UPDATE not_null SET nn_text = 'u' WHERE id = 1".to_owned(),
            "UPDATE not_null SET id = 2 WHERE id = 1".to_owned(),
            "DELETE FROM not_null WHERE id = 2".to_owned(),
            format!("INSERT INTO arrays (id, {}) VALUES (1, {})", arr_names.join(", "), arr_values.join(", ")),
            "DELETE FROM arrays WHERE id = 1".to_owned(),
            "INSERT INTO \"Quoted_\"\" . Schema\".\"Quoted_\"\" . Table\" (\"Quoted_\"\" . Text_Column\") VALUES ('stream')"
                .to_owned(),
            "INSERT INTO conformance_end VALUES (1)".to_owned(),
        ],
        topics: vec!["conf.public.not_null", "conf.public.arrays"],
    }
}

async fn conformance(name: &str, extra: &[(&str, &str)], workload: Workload) {
    sluice_tests::init_tracing();
    let db = TestDb::create(name).await.unwrap();
    db.exec(&workload.setup).await.unwrap();
    let dbz_slot = format!("{name}_dbz");
    let our_slot = format!("{name}_sluice");

    let mut oracle = DebeziumOracle::start(&props(&db, &dbz_slot, extra)).unwrap();
    let cancel = CancellationToken::new();
    let (ours, task) = run_sluice(&props(&db, &our_slot, extra), cancel.clone());
    let mut theirs = Vec::new();
    // Wait for Debezium's snapshot before writing anything.
    while theirs.len() < workload.snapshot_rows {
        match oracle.next_record(START).await.unwrap() {
            Some(r) => theirs.push(Comparable::from_oracle(&r)),
            None => panic!("Debezium produced no snapshot; its log:\n{}", oracle.log_tail(60)),
        }
    }
    wait_for_slot(&db, &dbz_slot).await;
    wait_for_slot(&db, &our_slot).await;
    for sql in &workload.streaming {
        db.exec(sql).await.unwrap();
    }
    let end_topic = "conf.public.conformance_end";
    let deadline = tokio::time::Instant::now() + START;
    while !theirs.iter().any(|r| r.topic == end_topic) {
        match oracle.next_record(Duration::from_secs(5)).await.unwrap() {
            Some(r) => theirs.push(Comparable::from_oracle(&r)),
            None => assert!(tokio::time::Instant::now() < deadline, "Debezium did not reach the end marker"),
        }
    }
    while !ours.lock().unwrap().iter().any(|r| r.topic == end_topic) {
        assert!(tokio::time::Instant::now() < deadline, "sluice did not reach the end marker");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Records after the marker's data event (its transaction's END) arrive a moment later; wait
    // until Debezium has been quiet for 2 s apart from heartbeats (which never stop), 30 s at most.
    let cap = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut quiet_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < quiet_until.min(cap) {
        if let Some(r) = oracle.next_record(Duration::from_millis(200)).await.unwrap() {
            if !r.topic.starts_with("__debezium-heartbeat") {
                quiet_until = tokio::time::Instant::now() + Duration::from_secs(2);
            }
            theirs.push(Comparable::from_oracle(&r));
        }
    }
    oracle.stop();
    cancel.cancel();
    let direct_rows = task.await.expect("sluice's task (and its direct-path checks) ran to the end");
    assert!(direct_rows > 0, "no snapshot read or insert went the direct way");
    let ours = ours.lock().unwrap().clone();
    for topic in &workload.topics {
        assert!(theirs.iter().any(|r| r.topic == *topic), "Debezium wrote nothing to {topic}");
    }
    let differences: Vec<String> = compare(&theirs, &ours).into_iter().filter(|d| !intended(d)).collect();
    if !differences.is_empty() {
        let mut report = format!("{} differences between Debezium and sluice:\n", differences.len());
        for d in differences.iter().take(80) {
            let _ = writeln!(report, "  {d}");
        }
        panic!("{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_settings_produce_debeziums_records() {
    conformance("conf_default", &[], basic_workload()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_with_default_modes_matches_debezium() {
    conformance("conf_types", &[("skipped.operations", "none")], types_workload()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_with_string_connect_base64_and_map_modes_matches_debezium() {
    conformance(
        "conf_types_b",
        &[
            ("decimal.handling.mode", "string"),
            ("time.precision.mode", "connect"),
            ("binary.handling.mode", "base64"),
            ("interval.handling.mode", "string"),
            ("hstore.handling.mode", "map"),
            ("include.unknown.datatypes", "true"),
            ("skipped.operations", "none"),
            ("tombstones.on.delete", "false"),
        ],
        types_workload(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_with_double_microsecond_and_hex_modes_matches_debezium() {
    conformance(
        "conf_types_c",
        &[
            ("decimal.handling.mode", "double"),
            ("time.precision.mode", "adaptive_time_microseconds"),
            ("binary.handling.mode", "hex"),
            ("money.fraction.digits", "3"),
            ("provide.transaction.metadata", "true"),
        ],
        types_workload(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_with_isostring_nanoseconds_url_safe_modes_matches_debezium() {
    conformance(
        "conf_types_d",
        &[("time.precision.mode", "isostring"), ("binary.handling.mode", "base64-url-safe")],
        types_workload(),
    )
    .await;
    conformance("conf_types_e", &[("time.precision.mode", "nanoseconds")], types_workload()).await;
    conformance("conf_types_f", &[("time.precision.mode", "microseconds")], types_workload()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_metadata_truncates_and_column_options_match_debezium() {
    conformance(
        "conf_options",
        &[
            ("provide.transaction.metadata", "true"),
            ("skipped.operations", "none"),
            ("column.mask.with.5.chars", "public.customers.last_name"),
            ("column.truncate.to.3.chars", "public.customers.email"),
            ("column.propagate.source.type", "public.customers.first_name"),
            ("unavailable.value.placeholder", "__toast__"),
        ],
        basic_workload(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_the_heartbeat_action_query_work_like_debeziums() {
    let mut workload = basic_workload();
    workload.setup.push_str("CREATE TABLE hb_log (app text, at timestamptz DEFAULT now());");
    // Give both sides time for a few heartbeats between the workload's transactions.
    workload.streaming.insert(1, "SELECT pg_sleep(1.2)".to_owned());
    workload.topics.push("__debezium-heartbeat.conf");
    let name = "conf_heartbeat";
    conformance(
        name,
        &[
            ("heartbeat.interval.ms", "300"),
            (
                "heartbeat.action.query",
                "INSERT INTO hb_log (app) VALUES (current_setting('application_name'))",
            ),
            ("table.exclude.list", "public.hb_log"),
        ],
        workload,
    )
    .await;
    let db = TestDb::connect_existing(&format!("t_{name}")).await.unwrap();
    let ours: i64 =
        db.query_one("SELECT count(*) FROM hb_log WHERE app LIKE 'sluice:%'", &[]).await.unwrap().get(0);
    assert!(ours > 0, "sluice never ran heartbeat.action.query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_null_fallbacks_arrays_and_quoted_names_match_debezium() {
    conformance("conf_edge", &[], edge_workload()).await;
    conformance(
        "conf_edge_b",
        &[
            ("decimal.handling.mode", "string"),
            ("time.precision.mode", "connect"),
            ("binary.handling.mode", "hex"),
            ("include.unknown.datatypes", "true"),
        ],
        edge_workload(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_converters_adjust_names_like_debezium() {
    conformance(
        "conf_avro",
        &[
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            ("schema.name.adjustment.mode", "avro"),
        ],
        basic_workload(),
    )
    .await;
}
