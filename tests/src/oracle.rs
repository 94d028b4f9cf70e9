//! The compatibility oracle: the real Debezium 3.6.3 PostgreSQL connector, run by Debezium's embedded
//! engine in a JVM (`tests/oracle/DebeziumOracle.java`), reporting every record it produces exactly as
//! Kafka Connect's converters would serialize it.
//!
//! [`DebeziumOracle::start`] takes Debezium connector properties, makes sure the jars and the compiled
//! oracle exist (`scripts/install-debezium`, cached outside the repository), and starts the JVM. Each
//! record arrives as an [`OracleRecord`]: the topic, the key and value as `JsonConverter`
//! (`schemas.enable=true`) writes them, the headers, and the Avro schemas Confluent's `AvroData` derives
//! from the key and value schemas. Differential tests run sluice and the oracle on the same database and
//! workload and compare the two field by field.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::sync::mpsc;

/// Properties the oracle adds unless the caller sets them.
const DEFAULT_PROPERTIES: &[(&str, &str)] = &[
    ("name", "sluice-oracle"),
    ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
    ("plugin.name", "pgoutput"),
    ("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore"),
    ("offset.flush.interval.ms", "0"),
];

/// One record produced by the real Debezium connector, as Kafka Connect's converters serialize it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OracleRecord {
    /// The Kafka topic.
    pub topic: String,
    /// `JsonConverter` (`schemas.enable=true`, key converter) output: `{"schema": …, "payload": …}`;
    /// `None` when the record has neither key nor key schema.
    pub key: Option<Value>,
    /// The same for the value; `None` for a tombstone.
    pub value: Option<Value>,
    /// The record's headers in order, each value as `JsonConverter` (`schemas.enable=true`) serializes
    /// it as a header: `{"schema": …, "payload": …}`.
    #[serde(deserialize_with = "headers")]
    pub headers: Vec<(String, Value)>,
    /// `AvroData.fromConnectSchema(keySchema).toString()` with default `AvroDataConfig`: the key
    /// schema `AvroConverter` would register; `None` without a key schema (or if `AvroData` refused it,
    /// see [`OracleRecord::key_avro_error`]).
    pub key_avro_schema: Option<String>,
    /// The same for the value schema.
    pub value_avro_schema: Option<String>,
    /// Whether the record had no key schema at all.
    #[serde(default)]
    pub key_schema_null: bool,
    /// The record's source partition (`{"server": <topic.prefix>}` for data records).
    #[serde(default)]
    pub source_partition: Value,
    /// The record's source offset (what Kafka Connect would store), e.g. `{"lsn": …, "txId": …}`.
    #[serde(default)]
    pub source_offset: Value,
    /// Why `AvroData` could not convert the key schema, if it could not.
    #[serde(default)]
    pub key_avro_error: Option<String>,
    /// Why `AvroData` could not convert the value schema, if it could not.
    #[serde(default)]
    pub value_avro_error: Option<String>,
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<(String, Value)>, D::Error> {
    #[derive(Deserialize)]
    struct Header {
        key: String,
        value: Value,
    }
    let list = Vec::<Header>::deserialize(d)?;
    Ok(list.into_iter().map(|h| (h.key, h.value)).collect())
}

impl OracleRecord {
    /// The key's `payload`.
    pub fn key_payload(&self) -> Option<&Value> {
        self.key.as_ref().and_then(|k| k.get("payload"))
    }

    /// The value's `payload` (the envelope), `None` for a tombstone.
    pub fn payload(&self) -> Option<&Value> {
        self.value.as_ref().and_then(|v| v.get("payload"))
    }

    /// The envelope's `op` (`r`, `c`, `u`, `d`, `t`, `m`), `None` for a tombstone.
    pub fn op(&self) -> Option<&str> {
        self.payload().and_then(|p| p.get("op")).and_then(Value::as_str)
    }

    /// A header's value (`{"schema", "payload"}`) by key, the first if repeated.
    pub fn header(&self, key: &str) -> Option<&Value> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value's Avro schema parsed as JSON.
    pub fn value_avro_json(&self) -> Option<Value> {
        self.value_avro_schema.as_deref().map(|s| serde_json::from_str(s).expect("AvroData writes JSON"))
    }

    /// The key's Avro schema parsed as JSON.
    pub fn key_avro_json(&self) -> Option<Value> {
        self.key_avro_schema.as_deref().map(|s| serde_json::from_str(s).expect("AvroData writes JSON"))
    }
}

/// The directory holding `libs/` (the Debezium jars) and `classes/` (the compiled oracle), installed on
/// first use by `scripts/install-debezium`.
pub fn debezium_home() -> Result<PathBuf> {
    static HOME: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    HOME.get_or_init(|| install().map_err(|e| format!("{e:#}"))).clone().map_err(|e| anyhow!(e))
}

fn install() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-debezium");
    let out = Command::new(&script)
        .arg("--print-home")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    let home = String::from_utf8(out.stdout).context("install-debezium printed a non-UTF-8 path")?;
    let home = PathBuf::from(home.trim());
    if !home.join("classes/DebeziumOracle.class").is_file() {
        bail!("{} did not produce {}/classes/DebeziumOracle.class", script.display(), home.display());
    }
    Ok(home)
}

/// A `java` command running the `main` of `class`, another program of `tests/oracle` compiled with
/// the oracle, on the oracle's classpath (JVM options as for [`DebeziumOracle::start`]). The caller
/// adds arguments and I/O.
pub fn java_command(class: &str) -> Result<Command> {
    let home = debezium_home()?;
    let classes = home.join("classes");
    if !classes.join(format!("{class}.class")).is_file() {
        bail!("{class}.class is not in {}: is tests/oracle/{class}.java there?", classes.display());
    }
    let mut cmd = Command::new("java");
    cmd.arg("-XX:+UseSerialGC");
    if let Ok(opts) = std::env::var("SLUICE_ORACLE_JAVA_OPTS") {
        cmd.args(opts.split_whitespace());
    }
    let mut classpath = home.join("libs").into_os_string();
    classpath.push("/*:");
    classpath.push(classes);
    cmd.arg("-cp").arg(classpath).arg(class);
    Ok(cmd)
}

/// The text of a Java `.properties` file (read as UTF-8): a `# <comment>` line, then one escaped
/// `key=value` line per property.
pub fn properties_text<K: AsRef<str>, V: AsRef<str>>(
    comment: &str,
    props: impl IntoIterator<Item = (K, V)>,
) -> String {
    let mut text = format!("# {comment}\n");
    for (k, v) in props {
        properties_escape(k.as_ref(), &mut text);
        text.push('=');
        properties_escape(v.as_ref(), &mut text);
        text.push('\n');
    }
    text
}

/// Escapes a key or value for a Java `.properties` file (read as UTF-8).
fn properties_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            ' ' | '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// A running real Debezium connector (a JVM), stopped and reaped on [`DebeziumOracle::stop`] or drop.
#[derive(Debug)]
pub struct DebeziumOracle {
    child: Child,
    /// Held open: the oracle stops when its stdin reaches EOF.
    _stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    dir: tempfile::TempDir,
}

impl DebeziumOracle {
    /// Starts the real connector with these Debezium connector properties (`database.*`,
    /// `topic.prefix`, `slot.name`, `publication.name`, `snapshot.mode`, handling modes, …). `name`,
    /// `connector.class` (PostgreSQL), `plugin.name=pgoutput`, in-memory offset storage and
    /// `offset.flush.interval.ms=0` are added unless given. `SLUICE_ORACLE_LOG` (e.g. `INFO`) sets the
    /// JVM's log level (default `WARN`), `SLUICE_ORACLE_JAVA_OPTS` adds JVM options.
    pub fn start(props: &BTreeMap<String, String>) -> Result<Self> {
        let home = debezium_home()?;
        let dir = tempfile::Builder::new().prefix("sluice-oracle-").tempdir()?;
        let mut all = props.clone();
        for (k, v) in DEFAULT_PROPERTIES {
            all.entry((*k).to_owned()).or_insert_with(|| (*v).to_owned());
        }
        let text = properties_text("written by sluice_tests::oracle", &all);
        let props_file = dir.path().join("connector.properties");
        std::fs::write(&props_file, text)?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;

        let mut cmd = Command::new("java");
        cmd.arg("-XX:+UseSerialGC");
        if let Ok(opts) = std::env::var("SLUICE_ORACLE_JAVA_OPTS") {
            cmd.args(opts.split_whitespace());
        }
        let mut classpath = home.join("libs").into_os_string();
        classpath.push("/*:");
        classpath.push(home.join("classes"));
        cmd.arg("-cp")
            .arg(classpath)
            .arg("DebeziumOracle")
            .arg(&props_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().context("could not start java (the Debezium oracle)")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::Builder::new().name("oracle-stdout".into()).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
        Ok(DebeziumOracle { child, _stdin: stdin, lines, dir })
    }

    /// The next record, or `None` if none arrived within `timeout`. An error if the oracle ended (with
    /// the tail of its log) or printed something that is not a record.
    pub async fn next_record(&mut self, timeout: Duration) -> Result<Option<OracleRecord>> {
        match tokio::time::timeout(timeout, self.lines.recv()).await {
            Err(_) => Ok(None),
            Ok(Some(line)) => serde_json::from_str(&line)
                .map(Some)
                .with_context(|| format!("the oracle printed something that is not a record: {line}")),
            Ok(None) => {
                let status = self.child.wait().ok();
                bail!("the Debezium oracle ended ({status:?}); its log ends with:\n{}", self.log_tail(60))
            }
        }
    }

    /// Every record until none arrives for `idle`. Panics if the oracle ends or misbehaves.
    pub async fn records_until_idle(&mut self, idle: Duration) -> Vec<OracleRecord> {
        let mut records = Vec::new();
        loop {
            match self.next_record(idle).await {
                Ok(Some(r)) => records.push(r),
                Ok(None) => return records,
                Err(e) => panic!("after {} records: {e:#}", records.len()),
            }
        }
    }

    /// The last `lines` lines of the JVM's log (stderr).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        let mut out = String::new();
        for l in &all[all.len().saturating_sub(lines)..] {
            let _ = writeln!(out, "{l}");
        }
        out
    }

    /// Kills the JVM and reaps it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for DebeziumOracle {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_escaped_for_java() {
        let mut out = String::new();
        properties_escape("a b=c:d#e!f\\g\nh", &mut out);
        assert_eq!(out, "a\\ b\\=c\\:d\\#e\\!f\\\\g\\nh");
    }

    #[test]
    fn a_record_line_deserializes() {
        let line = r#"{"topic":"t","key":null,"value":null,"headers":[{"key":"h","value":{"schema":{"type":"string","optional":false},"payload":"x"}}],"key_avro_schema":null,"value_avro_schema":null,"key_schema_null":true,"source_partition":{"server":"t"},"source_offset":{}}"#;
        let r: OracleRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.header("h").unwrap()["payload"], "x");
        assert!(r.key_schema_null);
        assert_eq!(r.op(), None);
    }
}
