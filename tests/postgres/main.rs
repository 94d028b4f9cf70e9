//! Integration tests of the Postgres source against a real PostgreSQL cluster.

mod harness_smoke;
