//! The admin endpoint: `/lag` per connector (slot positions from PostgreSQL, durable progress,
//! Delta table versions), `/metrics` in Prometheus' text format, and the probes.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use reqwest::Method;
use serde_json::{Value, json};

use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source;

const NAME: &str = "svc_adm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_reports_lag_and_metrics() -> Result<()> {
    let db = source::database("svc_admin").await?;
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let sluice = Sluice::start(dir.path(), &Launch::default()).await?;
    let api = Api::new(&sluice.rest)?;
    let admin = Api::new(&sluice.admin)?;
    let result = async {
        // Before any connector: healthy, ready, nothing to report.
        let health = admin.get("/health").await?;
        ensure!(health.expect(200)?["status"] == "healthy", "{}", health.text);
        ensure!(admin.get("/ready").await?.expect(200)? == &json!({"status": "ready"}), "/ready");
        ensure!(admin.get("/lag").await?.expect(200)? == &json!({"connectors": []}), "/lag");
        api.get("/health").await?.expect(200)?;

        source::insert(&db, 1..=5).await?;
        let config = source::connector(&db, NAME, &lake_dir);
        api.send(Method::POST, "/connectors", &json!({"name": NAME, "config": config})).await?.expect(201)?;
        api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
        let table = source::table(&lake_dir, NAME);
        lake::wait_for(&table, &[1, 2, 3, 4, 5]).await?;
        source::insert(&db, 6..=25).await?;
        let rows = lake::wait_for(&table, &(1..=25).collect::<Vec<_>>()).await?;
        let last_commit = rows.iter().map(|r| r.commit_lsn).max().context("rows")?;

        // /lag: the slot confirmed the last commit once it was durable (status updates every second).
        let lag = crate::eventually::eventually(
            std::time::Duration::from_secs(30),
            "/lag to show every change durable and confirmed",
            async || {
                let all = admin.get("/lag").await?.expect(200)?.clone();
                let entries = all["connectors"].as_array().context("connectors")?;
                ensure!(entries.len() == 1, "{all}");
                let lag = entries[0].clone();
                let confirmed = lsn(&lag["slot"]["confirmed_flush_lsn"])?;
                Ok((lag["events"].as_u64() >= Some(25) && confirmed > last_commit).then_some(lag))
            },
        )
        .await?;
        ensure!(lag["name"] == NAME && lag["type"] == "source", "{lag}");
        ensure!(lag["path"] == "postgres-to-delta", "{lag}");
        ensure!(lag["state"] == "RUNNING" && lag["task_state"] == "RUNNING", "{lag}");
        ensure!(lag["events_per_second"].as_f64().is_some_and(|r| r >= 0.0), "{lag}");
        ensure!(lag["ms_behind_source"].as_i64().is_some_and(|ms| ms >= 0), "{lag}");
        ensure!(lag["errors"] == 0, "{lag}");
        let slot = &lag["slot"];
        ensure!(slot["slot_name"] == NAME && slot["exists"] == true && slot["active"] == true, "{lag}");
        let restart = lsn(&slot["restart_lsn"])?;
        let confirmed = lsn(&slot["confirmed_flush_lsn"])?;
        let current = lsn(&slot["current_wal_lsn"])?;
        ensure!(restart <= confirmed && confirmed <= current, "slot positions out of order: {slot}");
        let lag_bytes = slot["lag_bytes"].as_i64().context("lag_bytes")?;
        ensure!(lag_bytes >= 0 && lag_bytes <= current - confirmed, "lag_bytes: {slot}");
        let tables = lag["delta"]["tables"].as_object().context("delta.tables")?;
        let topic = format!("{NAME}.public.items");
        ensure!(tables.keys().collect::<Vec<_>>() == [&topic], "{lag}");
        let version = tables[&topic]["version"].as_i64().context("a table version")?;
        ensure!(version >= 1, "{lag}");
        let one = admin.get(&format!("/lag/{NAME}")).await?.expect(200)?.clone();
        ensure!(one["name"] == NAME && one["delta"]["tables"][&topic]["version"] == version, "{one}");
        let message = admin.get("/lag/svc_nobody").await?.error(404)?;
        ensure!(message == "Connector svc_nobody not found", "{message}");

        // /metrics: well-formed Prometheus text with this connector's series.
        let metrics = admin.get("/metrics").await?;
        metrics.expect(200)?;
        ensure!(
            metrics.header("content-type").is_some_and(|c| c.starts_with("text/plain")),
            "content type {:?}",
            metrics.headers
        );
        let samples = parse_prometheus(&metrics.text)?;
        let value = |name: &str, labels: &[(&str, &str)]| -> Result<f64> {
            let want: BTreeMap<String, String> =
                labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            samples
                .iter()
                .find(|s| s.name == name && s.labels == want)
                .map(|s| s.value)
                .with_context(|| format!("no sample {name}{labels:?} in:\n{}", metrics.text))
        };
        let connector = [("connector", NAME)];
        ensure!(value("sluice_events_total", &connector)? >= 25.0, "events");
        ensure!(value("sluice_slot_lag_bytes", &connector)? >= 0.0, "slot lag");
        ensure!(
            value("sluice_delta_table_version", &[("connector", NAME), ("table", &topic)])? >= 1.0,
            "version"
        );
        ensure!(
            value("sluice_connector_state", &[("connector", NAME), ("state", "RUNNING")])? == 1.0,
            "state"
        );
        let inf = value("sluice_latency_seconds_bucket", &[("connector", NAME), ("le", "+Inf")])?;
        ensure!(inf >= 1.0 && inf == value("sluice_latency_seconds_count", &connector)?, "latency count");
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == "sluice_latency_seconds_bucket" && s.labels["connector"] == NAME)
            .map(|s| s.value)
            .collect();
        ensure!(
            buckets.len() > 2 && buckets.windows(2).all(|w| w[0] <= w[1]),
            "buckets not cumulative: {buckets:?}"
        );

        // Probes: up and every connector running.
        admin.get("/health").await?.expect(200)?;
        ensure!(admin.get("/ready").await?.expect(200)? == &json!({"status": "ready"}), "/ready");
        Ok(())
    }
    .await;
    sluice.explain(result)
}

/// An LSN `X/Y` as a number.
fn lsn(v: &Value) -> Result<i64> {
    let text = v.as_str().with_context(|| format!("not an LSN: {v}"))?;
    let (hi, lo) = text.split_once('/').with_context(|| format!("not an LSN: {text}"))?;
    Ok((i64::from_str_radix(hi, 16)? << 32) | i64::from_str_radix(lo, 16)?)
}

/// One sample of the exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text format (0.0.4) strictly: `# HELP`/`# TYPE` comments, and
/// `name{label="value",...} value` samples whose family was declared by a `# TYPE` line.
fn parse_prometheus(text: &str) -> Result<Vec<Sample>> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    ensure!(is_name(name), "bad metric name in {line:?}");
                    ensure!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line:?}"
                    );
                    types.insert(name.to_owned(), kind.to_owned());
                }
                (Some("HELP"), Some(name), Some(_)) => ensure!(is_name(name), "bad metric name in {line:?}"),
                _ => bail!("a comment that is neither HELP nor TYPE: {line:?}"),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).with_context(|| format!("no value in {line:?}"))?;
        let name = &line[..name_end];
        ensure!(is_name(name), "bad metric name in {line:?}");
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(mut inner) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inner.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = inner.find("=\"").with_context(|| format!("bad label in {line:?}"))?;
                let key = &inner[..eq];
                ensure!(is_name(key), "bad label name {key:?} in {line:?}");
                let mut value = String::new();
                let mut chars = inner[eq + 2..].char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break eq + 2 + i + 1,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            other => bail!("bad escape {other:?} in {line:?}"),
                        },
                        Some((_, c)) => value.push(c),
                        None => bail!("unterminated label value in {line:?}"),
                    }
                };
                ensure!(labels.insert(key.to_owned(), value).is_none(), "a label twice in {line:?}");
                inner = &inner[end..];
                inner = inner.strip_prefix(',').unwrap_or(inner);
            }
        }
        let value_text =
            rest.strip_prefix(' ').with_context(|| format!("no space before the value in {line:?}"))?;
        let value: f64 = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().with_context(|| format!("bad value in {line:?}"))?,
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        ensure!(types.contains_key(family), "a sample before its # TYPE line: {line:?}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    Ok(samples)
}
