//! sluice's own schema registry, served in the bench process for every system that writes Avro
//! (sluice and Debezium's AvroConverter alike), so the registry is shared infrastructure and not
//! part of any system's measured CPU or memory.

use anyhow::Result;
use sluice_registry::file_log::FileLog;
use sluice_registry::registry::Registry;
use tokio_util::sync::CancellationToken;

/// A running registry; stopped when dropped.
#[derive(Debug)]
pub(crate) struct BenchRegistry {
    url: String,
    cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

impl BenchRegistry {
    /// Serves a fresh registry (its log in a temporary file) on a free loopback port.
    pub(crate) async fn start() -> Result<BenchRegistry> {
        let dir = tempfile::Builder::new().prefix("sluice-bench-registry-").tempdir()?;
        let log = FileLog::open(dir.path().join("schemas.jsonl"))?;
        let registry = Registry::open(Box::new(log)).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        sluice_core::task::spawn_named("bench-schema-registry", async move {
            if let Err(e) = sluice_registry::server::serve(listener, registry, stop).await {
                tracing::warn!("the benchmark's schema registry stopped: {e}");
            }
        });
        Ok(BenchRegistry { url, cancel, _dir: dir })
    }

    /// Its base URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for BenchRegistry {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
