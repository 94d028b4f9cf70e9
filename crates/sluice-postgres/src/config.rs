//! Typed configuration of the Postgres source, parsed once from Debezium's flat property map.

/// Placeholder: filled in by the config work.
#[derive(Debug, Clone, Default)]
pub struct PostgresSourceConfig {}
