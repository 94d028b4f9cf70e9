//! Integration tests of the Postgres source against a real PostgreSQL cluster.

mod connection;
mod harness_smoke;
mod values;
