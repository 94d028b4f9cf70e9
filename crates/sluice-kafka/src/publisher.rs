//! The PostgreSQL source connector publishing to Kafka: reader → Debezium records → converters and
//! registry → idempotent producer → delivery acknowledgements → stored offset → confirmed LSN.
//!
//! Ordering of durability, which is what makes "nothing lost" hold:
//! 1. records of a transaction are handed to the producer in log order (one producer, idempotent,
//!    so per-partition order survives retries);
//! 2. after a transaction's last record the publisher drops a *mark* (its commit end LSN) into the
//!    delivery tracker; a mark completes only when every record sent before it was acknowledged
//!    by all in-sync replicas (`acks=all`);
//! 3. completed marks are written to the offset store (at most every `offset.flush.interval.ms`,
//!    and at once when the snapshot completes or the connector stops), and only after that write
//!    is durable is the LSN confirmed to PostgreSQL.
//!
//! So on a clean stop nothing is re-sent; after a crash, at most the records sent after the last
//! stored offset are sent again (everything in flight plus up to one flush interval of delivered
//! records). Retryable failures (broker, registry or database unreachable) restart the pipeline
//! from the stored offset after a backoff, with the reason in the status; records wait in bounded
//! queues meanwhile, and backpressure reaches the replication socket.
//!
//! Metrics ([`ConnectorMetrics`]) follow the same durability: events, bytes and transactions count
//! when their mark completes (acknowledged by Kafka), not when they are sent.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::metrics::ConnectorMetrics;
use sluice_core::{Lsn, SourceEvent, Timestamp};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::offset::{SourceOffset, source_partition};
use sluice_debezium::record::{DirectRow, Record, RecordBuilder};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::{self, ReaderExit, StoredOffset};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, ProducerSettings};
use crate::delivery::DeliveryTracker;
use crate::error::KafkaError;
use crate::offsets::{OffsetStore, connect_offset_key};
use crate::producer::{OutRecord, Producer};
use crate::serializer::{RecordSerializer, SerializedRecord};
use crate::topics::{TopicAdmin, TopicCreation};

/// Everything one source connector needs, parsed once from its flat Kafka Connect config.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Connector name (the offsets key's first element).
    pub name: String,
    /// The PostgreSQL side.
    pub postgres: PostgresSourceConfig,
    /// The Debezium record side.
    pub records: DebeziumConfig,
    /// `topic.creation.*`, if the connector asks sluice to create its topics.
    pub topic_creation: Option<TopicCreation>,
    /// `producer.override.*`.
    pub producer: ProducerSettings,
    /// The raw properties (converter sub-properties are read from here).
    pub properties: BTreeMap<String, String>,
    /// `sluice.delivery.stall.timeout.ms`: records in flight with no acknowledgement for this long
    /// restart the pipeline with a new producer (a broker that lost its producer state, as a
    /// restarted in-memory broker does, would otherwise never acknowledge them).
    pub stall_timeout: Duration,
}

/// Default of `sluice.delivery.stall.timeout.ms`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl PublisherConfig {
    /// Parses and validates a connector config; errors name the property.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        let postgres = PostgresSourceConfig::from_properties(props).map_err(KafkaError::source)?;
        let records = DebeziumConfig::from_properties(props).map_err(KafkaError::record)?;
        if props.get("exactly.once.support").is_some_and(|v| v.trim().eq_ignore_ascii_case("required")) {
            return Err(KafkaError::config(
                "exactly.once.support",
                "exactly-once delivery through Kafka transactions is not supported yet; remove the \
                 property (or set it to 'requested') for at-least-once delivery with idempotent \
                 writes (docs/kafka.md)",
            ));
        }
        Ok(PublisherConfig {
            name: postgres.name.clone(),
            postgres,
            records,
            topic_creation: TopicCreation::from_connector_properties(props)?,
            producer: ProducerSettings::from_connector_properties(props)?,
            properties: props.clone(),
            stall_timeout: match props.get("sluice.delivery.stall.timeout.ms") {
                None => DEFAULT_STALL_TIMEOUT,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Duration::from_millis(ms),
                    _ => {
                        return Err(KafkaError::config(
                            "sluice.delivery.stall.timeout.ms",
                            format!("expected a positive number of milliseconds, got '{v}'"),
                        ));
                    }
                },
            },
        })
    }
}

/// Where the publisher is, for status endpoints and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherState {
    /// Connecting or snapshotting.
    Starting,
    /// Streaming changes.
    Running,
    /// A retryable failure; the pipeline restarts from the stored offset after a backoff.
    Retrying {
        /// Why (names the broker, registry or database problem).
        reason: String,
    },
    /// Stopped cleanly.
    Stopped,
    /// A definite failure that needs a human.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A shared, cheap view of a running publisher.
#[derive(Debug, Clone)]
pub struct PublisherStatus {
    inner: Arc<Mutex<StatusInner>>,
}

#[derive(Debug)]
struct StatusInner {
    state: PublisherState,
    stored: Option<SourceOffset>,
    records_sent: u64,
    broker: Option<String>,
}

/// A copy of the status at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// Lifecycle state.
    pub state: PublisherState,
    /// The last offset stored (everything up to it is delivered).
    pub stored: Option<SourceOffset>,
    /// Records handed to the producer since start.
    pub records_sent: u64,
    /// The producer's latest broker problem, if any.
    pub broker: Option<String>,
}

impl Default for PublisherStatus {
    fn default() -> Self {
        PublisherStatus {
            inner: Arc::new(Mutex::new(StatusInner {
                state: PublisherState::Starting,
                stored: None,
                records_sent: 0,
                broker: None,
            })),
        }
    }
}

impl PublisherStatus {
    /// The current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        let s = self.lock();
        StatusSnapshot {
            state: s.state.clone(),
            stored: s.stored,
            records_sent: s.records_sent,
            broker: s.broker.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_state(&self, state: PublisherState) {
        self.lock().state = state;
    }
}

/// Exponential backoff between pipeline restarts: 1 s doubling to 60 s, reset after a healthy run.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long a stopping connector waits for in-flight records, and then for its final offset write.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);
/// A run this long counts as healthy and resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Runs the connector until `cancel` fires or a definite error. Retryable errors restart the
/// pipeline from the stored offset with backoff. `metrics` counts what Kafka acknowledged and
/// every error that restarts or stops the pipeline.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    config: PublisherConfig,
    kafka: KafkaConfig,
    offsets: Arc<dyn OffsetStore>,
    default_registry: Option<String>,
    offset_flush_interval: Duration,
    status: PublisherStatus,
    metrics: Arc<ConnectorMetrics>,
    cancel: CancellationToken,
) -> Result<(), KafkaError> {
    let key = connect_offset_key(&config.name, &source_partition(&config.records.topic_prefix));
    let mut serializer = RecordSerializer::new(
        &config.records.key_converter,
        &config.records.value_converter,
        &config.properties,
        default_registry.as_deref(),
    )?;
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        let attempt = Attempt {
            config: &config,
            kafka: &kafka,
            offsets: offsets.as_ref(),
            key: &key,
            flush_interval: offset_flush_interval,
            status: &status,
            metrics: &metrics,
            cancel: &cancel,
        };
        // A fresh record builder per run: the reader's relation versions start again at 1, so a
        // schema cache (and transaction state) from a previous run could be wrong after DDL.
        let mut builder = RecordBuilder::new(config.records.clone());
        let result = attempt.run(&mut builder, &mut serializer).await;
        match result {
            Ok(()) => {
                status.set_state(PublisherState::Stopped);
                return Ok(());
            }
            Err(e) if e.class().is_retryable() && !cancel.is_cancelled() => {
                metrics.record_error();
                if started.elapsed() > HEALTHY_RUN {
                    backoff = BACKOFF_MIN;
                }
                tracing::warn!(connector = %config.name, error = %e, "connector failed, restarting from its stored offset in {}s", backoff.as_secs());
                status.set_state(PublisherState::Retrying { reason: e.to_string() });
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = cancel.cancelled() => {
                        status.set_state(PublisherState::Stopped);
                        return Ok(());
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(e) if cancel.is_cancelled() && e.class().is_retryable() => {
                status.set_state(PublisherState::Stopped);
                return Ok(());
            }
            Err(e) => {
                metrics.record_error();
                tracing::error!(connector = %config.name, error = %e, "connector failed");
                status.set_state(PublisherState::Failed { reason: e.to_string() });
                return Err(e);
            }
        }
    }
}

/// One run of the pipeline, from the stored offset until cancellation or an error.
struct Attempt<'a> {
    config: &'a PublisherConfig,
    kafka: &'a KafkaConfig,
    offsets: &'a dyn OffsetStore,
    key: &'a serde_json::Value,
    flush_interval: Duration,
    status: &'a PublisherStatus,
    metrics: &'a ConnectorMetrics,
    cancel: &'a CancellationToken,
}

impl Attempt<'_> {
    async fn run(
        self,
        builder: &mut RecordBuilder,
        serializer: &mut RecordSerializer,
    ) -> Result<(), KafkaError> {
        let loaded = tokio::select! {
            loaded = self.offsets.load(self.key) => loaded?,
            () = self.cancel.cancelled() => return Ok(()),
        };
        let stored = match loaded {
            Some(v) => Some(SourceOffset::from_json(&v).map_err(KafkaError::record)?),
            None => None,
        };
        if let Some(o) = stored {
            self.status.lock().stored = Some(o);
            if o.snapshot_completed && o.lsn != Lsn::INVALID {
                // `source.sequence` continues from the last delivered commit, as Debezium's does.
                builder.set_last_commit_lsn(Some(o.lsn));
            }
        }
        // A fresh admin per run: its cache of existing topics must not outlive a broker that
        // forgot them.
        let admin = TopicAdmin::new(self.kafka)?;
        let tracker: DeliveryTracker<Mark> = DeliveryTracker::new();
        let producer = Producer::new(self.kafka, &self.config.producer, tracker.clone())?;
        // Not a child of `self.cancel`: on a stop the reader must outlive the final drain, so that
        // its last status update carries the final confirmation. The guard stops it if this future
        // is dropped.
        let reader_cancel = CancellationToken::new();
        let _reader_guard = reader_cancel.clone().drop_guard();
        let handle = reader::spawn(
            self.config.postgres.clone(),
            stored.map(|o| StoredOffset { lsn: o.lsn, snapshot_completed: o.snapshot_completed }),
            reader_cancel.clone(),
        );
        let mut committer = Committer {
            offsets: self.offsets,
            key: self.key,
            acks: &handle.acks,
            status: self.status,
            pending: None,
            last_save: Instant::now(),
            interval: self.flush_interval,
            metrics: self.metrics,
            durable: Totals::default(),
        };
        let mut pump = Pump {
            builder,
            serializer,
            producer: &producer,
            tracker: &tracker,
            admin: &admin,
            topic_creation: self.config.topic_creation.as_ref().filter(|_| self.kafka.topic_creation_enable),
            known_topics: HashSet::new(),
            records: Vec::new(),
            position: stored.unwrap_or(SourceOffset {
                lsn: Lsn::INVALID,
                tx_id: None,
                ts_usec: None,
                snapshot_completed: false,
            }),
            delivery_recorded: stored.is_some(),
            status: self.status,
            totals: Totals::default(),
            in_flight: InFlight::new(self.metrics),
        };
        let mut events = handle.events;
        let mut beat = tokio::time::interval(Duration::from_millis(500));
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Checks for a stalled producer while a send waits on a full queue. One timer for the
        // whole run: a timer made for every event cost more than the event's own bookkeeping.
        let mut stall_tick = tokio::time::interval_at(Instant::now() + STALL_CHECK, STALL_CHECK);
        stall_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.status.set_state(PublisherState::Running);
        let pumped: Result<(), KafkaError> = async {
            loop {
                tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => return Ok(()),
                    marks = tracker.delivered_marks() => {
                        committer.on_delivered(marks?).await?;
                        pump.in_flight.set(tracker.in_flight());
                    }
                    // Before events: a busy source must not starve heartbeats and the watchdog.
                    _ = beat.tick() => {
                        let heartbeat = pump.heartbeat();
                        tokio::select! {
                            r = heartbeat => r?,
                            e = watch_stall(&tracker, &producer, self.config.stall_timeout) => return Err(e),
                        }
                        committer.maybe_save().await?;
                        pump.in_flight.set(tracker.in_flight());
                        self.status.lock().broker = producer.broker_status();
                        check_stall(&tracker, &producer, self.config.stall_timeout)?;
                    }
                    event = events.recv() => match event {
                        // A send blocked on a full queue must still notice a stalled producer.
                        Some(event) => {
                            let handled = pump.on_event(&event, &mut committer);
                            tokio::pin!(handled);
                            loop {
                                tokio::select! {
                                    biased;
                                    r = &mut handled => break r?,
                                    _ = stall_tick.tick() => {
                                        check_stall(&tracker, &producer, self.config.stall_timeout)?;
                                    }
                                }
                            }
                        }
                        None => return Ok(()),
                    },
                }
            }
        }
        .await;
        // A clean stop waits for in-flight records and stores the final offset while the reader
        // still runs, so the confirmation reaches PostgreSQL in the reader's final status update.
        let drained = match pumped {
            Ok(()) => self.drain(&tracker, &mut committer, &mut pump.in_flight).await,
            Err(e) => Err(e),
        };
        reader_cancel.cancel();
        // Whatever happened, the reader must stop before the next attempt starts another one; it
        // may be blocked sending into the channel, so the receiving end goes first.
        drop(events);
        let reader_result = handle.task.await;
        drained?;
        match reader_result {
            Ok(Ok(ReaderExit::Stopped | ReaderExit::SnapshotOnly)) => Ok(()),
            Ok(Err(e)) => Err(KafkaError::source(e)),
            Err(join) => Err(KafkaError::Internal(format!("the reader task failed: {join}"))),
        }
    }

    /// Waits (up to [`SHUTDOWN_DRAIN`]) for in-flight records, then stores the final offset.
    async fn drain(
        &self,
        tracker: &DeliveryTracker<Mark>,
        committer: &mut Committer<'_>,
        in_flight: &mut InFlight<'_>,
    ) -> Result<(), KafkaError> {
        let deadline = Instant::now() + SHUTDOWN_DRAIN;
        while tracker.in_flight() > 0 && Instant::now() < deadline {
            tokio::select! {
                marks = tracker.delivered_marks() => {
                    committer.on_delivered(marks?).await?;
                    in_flight.set(tracker.in_flight());
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        if let Ok(marks) = tokio::time::timeout(Duration::from_millis(10), tracker.delivered_marks()).await {
            committer.on_delivered(marks?).await?;
        }
        match tokio::time::timeout(SHUTDOWN_DRAIN, committer.save()).await {
            Ok(saved) => saved?,
            Err(_) => {
                tracing::warn!(connector = %self.config.name, "the final offset could not be stored in time; the records after the previous one will be sent again on restart")
            }
        }
        if tracker.in_flight() > 0 {
            tracing::warn!(
                connector = %self.config.name,
                in_flight = tracker.in_flight(),
                "stopped with undelivered records; they will be sent again on restart"
            );
        }
        Ok(())
    }
}

/// How often a blocked send checks whether the producer stalled.
const STALL_CHECK: Duration = Duration::from_millis(500);

/// Completes with [`KafkaError::Stalled`] once records have been in flight for `timeout` with no
/// acknowledgement at all (a slow but healthy broker acknowledges something now and then).
async fn watch_stall(
    tracker: &DeliveryTracker<Mark>,
    producer: &Producer<Mark>,
    timeout: Duration,
) -> KafkaError {
    loop {
        tokio::time::sleep(STALL_CHECK).await;
        if let Err(e) = check_stall(tracker, producer, timeout) {
            return e;
        }
    }
}

fn check_stall(
    tracker: &DeliveryTracker<Mark>,
    producer: &Producer<Mark>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let waited = tracker.unacknowledged_for();
    if waited > timeout {
        return Err(KafkaError::Stalled {
            in_flight: tracker.in_flight(),
            waited,
            broker: producer.broker_status().unwrap_or_else(|| "no error reported by the client".into()),
        });
    }
    Ok(())
}

/// What the tracker carries past each run of records: the position to store once they are all
/// acknowledged, and the pump's running totals at that point. Totals, not increments, because a
/// mark with no record sent since the previous one replaces it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    offset: SourceOffset,
    totals: Totals,
}

/// What the pump has sent in this run (metrics count the difference between completed marks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    /// Source change events that produced records.
    events: u64,
    /// Serialized key and value bytes of every record sent.
    bytes: u64,
    /// Source transactions committed.
    transactions: u64,
    /// The last commit: its LSN and commit time in ms since the epoch.
    last_commit: Option<(Lsn, i64)>,
}

impl Totals {
    /// Reports what became durable between `earlier` and `self`, if anything did. The last
    /// commit is passed only when a transaction completed, so its latency is observed once.
    fn record_since(&self, earlier: &Totals, metrics: &ConnectorMetrics) {
        let events = self.events.saturating_sub(earlier.events);
        let bytes = self.bytes.saturating_sub(earlier.bytes);
        let transactions = self.transactions.saturating_sub(earlier.transactions);
        if events == 0 && bytes == 0 && transactions == 0 {
            return;
        }
        let last_commit = if transactions > 0 { self.last_commit } else { None };
        metrics.record_durable(events, bytes, transactions, last_commit);
    }
}

/// Mirrors the tracker's count of unacknowledged records into the metrics (at marks, delivered
/// marks and heartbeat ticks, never per record). Dropped with its run, it takes that run's records
/// back out, acknowledged or not: a restart sends them again and counts them again, so the gauge
/// cannot drift.
struct InFlight<'a> {
    metrics: &'a ConnectorMetrics,
    reported: i64,
}

impl<'a> InFlight<'a> {
    fn new(metrics: &'a ConnectorMetrics) -> Self {
        InFlight { metrics, reported: 0 }
    }

    fn set(&mut self, in_flight: u64) {
        let now = i64::try_from(in_flight).unwrap_or(i64::MAX);
        if now != self.reported {
            self.metrics.add_in_flight(now - self.reported);
            self.reported = now;
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// Turns source events into produced records and delivery marks.
struct Pump<'a> {
    builder: &'a mut RecordBuilder,
    serializer: &'a mut RecordSerializer,
    producer: &'a Producer<Mark>,
    tracker: &'a DeliveryTracker<Mark>,
    admin: &'a TopicAdmin,
    topic_creation: Option<&'a TopicCreation>,
    known_topics: HashSet<String>,
    records: Vec<Record>,
    position: SourceOffset,
    delivery_recorded: bool,
    status: &'a PublisherStatus,
    totals: Totals,
    in_flight: InFlight<'a>,
}

impl Pump<'_> {
    async fn on_event(
        &mut self,
        event: &SourceEvent,
        committer: &mut Committer<'_>,
    ) -> Result<(), KafkaError> {
        let mut mark = None;
        match event {
            SourceEvent::Commit(c) => {
                self.position.lsn = self.position.lsn.max(c.end_lsn);
                self.position.tx_id = Some(c.xid);
                let commit_ms = match c.commit_ts {
                    Timestamp::Micros(us) => {
                        self.position.ts_usec = Some(us);
                        us.div_euclid(1000)
                    }
                    _ => 0,
                };
                self.totals.transactions += 1;
                self.totals.last_commit = Some((c.commit_lsn, commit_ms));
                mark = Some(self.position);
            }
            SourceEvent::Progress { lsn } => {
                self.position.lsn = self.position.lsn.max(*lsn);
                mark = Some(self.position);
            }
            SourceEvent::SnapshotCompleted { .. } => {
                // Only the flag: the consistent point may be a temporary slot's (re-snapshot on an
                // existing slot), and the real slot replays from its own position after it; a
                // restart must resume there, not at the consistent point. A new slot's own
                // confirmed position already is its consistent point.
                self.position.snapshot_completed = true;
                mark = Some(self.position);
            }
            SourceEvent::Change(c) => {
                // Before the first snapshot row reaches Kafka, record that a snapshot delivery is
                // under way: if this run dies mid-snapshot, the next one must replay the slot after
                // re-snapshotting so that rows deleted meanwhile are deleted downstream too.
                if c.source.snapshot.is_some() && !self.delivery_recorded {
                    committer.store(self.position).await?;
                    self.delivery_recorded = true;
                }
            }
            SourceEvent::Begin(_) => {}
        }
        let now = Timestamp::now();
        // Snapshot reads and inserts skip the record tree when both converters are Avro.
        let direct = if self.serializer.writes_direct_rows() {
            self.builder.direct_row(event, now).map_err(KafkaError::record)?
        } else {
            None
        };
        let sent = match direct {
            Some(row) => Self::send_direct(
                &row,
                self.serializer,
                self.producer,
                self.admin,
                self.topic_creation,
                &mut self.known_topics,
            )
            .await?
            .count(self.status, &mut self.totals),
            None => {
                self.builder.on_event(event, now, &mut self.records).map_err(KafkaError::record)?;
                self.send_records().await?
            }
        };
        if sent > 0 && matches!(event, SourceEvent::Change(_)) {
            self.totals.events += 1;
        }
        if let Some(offset) = mark {
            self.tracker.mark(Mark { offset, totals: self.totals });
            self.in_flight.set(self.tracker.in_flight());
        }
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), KafkaError> {
        self.builder.heartbeat_due(Timestamp::now(), &mut self.records);
        self.send_records().await.map(drop)
    }

    /// Sends a row written straight to Avro (the fields are passed apart: the row borrows the
    /// builder).
    async fn send_direct(
        row: &DirectRow<'_>,
        serializer: &mut RecordSerializer,
        producer: &Producer<Mark>,
        admin: &TopicAdmin,
        topic_creation: Option<&TopicCreation>,
        known_topics: &mut HashSet<String>,
    ) -> Result<Sent, KafkaError> {
        ensure_topic(admin, topic_creation, known_topics, row.topic()).await?;
        let serialized = serializer.serialize_direct(row).await?;
        let bytes = produce(producer, row.topic(), serialized).await?;
        Ok(Sent { records: 1, bytes })
    }

    /// Sends the built records; returns how many.
    async fn send_records(&mut self) -> Result<usize, KafkaError> {
        let records = std::mem::take(&mut self.records);
        let mut bytes = 0;
        for record in &records {
            ensure_topic(self.admin, self.topic_creation, &mut self.known_topics, &record.topic).await?;
            let serialized = self.serializer.serialize(record).await?;
            bytes += produce(self.producer, &record.topic, serialized).await?;
        }
        let sent = Sent { records: records.len(), bytes };
        // Reuse the allocation.
        self.records = records;
        self.records.clear();
        Ok(sent.count(self.status, &mut self.totals))
    }
}

/// Records handed to the producer by one event, and their key and value bytes.
struct Sent {
    records: usize,
    bytes: usize,
}

impl Sent {
    /// Adds the records to the status and totals; returns how many.
    fn count(self, status: &PublisherStatus, totals: &mut Totals) -> usize {
        if self.records > 0 {
            status.lock().records_sent += self.records as u64;
            totals.bytes += self.bytes as u64;
        }
        self.records
    }
}

/// Hands one serialized record to the producer; returns its key and value bytes.
async fn produce(
    producer: &Producer<Mark>,
    topic: &str,
    serialized: SerializedRecord<'_>,
) -> Result<usize, KafkaError> {
    let bytes = serialized.key.map_or(0, <[u8]>::len) + serialized.value.map_or(0, <[u8]>::len);
    let headers: Vec<(&str, Option<&[u8]>)> =
        serialized.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
    producer
        .send(OutRecord { topic, key: serialized.key, value: serialized.value, headers: &headers })
        .await?;
    Ok(bytes)
}

/// Creates a record's topic (with `topic.creation.*`) the first time the pipeline sends to it.
async fn ensure_topic(
    admin: &TopicAdmin,
    creation: Option<&TopicCreation>,
    known: &mut HashSet<String>,
    topic: &str,
) -> Result<(), KafkaError> {
    if !known.contains(topic) {
        if let Some(creation) = creation {
            admin.ensure_topic(topic, creation.settings_for(topic)).await?;
        }
        known.insert(topic.to_owned());
    }
    Ok(())
}

/// Stores delivered positions and confirms them to PostgreSQL, in that order.
struct Committer<'a> {
    offsets: &'a dyn OffsetStore,
    key: &'a serde_json::Value,
    acks: &'a sluice_core::Acknowledger,
    status: &'a PublisherStatus,
    /// The newest delivered position not yet stored.
    pending: Option<SourceOffset>,
    last_save: Instant,
    interval: Duration,
    metrics: &'a ConnectorMetrics,
    /// The totals of the last completed mark.
    durable: Totals,
}

impl Committer<'_> {
    async fn on_delivered(&mut self, marks: Vec<Mark>) -> Result<(), KafkaError> {
        let Some(last) = marks.last().copied() else { return Ok(()) };
        last.totals.record_since(&self.durable, self.metrics);
        self.durable = last.totals;
        // The snapshot's completion is stored at once: a restart must not snapshot again.
        let force = marks.iter().any(|m| m.offset.snapshot_completed)
            && self.status.lock().stored.is_none_or(|s| !s.snapshot_completed);
        self.pending = Some(last.offset);
        if force { self.save().await } else { self.maybe_save().await }
    }

    async fn maybe_save(&mut self) -> Result<(), KafkaError> {
        if self.pending.is_some() && self.last_save.elapsed() >= self.interval {
            self.save().await?;
        }
        Ok(())
    }

    async fn save(&mut self) -> Result<(), KafkaError> {
        if let Some(offset) = self.pending.take() {
            self.store(offset).await?;
            self.acks.confirm(offset.lsn);
        }
        Ok(())
    }

    async fn store(&mut self, offset: SourceOffset) -> Result<(), KafkaError> {
        self.offsets.save(self.key, &offset.to_json()).await?;
        self.status.lock().stored = Some(offset);
        self.last_save = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("name", "inventory"),
            ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
            ("database.hostname", "db"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "srv"),
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
    fn a_debezium_config_is_accepted() {
        let c = PublisherConfig::from_properties(&props(&[])).unwrap();
        assert_eq!(c.name, "inventory");
        assert_eq!(c.stall_timeout, DEFAULT_STALL_TIMEOUT);
        assert!(c.topic_creation.is_none());
    }

    #[test]
    fn exactly_once_required_is_refused_by_name() {
        let e =
            PublisherConfig::from_properties(&props(&[("exactly.once.support", "required")])).unwrap_err();
        assert!(e.to_string().contains("exactly.once.support"), "{e}");
        PublisherConfig::from_properties(&props(&[("exactly.once.support", "requested")])).unwrap();
    }

    #[test]
    fn durable_totals_report_differences_and_each_commit_once() {
        let metrics = ConnectorMetrics::default();
        let first = Totals { events: 3, bytes: 300, transactions: 1, last_commit: Some((Lsn(0x10), 1_000)) };
        first.record_since(&Totals::default(), &metrics);
        // A later mark with only a heartbeat's bytes: no transaction, so no latency observation.
        let second = Totals { bytes: 350, ..first };
        second.record_since(&first, &metrics);
        // Nothing new: nothing recorded.
        second.record_since(&second, &metrics);
        let s = metrics.snapshot();
        assert_eq!((s.events, s.bytes, s.transactions), (3, 350, 1));
        assert_eq!(s.last_durable_lsn, Some(Lsn(0x10)));
        assert_eq!(metrics.latency.snapshot().count, 1);
        assert_eq!(metrics.batch_records.snapshot().count, 1);
    }

    #[test]
    fn in_flight_follows_the_tracker_and_returns_to_zero_with_its_run() {
        let metrics = ConnectorMetrics::default();
        {
            let mut gauge = InFlight::new(&metrics);
            gauge.set(5);
            assert_eq!(metrics.snapshot().in_flight, 5);
            gauge.set(2);
            assert_eq!(metrics.snapshot().in_flight, 2);
            // The run fails with records unacknowledged.
            gauge.set(7);
        }
        assert_eq!(metrics.snapshot().in_flight, 0);
        let mut next_run = InFlight::new(&metrics);
        next_run.set(3);
        assert_eq!(metrics.snapshot().in_flight, 3);
        next_run.set(0);
        assert_eq!(metrics.snapshot().in_flight, 0);
    }

    #[test]
    fn stall_timeout_is_validated() {
        let c = PublisherConfig::from_properties(&props(&[("sluice.delivery.stall.timeout.ms", "5000")]))
            .unwrap();
        assert_eq!(c.stall_timeout, Duration::from_secs(5));
        for bad in ["0", "-1", "soon"] {
            let e = PublisherConfig::from_properties(&props(&[("sluice.delivery.stall.timeout.ms", bad)]))
                .unwrap_err();
            assert!(e.to_string().contains("sluice.delivery.stall.timeout.ms"), "{e}");
        }
    }
}
