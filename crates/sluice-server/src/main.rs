//! The `sluice` binary: command-line entry point. Wiring only; the work happens in the library
//! crates.

mod connector_file;
mod demo;
mod replicate;
mod run;
mod stream;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// sluice: Debezium-compatible change data capture from PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    /// Log filter (tracing syntax, e.g. `info`, `sluice_postgres=debug`). Without it, `RUST_LOG`,
    /// then a default that keeps delta-rs' per-commit chatter out.
    #[arg(long, global = true, env = "SLUICE_LOG")]
    log: Option<String>,
    /// Log as JSON objects instead of text.
    #[arg(long, global = true, env = "SLUICE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stream a database's changes to stdout as JSON lines, using a Debezium PostgreSQL connector
    /// config (Kafka Connect JSON `{"name":..,"config":{..}}`, a flat JSON object, or a
    /// `.properties` file).
    Stream {
        /// The connector config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Override or add a property, `key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Where the confirmed position is kept between runs.
        #[arg(long, default_value = "sluice-data/offsets.json")]
        offsets: PathBuf,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        duration: Option<u64>,
        /// `debezium`: Debezium records as Kafka Connect's JsonConverter writes them; `raw`: sluice's
        /// decoded events.
        #[arg(long, value_enum, default_value = "debezium")]
        format: stream::Format,
    },
    /// Run the service: the Kafka Connect REST API (connectors registered there or given with
    /// `--connector` run until stopped), the admin endpoint (`/lag`, `/metrics`, `/health`,
    /// `/ready`) and the embedded Confluent-compatible schema registry. Without Kafka, source
    /// connectors replicate straight into Delta tables; with a worker config naming
    /// `bootstrap.servers` they publish to Kafka and Delta sinks read from it.
    Run(run::RunOptions),
    /// Run SQL over the Delta tables under a lake directory (each table directory is a table named
    /// after it, e.g. `public_customers`) and print the result.
    Query {
        /// The lake directory (or a single table's directory, queried as `t`).
        lake: PathBuf,
        /// The SQL (DataFusion's dialect).
        sql: String,
    },
    /// Start a throwaway local PostgreSQL with sample data and a live workload, replicate it into
    /// Delta tables under `./lake` with progress, then print a query of the tables and the lag.
    /// Needs PostgreSQL's server binaries (initdb) installed.
    Demo {
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Sample customers to create before the snapshot.
        #[arg(long, default_value_t = 200)]
        customers: u32,
        /// The lake directory (the demo's two tables are replaced there).
        #[arg(long, default_value = "lake")]
        lake: PathBuf,
    },
    /// Replicate your database into Delta tables under `./lake` (the direct pipeline, no Kafka),
    /// with progress, then print a query of every table and the lag. The position is kept in the
    /// data directory, so running it again continues where it stopped.
    Replicate {
        /// A Debezium PostgreSQL connector config (Kafka Connect JSON, flat JSON or `.properties`).
        #[arg(long, short)]
        connector: PathBuf,
        /// Override or add a property, `key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The lake directory.
        #[arg(long, default_value = "lake")]
        lake: PathBuf,
        /// Where the position and connector state are kept.
        #[arg(long, default_value = "sluice-data")]
        data_dir: PathBuf,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        duration: Option<u64>,
    },
}

/// mimalloc rather than the system allocator: every event allocates and frees many small values
/// (rows, Connect values, records) across two threads, where glibc's allocator spent a fifth of
/// the CPU and kept returning and re-faulting pages (see docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref(), cli.log_json);
    match cli.command {
        Command::Stream { config, overrides, offsets, duration, format } => {
            let props = connector_file::load(&config, &overrides)?;
            stream::run(props, &offsets, duration.map(std::time::Duration::from_secs), format).await
        }
        Command::Run(options) => run::run(options).await,
        Command::Query { lake, sql } => {
            let batches = sluice_delta::query::query(&lake, &sql).await?;
            let text = sluice_delta::query::format(&batches)?;
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
            Ok(())
        }
        Command::Demo { duration, customers, lake } => {
            demo::run(std::time::Duration::from_secs(duration), customers, lake).await
        }
        Command::Replicate { connector, overrides, lake, data_dir, duration } => {
            let props = connector_file::load(&connector, &overrides)?;
            let cancel = tokio_util::sync::CancellationToken::new();
            stream::stop_on_signal(cancel.clone(), duration.map(std::time::Duration::from_secs));
            let replication = replicate::Replication { connector: props, lake: lake.clone(), data_dir };
            let outcome = replicate::run(replication, cancel).await?;
            replicate::print_lake(&lake, &[]).await?;
            replicate::print_lag(&outcome.lag)
        }
    }
}

/// The default log filter. The Delta kernel logs a table that does not exist yet (which sluice
/// checks for before creating it) as an error; its real failures reach sluice as errors anyway.
const DEFAULT_LOG: &str =
    "info,deltalake_core=warn,deltalake_core::operations::merge=error,buoyant_kernel=off,datafusion=warn";

fn init_logging(filter: Option<&str>, json: bool) {
    let filter = match filter {
        Some(filter) => tracing_subscriber::EnvFilter::new(filter),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
    };
    // Logs go to stderr: stdout carries the event stream.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
