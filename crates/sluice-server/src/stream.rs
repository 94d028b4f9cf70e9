//! `sluice stream`: the Postgres source printed to stdout as JSON lines.
//!
//! stdout is this pipeline's "downstream": a transaction is confirmed to PostgreSQL (and written to
//! the offset file) only after its last line has been flushed. A retryable failure (connection
//! lost, server restart) reconnects after a pause and resumes from the confirmed position, so
//! nothing is lost; lines after the last confirmed commit may be printed twice (at-least-once).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_core::json::event_to_json;
use sluice_core::{Lsn, SourceEvent};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::{self, RECONNECT_DELAY, ReaderExit, StoredOffset};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::offsets::OffsetStore;

/// Counts of what a run printed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Summary {
    /// Change events printed.
    pub(crate) changes: u64,
    /// Transactions completed.
    pub(crate) transactions: u64,
}

/// Runs until interrupted, `duration` elapses, or a definite error.
pub(crate) async fn run(
    props: BTreeMap<String, String>,
    offsets: &Path,
    duration: Option<Duration>,
) -> Result<()> {
    let config = PostgresSourceConfig::from_properties(&props)?;
    let cancel = CancellationToken::new();
    stop_on_signal(cancel.clone(), duration);
    let summary = run_until_cancelled(config, offsets, &cancel).await?;
    tracing::info!(changes = summary.changes, transactions = summary.transactions, "stopped");
    Ok(())
}

/// Cancels on Ctrl-C, SIGTERM, or after `duration`.
pub(crate) fn stop_on_signal(cancel: CancellationToken, duration: Option<Duration>) {
    sluice_core::task::spawn_named("signals", async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, shutting down"),
            () = term => tracing::info!("SIGTERM, shutting down"),
            () = timer => tracing::info!("duration reached, shutting down"),
            () = cancel.cancelled() => {}
        }
        cancel.cancel();
    });
}

/// Runs the source into stdout, reconnecting after retryable errors, until `cancel` fires.
pub(crate) async fn run_until_cancelled(
    config: PostgresSourceConfig,
    offsets: &Path,
    cancel: &CancellationToken,
) -> Result<Summary> {
    let store = OffsetStore::new(offsets);
    let mut total = Summary::default();
    loop {
        let offset = store.load()?;
        let handle = reader::spawn(config.clone(), offset, cancel.child_token());
        let (summary, drained) = print_events(handle.events, &handle.acks, &store, offset).await;
        total.changes += summary.changes;
        total.transactions += summary.transactions;
        drained?;
        match handle.task.await.context("the reader task panicked")? {
            Ok(ReaderExit::Stopped | ReaderExit::SnapshotOnly) => return Ok(total),
            Err(e) if e.class().is_retryable() && !cancel.is_cancelled() => {
                tracing::warn!(error = %e, "source failed, reconnecting in {}s", RECONNECT_DELAY.as_secs());
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT_DELAY) => {}
                    () = cancel.cancelled() => return Ok(total),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn print_events(
    mut events: sluice_core::flow::Receiver<SourceEvent>,
    acks: &sluice_core::Acknowledger,
    store: &OffsetStore,
    offset: Option<StoredOffset>,
) -> (Summary, Result<()>) {
    let mut summary = Summary::default();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout());
    let mut position = offset.unwrap_or(StoredOffset { lsn: Lsn::INVALID, snapshot_completed: false });
    let mut unsaved = false;
    let mut last_save = Instant::now();
    let result = async {
        while let Some(event) = events.recv().await {
            let durable_at = match &event {
                SourceEvent::Commit(c) => {
                    summary.transactions += 1;
                    Some(c.end_lsn)
                }
                SourceEvent::Progress { lsn } => Some(*lsn),
                SourceEvent::SnapshotCompleted { consistent_point } => {
                    position.snapshot_completed = true;
                    Some(*consistent_point)
                }
                SourceEvent::Change(_) => {
                    summary.changes += 1;
                    None
                }
                SourceEvent::Begin(_) => None,
            };
            if !matches!(event, SourceEvent::Progress { .. }) {
                serde_json::to_writer(&mut out, &event_to_json(&event))?;
                out.write_all(b"\n")?;
            }
            if let Some(lsn) = durable_at {
                out.flush()?;
                acks.confirm(lsn);
                position.lsn = position.lsn.max(lsn);
                unsaved = true;
                if matches!(event, SourceEvent::SnapshotCompleted { .. })
                    || last_save.elapsed() > Duration::from_secs(1)
                {
                    store.save(position)?;
                    unsaved = false;
                    last_save = Instant::now();
                }
            }
        }
        out.flush()?;
        if unsaved {
            store.save(position)?;
        }
        Ok(())
    }
    .await;
    (summary, result)
}
