//! Heartbeat records (`heartbeat.interval.ms > 0`): key `io.debezium.connector.common.ServerNameKey`
//! `{serverName}` (the topic prefix), value `io.debezium.connector.common.Heartbeat` `{ts_ms}` (the
//! processing time), on `<topic.heartbeat.prefix><delimiter><topic.prefix>`, no headers.
//!
//! Debezium writes heartbeats to Kafka partition 0 explicitly and only once an offset exists; the
//! producer stage decides that (a [`Record`] has no partition field).

use std::sync::{Arc, OnceLock};

use sluice_core::{SourcePosition, Timestamp};

use crate::config::DebeziumConfig;
use crate::connect::{ConnectValue, Field, Schema, SchemaType};
use crate::naming;
use crate::record::Record;

/// Key schema name.
pub const KEY_SCHEMA_NAME: &str = "io.debezium.connector.common.ServerNameKey";
/// Value schema name.
pub const VALUE_SCHEMA_NAME: &str = "io.debezium.connector.common.Heartbeat";

/// `io.debezium.connector.common.ServerNameKey` v1 `{serverName: string}`.
pub fn key_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(
                    KEY_SCHEMA_NAME,
                    vec![Field {
                        name: "serverName".into(),
                        schema: Arc::new(Schema::primitive(SchemaType::String)),
                    }],
                )
                .versioned(1),
            )
        })
        .clone()
}

/// `io.debezium.connector.common.Heartbeat` v1 `{ts_ms: int64}`.
pub fn value_schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(
                Schema::structure(
                    VALUE_SCHEMA_NAME,
                    vec![Field {
                        name: "ts_ms".into(),
                        schema: Arc::new(Schema::primitive(SchemaType::Int64)),
                    }],
                )
                .versioned(1),
            )
        })
        .clone()
}

/// A heartbeat record at processing time `now`. Its `position` is empty: set it to the position
/// the heartbeat stands for (or use [`crate::record::RecordBuilder::heartbeat`], which does).
pub fn heartbeat_record(config: &DebeziumConfig, now: Timestamp) -> Record {
    let ts_ms = match now {
        Timestamp::Micros(us) => us.div_euclid(1000),
        Timestamp::PositiveInfinity => i64::MAX,
        Timestamp::NegativeInfinity => i64::MIN,
    };
    Record {
        topic: naming::heartbeat_topic(config),
        key_schema: Some(key_schema()),
        key: Some(ConnectValue::Struct(vec![ConnectValue::String(config.topic_prefix.clone())])),
        value_schema: Some(value_schema()),
        value: Some(ConnectValue::Struct(vec![ConnectValue::Int64(ts_ms)])),
        headers: Vec::new().into(),
        position: SourcePosition::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn heartbeat_has_debeziums_shape() {
        let map: BTreeMap<String, String> = [("topic.prefix".to_owned(), "shop".to_owned())].into();
        let config = DebeziumConfig::from_properties(&map).unwrap();
        let r = heartbeat_record(&config, Timestamp::Micros(1_795_234_936_818_890));
        assert_eq!(r.topic, "__debezium-heartbeat.shop");
        let ks = r.key_schema.as_ref().unwrap();
        assert_eq!((ks.name.as_deref(), ks.version), (Some(KEY_SCHEMA_NAME), Some(1)));
        assert_eq!(ks.fields[0].name, "serverName");
        assert_eq!(r.key, Some(ConnectValue::Struct(vec![ConnectValue::String("shop".into())])));
        let vs = r.value_schema.as_ref().unwrap();
        assert_eq!((vs.name.as_deref(), vs.version), (Some(VALUE_SCHEMA_NAME), Some(1)));
        assert_eq!(vs.fields[0].name, "ts_ms");
        assert!(!vs.fields[0].schema.optional);
        assert_eq!(r.value, Some(ConnectValue::Struct(vec![ConnectValue::Int64(1_795_234_936_818)])));
        assert!(r.headers.is_empty());
    }
}
