//! PostgreSQL → `sluice run` (no Kafka: the direct path) → Delta tables, read back by independent
//! readers (Python deltalake and DuckDB's delta extension, through `crates/sluice-delta/tests/
//! read_delta.py`) and compared with the source table.

mod random;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{TestDb, init_tracing};

fn reader_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sluice-delta/tests/read_delta.py")
}

/// Rows of the Delta table at `path` as Python deltalake and DuckDB read them: (id, name, balance)
/// sorted by id; both readers must agree. `None` while the table does not exist.
fn delta_rows(path: &Path) -> Result<Option<Vec<(i64, String, String)>>> {
    delta_rows_attempt(path, 1)
}

fn delta_rows_attempt(path: &Path, attempt: u32) -> Result<Option<Vec<(i64, String, String)>>> {
    if !path.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let out = Command::new("python3").arg(reader_script()).arg(path).output()?;
    if !out.status.success() {
        bail!("read_delta.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seen: Value = serde_json::from_slice(&out.stdout)?;
    let rows = |rows: &Value| -> Vec<(i64, String, String)> {
        rows.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r["id"].as_i64().unwrap_or(-1),
                            r["name"].as_str().unwrap_or("").to_owned(),
                            r["balance"].as_str().map_or_else(|| r["balance"].to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deltalake = rows(&seen["rows"]);
    if !seen["duckdb"].is_null() {
        let duckdb = rows(&seen["duckdb"]["rows"]);
        // The readers read one after the other: a commit in between makes them differ once; a
        // real disagreement persists.
        if duckdb != deltalake {
            if attempt < 5 {
                std::thread::sleep(Duration::from_millis(300));
                return delta_rows_attempt(path, attempt + 1);
            }
            assert_eq!(duckdb, deltalake, "DuckDB and deltalake disagree");
        }
    }
    Ok(Some(deltalake))
}

async fn source_rows(db: &TestDb) -> Result<Vec<(i64, String, String)>> {
    let rows =
        db.client.query("SELECT id::bigint, name, balance::text FROM customers ORDER BY id", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

struct Direct {
    dir: tempfile::TempDir,
    process: Option<SluiceProcess>,
}

impl Direct {
    fn new(db: &TestDb, slot: &str) -> Result<Direct> {
        let dir = tempfile::tempdir()?;
        let config = json!({
            "name": slot,
            "config": {
                "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
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
                "sluice.delta.path": format!("{}/lake/${{schema}}_${{table}}", dir.path().display()),
                "sluice.delta.flush.interval.ms": "300",
            }
        });
        std::fs::write(dir.path().join("connector.json"), serde_json::to_vec(&config)?)?;
        Ok(Direct { dir, process: None })
    }

    fn start(&mut self) -> Result<()> {
        let d = self.dir.path();
        let args = RunArgs::new(&d.join("data")).connector(&d.join("connector.json")).build();
        self.process = Some(SluiceProcess::start(&args, &d.join("sluice.log"))?);
        Ok(())
    }

    fn table(&self) -> PathBuf {
        self.dir.path().join("lake/public_customers")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluice.log")).unwrap_or_default()
    }

    /// Waits until the Delta table equals the source table.
    async fn converge(&self, db: &TestDb) -> Result<()> {
        let start = std::time::Instant::now();
        let mut last = None;
        while start.elapsed() < Duration::from_secs(90) {
            let want = source_rows(db).await?;
            let got = delta_rows(&self.table())?;
            if got.as_ref() == Some(&want) {
                return Ok(());
            }
            last = Some((want.len(), got.map(|g| g.len())));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("the Delta table did not converge (source rows, delta rows) = {last:?}\n{}", self.log())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_table_equals_the_source_through_changes_and_a_kill_9() -> Result<()> {
    init_tracing();
    let db = TestDb::create("delta_direct").await?;
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
         INSERT INTO customers SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 200) g;",
    )
    .await?;
    let mut direct = Direct::new(&db, "direct")?;
    direct.start()?;
    direct.converge(&db).await.context("after the snapshot")?;

    // Inserts, updates, deletes and a key change, in several transactions.
    db.exec("INSERT INTO customers SELECT g, 'n' || g, 0 FROM generate_series(201, 260) g").await?;
    db.exec("UPDATE customers SET name = name || '!', balance = balance + 1 WHERE id % 7 = 0").await?;
    db.exec("DELETE FROM customers WHERE id % 11 = 0").await?;
    db.exec("UPDATE customers SET id = 1000 WHERE id = 1").await?;
    direct.converge(&db).await.context("after streamed changes")?;

    // A steady workload, killed mid-stream and restarted: the table still ends equal, with no row
    // lost or doubled (the merge is keyed, and the txn versions skip what was applied).
    let load = {
        let client = db.connect().await?;
        tokio::spawn(async move {
            for i in 0..300 {
                let id = 2000 + i;
                client.batch_execute(&format!("INSERT INTO customers VALUES ({id}, 'w', {i})")).await?;
                if i % 4 == 0 {
                    client
                        .batch_execute(&format!("UPDATE customers SET name = 'w-u' WHERE id = {}", id - 2))
                        .await?;
                }
                if i % 9 == 0 {
                    client.batch_execute(&format!("DELETE FROM customers WHERE id = {}", id - 5)).await?;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            anyhow::Ok(())
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    direct.process.as_mut().expect("started").kill9()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    direct.start()?;
    load.await??;
    direct.converge(&db).await.context("after kill -9 and restart")?;
    direct.process.as_mut().expect("started").terminate(Duration::from_secs(30))?;

    // `sluice query` sees the same table (DataFusion over the lake).
    let want: i64 = db.client.query_one("SELECT count(*) FROM customers", &[]).await?.get(0);
    let lake = direct.dir.path().join("lake");
    let out = Command::new(sluice_tests::process::sluice_binary()?)
        .args([
            "query",
            &lake.display().to_string(),
            "SELECT count(*) AS n, max(id) AS top FROM public_customers",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sluice query failed: {}", String::from_utf8_lossy(&out.stderr));
    let top: i64 = db.client.query_one("SELECT max(id)::bigint FROM customers", &[]).await?.get(0);
    assert!(text.contains(&format!("| {want} ")), "count {want} not in:\n{text}");
    assert!(text.contains(&format!("| {top} ")), "max id {top} not in:\n{text}");
    let bad = Command::new(sluice_tests::process::sluice_binary()?)
        .args(["query", &lake.display().to_string(), "SELECT nope FROM public_customers"])
        .output()?;
    assert!(!bad.status.success(), "a bad query must fail");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"), "the error names the column");
    Ok(())
}
