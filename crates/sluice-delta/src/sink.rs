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

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sluice_core::properties::{Properties, closest_name};
use sluice_core::{Lsn, SourcePosition};
use sluice_debezium::record::Record;
use sluice_kafka::config::KafkaConfig;
use sluice_kafka::consumer::{ConsumedRecord, SinkConsumer, TopicSelection};
use sluice_kafka::deserializer::AvroDeserializer;
use sluice_registry::{RegistryClient, RegistryClientConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{ChangeCollapser, CollapseOptions, DEFAULT_PLACEHOLDER};
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

/// Runs the sink until `cancel` fires or a definite error; retryable errors (Kafka, the registry,
/// storage) restart it from the tables' stored positions.
pub async fn run(
    config: SinkConfig,
    kafka: KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), DeltaError> {
    loop {
        match run_once(&config, &kafka, &cancel).await {
            Ok(()) => return Ok(()),
            Err(e) if e.class().is_retryable() && !cancel.is_cancelled() => {
                tracing::warn!(connector = %config.name, error = %e, "Delta sink failed; restarting");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_DELAY) => {}
                    () = cancel.cancelled() => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn run_once(
    config: &SinkConfig,
    kafka: &KafkaConfig,
    cancel: &CancellationToken,
) -> Result<(), DeltaError> {
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
    };
    let mut last_refresh: Option<Instant> = None;
    loop {
        if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL) {
            sink.assign_new(&mut consumer).await?;
            last_refresh = Some(Instant::now());
        }
        let records = tokio::select! {
            records = consumer.poll(POLL_MAX, POLL_WAIT) => records.map_err(DeltaError::kafka)?,
            () = cancel.cancelled() => break,
        };
        for record in records {
            sink.push(record)?;
        }
        let due = sink.first_pending.is_some_and(|t| t.elapsed() >= config.destination.flush_interval);
        if due || sink.pending_records >= config.destination.max_records {
            sink.flush(&consumer).await?;
        }
    }
    // A clean stop commits what was read.
    sink.flush(&consumer).await
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

    /// Adds one consumed record to the batch.
    fn push(&mut self, record: ConsumedRecord) -> Result<(), DeltaError> {
        let ConsumedRecord { topic, partition, offset, key, value, .. } = record;
        let partition_key = (topic, partition);
        if self.applied.get(&partition_key).is_some_and(|a| offset <= *a) {
            return Ok(());
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
            headers: Vec::new(),
            position,
        };
        self.collapser.push(record).map_err(|e| match e {
            DeltaError::Record { table, message } => DeltaError::Record {
                table,
                message: format!("record {topic}/{partition}@{offset}: {message}"),
            },
            other => other,
        })?;
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
        }
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
