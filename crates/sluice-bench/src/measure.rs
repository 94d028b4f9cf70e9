//! CPU time and peak memory of one child process, exactly.
//!
//! `getrusage(RUSAGE_CHILDREN)` reports the largest peak RSS of *all* waited-for children, so the
//! bench cannot read one system's peak after another's ran. Each measured command therefore runs
//! under `sluice-bench measure --usage FILE -- <command>`: a wrapper whose only child is that
//! command, and which writes the child's wall time, user+system CPU and peak RSS to FILE as JSON.
//! The command's own stdout and stderr pass through untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

/// What one command used.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Usage {
    /// From start to exit.
    pub(crate) wall: Duration,
    /// User plus system CPU time.
    pub(crate) cpu: Duration,
    /// Peak resident set size in bytes.
    pub(crate) peak_rss: u64,
}

/// A measured command's outcome.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) usage: Usage,
    /// Its stdout.
    pub(crate) stdout: String,
    /// Its stderr (logs; for error messages).
    pub(crate) stderr: String,
}

impl Measured {
    /// The last lines of stderr, for an error message.
    pub(crate) fn stderr_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.stderr.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs `program args` under the measuring wrapper, with `envs` set, and waits for it. A non-zero
/// exit is an error carrying the end of its stderr.
pub(crate) async fn measured(program: &Path, args: &[String], envs: &[(String, String)]) -> Result<Measured> {
    let program = program.to_owned();
    let args = args.to_vec();
    let envs = envs.to_vec();
    tokio::task::spawn_blocking(move || measured_blocking(&program, &args, &envs)).await?
}

fn measured_blocking(program: &Path, args: &[String], envs: &[(String, String)]) -> Result<Measured> {
    let usage_file = tempfile::NamedTempFile::new()?;
    let me = std::env::current_exe()?;
    let output = Command::new(me)
        .arg("measure")
        .arg("--usage")
        .arg(usage_file.path())
        .arg("--")
        .arg(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let measured_run = Measured { usage: Usage::default(), stdout, stderr };
    if !output.status.success() {
        bail!(
            "{} {} failed ({}):\n{}",
            program.display(),
            args.join(" "),
            output.status,
            measured_run.stderr_tail(30)
        );
    }
    let usage: Usage = serde_json::from_slice(&std::fs::read(usage_file.path())?)
        .context("the measuring wrapper wrote no usage")?;
    Ok(Measured { usage, ..measured_run })
}

/// The wrapper itself (`sluice-bench measure --usage FILE -- PROGRAM ARGS...`): runs the command
/// with inherited stdio, writes its usage to `usage`, and exits with its status.
pub(crate) fn wrapper(usage_path: &PathBuf, command: &[String]) -> Result<i32> {
    let (program, args) = command.split_first().context("measure: no command given")?;
    let start = Instant::now();
    let status = Command::new(program).args(args).status().with_context(|| format!("starting {program}"))?;
    let wall = start.elapsed();
    let children = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, (t.tv_usec() * 1000) as u32);
    let usage = Usage {
        wall,
        cpu: tv(children.user_time()) + tv(children.system_time()),
        // Linux reports kilobytes.
        peak_rss: children.max_rss() as u64 * 1024,
    };
    std::fs::write(usage_path, serde_json::to_vec(&usage)?)?;
    Ok(status.code().unwrap_or(1))
}
