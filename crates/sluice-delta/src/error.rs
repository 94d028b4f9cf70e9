//! The Delta layer's error type, classified for supervisors.
//!
//! Storage trouble (an object store or file system briefly failing) and commit conflicts that
//! survived the applier's own retries are retryable: the applier restarts from the table's stored
//! txn version. Schemas that cannot be mapped, values that do not fit their schema, type changes
//! delta-rs cannot apply and a second writer committing under the same application id are
//! definite: retrying fails the same way until a human changes something. Messages name the
//! table (the Debezium topic) and the column; they never contain a row's values.

use std::sync::Arc;

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::error::DataFusionError;
use deltalake::kernel::transaction::{CommitConflictError, TransactionError};
use sluice_core::ErrorClass;

/// Everything that can go wrong in the Delta layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeltaError {
    /// A Connect schema has no Delta-compatible Arrow form.
    #[error("table {table}: {message}")]
    Schema {
        /// The table (Debezium topic).
        table: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The table has no key columns, so changes cannot be merged by key.
    #[error(
        "table {table} has no key (no primary key, replica identity index or message.key.columns entry); \
         sluice-delta merges by key: add a primary key, or name key columns in message.key.columns"
    )]
    NoKey {
        /// The table (Debezium topic).
        table: String,
    },
    /// A source column has the name of one of the metadata columns sluice adds.
    #[error(
        "table {table}: column '{column}' collides with a metadata column sluice-delta adds; \
         rename the column or exclude it (column.exclude.list)"
    )]
    ColumnConflict {
        /// The table (Debezium topic).
        table: String,
        /// The column.
        column: String,
    },
    /// A record is not a Debezium change record of the shape its schema announces.
    #[error("table {table}: malformed change record: {message}")]
    Record {
        /// The table (Debezium topic).
        table: String,
        /// What is wrong (never a value).
        message: String,
    },
    /// A value does not fit its column's schema.
    #[error("table {table}, column '{column}': {message}")]
    Value {
        /// The table (Debezium topic).
        table: String,
        /// The column (dotted path for nested fields).
        column: String,
        /// What is wrong (never the value itself).
        message: String,
    },
    /// The key columns changed within one batch; the batch must be split at the schema change.
    #[error(
        "table {table}: the key columns changed from [{before}] to [{after}] within one batch; \
         apply the records before the change first"
    )]
    KeyChanged {
        /// The table (Debezium topic).
        table: String,
        /// Key columns before.
        before: String,
        /// Key columns after.
        after: String,
    },
    /// A column's type changed in a way delta-rs cannot apply to the existing table.
    #[error(
        "table {table} at {location}: column '{column}' is {table_type} in the Delta table but the source \
         now sends {source_type}; delta-rs cannot change a column's type. Rewrite the table with the new \
         type (read it, cast '{column}', overwrite it with the new schema), or move the table directory \
         aside and take a new snapshot of the source table"
    )]
    TypeChange {
        /// The table (Debezium topic).
        table: String,
        /// The table's location.
        location: String,
        /// The column.
        column: String,
        /// The column's type in the Delta table.
        table_type: String,
        /// The type the source sends now.
        source_type: String,
    },
    /// Another writer committed under the same application id concurrently: this writer is a zombie.
    #[error(
        "table {table}: another writer committed under application id '{app_id}' concurrently; \
         only one applier may write a table under one application id"
    )]
    Fenced {
        /// The table (Debezium topic).
        table: String,
        /// The application id.
        app_id: String,
    },
    /// A connector property is missing or invalid.
    #[error("invalid connector property '{property}': {message}")]
    Config {
        /// The property name.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The PostgreSQL source failed (the direct path's upstream).
    #[error(transparent)]
    Source(std::sync::Arc<sluice_postgres::PostgresError>),
    /// Kafka or the schema registry failed (the sink connector's upstream), or a record could not
    /// be decoded (named by topic, partition and offset).
    #[error(transparent)]
    Kafka(std::sync::Arc<sluice_kafka::KafkaError>),
    /// A task of the pipeline failed unexpectedly (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// The direct pipeline's position file could not be read or written.
    #[error("position store: {0}")]
    Position(String),
    /// A `sluice query` could not run (no tables, bad SQL, unreadable table); says why.
    #[error("query failed: {0}")]
    Query(String),
    /// delta-rs failed while sluice was doing `context`.
    #[error("table {table}: {context}: {source}")]
    Delta {
        /// The table (Debezium topic).
        table: String,
        /// What sluice was doing.
        context: String,
        /// delta-rs' error (shared: errors are cloned to every waiter).
        #[source]
        source: Arc<DeltaTableError>,
    },
    /// Arrow refused a batch sluice built (a bug, or a value out of its type's range).
    #[error("table {table}: {context}: {source}")]
    Arrow {
        /// The table (Debezium topic).
        table: String,
        /// What sluice was doing.
        context: String,
        /// Arrow's error.
        #[source]
        source: Arc<ArrowError>,
    },
    /// DataFusion refused the merge's source or expressions.
    #[error("table {table}: {context}: {source}")]
    DataFusion {
        /// The table (Debezium topic).
        table: String,
        /// What sluice was doing.
        context: String,
        /// DataFusion's error.
        #[source]
        source: Arc<DataFusionError>,
    },
}

impl DeltaError {
    /// Wraps a source error.
    pub fn source(e: sluice_postgres::PostgresError) -> Self {
        DeltaError::Source(std::sync::Arc::new(e))
    }

    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            DeltaError::Delta { source, .. } => delta_class(source),
            DeltaError::Schema { .. }
            | DeltaError::NoKey { .. }
            | DeltaError::ColumnConflict { .. }
            | DeltaError::Record { .. }
            | DeltaError::Value { .. }
            | DeltaError::KeyChanged { .. }
            | DeltaError::TypeChange { .. }
            | DeltaError::Fenced { .. }
            | DeltaError::Arrow { .. }
            | DeltaError::DataFusion { .. }
            | DeltaError::Query(_)
            | DeltaError::Config { .. }
            | DeltaError::Position(_)
            | DeltaError::Internal(_) => ErrorClass::Definite,
            DeltaError::Source(e) => e.class(),
            DeltaError::Kafka(e) => e.class(),
        }
    }

    /// Wraps a Kafka-side error.
    pub fn kafka(e: sluice_kafka::KafkaError) -> Self {
        DeltaError::Kafka(std::sync::Arc::new(e))
    }

    pub(crate) fn delta(table: &str, context: impl Into<String>, source: DeltaTableError) -> Self {
        DeltaError::Delta { table: table.to_owned(), context: context.into(), source: Arc::new(source) }
    }

    pub(crate) fn arrow(table: &str, context: impl Into<String>, source: ArrowError) -> Self {
        DeltaError::Arrow { table: table.to_owned(), context: context.into(), source: Arc::new(source) }
    }

    pub(crate) fn datafusion(table: &str, context: impl Into<String>, source: DataFusionError) -> Self {
        DeltaError::DataFusion { table: table.to_owned(), context: context.into(), source: Arc::new(source) }
    }
}

/// The commit conflict inside a delta-rs error, if that is what it is.
pub(crate) fn commit_conflict(e: &DeltaTableError) -> Option<&CommitConflictError> {
    match e {
        DeltaTableError::Transaction { source: TransactionError::CommitConflict(c) } => Some(c),
        _ => None,
    }
}

fn delta_class(e: &DeltaTableError) -> ErrorClass {
    match e {
        DeltaTableError::ObjectStore { source } => object_store_class(source),
        DeltaTableError::Io { source } => match source.kind() {
            std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::InvalidInput => ErrorClass::Definite,
            _ => ErrorClass::Retryable,
        },
        DeltaTableError::Transaction { source } => match source {
            TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction) => {
                ErrorClass::Definite
            }
            TransactionError::CommitConflict(
                CommitConflictError::ConcurrentAppend
                | CommitConflictError::ConcurrentDeleteRead
                | CommitConflictError::ConcurrentDeleteDelete
                | CommitConflictError::MetadataChanged,
            )
            | TransactionError::MaxCommitAttempts(_)
            | TransactionError::VersionAlreadyExists(_) => ErrorClass::Retryable,
            TransactionError::ObjectStore { source } => object_store_class(source),
            _ => ErrorClass::Definite,
        },
        DeltaTableError::VersionAlreadyExists(_) => ErrorClass::Retryable,
        _ => ErrorClass::Definite,
    }
}

fn object_store_class(e: &deltalake::ObjectStoreError) -> ErrorClass {
    use deltalake::ObjectStoreError as E;
    match e {
        E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. }
        | E::InvalidPath { .. } => ErrorClass::Definite,
        _ => ErrorClass::Retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_what_a_retry_can_change() {
        let conflict = |c| {
            DeltaError::delta(
                "t",
                "merge",
                DeltaTableError::Transaction { source: TransactionError::CommitConflict(c) },
            )
        };
        assert_eq!(conflict(CommitConflictError::ConcurrentAppend).class(), ErrorClass::Retryable);
        assert_eq!(conflict(CommitConflictError::ConcurrentTransaction).class(), ErrorClass::Definite);
        assert_eq!(DeltaError::NoKey { table: "t".into() }.class(), ErrorClass::Definite);
        let io = DeltaError::delta(
            "t",
            "load",
            DeltaTableError::Io { source: std::io::Error::from(std::io::ErrorKind::ConnectionReset) },
        );
        assert_eq!(io.class(), ErrorClass::Retryable);
    }

    #[test]
    fn type_change_message_names_table_column_and_fix() {
        let e = DeltaError::TypeChange {
            table: "pg.public.t".into(),
            location: "/lake/t".into(),
            column: "n".into(),
            table_type: "Int32".into(),
            source_type: "Int64".into(),
        };
        let text = e.to_string();
        assert!(text.contains("pg.public.t") && text.contains("'n'") && text.contains("Rewrite the table"));
    }
}
