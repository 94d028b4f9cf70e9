//! `sluice demo`: the whole source on a throwaway local PostgreSQL, with nothing else needed.
//!
//! Starts a sandbox cluster, creates a small shop schema with sample rows, runs a workload of
//! inserts, updates and deletes in the background, and replicates everything (snapshot first,
//! then live changes) through the direct pipeline into Delta tables under `./lake`, printing
//! progress. At the end it stops the workload, lets the pipeline catch up, and prints a query of
//! the replicated tables, the lag, and whether the lake equals the source.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_postgres::sandbox::{Sandbox, SandboxOptions};
use tokio_util::sync::CancellationToken;

use crate::replicate::{self, Replication};
use crate::stream::stop_on_signal;

const SCHEMA: &str = "
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email varchar(200),
    balance numeric(12,2) NOT NULL DEFAULT 0,
    tags text[],
    profile jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    amount numeric(10,2) NOT NULL,
    status order_status NOT NULL DEFAULT 'new',
    placed_at timestamp NOT NULL DEFAULT localtimestamp
);";

/// The demo's tables, as the lake names them.
const DEMO_TABLES: &[&str] = &["public_customers", "public_orders"];

/// Runs the demo for `duration`, replicating into `lake`.
pub(crate) async fn run(duration: Duration, customers: u32, lake: PathBuf) -> Result<()> {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(SandboxOptions::default()))
        .await?
        .context("starting a local PostgreSQL for the demo")?;
    eprintln!(
        "sluice demo: a throwaway PostgreSQL {} on port {} with sample data",
        sandbox.major_version, sandbox.port
    );
    sandbox.psql("postgres", "CREATE DATABASE demo")?;
    sandbox.psql("demo", SCHEMA)?;
    sandbox.psql(
        "demo",
        &format!(
            "INSERT INTO customers (name, email, balance, tags, profile) \
             SELECT 'customer ' || g, 'c' || g || '@example.com', g * 10.5, ARRAY['tier' || (g % 3)], \
                    jsonb_build_object('visits', g) FROM generate_series(1, {customers}) g;
             INSERT INTO orders (customer_id, amount) SELECT 1 + g % {customers}, g * 3.25 FROM generate_series(1, {n}) g;",
            n = customers * 2
        ),
    )?;
    // Tables of an earlier demo came from another (now deleted) database: their recorded
    // positions mean nothing to this one.
    for table in DEMO_TABLES {
        let dir = lake.join(table);
        if dir.join("_delta_log").is_dir() {
            eprintln!("sluice demo: replacing {} from an earlier demo", dir.display());
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }

    let connector: BTreeMap<String, String> = [
        ("name", "demo"),
        ("connector.class", sluice_postgres::config::POSTGRES_CONNECTOR_CLASS),
        ("plugin.name", "pgoutput"),
        ("database.hostname", "127.0.0.1"),
        ("database.user", "postgres"),
        ("database.dbname", "demo"),
        ("topic.prefix", "demo"),
        ("slot.name", "sluice_demo"),
        ("publication.autocreate.mode", "filtered"),
        ("status.update.interval.ms", "1000"),
        ("heartbeat.interval.ms", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("database.port".to_owned(), sandbox.port.to_string())])
    .collect();

    let stop = CancellationToken::new();
    stop_on_signal(stop.clone(), Some(duration));
    let workload_cancel = CancellationToken::new();
    let workload = sluice_core::task::spawn_named(
        "demo-workload",
        workload(sandbox.conn_string("demo"), workload_cancel.clone()),
    );
    // At the end the workload stops first, and the pipeline gets a moment to apply its last
    // changes, so the final query can be compared with the source.
    let replication_cancel = CancellationToken::new();
    {
        let (stop, w, r) = (stop.clone(), workload_cancel.clone(), replication_cancel.clone());
        sluice_core::task::spawn_named("demo-stop", async move {
            stop.cancelled().await;
            w.cancel();
            tokio::time::sleep(Duration::from_millis(2_000)).await;
            r.cancel();
        });
    }
    eprintln!("sluice demo: replicating into {} for {duration:?} (Ctrl-C to stop early)", lake.display());
    let replication =
        Replication { connector, lake: lake.clone(), data_dir: sandbox.root.join("sluice-data") };
    let outcome = replicate::run(replication, replication_cancel).await;
    workload_cancel.cancel();
    let _ = workload.await;
    let outcome = outcome?;

    let source = source_counts(&sandbox.conn_string("demo")).await?;
    replicate::print_lake(
        &lake,
        &["SELECT status, count(*) AS orders, sum(amount) AS amount FROM public_orders GROUP BY status ORDER BY status"],
    )
    .await?;
    let lake_counts = lake_counts(&lake).await?;
    replicate::print_lag(&outcome.lag)?;
    let verdict =
        if source == lake_counts { "the lake equals the source" } else { "the lake DIFFERS from the source" };
    eprintln!(
        "\nsluice demo: source {} customers / {} orders, lake {} / {}: {verdict}. The tables stay in {}.",
        source.0,
        source.1,
        lake_counts.0,
        lake_counts.1,
        lake.display()
    );
    tokio::task::spawn_blocking(move || sandbox.stop()).await?;
    anyhow::ensure!(source == lake_counts, "the replicated tables do not match the source");
    Ok(())
}

async fn source_counts(conn: &str) -> Result<(i64, i64)> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
    sluice_core::task::spawn_named("demo-count-connection", connection);
    let row = client
        .query_one("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)", &[])
        .await?;
    Ok((row.get(0), row.get(1)))
}

async fn lake_counts(lake: &std::path::Path) -> Result<(i64, i64)> {
    Ok((
        sluice_delta::query::count(lake, "public_customers").await?,
        sluice_delta::query::count(lake, "public_orders").await?,
    ))
}

/// A small, steady mix of inserts, updates and deletes.
async fn workload(conn: String, cancel: CancellationToken) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    sluice_core::task::spawn_named("demo-workload-connection", connection);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut n: i64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel.cancelled() => return Ok(()),
        }
        n += 1;
        let sql = match n % 4 {
            0 => "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)".to_owned(),
            1 => format!(
                "BEGIN; INSERT INTO customers (name, email, balance) VALUES ('new customer {n}', 'n{n}@example.com', {n}); \
                 INSERT INTO orders (customer_id, amount) VALUES (currval('customers_id_seq'), {n}.99); COMMIT;"
            ),
            2 => "UPDATE orders SET status = 'paid' WHERE id = (SELECT min(id) FROM orders WHERE status = 'new')".to_owned(),
            _ => format!("UPDATE customers SET balance = balance + 1.25, tags = tags || 'active{n}'::text WHERE id = 1 + {n} % 5"),
        };
        if let Err(e) = client.batch_execute(&sql).await {
            let message = e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned());
            tracing::warn!(error = %message, "demo workload statement failed");
        }
    }
}
