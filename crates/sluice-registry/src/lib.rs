//! Confluent-compatible schema registry: a client for any registry, and the embedded server.

pub mod client;
pub mod client_config;
pub mod compatibility;
pub mod error;
pub mod file_log;
pub mod log;
pub mod registry;
pub mod schema;
pub mod server;
pub mod state;
pub mod strategy;

pub use client::{RegisteredSchema, RegistryClient};
pub use client_config::RegistryClientConfig;
pub use error::RegistryError;
pub use file_log::FileLog;
pub use log::{LogRecord, SchemaLog};
pub use registry::Registry;
pub use strategy::SubjectNameStrategy;
