//! PostgreSQL → sluice → Kafka end to end, read back by an independent consumer:
//! confluent-kafka-python's Consumer with Confluent's `SchemaRegistryClient` and `AvroDeserializer`
//! resolving ids through sluice's embedded registry (`tests/kafka/consume.py`).
//!
//! sluice runs as its own process (`sluice run`), so it can be stopped, `kill -9`ed and restarted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use sluice_kafka::partition_for_key;
use sluice_tests::kafka::Broker;
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{TestDb, init_tracing};

const PARTITIONS: i32 = 3;

/// A sluice service on a broker and a database, with its own data directory.
pub(crate) struct Service {
    pub(crate) dir: tempfile::TempDir,
    /// Connector files beyond the source's `connector.json`.
    extra_connectors: Vec<PathBuf>,
    registry_port: u16,
    bootstrap: String,
    process: Option<SluiceProcess>,
    topic_prefix: String,
    /// Standalone: offsets and the registry log in files; distributed: in Kafka topics.
    standalone: bool,
}

impl Service {
    pub(crate) fn new(db: &TestDb, broker: &Broker, slot: &str, extra: &[(&str, &str)]) -> Result<Service> {
        let dir = tempfile::tempdir()?;
        let registry_port = free_port()?;
        let mut config = json!({
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "plugin.name": "pgoutput",
            "database.hostname": "127.0.0.1",
            "database.port": db.port().to_string(),
            "database.user": "postgres",
            "database.dbname": db.name,
            "database.sslmode": "disable",
            "topic.prefix": slot,
            "slot.name": slot,
            "publication.name": slot,
            "publication.autocreate.mode": "filtered",
            "table.include.list": "public.customers",
            "status.update.interval.ms": "500",
            "key.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter": "io.confluent.connect.avro.AvroConverter",
            "topic.creation.default.partitions": PARTITIONS.to_string(),
            "topic.creation.default.replication.factor": "-1",
            "topic.creation.default.cleanup.policy": "delete",
        });
        for (k, v) in extra {
            config[*k] = json!(v);
        }
        let file = json!({ "name": slot, "config": config });
        std::fs::write(dir.path().join("connector.json"), serde_json::to_vec_pretty(&file)?)?;
        Ok(Service {
            dir,
            extra_connectors: Vec::new(),
            registry_port,
            bootstrap: broker.bootstrap(),
            process: None,
            topic_prefix: slot.to_owned(),
            standalone: true,
        })
    }

    /// Adds a connector the service runs next to the source (`{"name":..,"config":{..}}`).
    pub(crate) fn add_connector(&mut self, name: &str, config: Value) -> Result<()> {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&json!({ "name": name, "config": config }))?)?;
        self.extra_connectors.push(path);
        Ok(())
    }

    pub(crate) fn start(&mut self, worker: &[(&str, &str)]) -> Result<()> {
        let d = self.dir.path();
        let mut run = RunArgs::new(&d.join("data"))
            .connector(&d.join("connector.json"))
            .registry(&format!("127.0.0.1:{}", self.registry_port))
            .worker("bootstrap.servers", &self.bootstrap);
        if self.standalone {
            // Offsets and the registry log in files: they survive a broker that forgets everything
            // on restart, as Tansu's memory storage does.
            run = run
                .worker("offset.storage.file.filename", &d.join("data/offsets.json").display().to_string());
        }
        for path in &self.extra_connectors {
            run = run.connector(path);
        }
        for (k, v) in worker {
            run = run.worker(k, v);
        }
        self.process = Some(SluiceProcess::start(&run.build(), &d.join("sluice.log"))?);
        Ok(())
    }

    pub(crate) fn process(&mut self) -> &mut SluiceProcess {
        self.process.as_mut().expect("started")
    }

    fn registry_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.registry_port)
    }

    pub(crate) fn topic(&self) -> String {
        format!("{}.public.customers", self.topic_prefix)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluice.log")).unwrap_or_default()
    }

    pub(crate) fn offsets(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("data/offsets.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Reads the connector's table topic with the Python consumer until `min` records arrived and
    /// nothing new came for `idle`.
    fn consume(&self, min: usize, idle: Duration) -> Result<Vec<Value>> {
        consume(&self.bootstrap, &self.registry_url(), min, idle, &[self.topic()])
            .with_context(|| format!("sluice log:\n{}", self.log()))
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn consume_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/consume.py")
}

fn consume(
    bootstrap: &str,
    registry: &str,
    min: usize,
    idle: Duration,
    topics: &[String],
) -> Result<Vec<Value>> {
    let out = Command::new("python3")
        .arg(consume_script())
        .args([bootstrap, registry, &idle.as_secs_f64().to_string(), &min.to_string()])
        .args(topics)
        .output()
        .context("running consume.py (scripts/install-kafka installs confluent-kafka)")?;
    if !out.status.success() {
        bail!("consume.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let records: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("consume.py output")?;
    if records.len() < min {
        bail!("expected at least {min} records, read {}", records.len());
    }
    Ok(records)
}

/// Waits until `cond` holds, polling.
pub(crate) async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if cond() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("timed out after {within:?} waiting for {what}")
}

fn key_id(record: &Value) -> i64 {
    record["key"]["id"].as_i64().unwrap_or(-1)
}

fn op(record: &Value) -> &str {
    if record["value"].is_null() { "tombstone" } else { record["value"]["op"].as_str().unwrap_or("?") }
}

/// Per key, the sequence of ops in partition-offset order; checks each key stays on the
/// partition Java's murmur2 puts it on.
fn ops_by_key(records: &[Value]) -> BTreeMap<i64, Vec<String>> {
    let mut sorted: Vec<&Value> = records.iter().collect();
    sorted.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in sorted {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["key_raw"].as_str().expect("every customers record has a key"))
            .expect("base64");
        assert_eq!(
            r["partition"].as_i64(),
            Some(i64::from(partition_for_key(&raw, PARTITIONS))),
            "record {r} is not on the partition Kafka Connect would choose"
        );
        out.entry(key_id(r)).or_default().push(op(r).to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_kafka_as_avro_read_by_confluent_clients() -> Result<()> {
    init_tracing();
    let broker = Broker::start()?;
    let db = TestDb::create("kafka_e2e").await?;
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
         INSERT INTO customers SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 20) g;",
    )
    .await?;
    let mut service = Service::new(&db, &broker, "e2e", &[])?;
    // Distributed mode: the registry's log in `_schemas`, offsets in `connect-offsets`.
    service.standalone = false;
    service.start(&[])?;
    // Snapshot: 20 reads.
    let raw = broker.read_all(&service.topic(), PARTITIONS, Some(20), Duration::from_secs(20)).await?;
    assert_eq!(raw.len(), 20, "records in the topic, read by librdkafka directly:\n{}", service.log());
    let snapshot = service.consume(20, Duration::from_secs(2))?;
    assert_eq!(snapshot.len(), 20, "{snapshot:?}");
    assert!(snapshot.iter().all(|r| op(r) == "r"));

    // Streaming, one transaction each: inserts, updates, deletes, a key change.
    db.exec("INSERT INTO customers SELECT g, 'c' || g, 0 FROM generate_series(21, 30) g").await?;
    db.exec("UPDATE customers SET name = name || '!' WHERE id <= 10").await?;
    db.exec("DELETE FROM customers WHERE id BETWEEN 11 AND 15").await?;
    db.exec("UPDATE customers SET id = 116 WHERE id = 16").await?;
    // 20 r + 10 c + 10 u + 5 (d + tombstone) + key change (d + tombstone + c).
    let expected = 20 + 10 + 10 + 10 + 3;
    let records = service.consume(expected, Duration::from_secs(3))?;
    assert_eq!(records.len(), expected, "every change exactly once");
    let by_key = ops_by_key(&records);
    for id in 1..=10 {
        assert_eq!(by_key[&id], ["r", "u"], "key {id}");
    }
    for id in 11..=16 {
        assert_eq!(by_key[&id], ["r", "d", "tombstone"], "key {id}");
    }
    for id in 17..=20 {
        assert_eq!(by_key[&id], ["r"], "key {id}");
    }
    for id in (21..=30).chain([116]) {
        assert_eq!(by_key[&id], ["c"], "key {id}");
    }
    // Values decode to the database's content, through the registry, with Debezium's envelope.
    let updated = records.iter().find(|r| key_id(r) == 3 && op(r) == "u").expect("update of 3");
    assert_eq!(updated["value"]["after"]["name"], "c3!");
    assert_eq!(updated["value"]["before"], Value::Null, "default replica identity: no before image");
    assert_eq!(updated["value"]["source"]["table"], "customers");
    assert_eq!(updated["value"]["source"]["connector"], "postgresql");
    assert!(updated["value"]["source"]["lsn"].as_i64().is_some());
    let snap3 = records.iter().find(|r| key_id(r) == 3 && op(r) == "r").expect("read of 3");
    assert_eq!(snap3["value"]["after"]["balance"], "4.50", "numeric(10,2) as a Connect Decimal");
    let moved = records.iter().find(|r| key_id(r) == 16 && op(r) == "d").expect("delete of 16");
    assert_eq!(moved["headers"]["__debezium.newkey"], r#"{"id":116}"#);
    assert_eq!(moved["headers"]["__debezium.context.connectorLogicalName"], "e2e");

    // The registry holds Debezium's subjects.
    let client = sluice_registry::RegistryClient::new(sluice_registry::RegistryClientConfig::new(
        &service.registry_url(),
    )?)?;
    let subjects = client.subjects().await?;
    assert!(subjects.contains(&"e2e.public.customers-key".to_owned()), "{subjects:?}");
    assert!(subjects.contains(&"e2e.public.customers-value".to_owned()), "{subjects:?}");

    // A clean stop stores the final offset; a restart re-sends nothing.
    service.process().terminate(Duration::from_secs(30))?;
    // The offset is in Kafka Connect's offsets topic, under Connect's key, as Debezium writes it.
    let offsets = broker.read_all("connect-offsets", 25, None, Duration::from_secs(2)).await?;
    let ours = offsets
        .iter()
        .filter(|r| r.key.as_deref() == Some(br#"["e2e",{"server":"e2e"}]"#.as_slice()))
        .filter_map(|r| r.value.as_ref())
        .next_back()
        .context("no offset stored under [\"e2e\",{\"server\":\"e2e\"}]")?;
    let ours: Value = serde_json::from_slice(ours)?;
    assert!(ours["lsn_commit"].as_u64().is_some() && ours["messageType"] == "COMMIT", "{ours}");
    let schemas = broker.read_all("_schemas", 1, None, Duration::from_secs(2)).await?;
    assert!(
        schemas.iter().any(|r| r
            .key
            .as_deref()
            .is_some_and(|k| String::from_utf8_lossy(k).contains("e2e.public.customers-value"))),
        "the registry's log lives in _schemas"
    );
    service.start(&[])?;
    db.exec("INSERT INTO customers VALUES (31, 'after restart', 1)").await?;
    let records = service.consume(expected + 1, Duration::from_secs(3))?;
    assert_eq!(records.len(), expected + 1, "nothing re-sent after a clean restart");
    assert_eq!(ops_by_key(&records)[&31], ["c"]);
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}

/// A steady workload of small transactions: each inserts a customer, and every third updates an
/// earlier one.
async fn workload(db: &TestDb, from: i32, count: i32, pause: Duration) -> Result<()> {
    let client = db.connect().await?;
    for i in from..from + count {
        client.batch_execute(&format!("INSERT INTO customers VALUES ({i}, 'w{i}', {i})")).await?;
        if i % 3 == 0 {
            client
                .batch_execute(&format!("UPDATE customers SET name = 'w{i}-u' WHERE id = {}", i - 1))
                .await?;
        }
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// Every expected change present, none reordered per key; duplicates only as re-sends of
/// changes already delivered (same op and source LSN). Returns (records, duplicates).
fn check_workload(records: &[Value], from: i32, count: i32) -> (usize, usize) {
    ops_by_key(records); // partition placement
    let mut sorted: Vec<&Value> = records.iter().collect();
    sorted.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    let mut events: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    let mut duplicates = 0;
    for r in sorted {
        let event = (op(r).to_owned(), r["value"]["source"]["lsn"].as_i64().unwrap_or(-1));
        let seen = events.entry(key_id(r)).or_default();
        if seen.contains(&event) {
            duplicates += 1;
        } else {
            seen.push(event);
        }
    }
    for i in from..from + count {
        let seen = events.get(&i64::from(i)).unwrap_or_else(|| panic!("key {i} lost: no record at all"));
        let ops: Vec<&str> = seen.iter().map(|(op, _)| op.as_str()).collect();
        let want: &[&str] = if (i + 1) % 3 == 0 && i + 1 < from + count { &["c", "u"] } else { &["c"] };
        assert_eq!(ops, want, "key {i}: changes lost or out of order: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "key {i}: out of log order: {seen:?}");
    }
    (records.len(), duplicates)
}

/// A running service streaming a workload: the (empty) snapshot is done and some of the workload's
/// changes are already stored as delivered.
struct Streaming {
    broker: Broker,
    db: TestDb,
    service: Service,
    load: tokio::task::JoinHandle<Result<()>>,
    from: i32,
    count: i32,
}

impl Streaming {
    async fn start(
        name: &str,
        connector: &[(&str, &str)],
        worker: &[(&str, &str)],
        count: i32,
        pause: Duration,
    ) -> Result<Streaming> {
        init_tracing();
        let broker = Broker::start()?;
        let db = TestDb::create(&format!("kafka_{name}")).await?;
        db.exec("CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2))")
            .await?;
        let mut service = Service::new(&db, &broker, name, connector)?;
        service.start(worker)?;
        // Stream only: the (empty) snapshot is done once an offset with a commit position is stored.
        wait_until("the snapshot to complete", Duration::from_secs(60), || {
            service.offsets().is_some_and(|o| o.to_string().contains("lsn_commit"))
        })
        .await
        .with_context(|| service.log())?;
        let from = 1;
        let load = {
            let db =
                TestDb { name: db.name.clone(), cluster: db.cluster.clone(), client: db.connect().await? };
            tokio::spawn(async move { workload(&db, from, count, pause).await })
        };
        wait_until("some changes delivered", Duration::from_secs(60), || {
            service.offsets().is_some_and(|o| o.to_string().contains("txId"))
        })
        .await
        .with_context(|| service.log())?;
        Ok(Streaming { broker, db, service, load, from, count })
    }

    /// Records the workload produces: one create per key, plus an update of every third.
    fn expected_for(from: i32, count: i32) -> usize {
        count as usize + (from..from + count).filter(|i| (i + 1) % 3 == 0 && i + 1 < from + count).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_loses_nothing() -> Result<()> {
    let Streaming { broker: _broker, db: _db, mut service, load, from, count } =
        Streaming::start("kill9", &[], &[], 600, Duration::from_millis(5)).await?;
    let expected = Streaming::expected_for(from, count);
    // Kill it while the workload runs and records are in flight.
    tokio::time::sleep(Duration::from_millis(700)).await;
    service.process().kill9()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    service.start(&[])?;
    load.await??;
    let records = service.consume(expected, Duration::from_secs(4))?;
    let (total, duplicates) = check_workload(&records, from, count);
    tracing::info!(total, duplicates, "records after kill -9 and restart");
    assert_eq!(total, expected + duplicates);
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_mid_stream_holds_back_and_resumes_without_loss() -> Result<()> {
    // Notice the frozen broker within seconds.
    let Streaming { broker, db: _db, mut service, load, from, count } = Streaming::start(
        "outage",
        &[],
        &[("producer.socket.timeout.ms", "3000")],
        400,
        Duration::from_millis(10),
    )
    .await?;
    let expected = Streaming::expected_for(from, count);
    // The broker stops answering for 8 s mid-stream.
    broker.pause()?;
    // Offsets already acknowledged are stored within a flush interval; after that nothing moves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frozen_at = service.offsets();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = service.offsets();
    broker.resume()?;
    assert_eq!(frozen_at, during, "nothing may be stored as delivered while the broker is frozen");
    assert!(service.process().is_running(), "sluice must wait out the outage:\n{}", service.log());
    load.await??;
    let records = service.consume(expected, Duration::from_secs(4))?;
    let (total, duplicates) = check_workload(&records, from, count);
    assert_eq!(total, expected + duplicates);
    tracing::info!(duplicates, "records after the outage");
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_is_recovered_from_the_stored_offset() -> Result<()> {
    let Streaming { broker, db, mut service, load, .. } = Streaming::start(
        "restart",
        &[("sluice.delivery.stall.timeout.ms", "4000")],
        &[("producer.socket.timeout.ms", "3000")],
        500,
        Duration::from_millis(10),
    )
    .await?;
    // Tansu keeps everything in memory: the restarted broker has no topics, no records and no
    // producer state, so the old producer's records are never acknowledged. sluice must notice
    // (no acknowledgement within sluice.delivery.stall.timeout.ms), replace the producer, re-create
    // its topics and resume from its stored offset.
    broker.restart()?;
    load.await??;
    let end: String = db.client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
    let end = end.parse::<sluice_core::Lsn>().map_err(anyhow::Error::msg)?;
    wait_until(
        "the whole workload to be acknowledged by the restarted broker",
        Duration::from_secs(90),
        || {
            service.offsets().is_some_and(|o| {
                o.as_object()
                    .and_then(|m| m.values().next())
                    .and_then(|v| v["lsn_commit"].as_u64())
                    .is_some_and(|lsn| lsn >= end.0)
            })
        },
    )
    .await
    .with_context(|| format!("offsets: {:?}\n{}", service.offsets(), service.log()))?;
    // Which of two failures sluice sees depends on timing: a stall (the old producer's records are
    // never acknowledged) or, when a retry reaches the restarted broker, a fatal "unknown producer
    // id" delivery error. Either way it must restart from the stored offset.
    let log = service.log();
    let noticed = log.contains("unacknowledged") || log.contains("Kafka delivery failed");
    assert!(noticed && log.contains("restarting"), "the lost broker state was not noticed:\n{log}");
    assert!(service.process().is_running(), "{log}");
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_status_names_the_outage_and_recovers() -> Result<()> {
    use sluice_kafka::publisher::{self, PublisherConfig, PublisherState, PublisherStatus};
    init_tracing();
    let broker = Broker::start()?;
    let db = TestDb::create("kafka_status").await?;
    db.exec("CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2))").await?;
    let props: BTreeMap<String, String> = [
        ("name", "status"),
        ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
        ("database.hostname", "127.0.0.1"),
        ("database.user", "postgres"),
        ("database.dbname", db.name.as_str()),
        ("database.sslmode", "disable"),
        ("topic.prefix", "status"),
        ("slot.name", "status"),
        ("publication.name", "status"),
        ("table.include.list", "public.customers"),
        ("key.converter", "org.apache.kafka.connect.json.JsonConverter"),
        ("value.converter", "org.apache.kafka.connect.json.JsonConverter"),
        ("sluice.delivery.stall.timeout.ms", "3000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("database.port".to_owned(), db.port().to_string())])
    .collect();
    let config = PublisherConfig::from_properties(&props)?;
    let mut kafka = broker.config();
    kafka.producer.insert("socket.timeout.ms".into(), "2000".into());
    let dir = tempfile::tempdir()?;
    let offsets = std::sync::Arc::new(sluice_kafka::FileOffsetStore::new(dir.path().join("offsets.json")));
    let status = PublisherStatus::default();
    let metrics = std::sync::Arc::new(sluice_core::metrics::ConnectorMetrics::default());
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(publisher::run(
        config,
        kafka,
        offsets,
        None,
        Duration::from_millis(200),
        status.clone(),
        std::sync::Arc::clone(&metrics),
        cancel.clone(),
    ));
    let state = || status.snapshot().state;
    wait_until("running", Duration::from_secs(60), || state() == PublisherState::Running).await?;
    db.exec("INSERT INTO customers VALUES (1, 'a', 1)").await?;
    wait_until("the first change stored", Duration::from_secs(60), || {
        status.snapshot().stored.is_some_and(|o| o.tx_id.is_some())
    })
    .await?;
    let before = status.snapshot().stored.map_or(0, |o| o.lsn.0);
    broker.pause()?;
    db.exec("INSERT INTO customers VALUES (2, 'b', 2)").await?;
    wait_until(
        "the outage in the status",
        Duration::from_secs(60),
        || matches!(state(), PublisherState::Retrying { ref reason } if reason.contains("unacknowledged")),
    )
    .await
    .with_context(|| format!("{:?}", status.snapshot()))?;
    broker.resume()?;
    wait_until("recovered", Duration::from_secs(90), || {
        let s = status.snapshot();
        s.state == PublisherState::Running && s.stored.is_some_and(|o| o.lsn.0 > before) && s.broker.is_none()
    })
    .await
    .with_context(|| format!("{:?}", status.snapshot()))?;
    cancel.cancel();
    task.await??;
    assert_eq!(state(), PublisherState::Stopped);
    // Both changes were acknowledged once, the outage restarted the pipeline, and the records
    // abandoned by the restart left the in-flight gauge.
    let m = metrics.snapshot();
    assert!(m.events >= 2 && m.transactions >= 2 && m.bytes > 0, "{m:?}");
    assert!(m.errors >= 1, "{m:?}");
    assert_eq!(m.in_flight, 0, "{m:?}");
    assert!(m.last_durable_lsn.is_some_and(|l| l.0 > before), "{m:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_consumer_decodes_what_the_publisher_wrote() -> Result<()> {
    use sluice_debezium::connect::ConnectValue;
    use sluice_kafka::consumer::{SinkConsumer, TopicSelection};
    use sluice_kafka::deserializer::AvroDeserializer;
    let Streaming { broker, db: _db, mut service, load, from, count } =
        Streaming::start("sinkread", &[], &[], 60, Duration::from_millis(2)).await?;
    load.await??;
    let expected = Streaming::expected_for(from, count);
    let registry = sluice_registry::RegistryClient::new(sluice_registry::RegistryClientConfig::new(
        &service.registry_url(),
    )?)?;
    let selection = TopicSelection::from_connector_properties(
        &[("topics.regex".to_owned(), r"sinkread\.public\..*".to_owned())].into_iter().collect(),
    )?;
    let mut consumer =
        SinkConsumer::new(&broker.config(), "sink-test", selection, AvroDeserializer::new(registry))?;
    let mut records = Vec::new();
    let start = std::time::Instant::now();
    while records.len() < expected && start.elapsed() < Duration::from_secs(60) {
        consumer.refresh(|_, _| None)?;
        records.extend(consumer.poll(500, Duration::from_millis(500)).await?);
    }
    assert_eq!(records.len(), expected, "{}", service.log());
    // Per key, in partition order: a create, and for every third key an update after it.
    let field = |v: &ConnectValue, schema: &sluice_debezium::Schema, name: &str| -> ConnectValue {
        let (i, _) = schema.fields.iter().enumerate().find(|(_, f)| f.name == name).expect("field");
        match v {
            ConnectValue::Struct(values) => values[i].clone(),
            other => panic!("not a struct: {other:?}"),
        }
    };
    let mut by_key: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
    for r in &records {
        let (key_schema, key) = r.key.as_ref().expect("key");
        let ConnectValue::Int32(id) = field(key, key_schema, "id") else { panic!("id") };
        let (schema, value) = r.value.as_ref().expect("value");
        let ConnectValue::String(op) = field(value, schema, "op") else { panic!("op") };
        let after_schema = schema.field("after").expect("after").schema.clone();
        let after = field(value, schema, "after");
        let ConnectValue::String(name) = field(&after, &after_schema, "name") else { panic!("name") };
        by_key.entry(id).or_default().push((op, name));
    }
    for i in from..from + count {
        let updated = (i + 1) % 3 == 0 && i + 1 < from + count;
        let want: Vec<(String, String)> = if updated {
            vec![("c".into(), format!("w{i}")), ("u".into(), format!("w{}-u", i + 1))]
        } else {
            vec![("c".into(), format!("w{i}"))]
        };
        assert_eq!(by_key[&i], want, "key {i}");
    }
    consumer.commit(&[(service.topic(), 0, 1)])?;
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}
