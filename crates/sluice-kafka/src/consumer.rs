//! The sink side: reading Debezium topics (sluice's or a real Debezium's) partition by partition,
//! decoded through the schema registry.
//!
//! Partitions are *assigned*, not joined through a consumer group: a sink that stores its position
//! with its output (the Delta applier keeps `<connector>-<topic>-<partition>` → offset in each
//! commit's `txn` actions) starts every partition exactly after what it already applied, and a
//! group rebalance could only hand it stale positions. Positions are committed to the group
//! afterwards only so that standard tools show the lag.

use std::collections::BTreeMap;
use std::time::Duration;

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
}

/// Reads the selected topics' partitions from given positions and decodes their records.
pub struct SinkConsumer {
    consumer: BaseConsumer<QuietContext>,
    deserializer: AvroDeserializer,
    selection: TopicSelection,
    /// Assigned partitions and where reading continues (after the last record handed out).
    positions: BTreeMap<(String, i32), Offset>,
}

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
        Ok(SinkConsumer { consumer, deserializer, selection, positions: BTreeMap::new() })
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
            if let Some(position) = self.positions.get_mut(&(topic.clone(), partition)) {
                *position = Offset::Offset(offset + 1);
            }
            let name = |side: &'static str| {
                let topic = topic.clone();
                move || format!("{side} of record {topic}/{partition}@{offset}")
            };
            let key = self.deserializer.deserialize(key.as_deref(), name("key")).await?;
            let value = self.deserializer.deserialize(value.as_deref(), name("value")).await?;
            out.push(ConsumedRecord { topic, partition, offset, key, value, headers });
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
