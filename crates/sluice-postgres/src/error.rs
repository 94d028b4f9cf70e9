//! The Postgres source's error type, classified for supervisors.
//!
//! Messages follow PostgreSQL's style: a lowercase primary message naming what failed, and, where
//! the user can act, what to do. No message ever contains a password or a row's values.

use sluice_core::ErrorClass;

use crate::pgoutput::DecodeError;
use crate::value::ValueError;

/// An error reported by the server (an `ErrorResponse`), with the fields users need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Severity (`ERROR`, `FATAL`, `PANIC`).
    pub severity: String,
    /// The SQLSTATE code, e.g. `55006`.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// Optional detail.
    pub detail: Option<String>,
    /// Optional hint.
    pub hint: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " (detail: {d})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the Postgres source.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// A configuration property is missing or invalid.
    #[error("invalid connector property '{property}': {message}")]
    Config {
        /// The Debezium property name.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The network connection failed or broke.
    #[error("connection to {endpoint} failed: {source}")]
    Io {
        /// `host:port`.
        endpoint: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up or the server's certificate was rejected.
    #[error("TLS with {endpoint} failed: {message}")]
    Tls {
        /// `host:port`.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// Authentication failed or uses a method sluice does not support.
    #[error("authentication as user '{user}' failed: {message}")]
    Auth {
        /// The database user.
        user: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with an error.
    #[error("{context}: {error}")]
    Server {
        /// What sluice was doing.
        context: String,
        /// The server's error (boxed: it is large and errors travel in `Result`s).
        error: Box<ServerError>,
    },
    /// An ordinary (tokio-postgres) query failed.
    #[error("{context}: {source}")]
    Query {
        /// What sluice was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server sent something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A pgoutput message could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A column value could not be decoded.
    #[error("table {table}, column {column}: {source}")]
    Value {
        /// `schema.table`.
        table: String,
        /// The column name.
        column: String,
        /// What is wrong.
        #[source]
        source: ValueError,
    },
    /// The server is not configured for logical replication.
    #[error(
        "wal_level is '{actual}' but logical replication needs 'logical': set wal_level = logical in \
         postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL"
    )]
    WalLevel {
        /// The server's current `wal_level`.
        actual: String,
    },
    /// The user may not replicate.
    #[error(
        "user '{user}' lacks the REPLICATION privilege: run ALTER ROLE {user} WITH REPLICATION \
         (or use a superuser / a role granted rds_replication on RDS)"
    )]
    NoReplicationPrivilege {
        /// The database user.
        user: String,
    },
    /// Another process is using the replication slot.
    #[error(
        "replication slot '{slot}' is active for PID {pid}: another connector or client is reading it; \
         stop that client, or give this connector its own slot.name"
    )]
    SlotActive {
        /// The slot name.
        slot: String,
        /// The backend PID holding it.
        pid: i32,
    },
    /// The slot was invalidated: the WAL it needed has been removed.
    #[error(
        "replication slot '{slot}' was invalidated (wal_status = lost): the changes it still needed have \
         been removed from the server, so continuing would silently lose data. Drop the slot \
         (SELECT pg_drop_replication_slot('{slot}')) and start again with a new snapshot \
         (snapshot.mode=initial or always); consider raising max_slot_wal_keep_size"
    )]
    SlotLost {
        /// The slot name.
        slot: String,
    },
    /// The stored offset says streaming had started, but the slot is gone with the changes since.
    #[error(
        "replication slot '{slot}' does not exist, but the stored offset says this connector had streamed \
         up to {lsn}: the changes since then cannot be recovered. To start over with a new snapshot, \
         delete the connector's offsets or use snapshot.mode=when_needed (or always)"
    )]
    SlotMissing {
        /// The slot name.
        slot: String,
        /// The stored position.
        lsn: sluice_core::Lsn,
    },
    /// The slot exists but belongs to another plugin or database.
    #[error("replication slot '{slot}' cannot be used: {message}")]
    SlotMismatch {
        /// The slot name.
        slot: String,
        /// What does not match.
        message: String,
    },
    /// The configuration asks for something the state of the database does not allow.
    #[error("{0}")]
    Precondition(String),
    /// A streamed transaction could not be spilled to or read back from disk.
    #[error("spill file for a streamed transaction: {0}")]
    Spill(#[source] std::io::Error),
    /// The consumer of the event stream went away.
    #[error("the event stream was closed by its consumer")]
    Closed,
}

impl From<sluice_core::properties::PropertyError> for PostgresError {
    fn from(e: sluice_core::properties::PropertyError) -> Self {
        PostgresError::Config { property: e.property, message: e.message }
    }
}

impl PostgresError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            PostgresError::Io { .. } | PostgresError::Spill(_) => ErrorClass::Retryable,
            PostgresError::SlotActive { .. } => ErrorClass::Retryable,
            PostgresError::Server { error, .. } => classify_sqlstate(&error.code),
            PostgresError::Query { source, .. } => match source.code() {
                Some(code) => classify_sqlstate(code.code()),
                // No SQLSTATE: the connection itself failed.
                None => ErrorClass::Retryable,
            },
            _ => ErrorClass::Definite,
        }
    }

    /// Wraps a server error with what sluice was doing.
    pub fn server(context: impl Into<String>, error: ServerError) -> Self {
        PostgresError::Server { context: context.into(), error: Box::new(error) }
    }

    /// Wraps a tokio-postgres error with what sluice was doing.
    pub fn query(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let context = context.into();
        move |source| PostgresError::Query { context, source }
    }

    /// Wraps a value decoding error with the table and column it happened in. The names are
    /// formatted only when a value fails: this sits on the per-value path.
    pub fn value<'a>(
        table: &'a sluice_core::TableSchema,
        column: &'a sluice_core::Column,
    ) -> impl FnOnce(ValueError) -> Self + 'a {
        move |source| PostgresError::Value {
            table: table.id.to_string(),
            column: column.name.to_string(),
            source,
        }
    }

    /// A configuration error naming the property.
    pub fn config(property: impl Into<String>, message: impl Into<String>) -> Self {
        PostgresError::Config { property: property.into(), message: message.into() }
    }
}

/// Classes 08 (connection), 53 (resources), 57 (operator intervention: shutdown, cancel), 40
/// (serialization) and 55006 (object in use) may clear up; everything else needs a change.
fn classify_sqlstate(code: &str) -> ErrorClass {
    match code.get(..2) {
        Some("08" | "53" | "57" | "40" | "58") => ErrorClass::Retryable,
        _ if code == "55006" => ErrorClass::Retryable,
        _ => ErrorClass::Definite,
    }
}
