//! The sink side: reading Debezium topics (sluice's or a real Debezium's) partition by partition,
//! decoded through the schema registry.
//!
//! Partitions are *assigned*, not joined through a consumer group: a sink that stores its position
//! with its output (the Delta applier keeps `<connector>-<topic>-<partition>` → offset in each
//! commit's `txn` actions) starts every partition exactly after what it already applied, and a
//! group rebalance could only hand it stale positions. Positions are committed to the group
//! afterwards only so that standard tools show the lag.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;

use crate::client::{QuietContext, client_config};
use crate::config::KafkaConfig;
use crate::deserializer::{AvroDeserializer, Decoded};
use crate::error::KafkaError;

/// Which topics a sink reads: Kafka Connect's `topics` or `topics.regex`.
#[derive(Debug, Clone)]
pub enum TopicSelection {
    /// An explicit list.
    Names(Vec<String>),
    /// Every topic whose whole name matches (new topics are picked up on refresh).
    Pattern(Regex),
}

impl TopicSelection {
    /// Reads `topics` / `topics.regex` (exactly one of them, as Kafka Connect requires).
    pub fn from_connector_properties(props: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        let list = props.get("topics").map(|s| s.trim()).filter(|s| !s.is_empty());
        let regex = props.get("topics.regex").map(|s| s.trim()).filter(|s| !s.is_empty());
        match (list, regex) {
            (Some(_), Some(_)) => Err(KafkaError::config(
                "topics.regex",
                "set either 'topics' or 'topics.regex', not both (as Kafka Connect requires)",
            )),
            (None, None) => {
                Err(KafkaError::config("topics", "a sink connector needs 'topics' or 'topics.regex'"))
            }
            (Some(list), None) => Ok(TopicSelection::Names(
                list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect(),
            )),
            (None, Some(pattern)) => {
                Regex::new(&format!("^(?:{pattern})$")).map(TopicSelection::Pattern).map_err(|e| {
                    KafkaError::config("topics.regex", format!("not a valid regular expression: {e}"))
                })
            }
        }
    }

    /// Whether `topic` is selected.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicSelection::Names(names) => names.iter().any(|n| n == topic),
            TopicSelection::Pattern(re) => re.is_match(topic),
        }
    }
}

/// One record as a sink sees it.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The decoded key (`None`: null key).
    pub key: Option<Decoded>,
    /// The decoded value (`None`: tombstone).
    pub value: Option<Decoded>,
    /// Raw headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Size of the serialized key and value, for metrics.
    pub bytes: usize,
}

/// Reads the selected topics' partitions from given positions and decodes their records.
pub struct SinkConsumer {
    /// Shared with the background watermark fetch.
    consumer: Arc<BaseConsumer<QuietContext>>,
    deserializer: AvroDeserializer,
    selection: TopicSelection,
    /// Assigned partitions and where reading continues (after the last record handed out).
    positions: BTreeMap<(String, i32), Offset>,
    watermarks: Arc<Watermarks>,
    /// When the last watermark fetch started.
    watermarks_fetched: Option<Instant>,
}

/// High watermarks fetched in the background. The rdkafka wrapper has no cached, non-blocking
/// lookup (librdkafka's `rd_kafka_get_watermark_offsets`), and a broker round trip per partition
/// must not hold up polling, so a blocking thread fetches them now and then into this cache.
#[derive(Debug, Default)]
struct Watermarks {
    /// Topic → partition → high watermark.
    high: Mutex<HashMap<String, HashMap<i32, i64>>>,
    /// A fetch is under way.
    fetching: AtomicBool,
}

/// How often the high watermarks are fetched, at most.
const WATERMARK_INTERVAL: Duration = Duration::from_secs(5);
/// How long one partition's watermark fetch may take; the first that times out ends the round.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for SinkConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkConsumer")
            .field("selection", &self.selection)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

/// How long a metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

impl SinkConsumer {
    /// A consumer for `selection` in consumer group `group` (used only to publish positions).
    pub fn new(
        kafka: &KafkaConfig,
        group: &str,
        selection: TopicSelection,
        deserializer: AvroDeserializer,
    ) -> Result<Self, KafkaError> {
        let cc = client_config(
            kafka,
            &[("client.id", "sluice-sink"), ("fetch.wait.max.ms", "100")],
            &kafka.consumer,
            None,
            &[
                ("group.id", group),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", "false"),
                ("allow.auto.create.topics", "false"),
            ],
        );
        let consumer = cc
            .create_with_context(QuietContext)
            .map_err(|e| KafkaError::client(format!("creating the sink consumer of group '{group}'"), e))?;
        Ok(SinkConsumer {
            consumer: Arc::new(consumer),
            deserializer,
            selection,
            positions: BTreeMap::new(),
            watermarks: Arc::default(),
            watermarks_fetched: None,
        })
    }

    /// Assigns every partition of the selected topics not assigned yet, starting each after the
    /// position `applied(topic, partition)` returns (the last offset already applied), or at the
    /// beginning. Call it again to pick up new topics and partitions. Returns the newly assigned
    /// partitions.
    pub fn refresh(
        &mut self,
        mut applied: impl FnMut(&str, i32) -> Option<i64>,
    ) -> Result<Vec<(String, i32)>, KafkaError> {
        let new = self.unassigned()?;
        let starts = new.iter().map(|(t, p)| (t.clone(), *p, applied(t, *p))).collect::<Vec<_>>();
        self.assign(&starts)?;
        Ok(new)
    }

    /// The partitions of the selected topics that exist now and are not assigned yet (a caller
    /// that must look up where each starts, asynchronously, then calls [`SinkConsumer::assign`]).
    pub fn unassigned(&self) -> Result<Vec<(String, i32)>, KafkaError> {
        let metadata = self
            .consumer
            .fetch_metadata(None, METADATA_TIMEOUT)
            .map_err(|e| KafkaError::client("reading topic metadata for the sink", e))?;
        let mut new = Vec::new();
        for topic in metadata.topics() {
            if topic.error().is_some() || !self.selection.matches(topic.name()) {
                continue;
            }
            for p in topic.partitions() {
                let key = (topic.name().to_owned(), p.id());
                if !self.positions.contains_key(&key) {
                    new.push(key);
                }
            }
        }
        Ok(new)
    }

    /// Adds partitions to the assignment, each starting after its last applied offset (`None`: at
    /// the beginning). Already-assigned partitions continue where reading got to.
    pub fn assign(&mut self, starts: &[(String, i32, Option<i64>)]) -> Result<(), KafkaError> {
        if starts.is_empty() {
            return Ok(());
        }
        for (topic, partition, applied) in starts {
            let start = match applied {
                Some(last) => Offset::Offset(last + 1),
                None => Offset::Beginning,
            };
            self.positions.insert((topic.clone(), *partition), start);
        }
        // A new assignment replaces the old one.
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), start) in &self.positions {
            tpl.add_partition_offset(topic, *partition, *start)
                .map_err(|e| KafkaError::client(format!("assigning {topic}/{partition}"), e))?;
        }
        self.consumer.assign(&tpl).map_err(|e| KafkaError::client("assigning the sink's partitions", e))
    }

    /// Up to `max` records, waiting at most `wait` for the first one; decoded in order.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < max {
            // BaseConsumer::poll blocks; a zero timeout keeps this task cooperative.
            let raw = match self.consumer.poll(Duration::ZERO) {
                None => {
                    if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Some(Err(e)) => {
                    let error = KafkaError::client("reading the sink's topics", e);
                    if error.class().is_retryable() {
                        tracing::debug!(error = %error, "sink read");
                        continue;
                    }
                    return Err(error);
                }
                Some(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
                        .unwrap_or_default();
                    (
                        m.topic().to_owned(),
                        m.partition(),
                        m.offset(),
                        m.key().map(<[u8]>::to_vec),
                        m.payload().map(<[u8]>::to_vec),
                        headers,
                    )
                }
            };
            let (topic, partition, offset, key, value, headers) = raw;
            let bytes = key.as_ref().map_or(0, Vec::len) + value.as_ref().map_or(0, Vec::len);
            if let Some(position) = self.positions.get_mut(&(topic.clone(), partition)) {
                *position = Offset::Offset(offset + 1);
            }
            let name = |side: &'static str| {
                let topic = topic.clone();
                move || format!("{side} of record {topic}/{partition}@{offset}")
            };
            let key = self.deserializer.deserialize(key.as_deref(), name("key")).await?;
            let value = self.deserializer.deserialize(value.as_deref(), name("value")).await?;
            out.push(ConsumedRecord { topic, partition, offset, key, value, headers, bytes });
        }
        Ok(out)
    }

    /// Publishes applied positions to the consumer group (for lag tools); `next` is the offset
    /// after the last applied record, as Kafka expects.
    pub fn commit(&self, positions: &[(String, i32, i64)]) -> Result<(), KafkaError> {
        if positions.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, next) in positions {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| KafkaError::client(format!("committing {topic}/{partition}"), e))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| KafkaError::client("committing the sink's positions", e))
    }

    /// Starts fetching every assigned partition's high watermark on a blocking thread, unless a
    /// fetch is under way or one started less than a few seconds ago. Never blocks; the results
    /// show in [`SinkConsumer::for_each_assigned`] once they arrive.
    pub fn refresh_watermarks(&mut self) {
        if self.positions.is_empty()
            || self.watermarks_fetched.is_some_and(|t| t.elapsed() < WATERMARK_INTERVAL)
            || self.watermarks.fetching.load(Ordering::Acquire)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        self.watermarks_fetched = Some(Instant::now());
        self.watermarks.fetching.store(true, Ordering::Release);
        let partitions: Vec<(String, i32)> = self.positions.keys().cloned().collect();
        let consumer = Arc::clone(&self.consumer);
        let watermarks = Arc::clone(&self.watermarks);
        runtime.spawn_blocking(move || {
            for (topic, partition) in partitions {
                match consumer.fetch_watermarks(&topic, partition, WATERMARK_TIMEOUT) {
                    Ok((_, high)) => {
                        let mut cache = watermarks.high.lock().unwrap_or_else(PoisonError::into_inner);
                        cache.entry(topic).or_default().insert(partition, high);
                    }
                    Err(e) => {
                        // Unreachable brokers: keep the previous values, try again next round.
                        tracing::debug!(%topic, partition, error = %e, "fetching the high watermark");
                        break;
                    }
                }
            }
            watermarks.fetching.store(false, Ordering::Release);
        });
    }

    /// Calls `f(topic, partition, high watermark)` for every assigned partition, with the high
    /// watermark as last fetched by [`SinkConsumer::refresh_watermarks`] (`None` until known).
    pub fn for_each_assigned(&self, mut f: impl FnMut(&str, i32, Option<i64>)) {
        let cache = self.watermarks.high.lock().unwrap_or_else(PoisonError::into_inner);
        for (topic, partition) in self.positions.keys() {
            let high = cache.get(topic).and_then(|p| p.get(partition)).copied().filter(|h| *h >= 0);
            f(topic, *partition, high);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn topics_and_regex_are_exclusive_and_required() {
        let names = TopicSelection::from_connector_properties(&props(&[("topics", "a.b, c")])).unwrap();
        assert!(names.matches("a.b") && names.matches("c") && !names.matches("a"));
        let re = TopicSelection::from_connector_properties(&props(&[("topics.regex", r"srv\.public\..*")]))
            .unwrap();
        assert!(re.matches("srv.public.t") && !re.matches("xsrv.public.t") && !re.matches("srv.other.t"));
        for bad in [&[("topics", "a"), ("topics.regex", "b")][..], &[][..], &[("topics.regex", "(")][..]] {
            let e = TopicSelection::from_connector_properties(&props(bad)).unwrap_err();
            assert!(e.to_string().contains("topics"), "{e}");
        }
    }
}
