//! The machine, the versions and the date a report was measured on, and the report itself.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::Result;

use crate::Options;
use crate::report::Section;

/// What the profiling of the hot paths found and changed (written by hand, kept with the code it
/// describes and appended to every report).
const PROFILE: &str = include_str!("../profile.md");

/// The current UTC time, `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn now_utc() -> String {
    command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown date".into())
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout })
        .trim()
        .to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn first_line(text: Option<String>) -> String {
    text.and_then(|t| t.lines().next().map(str::to_owned)).unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn memory_gib() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let kb: f64 =
                t.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn os() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l.trim_start_matches("PRETTY_NAME=").trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown OS".into())
}

/// `/proc/loadavg`'s first three fields.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|| "unknown".into())
}

/// The whole Markdown report.
pub(crate) fn report_markdown(options: &Options, started: &str, sections: &[Section]) -> Result<String> {
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let commit =
        command("git", &["-C", repo, "rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = command("git", &["-C", repo, "status", "--porcelain", "--untracked-files=no"]).is_some();
    let pg = sluice_postgres::sandbox::pg_bin_dir()
        .ok()
        .map(|dir| first_line(command(&dir.join("postgres").display().to_string(), &["--version"])))
        .unwrap_or_else(|| "unknown".into());
    let deltalake = command("python3", &["-c", "import deltalake; print(deltalake.__version__)"])
        .unwrap_or_else(|| "not installed".into());
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `cargo run --release -p sluice-bench -- all` (README); every table below comes from \
         one run on one machine. The numbers are what this machine measured, reported as ratios \
         against the limits and the tools sluice replaces; no test asserts them. Shared machines are \
         noisy: compare rows of one run, not runs.\n"
    );
    let _ = writeln!(out, "- Measured: {started}");
    let _ = writeln!(
        out,
        "- Machine: {} ({} cores), {} RAM, {}, Linux {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib(),
        os(),
        first_line(command("uname", &["-r"]))
    );
    let _ = writeln!(
        out,
        "- sluice {} at {commit}{}, {} build, {}",
        env!("CARGO_PKG_VERSION"),
        if dirty { " (with uncommitted changes)" } else { "" },
        if cfg!(debug_assertions) { "debug" } else { "release" },
        first_line(command("rustc", &["--version"]))
    );
    let _ = writeln!(
        out,
        "- {pg} (a local cluster with `fsync = off`, `synchronous_commit = off`, `shared_buffers = 1GB`)"
    );
    let _ = writeln!(out, "- {}", crate::debezium::version());
    let _ = writeln!(out, "- Kafka-protocol broker: {} (in memory)", crate::broker::Broker::version());
    let _ =
        writeln!(out, "- Python deltalake {deltalake}, {}", first_line(command("python3", &["--version"])));
    let _ = writeln!(out, "- Scale: {} (1 is the documented workload)", options.scale);
    let _ = writeln!(
        out,
        "- Load average (1, 5, 15 min) when the run ended: {} (2 cores; above 2 means other work shared the machine)\n",
        load_average()
    );
    for section in sections {
        let _ = writeln!(out, "{}", section.markdown());
    }
    out.push_str(PROFILE);
    Ok(out)
}
