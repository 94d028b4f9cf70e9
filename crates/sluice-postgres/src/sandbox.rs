//! A throwaway local PostgreSQL cluster, for `sluice demo` and the test suite.
//!
//! It runs `initdb` into a private temporary directory (as the `postgres` user when started by
//! root, because initdb refuses root), configures `wal_level = logical` on a free loopback port, and
//! starts the server. A watchdog process stops the server and removes its files once the process
//! that started it is gone, however that process ends; dropping the [`Sandbox`] stops it at once.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
#[error("local PostgreSQL sandbox: {0}")]
pub struct SandboxError(String);

/// Settings of a sandbox cluster.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Lines appended to `postgresql.conf`.
    pub extra_conf: String,
    /// The complete `pg_hba.conf`; `None` trusts every local and loopback connection.
    pub hba: Option<String>,
    /// Keep the files after exit (for post-mortems of failed tests).
    pub keep_files: bool,
}

/// A running local cluster.
#[derive(Debug)]
pub struct Sandbox {
    /// Root directory (data directory, log, anything the caller puts there).
    pub root: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Loopback port.
    pub port: u16,
    /// PostgreSQL major version.
    pub major_version: u32,
    bin_dir: PathBuf,
}

/// Finds PostgreSQL's server binaries: `SLUICE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn pg_bin_dir() -> Result<PathBuf, SandboxError> {
    if let Ok(dir) = std::env::var("SLUICE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let missing = || {
        SandboxError(
            "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql: install them \
             (apt-get install postgresql) or set SLUICE_PG_BIN to the directory holding initdb"
                .into(),
        )
    };
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(missing)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// A command run as the `postgres` user when we are root.
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), SandboxError> {
    let out = cmd.output().map_err(|e| SandboxError(format!("could not run {what}: {e}")))?;
    if !out.status.success() {
        return Err(SandboxError(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn io(what: &str) -> impl Fn(std::io::Error) -> SandboxError + '_ {
    move |e| SandboxError(format!("{what}: {e}"))
}

impl Sandbox {
    /// Creates and starts a cluster.
    pub fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let bin_dir = pg_bin_dir()?;
        let root = tempfile::Builder::new().prefix("sluice-pg-").tempdir().map_err(io("temp dir"))?.keep();
        let data_dir = root.join("data");
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root), "chown")?;
        }
        run(
            as_pg_user(&bin_dir.join("initdb")).arg("-D").arg(&data_dir).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]),
            "initdb",
        )?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("finding a free port"))?
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             wal_level = logical\nmax_replication_slots = 64\nmax_wal_senders = 64\nmax_connections = 300\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nlog_min_messages = warning\n{extra}\n",
            dir = data_dir.display(),
            extra = options.extra_conf,
        );
        let conf_path = data_dir.join("postgresql.conf");
        let mut pg_conf = std::fs::read_to_string(&conf_path).map_err(io("reading postgresql.conf"))?;
        pg_conf.push_str(&conf);
        std::fs::write(&conf_path, pg_conf).map_err(io("writing postgresql.conf"))?;
        let hba = options.hba.clone().unwrap_or_else(|| {
            "local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 trust\n\
             host replication all 127.0.0.1/32 trust\n"
                .into()
        });
        std::fs::write(data_dir.join("pg_hba.conf"), hba).map_err(io("writing pg_hba.conf"))?;
        run(
            as_pg_user(&bin_dir.join("pg_ctl"))
                .arg("-D")
                .arg(&data_dir)
                .arg("-l")
                .arg(root.join("server.log"))
                .args(["-w", "-t", "60", "start"])
                .stdout(Stdio::null()),
            "pg_ctl start",
        )?;
        spawn_watchdog(&bin_dir, &data_dir, &root, options.keep_files)?;
        let major_version = std::fs::read_to_string(data_dir.join("PG_VERSION"))
            .map_err(io("reading PG_VERSION"))?
            .trim()
            .parse()
            .map_err(|_| SandboxError("PG_VERSION is not a number".into()))?;
        Ok(Sandbox { root, data_dir, port, major_version, bin_dir })
    }

    /// The directory of `psql`, `pg_recvlogical` and the server binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A libpq-style connection string for the superuser.
    pub fn conn_string(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// Runs SQL through `psql` as the superuser.
    pub fn psql(&self, db: &str, sql: &str) -> Result<(), SandboxError> {
        run(
            Command::new(self.bin_dir.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .args(["-d", db, "-c", sql]),
            "psql",
        )
    }

    /// Stops the server now (fast shutdown).
    pub fn stop(&self) {
        let _ = as_pg_user(&self.bin_dir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Stops the server and removes its files once this process is gone.
fn spawn_watchdog(bin_dir: &Path, data_dir: &Path, root: &Path, keep: bool) -> Result<(), SandboxError> {
    let cleanup = if keep { "true" } else { "rm -rf" };
    // `[ -d /proc/PID ]` rather than `kill -0`: the watchdog may run as another user.
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; \
         '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; {cleanup} '{root}'",
        pid = std::process::id(),
        pg_ctl = bin_dir.join("pg_ctl").display(),
        data = data_dir.display(),
        root = root.display(),
    );
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "setsid", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("setsid");
        c.args(["sh", "-c", &script]);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("starting the cleanup watchdog"))?;
    Ok(())
}
