//! Streaming throughput: the same WAL read by PostgreSQL's own client (`pg_recvlogical`, the
//! limit), sluice into a null sink and into Kafka, and the real Debezium engine.
//!
//! For each workload every system gets its own pgoutput slot, created before the workload runs, so
//! all of them decode exactly the same WAL; they then run one after another (never at the same
//! time) from their slot up to the workload's end.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::Options;
use crate::broker::Broker;
use crate::consume::{ConsumeArgs, Consumed, Sink};
use crate::database::{BenchDb, PUBLICATION};
use crate::debezium::{self, DebeziumJob};
use crate::measure::{self, Usage};
use crate::registry::BenchRegistry;
use crate::report::{self, Section, mib, ratio, seconds, thousands};

/// A table shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Its name.
    pub(crate) table: &'static str,
    /// Its column count.
    pub(crate) columns: usize,
}

/// The 5-column and the 20-column tables.
pub(crate) const SHAPES: [Shape; 2] =
    [Shape { table: "stream5", columns: 5 }, Shape { table: "stream20", columns: 20 }];

/// Column definitions after `id bigint primary key`, and the SELECT expressions (over `g`) that
/// fill them, for a shape.
fn columns(shape: Shape) -> (Vec<String>, Vec<String>) {
    let kinds: [(&str, &str); 8] = [
        ("integer", "(g % 100000)::integer"),
        ("text", "'customer-' || g"),
        ("timestamptz", "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"),
        ("numeric(12,2)", "((g % 1000000) / 100.0)::numeric(12,2)"),
        ("boolean", "(g % 2 = 0)"),
        ("double precision", "(g * 0.5)::double precision"),
        ("bigint", "g * 7"),
        ("varchar(64)", "md5(g::text)"),
    ];
    let (mut defs, mut exprs) = (Vec::new(), Vec::new());
    for i in 0..shape.columns - 1 {
        let (kind, expr) = kinds[i % kinds.len()];
        defs.push(format!("c{i} {kind}"));
        exprs.push(expr.to_owned());
    }
    (defs, exprs)
}

/// `CREATE TABLE` for a shape (under `name`).
pub(crate) fn create_table(shape: Shape, name: &str) -> String {
    let (defs, _) = columns(shape);
    format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id bigint PRIMARY KEY, {})", defs.join(", "))
}

/// `INSERT` of ids `from..=to` into `name` (one statement, so one transaction).
pub(crate) fn insert_rows(shape: Shape, name: &str, from: u64, to: u64) -> String {
    let (_, exprs) = columns(shape);
    format!("INSERT INTO {name} SELECT g, {} FROM generate_series({from}::bigint, {to}) g", exprs.join(", "))
}

/// A workload: what runs, and how many change events it produces.
#[derive(Debug, Clone)]
struct Workload {
    shape: Shape,
    label: String,
    /// The SQL (a statement, or a CALL of a procedure that commits per transaction).
    sql: String,
    events: u64,
}

/// Rows of the big transaction and the number of small ones. The mixed workload updates rows
/// `1..=txns` and deletes rows from `rows / 2 + 1` on, all inserted by the big one; at most a
/// quarter of them keeps the updated and the deleted rows apart.
fn sizes(options: &Options) -> (u64, u64) {
    let rows = options.scaled(1_000_000);
    (rows, options.scaled(100_000).min(rows / 4).max(1))
}

fn workloads(options: &Options) -> Vec<(Workload, Workload)> {
    let (rows, txns) = sizes(options);
    SHAPES
        .iter()
        .map(|&shape| {
            let big = Workload {
                shape,
                label: format!("1 txn x {} inserts, {} cols", thousands(rows as f64), shape.columns),
                sql: insert_rows(shape, shape.table, 1, rows),
                events: rows,
            };
            let mixed = Workload {
                shape,
                label: format!("{} mixed txns, {} cols", thousands(txns as f64), shape.columns),
                sql: format!("CALL {}_mixed({txns}, {rows})", shape.table),
                events: 3 * txns,
            };
            (big, mixed)
        })
        .collect()
}

/// The procedure behind the mixed workload: transaction `i` inserts row `rows + i`, updates row
/// `i` and deletes row `rows / 2 + i`, then commits: three change events each.
fn mixed_procedure(shape: Shape) -> String {
    let (_, exprs) = columns(shape);
    let table = shape.table;
    format!(
        "CREATE OR REPLACE PROCEDURE {table}_mixed(txns bigint, rows bigint) LANGUAGE plpgsql AS $$
         DECLARE g bigint;
         BEGIN
           FOR i IN 1..txns LOOP
             g := rows + i;
             INSERT INTO {table} SELECT g, {exprs};
             UPDATE {table} SET c0 = c0 + 1 WHERE id = i;
             DELETE FROM {table} WHERE id = rows / 2 + i;
             COMMIT;
           END LOOP;
         END $$",
        exprs = exprs.join(", "),
    )
}

/// One system's result on one workload.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) system: &'static str,
    pub(crate) events: u64,
    /// The time the rate is computed from (see the workload text).
    pub(crate) busy: Duration,
    pub(crate) usage: Usage,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.busy.as_secs_f64().max(1e-9)
    }

    fn cpu_per_million(&self) -> f64 {
        self.usage.cpu.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }
}

pub(crate) async fn run(options: &Options) -> Result<Vec<Section>> {
    let db = BenchDb::start().await?;
    let registry = BenchRegistry::start().await?;
    let broker = Broker::start()?;
    if options.debezium {
        tokio::task::spawn_blocking(debezium::prepare).await??;
    }
    for shape in SHAPES {
        db.psql(&create_table(shape, shape.table))?;
        db.psql(&mixed_procedure(shape))?;
    }
    db.psql(&format!(
        "CREATE PUBLICATION {PUBLICATION} FOR TABLE {}",
        SHAPES.iter().map(|s| s.table).collect::<Vec<_>>().join(", ")
    ))?;

    let mut section = Section::new(
        "Streaming",
        workload_text(options),
        &[
            "workload",
            "system",
            "events",
            "events/s",
            "busy s",
            "wall s",
            "CPU s",
            "CPU s / 1M events",
            "peak RSS MiB",
        ],
    );
    for (round, (big, mixed)) in workloads(options).into_iter().enumerate() {
        for (n, workload) in [big, mixed].into_iter().enumerate() {
            let outcomes = run_workload(options, &db, &registry, &broker, &workload, round * 2 + n).await?;
            for o in &outcomes {
                section.row(vec![
                    workload.label.clone(),
                    o.system.to_owned(),
                    thousands(o.events as f64),
                    thousands(o.rate()),
                    seconds(o.busy),
                    seconds(o.usage.wall),
                    seconds(o.usage.cpu),
                    format!("{:.2}", o.cpu_per_million()),
                    mib(o.usage.peak_rss),
                ]);
            }
            section.findings.extend(findings(&workload, &outcomes));
        }
    }
    report::print(&section);
    Ok(vec![section])
}

async fn run_workload(
    options: &Options,
    db: &BenchDb,
    registry: &BenchRegistry,
    broker: &Broker,
    workload: &Workload,
    index: usize,
) -> Result<Vec<Outcome>> {
    let slot = |system: &str| format!("bench_{index}_{system}");
    let mut systems = vec!["recvlogical", "null", "binary", "kafka"];
    if options.debezium {
        systems.push("debezium");
    }
    for s in &systems {
        db.create_slot(&slot(s)).await?;
    }
    tracing::info!(workload = %workload.label, "running the workload");
    let started = Instant::now();
    db.psql(&workload.sql)?;
    // A transactional logical message right after the workload: when it arrives, pg_recvlogical
    // has received everything before it.
    let marker = format!("sluice-bench-end-of-workload-{index}");
    db.psql(&format!("SELECT pg_logical_emit_message(true, 'sluice-bench', '{marker}');"))?;
    let end_lsn = db.current_lsn().await?;
    db.wait_flushed(&end_lsn).await?;
    tracing::info!(workload = %workload.label, seconds = started.elapsed().as_secs_f64(), %end_lsn, "workload done");
    let tables = format!("public.{}", workload.shape.table);
    let mut outcomes = Vec::new();

    // PostgreSQL's own client: raw pgoutput into a pipe read by the measuring wrapper (about the
    // cost of writing to /dev/null), stopped as soon as the marker message
    // written after the workload arrives. (`--endpos` is not used: pg_recvlogical also stops when
    // a keepalive reports a flushed position past it, which a server busy decoding a large
    // transaction sends before the transaction itself, and the run then measured nothing.)
    let fifo_dir = tempfile::tempdir()?;
    let fifo = fifo_dir.path().join("pgoutput");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR)?;
    let measured = measure::measured_until(
        &db.bin("pg_recvlogical"),
        &[
            "-d".into(),
            db.conn_string(),
            "--slot".into(),
            slot("recvlogical"),
            "--start".into(),
            "--no-loop".into(),
            "-o".into(),
            "proto_version=1".into(),
            "-o".into(),
            format!("publication_names={PUBLICATION}"),
            "-o".into(),
            "messages=true".into(),
            "-f".into(),
            fifo.display().to_string(),
        ],
        &[],
        Some(measure::StopMarker { file: fifo.clone(), marker: marker.clone() }),
    )
    .await?;
    drop(fifo_dir);
    outcomes.push(Outcome {
        system: "pg_recvlogical (limit)",
        events: workload.events,
        busy: measured.usage.until_marker.unwrap_or(measured.usage.wall),
        usage: measured.usage,
    });

    let sluices = [
        ("sluice, null sink", "null", Sink::Null, None),
        ("sluice, null sink, binary tuples", "binary", Sink::Null, Some(BINARY_TUPLES)),
        ("sluice to Kafka", "kafka", Sink::Kafka, None),
    ];
    for (system, slot_of, sink, set) in sluices {
        let args = ConsumeArgs {
            sink,
            host: db.host().into(),
            port: db.port(),
            user: db.user().into(),
            dbname: db.dbname().into(),
            slot: slot(slot_of),
            publication: PUBLICATION.into(),
            tables: tables.clone(),
            snapshot: false,
            expected: workload.events,
            registry: registry.url().into(),
            bootstrap: Some(broker.bootstrap()),
            timeout_s: 1800,
            set: set.iter().map(|s| (*s).to_owned()).collect(),
        };
        outcomes.push(run_sluice(system, &args).await?);
    }

    if options.debezium {
        let job = DebeziumJob {
            db,
            slot: &slot("debezium"),
            publication: PUBLICATION,
            tables: &tables,
            snapshot: false,
            expected_events: workload.events,
            registry_url: registry.url(),
        };
        let run = debezium::run(&job).await?;
        outcomes.push(Outcome {
            system: "Debezium 3.6.3 (Avro, null sink)",
            events: run.events,
            busy: run.busy,
            usage: run.measured.usage,
        });
    }
    for s in &systems {
        db.drop_slot(&slot(s)).await?;
    }
    Ok(outcomes)
}

/// The setting of the binary-tuples run.
const BINARY_TUPLES: &str = "sluice.pgoutput.binary=true";

/// Runs sluice's consumer child for `args`.
pub(crate) async fn run_sluice(system: &'static str, args: &ConsumeArgs) -> Result<Outcome> {
    let me = std::env::current_exe()?;
    // SLUICE_BENCH_PERF=DIR profiles every sluice child with `perf record` (the numbers of such a
    // run include perf's overhead; it is for finding hot paths, not for the report).
    let measured = match std::env::var_os("SLUICE_BENCH_PERF") {
        Some(dir) => {
            let name: String = format!("{system} {}", args.slot)
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect();
            let mut perf_args: Vec<String> = ["record", "-e", "cpu-clock", "-F", "999", "-g", "-o"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            perf_args.push(Path::new(&dir).join(format!("{name}.perf.data")).display().to_string());
            perf_args.push("--".into());
            perf_args.push(me.display().to_string());
            perf_args.extend(args.to_args());
            measure::measured(Path::new("perf"), &perf_args, &[]).await?
        }
        None => measure::measured(Path::new(&me), &args.to_args(), &[]).await?,
    };
    let consumed: Consumed = serde_json::from_str(measured.stdout.trim()).with_context(|| {
        format!("{system}: no result line in {:?}\n{}", measured.stdout, measured.stderr_tail(20))
    })?;
    Ok(Outcome {
        system,
        events: consumed.events,
        busy: Duration::from_millis(consumed.busy_ms),
        usage: measured.usage,
    })
}

fn findings(workload: &Workload, outcomes: &[Outcome]) -> Vec<String> {
    let find = |prefix: &str| outcomes.iter().find(|o| o.system.starts_with(prefix));
    let mut out = Vec::new();
    let (Some(limit), Some(null)) = (find("pg_recvlogical"), find("sluice, null")) else { return out };
    let kafka = find("sluice to Kafka");
    let mut line = format!(
        "{}: sluice (null sink) streams at {} of pg_recvlogical's rate (target >= 0.85x)",
        workload.label,
        ratio(null.rate() / limit.rate())
    );
    if let Some(b) = find("sluice, null sink, binary") {
        line.push_str(&format!("; with binary tuples {}", ratio(b.rate() / limit.rate())));
    }
    if let Some(k) = kafka {
        line.push_str(&format!("; into Kafka {}", ratio(k.rate() / limit.rate())));
    }
    if let Some(dbz) = find("Debezium") {
        line.push_str(&format!(
            "; {} Debezium's rate (into Kafka {}) with {} of its peak RSS (target <= 0.10x)",
            ratio(null.rate() / dbz.rate()),
            kafka.map_or("-".into(), |k| ratio(k.rate() / dbz.rate())),
            ratio(null.usage.peak_rss as f64 / dbz.usage.peak_rss.max(1) as f64),
        ));
    }
    out.push(line);
    out
}

fn workload_text(options: &Options) -> String {
    let (rows, txns) = sizes(options);
    let (defs5, _) = columns(SHAPES[0]);
    let (defs20, _) = columns(SHAPES[1]);
    format!(
        "Tables `stream5 (id bigint primary key, {})` and `stream20 (id bigint primary key, {})`, \
         one publication over both. Per table, two workloads run one after the other: \
         **one transaction** inserting {rows} rows (`INSERT ... SELECT ... FROM generate_series`), then \
         **{txns} small transactions** from a procedure that commits after each (insert of a new row, \
         update of an existing row, delete of an existing row: 3 change events per transaction). \
         Before each workload every system gets its own pgoutput slot; after it, the systems read \
         the same WAL from their slots one at a time:\n\n\
         - `pg_recvlogical` (PostgreSQL's client, `proto_version=1`, into a pipe that is read and dropped, stopped once a \
           logical message written right after the workload arrives): the limit, what the walsender \
           can send. Its rate uses the time from its start until that message arrived.\n\
         - sluice, null sink: the reader, Debezium records and Avro serialization through sluice's \
           registry, bytes dropped, each commit confirmed (`sluice-bench consume --sink null`).\n\
         - sluice, null sink, binary tuples: the same with `sluice.pgoutput.binary=true` (pgoutput \
           sends values in their binary send format: less work for the walsender and for sluice's \
           decoder; the records are the same).\n\
         - sluice to Kafka: the real publisher (idempotent producer, acknowledgements, stored \
           offsets) into a Tansu broker on the same machine, until Kafka acknowledged every event.\n\
         - Debezium 3.6.3.Final's embedded engine with Confluent's AvroConverter against sluice's \
           registry and a null consumer, default JVM settings.\n\n\
         Events are change events (tombstones not counted). *busy* is from the start of the \
         system's pipeline to its last event (for Debezium from the engine's start, after JVM \
         start-up); events/s = events / busy. *wall*, *CPU* (user + system) and *peak RSS* are the \
         whole process's, measured by `getrusage` of that process alone.",
        defs5.join(", "),
        defs20.join(", "),
        rows = thousands(rows as f64),
        txns = thousands(txns as f64),
    )
}
