//! A sluice worker: the schema registry, the stores, the herder and the HTTP listeners, started
//! together and stopped together.
//!
//! Storage follows Kafka Connect's two worker modes. Standalone (no Kafka, the embedded default,
//! or `offset.storage.file.filename` set): the registry log, connector configs and offsets live
//! in files under the data directory. Distributed (a worker config naming `bootstrap.servers` and
//! no offsets file): they live in compacted topics (`_schemas`, `config.storage.topic`,
//! `offset.storage.topic`), so they survive the loss of the machine and every worker pointed at
//! the cluster sees the same connectors.
//!
//! With the REST listener on, the worker is a service: it runs until told to stop, and a failed
//! connector stays FAILED (with its trace in `/status`) until restarted over REST. With the REST
//! listener off, nobody could restart a failed connector, so the worker ends once every connector
//! has ended and reports the first failure, for a supervisor to act on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice_kafka::offsets::{FileOffsetStore, KafkaOffsetStore, OffsetStore};
use sluice_kafka::schema_log::KafkaSchemaLog;
use sluice_kafka::{ConfigTopic, KafkaConfig};
use sluice_registry::SchemaLog;
use sluice_registry::file_log::FileLog;
use sluice_registry::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::connector::WorkerContext;
use crate::error::ConnectError;
use crate::herder::Herder;
use crate::listener::{self, HttpSecurity};
use crate::provider::ConfigProviders;
use crate::state::State;
use crate::store::{ConfigStore, FileConfigStore, KafkaConfigStore};

/// Kafka Connect's offset flush interval property.
const OFFSET_FLUSH_INTERVAL: &str = "offset.flush.interval.ms";
/// sluice's default: Kafka Connect's 60 s bounds the duplicates a crash re-sends; one second keeps
/// that window small at negligible cost.
const DEFAULT_OFFSET_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Kafka Connect's default config topic name when a distributed worker names none.
const DEFAULT_CONFIG_TOPIC: &str = "connect-configs";

/// How to run a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Where files live (registry log, connector configs, offsets, positions).
    pub data_dir: PathBuf,
    /// Worker properties (Kafka Connect's names plus `sluice.http.*`), references unresolved.
    pub worker: BTreeMap<String, String>,
    /// Where the Kafka Connect REST API listens (`None`: not served).
    pub rest_listen: Option<String>,
    /// Where the admin endpoint listens (`None`: not served).
    pub admin_listen: Option<String>,
    /// Where the embedded schema registry listens (`None`: not served).
    pub registry_listen: Option<String>,
    /// Connector configs to create, or update, at start (`--connector` files).
    pub connectors: Vec<BTreeMap<String, String>>,
    /// How long stopping connectors may take to flush and confirm.
    pub stop_timeout: Duration,
}

/// The addresses the worker's listeners bound (useful with port 0).
#[derive(Debug, Clone, Default)]
pub struct Bound {
    /// The REST API's base URL.
    pub rest: Option<String>,
    /// The admin endpoint's base URL.
    pub admin: Option<String>,
    /// The registry's base URL.
    pub registry: Option<String>,
}

/// Runs a worker until `cancel` fires (or, without REST, until its connectors have ended);
/// `on_bound` learns the listeners' addresses once they are bound.
pub async fn run(
    options: WorkerOptions,
    cancel: CancellationToken,
    on_bound: impl FnOnce(&Bound, &Herder),
) -> Result<(), ConnectError> {
    let providers = ConfigProviders::from_worker(&options.worker)?;
    let resolved = providers.resolve(&options.worker)?;
    let security = HttpSecurity::from_worker(&resolved)?;
    let mut kafka_props: BTreeMap<String, String> = resolved
        .iter()
        .filter(|(k, _)| !k.starts_with("sluice."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let flush_interval = match kafka_props.remove(OFFSET_FLUSH_INTERVAL) {
        Some(v) => Duration::from_millis(v.trim().parse().map_err(|_| {
            ConnectError::BadRequest(format!(
                "worker property {OFFSET_FLUSH_INTERVAL}: '{v}' is not a number of milliseconds"
            ))
        })?),
        None => DEFAULT_OFFSET_FLUSH_INTERVAL,
    };
    let config_topic =
        kafka_props.get("config.storage.topic").cloned().unwrap_or_else(|| DEFAULT_CONFIG_TOPIC.to_owned());
    let config_replication = match kafka_props.get("config.storage.replication.factor") {
        Some(v) => v.trim().parse::<i32>().map_err(|_| {
            ConnectError::BadRequest(format!(
                "worker property config.storage.replication.factor: '{v}' is not a number"
            ))
        })?,
        None => -1,
    };
    let unresolved_kafka_keys = kafka_props.keys().filter(|k| k.starts_with("config.providers")).count();
    let kafka = if kafka_props.contains_key("bootstrap.servers") {
        Some(
            KafkaConfig::from_worker_properties(&kafka_props)
                .map_err(|e| ConnectError::BadRequest(e.to_string()))?,
        )
    } else if kafka_props.len() == unresolved_kafka_keys {
        None
    } else {
        return Err(ConnectError::BadRequest(
            "the worker config has no bootstrap.servers; set it to use Kafka, or remove the Kafka properties"
                .to_owned(),
        ));
    };
    std::fs::create_dir_all(&options.data_dir).map_err(|e| {
        ConnectError::Store(format!("creating the data directory {}: {e}", options.data_dir.display()))
    })?;
    let store_err = |e: sluice_kafka::KafkaError| ConnectError::Store(e.to_string());

    // Distributed mode keeps state in Kafka; standalone mode in files.
    let state_in_kafka = kafka.as_ref().filter(|k| k.offsets_file.is_none());
    let mut background = Vec::new();
    let mut bound = Bound::default();
    if let Some(addr) = &options.registry_listen {
        let log: Box<dyn SchemaLog> = match state_in_kafka {
            Some(k) => Box::new(KafkaSchemaLog::open(k).await.map_err(store_err)?),
            None => Box::new(
                FileLog::open(options.data_dir.join("schemas.jsonl"))
                    .map_err(|e| ConnectError::Store(e.to_string()))?,
            ),
        };
        let registry = Registry::open(log).await.map_err(|e| ConnectError::Store(e.to_string()))?;
        let listener = bind(addr, "the schema registry").await?;
        let url =
            format!("http://{}", listener.local_addr().map_err(|e| ConnectError::Internal(e.to_string()))?);
        tracing::info!("schema registry at {url}");
        bound.registry = Some(url);
        let c = cancel.clone();
        background.push(sluice_core::task::spawn_named("schema-registry", async move {
            sluice_registry::server::serve(listener, registry, c).await
        }));
    }
    let offsets: Arc<dyn OffsetStore> =
        match (state_in_kafka, kafka.as_ref().and_then(|k| k.offsets_file.as_ref())) {
            (Some(k), _) => Arc::new(KafkaOffsetStore::open(k).await.map_err(store_err)?),
            (None, Some(file)) => Arc::new(FileOffsetStore::new(file)),
            (None, None) => Arc::new(FileOffsetStore::new(options.data_dir.join("offsets.json"))),
        };
    let store: Arc<dyn ConfigStore> = match state_in_kafka {
        Some(k) => Arc::new(KafkaConfigStore::new(
            ConfigTopic::open(k, &config_topic, config_replication).await.map_err(store_err)?,
        )),
        None => Arc::new(FileConfigStore::new(options.data_dir.join("connectors.json"))),
    };

    let rest_listener = match &options.rest_listen {
        Some(addr) => Some(bind(addr, "the REST API").await?),
        None => None,
    };
    let worker_id = rest_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or_else(|| "sluice".to_owned(), |a| a.to_string());
    let ctx = WorkerContext {
        worker_id,
        data_dir: options.data_dir.clone(),
        kafka,
        offsets,
        registry_url: bound.registry.clone(),
        flush_interval,
        providers,
    };
    let herder = Herder::open(ctx, store, options.stop_timeout).await?;
    for config in &options.connectors {
        let name = config.get("name").cloned().unwrap_or_default();
        herder.put(&name, config.clone(), false, None).await.map_err(|e| match e {
            ConnectError::BadRequest(m) => ConnectError::BadRequest(format!("connector '{name}': {m}")),
            other => other,
        })?;
    }

    if let Some(listener) = rest_listener {
        let url = format!(
            "{}://{}",
            security.scheme(),
            listener.local_addr().map_err(|e| ConnectError::Internal(e.to_string()))?
        );
        tracing::info!("Kafka Connect REST API at {url}");
        bound.rest = Some(url);
        let router = crate::rest::router(herder.clone())
            .route("/health", axum::routing::get(crate::admin::health).with_state(herder.clone()));
        let (s, c) = (security.clone(), cancel.clone());
        background.push(sluice_core::task::spawn_named("rest-api", listener::serve(listener, router, s, c)));
    }
    if let Some(addr) = &options.admin_listen {
        let listener = bind(addr, "the admin endpoint").await?;
        let url = format!(
            "{}://{}",
            security.scheme(),
            listener.local_addr().map_err(|e| ConnectError::Internal(e.to_string()))?
        );
        tracing::info!("admin endpoint at {url} (/lag, /metrics, /health, /ready)");
        bound.admin = Some(url);
        let (s, c) = (security.clone(), cancel.clone());
        background.push(sluice_core::task::spawn_named(
            "admin",
            listener::serve(listener, crate::admin::router(herder.clone()), s, c),
        ));
    }
    on_bound(&bound, &herder);

    let mut failure = None;
    if options.rest_listen.is_some() {
        cancel.cancelled().await;
    } else {
        // Batch mode: until cancelled or every connector has ended.
        if herder.connectors().is_empty()
            && options.registry_listen.is_none()
            && options.admin_listen.is_none()
        {
            return Err(ConnectError::BadRequest(
                "nothing to run: no connectors, and every listener is off".to_owned(),
            ));
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            let views = herder.views();
            if views.is_empty() {
                continue;
            }
            let ended: Vec<_> = views
                .iter()
                .map(|v| (v, v.status.tasks.first().map_or(v.status.connector.state, |t| t.state)))
                .collect();
            if ended.iter().all(|(_, s)| *s == State::Failed) {
                failure = ended.iter().find_map(|(v, _)| {
                    let trace = v.status.tasks.first().and_then(|t| t.trace.clone()).or(v
                        .status
                        .connector
                        .trace
                        .clone());
                    Some(format!("connector '{}': {}", v.name, trace?))
                });
                break;
            }
        }
    }
    tracing::info!("stopping: flushing and confirming every connector");
    herder.shutdown().await;
    cancel.cancel();
    for task in background {
        if let Ok(Err(e)) = task.await {
            tracing::warn!("listener ended with an error: {e}");
        }
    }
    match failure {
        Some(f) => Err(ConnectError::Internal(f)),
        None => Ok(()),
    }
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener, ConnectError> {
    TcpListener::bind(addr).await.map_err(|e| {
        ConnectError::BadRequest(format!("binding {what} to {addr}: {e} (choose another address, or `off`)"))
    })
}
