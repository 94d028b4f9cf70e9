//! `sluice run`: the long-running service. For now: the embedded schema registry and the
//! connectors given on the command line: PostgreSQL sources publishing to Kafka, or, with no Kafka
//! configured, replicating straight into Delta tables (the direct path); and Delta sinks reading
//! Debezium topics from Kafka.
//!
//! Storage follows Kafka Connect's two worker modes. Standalone (no Kafka configured, the embedded
//! default, or `offset.storage.file.filename` set): the registry's log and the connectors' offsets
//! live in files under the data directory. Distributed (a worker config naming
//! `bootstrap.servers` and no offsets file): they live in compacted topics (`_schemas` and
//! `offset.storage.topic`), so several sluice processes share one registry and offsets survive the
//! loss of a machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_delta::direct::DirectConfig;
use sluice_delta::sink::{DELTA_SINK_CONNECTOR_CLASS, SinkConfig};
use sluice_kafka::config::KafkaConfig;
use sluice_kafka::offsets::{FileOffsetStore, KafkaOffsetStore, OffsetStore};
use sluice_kafka::publisher::{self, PublisherConfig, PublisherStatus};
use sluice_kafka::schema_log::KafkaSchemaLog;
use sluice_registry::SchemaLog;
use sluice_registry::file_log::FileLog;
use sluice_registry::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::connector_file;
use crate::offsets::OffsetStore as PositionFile;

/// Worker properties sluice itself reads (Kafka Connect names); the rest configure Kafka clients.
const OFFSET_FLUSH_INTERVAL: &str = "offset.flush.interval.ms";
/// sluice's default offset flush interval: Kafka Connect's is 60 s, which bounds the duplicates a
/// crash re-sends; one second keeps that window small at negligible cost.
const DEFAULT_OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Options of `sluice run`.
#[derive(Debug)]
pub(crate) struct RunOptions {
    pub(crate) data_dir: PathBuf,
    pub(crate) worker: Option<PathBuf>,
    pub(crate) worker_overrides: Vec<String>,
    pub(crate) connectors: Vec<PathBuf>,
    pub(crate) registry_listen: String,
    pub(crate) duration: Option<Duration>,
}

/// Runs until interrupted, `duration` elapses, or every connector has failed definitely.
pub(crate) async fn run(options: RunOptions) -> Result<()> {
    let mut worker = match &options.worker {
        Some(path) => connector_file::load(path, &options.worker_overrides)?,
        None => connector_file::apply_overrides(BTreeMap::new(), &options.worker_overrides)?,
    };
    let flush_interval = match worker.remove(OFFSET_FLUSH_INTERVAL) {
        Some(v) => Duration::from_millis(
            v.trim()
                .parse()
                .with_context(|| format!("worker property {OFFSET_FLUSH_INTERVAL}: not a number: {v}"))?,
        ),
        None => DEFAULT_OFFSET_FLUSH_INTERVAL,
    };
    let kafka = if worker.contains_key("bootstrap.servers") {
        Some(KafkaConfig::from_worker_properties(&worker)?)
    } else if worker.is_empty() {
        None
    } else {
        bail!("the worker config has no bootstrap.servers; set it to publish to Kafka")
    };
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating the data directory {}", options.data_dir.display()))?;

    let cancel = CancellationToken::new();
    crate::stream::stop_on_signal(cancel.clone(), options.duration);

    // Distributed mode keeps state in Kafka; standalone mode keeps it in files.
    let state_in_kafka = kafka.as_ref().filter(|k| k.offsets_file.is_none());
    let mut registry_task = None;
    let registry_url = if options.registry_listen == "off" {
        None
    } else {
        let log: Box<dyn SchemaLog> = match state_in_kafka {
            Some(k) => Box::new(KafkaSchemaLog::open(k).await?),
            None => Box::new(FileLog::open(options.data_dir.join("schemas.jsonl"))?),
        };
        let registry = Registry::open(log).await?;
        let listener = tokio::net::TcpListener::bind(&options.registry_listen)
            .await
            .with_context(|| format!("binding the schema registry to {}", options.registry_listen))?;
        let addr = listener.local_addr()?;
        tracing::info!("schema registry at http://{addr}");
        let c = cancel.clone();
        registry_task = Some(sluice_core::task::spawn_named("schema-registry", async move {
            sluice_registry::server::serve(listener, registry, c).await.context("schema registry server")
        }));
        Some(format!("http://{addr}"))
    };

    let offsets: Arc<dyn OffsetStore> =
        match (state_in_kafka, kafka.as_ref().and_then(|k| k.offsets_file.as_ref())) {
            (Some(k), _) => Arc::new(KafkaOffsetStore::open(k).await?),
            (None, Some(file)) => Arc::new(FileOffsetStore::new(file)),
            (None, None) => Arc::new(FileOffsetStore::new(options.data_dir.join("offsets.json"))),
        };
    let mut tasks = Vec::new();
    for path in &options.connectors {
        let props = connector_file::load(path, &[])?;
        if props.get("connector.class").map(|c| c.trim()) == Some(DELTA_SINK_CONNECTOR_CLASS) {
            let kafka = kafka.clone().with_context(|| {
                format!(
                    "connector config {}: the Delta sink reads Kafka topics; give a worker config with \
                     bootstrap.servers (--worker)",
                    path.display()
                )
            })?;
            let config = SinkConfig::from_properties(&props, registry_url.as_deref())
                .with_context(|| format!("connector config {}", path.display()))?;
            let name = config.name.clone();
            let c = cancel.child_token();
            tasks.push(sluice_core::task::spawn_named(format!("connector:{name}"), async move {
                sluice_delta::sink::run(config, kafka, c).await.with_context(|| format!("connector '{name}'"))
            }));
            continue;
        }
        let Some(kafka) = kafka.clone() else {
            // No Kafka: the embedded default replicates straight into Delta tables.
            let config = DirectConfig::from_properties(&props)
                .with_context(|| format!("connector config {}", path.display()))?;
            let name = config.name.clone();
            let positions =
                PositionFile::new(&options.data_dir.join("positions").join(format!("{name}.json")));
            let c = cancel.child_token();
            tasks.push(sluice_core::task::spawn_named(format!("connector:{name}"), async move {
                sluice_delta::direct::run(config, &positions, c)
                    .await
                    .with_context(|| format!("connector '{name}'"))
            }));
            continue;
        };
        let config = PublisherConfig::from_properties(&props)
            .with_context(|| format!("connector config {}", path.display()))?;
        let name = config.name.clone();
        let run = publisher::run(
            config,
            kafka,
            Arc::clone(&offsets),
            registry_url.clone(),
            flush_interval,
            PublisherStatus::default(),
            cancel.child_token(),
        );
        tasks.push(sluice_core::task::spawn_named(format!("connector:{name}"), async move {
            run.await.with_context(|| format!("connector '{name}'"))
        }));
    }
    if tasks.is_empty() && registry_task.is_none() {
        bail!("nothing to run: no connectors given and the registry is off");
    }
    let mut first_error = None;
    // Connectors end on cancellation or a definite failure; once all have ended, so does the
    // service (a supervisor then sees the exit code). With no connectors, the registry alone
    // runs until cancelled.
    let only_registry = tasks.is_empty();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("{e:#}");
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(anyhow::anyhow!("a task panicked: {join}"));
            }
        }
    }
    if !only_registry {
        cancel.cancel();
    }
    if let Some(task) = registry_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(anyhow::anyhow!("the registry task panicked: {join}"));
            }
        }
    }
    cancel.cancel();
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
