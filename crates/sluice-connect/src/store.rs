//! Durable connector state: configs and target states.
//!
//! Standalone (the embedded default) keeps them in `connectors.json` under the data directory,
//! replaced atomically on every change. Distributed (a worker config naming Kafka) keeps them in
//! Kafka Connect's compacted `config.storage.topic`, in Kafka Connect's record format, so every
//! worker pointed at the same cluster sees the same connectors. Offsets live in their own stores
//! (the offsets file or topic, the direct path's position files, the Delta tables' txn actions).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_kafka::ConfigTopic;

use crate::error::ConnectError;
use crate::state::TargetState;

/// One connector as stored: its config as submitted (provider references unresolved) and what
/// the user asked it to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnector {
    /// The flat config, exactly as submitted (secrets included: the store is the one place they live).
    pub config: BTreeMap<String, String>,
    /// Running, paused or stopped.
    pub target_state: TargetState,
}

/// Where connector configs and target states live.
pub trait ConfigStore: Send + Sync + fmt::Debug {
    /// Every connector, by name.
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, StoredConnector>, ConnectError>>;
    /// Creates or replaces a connector (config and target state together); durable on return.
    fn put(&self, name: &str, connector: &StoredConnector) -> BoxFuture<'_, Result<(), ConnectError>>;
    /// Deletes a connector; durable on return.
    fn remove(&self, name: &str) -> BoxFuture<'_, Result<(), ConnectError>>;
}

/// `connectors.json` in the data directory.
pub struct FileConfigStore {
    path: PathBuf,
    /// Serializes read-modify-write cycles.
    lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for FileConfigStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileConfigStore").field("path", &self.path).finish()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    connectors: BTreeMap<String, StoredConnector>,
}

impl FileConfigStore {
    /// A store at `path` (created on the first change).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileConfigStore { path: path.into(), lock: tokio::sync::Mutex::new(()) }
    }

    async fn read(&self) -> Result<ConfigFile, ConnectError> {
        let path = self.path.clone();
        blocking(move || read_file(&path)).await
    }

    async fn change(&self, edit: impl FnOnce(&mut ConfigFile) + Send + 'static) -> Result<(), ConnectError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        blocking(move || {
            let mut file = read_file(&path)?;
            edit(&mut file);
            let body = serde_json::to_vec_pretty(&file).map_err(|e| ConnectError::Store(e.to_string()))?;
            replace_file(&path, &body)
        })
        .await
    }
}

impl ConfigStore for FileConfigStore {
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, StoredConnector>, ConnectError>> {
        async move { Ok(self.read().await?.connectors) }.boxed()
    }

    fn put(&self, name: &str, connector: &StoredConnector) -> BoxFuture<'_, Result<(), ConnectError>> {
        let (name, connector) = (name.to_owned(), connector.clone());
        self.change(move |f| {
            f.connectors.insert(name, connector);
        })
        .boxed()
    }

    fn remove(&self, name: &str) -> BoxFuture<'_, Result<(), ConnectError>> {
        let name = name.to_owned();
        self.change(move |f| {
            f.connectors.remove(&name);
        })
        .boxed()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnectError> + Send + 'static,
) -> Result<T, ConnectError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConnectError::Internal(format!("config store task: {e}")))?
}

fn read_file(path: &Path) -> Result<ConfigFile, ConnectError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(ConnectError::Store(format!("reading {}: {e}", path.display()))),
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        ConnectError::Store(format!(
            "{} is not a sluice connector file ({e}); restore it from a backup or move it away",
            path.display()
        ))
    })
}

/// Temporary file, fsync, rename, directory fsync: a crash leaves the old or the new file.
fn replace_file(path: &Path, body: &[u8]) -> Result<(), ConnectError> {
    use std::io::Write as _;
    let io = |what: &str, e: std::io::Error| ConnectError::Store(format!("{what} {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("writing", e))?;
    file.write_all(body).and_then(|()| file.sync_all()).map_err(|e| io("writing", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Kafka Connect's `config.storage.topic`.
#[derive(Debug)]
pub struct KafkaConfigStore {
    topic: ConfigTopic,
}

impl KafkaConfigStore {
    /// Wraps an opened config topic.
    pub fn new(topic: ConfigTopic) -> Self {
        KafkaConfigStore { topic }
    }

    async fn fold(&self) -> Result<BTreeMap<String, StoredConnector>, ConnectError> {
        let records = self.topic.read_all().await.map_err(|e| ConnectError::Store(e.to_string()))?;
        Ok(fold(records))
    }

    async fn write(&self, records: Vec<(String, Option<Value>)>) -> Result<(), ConnectError> {
        self.topic.write(&records).await.map_err(|e| ConnectError::Store(e.to_string()))
    }
}

/// The state a sequence of config-topic records leaves: Kafka Connect's record keys and values.
pub fn fold(records: Vec<(String, Option<Value>)>) -> BTreeMap<String, StoredConnector> {
    let mut connectors: BTreeMap<String, StoredConnector> = BTreeMap::new();
    let mut targets: BTreeMap<String, TargetState> = BTreeMap::new();
    for (key, value) in records {
        if let Some(name) = key.strip_prefix("connector-") {
            match value.as_ref().and_then(|v| v.get("properties")).and_then(Value::as_object) {
                Some(props) => {
                    let config = props
                        .iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                        .collect();
                    let target = targets.get(name).copied().unwrap_or(TargetState::Running);
                    connectors.insert(name.to_owned(), StoredConnector { config, target_state: target });
                }
                None => {
                    connectors.remove(name);
                    targets.remove(name);
                }
            }
        } else if let Some(name) = key.strip_prefix("target-state-") {
            let state = value.as_ref().and_then(|v| v.get("state.v2").or_else(|| v.get("state")));
            let target = match state.and_then(Value::as_str) {
                Some("PAUSED") => TargetState::Paused,
                Some("STOPPED") => TargetState::Stopped,
                _ => TargetState::Running,
            };
            targets.insert(name.to_owned(), target);
            if let Some(c) = connectors.get_mut(name) {
                c.target_state = target;
            }
        }
    }
    connectors
}

/// The `target-state-<name>` value Kafka Connect writes (v1 readers see STOPPED as PAUSED).
fn target_value(target: TargetState) -> Value {
    match target {
        TargetState::Running => json!({"state": "STARTED", "state.v2": "STARTED"}),
        TargetState::Paused => json!({"state": "PAUSED", "state.v2": "PAUSED"}),
        TargetState::Stopped => json!({"state": "PAUSED", "state.v2": "STOPPED"}),
    }
}

impl ConfigStore for KafkaConfigStore {
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, StoredConnector>, ConnectError>> {
        self.fold().boxed()
    }

    fn put(&self, name: &str, connector: &StoredConnector) -> BoxFuture<'_, Result<(), ConnectError>> {
        // The target state first: a reader folding in between sees the old config in the new state,
        // never a new connector running that was meant to start paused.
        let records = vec![
            (format!("target-state-{name}"), Some(target_value(connector.target_state))),
            (format!("connector-{name}"), Some(json!({ "properties": connector.config }))),
        ];
        self.write(records).boxed()
    }

    fn remove(&self, name: &str) -> BoxFuture<'_, Result<(), ConnectError>> {
        let records = vec![(format!("connector-{name}"), None), (format!("target-state-{name}"), None)];
        self.write(records).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_store_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.json");
        let store = FileConfigStore::new(&path);
        assert!(store.load().await.unwrap().is_empty());
        let a = StoredConnector {
            config: [("name".to_owned(), "a".to_owned())].into_iter().collect(),
            target_state: TargetState::Paused,
        };
        store.put("a", &a).await.unwrap();
        store.put("b", &StoredConnector { target_state: TargetState::Running, ..a.clone() }).await.unwrap();
        store.remove("b").await.unwrap();
        let reopened = FileConfigStore::new(&path).load().await.unwrap();
        assert_eq!(reopened.into_iter().collect::<Vec<_>>(), vec![("a".to_owned(), a)]);
        std::fs::write(&path, b"{not json").unwrap();
        let err = FileConfigStore::new(&path).load().await.unwrap_err().to_string();
        assert!(err.contains("connectors.json"), "{err}");
    }

    #[test]
    fn config_topic_records_fold_like_kafka_connect() {
        let records = vec![
            ("target-state-a".to_owned(), Some(target_value(TargetState::Stopped))),
            ("connector-a".to_owned(), Some(json!({"properties": {"name": "a", "tasks.max": "1"}}))),
            ("connector-b".to_owned(), Some(json!({"properties": {"name": "b"}}))),
            ("task-b-0".to_owned(), Some(json!({"properties": {}}))),
            ("target-state-b".to_owned(), Some(json!({"state": "PAUSED"}))),
            ("connector-a".to_owned(), None),
            ("connector-c".to_owned(), Some(json!({"properties": {"name": "c"}}))),
        ];
        let state = fold(records);
        assert_eq!(state.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        assert_eq!(state["b"].target_state, TargetState::Paused);
        assert_eq!(state["c"].target_state, TargetState::Running);
        assert_eq!(state["b"].config["name"], "b");
    }
}
