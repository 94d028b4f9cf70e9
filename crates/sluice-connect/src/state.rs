//! Connector lifecycle states and the REST entities that report them, in Kafka Connect's JSON
//! shapes (`ConnectorInfo`, `ConnectorStateInfo`, `TaskInfo`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the user asked a connector to be; durable (the config store keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    /// Running (Kafka Connect's `STARTED`).
    #[serde(alias = "STARTED")]
    Running,
    /// Paused: the task is stopped, its config and offsets kept; `resume` continues.
    Paused,
    /// Stopped: no task at all; the prerequisite for editing offsets.
    Stopped,
}

impl TargetState {
    /// Parses `initial_state` of a create request (KIP-980).
    pub fn parse(text: &str) -> Option<TargetState> {
        match text.trim().to_ascii_uppercase().as_str() {
            "RUNNING" => Some(TargetState::Running),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// The runtime state of a connector or task, as `/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Known but not (yet) running on any worker.
    Unassigned,
    /// Running.
    Running,
    /// Paused by the user.
    Paused,
    /// Stopped by the user.
    Stopped,
    /// Failed; `trace` says why.
    Failed,
    /// A restart was requested and has not finished.
    Restarting,
}

/// Source or sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    /// Reads an external system into Kafka (or, in sluice's embedded default, into Delta).
    Source,
    /// Writes Kafka topics to an external system.
    Sink,
}

/// `{"connector": <name>, "task": <id>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskId {
    /// The connector's name.
    pub connector: String,
    /// The task number (sluice runs one task per connector: 0).
    pub task: u32,
}

/// `GET /connectors/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// The connector's name.
    pub name: String,
    /// Its config (secrets masked).
    pub config: BTreeMap<String, String>,
    /// Its tasks (none while stopped).
    pub tasks: Vec<TaskId>,
    /// Source or sink.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// One state with its worker and, when failed, the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorStateEntry {
    /// The state.
    pub state: State,
    /// Which worker reports it (`host:port` of its REST listener).
    pub worker_id: String,
    /// Why it failed: the error and its causes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
    /// The plugin's version (Kafka Connect 4.x reports it; older clients ignore it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
}

/// A task's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// The task number.
    pub id: u32,
    /// The state.
    pub state: State,
    /// Which worker runs it.
    pub worker_id: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
    /// The plugin's version (Kafka Connect 4.x reports it; older clients ignore it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
}

/// `GET /connectors/{name}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorStateInfo {
    /// The connector's name.
    pub name: String,
    /// The connector's own state.
    pub connector: ConnectorStateEntry,
    /// Its tasks' states.
    pub tasks: Vec<TaskState>,
    /// Source or sink.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// `GET /connectors/{name}/tasks` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its config (secrets masked).
    pub config: BTreeMap<String, String>,
}

/// One source partition and its offset (`GET /connectors/{name}/offsets` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffset {
    /// The source partition (`{"server": <topic.prefix>}`, or `{"kafka_topic", "kafka_partition"}`).
    pub partition: serde_json::Value,
    /// The offset; `null` in a PATCH removes the partition's offset.
    pub offset: serde_json::Value,
}

/// `{"offsets": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffsets {
    /// Every partition with an offset.
    pub offsets: Vec<ConnectorOffset>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_kafka_connect_does() {
        let info = ConnectorStateInfo {
            name: "inventory".into(),
            connector: ConnectorStateEntry {
                state: State::Running,
                worker_id: "127.0.0.1:8083".into(),
                trace: None,
                version: Some("0.1.0".into()),
            },
            tasks: vec![TaskState {
                id: 0,
                state: State::Failed,
                worker_id: "127.0.0.1:8083".into(),
                trace: Some("boom".into()),
                version: None,
            }],
            kind: ConnectorType::Source,
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"name":"inventory","connector":{"state":"RUNNING","worker_id":"127.0.0.1:8083","version":"0.1.0"},"tasks":[{"id":0,"state":"FAILED","worker_id":"127.0.0.1:8083","trace":"boom"}],"type":"source"}"#
        );
        assert_eq!(TargetState::parse("paused"), Some(TargetState::Paused));
        assert_eq!(TargetState::parse("STARTED"), None);
        assert_eq!(serde_json::from_str::<TargetState>(r#""STARTED""#).unwrap(), TargetState::Running);
    }
}
