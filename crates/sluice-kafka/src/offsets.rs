//! Kafka Connect source offsets: where a connector resumes.
//!
//! Kafka Connect stores a source connector's offsets under the key `["<connector name>",
//! {<source partition>}]` (for Debezium's PostgreSQL connector `["inventory", {"server":
//! "<topic.prefix>"}]`) with the offset map as the value, both serialized by the JsonConverter with
//! schemas disabled: compact JSON. A distributed worker keeps them in the compacted
//! `offset.storage.topic`, each key on partition `murmur2(key bytes) % partitions` (the Java
//! producer's default); a standalone worker in a file. [`KafkaOffsetStore`] reads and writes the
//! topic exactly so, so a connector can move between sluice and Kafka Connect keeping its position.
//! [`FileOffsetStore`] keeps a JSON file instead (Kafka Connect's own file format is Java
//! serialization, which sluice does not read).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::config::KafkaConfig;
use crate::error::KafkaError;
use crate::log_topic::{LogTopic, ReadFrom, unique_marker};
use crate::partitioner::partition_for_key;
use crate::topics::TopicSettings;

/// Durable storage of source offsets, keyed like Kafka Connect.
pub trait OffsetStore: Send + Sync + fmt::Debug {
    /// The offset stored under `key` (`["<connector>", {"server": "<topic.prefix>"}]`), if any.
    fn load(&self, key: &Value) -> BoxFuture<'_, Result<Option<Value>, KafkaError>>;

    /// Stores `value` under `key`; returns once it is durable.
    fn save(&self, key: &Value, value: &Value) -> BoxFuture<'_, Result<(), KafkaError>>;

    /// Removes the offset under `key` (a tombstone in the topic, Kafka Connect's way of resetting
    /// an offset); returns once that is durable.
    fn remove(&self, key: &Value) -> BoxFuture<'_, Result<(), KafkaError>>;
}

/// Kafka Connect's offset key for a connector and its source partition.
pub fn connect_offset_key(connector: &str, partition: &Value) -> Value {
    Value::Array(vec![Value::String(connector.to_owned()), partition.clone()])
}

/// Offsets in Kafka Connect's `offset.storage.topic`.
#[derive(Debug)]
pub struct KafkaOffsetStore {
    log: LogTopic,
}

impl KafkaOffsetStore {
    /// Opens the worker's offsets topic, creating it (compacted, with `offset.storage.partitions`
    /// and `offset.storage.replication.factor`) if missing.
    pub async fn open(config: &KafkaConfig) -> Result<KafkaOffsetStore, KafkaError> {
        let settings = TopicSettings {
            partitions: config.offsets_partitions,
            replication_factor: config.offsets_replication_factor,
            configs: BTreeMap::new(),
        };
        let log = LogTopic::open(config, &config.offsets_topic, &settings, "offsets").await?;
        Ok(KafkaOffsetStore { log })
    }

    async fn load_key(&self, key: Value) -> Result<Option<Value>, KafkaError> {
        let key_bytes = connect_json(&key);
        let partition = partition_for_key(&key_bytes, self.log.partitions());
        // Kafka Connect reads a marker key as one more (deleted) connector partition: harmless.
        let marker = Value::Array(vec![
            Value::String("sluice-sync".to_owned()),
            serde_json::json!({ "marker": unique_marker() }),
        ]);
        let until = self.log.append(partition, &[(&connect_json(&marker), None)]).await?;
        let topic = self.log.name().to_owned();
        let mut latest: Option<Value> = None;
        self.log
            .read(partition, ReadFrom::Beginning, until, |record| {
                let Some(k) = record.key else { return Ok(()) };
                let ours = k == key_bytes.as_slice()
                    || serde_json::from_slice::<Value>(k).is_ok_and(|parsed| parsed == key);
                if !ours {
                    return Ok(());
                }
                latest = match record.value {
                    None => None,
                    Some(v) => Some(serde_json::from_slice(v).map_err(|e| KafkaError::Corrupt {
                        context: format!(
                            "offsets topic '{topic}' partition {partition} offset {}",
                            record.offset
                        ),
                        message: format!("the offset value is not JSON: {e}"),
                    })?),
                };
                Ok(())
            })
            .await?;
        Ok(latest)
    }

    async fn save_key(&self, key: Value, value: Value) -> Result<(), KafkaError> {
        let key_bytes = connect_json(&key);
        let partition = partition_for_key(&key_bytes, self.log.partitions());
        self.log.append(partition, &[(&key_bytes, Some(&connect_json(&value)))]).await?;
        Ok(())
    }

    async fn remove_key(&self, key: Value) -> Result<(), KafkaError> {
        let key_bytes = connect_json(&key);
        let partition = partition_for_key(&key_bytes, self.log.partitions());
        self.log.append(partition, &[(&key_bytes, None)]).await?;
        Ok(())
    }
}

impl OffsetStore for KafkaOffsetStore {
    fn load(&self, key: &Value) -> BoxFuture<'_, Result<Option<Value>, KafkaError>> {
        self.load_key(key.clone()).boxed()
    }

    fn save(&self, key: &Value, value: &Value) -> BoxFuture<'_, Result<(), KafkaError>> {
        self.save_key(key.clone(), value.clone()).boxed()
    }

    fn remove(&self, key: &Value) -> BoxFuture<'_, Result<(), KafkaError>> {
        self.remove_key(key.clone()).boxed()
    }
}

/// The bytes Kafka Connect's JsonConverter (schemas disabled) writes: compact JSON.
fn connect_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Offsets in a local JSON file: an object from the key's compact JSON text to the offset value,
/// replaced atomically (temporary file, fsync, rename, directory fsync) on every save.
pub struct FileOffsetStore {
    path: PathBuf,
    /// The file's contents once read (`None` until the first use).
    cache: tokio::sync::Mutex<Option<serde_json::Map<String, Value>>>,
}

impl fmt::Debug for FileOffsetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileOffsetStore").field("path", &self.path).finish()
    }
}

impl FileOffsetStore {
    /// A store at `path` (created, with its directory, on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileOffsetStore { path: path.into(), cache: tokio::sync::Mutex::new(None) }
    }

    async fn load_key(&self, key: Value) -> Result<Option<Value>, KafkaError> {
        let mut cache = self.cache.lock().await;
        let map = self.loaded(&mut cache).await?;
        Ok(map.get(&key_text(&key)).cloned())
    }

    async fn save_key(&self, key: Value, value: Option<Value>) -> Result<(), KafkaError> {
        let mut cache = self.cache.lock().await;
        let mut map = self.loaded(&mut cache).await?.clone();
        match value {
            Some(value) => map.insert(key_text(&key), value),
            None => map.remove(&key_text(&key)),
        };
        let path = self.path.clone();
        let body = serde_json::to_vec_pretty(&map).unwrap_or_default();
        blocking(move || replace_file(&path, &body)).await?;
        *cache = Some(map);
        Ok(())
    }

    async fn loaded<'a>(
        &self,
        cache: &'a mut Option<serde_json::Map<String, Value>>,
    ) -> Result<&'a serde_json::Map<String, Value>, KafkaError> {
        if cache.is_none() {
            let path = self.path.clone();
            *cache = Some(blocking(move || read_file(&path)).await?);
        }
        Ok(cache.get_or_insert_default())
    }
}

impl OffsetStore for FileOffsetStore {
    fn load(&self, key: &Value) -> BoxFuture<'_, Result<Option<Value>, KafkaError>> {
        self.load_key(key.clone()).boxed()
    }

    fn save(&self, key: &Value, value: &Value) -> BoxFuture<'_, Result<(), KafkaError>> {
        self.save_key(key.clone(), Some(value.clone())).boxed()
    }

    fn remove(&self, key: &Value) -> BoxFuture<'_, Result<(), KafkaError>> {
        self.save_key(key.clone(), None).boxed()
    }
}

fn key_text(key: &Value) -> String {
    key.to_string()
}

/// Runs file I/O off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KafkaError::Corrupt {
        context: "offset file task".to_owned(),
        message: format!("failed: {e}"),
    })?
}

fn read_file(path: &Path) -> Result<serde_json::Map<String, Value>, KafkaError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(serde_json::Map::new()),
        Err(e) => return Err(KafkaError::io(format!("reading offset file {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| KafkaError::Corrupt {
        context: format!("offset file {}", path.display()),
        message: format!("not a JSON object of offsets: {e}"),
    })
}

fn replace_file(path: &Path, body: &[u8]) -> Result<(), KafkaError> {
    let io = |what: &str, e| KafkaError::io(format!("{what} offset file {}", path.display()), e);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    // Unique per write: a cancelled save's blocking write may still be running.
    tmp_name.push(format!(".{}.tmp", unique_marker()));
    let tmp = dir.join(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("writing", e))?;
    file.write_all(body).and_then(|()| file.sync_all()).map_err(|e| io("writing", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))?;
    // The rename is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn file_offsets_round_trip_and_survive_a_new_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/offsets.json");
        let store = FileOffsetStore::new(&path);
        let key = connect_offset_key("inventory", &json!({"server": "dbserver1"}));
        assert_eq!(store.load(&key).await.unwrap(), None);
        store.save(&key, &json!({"lsn": 123, "txId": 7})).await.unwrap();
        store.save(&key, &json!({"lsn": 456, "txId": 8})).await.unwrap();
        let other = connect_offset_key("other", &json!({"server": "x"}));
        store.save(&other, &json!({"lsn": 1})).await.unwrap();
        let fresh = FileOffsetStore::new(&path);
        assert_eq!(fresh.load(&key).await.unwrap(), Some(json!({"lsn": 456, "txId": 8})));
        assert_eq!(fresh.load(&other).await.unwrap(), Some(json!({"lsn": 1})));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""[\"inventory\",{\"server\":\"dbserver1\"}]""#), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_corrupt_offset_file_is_a_definite_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        std::fs::write(&path, b"[1,2").unwrap();
        let e = FileOffsetStore::new(&path).load(&json!(["a", {}])).await.unwrap_err();
        assert_eq!(e.class(), sluice_core::ErrorClass::Definite);
        assert!(e.to_string().contains("offsets.json"), "{e}");
    }

    #[test]
    fn keys_are_written_as_kafka_connect_writes_them() {
        let key = connect_offset_key("inventory-connector", &json!({"server": "dbserver1"}));
        assert_eq!(connect_json(&key), br#"["inventory-connector",{"server":"dbserver1"}]"#);
    }
}
