//! Integration tests of the Postgres source against a real PostgreSQL cluster.

mod connection;
mod failures;
mod harness_smoke;
mod lag;
mod snapshot;
mod stream_types;
mod streaming;
mod values;
