//! The `sluice` binary as a child process, for tests that restart or `kill -9` it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The `sluice` binary of this build, built first if needed (integration-test targets of another
/// package do not get it built by `cargo test`).
pub fn sluice_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            // target/<profile>/deps/<test>-<hash> → target/<profile>/sluice
            let profile_dir =
                exe.parent().and_then(Path::parent).ok_or("unexpected test binary location")?.to_owned();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "--locked", "-p", "sluice-server", "--bin", "sluice"])
                .status()
                .map_err(|e| format!("running cargo build: {e}"))?;
            if !status.success() {
                return Err(format!("cargo build of the sluice binary failed: {status}"));
            }
            Ok(profile_dir.join("sluice"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// `sluice run`'s arguments for a test: every listener off unless asked for, so that tests never
/// collide on the default ports.
#[derive(Debug, Clone)]
pub struct RunArgs {
    args: Vec<String>,
    rest: String,
    admin: String,
    registry: String,
}

impl RunArgs {
    /// `sluice run --data-dir <data_dir>` with no listeners.
    pub fn new(data_dir: &Path) -> RunArgs {
        RunArgs {
            args: vec!["run".into(), "--data-dir".into(), data_dir.display().to_string()],
            rest: "off".into(),
            admin: "off".into(),
            registry: "off".into(),
        }
    }

    /// The REST API on a free local port (its URL is logged).
    pub fn rest(mut self) -> RunArgs {
        self.rest = "127.0.0.1:0".into();
        self
    }

    /// The admin endpoint on a free local port (its URL is logged).
    pub fn admin(mut self) -> RunArgs {
        self.admin = "127.0.0.1:0".into();
        self
    }

    /// The schema registry at `address` (`127.0.0.1:0` for a free port).
    pub fn registry(mut self, address: &str) -> RunArgs {
        self.registry = address.into();
        self
    }

    /// A connector config file to run.
    pub fn connector(self, path: &Path) -> RunArgs {
        self.arg("--connector", &path.display().to_string())
    }

    /// One worker property (`--worker-set key=value`).
    pub fn worker(self, key: &str, value: &str) -> RunArgs {
        self.arg("--worker-set", &format!("{key}={value}"))
    }

    /// Any other flag with its value.
    pub fn arg(mut self, flag: &str, value: &str) -> RunArgs {
        self.args.extend([flag.to_owned(), value.to_owned()]);
        self
    }

    /// The command line after the binary's name.
    pub fn build(&self) -> Vec<String> {
        let mut args = self.args.clone();
        for (flag, value) in [
            ("--rest-listen", &self.rest),
            ("--admin-listen", &self.admin),
            ("--registry-listen", &self.registry),
        ] {
            args.extend([flag.to_owned(), value.clone()]);
        }
        args
    }
}

/// A running `sluice` process whose stderr goes to a log file.
#[derive(Debug)]
pub struct SluiceProcess {
    child: Child,
    log: PathBuf,
}

impl SluiceProcess {
    /// Starts `sluice <args>`, logging to `log`.
    pub fn start(args: &[String], log: &Path) -> Result<SluiceProcess> {
        let bin = sluice_binary()?;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        writeln!(file, "---- sluice {}", args.join(" "))?;
        let mut command = Command::new(bin);
        // sluice's own default filter unless SLUICE_TEST_LOG says otherwise; never the test's
        // RUST_LOG, which could hide the lines tests wait for.
        command.env_remove("RUST_LOG").env_remove("SLUICE_LOG");
        if let Ok(filter) = std::env::var("SLUICE_TEST_LOG") {
            command.env("SLUICE_LOG", filter);
        }
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting sluice")?;
        Ok(SluiceProcess { child, log: log.to_owned() })
    }

    /// The log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no chance to flush or store anything.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits up to `deadline` for a clean exit.
    pub fn terminate(&mut self, deadline: Duration) -> Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("sluice exited with {status} after SIGTERM:\n{}", self.log_text());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("sluice did not exit within {deadline:?} of SIGTERM:\n{}", self.log_text())
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
