//! The service's one error type. Each variant maps to the HTTP status Kafka Connect's REST API
//! answers for the same situation, and every response body is Kafka Connect's
//! `{"error_code", "message"}`.

use sluice_core::ErrorClass;

/// Everything a REST call or a connector operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The named connector, task or plugin does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// A connector with that name exists already (409).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request or the connector config is invalid (400); the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// The operation is disabled on this worker (403).
    #[error("{0}")]
    Forbidden(String),
    /// The operation conflicts with the connector's state (409).
    #[error("{0}")]
    Conflict(String),
    /// The durable store (file or Kafka topic) failed; the operation did not take effect (500).
    #[error("config store: {0}")]
    Store(String),
    /// An unexpected failure (500).
    #[error("{0}")]
    Internal(String),
}

impl ConnectError {
    /// The HTTP status code Kafka Connect uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            ConnectError::NotFound(_) => 404,
            ConnectError::AlreadyExists(_) | ConnectError::Conflict(_) => 409,
            ConnectError::BadRequest(_) => 400,
            ConnectError::Forbidden(_) => 403,
            ConnectError::Store(_) | ConnectError::Internal(_) => 500,
        }
    }

    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            ConnectError::Store(_) | ConnectError::Conflict(_) => ErrorClass::Retryable,
            _ => ErrorClass::Definite,
        }
    }

    /// Kafka Connect's "Connector <name> not found".
    pub fn connector_not_found(name: &str) -> Self {
        ConnectError::NotFound(format!("Connector {name} not found"))
    }
}
