//! Debezium-identical change records, as pure functions of sluice's change events.
//!
//! ```text
//! core::SourceEvent ─► records (topic, key, envelope value, headers; tombstones, key changes,
//!                      truncates, messages, transaction metadata, heartbeats)
//!                   ─► mapping: PostgreSQL column type + value → Connect schema + value, per mode
//!                   ─► connect: the Kafka Connect data model (Schema, Value)
//!                   ─► json (JsonConverter, schemas.enable) | avro (AvroData schema, binary, Confluent wire format)
//! ```
//!
//! Everything here is checked against the real Debezium 3.6.3 by the conformance tests; the facts it
//! encodes are in docs/compatibility.md.

pub mod avro;
pub mod config;
pub mod connect;
pub mod converter;
pub mod envelope;
pub mod error;
pub mod header;
pub mod heartbeat;
mod java;
pub mod json;
pub mod mapping;
pub mod naming;
pub mod offset;
pub mod record;
pub mod transaction;

pub use config::DebeziumConfig;
pub use connect::{ConnectValue, Field, Schema, SchemaType};
pub use error::DebeziumError;
