//! PostgreSQL → sluice (source) → Kafka (Avro through sluice's registry) → sluice's Delta sink
//! connector → Delta tables, read back by independent readers (Python deltalake and DuckDB's delta
//! extension, `crates/sluice-delta/tests/read_delta.py`) and compared with the source table.
//!
//! One `sluice run` process runs both connectors; it is `kill -9`ed mid-stream and restarted, so
//! the source re-sends what was in flight and the sink re-reads what it had not committed: the
//! table must still equal the source, with every key once. The second test runs the sink alone
//! on topics the real Debezium 3.6.3 wrote from Kafka Connect 4.3, again with a `kill -9`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_registry::{FileLog, Registry};
use sluice_tests::connect::{self, KafkaConnectStandalone};
use sluice_tests::kafka::Broker;
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{TestDb, init_tracing};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{Service, wait_until};

/// The sink's connector name (prefix of its txn application ids).
const SINK: &str = "lake";

fn reader_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sluice-delta/tests/read_delta.py")
}

/// A customer as compared: id, name, balance as text, notes.
type Row = (i64, String, Option<String>, Option<String>);

/// What the independent readers see in the table at `path` (`None` while there is none): rows
/// sorted by id (both readers must agree) and the txn versions of `apps`.
fn delta_table(path: &Path, apps: &[String]) -> Result<Option<(Vec<Row>, Value)>> {
    if !path.join("_delta_log").is_dir() {
        return Ok(None);
    }
    // The two readers read one after the other: a commit in between makes them differ, a real
    // disagreement persists.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match read_both(path, apps)? {
            Ok(seen) => return Ok(Some(seen)),
            Err((deltalake, duckdb)) if attempt >= 5 => {
                assert_eq!(duckdb, deltalake, "DuckDB and deltalake disagree");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Rows and txns as deltalake reads them, or both readers' rows when they differ.
#[allow(clippy::type_complexity)]
fn read_both(path: &Path, apps: &[String]) -> Result<Result<(Vec<Row>, Value), (Vec<Row>, Vec<Row>)>> {
    let out = Command::new("python3").arg(reader_script()).arg(path).args(apps).output()?;
    if !out.status.success() {
        bail!("read_delta.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seen: Value = serde_json::from_slice(&out.stdout)?;
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let rows = |rows: &Value| -> Vec<Row> {
        rows.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r["id"].as_i64().unwrap_or(-1),
                            r["name"].as_str().unwrap_or("").to_owned(),
                            text(&r["balance"]),
                            text(&r["notes"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deltalake = rows(&seen["rows"]);
    if !seen["duckdb"].is_null() {
        let duckdb = rows(&seen["duckdb"]["rows"]);
        if duckdb != deltalake {
            return Ok(Err((deltalake, duckdb)));
        }
    }
    Ok(Ok((deltalake, seen["txn"].clone())))
}

async fn source_rows(db: &TestDb) -> Result<Vec<Row>> {
    let rows = db
        .client
        .query("SELECT id::bigint, name, balance::text, notes FROM customers ORDER BY id", &[])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

/// Text that does not compress, so PostgreSQL stores it out of line (TOAST).
fn toasted(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// A mixed workload: inserts (some with TOASTed notes), updates that leave the notes alone (the
/// source sends the unchanged-TOAST placeholder), updates of the notes, deletes, key changes.
async fn workload(db: &TestDb, count: i64, pause: Duration) -> Result<()> {
    let client = db.connect().await?;
    let mut x: u64 = 0x5EED;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..count {
        let id = 1000 + i;
        let notes = if i % 4 == 0 { format!("'{}'", toasted(id as u64, 9000)) } else { "NULL".into() };
        let mut sql = format!("INSERT INTO customers VALUES ({id}, 'c{id}', {}.25, {notes});", i % 97);
        let victim = 1 + next() % (id as u64 - 1);
        match i % 10 {
            0..=4 => {
                sql +=
                    &format!("UPDATE customers SET name = 'u{i}', balance = balance + 1 WHERE id = {victim};")
            }
            5 | 6 => sql += &format!("DELETE FROM customers WHERE id = {victim};"),
            // Key changes of rows whose TOASTed notes are unchanged are left out: PostgreSQL does
            // not send the value and the sink cannot recover it (docs/delta.md, "Limits").
            7 => {
                sql += &format!(
                    "UPDATE customers SET id = {} WHERE id = {victim} AND notes IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM customers WHERE id = {});",
                    victim + 1_000_000,
                    victim + 1_000_000
                )
            }
            8 => {
                sql += &format!(
                    "UPDATE customers SET notes = '{}' WHERE id = {victim};",
                    toasted(i as u64, 8500)
                )
            }
            _ => {}
        }
        client.batch_execute(&format!("BEGIN;{sql}COMMIT;")).await?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// Waits until the Delta table equals the source table; returns the txn versions. `log` tells
/// what the writer logged, for the failure message.
async fn converge(
    db: &TestDb,
    table: &Path,
    apps: &[String],
    log: &dyn Fn() -> String,
    within: Duration,
) -> Result<Value> {
    let start = std::time::Instant::now();
    let mut last = None;
    while start.elapsed() < within {
        let want = source_rows(db).await?;
        if let Some((rows, txn)) = delta_table(table, apps)? {
            let mut ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            ids.dedup();
            assert_eq!(ids.len(), rows.len(), "a key is in the Delta table twice");
            if rows == want {
                return Ok(txn);
            }
            last = Some((rows.len(), want.len(), rows.iter().zip(&want).position(|(a, b)| a != b)));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!(
        "the Delta table did not converge to the source within {within:?} (delta rows, source rows, first \
         difference): {last:?}\nsluice log:\n{}",
        log()
    )
}

/// A database with the `customers` table and 40 rows for the snapshot (every third with TOASTed
/// notes).
async fn customers(name: &str) -> Result<TestDb> {
    let db = TestDb::create(name).await?;
    db.exec(
        "CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(10,2), notes text)",
    )
    .await?;
    for id in 1..=40 {
        let notes = if id % 3 == 0 { format!("'{}'", toasted(id, 9000)) } else { "NULL".into() };
        db.exec(&format!("INSERT INTO customers VALUES ({id}, 'snap{id}', {id}.50, {notes})")).await?;
    }
    Ok(db)
}

/// A second connection to `db` for a background workload.
async fn workload_in_background(db: &TestDb, count: i64) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let db = TestDb { name: db.name.clone(), cluster: db.cluster.clone(), client: db.connect().await? };
    Ok(tokio::spawn(async move { workload(&db, count, Duration::from_millis(4)).await }))
}

/// Number of commits in a table's log.
fn commits(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .map(|d| {
            d.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))).count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_kafka_to_the_delta_sink_exactly_once_across_kill_9() -> Result<()> {
    init_tracing();
    let broker = Broker::start()?;
    let db = customers("kafka_delta_sink").await?;
    let mut service = Service::new(&db, &broker, "sinkpipe", &[("skipped.operations", "none")])?;
    let lake = service.dir.path().join("lake");
    service.add_connector(
        SINK,
        json!({
            "connector.class": "io.sluice.connect.delta.DeltaSinkConnector",
            "topics.regex": "sinkpipe\\.public\\..*",
            "key.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter": "io.confluent.connect.avro.AvroConverter",
            "sluice.delta.path": format!("{}/${{table}}", lake.display()),
            "sluice.delta.flush.interval.ms": "300",
        }),
    )?;
    service.start(&[])?;
    let table = lake.join("customers");
    let apps: Vec<String> = (0..3).map(|p| format!("{SINK}-{}-{p}", service.topic())).collect();
    let started = std::time::Instant::now();
    converge(&db, &table, &apps, &|| service.log(), Duration::from_secs(90))
        .await
        .context("after the snapshot")?;
    tracing::info!(elapsed = ?started.elapsed(), "snapshot in Delta");

    let load = workload_in_background(&db, 500).await?;
    // Kill both connectors while changes are in flight at every stage, then restart.
    let snapshot_commits = commits(&table);
    wait_until("some streamed changes in Delta", Duration::from_secs(60), || {
        commits(&table) >= snapshot_commits + 3
    })
    .await
    .with_context(|| service.log())?;
    service.process().kill9()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    service.start(&[])?;
    load.await??;
    tracing::info!(elapsed = ?started.elapsed(), "workload done");
    let txn = converge(&db, &table, &apps, &|| service.log(), Duration::from_secs(120))
        .await
        .context("after the workload")?;
    let recorded: Vec<i64> = apps.iter().filter_map(|a| txn[a].as_i64()).collect();
    assert!(!recorded.is_empty(), "no partition's offset recorded in the table: {txn}");

    tracing::info!(elapsed = ?started.elapsed(), "workload in Delta");
    // A truncate reaches the table (once everything before it is applied: on a topic with several
    // partitions the sink applies a truncate where it reads it), then new rows follow it.
    db.exec("TRUNCATE customers").await?;
    converge(&db, &table, &apps, &|| service.log(), Duration::from_secs(60))
        .await
        .context("after the truncate")?;
    db.exec("INSERT INTO customers VALUES (7, 'after', 1.00, NULL)").await?;
    converge(&db, &table, &apps, &|| service.log(), Duration::from_secs(60))
        .await
        .context("after the truncate")?;

    // A clean stop and restart re-applies nothing: the versions stand.
    service.process().terminate(Duration::from_secs(30))?;
    let before = delta_table(&table, &apps)?.context("table")?.1;
    service.start(&[])?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = converge(&db, &table, &apps, &|| service.log(), Duration::from_secs(30)).await?;
    assert_eq!(before, after, "a restart changed the recorded positions without new records");
    service.process().terminate(Duration::from_secs(30))?;
    Ok(())
}

/// A sluice process running only the Delta sink, against a registry it does not serve.
struct SinkProcess {
    dir: tempfile::TempDir,
    process: Option<SluiceProcess>,
    bootstrap: String,
}

impl SinkProcess {
    fn new(bootstrap: &str, registry_url: &str, topics_regex: &str) -> Result<SinkProcess> {
        let dir = tempfile::tempdir()?;
        let config = json!({ "name": SINK, "config": {
            "connector.class": "io.sluice.connect.delta.DeltaSinkConnector",
            "topics.regex": topics_regex,
            "value.converter.schema.registry.url": registry_url,
            "sluice.delta.path": format!("{}/lake/${{table}}", dir.path().display()),
            "sluice.delta.flush.interval.ms": "300",
        }});
        std::fs::write(dir.path().join("sink.json"), serde_json::to_vec_pretty(&config)?)?;
        Ok(SinkProcess { dir, process: None, bootstrap: bootstrap.to_owned() })
    }

    fn start(&mut self) -> Result<()> {
        let d = self.dir.path();
        let args = RunArgs::new(&d.join("data"))
            .worker("bootstrap.servers", &self.bootstrap)
            .connector(&d.join("sink.json"))
            .build();
        self.process = Some(SluiceProcess::start(&args, &d.join("sluice.log"))?);
        Ok(())
    }

    fn process(&mut self) -> &mut SluiceProcess {
        self.process.as_mut().expect("started")
    }

    fn table(&self, name: &str) -> PathBuf {
        self.dir.path().join("lake").join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluice.log")).unwrap_or_default()
    }
}

/// The same sink on topics written by the real Debezium 3.6.3 PostgreSQL connector in Kafka
/// Connect 4.3, with Confluent's AvroConverter registering through sluice's registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_written_by_the_real_debezium_replicate_into_delta() -> Result<()> {
    init_tracing();
    if let Err(e) = connect::prerequisites() {
        if std::env::var_os("CI").is_some() {
            return Err(e.context("Kafka Connect with Debezium is required in CI"));
        }
        eprintln!("skipping: Kafka Connect with Debezium cannot run here: {e:#}");
        return Ok(());
    }
    let db = customers("dbz_delta_sink").await?;
    let broker = Broker::start()?;
    let registry_dir = tempfile::tempdir()?;
    let registry =
        Registry::open(Box::new(FileLog::open(registry_dir.path().join("schemas.jsonl"))?)).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let registry_url = format!("http://{}", listener.local_addr()?);
    let cancel = CancellationToken::new();
    let server =
        tokio::spawn(sluice_registry::server::serve(listener, Arc::clone(&registry), cancel.clone()));

    let mut props = connect::postgres_connector(&db, "dbzsink", "public.customers");
    props.insert("topic.creation.default.partitions".into(), "3".into());
    props.insert("skipped.operations".into(), "none".into());
    let mut debezium = KafkaConnectStandalone::start(&broker.bootstrap(), &registry_url, &[], &props)?;
    debezium.wait_running(Duration::from_secs(240)).await?;

    let mut sink = SinkProcess::new(&broker.bootstrap(), &registry_url, "dbzsink\\.public\\..*")?;
    sink.start()?;
    let table = sink.table("customers");
    let apps: Vec<String> = (0..3).map(|p| format!("{SINK}-dbzsink.public.customers-{p}")).collect();
    let log = || format!("{}\nKafka Connect:\n{}", sink.log(), debezium.log_tail(40));
    converge(&db, &table, &apps, &log, Duration::from_secs(180)).await.context("after the snapshot")?;

    let load = workload_in_background(&db, 300).await?;
    let snapshot_commits = commits(&table);
    wait_until("some streamed changes in Delta", Duration::from_secs(60), || {
        commits(&table) >= snapshot_commits + 2
    })
    .await
    .with_context(|| sink.log())?;
    sink.process().kill9()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sink.start()?;
    load.await??;
    let log = || format!("{}\nKafka Connect:\n{}", sink.log(), debezium.log_tail(40));
    let txn =
        converge(&db, &table, &apps, &log, Duration::from_secs(120)).await.context("after the workload")?;
    assert!(apps.iter().any(|a| txn[a].is_i64()), "no partition's offset recorded: {txn}");

    db.exec("TRUNCATE customers").await?;
    converge(&db, &table, &apps, &log, Duration::from_secs(60)).await.context("after the truncate")?;
    db.exec("INSERT INTO customers VALUES (7, 'after', 1.00, NULL)").await?;
    converge(&db, &table, &apps, &log, Duration::from_secs(60)).await.context("after the truncate")?;

    sink.process().terminate(Duration::from_secs(30))?;
    let stopped = debezium.stop().await?;
    cancel.cancel();
    server.await??;
    if !stopped.success() && stopped.code() != Some(143) {
        bail!("Kafka Connect exited with {stopped}");
    }
    Ok(())
}
