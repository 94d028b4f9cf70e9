//! `sluice run`: the long-running service. Gathers the worker config (file, then environment,
//! then flags) and the connector files, and hands them to the worker in `sluice-connect`, which
//! serves the Kafka Connect REST API, the admin endpoint and the schema registry and runs the
//! connectors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_connect::worker::{self, WorkerOptions};
use tokio_util::sync::CancellationToken;

use crate::connector_file;

/// Options of `sluice run`.
#[derive(Debug)]
pub(crate) struct RunOptions {
    pub(crate) data_dir: PathBuf,
    pub(crate) worker: Option<PathBuf>,
    pub(crate) worker_overrides: Vec<String>,
    pub(crate) connectors: Vec<PathBuf>,
    pub(crate) rest_listen: String,
    pub(crate) admin_listen: String,
    pub(crate) registry_listen: String,
    pub(crate) duration: Option<Duration>,
    pub(crate) shutdown_timeout: Duration,
}

/// `off` turns a listener off.
fn listen(addr: &str) -> Option<String> {
    (addr != "off").then(|| addr.to_owned())
}

/// Runs until interrupted or `duration` elapses (or, with the REST API off, until every
/// connector has ended).
pub(crate) async fn run(options: RunOptions) -> Result<()> {
    let mut worker = match &options.worker {
        Some(path) => connector_file::load(path, &[])?,
        None => BTreeMap::new(),
    };
    worker.extend(connector_file::worker_env(std::env::vars()));
    let worker = connector_file::apply_overrides(worker, &options.worker_overrides)?;
    let mut connectors = Vec::new();
    for path in &options.connectors {
        let props = connector_file::load(path, &[])?;
        if props.get("name").is_none_or(|n| n.trim().is_empty()) {
            anyhow::bail!("connector config {}: it has no \"name\"", path.display());
        }
        connectors.push(props);
    }
    let cancel = CancellationToken::new();
    crate::stream::stop_on_signal(cancel.clone(), options.duration);
    let options = WorkerOptions {
        data_dir: options.data_dir,
        worker,
        rest_listen: listen(&options.rest_listen),
        admin_listen: listen(&options.admin_listen),
        registry_listen: listen(&options.registry_listen),
        connectors,
        stop_timeout: options.shutdown_timeout,
    };
    worker::run(options, cancel, |_, _| {}).await.context("sluice run")
}
