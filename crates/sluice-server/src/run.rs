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
#[derive(Debug, clap::Args)]
pub(crate) struct RunOptions {
    /// Where the embedded default keeps connector configs, offsets, positions and the registry log.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    data_dir: PathBuf,
    /// A Kafka Connect worker config (`.properties` or JSON): `bootstrap.servers`,
    /// `offset.storage.topic`, `config.storage.topic`, `config.providers`, security settings,
    /// `sluice.http.*`. Environment variables `SLUICE_WORKER_<NAME>` add properties
    /// (`SLUICE_WORKER_BOOTSTRAP_SERVERS`), flags override both.
    #[arg(long, env = "SLUICE_WORKER_CONFIG")]
    worker: Option<PathBuf>,
    /// Override or add a worker property, `key=value` (repeatable).
    #[arg(long = "worker-set", value_name = "KEY=VALUE")]
    worker_overrides: Vec<String>,
    /// A connector config file to create (or update) at start (repeatable).
    #[arg(long = "connector", value_name = "FILE")]
    connectors: Vec<PathBuf>,
    /// Where the Kafka Connect REST API listens; `off` to run the given connectors without it
    /// (then sluice exits once they have all ended).
    #[arg(long, env = "SLUICE_REST_LISTEN", default_value = "127.0.0.1:8083")]
    rest_listen: String,
    /// Where the admin endpoint listens; `off` to not serve it.
    #[arg(long, env = "SLUICE_ADMIN_LISTEN", default_value = "127.0.0.1:8084")]
    admin_listen: String,
    /// Where the embedded schema registry listens; `off` to not serve one.
    #[arg(long, env = "SLUICE_REGISTRY_LISTEN", default_value = "127.0.0.1:8081")]
    registry_listen: String,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds connectors get on shutdown (SIGTERM) to flush and confirm before they are aborted.
    #[arg(long, env = "SLUICE_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    shutdown_timeout: u64,
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
    crate::stream::stop_on_signal(cancel.clone(), options.duration.map(Duration::from_secs));
    let options = WorkerOptions {
        data_dir: options.data_dir,
        worker,
        rest_listen: listen(&options.rest_listen),
        admin_listen: listen(&options.admin_listen),
        registry_listen: listen(&options.registry_listen),
        connectors,
        stop_timeout: Duration::from_secs(options.shutdown_timeout),
    };
    worker::run(options, cancel, |_, _| {}).await.context("sluice run")
}
