//! The schema registry's log in a Kafka topic, shared by every sluice process of a cluster.
//!
//! Like Confluent Schema Registry's `_schemas` (`kafkastore.topic`): one partition (a total order),
//! compacted, keys and values in Confluent's JSON. To catch up, a reader appends Confluent's NOOP
//! record (`{"keytype":"NOOP","magic":0}`, null value, exactly what Confluent writes for the same
//! purpose) and consumes until it has passed the NOOP's offset, so it has seen every entry whose
//! append finished before. NOOP records (its own and others') are not returned.

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sluice_registry::{LogRecord, RegistryError, SchemaLog};

use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::log_topic::{LogTopic, ReadFrom};
use crate::topics::TopicSettings;

/// Confluent Schema Registry's NOOP key.
const NOOP_KEY: &[u8] = br#"{"keytype":"NOOP","magic":0}"#;

/// The registry log on the compacted single-partition [`KafkaConfig::schemas_topic`].
#[derive(Debug)]
pub struct KafkaSchemaLog {
    log: LogTopic,
    /// Where the next catch-up starts reading (`None`: the beginning).
    next: tokio::sync::Mutex<Option<i64>>,
}

impl KafkaSchemaLog {
    /// Opens the schemas topic, creating it (one partition, compacted, the offsets topic's
    /// replication factor) if missing. A topic with more than one partition is refused: entries
    /// would lose their total order.
    pub async fn open(config: &KafkaConfig) -> Result<KafkaSchemaLog, KafkaError> {
        let settings = TopicSettings {
            partitions: 1,
            replication_factor: config.offsets_replication_factor,
            configs: Default::default(),
        };
        let log = LogTopic::open(config, &config.schemas_topic, &settings, "schemas").await?;
        if log.partitions() != 1 {
            return Err(KafkaError::Corrupt {
                context: format!("schemas topic '{}'", config.schemas_topic),
                message: format!(
                    "has {} partitions but the schema registry log needs exactly one (a total order)",
                    log.partitions()
                ),
            });
        }
        Ok(KafkaSchemaLog { log, next: tokio::sync::Mutex::new(None) })
    }

    async fn append_records(&self, records: Vec<LogRecord>) -> Result<(), KafkaError> {
        if records.is_empty() {
            return Ok(());
        }
        let batch: Vec<(&[u8], Option<&[u8]>)> =
            records.iter().map(|r| (r.key.as_slice(), r.value.as_deref())).collect();
        self.log.append(0, &batch).await?;
        Ok(())
    }

    async fn catch_up_records(&self) -> Result<Vec<LogRecord>, KafkaError> {
        let mut next = self.next.lock().await;
        let until = self.log.append(0, &[(NOOP_KEY, None)]).await?;
        let from = next.map_or(ReadFrom::Beginning, ReadFrom::Offset);
        let mut out = Vec::new();
        self.log
            .read(0, from, until, |record| {
                let Some(key) = record.key else { return Ok(()) };
                if !is_noop(key) {
                    out.push(LogRecord { key: key.to_vec(), value: record.value.map(<[u8]>::to_vec) });
                }
                Ok(())
            })
            .await?;
        *next = Some(until + 1);
        Ok(out)
    }
}

/// Whether a key is a NOOP (Confluent's, or any with `"keytype":"NOOP"`).
fn is_noop(key: &[u8]) -> bool {
    key == NOOP_KEY
        || serde_json::from_slice::<serde_json::Value>(key)
            .is_ok_and(|k| k.get("keytype").and_then(|t| t.as_str()) == Some("NOOP"))
}

impl SchemaLog for KafkaSchemaLog {
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'_, Result<(), RegistryError>> {
        async move { self.append_records(records).await.map_err(RegistryError::from) }.boxed()
    }

    fn catch_up(&self) -> BoxFuture<'_, Result<Vec<LogRecord>, RegistryError>> {
        async move { self.catch_up_records().await.map_err(RegistryError::from) }.boxed()
    }
}

impl From<KafkaError> for RegistryError {
    fn from(e: KafkaError) -> Self {
        RegistryError::Log { message: e.to_string(), retryable: e.class().is_retryable() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_keys_are_recognised() {
        assert!(is_noop(NOOP_KEY));
        assert!(is_noop(br#"{"magic":0,"keytype":"NOOP"}"#));
        assert!(!is_noop(br#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#));
        assert!(!is_noop(b"not json"));
    }

    #[test]
    fn errors_keep_their_class_in_the_registry() {
        let e: RegistryError = KafkaError::Timeout {
            what: "reading topic '_schemas' partition 0".into(),
            timeout: std::time::Duration::from_secs(60),
        }
        .into();
        assert!(e.class().is_retryable());
        let e: RegistryError = KafkaError::config("bootstrap.servers", "x").into();
        assert!(!e.class().is_retryable());
    }
}
