//! Shared fixtures for sluice's end-to-end tests.
//!
//! [`cluster()`] starts one private PostgreSQL cluster per test process (initdb with
//! `wal_level=logical` on a free loopback port, TLS with a throwaway CA, users for md5 and
//! SCRAM authentication) and stops it when the process exits. [`TestDb::create`] gives each test its
//! own database, so slots and publications of different tests never meet.
//!
//! The cluster itself is a [`Sandbox`] (shared with `sluice demo`): server binaries from
//! `SLUICE_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`, which `scripts/install-test-deps`
//! installs when missing. `SLUICE_KEEP_PG=1` keeps its files (and `server.log`) after the run.

pub mod capture;
pub mod connect;
pub mod kafka;
pub mod oracle;
pub mod process;
pub mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use sluice_postgres::sandbox::{Sandbox, SandboxOptions};
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

/// A running private PostgreSQL cluster with TLS and test roles.
#[derive(Debug)]
pub struct Cluster {
    /// The underlying sandbox (data directory, port, binaries).
    pub sandbox: Sandbox,
    /// The loopback port it listens on.
    pub port: u16,
    /// The CA certificate that signed the server's certificate (PEM file).
    pub ca_cert: PathBuf,
    /// The server's major version (e.g. 15).
    pub major_version: u32,
}

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();

/// The process-wide test cluster, started on first use.
pub fn cluster() -> Arc<Cluster> {
    CLUSTER
        .get_or_init(|| Arc::new(Cluster::start().expect("failed to start the test PostgreSQL cluster")))
        .clone()
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
        let tls_dir = tempfile::Builder::new().prefix("sluice-tls-").tempdir()?.keep();
        make_certificates(&tls_dir)?;
        // The server runs as `postgres` when we are root and must be able to read its key.
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&tls_dir).status();
        let extra_conf = format!(
            "wal_sender_timeout = 60s\nshared_buffers = 128MB\nssl = on\n\
             ssl_cert_file = '{tls}/server.crt'\nssl_key_file = '{tls}/server.key'\nssl_ca_file = '{tls}/ca.crt'\n",
            tls = tls_dir.display()
        );
        let hba = format!(
            "local all all trust\nlocal replication all trust\n\
             hostnossl all {TLS_USER} 127.0.0.1/32 reject\nhostnossl replication {TLS_USER} 127.0.0.1/32 reject\n\
             hostssl all {TLS_USER} 127.0.0.1/32 scram-sha-256\nhostssl replication {TLS_USER} 127.0.0.1/32 scram-sha-256\n\
             host all {MD5_USER} 127.0.0.1/32 md5\nhost replication {MD5_USER} 127.0.0.1/32 md5\n\
             host all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\nhost replication {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n\
             host all {NO_REPLICATION_USER} 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
        );
        let sandbox = Sandbox::start(SandboxOptions {
            extra_conf,
            hba: Some(hba),
            keep_files: std::env::var_os("SLUICE_KEEP_PG").is_some(),
        })?;
        let cluster = Cluster {
            port: sandbox.port,
            major_version: sandbox.major_version,
            ca_cert: tls_dir.join("ca.crt"),
            sandbox,
        };
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
        Ok(self.sandbox.psql(db, sql)?)
    }

    /// The directory holding `psql`, `pg_recvlogical` and the server binaries.
    pub fn bin_dir(&self) -> &Path {
        self.sandbox.bin_dir()
    }

    /// A libpq-style connection string for the superuser.
    pub fn conn_string(&self, db: &str) -> String {
        self.sandbox.conn_string(db)
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

    /// Connects to an existing database of the test cluster (e.g. one a finished test created).
    pub async fn connect_existing(db: &str) -> Result<tokio_postgres::Client> {
        Self::connect_to(&cluster(), db).await
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
