//! The benchmark's PostgreSQL: a throwaway local cluster (sluice's own sandbox) tuned for bulk
//! writes, with one database, the benchmark tables and one publication over them.
//!
//! Durability settings are the sandbox's (`fsync = off`, `synchronous_commit = off`): every system
//! reads the same WAL from the same server, so they do not favour one reader over another, and
//! they keep the workload generation itself short.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sluice_postgres::sandbox::{Sandbox, SandboxOptions};

/// The database every benchmark uses.
pub(crate) const DATABASE: &str = "bench";
/// The publication over every benchmark table.
pub(crate) const PUBLICATION: &str = "bench_pub";

/// A running benchmark cluster (stopped when dropped).
#[derive(Debug)]
pub(crate) struct BenchDb {
    sandbox: Sandbox,
}

impl BenchDb {
    /// Starts the cluster and creates the database.
    pub(crate) async fn start() -> Result<BenchDb> {
        let options = SandboxOptions {
            extra_conf: "shared_buffers = 1GB\nmax_wal_size = 16GB\ncheckpoint_timeout = 30min\n\
                         wal_sender_timeout = 0\nwal_buffers = 64MB\nmaintenance_work_mem = 512MB\n"
                .into(),
            ..SandboxOptions::default()
        };
        let sandbox = tokio::task::spawn_blocking(move || Sandbox::start(options))
            .await?
            .context("starting the benchmark's PostgreSQL (initdb must be installed)")?;
        sandbox.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        Ok(BenchDb { sandbox })
    }

    /// Host of the server (loopback).
    pub(crate) fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.sandbox.port
    }

    /// The superuser every system connects as (trust authentication, no password).
    pub(crate) fn user(&self) -> &'static str {
        "postgres"
    }

    /// The database name.
    pub(crate) fn dbname(&self) -> &'static str {
        DATABASE
    }

    /// `host=... port=... user=... dbname=...`.
    pub(crate) fn conn_string(&self) -> String {
        self.sandbox.conn_string(DATABASE)
    }

    /// A PostgreSQL binary of the server's installation (`pg_recvlogical`, `psql`).
    pub(crate) fn bin(&self, name: &str) -> PathBuf {
        self.sandbox.bin_dir().join(name)
    }

    /// A client connection.
    pub(crate) async fn client(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.conn_string(), tokio_postgres::NoTls)
            .await
            .context("connecting to the benchmark database")?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("benchmark connection closed: {e}");
            }
        });
        Ok(client)
    }

    /// Runs SQL (several statements allowed) through `psql`.
    pub(crate) fn psql(&self, sql: &str) -> Result<()> {
        let out = Command::new(self.bin("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host(), "-U", self.user(), "-p"])
            .arg(self.port().to_string())
            .args(["-d", DATABASE, "-c", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Creates a pgoutput slot now (so it sees everything written after this call).
    pub(crate) async fn create_slot(&self, slot: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", &[&slot])
            .await
            .with_context(|| format!("creating slot {slot}"))?;
        Ok(())
    }

    /// Drops a slot if it exists (waiting for a consumer that is still letting go of it).
    pub(crate) async fn drop_slot(&self, slot: &str) -> Result<()> {
        let client = self.client().await?;
        for _ in 0..100 {
            let r = client
                .execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                    &[&slot],
                )
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if e.to_string().contains("is active") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("dropping slot {slot}")),
            }
        }
        bail!("slot {slot} stayed active")
    }

    /// The server's current WAL insert position.
    pub(crate) async fn current_lsn(&self) -> Result<String> {
        let client = self.client().await?;
        let row = client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?;
        Ok(row.get(0))
    }

    /// Waits until the WAL up to `lsn` is flushed. With `synchronous_commit = off` the WAL writer
    /// flushes on its own schedule, and a walsender sends only flushed WAL: without this wait the
    /// first system to read would also be timed waiting for the flush.
    pub(crate) async fn wait_flushed(&self, lsn: &str) -> Result<()> {
        let client = self.client().await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let row =
                client.query_one("SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn", &[&lsn]).await?;
            if row.get::<_, bool>(0) {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the WAL up to {lsn} was not flushed within 2 minutes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
