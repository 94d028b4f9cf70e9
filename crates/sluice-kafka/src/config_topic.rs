//! Kafka Connect's `config.storage.topic`: connector configs and target states shared by every
//! worker of a cluster.
//!
//! The topic has one partition, so every worker reads the same records in the same order and
//! folds them to the same state. Records use Kafka Connect's keys and value shapes (string keys,
//! JsonConverter values with schemas disabled): `connector-<name>` → `{"properties": {...}}`,
//! `target-state-<name>` → `{"state": "STARTED"|"PAUSED", "state.v2": "STARTED"|"PAUSED"|"STOPPED"}`,
//! and a tombstone on `connector-<name>` deletes the connector. sluice writes no task configs
//! (`task-<name>-<n>`, `commit-<name>`): its one task's config is the connector's.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::log_topic::{LogTopic, ReadFrom, unique_marker};
use crate::topics::TopicSettings;

/// The config topic of a distributed worker.
#[derive(Debug)]
pub struct ConfigTopic {
    log: LogTopic,
}

impl ConfigTopic {
    /// Opens `topic`, creating it (one partition, compacted, `replication_factor`, -1 for the
    /// broker default) if missing.
    pub async fn open(
        config: &KafkaConfig,
        topic: &str,
        replication_factor: i32,
    ) -> Result<Self, KafkaError> {
        let settings = TopicSettings { partitions: 1, replication_factor, configs: BTreeMap::new() };
        Ok(ConfigTopic { log: LogTopic::open(config, topic, &settings, "configs").await? })
    }

    /// Every record from the beginning through now, in order: `(key, value)`, `None` for a
    /// tombstone. Values that are not JSON are reported as corrupt, naming the offset.
    pub async fn read_all(&self) -> Result<Vec<(String, Option<Value>)>, KafkaError> {
        let marker = format!("sluice-sync-{}", unique_marker());
        let until = self.log.append(0, &[(marker.as_bytes(), None)]).await?;
        let topic = self.log.name().to_owned();
        let mut records = Vec::new();
        self.log
            .read(0, ReadFrom::Beginning, until, |record| {
                let Some(key) = record.key.and_then(|k| std::str::from_utf8(k).ok()) else { return Ok(()) };
                if key.starts_with("sluice-sync-") {
                    return Ok(());
                }
                let value = match record.value {
                    None => None,
                    Some(v) => Some(serde_json::from_slice(v).map_err(|e| KafkaError::Corrupt {
                        context: format!("config topic '{topic}' offset {}", record.offset),
                        message: format!("the value is not JSON: {e}"),
                    })?),
                };
                records.push((key.to_owned(), value));
                Ok(())
            })
            .await?;
        Ok(records)
    }

    /// Appends records in order and waits until all are acknowledged.
    pub async fn write(&self, records: &[(String, Option<Value>)]) -> Result<(), KafkaError> {
        let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
            .iter()
            .map(|(k, v)| {
                (k.as_bytes().to_vec(), v.as_ref().map(|v| serde_json::to_vec(v).unwrap_or_default()))
            })
            .collect();
        let borrowed: Vec<(&[u8], Option<&[u8]>)> =
            encoded.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
        self.log.append(0, &borrowed).await?;
        Ok(())
    }
}
