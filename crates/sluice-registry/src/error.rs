//! The registry crate's error type, classified for supervisors.

use sluice_core::ErrorClass;

/// Everything that can go wrong in the registry client, server or its storage.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A registry client or server property is missing or invalid.
    #[error("invalid schema registry property '{property}': {message}")]
    Config {
        /// The property name, as the user wrote it.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The registry's durable log (file or Kafka topic) failed.
    #[error("schema registry storage failed: {message}")]
    Log {
        /// What failed.
        message: String,
        /// Whether retrying may help (a broker outage) or not (a corrupt file).
        retryable: bool,
    },
}

impl RegistryError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Config { .. } => ErrorClass::Definite,
            RegistryError::Log { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Definite
                }
            }
        }
    }
}
