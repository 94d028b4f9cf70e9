//! `sluice demo`: the whole source on a throwaway local PostgreSQL, with nothing else needed.
//!
//! Starts a sandbox cluster, creates a small shop schema with sample rows, runs a workload of
//! inserts, updates and deletes in the background, and streams everything (snapshot first, then
//! live changes) to stdout as JSON lines until the duration ends.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::sandbox::{Sandbox, SandboxOptions};
use tokio_util::sync::CancellationToken;

use crate::stream::{Format, run_until_cancelled, stop_on_signal};

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

/// Runs the demo for `duration`.
pub(crate) async fn run(duration: Duration, customers: u32, format: Format) -> Result<()> {
    let sandbox = tokio::task::spawn_blocking(|| Sandbox::start(SandboxOptions::default()))
        .await?
        .context("starting a local PostgreSQL for the demo")?;
    tracing::info!(port = sandbox.port, "local PostgreSQL {} started", sandbox.major_version);
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

    let props: BTreeMap<String, String> = [
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
    let config = PostgresSourceConfig::from_properties(&props)?;
    let records = sluice_debezium::DebeziumConfig::from_properties(&props)?;

    let cancel = CancellationToken::new();
    stop_on_signal(cancel.clone(), Some(duration));
    let workload = sluice_core::task::spawn_named(
        "demo-workload",
        workload(sandbox.conn_string("demo"), cancel.clone()),
    );
    let offsets = sandbox.root.join("offsets.json");
    let summary = run_until_cancelled(config, records, format, &offsets, &cancel).await;
    cancel.cancel();
    let _ = workload.await;
    let summary = summary?;
    eprintln!(
        "demo finished: {} change events in {} transactions streamed from a local PostgreSQL {}",
        summary.changes, summary.transactions, sandbox.major_version
    );
    tokio::task::spawn_blocking(move || sandbox.stop()).await?;
    Ok(())
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
