//! `sluice replicate` (and the demo built on it): one source connector replicated straight into
//! Delta tables under a lake directory, with a progress line while it runs, and at the end a
//! query of every replicated table and the connector's lag.
//!
//! It runs the same worker as `sluice run` (REST API and admin endpoint included, on free local
//! ports printed at start), so what the user sees is the product, not a special path.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_connect::worker::{self, WorkerOptions};
use sluice_connect::{Bound, Herder};
use tokio_util::sync::CancellationToken;

/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What to replicate and where.
#[derive(Debug)]
pub(crate) struct Replication {
    /// The connector config (a Debezium PostgreSQL config; `sluice.delta.path` is set here).
    pub(crate) connector: BTreeMap<String, String>,
    /// The lake directory.
    pub(crate) lake: PathBuf,
    /// Where the worker keeps its files.
    pub(crate) data_dir: PathBuf,
}

/// What the run saw at its end.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The final `/lag` entry of the connector.
    pub(crate) lag: Value,
}

/// Replicates until `cancel` fires (the caller's duration or a signal), then stops the worker
/// (flushing and confirming) and returns the final lag.
pub(crate) async fn run(mut replication: Replication, cancel: CancellationToken) -> Result<Outcome> {
    let lake = std::path::absolute(&replication.lake).context("resolving the lake directory")?;
    std::fs::create_dir_all(&lake).with_context(|| format!("creating {}", lake.display()))?;
    replication
        .connector
        .entry("sluice.delta.path".to_owned())
        .or_insert_with(|| format!("{}/${{schema}}_${{table}}", lake.display()));
    replication
        .connector
        .entry("sluice.delta.flush.interval.ms".to_owned())
        .or_insert_with(|| "500".to_owned());
    let options = WorkerOptions {
        data_dir: replication.data_dir.clone(),
        worker: BTreeMap::new(),
        rest_listen: Some("127.0.0.1:0".to_owned()),
        admin_listen: Some("127.0.0.1:0".to_owned()),
        registry_listen: None,
        connectors: vec![replication.connector.clone()],
        stop_timeout: Duration::from_secs(30),
    };
    let (herder_tx, herder_rx) = tokio::sync::oneshot::channel::<Herder>();
    let worker_cancel = CancellationToken::new();
    let worker = {
        let c = worker_cancel.clone();
        sluice_core::task::spawn_named("worker", async move {
            worker::run(options, c, move |bound: &Bound, herder: &Herder| {
                eprintln!(
                    "sluice: REST API {} · admin {} (try: curl {}/lag)",
                    bound.rest.as_deref().unwrap_or("off"),
                    bound.admin.as_deref().unwrap_or("off"),
                    bound.admin.as_deref().unwrap_or("")
                );
                let _ = herder_tx.send(herder.clone());
            })
            .await
        })
    };
    let herder = match herder_rx.await {
        Ok(h) => h,
        Err(_) => {
            // The worker ended before binding: its error says why.
            worker.await.context("the worker task")??;
            anyhow::bail!("the worker stopped before it started");
        }
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    let mut last = Value::Null;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        last = connector_lag(&herder).await;
        eprintln!("{}", progress_line(started.elapsed(), &last));
        if last.get("task_state").and_then(Value::as_str) == Some("FAILED") {
            eprintln!("sluice: the connector failed; see the log above");
            break;
        }
    }
    // The last reading before the stop, which flushes and confirms what was read.
    let lag = match connector_lag(&herder).await {
        Value::Null => last,
        l => l,
    };
    worker_cancel.cancel();
    worker.await.context("the worker task")?.context("sluice worker")?;
    Ok(Outcome { lag })
}

async fn connector_lag(herder: &Herder) -> Value {
    let report = sluice_connect::admin::lag_report(herder).await;
    report.get("connectors").and_then(|c| c.get(0)).cloned().unwrap_or(Value::Null)
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `  12s · 1,234 changes applied · 56.0/s · slot lag 1.2 KiB · public_customers v5, public_orders v7`
fn progress_line(elapsed: Duration, lag: &Value) -> String {
    let events = lag.get("events").and_then(Value::as_u64).unwrap_or(0);
    let rate = lag.get("events_per_second").and_then(Value::as_f64).unwrap_or(0.0);
    let slot = lag.pointer("/slot/lag_bytes").and_then(Value::as_u64).map_or("?".to_owned(), human_bytes);
    let tables: Vec<String> = lag
        .pointer("/delta/tables")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .map(|(name, v)| {
                    let short =
                        name.split_once('.').map_or(name.as_str(), |(_, rest)| rest).replace('.', "_");
                    format!("{short} v{}", v.get("version").and_then(Value::as_i64).unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{:>5}s · {events} changes applied · {rate:.1}/s · slot lag {slot} · {}",
        elapsed.as_secs(),
        if tables.is_empty() { "no tables yet".to_owned() } else { tables.join(", ") }
    )
}

/// Prints `SELECT count(*)` of every table in the lake, then `extra` queries, to stdout.
pub(crate) async fn print_lake(lake: &Path, extra: &[&str]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let tables = sluice_delta::query::lake_tables(lake)?;
    let counts = tables.iter().map(|(name, _)| format!("SELECT count(*) AS rows FROM {name}"));
    for sql in counts.chain(extra.iter().map(|s| (*s).to_owned())) {
        let batches = sluice_delta::query::query(lake, &sql).await?;
        let text = sluice_delta::query::format(&batches)?;
        writeln!(out, "\n$ sluice query {} \"{sql}\"\n{text}", lake.display())?;
    }
    Ok(())
}

/// Prints the final lag reading to stdout.
pub(crate) fn print_lag(lag: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n$ curl <admin>/lag   (the last reading before the stop)")?;
    writeln!(out, "{}", serde_json::to_string_pretty(lag)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_summarizes_the_lag_reading() {
        let lag = serde_json::json!({
            "events": 1234, "events_per_second": 56.04,
            "slot": {"lag_bytes": 1300},
            "delta": {"tables": {"demo.public.customers": {"version": 5}, "demo.public.orders": {"version": 7}}}
        });
        assert_eq!(
            progress_line(Duration::from_secs(12), &lag),
            "   12s · 1234 changes applied · 56.0/s · slot lag 1.3 KiB · public_customers v5, public_orders v7"
        );
        assert!(progress_line(Duration::ZERO, &Value::Null).ends_with("no tables yet"));
    }
}
