//! The Debezium layer's error type.

use sluice_core::ErrorClass;

/// What can go wrong while building or serializing records.
#[derive(Debug, thiserror::Error)]
pub enum DebeziumError {
    /// A configuration property is missing or invalid.
    #[error("invalid connector property '{property}': {message}")]
    Config {
        /// The property name.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A value cannot be represented in the configured mode (e.g. a timestamp outside the
    /// nanosecond range); names the table and column, never the value.
    #[error("table {table}, column {column}: {message}")]
    Value {
        /// `schema.table`.
        table: String,
        /// Column name.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// Two different names map to the same adjusted schema or field name.
    #[error("name conflict after adjustment: {0}")]
    NameConflict(String),
    /// A stored source offset cannot be read; says which field and what it holds.
    #[error("invalid stored source offset: {0}; fix or delete the connector's offset")]
    Offset(String),
    /// A value does not match its schema (a bug, reported rather than encoded wrongly).
    #[error("value does not match its schema: {0}")]
    SchemaMismatch(String),
}

impl From<sluice_core::properties::PropertyError> for DebeziumError {
    fn from(e: sluice_core::properties::PropertyError) -> Self {
        DebeziumError::Config { property: e.property, message: e.message }
    }
}

impl DebeziumError {
    /// Every error here needs a configuration or schema change; none is retryable.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Definite
    }

    /// A configuration error naming the property.
    pub fn config(property: impl Into<String>, message: impl Into<String>) -> Self {
        DebeziumError::Config { property: property.into(), message: message.into() }
    }
}
