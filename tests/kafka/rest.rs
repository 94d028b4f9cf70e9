//! What the tests need to talk to a `sluice run` (or Kafka Connect) over HTTP: the listener
//! addresses a worker started on port 0 logs, a minimal HTTP/1.1 client for JSON calls, and
//! Python scripts run with a deadline.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sluice_tests::process::SluiceProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The log line of `sluice-connect`'s worker naming the bound REST address.
pub(crate) const REST_LOG: &str = "Kafka Connect REST API at ";
/// The log line naming the bound admin address.
pub(crate) const ADMIN_LOG: &str = "admin endpoint at ";

/// Waits until the process logs `prefix` followed by a URL (a listener bound on port 0) and
/// returns the URL; fails at once if the process exits.
pub(crate) async fn logged_url(
    process: &mut SluiceProcess,
    prefix: &str,
    within: Duration,
) -> Result<String> {
    let start = Instant::now();
    loop {
        let log = process.log_text();
        // The last start's line (a log appended to by several runs has earlier ones).
        if let Some(at) = log.rfind("---- sluice ")
            && let Some(i) = log[at..].find(prefix)
        {
            let rest = &log[at + i + prefix.len()..];
            // The URL ends at whitespace or at an ANSI escape (a coloured log).
            let url: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\u{1b}').collect();
            if !url.is_empty() {
                return Ok(url);
            }
        }
        if !process.is_running() {
            bail!("sluice exited before logging '{prefix}…':\n{log}");
        }
        if start.elapsed() > within {
            // RUST_LOG, when set, replaces SLUICE_LOG in sluice and may filter the line out.
            bail!("sluice did not log '{prefix}…' within {within:?} (is RUST_LOG set?):\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of a process's log, for failure messages.
pub(crate) fn log_tail(process: &SluiceProcess, lines: usize) -> String {
    let log = process.log_text();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One HTTP/1.1 request (`Connection: close`) to `base` (`http://host:port`); returns the status
/// and the JSON body (`Null` when empty).
pub(crate) async fn call(method: &str, base: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
    let authority = base.strip_prefix("http://").with_context(|| format!("not an http:// URL: {base}"))?;
    let payload = body.map(serde_json::to_vec).transpose()?.unwrap_or_default();
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&payload).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        anyhow::Ok(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .with_context(|| format!("{method} {base}{path} timed out"))?
        .with_context(|| format!("{method} {base}{path}"))?;
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").context("no end of headers")?;
    let head = String::from_utf8_lossy(&reply[..split]).to_string();
    let mut content = reply[split + 4..].to_vec();
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no status code")?;
    if head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked")) {
        content = dechunk(&content)?;
    }
    let value = if content.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&content).with_context(|| {
            format!("{method} {path}: the body is not JSON: {}", String::from_utf8_lossy(&content))
        })?
    };
    Ok((code, value))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").context("chunk size line")?;
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size '{size_text}'"))?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).context("truncated chunk")?);
        data = data.get(size + 2..).context("truncated chunk")?;
    }
}

/// `call` that must answer `want`; returns the body.
pub(crate) async fn expect(
    want: u16,
    method: &str,
    base: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let (code, value) = call(method, base, path, body).await?;
    if code != want {
        bail!("{method} {path}: expected {want}, got {code}: {value}");
    }
    Ok(value)
}

/// The output of a finished script.
#[derive(Debug)]
pub(crate) struct ScriptRun {
    /// Its exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `python3 script args…` with its output in files under `dir`, killing it after `deadline`.
pub(crate) async fn python(
    script: &Path,
    args: &[String],
    dir: &Path,
    deadline: Duration,
) -> Result<ScriptRun> {
    let (out_path, err_path) = (dir.join("script.stdout"), dir.join("script.stderr"));
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("running python3 {}", script.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish within {deadline:?}; its output so far:\n{}\n{}",
                script.display(),
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Ok(ScriptRun {
        code: status.code(),
        stdout: std::fs::read_to_string(&out_path)?,
        stderr: std::fs::read_to_string(&err_path)?,
    })
}
