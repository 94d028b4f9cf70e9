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
    /// With a stop marker: from start until the marker appeared in the watched file.
    #[serde(default)]
    pub(crate) until_marker: Option<Duration>,
}

/// Stops a measured command once `marker` goes through the FIFO it writes (`--until FIFO --marker
/// TEXT`): for a command that otherwise runs until interrupted, like `pg_recvlogical` without
/// `--endpos`.
#[derive(Debug, Clone)]
pub(crate) struct StopMarker {
    pub(crate) file: PathBuf,
    pub(crate) marker: String,
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
    measured_until(program, args, envs, None).await
}

/// [`measured`], stopping the command (SIGINT) once `stop`'s marker appears in its file.
pub(crate) async fn measured_until(
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    stop: Option<StopMarker>,
) -> Result<Measured> {
    let program = program.to_owned();
    let args = args.to_vec();
    let envs = envs.to_vec();
    tokio::task::spawn_blocking(move || measured_blocking(&program, &args, &envs, stop.as_ref())).await?
}

fn measured_blocking(
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    stop: Option<&StopMarker>,
) -> Result<Measured> {
    let usage_file = tempfile::NamedTempFile::new()?;
    let me = std::env::current_exe()?;
    let mut wrapper = Command::new(me);
    wrapper.arg("measure").arg("--usage").arg(usage_file.path());
    if let Some(stop) = stop {
        wrapper.arg("--until").arg(&stop.file).arg("--marker").arg(&stop.marker);
    }
    let output = wrapper
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
pub(crate) fn wrapper(usage_path: &PathBuf, command: &[String], stop: Option<&StopMarker>) -> Result<i32> {
    let (program, args) = command.split_first().context("measure: no command given")?;
    let start = Instant::now();
    let mut child =
        Command::new(program).args(args).spawn().with_context(|| format!("starting {program}"))?;
    let mut until_marker = None;
    let status = match stop {
        None => child.wait()?,
        Some(stop) => {
            let found = watch_for_marker(&mut child, stop)?;
            if found {
                until_marker = Some(start.elapsed());
                let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
                nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
            }
            let status = child.wait()?;
            if !found {
                bail!(
                    "{program} exited ({status}) before '{}' appeared in {}",
                    stop.marker,
                    stop.file.display()
                );
            }
            status
        }
    };
    let wall = start.elapsed();
    let children = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, (t.tv_usec() * 1000) as u32);
    let usage = Usage {
        wall,
        cpu: tv(children.user_time()) + tv(children.system_time()),
        // Linux reports kilobytes.
        peak_rss: children.max_rss() as u64 * 1024,
        until_marker,
    };
    std::fs::write(usage_path, serde_json::to_vec(&usage)?)?;
    // Interrupted on purpose: how it then exits is not a failure.
    Ok(if until_marker.is_some() { 0 } else { status.code().unwrap_or(1) })
}

/// Watches the FIFO `stop.file` until the marker appears (true) or the child exits (false). The
/// pipe is read as the child writes it, so the child pays for a pipe write, about what writing to
/// /dev/null costs.
fn watch_for_marker(child: &mut std::process::Child, stop: &StopMarker) -> Result<bool> {
    use std::os::unix::fs::FileTypeExt;
    if !std::fs::metadata(&stop.file)?.file_type().is_fifo() {
        bail!("measure --until: {} is not a FIFO", stop.file.display());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (path, marker) = (stop.file.clone(), stop.marker.clone().into_bytes());
    std::thread::spawn(move || drain_fifo(&path, &marker, &tx));
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(found) => return Ok(found),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if child.try_wait()?.is_some() {
                    // What it wrote before exiting may still be in the pipe.
                    return Ok(rx.recv_timeout(Duration::from_secs(1)).unwrap_or(false));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}

/// Reads a FIFO to its end, reporting once whether `marker` went through it (true as soon as it
/// does; false at the end without it). Reading goes on after the marker so that the writer never
/// blocks on a full pipe before it is stopped.
fn drain_fifo(path: &Path, marker: &[u8], found: &std::sync::mpsc::Sender<bool>) {
    use std::io::Read;
    let Ok(mut fifo) = std::fs::File::open(path) else {
        let _ = found.send(false);
        return;
    };
    // A bigger pipe: fewer wake-ups of the writer (best effort).
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&fifo),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20),
    );
    let mut chunk = vec![0u8; 1 << 20];
    let mut tail: Vec<u8> = Vec::new();
    let mut seen = false;
    loop {
        let n = match fifo.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if seen {
            continue;
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.windows(marker.len()).any(|w| w == marker) {
            seen = true;
            let _ = found.send(true);
            continue;
        }
        let keep = marker.len().saturating_sub(1).min(tail.len());
        tail.drain(..tail.len() - keep);
    }
    if !seen {
        let _ = found.send(false);
    }
}
