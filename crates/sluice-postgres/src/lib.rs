//! The PostgreSQL source of sluice.
//!
//! ```text
//! replication connection (replication=database, CopyBoth)      ordinary connections (tokio-postgres)
//!   │ XLogData frames, keepalives  ▲ standby status updates     │ catalog: keys, types, nullability
//!   ▼                              │ (flush = downstream acks)  │ slots, publications, snapshot reads
//! pgoutput::decode ─► relation cache ─► value decoding ─► core::SourceEvent (bounded in bytes)
//! ```
//!
//! Modules: [`replication`] speaks the wire protocol (startup, auth, TLS, replication commands,
//! CopyBoth); [`pgoutput`] decodes logical replication messages without I/O; [`value`] turns text and
//! binary datums into [`sluice_core::Value`]s; [`types`] resolves type OIDs; [`relation`] follows
//! schema changes; [`slot`], [`publication`] and [`snapshot`] implement Debezium's connector
//! properties; [`reader`] wires them into a stream of change events; [`lag`] measures a slot's lag
//! for admin endpoints.

pub mod catalog;
pub mod config;
pub mod copy;
pub mod error;
pub mod filter;
pub mod lag;
pub mod pgoutput;
pub mod publication;
pub mod reader;
pub mod relation;
pub mod replication;
pub mod sandbox;
pub mod slot;
pub mod snapshot;
pub mod spill;
pub mod types;
pub mod value;

pub use config::PostgresSourceConfig;
pub use error::PostgresError;
