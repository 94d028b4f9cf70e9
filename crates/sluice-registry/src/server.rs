//! The embedded registry's HTTP server: Confluent Schema Registry's REST API (v1) over a
//! [`Registry`], so Confluent serializers, converters and tools work against it unchanged.
//!
//! Request and response shapes, status codes, error codes and messages are Confluent's
//! (`SubjectsResource`, `SubjectVersionsResource`, `SchemasResource`, `ConfigResource`,
//! `ModeResource`, `CompatibilityResource`, `Errors`). Errors are JSON
//! `{"error_code": 40401, "message": "..."}` with the HTTP status given by the code's first three
//! digits. Request bodies are read as JSON whatever their content type; responses are
//! `application/vnd.schemaregistry.v1+json`. Only Avro is supported: other schema types and
//! schema references are refused with 42201 and a message saying so.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::compatibility::CompatibilityLevel;
use crate::error::RegistryError;
use crate::registry::{Registry, SchemaRequest, VersionSelector, VersionedSchema};
use crate::state::{AVRO, Mode};

/// The media type of every response (Confluent's `SCHEMA_REGISTRY_V1_JSON`).
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Shared = State<Arc<Registry>>;

/// The REST API as an axum router (mount it, or run it with [`serve`]).
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/contexts", get(contexts))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version).delete(delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(get_version_schema))
        .route("/subjects/{subject}/versions/{version}/referencedby", get(referenced_by))
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/config", get(get_global_config).put(put_global_config).delete(delete_global_config))
        .route("/config/{subject}", get(get_config).put(put_config).delete(delete_config))
        .route("/mode", get(get_global_mode).put(put_global_mode).delete(delete_global_mode))
        .route("/mode/{subject}", get(get_mode).put(put_mode).delete(delete_mode))
        .route("/compatibility/subjects/{subject}/versions", post(check_against_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(check_against_version))
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, 405, "HTTP 405 Method Not Allowed")
        })
        .with_state(registry)
}

/// Serves the REST API on `listener` until `cancel` fires, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "schema registry listening");
    }
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}

// ---------------------------------------------------------------------------------------------
// Responses

fn reply(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn ok<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => reply(StatusCode::OK, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, 50001, format!("cannot encode the response: {e}")),
    }
}

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    let body = json!({"error_code": code, "message": message.into()});
    reply(status, body.to_string().into_bytes())
}

fn failure(e: RegistryError) -> Response {
    let code = e.error_code();
    let status = StatusCode::from_u16(if code >= 10_000 { (code / 100) as u16 } else { code as u16 })
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "schema registry request failed");
    } else {
        tracing::debug!(error = %e, "schema registry request refused");
    }
    error(status, code, e.to_string())
}

fn respond<T: Serialize>(result: Result<T, RegistryError>) -> Response {
    match result {
        Ok(v) => ok(&v),
        Err(e) => failure(e),
    }
}

/// Confluent's `Schema` entity.
#[derive(Serialize)]
struct SchemaEntity<'a> {
    subject: &'a str,
    version: u32,
    id: u32,
    #[serde(rename = "schemaType", skip_serializing_if = "is_avro")]
    schema_type: &'a str,
    schema: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    deleted: bool,
}

fn is_avro(t: &&str) -> bool {
    *t == AVRO
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> From<&'a VersionedSchema> for SchemaEntity<'a> {
    fn from(v: &'a VersionedSchema) -> Self {
        SchemaEntity {
            subject: &v.subject,
            version: v.version,
            id: v.id,
            schema_type: &v.schema_type,
            schema: &v.schema,
            deleted: v.deleted,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extraction: every rejection is a JSON error like the rest of the API.

/// The query string; flags are true only when `true` (any case), as in JAX-RS.
struct Params(HashMap<String, String>);

impl Params {
    fn flag(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(map)) => Ok(Params(map)),
            Err(e) => Err(error(StatusCode::BAD_REQUEST, 400, e.body_text())),
        }
    }
}

/// Path parameters, decoded.
struct Segments<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Segments(t)),
            Err(_) => Err(not_found()),
        }
    }
}

/// A JSON request body of any content type (Confluent clients send
/// `application/vnd.schemaregistry.v1+json`; curl users often send none).
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) => {
                let status = e.status();
                return Err(error(status, u32::from(status.as_u16()), e.body_text()));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, 422, "Request body is missing"));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            error(StatusCode::BAD_REQUEST, 400, format!("Unexpected request body, not JSON: {e}"))
        })?;
        serde_json::from_value(value).map(Body).map_err(|e| {
            error(StatusCode::UNPROCESSABLE_ENTITY, 422, format!("Unrecognized request body: {e}"))
        })
    }
}

/// Confluent's `RegisterSchemaRequest` (unknown fields ignored).
#[derive(Deserialize)]
struct SchemaBody {
    schema: Option<String>,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    references: Option<Vec<Value>>,
    id: Option<i64>,
    version: Option<i64>,
}

impl SchemaBody {
    fn into_request(self) -> Result<SchemaRequest, RegistryError> {
        let schema = self.schema.ok_or_else(|| RegistryError::InvalidSchema {
            message: "the request has no \"schema\"".to_owned(),
        })?;
        // Confluent treats a missing, zero or negative id / version as "not given".
        let positive = |n: Option<i64>| n.filter(|n| *n > 0).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        Ok(SchemaRequest {
            schema,
            schema_type: self.schema_type,
            references: self.references.unwrap_or_default(),
            id: positive(self.id),
            version: positive(self.version),
        })
    }
}

/// A schema id in a path; anything else is not a route (JAX-RS answers 404 for such params).
fn schema_id(id: &str) -> Option<u32> {
    id.trim().parse::<u32>().ok()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn root() -> Response {
    ok(&json!({}))
}

async fn contexts() -> Response {
    ok(&["."])
}

async fn list_subjects(State(r): Shared, q: Params) -> Response {
    respond(
        r.subjects(q.get("subjectPrefix").filter(|p| !p.is_empty() && *p != ":*:"), q.flag("deleted")).await,
    )
}

async fn list_versions(State(r): Shared, Segments(subject): Segments<String>, q: Params) -> Response {
    respond(r.versions(&subject, q.flag("deleted") || q.flag("deletedOnly")).await)
}

async fn register(
    State(r): Shared,
    Segments(subject): Segments<String>,
    Body(body): Body<SchemaBody>,
) -> Response {
    let request = match body.into_request() {
        Ok(req) => req,
        Err(e) => return failure(e),
    };
    match r.register_schema(&subject, &request).await {
        Ok(registered) => ok(&json!({"id": registered.id})),
        Err(e) => failure(e),
    }
}

async fn lookup(
    State(r): Shared,
    Segments(subject): Segments<String>,
    q: Params,
    Body(body): Body<SchemaBody>,
) -> Response {
    let request = match body.into_request() {
        Ok(req) => req,
        Err(e) => return failure(e),
    };
    match r.lookup(&subject, &request, q.flag("deleted")).await {
        Ok(found) => ok(&SchemaEntity::from(&found)),
        Err(e) => failure(e),
    }
}

async fn delete_subject(State(r): Shared, Segments(subject): Segments<String>, q: Params) -> Response {
    respond(r.delete_subject(&subject, q.flag("permanent")).await)
}

async fn get_version(
    State(r): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Response {
    let sel = match VersionSelector::parse(&version) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    match r.version(&subject, sel, q.flag("deleted")).await {
        Ok(found) => ok(&SchemaEntity::from(&found)),
        Err(e) => failure(e),
    }
}

async fn get_version_schema(
    State(r): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Response {
    let sel = match VersionSelector::parse(&version) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    match r.version(&subject, sel, q.flag("deleted")).await {
        Ok(found) => reply(StatusCode::OK, found.schema.into_bytes()),
        Err(e) => failure(e),
    }
}

async fn referenced_by(
    State(r): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Response {
    let sel = match VersionSelector::parse(&version) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    // References are not supported, so nothing refers to anything.
    respond(r.version(&subject, sel, q.flag("deleted")).await.map(|_| Vec::<u32>::new()))
}

async fn delete_version(
    State(r): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Response {
    let sel = match VersionSelector::parse(&version) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    respond(r.delete_version(&subject, sel, q.flag("permanent")).await)
}

async fn list_schemas(State(r): Shared, q: Params) -> Response {
    match r
        .schemas(q.get("subjectPrefix").filter(|p| !p.is_empty()), q.flag("deleted"), q.flag("latestOnly"))
        .await
    {
        Ok(all) => ok(&all.iter().map(SchemaEntity::from).collect::<Vec<_>>()),
        Err(e) => failure(e),
    }
}

async fn schema_types() -> Response {
    ok(&[AVRO])
}

async fn schema_by_id(State(r): Shared, Segments(id): Segments<String>) -> Response {
    let Some(id) = schema_id(&id) else { return not_found() };
    match r.schema_by_id(id).await {
        Ok(s) if s.schema_type == AVRO => ok(&json!({"schema": s.text})),
        Ok(s) => ok(&json!({"schemaType": s.schema_type, "schema": s.text})),
        Err(e) => failure(e),
    }
}

async fn raw_schema_by_id(State(r): Shared, Segments(id): Segments<String>) -> Response {
    let Some(id) = schema_id(&id) else { return not_found() };
    match r.schema_by_id(id).await {
        Ok(s) => reply(StatusCode::OK, s.text.into_bytes()),
        Err(e) => failure(e),
    }
}

async fn versions_by_id(State(r): Shared, Segments(id): Segments<String>, q: Params) -> Response {
    let Some(id) = schema_id(&id) else { return not_found() };
    respond(r.versions_for_id(id, q.flag("deleted")).await.map(|pairs| {
        pairs
            .into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect::<Vec<_>>()
    }))
}

async fn subjects_by_id(State(r): Shared, Segments(id): Segments<String>, q: Params) -> Response {
    let Some(id) = schema_id(&id) else { return not_found() };
    respond(r.subjects_for_id(id, q.flag("deleted")).await)
}

/// Confluent's `ConfigUpdateRequest` (`compatibility`; `compatibilityLevel` accepted too).
#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

async fn put_config_for(r: &Registry, subject: Option<&str>, body: ConfigBody) -> Response {
    let Some(requested) = body.compatibility.or(body.compatibility_level) else {
        // Nothing this registry configures was asked for; Confluent echoes the request.
        return ok(&json!({}));
    };
    let Some(level) = CompatibilityLevel::parse(&requested) else {
        return failure(RegistryError::InvalidCompatibilityLevel);
    };
    respond(r.set_config(subject, level).await.map(|l| json!({"compatibility": l.as_str()})))
}

fn level_body(level: CompatibilityLevel) -> Value {
    json!({"compatibilityLevel": level.as_str()})
}

async fn get_global_config(State(r): Shared) -> Response {
    respond(r.config(None, true).await.map(level_body))
}

async fn put_global_config(State(r): Shared, Body(body): Body<ConfigBody>) -> Response {
    put_config_for(&r, None, body).await
}

async fn delete_global_config(State(r): Shared) -> Response {
    respond(r.delete_config(None).await.map(level_body))
}

async fn get_config(State(r): Shared, Segments(subject): Segments<String>, q: Params) -> Response {
    respond(r.config(Some(&subject), q.flag("defaultToGlobal")).await.map(level_body))
}

async fn put_config(
    State(r): Shared,
    Segments(subject): Segments<String>,
    Body(body): Body<ConfigBody>,
) -> Response {
    put_config_for(&r, Some(&subject), body).await
}

async fn delete_config(State(r): Shared, Segments(subject): Segments<String>) -> Response {
    respond(r.delete_config(Some(&subject)).await.map(level_body))
}

/// Confluent's `ModeUpdateRequest`.
#[derive(Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

fn mode_body(mode: Mode) -> Value {
    json!({"mode": mode.as_str()})
}

async fn put_mode_for(r: &Registry, subject: Option<&str>, body: ModeBody, q: &Params) -> Response {
    let Some(mode) = body.mode.as_deref().and_then(Mode::parse) else {
        return failure(RegistryError::InvalidMode);
    };
    respond(r.set_mode(subject, mode, q.flag("force")).await.map(mode_body))
}

async fn get_global_mode(State(r): Shared) -> Response {
    respond(r.mode(None, true).await.map(mode_body))
}

async fn put_global_mode(State(r): Shared, q: Params, Body(body): Body<ModeBody>) -> Response {
    put_mode_for(&r, None, body, &q).await
}

async fn delete_global_mode(State(r): Shared) -> Response {
    respond(r.delete_mode(None).await.map(mode_body))
}

async fn get_mode(State(r): Shared, Segments(subject): Segments<String>, q: Params) -> Response {
    respond(r.mode(Some(&subject), q.flag("defaultToGlobal")).await.map(mode_body))
}

async fn put_mode(
    State(r): Shared,
    Segments(subject): Segments<String>,
    q: Params,
    Body(body): Body<ModeBody>,
) -> Response {
    put_mode_for(&r, Some(&subject), body, &q).await
}

async fn delete_mode(State(r): Shared, Segments(subject): Segments<String>) -> Response {
    respond(r.delete_mode(Some(&subject)).await.map(mode_body))
}

async fn check_compatibility(
    r: &Registry,
    subject: &str,
    version: Option<VersionSelector>,
    body: SchemaBody,
    verbose: bool,
) -> Response {
    let result = match body.into_request() {
        Ok(request) => r.check_compatibility(subject, version, &request).await,
        Err(e) => Err(e),
    };
    let messages = match result {
        Ok(messages) => messages,
        // With verbose, an invalid schema is an answer, not an error (as in Confluent).
        Err(e @ RegistryError::InvalidSchema { .. }) if verbose => vec![e.to_string()],
        Err(e) => return failure(e),
    };
    if verbose {
        ok(&json!({"is_compatible": messages.is_empty(), "messages": messages}))
    } else {
        ok(&json!({"is_compatible": messages.is_empty()}))
    }
}

async fn check_against_all(
    State(r): Shared,
    Segments(subject): Segments<String>,
    q: Params,
    Body(body): Body<SchemaBody>,
) -> Response {
    check_compatibility(&r, &subject, None, body, q.flag("verbose")).await
}

async fn check_against_version(
    State(r): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
    Body(body): Body<SchemaBody>,
) -> Response {
    let sel = match VersionSelector::parse(&version) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    check_compatibility(&r, &subject, Some(sel), body, q.flag("verbose")).await
}
