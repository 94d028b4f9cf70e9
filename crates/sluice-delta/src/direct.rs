//! The direct path of the embedded default: PostgreSQL reader → Debezium records (in memory, never
//! serialized) → per-table collapsed batches → Delta commits → confirmed LSN.
//!
//! Exactly once per table: every commit carries `txn(<connector name>, <commit LSN>)`, the commit
//! record LSN of the last source transaction the batch covers. On start each table's version is
//! read back and the changes of transactions at or below it are skipped, so replaying the slot
//! after a crash changes nothing. The slot's confirmed position (and the position file) advances
//! only after every table touched by a batch has committed it. Snapshot batches carry the table's
//! current version (they precede every streamed transaction and are upserts, so re-applying them
//! after an interrupted snapshot converges).
//!
//! Metrics count a batch once its commits and the stored position are durable: its change events,
//! their decoded size (the reader's own estimate; records are never serialized here), and the
//! source transactions it completed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sluice_core::metrics::ConnectorMetrics;
use sluice_core::{Lsn, SourceEvent, Timestamp};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::record::{Record, RecordBuilder};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::{self, ReaderExit, StoredOffset};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{ChangeCollapser, CollapseOptions, Pushed};
use crate::destination::Destination;
use crate::error::DeltaError;
use crate::maintenance::{self, MaintenanceConfig, MaintenanceSchedule};
use crate::table::TableWriter;

/// The direct pipeline's settings, parsed once from the connector's flat properties.
#[derive(Debug, Clone)]
pub struct DirectConfig {
    /// The connector name: the Delta `txn` application id.
    pub name: String,
    /// The PostgreSQL side.
    pub postgres: PostgresSourceConfig,
    /// The Debezium record side.
    pub records: DebeziumConfig,
    /// Where tables live and how large batches grow.
    pub destination: Destination,
    /// Checkpoints, compaction and vacuum.
    pub maintenance: MaintenanceConfig,
}

impl DirectConfig {
    /// Parses and validates a connector config; errors name the property.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, DeltaError> {
        let postgres = PostgresSourceConfig::from_properties(props).map_err(DeltaError::source)?;
        let records = DebeziumConfig::from_properties(props)
            .map_err(|e| DeltaError::Record { table: String::new(), message: e.to_string() })?;
        Ok(DirectConfig {
            name: postgres.name.clone(),
            destination: Destination::from_properties(props)?,
            maintenance: MaintenanceConfig::from_properties(props)?,
            postgres,
            records,
        })
    }
}

/// Where the source stands between runs (the slot knows the LSN; this adds whether the snapshot
/// completed). Implemented by the caller (a file in the data directory).
pub trait PositionStore: Send + Sync {
    /// The stored position, if any.
    fn load(&self) -> Result<Option<StoredOffset>, DeltaError>;
    /// Replaces the stored position (durably).
    fn save(&self, offset: StoredOffset) -> Result<(), DeltaError>;
}

/// Pause before restarting after a retryable failure.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Runs until `cancel` fires or a definite error; retryable errors restart from the stored
/// position (the tables' txn versions make the replay exact). `metrics` counts committed batches,
/// each table's version, and every error that restarts or stops the pipeline.
pub async fn run(
    config: DirectConfig,
    positions: &dyn PositionStore,
    metrics: Arc<ConnectorMetrics>,
    cancel: CancellationToken,
) -> Result<(), DeltaError> {
    loop {
        match run_once(&config, positions, &metrics, &cancel).await {
            Ok(()) => return Ok(()),
            Err(e) if e.class().is_retryable() && !cancel.is_cancelled() => {
                metrics.record_error();
                tracing::warn!(connector = %config.name, error = %e, "direct pipeline failed; restarting");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_DELAY) => {}
                    () = cancel.cancelled() => return Ok(()),
                }
            }
            Err(e) => {
                metrics.record_error();
                return Err(e);
            }
        }
    }
}

/// One reader run.
async fn run_once(
    config: &DirectConfig,
    positions: &dyn PositionStore,
    metrics: &ConnectorMetrics,
    cancel: &CancellationToken,
) -> Result<(), DeltaError> {
    let stored = positions.load()?;
    // Not a child of `cancel`: on a stop the reader must outlive the final flush, so that its last
    // status update carries the final confirmation. The guard stops it if this future is dropped.
    let reader_cancel = CancellationToken::new();
    let _reader_guard = reader_cancel.clone().drop_guard();
    let handle = reader::spawn(config.postgres.clone(), stored, reader_cancel.clone());
    let options = CollapseOptions::from_config(&config.records);
    let mut applier = Applier {
        config,
        builder: RecordBuilder::new(config.records.clone()),
        collapser: ChangeCollapser::new(options.clone()),
        options,
        pending_records: 0,
        writers: HashMap::new(),
        schedules: HashMap::new(),
        position: stored.unwrap_or(StoredOffset { lsn: Lsn::INVALID, snapshot_completed: false }),
        delivery_recorded: stored.is_some(),
        last_commit: None,
        first_pending: None,
        in_transaction: false,
        missing: std::collections::HashSet::new(),
        records: Vec::new(),
        metrics,
        unflushed: Unflushed::default(),
        transaction_changed: false,
    };
    let mut events = handle.events;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result: Result<(), DeltaError> = async {
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                event = events.recv() => match event {
                    Some(event) => {
                        if let Some(lsn) = applier.on_event(&event, positions).await? {
                            handle.acks.confirm(lsn);
                        }
                    }
                    None => return Ok(()),
                },
                _ = tick.tick() => {
                    if let Some(lsn) = applier.flush_if_due(positions).await? {
                        handle.acks.confirm(lsn);
                    }
                }
            }
        }
    }
    .await;
    // A clean stop commits what is pending, unless the stream stopped inside a transaction (a
    // table must never show half of one; the restart replays it whole). The reader still runs
    // here, so the confirmation reaches PostgreSQL in its final status update.
    let result = match result {
        Ok(()) if !applier.in_transaction => applier.flush(positions).await.map(|lsn| {
            if let Some(lsn) = lsn {
                handle.acks.confirm(lsn);
            }
        }),
        other => other,
    };
    reader_cancel.cancel();
    drop(events);
    let reader_result = handle.task.await;
    result?;
    match reader_result {
        Ok(Ok(ReaderExit::Stopped | ReaderExit::SnapshotOnly)) => Ok(()),
        Ok(Err(e)) => Err(DeltaError::source(e)),
        Err(join) => Err(DeltaError::Internal(format!("the reader task failed: {join}"))),
    }
}

struct Applier<'a> {
    config: &'a DirectConfig,
    builder: RecordBuilder,
    options: CollapseOptions,
    collapser: ChangeCollapser,
    pending_records: usize,
    /// Open tables by topic, with the txn version they had when opened (changes of transactions at
    /// or below it are already in the table).
    writers: HashMap<String, (TableWriter, Option<i64>)>,
    /// Maintenance schedules by topic.
    schedules: HashMap<String, MaintenanceSchedule>,
    position: StoredOffset,
    delivery_recorded: bool,
    /// The commit record LSN of the last transaction whose changes are in the collapser (or
    /// already committed): the txn version of the next batch.
    last_commit: Option<Lsn>,
    /// When the oldest pending change arrived.
    first_pending: Option<Instant>,
    /// Between a transaction's Begin and Commit.
    in_transaction: bool,
    /// Topics whose table did not exist when last looked for (until the next flush creates it).
    missing: std::collections::HashSet<String>,
    records: Vec<Record>,
    metrics: &'a ConnectorMetrics,
    /// What the pending batch holds, for the metrics.
    unflushed: Unflushed,
    /// The current transaction pushed a change (a replayed one, already applied, pushes none).
    transaction_changed: bool,
}

/// What a pending batch holds, reported once its commits are durable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Unflushed {
    /// Source change events that pushed a change.
    events: u64,
    /// Their decoded size ([`SourceEvent::approx_size`]).
    bytes: u64,
    /// Transactions completed with at least one change.
    transactions: u64,
    /// The last such transaction's commit LSN and commit time (ms since the epoch).
    last_commit: Option<(Lsn, i64)>,
}

impl Unflushed {
    /// Counts one source event that pushed `changes` changes into the batch.
    fn add_event(&mut self, event: &SourceEvent, changes: usize) {
        if changes > 0 {
            self.events += 1;
            self.bytes += event.approx_size() as u64;
        }
    }

    /// Counts a committed transaction, if it changed anything.
    fn add_commit(&mut self, changed: bool, commit_lsn: Lsn, commit_ts: Timestamp) {
        if changed {
            self.transactions += 1;
            let ms = match commit_ts {
                Timestamp::Micros(us) => us.div_euclid(1000),
                _ => 0,
            };
            self.last_commit = Some((commit_lsn, ms));
        }
    }

    /// Reports the batch as durable (nothing when it held nothing countable).
    fn record(self, metrics: &ConnectorMetrics) {
        if self.events > 0 || self.transactions > 0 {
            metrics.record_durable(self.events, self.bytes, self.transactions, self.last_commit);
        }
    }
}

impl Applier<'_> {
    /// Handles one event; returns an LSN to confirm when a batch was committed.
    async fn on_event(
        &mut self,
        event: &SourceEvent,
        positions: &dyn PositionStore,
    ) -> Result<Option<Lsn>, DeltaError> {
        if let SourceEvent::Change(c) = event
            && c.source.snapshot.is_some()
            && !self.delivery_recorded
        {
            // As with every sink: before snapshot rows reach the tables, record that a snapshot
            // delivery is under way, so an interrupted one is followed by a full slot replay.
            positions.save(self.position)?;
            self.delivery_recorded = true;
        }
        self.builder
            .on_event(event, Timestamp::now(), &mut self.records)
            .map_err(|e| DeltaError::Record { table: String::new(), message: e.to_string() })?;
        let records = std::mem::take(&mut self.records);
        let mut changes = 0;
        for record in records {
            if self.already_applied(&record).await? {
                continue;
            }
            if matches!(self.collapser.push(record)?, Pushed::Change | Pushed::Truncate) {
                changes += 1;
            }
            self.pending_records += 1;
            self.first_pending.get_or_insert_with(Instant::now);
        }
        self.unflushed.add_event(event, changes);
        self.transaction_changed |= changes > 0;
        match event {
            SourceEvent::Begin(_) => {
                self.in_transaction = true;
                self.transaction_changed = false;
                Ok(None)
            }
            SourceEvent::Commit(c) => {
                self.in_transaction = false;
                self.unflushed.add_commit(self.transaction_changed, c.commit_lsn, c.commit_ts);
                self.transaction_changed = false;
                self.last_commit = Some(c.commit_lsn);
                self.position.lsn = self.position.lsn.max(c.end_lsn);
                if self.pending_records >= self.config.destination.max_records {
                    return self.flush(positions).await;
                }
                Ok(None)
            }
            SourceEvent::SnapshotCompleted { .. } => {
                // Only the flag (the consistent point may be a temporary slot's).
                let lsn = self.flush(positions).await?;
                self.position.snapshot_completed = true;
                positions.save(self.position)?;
                Ok(lsn)
            }
            SourceEvent::Progress { lsn } => {
                if self.pending_records == 0 && !self.in_transaction {
                    self.position.lsn = self.position.lsn.max(*lsn);
                    return Ok(Some(*lsn));
                }
                Ok(None)
            }
            SourceEvent::Change(c) if c.source.snapshot.is_some() => {
                // Snapshot rows have no transactions: a batch may end anywhere.
                if self.pending_records >= self.config.destination.max_records {
                    return self.flush(positions).await;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Whether a streamed change is already in its table (replay after a restart).
    async fn already_applied(&mut self, record: &Record) -> Result<bool, DeltaError> {
        let Some(commit) = record.position.commit_lsn else { return Ok(false) };
        if record.value.is_none() && record.key.is_none() {
            return Ok(false);
        }
        if self.missing.contains(&record.topic) {
            return Ok(false);
        }
        let version = match self.writers.get(&record.topic) {
            Some((_, v)) => *v,
            None => {
                let location = self.config.destination.location(&record.topic);
                match TableWriter::open(&location, &record.topic).await? {
                    Some(mut writer) => {
                        let v = writer.transaction_version(&self.config.name).await?;
                        self.writers.insert(record.topic.clone(), (writer, v));
                        v
                    }
                    None => {
                        self.missing.insert(record.topic.clone());
                        None
                    }
                }
            }
        };
        Ok(version.is_some_and(|v| i64::try_from(commit.0).is_ok_and(|c| c <= v)))
    }

    /// Commits the pending batch when it is old enough (between transactions only).
    async fn flush_if_due(&mut self, positions: &dyn PositionStore) -> Result<Option<Lsn>, DeltaError> {
        let due = self.first_pending.is_some_and(|t| t.elapsed() >= self.config.destination.flush_interval);
        // Never in the middle of a source transaction: a table must not show half of one.
        if due && !self.in_transaction { self.flush(positions).await } else { Ok(None) }
    }

    /// Commits everything pending, one commit per table; returns the LSN now durable.
    async fn flush(&mut self, positions: &dyn PositionStore) -> Result<Option<Lsn>, DeltaError> {
        if self.pending_records == 0 {
            return Ok(None);
        }
        let collapser = std::mem::replace(&mut self.collapser, ChangeCollapser::new(self.options.clone()));
        let snapshot_batch = !self.position.snapshot_completed;
        for changes in collapser.finish() {
            let topic = changes.topic().to_owned();
            if !self.writers.contains_key(&topic) {
                let location = self.config.destination.location(&topic);
                let writer = match changes.mapping() {
                    Some(mapping) => TableWriter::open_or_create(&location, mapping).await?,
                    None => match TableWriter::open(&location, &topic).await? {
                        Some(w) => w,
                        None => continue, // a truncate of a table never written: nothing to do
                    },
                };
                self.writers.insert(topic.clone(), (writer, None));
            }
            let Some((writer, applied)) = self.writers.get_mut(&topic) else { continue };
            let (version, table_lsn) = match (snapshot_batch, self.last_commit) {
                (false, Some(c)) => (i64::try_from(c.0).unwrap_or(i64::MAX), c),
                _ => (
                    applied.unwrap_or(0),
                    // Snapshot rows carry the consistent point.
                    changes
                        .last_position()
                        .map_or(self.position.lsn, |p| Lsn(u64::try_from(p.commit_lsn).unwrap_or(0))),
                ),
            };
            let result = writer.apply(&changes, &self.config.name, version, false).await?;
            tracing::debug!(table = %topic, ?result, "applied");
            let table_version = i64::try_from(result.table_version).unwrap_or(i64::MAX);
            self.metrics.record_table(&topic, table_version, format!("lsn:{table_lsn}"));
            if !snapshot_batch {
                *applied = Some(version);
            }
        }
        self.pending_records = 0;
        self.first_pending = None;
        self.missing.clear();
        positions.save(self.position)?;
        std::mem::take(&mut self.unflushed).record(self.metrics);
        // Between batches, so maintenance never races this applier's own commits.
        for (topic, (writer, _)) in &mut self.writers {
            let schedule = self.schedules.entry(topic.clone()).or_default();
            maintenance::after_commit(writer, &self.config.maintenance, schedule).await;
        }
        Ok((!snapshot_batch).then_some(self.position.lsn).filter(|l| *l != Lsn::INVALID))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("name", "lake"),
            ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
            ("database.hostname", "db"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "srv.one"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            p.insert((*k).to_owned(), (*v).to_owned());
        }
        p
    }

    #[test]
    fn the_source_config_accepts_every_delta_property() {
        use crate::destination::DESTINATION_PROPERTIES;
        use crate::maintenance::MAINTENANCE_PROPERTIES;
        for name in DESTINATION_PROPERTIES.iter().chain(MAINTENANCE_PROPERTIES) {
            assert!(sluice_postgres::config::is_known_property(name, &[]), "{name} is not accepted");
        }
        let c = DirectConfig::from_properties(&props(&[("sluice.delta.optimize.interval.ms", "0")])).unwrap();
        assert_eq!(c.maintenance.optimize_interval, None);
    }

    #[test]
    fn destination_properties_are_read() {
        let c = DirectConfig::from_properties(&props(&[("sluice.delta.path", "/data/${topic}")])).unwrap();
        assert_eq!(c.destination.location("srv.one.public.customers"), "/data/srv.one.public.customers");
        let e =
            DirectConfig::from_properties(&props(&[("sluice.delta.batch.max.records", "none")])).unwrap_err();
        assert!(e.to_string().contains("sluice.delta.batch.max.records"), "{e}");
    }

    #[test]
    fn batches_count_events_with_changes_and_transactions_that_changed_something() {
        let metrics = ConnectorMetrics::default();
        let mut batch = Unflushed::default();
        let event = SourceEvent::Progress { lsn: Lsn(1) };
        batch.add_event(&event, 2);
        batch.add_event(&event, 0);
        batch.add_commit(true, Lsn(0x20), Timestamp::Micros(5_000_999));
        batch.add_commit(false, Lsn(0x30), Timestamp::Micros(6_000_000));
        assert_eq!((batch.events, batch.transactions), (1, 1));
        assert_eq!(batch.bytes, event.approx_size() as u64);
        assert_eq!(batch.last_commit, Some((Lsn(0x20), 5_000)));
        batch.record(&metrics);
        Unflushed::default().record(&metrics);
        let s = metrics.snapshot();
        assert_eq!((s.events, s.transactions, s.last_durable_lsn), (1, 1, Some(Lsn(0x20))));
        assert_eq!(metrics.batch_records.snapshot().count, 1, "an empty batch records nothing");
    }
}
