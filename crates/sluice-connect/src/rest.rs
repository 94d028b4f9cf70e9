//! The Kafka Connect REST API: the same paths, request and response shapes, status codes and
//! error bodies (`{"error_code", "message"}`) as Kafka Connect's, so scripts, UIs and client
//! libraries written for Kafka Connect work unchanged.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ConnectError;
use crate::herder::Herder;
use crate::plugin::{self, PLUGINS};
use crate::provider;
use crate::state::{ConnectorOffset, TargetState};

/// The REST API's routes.
pub fn router(herder: Herder) -> Router {
    Router::new()
        .route("/", get(server_info))
        .route("/connectors", get(list_connectors).post(create_connector))
        .route("/connectors/{name}", get(get_connector).delete(delete_connector))
        .route("/connectors/{name}/config", get(get_config).put(put_config).patch(patch_config))
        .route("/connectors/{name}/status", get(get_status))
        .route("/connectors/{name}/tasks", get(get_tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(get_task_status))
        .route("/connectors/{name}/tasks/{task}/restart", post(restart_task))
        .route("/connectors/{name}/restart", post(restart_connector))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/offsets", get(get_offsets).patch(patch_offsets).delete(reset_offsets))
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(topics))
        .route("/connector-plugins", get(list_plugins))
        .route("/connector-plugins/{plugin}/config", get(plugin_config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(herder)
}

/// A REST answer: a status and a JSON body, or an error.
type Answer = Result<Response, ConnectError>;

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!("REST request failed: {self}");
        }
        error_response(status, &self.to_string())
    }
}

/// Kafka Connect's `ErrorMessage` body.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error_code": status.as_u16(), "message": message}))).into_response()
}

fn ok(status: StatusCode, body: impl serde::Serialize) -> Answer {
    Ok((status, axum::Json(body)).into_response())
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed")
}

async fn server_info(State(herder): State<Herder>) -> Answer {
    ok(
        StatusCode::OK,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": option_env!("SLUICE_GIT_COMMIT").unwrap_or("unknown"),
            "kafka_cluster_id": Value::Null,
            "worker_id": herder.worker_id(),
        }),
    )
}

/// The `expand` values of a query string (`?expand=status&expand=info`).
fn expansions(query: Option<&str>) -> Option<Vec<String>> {
    let query = query?;
    let list: Vec<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(k, _)| *k == "expand")
        .map(|(_, v)| v.to_owned())
        .collect();
    (!list.is_empty()).then_some(list)
}

async fn list_connectors(State(herder): State<Herder>, RawQuery(query): RawQuery) -> Answer {
    let Some(expand) = expansions(query.as_deref()) else { return ok(StatusCode::OK, herder.connectors()) };
    let mut out = serde_json::Map::new();
    for name in herder.connectors() {
        let mut entry = serde_json::Map::new();
        for e in &expand {
            // A connector deleted meanwhile is left out, as Kafka Connect does.
            match e.as_str() {
                "status" => match herder.status(&name) {
                    Ok(s) => {
                        entry.insert("status".into(), serde_json::to_value(s).unwrap_or(Value::Null));
                    }
                    Err(_) => continue,
                },
                "info" => match herder.info(&name) {
                    Ok(i) => {
                        entry.insert("info".into(), serde_json::to_value(i).unwrap_or(Value::Null));
                    }
                    Err(_) => continue,
                },
                _ => {}
            }
        }
        out.insert(name, Value::Object(entry));
    }
    ok(StatusCode::OK, Value::Object(out))
}

#[derive(Deserialize)]
struct CreateRequest {
    name: Option<String>,
    config: Option<Value>,
    initial_state: Option<String>,
}

/// A JSON body, or Kafka Connect's 400 for an unreadable one.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ConnectError> {
    serde_json::from_slice(body)
        .map_err(|e| ConnectError::BadRequest(format!("Request body is not valid JSON: {e}")))
}

/// A flat config map: string values, with numbers and booleans taken as their text (Jackson
/// does the same); `null` values are refused (only PATCH uses them, to remove keys).
fn flat_config(value: Value) -> Result<BTreeMap<String, String>, ConnectError> {
    let Value::Object(map) = value else {
        return Err(ConnectError::BadRequest(
            "The connector config must be a JSON object of strings".to_owned(),
        ));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(ConnectError::BadRequest(format!(
                "The value of connector property '{k}' must be a string"
            ))),
        })
        .collect()
}

/// Kafka Connect's check that a config's `name` matches the URL's, adding it when absent.
fn check_and_put_name(name: &str, config: &mut BTreeMap<String, String>) -> Result<(), ConnectError> {
    match config.get("name") {
        Some(included) if included != name => Err(ConnectError::BadRequest(format!(
            "Connector name configuration ({included}) doesn't match connector name in the URL ({name})"
        ))),
        Some(_) => Ok(()),
        None => {
            config.insert("name".to_owned(), name.to_owned());
            Ok(())
        }
    }
}

fn created(name: &str, body: impl serde::Serialize) -> Answer {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/connectors/{}", encode_segment(name))) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Percent-encodes a path segment.
fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn create_connector(State(herder): State<Herder>, body: Bytes) -> Answer {
    let request: CreateRequest = parse_body(&body)?;
    let name = request.name.unwrap_or_default().trim().to_owned();
    let mut config = match request.config {
        Some(c) => flat_config(c)?,
        None => {
            return Err(ConnectError::BadRequest(
                "The request has no \"config\"; send {\"name\": ..., \"config\": {...}}".to_owned(),
            ));
        }
    };
    let initial = match request.initial_state.as_deref() {
        None => None,
        Some(s) => Some(TargetState::parse(s).ok_or_else(|| {
            ConnectError::BadRequest(format!("Invalid initial_state '{s}': use RUNNING, PAUSED or STOPPED"))
        })?),
    };
    check_and_put_name(&name, &mut config)?;
    let (_, info) = herder.put(&name, config, true, initial).await?;
    created(&name, info)
}

async fn get_connector(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    ok(StatusCode::OK, herder.info(&name)?)
}

async fn get_config(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    ok(StatusCode::OK, herder.config(&name)?)
}

async fn put_config(State(herder): State<Herder>, Path(name): Path<String>, body: Bytes) -> Answer {
    let mut config = flat_config(parse_body(&body)?)?;
    check_and_put_name(&name, &mut config)?;
    let (was_created, info) = herder.put(&name, config, false, None).await?;
    if was_created { created(&name, info) } else { ok(StatusCode::OK, info) }
}

async fn patch_config(State(herder): State<Herder>, Path(name): Path<String>, body: Bytes) -> Answer {
    let Value::Object(patch) = parse_body::<Value>(&body)? else {
        return Err(ConnectError::BadRequest("The config patch must be a JSON object".to_owned()));
    };
    // The stored (unmasked) config is the base; `null` removes a key.
    let mut config = herder.config(&name)?;
    for (k, v) in patch {
        match v {
            Value::Null => {
                config.remove(&k);
            }
            other => {
                let single = flat_config(json!({ k.clone(): other }))?;
                config.extend(single);
            }
        }
    }
    check_and_put_name(&name, &mut config)?;
    let (_, info) = herder.put(&name, config, false, None).await?;
    ok(StatusCode::OK, info)
}

async fn delete_connector(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_status(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    ok(StatusCode::OK, herder.status(&name)?)
}

async fn get_tasks(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    ok(StatusCode::OK, herder.tasks(&name)?)
}

fn task_number(text: &str) -> Result<u32, ConnectError> {
    text.parse().map_err(|_| ConnectError::NotFound("HTTP 404 Not Found".to_owned()))
}

async fn get_task_status(State(herder): State<Herder>, Path((name, task)): Path<(String, String)>) -> Answer {
    ok(StatusCode::OK, herder.task_status(&name, task_number(&task)?)?)
}

async fn restart_task(State(herder): State<Herder>, Path((name, task)): Path<(String, String)>) -> Answer {
    herder.restart_task(&name, task_number(&task)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A boolean query parameter (`true`/`false`, case-insensitive; absent is false).
fn flag(query: Option<&str>, key: &str) -> Result<bool, ConnectError> {
    let Some(query) = query else { return Ok(false) };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            return match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" | "" => Ok(false),
                other => Err(ConnectError::BadRequest(format!(
                    "Query parameter {key}: '{other}' is not true or false"
                ))),
            };
        }
    }
    Ok(false)
}

async fn restart_connector(
    State(herder): State<Herder>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let include_tasks = flag(query.as_deref(), "includeTasks")?;
    let only_failed = flag(query.as_deref(), "onlyFailed")?;
    match herder.restart(&name, include_tasks, only_failed).await? {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(status) => ok(StatusCode::ACCEPTED, status),
    }
}

async fn pause(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.set_target(&name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.set_target(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_offsets(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    ok(StatusCode::OK, json!({ "offsets": herder.offsets(&name).await? }))
}

#[derive(Deserialize)]
struct OffsetsRequest {
    offsets: Option<Vec<ConnectorOffset>>,
}

async fn patch_offsets(State(herder): State<Herder>, Path(name): Path<String>, body: Bytes) -> Answer {
    let request: OffsetsRequest = parse_body(&body)?;
    let offsets = request.offsets.ok_or_else(|| {
        ConnectError::BadRequest("Offsets to be modified must be given as {\"offsets\": [...]}".to_owned())
    })?;
    herder.change_offsets(&name, Some(offsets)).await?;
    ok(StatusCode::OK, json!({"message": "The offsets for this connector have been altered successfully"}))
}

async fn reset_offsets(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.change_offsets(&name, None).await?;
    ok(StatusCode::OK, json!({"message": "The offsets for this connector have been reset successfully"}))
}

async fn topics(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    herder.info(&name)?;
    Err(ConnectError::Forbidden("Topic tracking is disabled.".to_owned()))
}

async fn list_plugins() -> Answer {
    ok(StatusCode::OK, PLUGINS)
}

fn plugin_named(name: &str) -> Result<plugin::PluginInfo, ConnectError> {
    plugin::find(name).ok_or_else(|| ConnectError::NotFound(format!("Unknown plugin {name}.")))
}

async fn plugin_config(State(herder): State<Herder>, Path(name): Path<String>) -> Answer {
    let plugin = plugin_named(&name)?;
    let infos = herder.validate(&plugin, &BTreeMap::new());
    let keys: Vec<_> = infos.configs.into_iter().map(|c| c.definition).collect();
    ok(StatusCode::OK, keys)
}

async fn validate(
    State(herder): State<Herder>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let _ = headers;
    let plugin = plugin_named(&name)?;
    let config = flat_config(parse_body(&body)?)?;
    let Some(class) = config.get("connector.class") else {
        return Err(ConnectError::BadRequest(format!(
            "Connector config {:?} contains no connector type",
            provider::mask(&config)
        )));
    };
    if plugin::find(class) != Some(plugin) {
        return Err(ConnectError::BadRequest(format!(
            "Included connector type {class} does not match request type {name}"
        )));
    }
    ok(StatusCode::OK, herder.validate(&plugin, &config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(expansions(Some("expand=status&expand=info")), Some(vec!["status".into(), "info".into()]));
        assert_eq!(expansions(Some("x=1")), None);
        assert!(flag(Some("includeTasks=TRUE&onlyFailed=false"), "includeTasks").unwrap());
        assert!(!flag(Some("includeTasks=true"), "onlyFailed").unwrap());
        assert!(flag(Some("onlyFailed=yes"), "onlyFailed").is_err());
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn configs_are_flat_string_maps() {
        let c = flat_config(json!({"a": "x", "tasks.max": 1, "b": true})).unwrap();
        assert_eq!(c["tasks.max"], "1");
        assert_eq!(c["b"], "true");
        assert!(flat_config(json!({"a": {"nested": 1}})).unwrap_err().to_string().contains("'a'"));
        let mut c = BTreeMap::new();
        check_and_put_name("n", &mut c).unwrap();
        assert_eq!(c["name"], "n");
        c.insert("name".into(), "other".into());
        assert!(check_and_put_name("n", &mut c).is_err());
    }
}
