//! `sluice run` as a service, driven over HTTP like an operator would: the Kafka Connect REST API,
//! the admin endpoint, durable connector state across restarts, failure isolation between
//! connectors, config providers and secret masking, clean shutdown on SIGTERM, and TLS with
//! authentication on the listeners.
//!
//! Every test starts its own `sluice run` (no Kafka: source connectors replicate straight into
//! Delta tables) with both listeners on ephemeral ports, learned from its log, against its own
//! database in the private PostgreSQL cluster of this test process. Delta tables are read back by
//! Python deltalake (and DuckDB when installed), not by sluice.

mod admin;
mod eventually;
mod isolation;
mod lake;
mod lifecycle;
mod restart;
mod secrets;
mod security;
mod server;
mod shutdown;
mod source;
