//! The real Debezium 3.6.3 PostgreSQL connector in a real Kafka Connect 4.3 standalone worker
//! (`sluice_tests::connect`), with Confluent's `AvroConverter` registering in sluice's embedded
//! registry, writing into the Tansu broker; read back by sluice's sink side (`SinkConsumer` +
//! `AvroDeserializer`).
//!
//! The Delta sink must consume topics that real Debezium wrote, not only sluice's own; this smoke
//! test proves that pipeline works end to end and pins what those topics look like: subjects,
//! schema ids, partitions chosen by Java's producer, Debezium's headers, tombstones and the
//! delete + create of a primary-key change.
//!
//! Needs Java and the Debezium jars (`scripts/install-debezium`, run on first use). Without them
//! the test prints why and passes, unless `CI` is set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use serde_json::{Value, json};
use sluice_debezium::avro::unframe;
use sluice_debezium::json::value_to_json;
use sluice_kafka::consumer::{ConsumedRecord, SinkConsumer, TopicSelection};
use sluice_kafka::deserializer::AvroDeserializer;
use sluice_kafka::partition_for_key;
use sluice_registry::{FileLog, Registry, RegistryClient, RegistryClientConfig};
use sluice_tests::connect::{self, KafkaConnectStandalone};
use sluice_tests::kafka::{Broker, Record};
use sluice_tests::{TestDb, init_tracing};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const NAME: &str = "connect_smoke";
const TOPIC: &str = "connect_smoke.public.accounts";
const PARTITIONS: i32 = 3;
/// JVM start-up, plugin scan and the snapshot; generous because the machine is shared.
const START: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(120);

/// A record as the assertions see it: raw bytes from librdkafka and the sink's decoding, joined
/// by partition and offset.
#[derive(Debug)]
struct Seen {
    partition: i32,
    offset: i64,
    raw_key: Vec<u8>,
    raw_value: Option<Vec<u8>>,
    headers: BTreeMap<String, String>,
    key: Value,
    /// The envelope as `JsonConverter` would show it; `None` for a tombstone.
    value: Option<Value>,
    key_schema_name: Option<String>,
    value_schema_name: Option<String>,
}

impl Seen {
    fn id(&self) -> i64 {
        self.key["id"].as_i64().expect("an int key")
    }

    fn op(&self) -> &str {
        self.value.as_ref().map_or("tombstone", |v| v["op"].as_str().expect("op"))
    }

    fn after(&self) -> &Value {
        &self.value.as_ref().expect("not a tombstone")["after"]
    }
}

fn join(raw: &[Record], decoded: &[ConsumedRecord]) -> Result<Vec<Seen>> {
    ensure!(raw.len() == decoded.len(), "librdkafka read {} records, the sink {}", raw.len(), decoded.len());
    let mut out = Vec::new();
    for d in decoded {
        let r = raw
            .iter()
            .find(|r| r.partition == d.partition && r.offset == d.offset)
            .with_context(|| format!("librdkafka did not read {}/{}", d.partition, d.offset))?;
        let (key_schema, key) = d.key.as_ref().context("every record has a key")?;
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v.as_deref().unwrap_or_default()).into_owned()))
            .collect();
        out.push(Seen {
            partition: d.partition,
            offset: d.offset,
            raw_key: r.key.clone().context("a raw key")?,
            raw_value: r.value.clone(),
            headers,
            key: value_to_json(key_schema, key)?,
            value: d.value.as_ref().map(|(s, v)| value_to_json(s, v)).transpose()?,
            key_schema_name: key_schema.name.clone(),
            value_schema_name: d.value.as_ref().and_then(|(s, _)| s.name.clone()),
        });
    }
    out.sort_by_key(|s| (s.partition, s.offset));
    Ok(out)
}

/// A Connect `Decimal` as `JsonConverter` shows it (base64 of the unscaled big-endian two's
/// complement), rendered with `scale` digits.
fn decimal(v: &Value, scale: u32) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64")).unwrap();
    let mut unscaled: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
    for b in bytes {
        unscaled = (unscaled << 8) | i128::from(b);
    }
    let sign = if unscaled < 0 { "-" } else { "" };
    let (int, frac) = (unscaled.abs() / 10i128.pow(scale), unscaled.abs() % 10i128.pow(scale));
    format!("{sign}{int}.{frac:0width$}", width = scale as usize)
}

/// Reads with the sink until `n` records arrived in all, failing if Connect dies or `WAIT` passes.
async fn read_until(
    connect: &mut KafkaConnectStandalone,
    consumer: &mut SinkConsumer,
    got: &mut Vec<ConsumedRecord>,
    n: usize,
) -> Result<()> {
    connect
        .wait_until(&format!("{n} records in {TOPIC}"), WAIT, async |_| {
            got.extend(consumer.poll(100, Duration::from_millis(500)).await?);
            Ok((got.len() >= n).then_some(()))
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_debezium_in_kafka_connect_writes_avro_that_the_sink_reads() -> Result<()> {
    init_tracing();
    if let Err(e) = connect::prerequisites() {
        if std::env::var_os("CI").is_some() {
            return Err(e.context("Kafka Connect with Debezium is required in CI"));
        }
        eprintln!("skipping: Kafka Connect with Debezium cannot run here: {e:#}");
        return Ok(());
    }
    let db = TestDb::create("connect_debezium").await?;
    db.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2),
                                opened_at timestamptz, note text);
         INSERT INTO accounts VALUES
           (1, 'ann', 10.50, '2024-01-02 03:04:05.123456+00', 'first'),
           (2, 'bob', -3.25, '2024-02-03 04:05:06+02', NULL),
           (3, 'cy', NULL, NULL, 'moves');",
    )
    .await?;
    let broker = Broker::start()?;
    let registry_dir = tempfile::tempdir()?;
    let registry =
        Registry::open(Box::new(FileLog::open(registry_dir.path().join("schemas.jsonl"))?)).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let registry_url = format!("http://{}", listener.local_addr()?);
    let cancel = CancellationToken::new();
    let server =
        tokio::spawn(sluice_registry::server::serve(listener, Arc::clone(&registry), cancel.clone()));

    let mut props = connect::postgres_connector(&db, NAME, "public.accounts");
    props.insert("topic.creation.default.partitions".into(), PARTITIONS.to_string());
    let mut connect = KafkaConnectStandalone::start(&broker.bootstrap(), &registry_url, &[], &props)?;
    let started = std::time::Instant::now();
    let status = connect.wait_running(START).await?;
    eprintln!("connector RUNNING after {:?}: {status}", started.elapsed());
    let worker_id = connect.rest_url().trim_start_matches("http://").to_owned();
    assert_eq!(status["name"], NAME);
    assert_eq!(status["type"], "source");
    assert_eq!(status["connector"]["worker_id"], worker_id.as_str());
    assert_eq!(status["connector"]["version"], "3.6.3.Final");
    assert_eq!(status["tasks"].as_array().map(Vec::len), Some(1));

    // The worker created the topic itself (topic.creation.default.*).
    connect
        .wait_until("the topic", WAIT, async |_| {
            Ok((broker.partition_count(TOPIC)? == PARTITIONS).then_some(()))
        })
        .await?;
    let client = RegistryClient::new(RegistryClientConfig::new(&registry_url)?)?;
    let mut consumer = SinkConsumer::new(
        &broker.config(),
        "connect-smoke",
        TopicSelection::Names(vec![TOPIC.to_owned()]),
        AvroDeserializer::new(client.clone()),
    )?;
    assert_eq!(consumer.refresh(|_, _| None)?.len(), PARTITIONS as usize);

    // Snapshot first, so that what follows is certainly streamed.
    let mut decoded = Vec::new();
    read_until(&mut connect, &mut consumer, &mut decoded, 3).await?;
    eprintln!("snapshot read after {:?}", started.elapsed());
    db.exec("INSERT INTO accounts VALUES (4, 'dan', 0.01, '1999-12-31 23:59:59.5-05', 'new')").await?;
    db.exec("UPDATE accounts SET owner = 'ann2', balance = 1234.56 WHERE id = 1").await?;
    db.exec("DELETE FROM accounts WHERE id = 2").await?;
    db.exec("UPDATE accounts SET id = 30 WHERE id = 3").await?;
    // 3 r + c + u + (d + tombstone) + key change (d + tombstone + c).
    let expected = 10;
    read_until(&mut connect, &mut consumer, &mut decoded, expected).await?;
    eprintln!("all {expected} records read after {:?}", started.elapsed());
    // Nothing more comes (e.g. duplicates).
    decoded.extend(consumer.poll(100, Duration::from_secs(2)).await?);
    assert_eq!(decoded.len(), expected, "{decoded:#?}");
    let raw = broker.read_all(TOPIC, PARTITIONS, Some(expected), Duration::from_secs(10)).await?;
    let records = join(&raw, &decoded)?;

    // Per key, in partition order: each key on the partition Java's murmur2 chose.
    let mut by_key: BTreeMap<i64, Vec<&Seen>> = BTreeMap::new();
    for r in &records {
        assert_eq!(r.partition, partition_for_key(&r.raw_key, PARTITIONS), "{r:?}");
        by_key.entry(r.id()).or_default().push(r);
    }
    let ops: BTreeMap<i64, Vec<&str>> =
        by_key.iter().map(|(k, rs)| (*k, rs.iter().map(|r| r.op()).collect())).collect();
    let expected_ops: BTreeMap<i64, Vec<&str>> = [
        (1, vec!["r", "u"]),
        (2, vec!["r", "d", "tombstone"]),
        (3, vec!["r", "d", "tombstone"]),
        (4, vec!["c"]),
        (30, vec!["c"]),
    ]
    .into();
    assert_eq!(ops, expected_ops);

    // Framing: one key schema id and one value schema id for the whole topic, registered by the
    // converter under TopicNameStrategy subjects, version 1.
    let key_ids: Vec<u32> =
        records.iter().map(|r| unframe(&r.raw_key).map(|(id, _)| id)).collect::<Result<_, _>>()?;
    let value_ids: Vec<u32> = records
        .iter()
        .filter_map(|r| r.raw_value.as_deref())
        .map(|v| unframe(v).map(|(id, _)| id))
        .collect::<Result<_, _>>()?;
    let (key_id, value_id) = (key_ids[0], value_ids[0]);
    assert!(key_ids.iter().all(|id| *id == key_id), "{key_ids:?}");
    assert!(value_ids.iter().all(|id| *id == value_id), "{value_ids:?}");
    assert_ne!(key_id, value_id);
    let mut subjects = client.subjects().await?;
    subjects.sort();
    assert_eq!(subjects, [format!("{TOPIC}-key"), format!("{TOPIC}-value")]);
    for (subject, id) in [(format!("{TOPIC}-key"), key_id), (format!("{TOPIC}-value"), value_id)] {
        let latest = client.latest(&subject).await?;
        assert_eq!((latest.version, latest.id), (1, id), "{subject}");
        assert_eq!(client.versions(&subject).await?, [1], "{subject}");
    }
    eprintln!("schema ids: key {key_id}, value {value_id}");
    for r in &records {
        assert_eq!(r.key_schema_name.as_deref(), Some(format!("{TOPIC}.Key").as_str()));
        if r.value.is_some() {
            assert_eq!(r.value_schema_name.as_deref(), Some(format!("{TOPIC}.Envelope").as_str()));
        }
    }

    // Debezium's context headers on every record (SimpleHeaderConverter: strings as UTF-8).
    for r in &records {
        assert_eq!(r.headers["__debezium.context.connectorLogicalName"], NAME, "{r:?}");
        assert_eq!(r.headers["__debezium.context.connectorName"], "postgresql", "{r:?}");
        assert_eq!(r.headers["__debezium.context.taskId"], "0", "{r:?}");
        assert!(r.headers.contains_key("__debezium.context.runId"), "{r:?}");
    }

    // Envelopes.
    for r in records.iter().filter(|r| r.value.is_some()) {
        let source = &r.value.as_ref().unwrap()["source"];
        assert_eq!(source["version"], "3.6.3.Final");
        assert_eq!(source["connector"], "postgresql");
        assert_eq!(source["name"], NAME);
        assert_eq!(source["db"], db.name.as_str());
        assert_eq!((&source["schema"], &source["table"]), (&json!("public"), &json!("accounts")));
        let snapshot = source["snapshot"].as_str().expect("snapshot is set");
        assert_eq!(r.op() == "r", snapshot != "false", "{r:?}");
    }
    let snapshot_1 = by_key[&1][0].after();
    assert_eq!(snapshot_1["owner"], "ann");
    assert_eq!(decimal(&snapshot_1["balance"], 2), "10.50");
    assert_eq!(snapshot_1["opened_at"], "2024-01-02T03:04:05.123456Z");
    assert_eq!(snapshot_1["note"], "first");
    let snapshot_2 = by_key[&2][0].after();
    assert_eq!(decimal(&snapshot_2["balance"], 2), "-3.25");
    assert_eq!(snapshot_2["opened_at"], "2024-02-03T02:05:06.000000Z");
    assert_eq!(snapshot_2["note"], Value::Null);
    let snapshot_3 = by_key[&3][0].after();
    assert_eq!((&snapshot_3["balance"], &snapshot_3["opened_at"]), (&Value::Null, &Value::Null));

    let created = by_key[&4][0];
    assert_eq!(created.value.as_ref().unwrap()["before"], Value::Null);
    assert_eq!(created.after()["owner"], "dan");
    assert_eq!(decimal(&created.after()["balance"], 2), "0.01");
    assert_eq!(created.after()["opened_at"], "2000-01-01T04:59:59.500000Z");

    let updated = by_key[&1][1];
    assert_eq!(updated.value.as_ref().unwrap()["before"], Value::Null, "default replica identity: no before");
    assert_eq!(updated.after()["owner"], "ann2");
    assert_eq!(decimal(&updated.after()["balance"], 2), "1234.56");

    let deleted = by_key[&2][1].value.as_ref().unwrap();
    assert_eq!(deleted["before"]["id"], 2);
    assert_eq!(deleted["after"], Value::Null);
    let tombstone = by_key[&2][2];
    assert_eq!((tombstone.raw_value.as_ref(), tombstone.offset), (None, by_key[&2][1].offset + 1));

    // The key change: delete + tombstone of the old key carry the new key, the create the old.
    let moved_out = &by_key[&3];
    assert_eq!(moved_out[1].value.as_ref().unwrap()["before"]["id"], 3);
    for r in &moved_out[1..] {
        assert_eq!(r.headers.get("__debezium.newkey").map(String::as_str), Some(r#"{"id":30}"#), "{r:?}");
    }
    let moved_in = by_key[&30][0];
    assert_eq!(moved_in.headers.get("__debezium.oldkey").map(String::as_str), Some(r#"{"id":3}"#));
    assert_eq!(moved_in.after()["note"], "moves");
    for r in records.iter().filter(|r| r.id() != 3 && r.id() != 30) {
        assert!(!r.headers.contains_key("__debezium.newkey") && !r.headers.contains_key("__debezium.oldkey"));
    }

    let stopped = connect.stop().await?;
    eprintln!("Kafka Connect stopped ({stopped}) after {:?}", started.elapsed());
    cancel.cancel();
    server.await??;
    if !stopped.success() && stopped.code() != Some(143) {
        bail!("Kafka Connect exited with {stopped}");
    }
    Ok(())
}
