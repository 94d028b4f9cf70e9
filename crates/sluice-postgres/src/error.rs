//! The Postgres source's error type.

use sluice_core::ErrorClass;

/// Everything that can go wrong in the Postgres source.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// Placeholder variant.
    #[error("{0}")]
    Other(String),
}

impl PostgresError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Definite
    }
}
