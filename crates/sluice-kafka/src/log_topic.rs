//! A compacted topic used as a durable log: the offsets topic and the schema registry's topic.
//!
//! Writes wait for the acknowledgement of every in-sync replica. Reads never trust high watermarks
//! (some brokers report them wrong, and a watermark read races with writers anyway): the reader
//! first appends a marker record to the partition, learns its offset from the acknowledgement, and
//! consumes by assignment (no consumer group) until it has passed that offset. Everything appended
//! before the marker — by any process — has then been seen.

use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sluice_core::ErrorClass;

use crate::client::{NamedRuntime, QuietContext, client_config};
use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::topics::{TopicAdmin, TopicSettings};

/// How long a write may wait for its acknowledgement (librdkafka's `message.timeout.ms`).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a read may take to pass its marker.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a topic sluice just created may take to show up in metadata.
const METADATA_PATIENCE: Duration = Duration::from_secs(15);

/// A record read back: its offset, key and value bytes.
pub(crate) struct TopicRecord<'a> {
    pub(crate) offset: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
}

/// Where a read starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadFrom {
    /// The oldest retained record.
    Beginning,
    /// A known offset.
    Offset(i64),
}

/// A producer and an assignment-based consumer for one compacted topic.
pub(crate) struct LogTopic {
    topic: String,
    partitions: i32,
    producer: FutureProducer<QuietContext, NamedRuntime>,
    consumer: StreamConsumer<QuietContext, NamedRuntime>,
    /// One read at a time: a read assigns the consumer.
    reading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for LogTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTopic").field("topic", &self.topic).field("partitions", &self.partitions).finish()
    }
}

impl LogTopic {
    /// Opens `topic`, creating it with `settings` (plus `cleanup.policy=compact`) if missing.
    /// `role` names the clients in broker logs (`sluice-<role>`).
    pub(crate) async fn open(
        config: &KafkaConfig,
        topic: &str,
        settings: &TopicSettings,
        role: &str,
    ) -> Result<LogTopic, KafkaError> {
        let mut settings = settings.clone();
        settings.configs.insert("cleanup.policy".to_owned(), "compact".to_owned());
        let admin = TopicAdmin::new(config)?;
        admin.ensure_topic(topic, &settings).await?;
        let partitions = partition_count_after_creation(&admin, topic).await?;

        let client_id = format!("sluice-{role}");
        let timeout_ms = WRITE_TIMEOUT.as_millis().to_string();
        let producer_config = client_config(
            config,
            &[("client.id", &client_id), ("linger.ms", "0"), ("message.timeout.ms", &timeout_ms)],
            &Default::default(),
            None,
            &[("enable.idempotence", "true"), ("acks", "all")],
        );
        let producer = FutureProducer::from_config_and_context(&producer_config, QuietContext)
            .map_err(|e| KafkaError::client(format!("creating the producer for topic '{topic}'"), e))?;
        let consumer_config = client_config(
            config,
            &[("client.id", &client_id)],
            &Default::default(),
            None,
            &[
                // librdkafka needs a group id to assign partitions; the group is never joined
                // (no subscribe) and no offsets are committed.
                ("group.id", "sluice-log-reader"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", "false"),
            ],
        );
        let consumer = StreamConsumer::from_config_and_context(&consumer_config, QuietContext)
            .map_err(|e| KafkaError::client(format!("creating the consumer for topic '{topic}'"), e))?;
        Ok(LogTopic {
            topic: topic.to_owned(),
            partitions,
            producer,
            consumer,
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// The topic's name.
    pub(crate) fn name(&self) -> &str {
        &self.topic
    }

    /// The topic's partition count when it was opened.
    pub(crate) fn partitions(&self) -> i32 {
        self.partitions
    }

    /// Appends records to `partition` in order and waits until all are acknowledged; returns the
    /// offset of the last one.
    pub(crate) async fn append(
        &self,
        partition: i32,
        records: &[(&[u8], Option<&[u8]>)],
    ) -> Result<i64, KafkaError> {
        let context = || format!("writing to topic '{}' partition {partition}", self.topic);
        let mut deliveries = Vec::with_capacity(records.len());
        for (key, value) in records {
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).partition(partition).key(*key);
            if let Some(value) = value {
                record = record.payload(*value);
            }
            // Enqueueing only fails on a full queue; wait for room like `FutureProducer::send`.
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((ClientError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((e, _)) => return Err(KafkaError::client(context(), e)),
                }
            };
            deliveries.push(delivery);
        }
        let mut last = -1;
        for delivery in deliveries {
            let outcome = delivery
                .await
                .map_err(|_| KafkaError::Client { context: context(), source: ClientError::Canceled })?;
            match outcome {
                Ok(d) => last = d.offset,
                Err((e, _)) => return Err(KafkaError::client(context(), e)),
            }
        }
        if last < 0 {
            // Reading "through the marker" needs its real offset; an unknown one would end the
            // read early and return stale state.
            return Err(KafkaError::Corrupt {
                context: context(),
                message: format!("the broker acknowledged the write without an offset ({last})"),
            });
        }
        Ok(last)
    }

    /// Reads `partition` from `from` through offset `until` (a marker this process appended),
    /// handing every record to `visit` in order.
    pub(crate) async fn read(
        &self,
        partition: i32,
        from: ReadFrom,
        until: i64,
        mut visit: impl FnMut(TopicRecord<'_>) -> Result<(), KafkaError>,
    ) -> Result<(), KafkaError> {
        let context = || format!("reading topic '{}' partition {partition}", self.topic);
        let _reading = self.reading.lock().await;
        let mut assignment = TopicPartitionList::new();
        let offset = match from {
            ReadFrom::Beginning => Offset::Beginning,
            ReadFrom::Offset(o) => Offset::Offset(o),
        };
        assignment
            .add_partition_offset(&self.topic, partition, offset)
            .map_err(|e| KafkaError::client(context(), e))?;
        self.consumer.assign(&assignment).map_err(|e| KafkaError::client(context(), e))?;
        let outcome = async {
            let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
            loop {
                let message = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Err(_) => return Err(KafkaError::Timeout { what: context(), timeout: READ_TIMEOUT }),
                    Ok(Ok(m)) => m,
                    Ok(Err(e)) => {
                        let error = KafkaError::client(context(), e);
                        if error.class() == ErrorClass::Definite {
                            return Err(error);
                        }
                        tracing::debug!(error = %error, "retrying the read");
                        continue;
                    }
                };
                if message.topic() != self.topic || message.partition() != partition {
                    continue;
                }
                let offset = message.offset();
                visit(TopicRecord { offset, key: message.key(), value: message.payload() })?;
                if offset >= until {
                    return Ok(());
                }
            }
        }
        .await;
        if let Err(e) = self.consumer.unassign() {
            tracing::debug!(error = %e, topic = %self.topic, "unassigning the log reader failed");
        }
        outcome
    }
}

/// The partition count of a topic that may have just been created (metadata can lag creation).
async fn partition_count_after_creation(admin: &TopicAdmin, topic: &str) -> Result<i32, KafkaError> {
    let deadline = tokio::time::Instant::now() + METADATA_PATIENCE;
    loop {
        match admin.partition_count(topic).await {
            Err(e) if e.class() == ErrorClass::Retryable && tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "waiting for the new topic's metadata");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// A string no other marker has: process id, wall-clock nanoseconds and a counter.
pub(crate) fn unique_marker() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}-{nanos:x}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
