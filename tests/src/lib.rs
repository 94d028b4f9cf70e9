//! Shared fixtures for sluice's end-to-end tests.
//!
//! [`cluster()`] starts one private PostgreSQL cluster per test process (initdb with
//! `wal_level=logical` on a free loopback port, TLS with a throwaway CA, users for md5 and
//! SCRAM authentication) and stops it when the process exits. [`TestDb::create`] gives each test its
//! own database, so slots and publications of different tests never meet.
//!
//! The server binaries are taken from `SLUICE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`;
//! `scripts/install-test-deps` installs them when missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use tokio_postgres::NoTls;

/// The password of the md5 and SCRAM test users.
pub const TEST_PASSWORD: &str = "s3cret-pw";
/// A role that authenticates with md5 (and has REPLICATION).
pub const MD5_USER: &str = "sluice_md5";
/// A role that authenticates with SCRAM-SHA-256 (and has REPLICATION).
pub const SCRAM_USER: &str = "sluice_scram";
/// A role that may only connect over TLS, with SCRAM (and has REPLICATION).
pub const TLS_USER: &str = "sluice_tls";
/// A role without the REPLICATION attribute (trust auth).
pub const NO_REPLICATION_USER: &str = "sluice_plain";

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's data directory (also its socket directory).
    pub data_dir: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
    /// The CA certificate that signed the server's certificate (PEM file).
    pub ca_cert: PathBuf,
    /// The server's major version (e.g. 15).
    pub major_version: u32,
    bin_dir: PathBuf,
}

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();

/// The process-wide test cluster, started on first use.
pub fn cluster() -> Arc<Cluster> {
    CLUSTER
        .get_or_init(|| Arc::new(Cluster::start().expect("failed to start the test PostgreSQL cluster")))
        .clone()
}

/// Finds PostgreSQL's server binaries.
pub fn pg_bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("SLUICE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; run scripts/install-test-deps",
        )?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL server with initdb found; run scripts/install-test-deps")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Runs a command as the `postgres` user when we are root (initdb refuses root).
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Cluster {
    fn start() -> Result<Cluster> {
        let bin_dir = pg_bin_dir()?;
        let root = tempfile::Builder::new().prefix("sluice-pg-").tempdir()?.keep();
        let data_dir = root.join("data");
        let tls_dir = root.join("tls");
        std::fs::create_dir_all(&tls_dir)?;
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
        make_certificates(&tls_dir)?;
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&tls_dir), "chown")?;
        }
        let port = free_port()?;
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             wal_level = logical\nmax_replication_slots = 64\nmax_wal_senders = 64\nmax_connections = 300\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nwal_sender_timeout = 60s\n\
             ssl = on\nssl_cert_file = '{tls}/server.crt'\nssl_key_file = '{tls}/server.key'\n\
             ssl_ca_file = '{tls}/ca.crt'\nlog_min_messages = warning\nshared_buffers = 128MB\n",
            dir = data_dir.display(),
            tls = tls_dir.display()
        );
        let mut pg_conf = std::fs::read_to_string(data_dir.join("postgresql.conf"))?;
        pg_conf.push_str(&conf);
        std::fs::write(data_dir.join("postgresql.conf"), pg_conf)?;
        let hba = format!(
            "local all all trust\nlocal replication all trust\n\
             hostnossl all {TLS_USER} 127.0.0.1/32 reject\nhostnossl replication {TLS_USER} 127.0.0.1/32 reject\n\
             hostssl all {TLS_USER} 127.0.0.1/32 scram-sha-256\nhostssl replication {TLS_USER} 127.0.0.1/32 scram-sha-256\n\
             host all {MD5_USER} 127.0.0.1/32 md5\nhost replication {MD5_USER} 127.0.0.1/32 md5\n\
             host all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\nhost replication {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
        );
        std::fs::write(data_dir.join("pg_hba.conf"), hba)?;
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
        spawn_watchdog(&bin_dir, &data_dir, &root)?;
        let major_version = std::fs::read_to_string(data_dir.join("PG_VERSION"))?.trim().parse()?;
        let cluster = Cluster { data_dir, port, ca_cert: tls_dir.join("ca.crt"), major_version, bin_dir };
        cluster.bootstrap_roles()?;
        Ok(cluster)
    }

    fn bootstrap_roles(&self) -> Result<()> {
        let sql = format!(
            "SET password_encryption = 'md5';\n\
             CREATE ROLE {MD5_USER} LOGIN REPLICATION SUPERUSER PASSWORD '{TEST_PASSWORD}';\n\
             SET password_encryption = 'scram-sha-256';\n\
             CREATE ROLE {SCRAM_USER} LOGIN REPLICATION SUPERUSER PASSWORD '{TEST_PASSWORD}';\n\
             CREATE ROLE {TLS_USER} LOGIN REPLICATION SUPERUSER PASSWORD '{TEST_PASSWORD}';\n\
             CREATE ROLE {NO_REPLICATION_USER} LOGIN;\n"
        );
        self.psql("postgres", &sql)
    }

    /// Runs SQL through `psql` as the superuser (for setup that needs no result).
    pub fn psql(&self, db: &str, sql: &str) -> Result<()> {
        run(
            Command::new(self.bin_dir.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .args(["-d", db, "-c", sql]),
            "psql",
        )
    }

    /// The directory holding `psql`, `pg_recvlogical` and the server binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A libpq-style connection string for the superuser.
    pub fn conn_string(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }
}

fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str], what: &str| run(Command::new("openssl").args(args).current_dir(dir), what);
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=sluice test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        "openssl (CA)",
    )?;
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        "openssl (server key)",
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ],
        "openssl (server cert)",
    )?;
    // PostgreSQL refuses a key file readable by others.
    run(Command::new("chmod").args(["600"]).arg(dir.join("server.key")), "chmod")?;
    Ok(())
}

/// Stops the cluster and removes its files once this process is gone, however it ends.
fn spawn_watchdog(bin_dir: &Path, data_dir: &Path, root: &Path) -> Result<()> {
    // SLUICE_KEEP_PG=1 keeps the files (server.log) for a post-mortem.
    let cleanup = if std::env::var_os("SLUICE_KEEP_PG").is_some() { "true" } else { "rm -rf" };
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; \
         {pg_ctl} -D '{data}' -m immediate stop >/dev/null 2>&1; {cleanup} '{root}'",
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
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    Ok(())
}

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The database name (`t_<test name>`).
    pub name: String,
    /// The cluster it lives in.
    pub cluster: Arc<Cluster>,
    /// An ordinary superuser connection to it, for the test's own SQL.
    pub client: tokio_postgres::Client,
}

impl TestDb {
    /// Creates (or re-creates) database `t_<name>`, dropping slots left in it by an earlier run.
    pub async fn create(name: &str) -> Result<TestDb> {
        let cluster = cluster();
        let db = format!("t_{name}");
        let (admin, conn) = tokio_postgres::connect(&cluster.conn_string("postgres"), NoTls).await?;
        tokio::spawn(conn);
        admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1",
                &[&db],
            )
            .await?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
        admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
        let client = Self::connect_to(&cluster, &db).await?;
        Ok(TestDb { name: db, cluster, client })
    }

    async fn connect_to(cluster: &Cluster, db: &str) -> Result<tokio_postgres::Client> {
        let (client, conn) = tokio_postgres::connect(&cluster.conn_string(db), NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "test connection closed");
            }
        });
        Ok(client)
    }

    /// Opens another ordinary connection to this database.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        Self::connect_to(&self.cluster, &self.name).await
    }

    /// Port of the cluster.
    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// Runs a batch of SQL statements.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).await.with_context(|| format!("SQL failed: {sql}"))
    }
}

/// Installs a tracing subscriber once, honouring `RUST_LOG`, writing to the test's captured output.
pub fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}
