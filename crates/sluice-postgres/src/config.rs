//! Typed configuration of the Postgres source, parsed once from a Kafka Connect flat property map.
//!
//! Property names and defaults are Debezium's (`database.hostname`, `slot.name`,
//! `snapshot.mode`, ...), so an existing Debezium connector config works unchanged. Every property
//! name is checked: a name that is neither a Debezium/Kafka Connect property nor a `sluice.*`
//! extension is rejected with the closest known name, because a misspelt property silently ignored
//! is how CDC pipelines lose data. Properties that belong to later stages (converters, Debezium
//! event options) are recognised here and parsed by those stages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sluice_core::Secret;
use sluice_core::properties::{Properties, closest_name};

use crate::error::PostgresError;
use crate::filter::{PatternList, TableFilter};
use crate::replication::{Endpoint, SslMode};

/// Debezium's connector class for PostgreSQL, which sluice implements.
pub const POSTGRES_CONNECTOR_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

/// `publication.autocreate.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutocreateMode {
    /// Create `FOR ALL TABLES` when missing (needs superuser).
    AllTables,
    /// Create or alter the publication to hold exactly the captured tables.
    Filtered,
    /// Create an empty publication when missing; the user adds tables.
    NoTables,
    /// Never create or alter; the publication must exist.
    Disabled,
}

/// `snapshot.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when there is no stored offset, then stream.
    Initial,
    /// Snapshot when there is no stored offset, then stop.
    InitialOnly,
    /// Never snapshot data; stream from the slot (`never` is an old spelling).
    NoData,
    /// Snapshot on every start, then stream.
    Always,
    /// Snapshot when there is no stored offset or the slot had to be created, then stream.
    WhenNeeded,
}

/// Whether large in-progress transactions are streamed by the server (protocol 2+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingMode {
    /// Protocol version 1: the server sends each transaction whole, at commit.
    Off,
    /// The highest protocol version the server supports (2-4) with `streaming on`: transactions
    /// larger than `logical_decoding_work_mem` arrive in chunks before they commit and are spilled
    /// to disk until their commit, so events still leave the reader in commit order.
    On,
}

/// Replication slot settings.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    /// `slot.name`
    pub name: String,
    /// `slot.drop.on.stop`
    pub drop_on_stop: bool,
    /// `slot.stream.params`: extra pgoutput options (`a=1;b=2`).
    pub stream_params: Vec<(String, String)>,
    /// `slot.max.retries`: attempts to acquire a slot held by another process.
    pub max_retries: u32,
    /// `slot.retry.delay.ms`
    pub retry_delay: Duration,
}

/// Publication settings.
#[derive(Debug, Clone)]
pub struct PublicationConfig {
    /// `publication.name`
    pub name: String,
    /// `publication.autocreate.mode`
    pub autocreate: AutocreateMode,
    /// `publish.via.partition.root`
    pub via_partition_root: bool,
}

/// Initial snapshot settings.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    /// `snapshot.mode`
    pub mode: SnapshotMode,
    /// `snapshot.max.threads`: connections reading chunks in parallel.
    pub max_threads: usize,
    /// `sluice.snapshot.chunk.pages`: heap pages per chunk (ctid range) of a large table.
    pub chunk_pages: u32,
    /// `snapshot.include.collection.list`: tables to snapshot among the captured ones.
    pub include: Option<PatternList>,
}

/// Everything the Postgres source needs.
#[derive(Debug, Clone)]
pub struct PostgresSourceConfig {
    /// Connector name (`name`), used in logs and the replication `application_name`.
    pub name: String,
    /// How to reach the database.
    pub endpoint: Endpoint,
    /// `topic.prefix`: the logical server name.
    pub topic_prefix: String,
    /// Slot settings.
    pub slot: SlotConfig,
    /// Publication settings.
    pub publication: PublicationConfig,
    /// Captured tables.
    pub filter: TableFilter,
    /// `message.prefix.include.list`
    pub message_prefix_include: Option<PatternList>,
    /// `message.prefix.exclude.list`
    pub message_prefix_exclude: Option<PatternList>,
    /// Snapshot settings.
    pub snapshot: SnapshotConfig,
    /// `status.update.interval.ms`: how often standby status updates are sent.
    pub status_update_interval: Duration,
    /// `sluice.streaming.mode`
    pub streaming: StreamingMode,
    /// `sluice.pgoutput.binary`: ask pgoutput for binary tuple data when every captured column type
    /// supports it (PostgreSQL 14+).
    pub binary: bool,
    /// `max.queue.size`: events buffered between the reader and its consumer.
    pub max_queue_size: usize,
    /// `max.queue.size.in.bytes`: bytes buffered between the reader and its consumer (0 means
    /// sluice's default of 64 MiB; unlike Debezium, the buffer is always bounded in bytes).
    pub max_queue_bytes: usize,
    /// `sluice.spill.dir`: where streamed in-progress transactions are spilled (default: the
    /// system temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// `heartbeat.interval.ms` (0 = off): how often `heartbeat.action.query` runs.
    pub heartbeat_interval: Option<Duration>,
    /// `heartbeat.action.query`: SQL run on the source every heartbeat interval, so an idle or
    /// filtered database still produces WAL that the slot can confirm past.
    pub heartbeat_action_query: Option<String>,
    /// `sluice.logical.decoding.work.mem`: the replication session's `logical_decoding_work_mem`
    /// (e.g. `64kB`), the size above which a streamed transaction is sent before it commits.
    pub logical_decoding_work_mem: Option<String>,
}

/// Default byte budget of the event buffer when `max.queue.size.in.bytes` is 0.
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Properties every Kafka Connect connector config may carry.
const CONNECT_PROPERTIES: &[&str] = &[
    "name",
    "connector.class",
    "tasks.max",
    "key.converter",
    "value.converter",
    "header.converter",
    "transforms",
    "predicates",
    "config.action.reload",
    "errors.retry.timeout",
    "errors.retry.delay.max.ms",
    "errors.tolerance",
    "errors.log.enable",
    "errors.log.include.messages",
    "topic.creation.groups",
    "exactly.once.support",
    "transaction.boundary",
    "transaction.boundary.interval.ms",
    "offsets.storage.topic",
];

/// Debezium PostgreSQL connector properties (3.6).
const DEBEZIUM_PROPERTIES: &[&str] = &[
    "database.hostname",
    "database.port",
    "database.user",
    "database.password",
    "database.dbname",
    "database.sslmode",
    "database.sslcert",
    "database.sslkey",
    "database.sslpassword",
    "database.sslrootcert",
    "database.sslfactory",
    "database.tcpKeepAlive",
    "database.initial.statements",
    "database.connection.factory.class",
    "database.query.timeout.ms",
    "connect.timeout.ms",
    "topic.prefix",
    "status.update.interval.ms",
    "plugin.name",
    "slot.name",
    "slot.drop.on.stop",
    "slot.failover",
    "slot.stream.params",
    "slot.max.retries",
    "slot.retry.delay.ms",
    "publication.name",
    "publication.autocreate.mode",
    "publish.via.partition.root",
    "replica.identity.autoset.values",
    "offset.mismatch.strategy",
    "slot.seek.to.known.offset.on.start",
    "lsn.flush.mode",
    "flush.lsn.source",
    "lsn.flush.timeout.ms",
    "lsn.flush.timeout.action",
    "xmin.fetch.interval.ms",
    "schema.include.list",
    "schema.exclude.list",
    "table.include.list",
    "table.exclude.list",
    "column.include.list",
    "column.exclude.list",
    "message.key.columns",
    "message.prefix.include.list",
    "message.prefix.exclude.list",
    "skip.messages.without.change",
    "skipped.operations",
    "column.propagate.source.type",
    "datatype.propagate.source.type",
    "tombstones.on.delete",
    "provide.transaction.metadata",
    "decimal.handling.mode",
    "time.precision.mode",
    "interval.handling.mode",
    "hstore.handling.mode",
    "binary.handling.mode",
    "money.fraction.digits",
    "include.unknown.datatypes",
    "unavailable.value.placeholder",
    "schema.name.adjustment.mode",
    "field.name.adjustment.mode",
    "schema.refresh.mode",
    "converters",
    "extended.headers.enabled",
    "event.processing.failure.handling.mode",
    "topic.naming.strategy",
    "topic.delimiter",
    "topic.cache.size",
    "topic.heartbeat.prefix",
    "topic.heartbeat.name",
    "topic.transaction",
    "source.info.struct.maker",
    "snapshot.mode",
    "snapshot.mode.configuration.based.snapshot.data",
    "snapshot.mode.configuration.based.snapshot.schema",
    "snapshot.mode.configuration.based.start.stream",
    "snapshot.mode.configuration.based.snapshot.on.schema.error",
    "snapshot.mode.configuration.based.snapshot.on.data.error",
    "snapshot.mode.custom.name",
    "snapshot.isolation.mode",
    "snapshot.locking.mode",
    "snapshot.locking.mode.custom.name",
    "snapshot.lock.timeout.ms",
    "snapshot.query.mode",
    "snapshot.query.mode.custom.name",
    "snapshot.select.statement.overrides",
    "snapshot.include.collection.list",
    "snapshot.fetch.size",
    "snapshot.max.threads",
    "legacy.snapshot.max.threads",
    "snapshot.delay.ms",
    "streaming.delay.ms",
    "incremental.snapshot.chunk.size",
    "incremental.snapshot.watermarking.strategy",
    "read.only",
    "signal.data.collection",
    "signal.enabled.channels",
    "signal.kafka.topic",
    "signal.kafka.bootstrap.servers",
    "signal.file",
    "notification.enabled.channels",
    "notification.sink.topic.name",
    "max.batch.size",
    "max.queue.size",
    "max.queue.size.in.bytes",
    "poll.interval.ms",
    "heartbeat.interval.ms",
    "heartbeat.action.query",
    "retriable.restart.connector.wait.ms",
    "errors.max.retries",
    "statistics.metrics.enabled",
    "custom.metric.tags",
    "guardrail.collections.max",
    "guardrail.collections.limit.action",
    "custom.sanitize.pattern",
    "post.processors",
];

/// sluice's own extensions.
const SLUICE_PROPERTIES: &[&str] = &[
    "sluice.streaming.mode",
    "sluice.pgoutput.binary",
    "sluice.spill.dir",
    "sluice.snapshot.chunk.pages",
    "sluice.logical.decoding.work.mem",
    "sluice.delivery.stall.timeout.ms",
    "sluice.delta.path",
    "sluice.delta.flush.interval.ms",
    "sluice.delta.batch.max.records",
    "sluice.delta.checkpoint.interval",
    "sluice.delta.optimize.interval.ms",
    "sluice.delta.optimize.target.file.size.bytes",
    "sluice.delta.optimize.min.files",
    "sluice.delta.vacuum.interval.ms",
    "sluice.delta.vacuum.retention.hours",
    "sluice.delta.vacuum.retention.check.enabled",
    "sluice.delta.vacuum.mode",
    "sluice.delta.maintenance.max.attempts",
];

/// Families of properties whose names carry a variable part.
const PROPERTY_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "transforms.",
    "predicates.",
    "topic.creation.",
    "errors.deadletterqueue.",
    "driver.",
    "database.initial.statements.",
    "column.mask.with.",
    "column.mask.hash.",
    "column.truncate.to.",
    "snapshot.select.statement.overrides.",
    "signal.consumer.",
    "signal.producer.",
    "notification.",
    "producer.override.",
    "consumer.override.",
    "admin.override.",
];

/// True if `name` is a property some part of sluice understands (or a converter's own `<name>.*`
/// properties, which are listed under `converters`).
pub fn is_known_property(name: &str, converters: &[&str]) -> bool {
    CONNECT_PROPERTIES.contains(&name)
        || DEBEZIUM_PROPERTIES.contains(&name)
        || SLUICE_PROPERTIES.contains(&name)
        || PROPERTY_PREFIXES.iter().any(|p| name.starts_with(p))
        || converters.iter().any(|c| name.strip_prefix(c).is_some_and(|r| r.starts_with('.')))
}

/// Rejects property names nobody understands, suggesting the closest known one.
pub fn check_property_names(props: &BTreeMap<String, String>) -> Result<(), PostgresError> {
    let converters: Vec<&str> = props
        .get("converters")
        .map(|c| c.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for name in props.keys() {
        if !is_known_property(name, &converters) {
            let suggestion =
                closest_property(name).map(|s| format!("; did you mean '{s}'?")).unwrap_or_default();
            return Err(PostgresError::config(
                name,
                format!("unknown property for {POSTGRES_CONNECTOR_CLASS}{suggestion}"),
            ));
        }
    }
    Ok(())
}

fn closest_property(name: &str) -> Option<&'static str> {
    closest_name(name, CONNECT_PROPERTIES.iter().chain(DEBEZIUM_PROPERTIES).chain(SLUICE_PROPERTIES).copied())
}

impl PostgresSourceConfig {
    /// Parses and validates a Debezium PostgreSQL connector config.
    pub fn from_properties(map: &BTreeMap<String, String>) -> Result<Self, PostgresError> {
        check_property_names(map)?;
        let p = Properties(map);
        if let Some(class) = p.str("connector.class")
            && class != POSTGRES_CONNECTOR_CLASS
        {
            return Err(PostgresError::config(
                "connector.class",
                format!("'{class}' is not a source sluice provides; use {POSTGRES_CONNECTOR_CLASS}"),
            ));
        }
        match p.str("plugin.name") {
            None | Some("pgoutput") => {}
            Some(other) => {
                return Err(PostgresError::config(
                    "plugin.name",
                    format!(
                        "'{other}' is not supported: sluice decodes pgoutput only; set plugin.name=pgoutput"
                    ),
                ));
            }
        }
        if let Some(tasks) = p.str("tasks.max")
            && tasks != "1"
        {
            return Err(PostgresError::config(
                "tasks.max",
                "the PostgreSQL connector always runs one task; set 1",
            ));
        }
        let name = p.string_or("name", "sluice");
        let sslmode: SslMode = match p.str("database.sslmode") {
            None => SslMode::Prefer,
            Some(v) => v.parse().map_err(|e| PostgresError::config("database.sslmode", format!("{e}")))?,
        };
        if p.str("database.sslpassword").is_some() {
            return Err(PostgresError::config(
                "database.sslpassword",
                "encrypted client keys are not supported; give an unencrypted PEM key in database.sslkey",
            ));
        }
        let endpoint = Endpoint {
            host: p.required("database.hostname")?.to_owned(),
            port: p.number_or("database.port", 5432u16, "a TCP port number")?,
            user: p.required("database.user")?.to_owned(),
            password: map.get("database.password").filter(|s| !s.is_empty()).map(Secret::new),
            dbname: p.required("database.dbname")?.to_owned(),
            sslmode,
            sslrootcert: p.str("database.sslrootcert").map(PathBuf::from),
            sslcert: p.str("database.sslcert").map(PathBuf::from),
            sslkey: p.str("database.sslkey").map(PathBuf::from),
            application_name: format!("sluice:{name}"),
            connect_timeout: p.millis_or("connect.timeout.ms", 30_000)?,
            tcp_keepalive: p.bool_or("database.tcpKeepAlive", true)?,
            options: Vec::new(),
            initial_statements: p
                .str("database.initial.statements")
                .map(crate::replication::split_initial_statements)
                .unwrap_or_default(),
        };
        let topic_prefix = p.required("topic.prefix")?.to_owned();
        let slot_name = p.string_or("slot.name", "debezium");
        if slot_name.is_empty()
            || slot_name.len() > 63
            || !slot_name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(PostgresError::config(
                "slot.name",
                format!("'{slot_name}' is not a valid slot name: use 1-63 lowercase letters, digits or '_'"),
            ));
        }
        let stream_params = match p.str("slot.stream.params") {
            None => Vec::new(),
            Some(v) => v
                .split(';')
                .filter(|s| !s.trim().is_empty())
                .map(|kv| {
                    kv.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).ok_or_else(
                        || {
                            PostgresError::config(
                                "slot.stream.params",
                                format!("'{kv}' is not of the form key=value"),
                            )
                        },
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        let slot = SlotConfig {
            name: slot_name,
            drop_on_stop: p.bool_or("slot.drop.on.stop", false)?,
            stream_params,
            max_retries: p.number_or("slot.max.retries", 6u32, "a whole number")?,
            retry_delay: p.millis_or("slot.retry.delay.ms", 10_000)?,
        };
        let publication = PublicationConfig {
            name: p.string_or("publication.name", "dbz_publication"),
            autocreate: p.choice(
                "publication.autocreate.mode",
                AutocreateMode::AllTables,
                &[
                    ("all_tables", AutocreateMode::AllTables),
                    ("filtered", AutocreateMode::Filtered),
                    ("no_tables", AutocreateMode::NoTables),
                    ("disabled", AutocreateMode::Disabled),
                ],
            )?,
            via_partition_root: p.bool_or("publish.via.partition.root", false)?,
        };
        p.exclusive("schema.include.list", "schema.exclude.list")?;
        p.exclusive("table.include.list", "table.exclude.list")?;
        p.exclusive("message.prefix.include.list", "message.prefix.exclude.list")?;
        let filter = TableFilter {
            schema_include: p.patterns("schema.include.list")?,
            schema_exclude: p.patterns("schema.exclude.list")?,
            table_include: p.patterns("table.include.list")?,
            table_exclude: p.patterns("table.exclude.list")?,
        };
        let snapshot = SnapshotConfig {
            mode: p.choice(
                "snapshot.mode",
                SnapshotMode::Initial,
                &[
                    ("initial", SnapshotMode::Initial),
                    ("initial_only", SnapshotMode::InitialOnly),
                    ("no_data", SnapshotMode::NoData),
                    ("never", SnapshotMode::NoData),
                    ("always", SnapshotMode::Always),
                    ("when_needed", SnapshotMode::WhenNeeded),
                ],
            )?,
            max_threads: p.number_or("snapshot.max.threads", 1usize, "a whole number")?.max(1),
            chunk_pages: p.number_or("sluice.snapshot.chunk.pages", 4096u32, "a whole number")?.max(1),
            include: p.patterns("snapshot.include.collection.list")?,
        };
        let max_queue_size = p.number_or("max.queue.size", 8192usize, "a whole number")?;
        let max_batch_size = p.number_or("max.batch.size", 2048usize, "a whole number")?;
        if max_queue_size <= max_batch_size {
            return Err(PostgresError::config(
                "max.queue.size",
                format!("must be larger than max.batch.size ({max_batch_size})"),
            ));
        }
        let max_queue_bytes =
            match p.number_or("max.queue.size.in.bytes", 0usize, "a whole number of bytes")? {
                0 => DEFAULT_QUEUE_BYTES,
                n => n,
            };
        Ok(PostgresSourceConfig {
            name,
            endpoint,
            topic_prefix,
            slot,
            publication,
            filter,
            message_prefix_include: p.patterns("message.prefix.include.list")?,
            message_prefix_exclude: p.patterns("message.prefix.exclude.list")?,
            snapshot,
            status_update_interval: p.millis_or("status.update.interval.ms", 10_000)?,
            streaming: p.choice(
                "sluice.streaming.mode",
                StreamingMode::Off,
                &[("off", StreamingMode::Off), ("on", StreamingMode::On)],
            )?,
            binary: p.bool_or("sluice.pgoutput.binary", false)?,
            max_queue_size,
            max_queue_bytes,
            spill_dir: p.str("sluice.spill.dir").map(PathBuf::from),
            logical_decoding_work_mem: p.str("sluice.logical.decoding.work.mem").map(str::to_owned),
            heartbeat_interval: Some(p.millis_or("heartbeat.interval.ms", 0)?).filter(|d| !d.is_zero()),
            heartbeat_action_query: p.str("heartbeat.action.query").map(str::to_owned),
        })
    }

    /// True if logical messages with this prefix are captured.
    pub fn captures_message_prefix(&self, prefix: &str) -> bool {
        match (&self.message_prefix_include, &self.message_prefix_exclude) {
            (Some(inc), _) => inc.matches(prefix),
            (None, Some(exc)) => !exc.matches(prefix),
            (None, None) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BTreeMap<String, String> {
        [
            ("name", "inventory"),
            ("connector.class", POSTGRES_CONNECTOR_CLASS),
            ("plugin.name", "pgoutput"),
            ("database.hostname", "db.example"),
            ("database.port", "5433"),
            ("database.user", "cdc"),
            ("database.password", "pw"),
            ("database.dbname", "shop"),
            ("topic.prefix", "shop"),
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
            ("key.converter.schema.registry.url", "http://localhost:8081"),
            ("transforms", "unwrap"),
            ("transforms.unwrap.type", "io.debezium.transforms.ExtractNewRecordState"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_typical_debezium_config_parses_with_debezium_defaults() {
        let c = PostgresSourceConfig::from_properties(&base()).unwrap();
        assert_eq!(c.endpoint.port, 5433);
        assert_eq!(c.endpoint.sslmode, SslMode::Prefer);
        assert_eq!(c.slot.name, "debezium");
        assert_eq!(c.publication.name, "dbz_publication");
        assert_eq!(c.publication.autocreate, AutocreateMode::AllTables);
        assert_eq!(c.snapshot.mode, SnapshotMode::Initial);
        assert_eq!(c.status_update_interval, Duration::from_secs(10));
        assert_eq!(c.max_queue_bytes, DEFAULT_QUEUE_BYTES);
        assert_eq!(c.streaming, StreamingMode::Off);
        assert!(!format!("{c:?}").contains("\"pw\""), "password must not print");
    }

    #[test]
    fn unknown_property_is_named_with_a_suggestion() {
        let mut m = base();
        m.insert("slot.nam".into(), "x".into());
        let err = PostgresSourceConfig::from_properties(&m).unwrap_err().to_string();
        assert!(err.contains("'slot.nam'") && err.contains("did you mean 'slot.name'"), "{err}");
    }

    #[test]
    fn converter_specific_properties_are_accepted() {
        let mut m = base();
        m.insert("converters".into(), "isbn".into());
        m.insert("isbn.type".into(), "com.example.IsbnConverter".into());
        PostgresSourceConfig::from_properties(&m).unwrap();
    }

    #[test]
    fn bad_values_name_their_property() {
        for (k, v) in [
            ("snapshot.mode", "sometimes"),
            ("database.port", "http"),
            ("slot.drop.on.stop", "yes"),
            ("slot.name", "Bad-Name"),
            ("plugin.name", "decoderbufs"),
            ("database.sslmode", "maybe"),
            ("table.include.list", "public.(unclosed"),
        ] {
            let mut m = base();
            m.insert(k.into(), v.into());
            let err = PostgresSourceConfig::from_properties(&m).unwrap_err().to_string();
            assert!(err.contains(k), "error for {k} should name it: {err}");
        }
    }

    #[test]
    fn missing_required_property_is_named() {
        let mut m = base();
        m.remove("database.hostname");
        let err = PostgresSourceConfig::from_properties(&m).unwrap_err().to_string();
        assert!(err.contains("database.hostname") && err.contains("required"), "{err}");
    }

    #[test]
    fn include_and_exclude_lists_are_exclusive() {
        let mut m = base();
        m.insert("table.include.list".into(), "public.a".into());
        m.insert("table.exclude.list".into(), "public.b".into());
        let err = PostgresSourceConfig::from_properties(&m).unwrap_err().to_string();
        assert!(err.contains("table.exclude.list"), "{err}");
    }
}
