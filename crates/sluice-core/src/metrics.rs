//! Per-connector metrics: what each pipeline has made durable, how fast and how late.
//!
//! The pipelines (the Kafka publisher, the direct Delta path, the Delta sink) update one
//! [`ConnectorMetrics`] each, once per batch or acknowledgement, never per row, so the hot path
//! pays a few atomic adds. The service reads them for its admin endpoint (`/lag`, `/metrics`).
//! Everything counts what is *durable downstream* (acknowledged by Kafka, committed to Delta),
//! because that is what a lag reading must mean.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Lsn;

/// Upper bounds (seconds) of the latency histogram buckets: source commit → durable downstream.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upper bounds of the batch size histogram buckets (records per downstream batch or commit).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

/// How long the events-per-second window is.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// A histogram with fixed buckets (Prometheus' cumulative form is computed when read).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the overflow (`+Inf`) bucket; not cumulative.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths, so it stays an atomic integer.
    sum_micros: AtomicU64,
}

/// A copy of a histogram at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)` per bucket, ending with `(+Inf, count)`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// A histogram with the given bucket upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation (negative values count as zero).
    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() { value.max(0.0) } else { 0.0 };
        let index = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    /// The cumulative buckets, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: cumulative,
        }
    }
}

/// Progress of one Delta table written by a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProgress {
    /// The table's latest Delta version written by this connector.
    pub version: i64,
    /// The last source position applied to it: `lsn:<LSN>` on the direct path, or
    /// `<topic>/<partition>@<offset>` in the sink.
    pub position: String,
}

/// Where a sink stands on one topic partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionProgress {
    /// The next offset the sink will apply (everything before it is in Delta).
    pub next_offset: i64,
    /// The partition's high watermark as last seen by the consumer (-1 when unknown).
    pub high_watermark: i64,
}

impl PartitionProgress {
    /// Records behind the end of the partition, if the high watermark is known.
    pub fn lag(&self) -> Option<i64> {
        (self.high_watermark >= 0).then(|| (self.high_watermark - self.next_offset).max(0))
    }
}

/// Metrics of one running connector. Shared (`Arc`) between the pipeline and the service.
#[derive(Debug)]
pub struct ConnectorMetrics {
    events: AtomicU64,
    bytes: AtomicU64,
    transactions: AtomicU64,
    errors: AtomicU64,
    /// Records handed to Kafka and not yet acknowledged.
    in_flight: AtomicI64,
    /// Commit time (ms since the epoch) of the last source transaction made durable; 0 = none.
    last_source_ts_ms: AtomicI64,
    /// When (ms since the epoch) something was last made durable; 0 = never.
    last_durable_at_ms: AtomicI64,
    last_durable_lsn: AtomicU64,
    /// Records per downstream batch or commit.
    pub batch_records: Histogram,
    /// Seconds from the source's commit to durable downstream.
    pub latency: Histogram,
    rate: Mutex<VecDeque<(Instant, u64)>>,
    tables: Mutex<BTreeMap<String, TableProgress>>,
    partitions: Mutex<BTreeMap<(String, i32), PartitionProgress>>,
}

impl Default for ConnectorMetrics {
    fn default() -> Self {
        ConnectorMetrics {
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            last_source_ts_ms: AtomicI64::new(0),
            last_durable_at_ms: AtomicI64::new(0),
            last_durable_lsn: AtomicU64::new(0),
            batch_records: Histogram::new(BATCH_BUCKETS),
            latency: Histogram::new(LATENCY_BUCKETS),
            rate: Mutex::new(VecDeque::new()),
            tables: Mutex::new(BTreeMap::new()),
            partitions: Mutex::new(BTreeMap::new()),
        }
    }
}

/// A copy of the scalar metrics at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// Change events made durable downstream since the process started.
    pub events: u64,
    /// Bytes of those events' records (serialized key + value, or the decoded size on the direct path).
    pub bytes: u64,
    /// Source transactions made durable.
    pub transactions: u64,
    /// Errors (retried or fatal).
    pub errors: u64,
    /// Records handed to Kafka and not yet acknowledged.
    pub in_flight: i64,
    /// Commit time (ms since the epoch) of the last durable source transaction.
    pub last_source_ts_ms: Option<i64>,
    /// When something was last made durable (ms since the epoch).
    pub last_durable_at_ms: Option<i64>,
    /// The last LSN made durable downstream.
    pub last_durable_lsn: Option<Lsn>,
    /// Durable events per second over the last ten seconds.
    pub events_per_second: f64,
}

impl ConnectorMetrics {
    /// Records a batch made durable downstream: `events` change events of `bytes` bytes, the
    /// source transactions it completed, and the last such transaction's commit time and LSN.
    pub fn record_durable(
        &self,
        events: u64,
        bytes: u64,
        transactions: u64,
        last_commit: Option<(Lsn, i64)>,
    ) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        let now = now_ms();
        self.last_durable_at_ms.store(now, Ordering::Relaxed);
        if events > 0 {
            self.batch_records.observe(events as f64);
        }
        if let Some((lsn, commit_ts_ms)) = last_commit {
            self.last_durable_lsn.fetch_max(lsn.0, Ordering::Relaxed);
            if commit_ts_ms > 0 {
                self.last_source_ts_ms.fetch_max(commit_ts_ms, Ordering::Relaxed);
                self.latency.observe((now - commit_ts_ms) as f64 / 1000.0);
            }
        }
        let total = self.events.load(Ordering::Relaxed);
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let instant = Instant::now();
        rate.push_back((instant, total));
        while rate.len() > 2 && rate.front().is_some_and(|(t, _)| instant.duration_since(*t) > RATE_WINDOW) {
            rate.pop_front();
        }
        // Bound the window's memory even at thousands of batches per second.
        while rate.len() > 1024 {
            rate.pop_front();
        }
    }

    /// Records an error (retried or fatal).
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Adjusts the count of records handed to Kafka and not yet acknowledged.
    pub fn add_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Records a Delta commit to `table`.
    pub fn record_table(&self, table: &str, version: i64, position: String) {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.insert(table.to_owned(), TableProgress { version, position });
    }

    /// Records where the sink stands on a topic partition.
    pub fn record_partition(&self, topic: &str, partition: i32, progress: PartitionProgress) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        partitions.insert((topic.to_owned(), partition), progress);
    }

    /// Forgets per-partition progress (on reassignment).
    pub fn clear_partitions(&self) {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The scalar metrics now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let nonzero = |v: i64| (v != 0).then_some(v);
        let lsn = self.last_durable_lsn.load(Ordering::Relaxed);
        MetricsSnapshot {
            events: self.events.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            last_source_ts_ms: nonzero(self.last_source_ts_ms.load(Ordering::Relaxed)),
            last_durable_at_ms: nonzero(self.last_durable_at_ms.load(Ordering::Relaxed)),
            last_durable_lsn: (lsn != 0).then_some(Lsn(lsn)),
            events_per_second: self.events_per_second(),
        }
    }

    /// Per-table Delta progress.
    pub fn tables(&self) -> BTreeMap<String, TableProgress> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Per-partition sink progress, keyed by `(topic, partition)`.
    pub fn partitions(&self) -> BTreeMap<(String, i32), PartitionProgress> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn events_per_second(&self) -> f64 {
        let rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let total = self.events.load(Ordering::Relaxed);
        // The oldest sample inside the window (or the oldest kept) against now.
        let Some(&(first_at, first_total)) =
            rate.iter().find(|(t, _)| now.duration_since(*t) <= RATE_WINDOW).or(rate.front())
        else {
            return 0.0;
        };
        let elapsed = now.duration_since(first_at).as_secs_f64();
        if elapsed < 0.001 || now.duration_since(first_at) > RATE_WINDOW * 2 {
            return 0.0;
        }
        (total - first_total) as f64 / elapsed.max(1.0)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0, -3.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 3), (10.0, 4), (f64::INFINITY, 5)]);
        assert_eq!(s.count, 5);
        assert!((s.sum - 56.5).abs() < 1e-9);
    }

    #[test]
    fn durable_batches_move_the_counters_and_positions() {
        let m = ConnectorMetrics::default();
        assert_eq!(m.snapshot().last_durable_lsn, None);
        let commit = now_ms() - 2_000;
        m.record_durable(10, 1_000, 2, Some((Lsn(0x100), commit)));
        m.record_durable(5, 500, 1, Some((Lsn(0x80), commit - 10)));
        let s = m.snapshot();
        assert_eq!((s.events, s.bytes, s.transactions), (15, 1_500, 3));
        assert_eq!(s.last_durable_lsn, Some(Lsn(0x100)), "positions never move back");
        assert_eq!(s.last_source_ts_ms, Some(commit));
        assert_eq!(m.latency.snapshot().count, 2);
        assert!(m.latency.snapshot().sum >= 4.0);
        assert_eq!(m.batch_records.snapshot().count, 2);
    }

    #[test]
    fn partition_lag_needs_a_watermark() {
        assert_eq!(PartitionProgress { next_offset: 5, high_watermark: -1 }.lag(), None);
        assert_eq!(PartitionProgress { next_offset: 5, high_watermark: 9 }.lag(), Some(4));
        assert_eq!(PartitionProgress { next_offset: 10, high_watermark: 9 }.lag(), Some(0));
    }
}
