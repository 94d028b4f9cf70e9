//! pgoutput logical replication messages (protocol versions 1-4), decoded without I/O.

/// Placeholder until the decoder lands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pgoutput decode error")]
pub struct DecodeError;
