//! Workers pointed at the same Kafka cluster share their connectors, as Kafka Connect's
//! distributed workers do: configs and target states in the compacted config topic
//! (`connect-configs`, Kafka Connect's record format), source offsets in `connect-offsets`. A
//! second worker with an empty data directory therefore takes over a connector the first one
//! paused, in the state it was left, and resumes it from the first one's offset.
//!
//! Designed around Tansu's limits (`docs/kafka.md`): the broker is never restarted (its memory
//! storage would lose the topics), topics are read by assignment (no consumer groups), and nothing
//! relies on high watermarks or on compaction having run (the config topic is read in full and
//! folded, last record per key wins).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_tests::kafka::{Broker, Record};
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{SCRAM_USER, TEST_PASSWORD, TestDb, init_tracing};

use crate::rest::{self, REST_LOG, call, expect};

const NAME: &str = "shared";
const CONFIG_TOPIC: &str = "connect-configs";

/// A `sluice run` worker on the broker with its own data directory, REST and registry on port 0.
struct Worker {
    process: SluiceProcess,
    url: String,
}

impl Worker {
    async fn start(broker: &Broker, data: &Path, log: &Path) -> Result<Worker> {
        let mut run = RunArgs::new(data).rest().registry("127.0.0.1:0");
        for (k, v) in [
            ("bootstrap.servers", broker.bootstrap().as_str()),
            // A distributed worker's config, as Kafka Connect's would have it (single broker).
            ("group.id", "sluice-shared-workers"),
            ("config.storage.replication.factor", "1"),
            ("offset.storage.replication.factor", "1"),
            ("offset.flush.interval.ms", "500"),
        ] {
            run = run.worker(k, v);
        }
        let mut process = SluiceProcess::start(&run.build(), log)?;
        let url = rest::logged_url(&mut process, REST_LOG, Duration::from_secs(120)).await?;
        Ok(Worker { process, url })
    }

    async fn status(&self) -> Result<Value> {
        expect(200, "GET", &self.url, &format!("/connectors/{NAME}/status"), None).await
    }

    /// Waits until the connector and its task are in `state`.
    async fn wait_state(&mut self, state: &str, within: Duration) -> Result<Value> {
        let start = std::time::Instant::now();
        loop {
            let s = self.status().await?;
            let states: Vec<&Value> = std::iter::once(&s["connector"]["state"])
                .chain(s["tasks"].as_array().into_iter().flatten().map(|t| &t["state"]))
                .collect();
            if states.iter().any(|s| *s == "FAILED") {
                bail!("the connector failed: {s:#}\n{}", rest::log_tail(&self.process, 80));
            }
            if states.len() == 2 && states.iter().all(|s| *s == state) {
                return Ok(s);
            }
            if start.elapsed() > within {
                bail!("not {state} within {within:?}: {s:#}\n{}", rest::log_tail(&self.process, 80));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The connector's stored source offset, once there is one.
    async fn offset(&self) -> Result<Option<Value>> {
        let body = expect(200, "GET", &self.url, &format!("/connectors/{NAME}/offsets"), None).await?;
        let offsets = body["offsets"].as_array().context("offsets")?;
        Ok(offsets.first().map(|o| {
            assert_eq!(o["partition"], json!({"server": NAME}), "{body}");
            o["offset"].clone()
        }))
    }

    /// Waits until the stored offset's commit LSN is at least `lsn`.
    async fn wait_offset(&self, lsn: u64, within: Duration) -> Result<Value> {
        let start = std::time::Instant::now();
        loop {
            if let Some(o) = self.offset().await?
                && o["lsn_commit"].as_u64().is_some_and(|l| l >= lsn)
            {
                return Ok(o);
            }
            if start.elapsed() > within {
                bail!("no offset at LSN {lsn} within {within:?}: {:?}", self.offset().await?);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn current_lsn(db: &TestDb) -> Result<u64> {
    let text: String = db.client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
    Ok(text.parse::<sluice_core::Lsn>().map_err(anyhow::Error::msg)?.0)
}

/// The config topic's records as `(key, value)`, `None` for a tombstone; sluice's own
/// read-barrier markers (`sluice-sync-*`, tombstones no Kafka Connect key matches) left out.
async fn config_records(broker: &Broker) -> Result<Vec<(String, Option<Value>)>> {
    let records: Vec<Record> = broker.read_all(CONFIG_TOPIC, 1, None, Duration::from_secs(3)).await?;
    records
        .into_iter()
        .map(|r| {
            let key = String::from_utf8(r.key.context("a config record without a key")?)?;
            let value = r.value.as_deref().map(serde_json::from_slice::<Value>).transpose()?;
            Ok((key, value))
        })
        .filter(|r: &Result<(String, Option<Value>)>| {
            r.as_ref().map_or(true, |(k, _)| !k.starts_with("sluice-sync-"))
        })
        .collect()
}

/// The last record of `key`: `Some(None)` for a tombstone, `None` for no record.
fn last<'a>(records: &'a [(String, Option<Value>)], key: &str) -> Option<&'a Option<Value>> {
    records.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The table topic's changes as `(id, op)`, in offset order: until `count` arrived, or nothing
/// came for `quiet`.
async fn changes(broker: &Broker, topic: &str, count: usize, quiet: Duration) -> Result<Vec<(i64, String)>> {
    let records = broker.read_all(topic, 1, Some(count), quiet).await?;
    records
        .iter()
        .filter(|r| r.value.is_some())
        .map(|r| {
            let value: Value = serde_json::from_slice(r.value.as_deref().unwrap_or_default())?;
            let id = value["after"]["id"].as_i64().or_else(|| value["before"]["id"].as_i64());
            Ok((id.context("a change without an id")?, value["op"].as_str().unwrap_or("?").to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_worker_takes_over_connectors_from_the_config_topic() -> Result<()> {
    init_tracing();
    let broker = Broker::start()?;
    let db = TestDb::create("kafka_worker_state").await?;
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
         INSERT INTO customers SELECT g, 'c' || g, g FROM generate_series(1, 5) g;",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let (data_a, data_b): (PathBuf, PathBuf) = (dir.path().join("a"), dir.path().join("b"));
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let topic = format!("{NAME}.public.customers");
    let config = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "127.0.0.1",
        "database.port": db.port().to_string(),
        "database.user": SCRAM_USER,
        "database.password": TEST_PASSWORD,
        "database.dbname": db.name,
        "database.sslmode": "disable",
        "topic.prefix": NAME,
        "slot.name": NAME,
        "publication.name": NAME,
        "publication.autocreate.mode": "filtered",
        "table.include.list": "public.customers",
        "status.update.interval.ms": "500",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "topic.creation.default.partitions": "1",
        "topic.creation.default.replication.factor": "-1",
    });

    // Worker A: creates the connector, which snapshots into Kafka, then pauses it and stops.
    let mut a = Worker::start(&broker, &data_a, &log_a).await?;
    assert_eq!(expect(200, "GET", &a.url, "/connectors", None).await?, json!([]));
    let created =
        expect(201, "POST", &a.url, "/connectors", Some(&json!({"name": NAME, "config": config}))).await?;
    assert_eq!(created["config"]["database.password"], "[hidden]", "{created}");
    a.wait_state("RUNNING", Duration::from_secs(60)).await?;
    // An offset with a commit LSN: the snapshot is done and acknowledged (so the topic exists).
    let offset_a = a.wait_offset(0, Duration::from_secs(60)).await?;
    assert!(offset_a["lsn"].as_u64().is_some_and(|l| l > 0), "{offset_a}");
    let snapshot = changes(&broker, &topic, 5, Duration::from_secs(20)).await?;
    assert_eq!(
        snapshot,
        (1..=5).map(|i| (i, "r".to_owned())).collect::<Vec<_>>(),
        "{}",
        rest::log_tail(&a.process, 80)
    );
    assert_eq!(call("PUT", &a.url, &format!("/connectors/{NAME}/pause"), None).await?.0, 202);
    a.wait_state("PAUSED", Duration::from_secs(30)).await?;
    let config_a = expect(200, "GET", &a.url, &format!("/connectors/{NAME}/config"), None).await?;
    let info_a = expect(200, "GET", &a.url, &format!("/connectors/{NAME}"), None).await?;
    let offset_paused = a.offset().await?.context("an offset after the pause")?;
    a.process.terminate(Duration::from_secs(30))?;

    // The config topic holds Kafka Connect's records: the target state, then the config (with
    // the secret: the topic is where it lives, as in Kafka Connect), pause as a new target state.
    let records = config_records(&broker).await?;
    let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("target-state-{NAME}"),
            format!("connector-{NAME}"),
            format!("target-state-{NAME}"),
            format!("connector-{NAME}")
        ],
        "{records:?}"
    );
    assert_eq!(records[0].1, Some(json!({"state": "STARTED", "state.v2": "STARTED"})));
    let stored =
        last(&records, &format!("connector-{NAME}")).cloned().flatten().context("connector record")?;
    let properties = stored.as_object().filter(|o| o.len() == 1).and_then(|o| o["properties"].as_object());
    let properties = properties.with_context(|| format!("not {{\"properties\": {{...}}}}: {stored}"))?;
    assert!(properties.values().all(Value::is_string), "{stored}");
    assert_eq!(properties["name"], NAME);
    assert_eq!(properties["database.password"], TEST_PASSWORD);
    let mut submitted = config.as_object().cloned().context("config")?;
    submitted.insert("name".into(), json!(NAME));
    assert_eq!(properties, &submitted, "the config topic holds the config as submitted");
    assert_eq!(
        last(&records, &format!("target-state-{NAME}")),
        Some(&Some(json!({"state": "PAUSED", "state.v2": "PAUSED"})))
    );

    // While nobody runs the connector, the source moves on.
    let before_insert = current_lsn(&db).await?;
    db.exec("INSERT INTO customers SELECT g, 'c' || g, g FROM generate_series(6, 8) g").await?;

    // Worker B: an empty data directory, the same cluster. It knows the connector, paused.
    let mut b = Worker::start(&broker, &data_b, &log_b).await?;
    assert_eq!(expect(200, "GET", &b.url, "/connectors", None).await?, json!([NAME]));
    let config_b = expect(200, "GET", &b.url, &format!("/connectors/{NAME}/config"), None).await?;
    assert_eq!(config_b, config_a, "worker B's config is worker A's");
    assert_eq!(config_b["database.password"], "[hidden]");
    let info_b = expect(200, "GET", &b.url, &format!("/connectors/{NAME}"), None).await?;
    assert_eq!(info_b, info_a);
    let status = b.status().await?;
    assert_eq!(status["connector"]["state"], "PAUSED", "{status}");
    assert_eq!(status["tasks"][0]["state"], "PAUSED", "{status}");
    assert_eq!(status["connector"]["worker_id"], b.url.trim_start_matches("http://"), "{status}");
    // Worker A's offset, from the offsets topic.
    assert_eq!(b.offset().await?, Some(offset_paused.clone()), "worker B reads worker A's offset");
    assert!(!data_b.join("connectors.json").exists(), "a distributed worker keeps no config file");

    // Resumed on B: it streams what changed since A's offset, and nothing again.
    assert_eq!(call("PUT", &b.url, &format!("/connectors/{NAME}/resume"), None).await?.0, 202);
    b.wait_state("RUNNING", Duration::from_secs(60)).await?;
    let all = changes(&broker, &topic, 8, Duration::from_secs(20)).await?;
    let want: Vec<(i64, String)> =
        (1..=5).map(|i| (i, "r".to_owned())).chain((6..=8).map(|i| (i, "c".to_owned()))).collect();
    assert_eq!(all, want, "{}", rest::log_tail(&b.process, 80));
    let offset_b = b.wait_offset(before_insert + 1, Duration::from_secs(60)).await?;
    assert!(offset_b["lsn"].as_u64() > offset_paused["lsn"].as_u64(), "{offset_b} vs {offset_paused}");
    let records = config_records(&broker).await?;
    assert_eq!(
        last(&records, &format!("target-state-{NAME}")),
        Some(&Some(json!({"state": "STARTED", "state.v2": "STARTED"})))
    );

    // Deleted on B: tombstones in the config topic; a restarted B has no connector.
    assert_eq!(call("DELETE", &b.url, &format!("/connectors/{NAME}"), None).await?.0, 204);
    assert_eq!(expect(200, "GET", &b.url, "/connectors", None).await?, json!([]));
    let records = config_records(&broker).await?;
    assert_eq!(last(&records, &format!("connector-{NAME}")), Some(&None), "{records:?}");
    assert_eq!(last(&records, &format!("target-state-{NAME}")), Some(&None), "{records:?}");
    b.process.terminate(Duration::from_secs(30))?;
    let mut b = Worker::start(&broker, &data_b, &log_b).await?;
    assert_eq!(expect(200, "GET", &b.url, "/connectors", None).await?, json!([]));
    let (code, body) = call("GET", &b.url, &format!("/connectors/{NAME}/status"), None).await?;
    assert_eq!((code, body["error_code"].as_u64()), (404, Some(404)), "{body}");
    // The topic stayed as it was: nothing more published.
    assert_eq!(changes(&broker, &topic, 9, Duration::from_secs(3)).await?.len(), 8);
    b.process.terminate(Duration::from_secs(30))?;
    Ok(())
}
