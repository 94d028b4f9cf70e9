//! The connector's source partition and offset, in the shape Debezium's PostgreSQL connector
//! stores them through Kafka Connect.
//!
//! Kafka Connect keeps source offsets as JSON in a compacted topic (or a file) under the key
//! `["<connector name>", {"server": "<topic.prefix>"}]`. Writing the same shape means a sluice
//! connector can take over a Debezium connector's offsets (and the other way round), and that
//! Connect's own tooling (`GET /connectors/{name}/offsets`) shows familiar values.
//!
//! The resume position is the end LSN of the last commit whose records were all delivered
//! (`lsn_commit`, Debezium's `lastCommitLsn`): PostgreSQL resends every transaction committed after
//! it, so nothing delivered is lost and nothing undelivered is skipped.

use serde_json::{Map, Value, json};
use sluice_core::{Lsn, Xid};

use crate::error::DebeziumError;

/// The PostgreSQL connector's source partition, `{"server": <topic.prefix>}`: with the connector
/// name it makes the offsets-store key (`sluice_kafka::connect_offset_key`).
pub fn source_partition(topic_prefix: &str) -> Value {
    json!({ "server": topic_prefix })
}

/// Where a connector's delivered stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOffset {
    /// Resume point: the end LSN of the last fully delivered commit (or the snapshot's consistent
    /// point, or a heartbeat position).
    pub lsn: Lsn,
    /// Transaction id of that commit, when known.
    pub tx_id: Option<Xid>,
    /// Commit time, microseconds since the epoch, when known.
    pub ts_usec: Option<i64>,
    /// Whether the initial snapshot has completed (false while snapshot rows are being delivered).
    pub snapshot_completed: bool,
}

impl SourceOffset {
    /// The offset map Debezium writes: streaming offsets carry `lsn`, `lsn_proc`, `lsn_commit`,
    /// `txId`, `ts_usec` and `messageType`; an offset written during the snapshot carries
    /// `snapshot: "INITIAL"` and `snapshot_completed: false` instead of the commit fields.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.snapshot_completed {
            map.insert("lsn_proc".into(), json!(self.lsn.0));
            map.insert("messageType".into(), json!("COMMIT"));
            map.insert("lsn_commit".into(), json!(self.lsn.0));
            map.insert("lsn".into(), json!(self.lsn.0));
        } else {
            map.insert("last_snapshot_record".into(), json!(false));
            map.insert("lsn".into(), json!(self.lsn.0));
            map.insert("snapshot".into(), json!("INITIAL"));
            map.insert("snapshot_completed".into(), json!(false));
        }
        if let Some(xid) = self.tx_id {
            map.insert("txId".into(), json!(xid.0));
        }
        if let Some(ts) = self.ts_usec {
            map.insert("ts_usec".into(), json!(ts));
        }
        Value::Object(map)
    }

    /// Reads an offset written by sluice or by Debezium. The resume LSN is `lsn_commit` when
    /// present (a Debezium offset taken mid-transaction has a later `lsn_proc`, but only commit
    /// LSNs are ordered), else `lsn_proc`, else `lsn`. The snapshot counts as completed unless the
    /// offset says a snapshot is in progress.
    pub fn from_json(value: &Value) -> Result<SourceOffset, DebeziumError> {
        let bad = |message: String| DebeziumError::Offset(message);
        let map = value.as_object().ok_or_else(|| bad(format!("expected a JSON object, got {value}")))?;
        let lsn_field = |name: &str| -> Result<Option<Lsn>, DebeziumError> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(|n| Some(Lsn(n)))
                    .ok_or_else(|| bad(format!("'{name}' must be a non-negative integer LSN, got {v}"))),
            }
        };
        let lsn = match (lsn_field("lsn_commit")?, lsn_field("lsn_proc")?, lsn_field("lsn")?) {
            (Some(l), _, _) | (None, Some(l), _) | (None, None, Some(l)) => l,
            (None, None, None) => return Err(bad("no 'lsn_commit', 'lsn_proc' or 'lsn' field".into())),
        };
        let tx_id = match map.get("txId") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n & 0xFFFF_FFFF).ok())
                    .map(Xid)
                    .ok_or_else(|| bad(format!("'txId' must be an integer, got {v}")))?,
            ),
        };
        let ts_usec = map.get("ts_usec").and_then(Value::as_i64);
        let in_snapshot = map.get("snapshot").is_some_and(|s| !s.is_null() && s != &json!(false))
            && map.get("snapshot_completed") != Some(&json!(true));
        Ok(SourceOffset { lsn, tx_id, ts_usec, snapshot_completed: !in_snapshot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_partition_is_debeziums() {
        assert_eq!(
            serde_json::to_string(&source_partition("dbserver1")).unwrap(),
            r#"{"server":"dbserver1"}"#
        );
    }

    #[test]
    fn streaming_offsets_round_trip() {
        let o = SourceOffset {
            lsn: Lsn(24_374_320),
            tx_id: Some(Xid(785)),
            ts_usec: Some(1_795_234_936_772_349),
            snapshot_completed: true,
        };
        let j = o.to_json();
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            r#"{"lsn_proc":24374320,"messageType":"COMMIT","lsn_commit":24374320,"lsn":24374320,"txId":785,"ts_usec":1795234936772349}"#
        );
        assert_eq!(SourceOffset::from_json(&j).unwrap(), o);
    }

    #[test]
    fn snapshot_offsets_round_trip() {
        let o = SourceOffset { lsn: Lsn(0), tx_id: None, ts_usec: None, snapshot_completed: false };
        assert_eq!(SourceOffset::from_json(&o.to_json()).unwrap(), o);
    }

    #[test]
    fn debezium_offsets_are_read() {
        // As Debezium 3.6.3 wrote them (debezium-postgres-reference.md §7.1).
        let live: Value = serde_json::from_str(
            r#"{"transaction_id":"748","lsn_proc":23811480,"messageType":"INSERT","lsn_commit":23811000,"lsn":23811480,"transaction_data_collection_order_public.customers":1,"txId":748,"ts_usec":1795234890383893}"#,
        )
        .unwrap();
        let o = SourceOffset::from_json(&live).unwrap();
        assert_eq!(o.lsn, Lsn(23_811_000), "resumes from the last commit, not the last event");
        assert_eq!(o.tx_id, Some(Xid(748)));
        assert!(o.snapshot_completed);
        let snapshotting: Value =
            serde_json::from_str(r#"{"last_snapshot_record":false,"lsn":100,"snapshot":"INITIAL","txId":5}"#)
                .unwrap();
        assert!(!SourceOffset::from_json(&snapshotting).unwrap().snapshot_completed);
        let done: Value =
            serde_json::from_str(r#"{"lsn":100,"snapshot":"INITIAL","snapshot_completed":true}"#).unwrap();
        assert!(SourceOffset::from_json(&done).unwrap().snapshot_completed);
    }

    #[test]
    fn bad_offsets_are_named() {
        for bad in [r#"[]"#, r#"{}"#, r#"{"lsn":"x"}"#, r#"{"lsn":-1}"#, r#"{"lsn":1,"txId":"a"}"#] {
            let v: Value = serde_json::from_str(bad).unwrap();
            let e = SourceOffset::from_json(&v).unwrap_err().to_string();
            assert!(e.contains("offset"), "{bad}: {e}");
        }
    }
}
