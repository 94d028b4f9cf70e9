//! The Delta sink connector: Debezium topics in Kafka (written by sluice or by a real Debezium,
//! Avro through a Confluent-compatible registry) → per-table collapsed batches → Delta commits.
//!
//! Exactly once per partition: every commit of a table carries, for each partition of the table's
//! topic in the batch, `txn("<connector>-<topic>-<partition>", <last offset applied>)`. On start
//! (and whenever a partition appears) the partition's version is read back from its table and
//! reading starts right after it, so whatever a crash interrupted is re-read and re-applied once.
//! The consumer group (`connect-<connector>`, Kafka Connect's name) is committed only after the
//! Delta commits, and only so that lag tools see the position: the tables are the truth.
//!
//! Order: a key always lives in one partition, so a partition's order is the source's order for
//! that key; the collapser keeps the last change per key *by arrival* (see
//! [`CollapseOptions::in_arrival_order`]). Records a producer re-sent after a crash are an ordered
//! replay of a suffix, so the table converges to the source once the replay has been read.
//! Truncates have a null key and may sit in another partition than the table's other records; on
//! a topic with several partitions a truncate is applied where the sink reads it.
//!
//! Metrics count a batch once its Delta commits are done (change records, their serialized size,
//! and the latest `source.lsn`/`source.ts_ms` read), and report every assigned partition's next
//! offset against its high watermark, fetched in the background, after each batch and every
//! second or so in between.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sluice_core::metrics::{ConnectorMetrics, PartitionProgress};
use sluice_core::properties::{Properties, closest_name};
use sluice_core::{Lsn, SourcePosition};
use sluice_debezium::connect::ConnectValue;
use sluice_debezium::record::Record;
use sluice_kafka::config::KafkaConfig;
use sluice_kafka::consumer::{ConsumedRecord, SinkConsumer, TopicSelection};
use sluice_kafka::deserializer::{AvroDeserializer, Decoded};
use sluice_registry::{RegistryClient, RegistryClientConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{ChangeCollapser, CollapseOptions, DEFAULT_PLACEHOLDER, Pushed};
use crate::destination::{DESTINATION_PROPERTIES, Destination};
use crate::error::DeltaError;
use crate::maintenance::{self, MAINTENANCE_PROPERTIES, MaintenanceConfig, MaintenanceSchedule};
use crate::table::{AppTxn, TableWriter};

/// The connector class of the Delta sink (sluice's own: there is no JVM class behind it).
pub const DELTA_SINK_CONNECTOR_CLASS: &str = "io.sluice.connect.delta.DeltaSinkConnector";

/// Confluent's Avro converter: the only record format the sink reads.
const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";

/// Kafka Connect sink properties the sink understands (or accepts with their only meaningful value).
const SINK_PROPERTIES: &[&str] = &[
    "name",
    "connector.class",
    "tasks.max",
    "topics",
    "topics.regex",
    "key.converter",
    "value.converter",
    "header.converter",
    "config.action.reload",
    "errors.tolerance",
    "errors.log.enable",
    "errors.log.include.messages",
    "errors.retry.timeout",
    "errors.retry.delay.max.ms",
    "transforms",
    "predicates",
    "unavailable.value.placeholder",
];

/// Property families with a variable part.
const SINK_PREFIXES: &[&str] =
    &["key.converter.", "value.converter.", "header.converter.", "consumer.override."];

/// Consumer settings the sink owns: overriding them would break exactly-once reading.
const OWNED_CONSUMER_SETTINGS: &[&str] =
    &["group.id", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset", "isolation.level"];

/// The sink connector's settings, parsed once from its flat Kafka Connect properties.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The connector name: prefix of every partition's `txn` application id.
    pub name: String,
    /// `topics` / `topics.regex`.
    pub topics: TopicSelection,
    /// Where tables live and how large batches grow.
    pub destination: Destination,
    /// Checkpoints, compaction and vacuum.
    pub maintenance: MaintenanceConfig,
    /// Recognises unchanged TOAST values (`unavailable.value.placeholder` of the source connector).
    pub collapse: CollapseOptions,
    /// The registry the topics' schemas are in (`value.converter.schema.registry.*`).
    pub registry: RegistryClientConfig,
    /// `consumer.override.*`, without the prefix.
    pub consumer_overrides: BTreeMap<String, String>,
}

impl SinkConfig {
    /// Parses and validates a sink connector config; `default_registry` (the embedded registry's
    /// URL) is used when the converter names none. Errors name the property.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
        default_registry: Option<&str>,
    ) -> Result<Self, DeltaError> {
        let known = |name: &str| {
            SINK_PROPERTIES.contains(&name)
                || DESTINATION_PROPERTIES.contains(&name)
                || MAINTENANCE_PROPERTIES.contains(&name)
                || SINK_PREFIXES.iter().any(|p| name.starts_with(p))
        };
        if let Some(name) = props.keys().find(|n| !known(n)) {
            let suggestion = closest_name(
                name,
                SINK_PROPERTIES.iter().chain(DESTINATION_PROPERTIES).chain(MAINTENANCE_PROPERTIES).copied(),
            )
            .map(|s| format!("; did you mean '{s}'?"))
            .unwrap_or_default();
            return Err(config(
                name,
                format!("unknown property for {DELTA_SINK_CONNECTOR_CLASS}{suggestion}"),
            ));
        }
        let p = Properties(props);
        let name = p.required("name").map_err(|e| config("name", e.message))?.to_owned();
        if let Some(class) = p.str("connector.class")
            && class != DELTA_SINK_CONNECTOR_CLASS
        {
            return Err(config(
                "connector.class",
                format!("'{class}' is not the Delta sink; use {DELTA_SINK_CONNECTOR_CLASS}"),
            ));
        }
        for side in ["key.converter", "value.converter"] {
            if let Some(c) = p.str(side)
                && c != AVRO_CONVERTER
            {
                return Err(config(
                    side,
                    format!(
                        "the Delta sink reads Avro records through a schema registry; set {AVRO_CONVERTER} \
                         (got '{c}')"
                    ),
                ));
            }
        }
        if p.str("errors.tolerance").is_some_and(|v| !v.eq_ignore_ascii_case("none")) {
            return Err(config(
                "errors.tolerance",
                "only 'none' is supported: a record the sink cannot apply stops the connector with the \
                 record's topic, partition and offset, so no change is skipped silently",
            ));
        }
        if p.str("transforms").is_some() {
            return Err(config(
                "transforms",
                "single message transforms are not supported by the Delta sink; remove them (the sink \
                 needs Debezium's envelope unchanged)",
            ));
        }
        let tasks =
            p.number_or("tasks.max", 1u32, "a whole number").map_err(|e| config("tasks.max", e.message))?;
        if tasks == 0 {
            return Err(config("tasks.max", "must be at least 1"));
        }
        let mut registry_props = props.clone();
        let url_property = "value.converter.schema.registry.url";
        if p.str(url_property).is_none() {
            let url = default_registry.ok_or_else(|| {
                config(
                    url_property,
                    "the sink needs the schema registry the topics' schemas are in: set this property, \
                     or run the embedded registry (the default of `sluice run`)",
                )
            })?;
            registry_props.insert(url_property.to_owned(), url.to_owned());
        }
        let registry = RegistryClientConfig::from_converter_properties(&registry_props, "value.converter")
            .map_err(|e| DeltaError::kafka(sluice_kafka::KafkaError::registry(e)))?;
        let mut consumer_overrides = BTreeMap::new();
        for (k, v) in props {
            if let Some(setting) = k.strip_prefix("consumer.override.") {
                if OWNED_CONSUMER_SETTINGS.contains(&setting) {
                    return Err(config(k, "the sink sets this consumer setting itself; remove the override"));
                }
                consumer_overrides.insert(setting.to_owned(), v.clone());
            }
        }
        // The same bytes the source connector was told (raw bytes when given as `hex:...`).
        let placeholder = match p.str("unavailable.value.placeholder") {
            None => DEFAULT_PLACEHOLDER.to_vec(),
            Some(v) => match v.strip_prefix("hex:") {
                Some(h) => hex::decode(h).map_err(|_| {
                    config("unavailable.value.placeholder", "after 'hex:' give an even number of hex digits")
                })?,
                None => v.as_bytes().to_vec(),
            },
        };
        Ok(SinkConfig {
            topics: TopicSelection::from_connector_properties(props).map_err(DeltaError::kafka)?,
            destination: Destination::from_properties(props)?,
            maintenance: MaintenanceConfig::from_properties(props)?,
            collapse: CollapseOptions::new(placeholder).in_arrival_order(),
            registry,
            consumer_overrides,
            name,
        })
    }

    /// The `txn` application id of one partition.
    pub fn app_id(&self, topic: &str, partition: i32) -> String {
        format!("{}-{topic}-{partition}", self.name)
    }

    /// Kafka Connect's consumer group of a sink connector.
    pub fn group(&self) -> String {
        format!("connect-{}", self.name)
    }
}

fn config(property: &str, message: impl Into<String>) -> DeltaError {
    DeltaError::Config { property: property.to_owned(), message: message.into() }
}

/// Pause before restarting after a retryable failure.
const RETRY_DELAY: Duration = Duration::from_secs(2);
/// How often new topics and partitions are looked for.
const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// How long one poll waits for a first record.
const POLL_WAIT: Duration = Duration::from_millis(200);
/// Records decoded per poll.
const POLL_MAX: usize = 5_000;
/// How often partition progress is reported between batches.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the sink until `cancel` fires or a definite error; retryable errors (Kafka, the registry,
/// storage) restart it from the tables' stored positions. `metrics` counts committed batches,
/// each table's version and position, each partition's progress, and every error that restarts
/// or stops the sink.
pub async fn run(
    config: SinkConfig,
    kafka: KafkaConfig,
    metrics: Arc<ConnectorMetrics>,
    cancel: CancellationToken,
) -> Result<(), DeltaError> {
    loop {
        match run_once(&config, &kafka, &metrics, &cancel).await {
            Ok(()) => return Ok(()),
            Err(e) if e.class().is_retryable() && !cancel.is_cancelled() => {
                metrics.record_error();
                tracing::warn!(connector = %config.name, error = %e, "Delta sink failed; restarting");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_DELAY) => {}
                    () = cancel.cancelled() => return Ok(()),
                }
            }
            Err(e) => {
                metrics.record_error();
                return Err(e);
            }
        }
    }
}

async fn run_once(
    config: &SinkConfig,
    kafka: &KafkaConfig,
    metrics: &ConnectorMetrics,
    cancel: &CancellationToken,
) -> Result<(), DeltaError> {
    // A new consumer: partitions are assigned afresh.
    metrics.clear_partitions();
    let mut kafka = kafka.clone();
    kafka.consumer.extend(config.consumer_overrides.clone());
    let client = RegistryClient::new(config.registry.clone())
        .map_err(|e| DeltaError::kafka(sluice_kafka::KafkaError::registry(e)))?;
    let mut consumer =
        SinkConsumer::new(&kafka, &config.group(), config.topics.clone(), AvroDeserializer::new(client))
            .map_err(DeltaError::kafka)?;
    let mut sink = Sink {
        config,
        collapser: ChangeCollapser::new(config.collapse.clone()),
        pending_records: 0,
        first_pending: None,
        pending: BTreeMap::new(),
        applied: HashMap::new(),
        writers: HashMap::new(),
        schedules: HashMap::new(),
        metrics,
        unflushed: Unflushed::default(),
    };
    let mut last_refresh: Option<Instant> = None;
    let mut last_progress: Option<Instant> = None;
    loop {
        if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL) {
            sink.assign_new(&mut consumer).await?;
            last_refresh = Some(Instant::now());
        }
        let records = tokio::select! {
            records = consumer.poll(POLL_MAX, POLL_WAIT) => records.map_err(DeltaError::kafka)?,
            () = cancel.cancelled() => break,
        };
        // The metrics take the source position of the poll's last change record only.
        let last_change = records.iter().rposition(|r| r.value.is_some());
        for (i, record) in records.into_iter().enumerate() {
            sink.push(record, Some(i) == last_change)?;
        }
        let due = sink.first_pending.is_some_and(|t| t.elapsed() >= config.destination.flush_interval);
        let flush = due || sink.pending_records >= config.destination.max_records;
        if flush {
            sink.flush(&consumer).await?;
        }
        consumer.refresh_watermarks();
        if flush || last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
            sink.report_partitions(&consumer);
            last_progress = Some(Instant::now());
        }
    }
    // A clean stop commits what was read.
    sink.flush(&consumer).await?;
    sink.report_partitions(&consumer);
    Ok(())
}

/// What a pending batch holds, reported once its commits are done.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Unflushed {
    /// Change records (and truncates).
    events: u64,
    /// Serialized key and value bytes of the records.
    bytes: u64,
    /// The latest `source.lsn` and `source.ts_ms` seen in the batch.
    last_source: Option<(Lsn, i64)>,
}

impl Unflushed {
    /// Reports the batch as durable. Transactions are not counted: a batch may hold part of one.
    fn record(self, metrics: &ConnectorMetrics) {
        if self.events > 0 || self.bytes > 0 {
            metrics.record_durable(self.events, self.bytes, 0, self.last_source);
        }
    }
}

/// A Debezium change value's `source.lsn` and `source.ts_ms`, if it has both.
fn source_commit(value: &Decoded) -> Option<(Lsn, i64)> {
    let (schema, ConnectValue::Struct(values)) = value else { return None };
    let i = schema.fields.iter().position(|f| f.name == "source")?;
    let ConnectValue::Struct(source) = values.get(i)? else { return None };
    let fields = &schema.fields[i].schema.fields;
    let field = |name: &str| fields.iter().position(|f| f.name == name).and_then(|j| source.get(j));
    match (field("lsn"), field("ts_ms")) {
        (Some(ConnectValue::Int64(lsn)), Some(ConnectValue::Int64(ts_ms))) => {
            Some((Lsn(u64::try_from(*lsn).ok()?), *ts_ms))
        }
        _ => None,
    }
}

struct Sink<'a> {
    config: &'a SinkConfig,
    collapser: ChangeCollapser,
    pending_records: usize,
    first_pending: Option<Instant>,
    /// The last offset read per partition since the last commit.
    pending: BTreeMap<(String, i32), i64>,
    /// The last offset in Delta per partition.
    applied: HashMap<(String, i32), i64>,
    /// Open tables by location.
    writers: HashMap<String, TableWriter>,
    /// Maintenance schedules by location.
    schedules: HashMap<String, MaintenanceSchedule>,
    metrics: &'a ConnectorMetrics,
    /// What the pending batch holds, for the metrics.
    unflushed: Unflushed,
}

impl Sink<'_> {
    /// Assigns partitions that appeared, each starting after the offset its table recorded.
    async fn assign_new(&mut self, consumer: &mut SinkConsumer) -> Result<(), DeltaError> {
        let new = consumer.unassigned().map_err(DeltaError::kafka)?;
        if new.is_empty() {
            return Ok(());
        }
        let mut starts = Vec::with_capacity(new.len());
        for (topic, partition) in new {
            let applied = self.stored_offset(&topic, partition).await?;
            if let Some(offset) = applied {
                self.applied.insert((topic.clone(), partition), offset);
            }
            tracing::info!(connector = %self.config.name, %topic, partition, ?applied, "reading partition");
            starts.push((topic, partition, applied));
        }
        consumer.assign(&starts).map_err(DeltaError::kafka)
    }

    /// The last offset of a partition its table has, from the table's txn actions.
    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, DeltaError> {
        let location = self.config.destination.location(topic);
        if !self.writers.contains_key(&location) {
            match TableWriter::open(&location, topic).await? {
                Some(writer) => {
                    self.writers.insert(location.clone(), writer);
                }
                None => return Ok(None),
            }
        }
        let Some(writer) = self.writers.get_mut(&location) else { return Ok(None) };
        writer.transaction_version(&self.config.app_id(topic, partition)).await
    }

    /// Reports every assigned partition's next offset to apply against its high watermark.
    fn report_partitions(&self, consumer: &SinkConsumer) {
        consumer.for_each_assigned(|topic, partition, high| {
            let applied = self.applied.get(&(topic.to_owned(), partition));
            let progress = PartitionProgress {
                next_offset: applied.map_or(0, |a| a + 1),
                high_watermark: high.unwrap_or(-1),
            };
            self.metrics.record_partition(topic, partition, progress);
        });
    }

    /// Adds one consumed record to the batch; with `note_source`, its `source` position becomes
    /// the batch's latest for the metrics.
    fn push(&mut self, record: ConsumedRecord, note_source: bool) -> Result<(), DeltaError> {
        let ConsumedRecord { topic, partition, offset, key, value, bytes, .. } = record;
        let partition_key = (topic, partition);
        if self.applied.get(&partition_key).is_some_and(|a| offset <= *a) {
            return Ok(());
        }
        self.unflushed.bytes += bytes as u64;
        if let Some(source) = value.as_ref().filter(|_| note_source).and_then(source_commit) {
            self.unflushed.last_source = Some(source);
        }
        let (topic, partition) = partition_key;
        let (key_schema, key) = key.map_or((None, None), |(s, v)| (Some(s), Some(v)));
        let (value_schema, value) = value.map_or((None, None), |(s, v)| (Some(s), Some(v)));
        let position = SourcePosition {
            lsn: Lsn::INVALID,
            commit_lsn: None,
            seq: u64::try_from(offset).unwrap_or(0),
            xid: None,
            commit_ts: None,
            origin: None,
            snapshot: None,
        };
        let record = Record {
            topic: topic.clone(),
            key_schema,
            key,
            value_schema,
            value,
            headers: Vec::new().into(),
            position,
        };
        let pushed = self.collapser.push(record).map_err(|e| match e {
            DeltaError::Record { table, message } => DeltaError::Record {
                table,
                message: format!("record {topic}/{partition}@{offset}: {message}"),
            },
            other => other,
        })?;
        if matches!(pushed, Pushed::Change | Pushed::Truncate) {
            self.unflushed.events += 1;
        }
        self.pending.insert((topic, partition), offset);
        self.pending_records += 1;
        self.first_pending.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Commits the batch: one Delta commit per table, carrying every partition's txn; then the
    /// consumer group's positions.
    async fn flush(&mut self, consumer: &SinkConsumer) -> Result<(), DeltaError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let collapser =
            std::mem::replace(&mut self.collapser, ChangeCollapser::new(self.config.collapse.clone()));
        for changes in collapser.finish() {
            let topic = changes.topic().to_owned();
            let location = self.config.destination.location(&topic);
            if !self.writers.contains_key(&location) {
                let writer = match changes.mapping() {
                    Some(mapping) => TableWriter::open_or_create(&location, mapping).await?,
                    None => match TableWriter::open(&location, &topic).await? {
                        Some(w) => w,
                        None => continue, // a truncate of a table never written: nothing to do
                    },
                };
                self.writers.insert(location.clone(), writer);
            }
            let Some(writer) = self.writers.get_mut(&location) else { continue };
            let txns: Vec<AppTxn> = self
                .pending
                .range((topic.clone(), i32::MIN)..=(topic.clone(), i32::MAX))
                .map(|((t, p), offset)| AppTxn::new(self.config.app_id(t, *p), *offset))
                .collect();
            let applied = writer.apply_many(&changes, &txns, false).await?;
            tracing::debug!(table = %topic, ?applied, "applied");
            let position = self
                .pending
                .range((topic.clone(), i32::MIN)..=(topic.clone(), i32::MAX))
                .map(|((t, p), offset)| format!("{t}/{p}@{offset}"))
                .collect::<Vec<_>>()
                .join(",");
            let version = i64::try_from(applied.table_version).unwrap_or(i64::MAX);
            self.metrics.record_table(&topic, version, position);
        }
        std::mem::take(&mut self.unflushed).record(self.metrics);
        let mut next = Vec::with_capacity(self.pending.len());
        for ((topic, partition), offset) in std::mem::take(&mut self.pending) {
            next.push((topic.clone(), partition, offset + 1));
            self.applied.insert((topic, partition), offset);
        }
        self.pending_records = 0;
        self.first_pending = None;
        // Only for lag tools: the tables hold the positions the sink resumes from.
        if let Err(e) = consumer.commit(&next) {
            tracing::warn!(connector = %self.config.name, error = %e, "committing the consumer group's positions");
        }
        // Between batches, so maintenance never races this sink's own commits.
        for (location, writer) in &mut self.writers {
            let schedule = self.schedules.entry(location.clone()).or_default();
            maintenance::after_commit(writer, &self.config.maintenance, schedule).await;
        }
        Ok(())
    }
}

/// Where the sink stands on every partition of its topics that has reached a table: `(topic,
/// partition, last applied offset)`, read from the tables' txn actions (the sink's only record of
/// its position). For `GET /connectors/{name}/offsets`.
pub async fn stored_offsets(
    config: &SinkConfig,
    kafka: &KafkaConfig,
) -> Result<Vec<(String, i32, i64)>, DeltaError> {
    let client = RegistryClient::new(config.registry.clone())
        .map_err(|e| DeltaError::kafka(sluice_kafka::KafkaError::registry(e)))?;
    let consumer =
        SinkConsumer::new(kafka, &config.group(), config.topics.clone(), AvroDeserializer::new(client))
            .map_err(DeltaError::kafka)?;
    // Metadata is a blocking call in the client; keep it off the async threads.
    let partitions = tokio::task::spawn_blocking(move || consumer.unassigned())
        .await
        .map_err(|e| DeltaError::Internal(format!("reading topic metadata: {e}")))?
        .map_err(DeltaError::kafka)?;
    let mut writers: HashMap<String, Option<TableWriter>> = HashMap::new();
    let mut out = Vec::new();
    for (topic, partition) in partitions {
        let location = config.destination.location(&topic);
        if !writers.contains_key(&location) {
            let writer = TableWriter::open(&location, &topic).await?;
            writers.insert(location.clone(), writer);
        }
        if let Some(Some(writer)) = writers.get_mut(&location)
            && let Some(offset) = writer.transaction_version(&config.app_id(&topic, partition)).await?
        {
            out.push((topic, partition, offset));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("name", "lake-sink"),
            ("connector.class", DELTA_SINK_CONNECTOR_CLASS),
            ("topics.regex", "shop\\.public\\..*"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            p.insert((*k).to_owned(), (*v).to_owned());
        }
        p
    }

    #[test]
    fn a_kafka_connect_sink_config_parses_with_the_embedded_registry() {
        let c = SinkConfig::from_properties(
            &props(&[
                ("value.converter", AVRO_CONVERTER),
                ("consumer.override.max.poll.records", "500"),
                ("sluice.delta.path", "/lake/${table}"),
            ]),
            Some("http://127.0.0.1:8081"),
        )
        .unwrap();
        assert!(c.topics.matches("shop.public.orders") && !c.topics.matches("other.public.orders"));
        assert_eq!(c.app_id("shop.public.orders", 2), "lake-sink-shop.public.orders-2");
        assert_eq!(c.group(), "connect-lake-sink");
        assert_eq!(c.destination.location("shop.public.orders"), "/lake/orders");
        assert_eq!(c.consumer_overrides["max.poll.records"], "500");
    }

    #[test]
    fn the_example_config_is_valid() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../../connectors/delta-sink/example.json")).unwrap();
        let mut props: BTreeMap<String, String> = file["config"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        props.insert("name".into(), file["name"].as_str().unwrap().to_owned());
        let c = SinkConfig::from_properties(&props, Some("http://127.0.0.1:8081")).unwrap();
        assert!(c.topics.matches("inventory.public.customers"));
        assert_eq!(c.destination.location("inventory.public.customers"), "lake/public_customers");
    }

    #[test]
    fn the_source_position_is_read_from_the_envelope() {
        use sluice_debezium::connect::{Field, Schema, SchemaType};
        let field = |name: &str, schema: Schema| Field { name: name.into(), schema: Arc::new(schema) };
        let int64 = || Schema::primitive(SchemaType::Int64);
        let source = Schema::structure(
            "io.debezium.connector.postgresql.Source",
            vec![field("ts_ms", int64()), field("lsn", int64().optional())],
        );
        let envelope = Arc::new(Schema::structure(
            "srv.public.t.Envelope",
            vec![field("op", Schema::primitive(SchemaType::String)), field("source", source)],
        ));
        let value = |lsn: ConnectValue| {
            ConnectValue::Struct(vec![
                ConnectValue::String("c".into()),
                ConnectValue::Struct(vec![ConnectValue::Int64(1_700_000_000_000), lsn]),
            ])
        };
        assert_eq!(
            source_commit(&(envelope.clone(), value(ConnectValue::Int64(0x1234)))),
            Some((Lsn(0x1234), 1_700_000_000_000))
        );
        assert_eq!(source_commit(&(envelope.clone(), value(ConnectValue::Null))), None);
        let no_source =
            Arc::new(Schema::structure("x", vec![field("op", Schema::primitive(SchemaType::String))]));
        assert_eq!(
            source_commit(&(no_source, ConnectValue::Struct(vec![ConnectValue::String("c".into())]))),
            None
        );

        let metrics = ConnectorMetrics::default();
        Unflushed::default().record(&metrics);
        Unflushed { events: 2, bytes: 100, last_source: Some((Lsn(0x1234), 1)) }.record(&metrics);
        let s = metrics.snapshot();
        assert_eq!((s.events, s.bytes, s.transactions), (2, 100, 0));
        assert_eq!(s.last_durable_lsn, Some(Lsn(0x1234)));
        assert_eq!(metrics.batch_records.snapshot().count, 1);
    }

    #[test]
    fn wrong_properties_are_named() {
        let registry = Some("http://127.0.0.1:8081");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("topic.regex", "x")], "did you mean 'topics.regex'?"),
            (&[("value.converter", "org.apache.kafka.connect.json.JsonConverter")], "value.converter"),
            (&[("errors.tolerance", "all")], "errors.tolerance"),
            (&[("transforms", "unwrap")], "transforms"),
            (&[("consumer.override.group.id", "g")], "consumer.override.group.id"),
            (&[("sluice.delta.flush.interval.ms", "0")], "sluice.delta.flush.interval.ms"),
            (&[("connector.class", "io.debezium.connector.jdbc.JdbcSinkConnector")], "connector.class"),
            (&[("topics", "a")], "topics.regex"),
        ];
        for (extra, named) in cases {
            let e = SinkConfig::from_properties(&props(extra), registry).unwrap_err();
            assert!(e.to_string().contains(named), "{extra:?}: {e}");
        }
        let e = SinkConfig::from_properties(&props(&[]), None).unwrap_err();
        assert!(e.to_string().contains("value.converter.schema.registry.url"), "{e}");
    }
}
