//! `sluice stream`: the Postgres source printed to stdout as JSON lines.
//!
//! By default each line is one Debezium record as Kafka Connect would write it: `{"topic", "key",
//! "value", "headers"}` with key and value exactly as JsonConverter (with schemas) serializes them.
//! `--format raw` prints sluice's own decoded events instead.
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
use sluice_core::{Lsn, SourceEvent, Timestamp};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::config::Converter;
use sluice_debezium::converter::{Serialized, serialize_key, serialize_value};
use sluice_debezium::json;
use sluice_debezium::record::{Record, RecordBuilder};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::{self, RECONNECT_DELAY, ReaderExit, StoredOffset};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use sluice_connect::position::PositionFile as OffsetStore;

/// Counts of what a run printed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Summary {
    /// Change events printed.
    pub(crate) changes: u64,
    /// Transactions completed.
    pub(crate) transactions: u64,
}

/// What each printed line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Debezium records (JsonConverter with schemas).
    Debezium,
    /// sluice's own decoded events.
    Raw,
}

/// Runs until interrupted, `duration` elapses, or a definite error.
pub(crate) async fn run(
    props: BTreeMap<String, String>,
    offsets: &Path,
    duration: Option<Duration>,
    format: Format,
) -> Result<()> {
    let config = PostgresSourceConfig::from_properties(&props)?;
    let records = DebeziumConfig::from_properties(&props)?;
    let cancel = CancellationToken::new();
    stop_on_signal(cancel.clone(), duration);
    let summary = run_until_cancelled(config, records, format, offsets, &cancel).await?;
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
    records: DebeziumConfig,
    format: Format,
    offsets: &Path,
    cancel: &CancellationToken,
) -> Result<Summary> {
    let store = OffsetStore::new(offsets);
    // One printer for the whole run: across reconnects it keeps the record layer's state (the last
    // commit LSN in `source.sequence`, transaction metadata, the heartbeat timer).
    let mut printer = Printer::new(&records, format);
    let mut total = Summary::default();
    loop {
        printer.forget_tables();
        let offset = store.load()?;
        let handle = reader::spawn(config.clone(), offset, cancel.child_token());
        let (summary, drained) =
            print_events(handle.events, &handle.acks, &store, offset, &mut printer).await;
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

/// Turns events into output lines.
enum Printer {
    Raw,
    Debezium { builder: Box<RecordBuilder>, key: Converter, value: Converter, records: Vec<Record> },
}

impl Printer {
    fn new(config: &DebeziumConfig, format: Format) -> Self {
        match format {
            Format::Raw => Printer::Raw,
            Format::Debezium => {
                // stdout has no schema registry: Avro converters print as JSON with schemas.
                let json = |c: &Converter| match c {
                    Converter::Json { .. } => c.clone(),
                    Converter::Avro { .. } => Converter::Json { schemas_enable: true },
                };
                Printer::Debezium {
                    key: json(&config.key_converter),
                    value: json(&config.value_converter),
                    builder: Box::new(RecordBuilder::new(config.clone())),
                    records: Vec::new(),
                }
            }
        }
    }

    /// Forgets cached table schemas (a new reader numbers relation versions from 1 again).
    fn forget_tables(&mut self) {
        if let Printer::Debezium { builder, .. } = self {
            builder.forget_tables();
        }
    }

    /// Prints a heartbeat record if one is due (Debezium format only).
    fn heartbeat(&mut self, out: &mut impl Write) -> Result<()> {
        if let Printer::Debezium { builder, key, value, records } = self {
            builder.heartbeat_due(Timestamp::now(), records);
            for record in records.drain(..) {
                write_record(out, &record, key, value)?;
            }
            out.flush()?;
        }
        Ok(())
    }

    fn print(&mut self, event: &SourceEvent, out: &mut impl Write) -> Result<()> {
        match self {
            Printer::Raw => {
                if !matches!(event, SourceEvent::Progress { .. }) {
                    serde_json::to_writer(&mut *out, &event_to_json(event))?;
                    out.write_all(b"\n")?;
                }
            }
            Printer::Debezium { builder, key, value, records } => {
                builder.on_event(event, Timestamp::now(), records)?;
                for record in records.drain(..) {
                    write_record(out, &record, key, value)?;
                }
            }
        }
        Ok(())
    }
}

/// `{"topic":..,"key":..,"value":..,"headers":{..}}` with key, value and header values exactly as
/// JsonConverter writes them.
fn write_record(out: &mut impl Write, record: &Record, key: &Converter, value: &Converter) -> Result<()> {
    let raw = |s: Serialized| -> Vec<u8> {
        match s {
            Serialized::Json(Some(bytes)) => bytes,
            _ => b"null".to_vec(),
        }
    };
    out.write_all(b"{\"topic\":")?;
    serde_json::to_writer(&mut *out, &record.topic)?;
    out.write_all(b",\"key\":")?;
    out.write_all(&raw(serialize_key(key, record)?))?;
    out.write_all(b",\"value\":")?;
    out.write_all(&raw(serialize_value(value, record)?))?;
    out.write_all(b",\"headers\":{")?;
    for (i, h) in record.headers.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &h.key)?;
        out.write_all(b":")?;
        out.write_all(
            &json::serialize(Some(&h.schema), Some(&h.value), false)?.unwrap_or_else(|| b"null".to_vec()),
        )?;
    }
    out.write_all(b"}}\n")?;
    Ok(())
}

async fn print_events(
    mut events: sluice_core::flow::Receiver<SourceEvent>,
    acks: &sluice_core::Acknowledger,
    store: &OffsetStore,
    offset: Option<StoredOffset>,
    printer: &mut Printer,
) -> (Summary, Result<()>) {
    let mut summary = Summary::default();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout());
    let mut position = offset.unwrap_or(StoredOffset { lsn: Lsn::INVALID, snapshot_completed: false });
    let mut unsaved = false;
    let mut last_save = Instant::now();
    let mut delivery_recorded = offset.is_some();
    // Heartbeats are due on time, not only when events arrive (an idle source still beats).
    let mut beat = tokio::time::interval(Duration::from_millis(500));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = async {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = beat.tick() => {
                    printer.heartbeat(&mut out)?;
                    continue;
                }
            };
            let Some(event) = event else { break };
            let durable_at = match &event {
                SourceEvent::Commit(c) => {
                    summary.transactions += 1;
                    Some(c.end_lsn)
                }
                SourceEvent::Progress { lsn } => Some(*lsn),
                SourceEvent::SnapshotCompleted { .. } => {
                    // Only the flag: the consistent point may be a temporary slot's, and the real
                    // slot replays from its own position after it (see sluice_kafka::publisher).
                    position.snapshot_completed = true;
                    None
                }
                SourceEvent::Change(c) => {
                    summary.changes += 1;
                    // Record that snapshot rows are about to reach the downstream: if this run dies
                    // mid-snapshot, the next one must replay the slot after re-snapshotting, so
                    // that rows deleted meanwhile are deleted downstream too.
                    if c.source.snapshot.is_some() && !delivery_recorded {
                        store.save(position)?;
                        delivery_recorded = true;
                    }
                    None
                }
                SourceEvent::Begin(_) => None,
            };
            printer.print(&event, &mut out)?;
            if matches!(event, SourceEvent::SnapshotCompleted { .. }) {
                // After the records it completes (the last snapshot row) are out.
                out.flush()?;
                store.save(position)?;
                last_save = Instant::now();
            }
            if let Some(lsn) = durable_at {
                out.flush()?;
                acks.confirm(lsn);
                position.lsn = position.lsn.max(lsn);
                unsaved = true;
                if last_save.elapsed() > Duration::from_secs(1) {
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
