//! What a worker knows how to do with each kind of connector: parse its config, run it, and read
//! or change its offsets.
//!
//! A Debezium PostgreSQL config runs as the Kafka publisher when the worker has Kafka, and as the
//! direct path into Delta tables otherwise (the embedded default). A Delta sink config needs Kafka.
//! Configs reach this module with provider references resolved; errors returned from here carry
//! no resolved secret.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sluice_core::metrics::ConnectorMetrics;
use sluice_debezium::offset::{SourceOffset, source_partition};
use sluice_delta::direct::DirectConfig;
use sluice_delta::sink::SinkConfig;
use sluice_kafka::KafkaConfig;
use sluice_kafka::offsets::{OffsetStore, connect_offset_key};
use sluice_kafka::publisher::{self, PublisherConfig, PublisherStatus};
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::reader::StoredOffset;
use tokio_util::sync::CancellationToken;

use crate::error::ConnectError;
use crate::plugin::{self, ConfigInfos, FieldError, PluginInfo};
use crate::position::PositionFile;
use crate::provider::{self, ConfigProviders};
use crate::state::{ConnectorOffset, ConnectorType};

/// What every connector on this worker shares.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// This worker's id in status responses (`host:port` of its REST listener).
    pub worker_id: String,
    /// Where position files live (`<data dir>/positions/<connector>.json`).
    pub data_dir: PathBuf,
    /// Kafka, when the worker config names `bootstrap.servers`.
    pub kafka: Option<KafkaConfig>,
    /// Kafka Connect source offsets (file or topic), for the Kafka publisher.
    pub offsets: Arc<dyn OffsetStore>,
    /// The registry a converter without a URL uses (the embedded one), if served.
    pub registry_url: Option<String>,
    /// `offset.flush.interval.ms`.
    pub flush_interval: Duration,
    /// Config providers for `${provider:...}` references.
    pub providers: ConfigProviders,
}

/// A parsed connector config, ready to run.
#[derive(Debug, Clone)]
pub enum Runnable {
    /// PostgreSQL → Kafka.
    Publisher(Box<PublisherConfig>),
    /// PostgreSQL → Delta, no Kafka.
    Direct(Box<DirectConfig>),
    /// Kafka → Delta.
    Sink(Box<SinkConfig>),
}

impl Runnable {
    /// The PostgreSQL side, for sources.
    pub fn postgres(&self) -> Option<&PostgresSourceConfig> {
        match self {
            Runnable::Publisher(c) => Some(&c.postgres),
            Runnable::Direct(c) => Some(&c.postgres),
            Runnable::Sink(_) => None,
        }
    }

    /// Which path runs it, for `/lag` and logs.
    pub fn path(&self) -> &'static str {
        match self {
            Runnable::Publisher(_) => "postgres-to-kafka",
            Runnable::Direct(_) => "postgres-to-delta",
            Runnable::Sink(_) => "kafka-to-delta",
        }
    }
}

impl WorkerContext {
    /// The plugin a config names in `connector.class`.
    pub fn plugin_of(&self, config: &BTreeMap<String, String>) -> Result<PluginInfo, ConnectError> {
        let class =
            config.get("connector.class").map(|c| c.trim()).filter(|c| !c.is_empty()).ok_or_else(|| {
                ConnectError::BadRequest(
                    "Connector config is missing connector.class; set it to \
                 io.debezium.connector.postgresql.PostgresConnector or \
                 io.sluice.connect.delta.DeltaSinkConnector"
                        .to_owned(),
                )
            })?;
        plugin::find(class).ok_or_else(|| {
            let known: Vec<&str> = plugin::PLUGINS.iter().map(|p| p.class).collect();
            ConnectError::BadRequest(format!(
                "Failed to find any class that implements Connector and which name matches {class}, available \
                 connectors are: {}",
                known.join(", ")
            ))
        })
    }

    /// Resolves provider references and parses the config for `plugin`.
    pub fn parse(
        &self,
        plugin: &PluginInfo,
        config: &BTreeMap<String, String>,
    ) -> Result<Runnable, FieldError> {
        let mut resolved = self
            .providers
            .resolve(config)
            .map_err(|e| FieldError { message: e.to_string(), property: Some(e.property) })?;
        // Aliases become the class name the config parsers know.
        resolved.insert("connector.class".to_owned(), plugin.class.to_owned());
        self.parse_resolved(plugin, &resolved)
    }

    fn parse_resolved(
        &self,
        plugin: &PluginInfo,
        resolved: &BTreeMap<String, String>,
    ) -> Result<Runnable, FieldError> {
        match (plugin.kind, &self.kafka) {
            (ConnectorType::Source, Some(_)) => PublisherConfig::from_properties(resolved)
                .map(|c| Runnable::Publisher(Box::new(c)))
                .map_err(|e| plugin::kafka_field(&e)),
            (ConnectorType::Source, None) => DirectConfig::from_properties(resolved)
                .map(|c| Runnable::Direct(Box::new(c)))
                .map_err(|e| plugin::delta_field(&e)),
            (ConnectorType::Sink, Some(_)) => {
                SinkConfig::from_properties(resolved, self.registry_url.as_deref())
                    .map(|c| Runnable::Sink(Box::new(c)))
                    .map_err(|e| plugin::delta_field(&e))
            }
            (ConnectorType::Sink, None) => Err(FieldError {
                property: Some("connector.class".to_owned()),
                message:
                    "the Delta sink reads Kafka topics, and this worker has no Kafka: start sluice with a \
                          worker config naming bootstrap.servers"
                        .to_owned(),
            }),
        }
    }

    /// Kafka Connect's validate answer: every error in `config`, with secrets masked.
    pub fn validate(&self, plugin: &PluginInfo, config: &BTreeMap<String, String>) -> ConfigInfos {
        let errors = plugin::collect_errors(config, |c| self.parse(plugin, c).map(|_| ()));
        plugin::config_infos(plugin, &provider::mask(config), &errors)
    }

    /// Starts a parsed connector; the future ends on cancellation (after flushing and confirming)
    /// or with the failure that stopped it, as a trace with secrets scrubbed.
    pub fn start(
        &self,
        runnable: Runnable,
        secrets: Vec<String>,
        metrics: Arc<ConnectorMetrics>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, Result<(), String>> {
        let ctx = self.clone();
        async move {
            let outcome: Result<(), String> = match runnable {
                Runnable::Publisher(config) => {
                    let kafka = ctx.kafka.clone().ok_or("no Kafka configured")?;
                    publisher::run(
                        *config,
                        kafka,
                        Arc::clone(&ctx.offsets),
                        ctx.registry_url.clone(),
                        ctx.flush_interval,
                        PublisherStatus::default(),
                        metrics,
                        cancel,
                    )
                    .await
                    .map_err(|e| trace(&e))
                }
                Runnable::Direct(config) => {
                    let positions = ctx.position_file(&config.name);
                    sluice_delta::direct::run(*config, &positions, metrics, cancel)
                        .await
                        .map_err(|e| trace(&e))
                }
                Runnable::Sink(config) => {
                    let kafka = ctx.kafka.clone().ok_or("no Kafka configured")?;
                    sluice_delta::sink::run(*config, kafka, metrics, cancel).await.map_err(|e| trace(&e))
                }
            };
            outcome.map_err(|t| provider::scrub(&t, &secrets))
        }
        .boxed()
    }

    /// The direct path's position file of a connector.
    pub fn position_file(&self, name: &str) -> PositionFile {
        PositionFile::new(&self.data_dir.join("positions").join(format!("{name}.json")))
    }

    /// `GET /connectors/{name}/offsets`.
    pub async fn offsets(
        &self,
        name: &str,
        runnable: &Runnable,
    ) -> Result<Vec<ConnectorOffset>, ConnectError> {
        match runnable {
            Runnable::Publisher(c) => {
                let partition = source_partition(&c.records.topic_prefix);
                let stored = self
                    .offsets
                    .load(&connect_offset_key(name, &partition))
                    .await
                    .map_err(|e| ConnectError::Store(e.to_string()))?;
                Ok(stored.map(|offset| ConnectorOffset { partition, offset }).into_iter().collect())
            }
            Runnable::Direct(c) => {
                let partition = source_partition(&c.records.topic_prefix);
                let stored = self.position_file(name).load()?;
                Ok(stored
                    .map(|s| ConnectorOffset {
                        partition,
                        offset: SourceOffset {
                            lsn: s.lsn,
                            tx_id: None,
                            ts_usec: None,
                            snapshot_completed: s.snapshot_completed,
                        }
                        .to_json(),
                    })
                    .into_iter()
                    .collect())
            }
            Runnable::Sink(c) => {
                let kafka = self
                    .kafka
                    .as_ref()
                    .ok_or_else(|| ConnectError::Internal("no Kafka configured".into()))?;
                let stored = sluice_delta::sink::stored_offsets(c, kafka)
                    .await
                    .map_err(|e| ConnectError::Store(e.to_string()))?;
                Ok(stored
                    .into_iter()
                    .map(|(topic, partition, offset)| ConnectorOffset {
                        partition: json!({"kafka_topic": topic, "kafka_partition": partition}),
                        // Kafka Connect reports a sink's next offset to consume.
                        offset: json!({"kafka_offset": offset + 1}),
                    })
                    .collect())
            }
        }
    }

    /// `PATCH /connectors/{name}/offsets` (`None` offsets remove the partition's offset).
    pub async fn alter_offsets(
        &self,
        name: &str,
        runnable: &Runnable,
        offsets: &[ConnectorOffset],
    ) -> Result<(), ConnectError> {
        let prefix = match runnable {
            Runnable::Publisher(c) => &c.records.topic_prefix,
            Runnable::Direct(c) => &c.records.topic_prefix,
            Runnable::Sink(_) => return Err(sink_offsets_unsupported()),
        };
        let expected = source_partition(prefix);
        let mut parsed = Vec::with_capacity(offsets.len());
        for o in offsets {
            if o.partition != expected {
                return Err(ConnectError::BadRequest(format!(
                    "The source partition {} is not this connector's; a Debezium PostgreSQL connector has the one \
                     partition {expected}",
                    o.partition
                )));
            }
            let offset = match &o.offset {
                Value::Null => None,
                v => Some(SourceOffset::from_json(v).map_err(|e| {
                    ConnectError::BadRequest(format!("The offset for partition {expected} is invalid: {e}"))
                })?),
            };
            parsed.push(offset);
        }
        for offset in parsed {
            match (runnable, offset) {
                (Runnable::Publisher(_), Some(o)) => {
                    self.offsets.save(&connect_offset_key(name, &expected), &o.to_json()).await
                }
                (Runnable::Publisher(_), None) => {
                    self.offsets.remove(&connect_offset_key(name, &expected)).await
                }
                (_, Some(o)) => {
                    self.position_file(name)
                        .save(StoredOffset { lsn: o.lsn, snapshot_completed: o.snapshot_completed })?;
                    Ok(())
                }
                (_, None) => {
                    self.position_file(name).remove()?;
                    Ok(())
                }
            }
            .map_err(|e| ConnectError::Store(e.to_string()))?;
        }
        Ok(())
    }

    /// `DELETE /connectors/{name}/offsets`.
    pub async fn reset_offsets(&self, name: &str, runnable: &Runnable) -> Result<(), ConnectError> {
        match runnable {
            Runnable::Sink(_) => Err(sink_offsets_unsupported()),
            Runnable::Publisher(c) => {
                let key = connect_offset_key(name, &source_partition(&c.records.topic_prefix));
                self.offsets.remove(&key).await.map_err(|e| ConnectError::Store(e.to_string()))
            }
            Runnable::Direct(_) => self.position_file(name).remove(),
        }
    }
}

fn sink_offsets_unsupported() -> ConnectError {
    ConnectError::BadRequest(
        "The Delta sink's offsets are the txn versions committed in its Delta tables, so they cannot be altered or \
         reset here; to re-read topics from the start, delete the tables (or point sluice.delta.path elsewhere) and \
         restart the connector"
            .to_owned(),
    )
}

/// An error and its causes, one per line: what `/status` shows as the trace.
pub fn trace(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str("\nCaused by: ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
