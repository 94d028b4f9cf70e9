//! Decoding PostgreSQL datums (text and binary forms) into typed values.

/// Placeholder until value decoding lands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value decode error")]
pub struct ValueError;
