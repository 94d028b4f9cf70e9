//! Kafka producer, topics and offsets for sluice.
//!
//! - [`config`]: Kafka Connect worker and connector properties → librdkafka settings.
//! - [`producer`] + [`delivery`]: the idempotent acks=all producer whose acknowledgements become
//!   durable caller positions ([`DeliveryTracker`] marks), with backpressure when Kafka is away.
//! - [`partitioner`]: the Java producer's murmur2 partitioning, bit for bit.
//! - [`topics`]: Kafka Connect's `topic.creation.*` rules and topic creation.
//! - [`offsets`]: Kafka Connect source offsets in the offsets topic or a file.
//! - [`schema_log`]: the schema registry's log on the `_schemas` topic.
//! - [`serializer`]: records as Kafka Connect's converters write them (Avro through the registry).
//! - [`consumer`] + [`deserializer`]: the sink side, reading Debezium topics decoded through the
//!   registry from positions the sink keeps itself.
//! - [`publisher`]: the PostgreSQL source connector publishing to Kafka, with offsets and restarts.

mod client;
pub mod config;
pub mod config_topic;
pub mod consumer;
pub mod delivery;
pub mod deserializer;
pub mod error;
mod log_topic;
pub mod offsets;
pub mod partitioner;
pub mod producer;
pub mod publisher;
pub mod schema_log;
pub mod serializer;
pub mod topics;

pub use config::{KafkaConfig, ProducerSettings};
pub use config_topic::ConfigTopic;
pub use delivery::DeliveryTracker;
pub use error::KafkaError;
pub use offsets::{FileOffsetStore, KafkaOffsetStore, OffsetStore, connect_offset_key};
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{OutRecord, Producer};
pub use schema_log::KafkaSchemaLog;
pub use topics::{TopicAdmin, TopicCreation, TopicSettings};
