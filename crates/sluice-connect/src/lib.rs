//! The sluice service runtime, shaped like Kafka Connect: a worker ([`worker`]) runs connectors
//! under a herder ([`herder`]) that keeps each one's lifecycle (UNASSIGNED, RUNNING, PAUSED,
//! STOPPED, FAILED) isolated from the others, stores configs and target states durably
//! ([`store`]), resolves secrets through config providers ([`provider`]), and serves Kafka
//! Connect's REST API ([`rest`]) and an admin endpoint with lag, Prometheus metrics and probes
//! ([`admin`]) over plain or TLS listeners with optional authentication ([`listener`]).
//!
//! The pipelines themselves live in the layers below: `sluice-kafka` (PostgreSQL to Kafka) and
//! `sluice-delta` (the direct path and the Delta sink); [`connector`] is the one place that maps
//! a connector config to the pipeline that runs it.

pub mod admin;
pub mod connector;
pub mod error;
pub mod herder;
pub mod listener;
pub mod plugin;
pub mod position;
pub mod provider;
pub mod rest;
pub mod state;
pub mod store;
pub mod worker;

pub use error::ConnectError;
pub use herder::Herder;
pub use worker::{Bound, WorkerOptions};
