//! Confluent-compatible schema registry: a client for any registry, and the embedded server.

pub mod error;
pub mod log;

pub use error::RegistryError;
pub use log::{LogRecord, SchemaLog};
