//! sluice's side of a streaming or snapshot run, as its own child process (so its CPU time and
//! peak RSS are measured alone, as Debezium's JVM and `pg_recvlogical` are).
//!
//! The connector config is the Debezium one a user would register, with the Avro converter for
//! key and value. Two sinks:
//!
//! * `null`: the reader, Debezium record building and Avro serialization (schemas registered in
//!   the registry), then the bytes are dropped. Each commit is confirmed at once, as a sink that
//!   is durable immediately would. This is the same work Debezium's engine does before handing
//!   records to its (null) consumer.
//! * `kafka`: the real publisher pipeline (idempotent producer, delivery acknowledgements, stored
//!   offsets, confirmed LSNs) into the broker, stopped once Kafka has acknowledged every event.
//!
//! The child stops after `--expected` change events (tombstones are not change events) and prints
//! one JSON line on stdout: `{"events": N, "busy_ms": M}`, busy being from the start of the
//! pipeline to the last expected event.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_core::Timestamp;
use sluice_core::metrics::ConnectorMetrics;
use sluice_debezium::record::RecordBuilder;
use sluice_kafka::config::KafkaConfig;
use sluice_kafka::offsets::FileOffsetStore;
use sluice_kafka::publisher::{self, PublisherConfig, PublisherStatus};
use sluice_kafka::serializer::RecordSerializer;
use sluice_postgres::reader::{self, ReaderExit};
use tokio_util::sync::CancellationToken;

/// Where the records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Sink {
    /// Serialized as Avro, then dropped.
    Null,
    /// Published to Kafka.
    Kafka,
}

/// The child's command line.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// Where the records go.
    #[arg(long, value_enum)]
    pub(crate) sink: Sink,
    /// Database host, port, user and name.
    #[arg(long)]
    pub(crate) host: String,
    #[arg(long)]
    pub(crate) port: u16,
    #[arg(long)]
    pub(crate) user: String,
    #[arg(long)]
    pub(crate) dbname: String,
    /// The slot (existing for streaming; created for a snapshot).
    #[arg(long)]
    pub(crate) slot: String,
    /// The existing publication.
    #[arg(long)]
    pub(crate) publication: String,
    /// `table.include.list`.
    #[arg(long)]
    pub(crate) tables: String,
    /// Snapshot the tables (`snapshot.mode=initial_only`) instead of streaming.
    #[arg(long)]
    pub(crate) snapshot: bool,
    /// Change events to wait for.
    #[arg(long)]
    pub(crate) expected: u64,
    /// Schema registry URL.
    #[arg(long)]
    pub(crate) registry: String,
    /// Kafka bootstrap servers (the `kafka` sink).
    #[arg(long)]
    pub(crate) bootstrap: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub(crate) timeout_s: u64,
    /// Extra connector properties, `key=value` (repeatable).
    #[arg(long = "set")]
    pub(crate) set: Vec<String>,
}

impl ConsumeArgs {
    /// The Debezium connector config this run uses.
    pub(crate) fn properties(&self) -> Result<BTreeMap<String, String>> {
        let mut props: BTreeMap<String, String> = [
            ("name", "bench"),
            ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
            ("plugin.name", "pgoutput"),
            ("topic.prefix", "bench"),
            ("database.hostname", self.host.as_str()),
            ("database.user", self.user.as_str()),
            ("database.dbname", self.dbname.as_str()),
            ("database.sslmode", "disable"),
            ("slot.name", self.slot.as_str()),
            ("publication.name", self.publication.as_str()),
            ("publication.autocreate.mode", "disabled"),
            ("table.include.list", self.tables.as_str()),
            ("snapshot.mode", if self.snapshot { "initial_only" } else { "no_data" }),
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            ("key.converter.schema.registry.url", self.registry.as_str()),
            ("value.converter.schema.registry.url", self.registry.as_str()),
            ("topic.creation.default.partitions", "1"),
            ("topic.creation.default.replication.factor", "-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        props.insert("database.port".into(), self.port.to_string());
        for kv in &self.set {
            let (k, v) = kv.split_once('=').with_context(|| format!("--set {kv}: expected key=value"))?;
            props.insert(k.to_owned(), v.to_owned());
        }
        Ok(props)
    }

    /// This run as `sluice-bench consume ...` arguments.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "consume".to_owned(),
            "--sink".to_owned(),
            match self.sink {
                Sink::Null => "null",
                Sink::Kafka => "kafka",
            }
            .to_owned(),
        ];
        let mut flag = |name: &str, value: String| args.extend([format!("--{name}"), value]);
        flag("host", self.host.clone());
        flag("port", self.port.to_string());
        flag("user", self.user.clone());
        flag("dbname", self.dbname.clone());
        flag("slot", self.slot.clone());
        flag("publication", self.publication.clone());
        flag("tables", self.tables.clone());
        flag("expected", self.expected.to_string());
        flag("registry", self.registry.clone());
        flag("timeout-s", self.timeout_s.to_string());
        if let Some(b) = &self.bootstrap {
            flag("bootstrap", b.clone());
        }
        for kv in &self.set {
            flag("set", kv.clone());
        }
        if self.snapshot {
            args.push("--snapshot".to_owned());
        }
        args
    }
}

/// What the child reports.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Consumed {
    /// Change events seen.
    pub(crate) events: u64,
    /// From the pipeline's start to the last expected event.
    pub(crate) busy_ms: u64,
}

/// Runs the child and prints its [`Consumed`] line.
pub(crate) async fn run(args: ConsumeArgs) -> Result<()> {
    let props = args.properties()?;
    let deadline = Duration::from_secs(args.timeout_s);
    let consumed = match args.sink {
        // A spawned task on the runtime's workers, as the server runs its pipelines, not the main
        // thread: the reader then wakes its consumer on the same worker where it can, instead of
        // across threads for every small transaction. The deadline is inside the task, so the
        // task ends with it.
        Sink::Null => {
            let (props, args) = (props.clone(), args.clone());
            sluice_core::task::spawn_named("bench-null-sink", async move {
                tokio::time::timeout(deadline, null_sink(&props, &args)).await
            })
            .await
            .context("the null sink task")?
        }
        Sink::Kafka => tokio::time::timeout(deadline, kafka_sink(&props, &args)).await,
    }
    .with_context(|| format!("not all {} events arrived within {deadline:?}", args.expected))??;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&consumed)?)?;
    Ok(())
}

async fn null_sink(props: &BTreeMap<String, String>, args: &ConsumeArgs) -> Result<Consumed> {
    let config = PublisherConfig::from_properties(props)?;
    let mut serializer = RecordSerializer::new(
        &config.records.key_converter,
        &config.records.value_converter,
        &config.properties,
        Some(&args.registry),
    )?;
    let mut builder = RecordBuilder::new(config.records.clone());
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let mut handle = reader::spawn(config.postgres.clone(), None, cancel.clone());
    let mut records = Vec::new();
    let mut events = 0u64;
    let mut bytes = 0usize;
    let mut busy = None;
    let direct = serializer.writes_direct_rows();
    while let Some(event) = handle.events.recv().await {
        // As the publisher does: snapshot reads and inserts straight to Avro, the rest through
        // the records the builder makes.
        let now = Timestamp::now();
        let row = if direct { builder.direct_row(&event, now)? } else { None };
        if let Some(row) = row {
            let serialized = serializer.serialize_direct(&row).await?;
            bytes += serialized.value.map_or(0, <[u8]>::len) + serialized.key.map_or(0, <[u8]>::len);
            events += 1;
        } else {
            records.clear();
            builder.on_event(&event, now, &mut records)?;
            for record in &records {
                let serialized = serializer.serialize(record).await?;
                if let Some(value) = serialized.value {
                    bytes += value.len() + serialized.key.map_or(0, <[u8]>::len);
                    events += 1;
                }
            }
        }
        if let sluice_core::SourceEvent::Commit(c) = &event {
            handle.acks.confirm(c.end_lsn);
        }
        if events >= args.expected {
            busy = Some(started.elapsed());
            break;
        }
    }
    cancel.cancel();
    drop(handle.events);
    match handle.task.await? {
        Ok(ReaderExit::Stopped | ReaderExit::SnapshotOnly) => {}
        Err(e) if busy.is_none() => return Err(e.into()),
        Err(e) => tracing::debug!("reader stopped with {e}"),
    }
    let Some(busy) = busy else { bail!("the stream ended after {events} of {} events", args.expected) };
    tracing::debug!(events, bytes, "null sink done");
    Ok(Consumed { events, busy_ms: busy.as_millis() as u64 })
}

async fn kafka_sink(props: &BTreeMap<String, String>, args: &ConsumeArgs) -> Result<Consumed> {
    let config = PublisherConfig::from_properties(props)?;
    let bootstrap = args.bootstrap.clone().context("the kafka sink needs --bootstrap")?;
    let mut kafka = KafkaConfig::new(bootstrap);
    kafka.offsets_replication_factor = 1;
    let dir = tempfile::tempdir()?;
    let offsets = Arc::new(FileOffsetStore::new(dir.path().join("offsets.json")));
    let metrics = Arc::new(ConnectorMetrics::default());
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let pipeline = tokio::spawn(publisher::run(
        config,
        kafka,
        offsets,
        Some(args.registry.clone()),
        Duration::from_secs(1),
        PublisherStatus::default(),
        Arc::clone(&metrics),
        cancel.clone(),
    ));
    let busy = loop {
        let durable = metrics.snapshot().events;
        if durable >= args.expected {
            break started.elapsed();
        }
        if pipeline.is_finished() {
            pipeline.await??;
            bail!("the publisher stopped after {durable} of {} events", args.expected);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cancel.cancel();
    pipeline.await??;
    Ok(Consumed { events: metrics.snapshot().events, busy_ms: busy.as_millis() as u64 })
}
