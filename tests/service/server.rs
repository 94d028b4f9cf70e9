//! A `sluice run` process with both listeners on ephemeral ports, and an HTTP client for them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sluice_tests::process::{RunArgs, sluice_binary};

use crate::eventually::eventually;

/// How long a started process may take to bind its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `sluice run`, killed when dropped.
#[derive(Debug)]
pub(crate) struct Sluice {
    child: Child,
    log: PathBuf,
    /// The REST API's base URL (`http(s)://127.0.0.1:PORT`).
    pub(crate) rest: String,
    /// The admin endpoint's base URL.
    pub(crate) admin: String,
}

/// How to start one.
#[derive(Debug, Default, Clone)]
pub(crate) struct Launch {
    /// `--worker-set` properties.
    pub(crate) worker: Vec<(String, String)>,
    /// Environment variables of the process.
    pub(crate) env: Vec<(String, String)>,
    /// `--shutdown-timeout` in seconds.
    pub(crate) shutdown_timeout: Option<u64>,
}

impl Launch {
    pub(crate) fn worker(mut self, key: &str, value: &str) -> Self {
        self.worker.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

impl Sluice {
    /// Starts `sluice run` with its data directory and log (appended to) under `dir`, and waits
    /// for both listeners' URLs in the log.
    pub(crate) async fn start(dir: &Path, launch: &Launch) -> Result<Sluice> {
        let bin = sluice_binary()?;
        let log = dir.join("sluice.log");
        let mut run = RunArgs::new(&dir.join("data")).rest().admin();
        if let Some(t) = launch.shutdown_timeout {
            run = run.arg("--shutdown-timeout", &t.to_string());
        }
        for (k, v) in &launch.worker {
            run = run.worker(k, v);
        }
        let args = run.build();
        let offset = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut command = Command::new(bin);
        command
            .args(&args)
            .env_remove("RUST_LOG")
            .env_remove("SLUICE_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        if let Ok(filter) = std::env::var("SLUICE_TEST_LOG") {
            command.env("SLUICE_LOG", filter);
        }
        for (k, v) in &launch.env {
            command.env(k, v);
        }
        let child = command.spawn().context("starting sluice")?;
        let mut sluice = Sluice { child, log, rest: String::new(), admin: String::new() };
        let start = Instant::now();
        loop {
            let text = sluice.log_text();
            let text = text.get(offset..).unwrap_or("");
            if let (Some(rest), Some(admin)) =
                (url_after(text, "Kafka Connect REST API at "), url_after(text, "admin endpoint at "))
            {
                sluice.rest = rest;
                sluice.admin = admin;
                return Ok(sluice);
            }
            if let Some(status) = sluice.child.try_wait()? {
                bail!("sluice exited with {status} before binding its listeners:\n{text}");
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("sluice did not bind its listeners within {START_TIMEOUT:?}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything logged so far (by every run sharing the log file).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `result`, with the end of the log added to an error.
    pub(crate) fn explain<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            e.context(format!("sluice's log ends with:\n{tail}"))
        })
    }

    /// `host:port` of the REST listener: the worker id in status responses.
    pub(crate) fn worker_id(&self) -> &str {
        self.rest.split_once("://").map_or(self.rest.as_str(), |(_, a)| a)
    }

    /// SIGTERM; waits up to `within` for the process to exit, which must be with status 0.
    /// Returns how long it took.
    pub(crate) async fn terminate(&mut self, within: Duration) -> Result<Duration> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("sluice exited with {status} after SIGTERM:\n{}", self.log_text());
                }
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                bail!("sluice did not exit within {within:?} of SIGTERM:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The URL logged right after `marker` (the last such line, once it is complete).
fn url_after(text: &str, marker: &str) -> Option<String> {
    let at = text.rfind(marker)? + marker.len();
    let url: String =
        text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || ":/._-[]".contains(*c)).collect();
    let complete = text[at + url.len()..].starts_with([' ', '\n']);
    (complete && url.contains("://")).then_some(url)
}

/// Credentials a request carries.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    Basic(String, String),
    Bearer(String),
}

/// An HTTP client of one listener; keeps every response body it saw.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    transcript: Arc<Mutex<Vec<String>>>,
}

/// One HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub(crate) json: Value,
    what: String,
}

impl Reply {
    /// The JSON body, if the status is `status`; else an error showing the response.
    pub(crate) fn expect(&self, status: u16) -> Result<&Value> {
        if self.status != status {
            bail!("{}: expected HTTP {status}, got {}: {}", self.what, self.status, self.text);
        }
        Ok(&self.json)
    }

    /// Kafka Connect's error body, if the status is `status`: checks `error_code` and returns the
    /// message.
    pub(crate) fn error(&self, status: u16) -> Result<String> {
        let body = self.expect(status)?;
        let keys: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        if keys != ["error_code", "message"] || body["error_code"] != status {
            bail!("{}: not an ErrorMessage with error_code {status}: {}", self.what, self.text);
        }
        Ok(body["message"].as_str().unwrap_or_default().to_owned())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client for `base`; `ca_pem` is a certificate to trust (for a TLS listener).
pub(crate) fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30));
    if let Some(pem) = ca_pem {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
    }
    Ok(builder.build()?)
}

impl Api {
    pub(crate) fn new(base: &str) -> Result<Api> {
        Api::with_client(client(None)?, base)
    }

    pub(crate) fn with_client(client: reqwest::Client, base: &str) -> Result<Api> {
        Ok(Api {
            client,
            base: base.trim_end_matches('/').to_owned(),
            credentials: None,
            transcript: Arc::default(),
        })
    }

    /// The same listener, with other credentials (sharing the transcript).
    pub(crate) fn as_user(&self, credentials: Option<Credentials>) -> Api {
        Api { credentials, ..self.clone() }
    }

    /// Every response body seen so far, concatenated.
    pub(crate) fn transcript(&self) -> String {
        self.transcript.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    /// Sends a request; `body` is sent verbatim as JSON when given.
    pub(crate) async fn raw(&self, method: Method, path: &str, body: Option<String>) -> Result<Reply> {
        let what = format!("{method} {path}");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        request = match &self.credentials {
            Some(Credentials::Basic(user, pw)) => request.basic_auth(user, Some(pw)),
            Some(Credentials::Bearer(token)) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.with_context(|| what.clone())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.with_context(|| what.clone())?;
        self.transcript.lock().unwrap_or_else(|p| p.into_inner()).push(text.clone());
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, headers, text, json, what })
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Reply> {
        self.raw(Method::GET, path, None).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Reply> {
        self.raw(Method::DELETE, path, None).await
    }

    /// A request without a body (`PUT .../pause`, `POST .../restart`).
    pub(crate) async fn call(&self, method: Method, path: &str) -> Result<Reply> {
        self.raw(method, path, None).await
    }

    /// A request with a JSON body.
    pub(crate) async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Reply> {
        self.raw(method, path, Some(body.to_string())).await
    }

    /// `GET /connectors/{name}/status`.
    pub(crate) async fn status(&self, name: &str) -> Result<Value> {
        Ok(self.get(&format!("/connectors/{name}/status")).await?.expect(200)?.clone())
    }

    /// Waits until the connector's state is `connector` and its task states are `tasks`.
    pub(crate) async fn wait_status(&self, name: &str, connector: &str, tasks: &[&str]) -> Result<Value> {
        eventually(
            Duration::from_secs(60),
            &format!("connector {name} to be {connector} with tasks {tasks:?}"),
            async || {
                let status = self.status(name).await?;
                let states: Vec<&str> = status["tasks"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t["state"].as_str()).collect())
                    .unwrap_or_default();
                if status["connector"]["state"] == connector && states == tasks {
                    return Ok(Some(status));
                }
                Err(anyhow::anyhow!("status is {status}"))
            },
        )
        .await
    }
}
