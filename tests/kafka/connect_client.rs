//! sluice's Kafka Connect REST API driven by a client library written for Kafka Connect:
//! kafka-connect-py (`tests/kafka/kafka_connect_client.py`), against a real `sluice run` with no
//! Kafka (the direct path from PostgreSQL into Delta) and a real PostgreSQL.
//!
//! The script takes one connector through its whole life (validate, create, list, get, status,
//! tasks, pause, resume, restart, stop, offsets, update, delete, and the errors the library
//! surfaces) and checks every answer. A workload keeps committing meanwhile, so after each
//! (re)start the script can wait for the connector's offset to move: RUNNING is not taken on
//! trust. The connector authenticates with SCRAM, so the update that sends the masked config back
//! (`"database.password": "[hidden]"`) only keeps running if sluice kept the stored password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{SCRAM_USER, TEST_PASSWORD, TestDb, init_tracing};
use tokio_util::sync::CancellationToken;

use crate::rest::{self, ADMIN_LOG, REST_LOG};

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/kafka_connect_client.py")
}

/// Inserts a customer every `every` until cancelled: the WAL keeps moving.
fn workload(db: &TestDb, every: Duration, cancel: CancellationToken) -> tokio::task::JoinHandle<Result<i32>> {
    let name = db.name.clone();
    tokio::spawn(async move {
        let client = TestDb::connect_existing(&name).await?;
        let mut id = 1000;
        loop {
            client.batch_execute(&format!("INSERT INTO customers VALUES ({id}, 'w{id}', {id})")).await?;
            id += 1;
            tokio::select! {
                () = cancel.cancelled() => return Ok(id - 1000),
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// The steps the script reports, in order.
const STEPS: &[&str] = &[
    "cluster_info",
    "list_plugins",
    "validate",
    "create",
    "duplicate_create",
    "invalid_create",
    "unknown_connector",
    "running",
    "list",
    "get",
    "topics",
    "pause",
    "resume",
    "restart",
    "stop",
    "resume_stopped",
    "update",
    "pause_resume_all",
    "delete",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_connect_py_drives_a_connector_through_its_whole_life() -> Result<()> {
    init_tracing();
    let db = TestDb::create("kafka_connect_client").await?;
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
         INSERT INTO customers SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 20) g;",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let name = "pyclient";
    let config = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": "127.0.0.1",
        "database.port": db.port().to_string(),
        "database.user": SCRAM_USER,
        "database.password": TEST_PASSWORD,
        "database.dbname": db.name,
        "database.sslmode": "disable",
        "topic.prefix": name,
        "slot.name": name,
        "publication.name": name,
        "publication.autocreate.mode": "filtered",
        "table.include.list": "public.customers",
        "status.update.interval.ms": "500",
        "sluice.delta.path": format!("{}/lake/${{table}}", d.display()),
        "sluice.delta.flush.interval.ms": "200",
    });
    let config_file = d.join("connector-config.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;

    let args = RunArgs::new(&d.join("data")).rest().admin().build();
    let mut sluice = SluiceProcess::start(&args, &d.join("sluice.log"))?;
    let url = rest::logged_url(&mut sluice, REST_LOG, Duration::from_secs(120)).await?;
    let admin = rest::logged_url(&mut sluice, ADMIN_LOG, Duration::from_secs(10)).await?;
    assert_ne!(url, admin, "REST and admin listen on separate ports");
    // Nothing configured yet: an empty worker.
    assert_eq!(rest::expect(200, "GET", &url, "/connectors", None).await?, json!([]));

    let cancel = CancellationToken::new();
    let load = workload(&db, Duration::from_millis(150), cancel.clone());
    let run = rest::python(
        &client_script(),
        &[url.clone(), name.to_owned(), config_file.display().to_string(), "60".to_owned()],
        d,
        Duration::from_secs(600),
    )
    .await;
    cancel.cancel();
    let inserted = load.await??;
    let run = run?;
    let summary: Value =
        run.stdout.lines().next_back().and_then(|l| serde_json::from_str(l).ok()).with_context(|| {
            format!("no JSON summary:\n{}\n{}\n{}", run.stdout, run.stderr, rest::log_tail(&sluice, 80))
        })?;
    assert!(
        run.code == Some(0) && summary["ok"] == true,
        "kafka_connect_client.py failed ({:?}): {summary:#}\nstderr:\n{}\nsluice log:\n{}",
        run.code,
        run.stderr,
        rest::log_tail(&sluice, 80)
    );
    let steps: Vec<&str> =
        summary["steps"].as_array().into_iter().flatten().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(steps, STEPS, "{summary:#}");
    let checks = summary["checks"].as_u64().unwrap_or(0);
    assert!(checks > 200, "only {checks} checks ran: {summary:#}");
    assert!(summary["last_lsn"].as_u64().is_some_and(|l| l > 0), "{summary:#}");
    let step =
        |name: &str| summary["steps"].as_array().and_then(|s| s.iter().find(|s| s["step"] == name)).cloned();
    let plugins = step("list_plugins").context("list_plugins")?;
    assert_eq!(
        plugins["classes"],
        json!([
            "io.debezium.connector.postgresql.PostgresConnector",
            "io.sluice.connect.delta.DeltaSinkConnector"
        ])
    );
    assert_eq!(step("validate").context("validate")?["bad_properties"], json!(["database.hostname"]));
    assert_eq!(
        step("duplicate_create").context("duplicate")?["message"],
        format!("Connector {name} already exists")
    );
    // Shown with --nocapture.
    eprintln!(
        "kafka-connect-py: {checks} checks in {} s, {inserted} rows inserted meanwhile",
        summary["seconds"]
    );

    // What the walk left behind, seen from sluice's side: the config store holds no connector,
    // the direct path wrote its Delta table, and no secret reached the log.
    let stored: Value = serde_json::from_slice(&std::fs::read(d.join("data/connectors.json"))?)?;
    assert_eq!(stored, json!({"connectors": {}}), "the deleted connector is gone from the store");
    assert!(d.join("lake/customers/_delta_log").is_dir(), "the direct path wrote no Delta table");
    assert_eq!(rest::expect(200, "GET", &url, "/connectors", None).await?, json!([]));
    let (health, _) = rest::call("GET", &admin, "/health", None).await?;
    assert_eq!(health, 200);
    let log = sluice.log_text();
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains(TEST_PASSWORD)).collect();
    assert!(leaks.is_empty(), "the password reached sluice's log:\n{}", leaks.join("\n"));
    sluice.terminate(Duration::from_secs(30))?;
    Ok(())
}
