//! The admin endpoint: `/lag` (how far behind each connector is), `/metrics` (Prometheus text),
//! `/health` and `/ready` (orchestrator probes).
//!
//! Lag is read live: for each source connector the slot's `restart_lsn` and
//! `confirmed_flush_lsn` and the server's current WAL position come from PostgreSQL on every
//! request (with a short timeout, so a dead database answers with an error entry instead of
//! hanging the endpoint); durable progress, throughput and latency come from the connector's
//! metrics; Delta sinks add per-table versions and per-partition consumer lag.

use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::join_all;
use serde_json::{Value, json};
use sluice_core::metrics::{HistogramSnapshot, now_ms};
use sluice_postgres::lag::SlotLag;

use crate::connector::Runnable;
use crate::error::ConnectError;
use crate::herder::{ConnectorView, Herder};
use crate::state::State as RunState;

/// How long one slot query may take before `/lag` reports it as an error.
const SLOT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The admin routes.
pub fn router(herder: Herder) -> Router {
    Router::new()
        .route("/lag", get(lag_all))
        .route("/lag/{name}", get(lag_one))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(herder)
}

/// `/health` (also served on the REST port, as Kafka Connect's KIP-1017 endpoint is): the worker
/// is up and has started its connectors.
pub async fn health(State(herder): State<Herder>) -> Response {
    if herder.started() {
        (
            StatusCode::OK,
            axum::Json(json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting", "message": "Worker is still starting up."})),
        )
            .into_response()
    }
}

/// `/ready`: started, and every connector meant to run is running (none failed or unassigned).
async fn ready(State(herder): State<Herder>) -> Response {
    let not_running: Vec<Value> = herder
        .views()
        .into_iter()
        .filter_map(|v| {
            let states =
                std::iter::once(v.status.connector.state).chain(v.status.tasks.iter().map(|t| t.state));
            let bad: Vec<RunState> =
                states.filter(|s| matches!(s, RunState::Failed | RunState::Unassigned)).collect();
            (!bad.is_empty()).then(|| json!({"name": v.name, "states": bad}))
        })
        .collect();
    if herder.started() && not_running.is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        let status = if herder.started() { "degraded" } else { "starting" };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": status, "connectors": not_running})))
            .into_response()
    }
}

async fn lag_all(State(herder): State<Herder>) -> Response {
    axum::Json(lag_report(&herder).await).into_response()
}

/// What `GET /lag` answers: `{"connectors": [...]}`, one entry per connector.
pub async fn lag_report(herder: &Herder) -> Value {
    let views = herder.views();
    let entries = join_all(views.iter().map(lag_of)).await;
    json!({ "connectors": entries })
}

async fn lag_one(State(herder): State<Herder>, Path(name): Path<String>) -> Response {
    match herder.views().into_iter().find(|v| v.name == name) {
        Some(view) => axum::Json(lag_of(&view).await).into_response(),
        None => ConnectError::connector_not_found(&name).into_response(),
    }
}

async fn slot_of(view: &ConnectorView) -> Option<Result<SlotLag, String>> {
    let postgres = view.runnable.as_ref()?.postgres()?.clone();
    Some(match tokio::time::timeout(SLOT_QUERY_TIMEOUT, sluice_postgres::lag::slot_lag(&postgres)).await {
        Ok(Ok(lag)) => Ok(lag),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the slot query did not answer within {SLOT_QUERY_TIMEOUT:?}")),
    })
}

fn lsn_text(lsn: Option<sluice_core::Lsn>) -> Value {
    lsn.map_or(Value::Null, |l| Value::String(l.to_string()))
}

fn slot_json(slot: &Result<SlotLag, String>) -> Value {
    match slot {
        Ok(s) => json!({
            "slot_name": s.slot_name,
            "exists": s.exists,
            "active": s.active,
            "wal_status": s.wal_status,
            "restart_lsn": lsn_text(s.restart_lsn),
            "confirmed_flush_lsn": lsn_text(s.confirmed_flush_lsn),
            "current_wal_lsn": s.current_lsn.to_string(),
            "lag_bytes": s.lag_bytes,
            "retained_bytes": s.retained_bytes,
        }),
        Err(e) => json!({ "error": e }),
    }
}

async fn lag_of(view: &ConnectorView) -> Value {
    let m = view.metrics.snapshot();
    let slot = slot_of(view).await;
    let task_state = view.status.tasks.first().map(|t| t.state);
    let mut entry = json!({
        "name": view.name,
        "type": view.plugin.kind,
        "path": view.runnable.as_ref().map(Runnable::path),
        "state": view.status.connector.state,
        "task_state": task_state,
        "events": m.events,
        "events_per_second": (m.events_per_second * 10.0).round() / 10.0,
        "last_durable_lsn": lsn_text(m.last_durable_lsn),
        // Debezium's MilliSecondsBehindSource: how late the last change made durable was.
        "ms_behind_source": match (m.last_durable_at_ms, m.last_source_ts_ms) {
            (Some(durable), Some(source)) => json!((durable - source).max(0)),
            _ => Value::Null,
        },
        "ms_since_last_durable": m.last_durable_at_ms.map(|t| (now_ms() - t).max(0)),
        "errors": m.errors,
    });
    let object = entry.as_object_mut().expect("a JSON object");
    if let Some(slot) = &slot {
        object.insert("slot".into(), slot_json(slot));
    }
    match &view.runnable {
        Some(Runnable::Publisher(_)) => {
            object.insert("kafka".into(), json!({ "records_in_flight": m.in_flight }));
        }
        Some(Runnable::Direct(_) | Runnable::Sink(_)) => {
            let tables: serde_json::Map<String, Value> = view
                .metrics
                .tables()
                .into_iter()
                .map(|(t, p)| (t, json!({"version": p.version, "last_applied": p.position})))
                .collect();
            object.insert("delta".into(), json!({ "tables": tables }));
        }
        None => {}
    }
    if let Some(Runnable::Sink(_)) = &view.runnable {
        let partitions: Vec<Value> = view
            .metrics
            .partitions()
            .into_iter()
            .map(|((topic, partition), p)| {
                json!({
                    "topic": topic,
                    "partition": partition,
                    "next_offset": p.next_offset,
                    "high_watermark": (p.high_watermark >= 0).then_some(p.high_watermark),
                    "lag": p.lag(),
                })
            })
            .collect();
        object.insert("partitions".into(), Value::Array(partitions));
    }
    entry
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Reads one counter from a metrics snapshot.
type Counter = fn(&sluice_core::metrics::MetricsSnapshot) -> u64;

struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
    }

    fn histogram(&mut self, name: &str, labels: &str, h: &HistogramSnapshot) {
        for (bound, count) in &h.buckets {
            let le = if bound.is_infinite() { "+Inf".to_owned() } else { bound.to_string() };
            let _ = writeln!(self.text, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
        }
        let _ = writeln!(self.text, "{name}_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(self.text, "{name}_count{{{labels}}} {}", h.count);
    }
}

async fn metrics(State(herder): State<Herder>) -> Response {
    let views = herder.views();
    let slots = join_all(views.iter().map(slot_of)).await;
    let mut out = Exposition { text: String::new() };
    let labels: Vec<String> = views.iter().map(|v| format!("connector=\"{}\"", label(&v.name))).collect();
    let snapshots: Vec<_> = views.iter().map(|v| v.metrics.snapshot()).collect();

    out.family(
        "sluice_connector_state",
        "gauge",
        "1 for the connector's current state (task state when it has a task).",
    );
    for (v, l) in views.iter().zip(&labels) {
        let state = v.status.tasks.first().map_or(v.status.connector.state, |t| t.state);
        let state =
            serde_json::to_value(state).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
        out.sample("sluice_connector_state", &format!("{l},state=\"{state}\""), 1);
    }
    let counters: [(&str, &str, Counter); 4] = [
        ("sluice_events_total", "Change events made durable downstream.", |s| s.events),
        ("sluice_bytes_total", "Bytes of the records made durable downstream.", |s| s.bytes),
        ("sluice_transactions_total", "Source transactions made durable downstream.", |s| s.transactions),
        ("sluice_errors_total", "Errors, retried or fatal.", |s| s.errors),
    ];
    for (name, help, get) in counters {
        out.family(name, "counter", help);
        for (s, l) in snapshots.iter().zip(&labels) {
            out.sample(name, l, get(s));
        }
    }
    out.family("sluice_records_in_flight", "gauge", "Records handed to Kafka and not yet acknowledged.");
    for (s, l) in snapshots.iter().zip(&labels) {
        out.sample("sluice_records_in_flight", l, s.in_flight);
    }
    out.family(
        "sluice_last_source_timestamp_seconds",
        "gauge",
        "Source commit time of the last durable change.",
    );
    for (s, l) in snapshots.iter().zip(&labels) {
        if let Some(ts) = s.last_source_ts_ms {
            out.sample("sluice_last_source_timestamp_seconds", l, ts as f64 / 1000.0);
        }
    }
    out.family("sluice_batch_records", "histogram", "Records per downstream batch or commit.");
    for (v, l) in views.iter().zip(&labels) {
        out.histogram("sluice_batch_records", l, &v.metrics.batch_records.snapshot());
    }
    out.family(
        "sluice_latency_seconds",
        "histogram",
        "Seconds from the source commit to durable downstream.",
    );
    for (v, l) in views.iter().zip(&labels) {
        out.histogram("sluice_latency_seconds", l, &v.metrics.latency.snapshot());
    }
    out.family(
        "sluice_slot_lag_bytes",
        "gauge",
        "WAL bytes between the server's position and the slot's confirmed_flush_lsn.",
    );
    for (slot, l) in slots.iter().zip(&labels) {
        if let Some(Ok(SlotLag { lag_bytes: Some(b), .. })) = slot {
            out.sample("sluice_slot_lag_bytes", l, b);
        }
    }
    out.family(
        "sluice_slot_retained_bytes",
        "gauge",
        "WAL bytes the slot keeps on the server (from restart_lsn).",
    );
    for (slot, l) in slots.iter().zip(&labels) {
        if let Some(Ok(SlotLag { retained_bytes: Some(b), .. })) = slot {
            out.sample("sluice_slot_retained_bytes", l, b);
        }
    }
    out.family(
        "sluice_delta_table_version",
        "gauge",
        "Latest Delta version each connector committed per table.",
    );
    for (v, l) in views.iter().zip(&labels) {
        for (table, p) in v.metrics.tables() {
            out.sample("sluice_delta_table_version", &format!("{l},table=\"{}\"", label(&table)), p.version);
        }
    }
    out.family(
        "sluice_sink_partition_lag",
        "gauge",
        "Records between a sink's position and the partition's end.",
    );
    for (v, l) in views.iter().zip(&labels) {
        for ((topic, partition), p) in v.metrics.partitions() {
            if let Some(lag) = p.lag() {
                let labels = format!("{l},topic=\"{}\",partition=\"{partition}\"", label(&topic));
                out.sample("sluice_sink_partition_lag", &labels, lag);
            }
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out.text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_in_prometheus_form() {
        let h = sluice_core::metrics::Histogram::new(&[1.0]);
        h.observe(0.5);
        h.observe(3.0);
        let mut out = Exposition { text: String::new() };
        out.histogram("x", "connector=\"a\\\"b\"", &h.snapshot());
        assert_eq!(
            out.text,
            "x_bucket{connector=\"a\\\"b\",le=\"1\"} 1\nx_bucket{connector=\"a\\\"b\",le=\"+Inf\"} 2\n\
             x_sum{connector=\"a\\\"b\"} 3.5\nx_count{connector=\"a\\\"b\"} 2\n"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
