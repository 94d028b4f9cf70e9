//! Kafka producer, topics and offsets for sluice.
