//! Latency at a steady transaction rate: from the moment PostgreSQL acknowledged a transaction's
//! commit to its client, to the moment its change can be read downstream.
//!
//! A generator commits single-row inserts at a fixed rate from several connections and notes when
//! each commit returned. Two pipelines run in this process in turn, each watched from the
//! outside the way a user would see it:
//!
//! * **Kafka**: sluice's publisher into the broker. Two clocks stop for each row:
//!   - **acknowledgement**: the publisher counts the events the broker has acknowledged (its
//!     durable-events metric, in source order); a watcher samples that count every millisecond,
//!     and the k-th committed row counts as acknowledged when the count first reaches k. Commits
//!     from the generator's connections are ranked by when they returned, which is their WAL
//!     order up to the sub-millisecond skew between connections.
//!   - **consumer**: a consumer in the bench (`fetch.wait.max.ms=1`) notes when each row's record
//!     arrives: commit → readable from Kafka, which adds the broker's fetch path.
//! * **Delta**: sluice's direct pipeline into a Delta table; a watcher polls the table's log for
//!   the next version every 2 ms and reads the ids in the files that version adds. That is commit
//!   → visible to a Delta reader.
//!
//! The generator's sessions use `synchronous_commit = on`: with it off, a commit returns before
//! its WAL is flushed, and the walsender (which only sends flushed WAL) would add up to
//! `wal_writer_delay` that no client ever waited for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use deltalake::arrow::array::{Array, Int64Array};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_core::metrics::ConnectorMetrics;
use sluice_delta::direct::{self, DirectConfig, PositionStore};
use sluice_delta::error::DeltaError;
use sluice_kafka::config::KafkaConfig;
use sluice_kafka::offsets::FileOffsetStore;
use sluice_kafka::publisher::{self, PublisherConfig, PublisherStatus};
use sluice_postgres::reader::StoredOffset;
use tokio_util::sync::CancellationToken;

use crate::Options;
use crate::broker::Broker;
use crate::consume::{ConsumeArgs, Sink};
use crate::database::{BenchDb, PUBLICATION};
use crate::registry::BenchRegistry;
use crate::report::{self, Section, thousands};
use crate::streaming::{self, SHAPES};

const TABLE: &str = "latency5";
/// Transactions per second.
const RATE: u64 = 5_000;
/// Generator connections.
const CONNECTIONS: u64 = 8;

/// Per-row instants, as nanoseconds since the run's start plus one (0 = not yet).
struct Clock {
    start: Instant,
    committed: Vec<AtomicU64>,
    seen: Vec<AtomicU64>,
}

impl Clock {
    fn new(rows: u64) -> Clock {
        Clock {
            start: Instant::now(),
            committed: (0..=rows).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..=rows).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1
    }

    /// Notes that `id` became visible downstream, if it is one of ours and not seen before.
    fn saw(&self, id: i64) {
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| self.seen.get(i)) {
            let _ = slot.compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn seen_count(&self) -> usize {
        self.seen.iter().skip(1).filter(|s| s.load(Ordering::Relaxed) != 0).count()
    }

    /// Latencies in milliseconds, sorted.
    fn latencies(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self
            .committed
            .iter()
            .zip(&self.seen)
            .skip(1)
            .filter_map(|(c, s)| {
                let (c, s) = (c.load(Ordering::Relaxed), s.load(Ordering::Relaxed));
                (c != 0 && s != 0).then(|| s.saturating_sub(c) as f64 / 1e6)
            })
            .collect();
        out.sort_by(f64::total_cmp);
        out
    }
}

/// Acknowledgement latencies in milliseconds, sorted: the k-th committed row (by commit time) is
/// acknowledged at the first sample whose durable count reaches k. `samples` are `(instant,
/// durable events)` in time order. Rows never reached are left out.
fn ack_latencies(clock: &Clock, samples: &[(u64, u64)]) -> Vec<f64> {
    let mut commits: Vec<u64> =
        clock.committed.iter().skip(1).map(|c| c.load(Ordering::Relaxed)).filter(|&c| c != 0).collect();
    commits.sort_unstable();
    let mut out = Vec::with_capacity(commits.len());
    let mut sample = samples.iter().peekable();
    for (rank, committed) in commits.iter().enumerate() {
        let wanted = rank as u64 + 1;
        while sample.peek().is_some_and(|(_, durable)| *durable < wanted) {
            sample.next();
        }
        let Some((at, _)) = sample.peek() else { break };
        out.push(at.saturating_sub(*committed) as f64 / 1e6);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Samples the publisher's count of acknowledged events every millisecond until cancelled.
fn spawn_ack_watcher(
    metrics: Arc<ConnectorMetrics>,
    clock: Arc<Clock>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Vec<(u64, u64)>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut last = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !cancel.is_cancelled() {
            tick.tick().await;
            let durable = metrics.snapshot().events;
            if durable > last {
                samples.push((clock.now(), durable));
                last = durable;
            }
        }
        samples
    })
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) async fn run(options: &Options) -> Result<Vec<Section>> {
    let seconds = options.scaled(30);
    let rows = RATE * seconds;
    let db = BenchDb::start().await?;
    let registry = BenchRegistry::start().await?;
    let broker = Broker::start()?;
    db.psql(&streaming::create_table(SHAPES[0], TABLE))?;
    db.psql(&format!("CREATE PUBLICATION {PUBLICATION} FOR TABLE {TABLE}"))?;
    let args = ConsumeArgs {
        sink: Sink::Kafka,
        host: db.host().into(),
        port: db.port(),
        user: db.user().into(),
        dbname: db.dbname().into(),
        slot: String::new(),
        publication: PUBLICATION.into(),
        tables: format!("public.{TABLE}"),
        snapshot: false,
        expected: rows,
        registry: registry.url().into(),
        bootstrap: Some(broker.bootstrap()),
        timeout_s: 600,
        set: Vec::new(),
    };

    let mut section = Section::new(
        "Latency",
        format!(
            "Table `{TABLE}` (the 5 columns of `stream5`). A generator commits single-row inserts at a \
             steady {} transactions/s for {seconds} s from {CONNECTIONS} connections \
             (`synchronous_commit = on` in its sessions, so a commit returns once its WAL is flushed, \
             which is also when the walsender may send it) and notes when each commit returned. \
             **Kafka**: sluice's publisher (default settings) into the Tansu broker. Commit → \
             acknowledgement: a watcher samples the publisher's count of broker-acknowledged events \
             every millisecond, and the k-th commit (ranked by when it returned) counts as acknowledged \
             when that count first reaches k. Commit → consumer: a consumer in the bench \
             (`fetch.wait.max.ms=1`) notes when each row's record arrives, which adds the broker's \
             fetch path. **Delta**: sluice's direct \
             pipeline with its default `sluice.delta.flush.interval.ms=1000` and with 100 ms; a \
             watcher polls the table's log every 2 ms and reads the ids of the files each new \
             version adds: commit → visible to a Delta reader. Everything runs on one machine.",
            thousands(RATE as f64)
        ),
        &["path", "transactions", "achieved tx/s", "p50 ms", "p99 ms", "max ms"],
    );

    // Kafka.
    {
        let mut a = args.clone();
        a.slot = "lat_kafka".into();
        let clock = Arc::new(Clock::new(rows));
        let cancel = CancellationToken::new();
        let metrics = Arc::new(ConnectorMetrics::default());
        let config = PublisherConfig::from_properties(&a.properties()?)?;
        let topic = format!("{}.public.{TABLE}", config.records.topic_prefix);
        let mut kafka = KafkaConfig::new(broker.bootstrap());
        kafka.offsets_replication_factor = 1;
        let dir = tempfile::tempdir()?;
        let pipeline = tokio::spawn(publisher::run(
            config,
            kafka,
            Arc::new(FileOffsetStore::new(dir.path().join("offsets.json"))),
            Some(registry.url().into()),
            Duration::from_secs(1),
            PublisherStatus::default(),
            Arc::clone(&metrics),
            cancel.clone(),
        ));
        wait_streaming(&db, "lat_kafka").await?;
        let watcher = spawn_consumer(broker.bootstrap(), topic.clone(), Arc::clone(&clock), cancel.clone());
        let acks = spawn_ack_watcher(Arc::clone(&metrics), Arc::clone(&clock), cancel.clone());
        let achieved = generate(&db, rows, Arc::clone(&clock)).await?;
        wait_seen(&clock, rows).await;
        cancel.cancel();
        pipeline.await??;
        let consumer_errors = watcher.await??;
        let acked = ack_latencies(&clock, &acks.await?);
        row(&mut section, "sluice to Kafka (commit → broker acknowledgement)", rows, achieved, &acked);
        let live = clock.latencies();
        row(&mut section, "sluice to Kafka (commit → bench consumer)", rows, achieved, &live);
        // The live consumer's misses are its own (or the broker's fetch path's) unless the topic
        // lacks the rows: read it back from the start to tell.
        let bootstrap = broker.bootstrap();
        let stored = tokio::task::spawn_blocking(move || read_back(&bootstrap, &topic)).await??;
        let live_missing = rows as usize - live.len();
        if live_missing > 0 && stored as u64 == rows {
            section.findings.push(format!(
                "read back after the run, the topic holds all {rows} rows: the live consumer's misses \
                 are in the broker's fetch path, not in what sluice wrote"
            ));
        } else if stored as u64 != rows {
            section
                .findings
                .push(format!("read back after the run, the topic holds {stored} of the {rows} rows"));
        }
        if consumer_errors > 0 {
            section.findings.push(format!(
                "the bench's Kafka consumer reported {consumer_errors} fetch errors (logged as warnings)"
            ));
        }
        db.drop_slot("lat_kafka").await?;
    }

    // Delta, at the default flush interval and at 100 ms.
    for (n, flush_ms) in [1000u64, 100].into_iter().enumerate() {
        db.psql(&format!("TRUNCATE {TABLE}"))?;
        let mut a = args.clone();
        a.slot = format!("lat_delta_{n}");
        let lake = tempfile::tempdir()?;
        let mut props = a.properties()?;
        props.insert("sluice.delta.path".into(), format!("{}/${{table}}", lake.path().display()));
        props.insert("sluice.delta.flush.interval.ms".into(), flush_ms.to_string());
        let config = DirectConfig::from_properties(&props)?;
        let clock = Arc::new(Clock::new(rows));
        let cancel = CancellationToken::new();
        let positions = MemoryPositions::default();
        let pipeline = tokio::spawn({
            let cancel = cancel.clone();
            async move { direct::run(config, &positions, Arc::new(ConnectorMetrics::default()), cancel).await }
        });
        wait_streaming(&db, &a.slot).await?;
        let table = lake.path().join(TABLE);
        let watcher = spawn_log_watcher(table, Arc::clone(&clock), cancel.clone());
        let achieved = generate(&db, rows, Arc::clone(&clock)).await?;
        wait_seen(&clock, rows).await;
        cancel.cancel();
        pipeline.await??;
        watcher.await??;
        row(
            &mut section,
            &format!("sluice direct to Delta, flush {flush_ms} ms (commit → visible)"),
            rows,
            achieved,
            &clock.latencies(),
        );
        db.drop_slot(&a.slot).await?;
    }
    report::print(&section);
    Ok(vec![section])
}

fn row(section: &mut Section, path: &str, rows: u64, achieved: f64, lat: &[f64]) {
    let missing = rows as usize - lat.len();
    let ms = |v: f64| format!("{v:.1}");
    section.row(vec![
        path.to_owned(),
        thousands(rows as f64),
        thousands(achieved),
        ms(quantile(lat, 0.5)),
        ms(quantile(lat, 0.99)),
        ms(lat.last().copied().unwrap_or(f64::NAN)),
    ]);
    if missing > 0 {
        section.findings.push(format!("{path}: {missing} rows were not seen downstream within the wait"));
    }
}

/// The direct pipeline's position, in memory (each run starts fresh).
#[derive(Default)]
struct MemoryPositions(std::sync::Mutex<Option<StoredOffset>>);

impl PositionStore for MemoryPositions {
    fn load(&self) -> Result<Option<StoredOffset>, DeltaError> {
        Ok(*self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn save(&self, offset: StoredOffset) -> Result<(), DeltaError> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(offset);
        Ok(())
    }
}

/// Waits until the pipeline's slot exists and is being streamed from.
async fn wait_streaming(db: &BenchDb, slot: &str) -> Result<()> {
    let client = db.client().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = client
            .query_opt("SELECT active FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
            .await?;
        if row.is_some_and(|r| r.get::<_, bool>(0)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the pipeline did not start streaming from slot {slot} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 60 s) until every row was seen downstream.
async fn wait_seen(clock: &Clock, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while clock.seen_count() < rows as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Commits `rows` single-row inserts (ids `1..=rows`) at [`RATE`] per second; returns the
/// achieved rate.
async fn generate(db: &BenchDb, rows: u64, clock: Arc<Clock>) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let client = db.client().await?;
        client.batch_execute("SET synchronous_commit = on").await?;
        let clock = Arc::clone(&clock);
        tasks.push(tokio::spawn(async move {
            let insert = client
                .prepare(&format!("INSERT INTO {TABLE} VALUES ($1, 1, 'latency', now(), 1.00)"))
                .await?;
            // Row k (1-based) is due at start + (k - 1) / RATE.
            let mut k = c + 1;
            while k <= rows {
                let due = started + Duration::from_nanos((k - 1) * 1_000_000_000 / RATE);
                tokio::time::sleep_until(due.into()).await;
                client.execute(&insert, &[&(k as i64)]).await?;
                clock.committed[k as usize].store(clock.now(), Ordering::Relaxed);
                k += CONNECTIONS;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Reads the topic from the start, noting each key's arrival; returns how many errors the
/// client reported.
fn spawn_consumer(
    bootstrap: String,
    topic: String,
    clock: Arc<Clock>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Result<u64>> {
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(
            &bootstrap,
            "sluice-bench-latency",
            &[("fetch.wait.max.ms", "1"), ("fetch.min.bytes", "1")],
        )?;
        // The topic appears with the first record.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let md = consumer.fetch_metadata(Some(&topic), Duration::from_secs(2))?;
            if md.topics().iter().any(|t| t.name() == topic && !t.partitions().is_empty()) {
                break;
            }
            if cancel.is_cancelled() || Instant::now() > deadline {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assign_from_start(&consumer, &topic)?;
        let mut errors = 0;
        while !cancel.is_cancelled() {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(message)) => {
                    if let Some(id) = message.key().and_then(avro_long_key) {
                        clock.saw(id);
                    }
                }
                Some(Err(e)) => {
                    errors += 1;
                    tracing::warn!("latency consumer: {e}");
                }
                None => {}
            }
        }
        Ok(errors)
    })
}

/// A consumer without auto-commit that, on a fetch error, starts over from the beginning instead of
/// skipping ahead to the end of the partition; `settings` are added.
fn consumer(bootstrap: &str, group: &str, settings: &[(&str, &str)]) -> Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

/// Assigns partition 0 of `topic` (every topic here has one) from its first record.
fn assign_from_start(consumer: &BaseConsumer, topic: &str) -> Result<()> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    Ok(())
}

/// Reads partition 0 of `topic` from the start with a fresh consumer until nothing more arrives
/// for two seconds; returns how many distinct ids it holds. (Not up to the high watermark: Tansu
/// reports one a little short of the last offset.)
fn read_back(bootstrap: &str, topic: &str) -> Result<usize> {
    let consumer = consumer(bootstrap, "sluice-bench-latency-read-back", &[])?;
    assign_from_start(&consumer, topic)?;
    let mut ids = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_message = Instant::now();
    while Instant::now() < deadline && last_message.elapsed() < Duration::from_secs(2) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last_message = Instant::now();
                if let Some(id) = message.key().and_then(avro_long_key) {
                    ids.insert(id);
                }
            }
            Some(Err(e)) => tracing::warn!("read-back consumer: {e}"),
            None => {}
        }
    }
    Ok(ids.len())
}

/// The `id` of a Confluent-framed Avro key `{id: long}`: magic byte, schema id, zigzag varint.
fn avro_long_key(key: &[u8]) -> Option<i64> {
    let body = key.get(5..)?;
    let (mut value, mut shift) = (0u64, 0);
    for &b in body.iter().take(10) {
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
        shift += 7;
    }
    None
}

/// Polls the table's log for each next version and notes the ids in the files it adds.
fn spawn_log_watcher(
    table: PathBuf,
    clock: Arc<Clock>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::task::spawn_blocking(move || {
        let mut version = 0u64;
        while !cancel.is_cancelled() {
            let commit = table.join("_delta_log").join(format!("{version:020}.json"));
            match std::fs::read_to_string(&commit) {
                Ok(text) => {
                    for path in added_files(&text) {
                        for id in ids_in(&table.join(&path))
                            .with_context(|| format!("reading {path} of version {version}"))?
                        {
                            clock.saw(id);
                        }
                    }
                    version += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        Ok(())
    })
}

/// The data files a commit adds.
fn added_files(commit: &str) -> Vec<String> {
    commit
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|action| action.get("add")?.get("path")?.as_str().map(decode_path))
        .collect()
}

/// Delta paths are URL-encoded.
fn decode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `id` column of a Parquet file.
fn ids_in(file: &Path) -> Result<Vec<i64>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)?.build()?;
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch?;
        let column = batch.column_by_name("id").context("no id column")?;
        let column = column.as_any().downcast_ref::<Int64Array>().context("id is not int64")?;
        ids.extend((0..column.len()).filter(|&i| column.is_valid(i)).map(|i| column.value(i)));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_keys_decode() {
        assert_eq!(avro_long_key(&[0, 0, 0, 0, 1, 2]), Some(1));
        assert_eq!(avro_long_key(&[0, 0, 0, 0, 1, 1]), Some(-1));
        assert_eq!(avro_long_key(&[0, 0, 0, 0, 1, 0x80, 0x01]), Some(64));
        assert_eq!(avro_long_key(&[0, 0, 0]), None);
        assert_eq!(avro_long_key(&[0, 0, 0, 0, 1, 0x80]), None);
    }

    #[test]
    fn quantiles_and_paths() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.99), 5.0);
        assert_eq!(decode_path("part%3D1/a%20b.parquet"), "part=1/a b.parquet");
        let commit = "{\"commitInfo\":{}}\n{\"add\":{\"path\":\"x.parquet\",\"size\":1}}\n";
        assert_eq!(added_files(commit), vec!["x.parquet".to_owned()]);
    }
}
