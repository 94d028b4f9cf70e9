//! The streaming replication protocol client.
