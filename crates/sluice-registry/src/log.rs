//! The registry's durable log: the single source of truth for subjects, versions, ids and configs.
//!
//! Entries use the key/value JSON of Confluent Schema Registry's `_schemas` topic, so the same
//! state can live in a local file (the embedded default) or in a compacted Kafka topic shared by
//! several sluice processes. Every process applies the log in order with the same deterministic
//! rules, so they all reach the same state; a writer learns whether its write won by reading the
//! log back ([`SchemaLog::catch_up`]).

use futures::future::BoxFuture;

use crate::error::RegistryError;

/// One log entry: Confluent `_schemas` key and value JSON bytes (`None` value: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The key JSON, e.g. `{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}`.
    pub key: Vec<u8>,
    /// The value JSON, or `None` for a tombstone (a permanent delete).
    pub value: Option<Vec<u8>>,
}

/// Durable, totally ordered storage for registry log entries.
pub trait SchemaLog: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `records` durably and in order; returns once they are durable.
    fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'_, Result<(), RegistryError>>;

    /// Every entry appended (by any writer) since the previous call, in log order; all entries on
    /// the first call. Includes at least every entry whose `append` completed before this call.
    fn catch_up(&self) -> BoxFuture<'_, Result<Vec<LogRecord>, RegistryError>>;
}
