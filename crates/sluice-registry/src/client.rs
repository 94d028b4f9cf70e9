//! A client for any Confluent-compatible schema registry, behaving like Confluent's
//! `CachedSchemaRegistryClient` over its `RestService`: the same endpoints, headers, caching,
//! retries and URL failover, so registries and proxies that serve Confluent's clients serve this one.
//!
//! * Ids are cached per (subject, schema text) and schemas per id, so steady-state serialization
//!   does no I/O. The caches are bounded (`max.schemas.per.subject` per subject).
//! * A request is retried on its URL with exponential backoff and full jitter (`max.retries`,
//!   `retries.wait.ms`, `retries.max.wait.ms`) when the registry is unreachable, times out, or
//!   answers 408, 429 or 5xx (including error codes 50001-50003); after that, or at once when a
//!   connection cannot be opened, it moves to the next URL, which then stays current. Other answers
//!   are definite and surface as [`RegistryError::Rest`] with Confluent's `error_code` and message.
//! * Path segments are percent-encoded, so subjects may hold dots, slashes or spaces.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::client_config::{RegistryAuth, RegistryClientConfig, RegistryEndpoint};
use crate::error::RegistryError;

/// What the client accepts, in Confluent's order of preference.
pub const ACCEPT_HEADER: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5";
/// The content type of request bodies.
pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";

/// Responses larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// Schemas cached by id at most.
const MAX_CACHED_IDS: usize = 100_000;

/// A schema version as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// Its version in the subject.
    pub version: u32,
    /// The global schema id (what the wire format carries).
    pub id: u32,
    /// The schema text as the registry stores it.
    pub schema: Arc<str>,
}

/// A cheap-to-clone handle on a registry; clones share connections and caches.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryClientConfig,
    http: reqwest::Client,
    /// The endpoint that last answered; requests start there.
    current: AtomicUsize,
    ids: Mutex<HashMap<String, SubjectIds>>,
    schemas: Mutex<Bounded<u32, Arc<str>>>,
    latest: Mutex<HashMap<String, (RegisteredSchema, Instant)>>,
    /// xorshift state for the retry jitter.
    jitter: AtomicU64,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        let auth = match &config.auth {
            RegistryAuth::None => "none".to_owned(),
            RegistryAuth::UserInfo(c) => format!("basic (user '{}')", c.user),
            RegistryAuth::Url => "basic (from the URLs)".to_owned(),
            RegistryAuth::StaticToken { .. } => "bearer token".to_owned(),
        };
        let urls: Vec<String> = config.endpoints.iter().map(ToString::to_string).collect();
        f.debug_struct("RegistryClient").field("urls", &urls).field("auth", &auth).finish()
    }
}

/// A map bounded to `capacity` entries, evicting the oldest insertion.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded { map: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

type SubjectIds = Bounded<Arc<str>, u32>;

#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
}

#[derive(Deserialize)]
struct VersionResponse {
    subject: String,
    version: u32,
    id: u32,
    schema: String,
}

#[derive(Deserialize)]
struct ConfigResponse {
    #[serde(alias = "compatibilityLevel")]
    compatibility: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    error_code: u32,
    #[serde(default)]
    message: String,
}

/// Percent-encodes a path segment: everything but RFC 3986's unreserved characters.
fn encode_segment(segment: &str, out: &mut String) {
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The request URL: the endpoint's path, then the encoded segments, then the query.
fn request_url(endpoint: &RegistryEndpoint, segments: &[&str], query: &[(&str, &str)]) -> Url {
    let mut url = endpoint.url.clone();
    let mut path = url.path().trim_end_matches('/').to_owned();
    for segment in segments {
        path.push('/');
        encode_segment(segment, &mut path);
    }
    url.set_path(&path);
    url.set_query(None);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

/// The description of a transport error with its causes, which name no credentials: URLs here
/// never carry any.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Subjects the URL grammar cannot carry as one segment.
fn check_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject == "." || subject == ".." {
        return Err(RegistryError::InvalidSubject { subject: subject.to_owned() });
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RegistryClient {
    /// A client for `config`'s registries. Builds the HTTP client (TLS included) now; no request
    /// is made until the first call.
    pub fn new(config: RegistryClientConfig) -> Result<Self, RegistryError> {
        let tls_property = config.tls_property();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if let Some((host, port)) = &config.proxy {
            let proxy =
                reqwest::Proxy::all(format!("http://{host}:{port}")).map_err(|e| RegistryError::Config {
                    property: format!("{}.proxy.host", config.prefix),
                    message: format!("'{host}:{port}' is not a usable proxy: {e}"),
                })?;
            builder = builder.proxy(proxy);
        }
        if let Some(tls) = config.tls.rustls_config(&tls_property)? {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|e| RegistryError::Config {
            property: tls_property,
            message: format!("the HTTP client cannot be built: {}", describe(e)),
        })?;
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64) | 1;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                current: AtomicUsize::new(0),
                ids: Mutex::new(HashMap::new()),
                schemas: Mutex::new(Bounded::new(MAX_CACHED_IDS)),
                latest: Mutex::new(HashMap::new()),
                jitter: AtomicU64::new(seed),
                config,
            }),
        })
    }

    /// The settings this client was built with.
    pub fn client_config(&self) -> &RegistryClientConfig {
        &self.inner.config
    }

    /// The id to frame a value serialized with `schema` under `subject`, as Confluent's
    /// serializers obtain it: registered (`auto.register.schemas=true`, the default), else the
    /// subject's latest version (`use.latest.version=true`; the caller must write data that
    /// schema can read), else looked up. Cached, so repeated calls do no I/O.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let config = &self.inner.config;
        if !config.auto_register_schemas && config.use_latest_version {
            return Ok(self.latest_cached(subject).await?.id);
        }
        if let Some(&id) = lock(&self.inner.ids).get(subject).and_then(|ids| ids.get(schema)) {
            return Ok(id);
        }
        if config.auto_register_schemas {
            self.register_schema(subject, schema).await
        } else {
            let context = format!(
                "looking up the schema of subject '{subject}' (auto.register.schemas is false, so it must \
                 have been registered beforehand)"
            );
            Ok(self.lookup_with(subject, schema, &context).await?.id)
        }
    }

    /// Registers `schema` under `subject` (`POST /subjects/{subject}/versions`), whatever
    /// `auto.register.schemas` says, and returns its id; the registry returns the existing id for
    /// a schema it already has. Cached.
    pub async fn register_schema(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        check_subject(subject)?;
        if let Some(&id) = lock(&self.inner.ids).get(subject).and_then(|ids| ids.get(schema)) {
            return Ok(id);
        }
        let context = format!("registering a schema under subject '{subject}'");
        let body = json!({ "schema": schema });
        let query = self.normalize_query();
        let response: IdResponse = self
            .request(Method::POST, &["subjects", subject, "versions"], &query, Some(&body), &context)
            .await?;
        self.remember(subject, schema, response.id, None);
        Ok(response.id)
    }

    /// The version of `subject` holding `schema` (`POST /subjects/{subject}`), without
    /// registering anything; fails with error code 40401 or 40403 when there is none.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        self.lookup_with(subject, schema, &format!("looking up a schema under subject '{subject}'")).await
    }

    async fn lookup_with(
        &self,
        subject: &str,
        schema: &str,
        context: &str,
    ) -> Result<RegisteredSchema, RegistryError> {
        check_subject(subject)?;
        let body = json!({ "schema": schema });
        let mut query = self.normalize_query();
        query.push(("deleted", "false"));
        let response: VersionResponse =
            self.request(Method::POST, &["subjects", subject], &query, Some(&body), context).await?;
        self.remember(subject, schema, response.id, Some(&response.schema));
        Ok(RegisteredSchema {
            subject: response.subject,
            version: response.version,
            id: response.id,
            schema: Arc::from(response.schema),
        })
    }

    /// The latest version of `subject` (`GET /subjects/{subject}/versions/latest`), fresh.
    pub async fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        check_subject(subject)?;
        let context = format!("reading the latest schema of subject '{subject}'");
        let response: VersionResponse = self
            .request(Method::GET, &["subjects", subject, "versions", "latest"], &[], None, &context)
            .await?;
        let schema: Arc<str> = Arc::from(response.schema);
        lock(&self.inner.schemas).insert(response.id, Arc::clone(&schema));
        Ok(RegisteredSchema { subject: response.subject, version: response.version, id: response.id, schema })
    }

    /// [`Self::latest`], reused for `latest.cache.ttl.sec`.
    async fn latest_cached(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let ttl = self.inner.config.latest_cache_ttl;
        if let Some((latest, at)) = lock(&self.inner.latest).get(subject)
            && ttl.is_none_or(|ttl| at.elapsed() < ttl)
        {
            return Ok(latest.clone());
        }
        let latest = self.latest(subject).await?;
        lock(&self.inner.latest).insert(subject.to_owned(), (latest.clone(), Instant::now()));
        Ok(latest)
    }

    /// The schema text with global id `id` (`GET /schemas/ids/{id}`), as a deserializer needs it.
    /// Cached.
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        if let Some(schema) = lock(&self.inner.schemas).get(&id) {
            return Ok(Arc::clone(schema));
        }
        let context = format!("reading schema id {id}");
        let response: SchemaResponse =
            self.request(Method::GET, &["schemas", "ids", &id.to_string()], &[], None, &context).await?;
        let schema: Arc<str> = Arc::from(response.schema);
        lock(&self.inner.schemas).insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    /// Every subject (`GET /subjects`).
    pub async fn subjects(&self) -> Result<Vec<String>, RegistryError> {
        self.request(Method::GET, &["subjects"], &[], None, "listing subjects").await
    }

    /// The versions of `subject` (`GET /subjects/{subject}/versions`).
    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        check_subject(subject)?;
        let context = format!("listing the versions of subject '{subject}'");
        self.request(Method::GET, &["subjects", subject, "versions"], &[], None, &context).await
    }

    /// The compatibility level in force for `subject` (its own, else the global one), or the
    /// global level for `None` (`GET /config[/{subject}]?defaultToGlobal=true`).
    pub async fn config(&self, subject: Option<&str>) -> Result<String, RegistryError> {
        let (segments, context) = match subject {
            Some(s) => {
                check_subject(s)?;
                (vec!["config", s], format!("reading the compatibility level of subject '{s}'"))
            }
            None => (vec!["config"], "reading the global compatibility level".to_owned()),
        };
        let response: ConfigResponse =
            self.request(Method::GET, &segments, &[("defaultToGlobal", "true")], None, &context).await?;
        Ok(response.compatibility)
    }

    /// Sets the compatibility level (`BACKWARD`, `NONE`, …) of `subject`, or the global one for
    /// `None` (`PUT /config[/{subject}]`); returns the level the registry reports.
    pub async fn set_config(&self, subject: Option<&str>, level: &str) -> Result<String, RegistryError> {
        let (segments, context) = match subject {
            Some(s) => {
                check_subject(s)?;
                (vec!["config", s], format!("setting the compatibility level of subject '{s}' to {level}"))
            }
            None => (vec!["config"], format!("setting the global compatibility level to {level}")),
        };
        let body = json!({ "compatibility": level });
        let response: ConfigResponse =
            self.request(Method::PUT, &segments, &[], Some(&body), &context).await?;
        Ok(response.compatibility)
    }

    /// Deletes `subject` (`DELETE /subjects/{subject}[?permanent=true]`; a permanent delete needs
    /// a soft one first) and returns the deleted versions. Forgets cached ids of the subject.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>, RegistryError> {
        check_subject(subject)?;
        let context = format!("deleting subject '{subject}'");
        let query: &[(&str, &str)] = if permanent { &[("permanent", "true")] } else { &[] };
        let versions = self.request(Method::DELETE, &["subjects", subject], query, None, &context).await?;
        lock(&self.inner.ids).remove(subject);
        lock(&self.inner.latest).remove(subject);
        Ok(versions)
    }

    fn normalize_query(&self) -> Vec<(&'static str, &'static str)> {
        if self.inner.config.normalize_schemas { vec![("normalize", "true")] } else { Vec::new() }
    }

    /// Caches `subject`'s id for `schema`, and the id's text (the registry's own when known).
    fn remember(&self, subject: &str, schema: &str, id: u32, registry_text: Option<&str>) {
        let capacity = self.inner.config.max_schemas_per_subject;
        lock(&self.inner.ids)
            .entry(subject.to_owned())
            .or_insert_with(|| Bounded::new(capacity))
            .insert(Arc::from(schema), id);
        let mut schemas = lock(&self.inner.schemas);
        if schemas.get(&id).is_none() {
            schemas.insert(id, Arc::from(registry_text.unwrap_or(schema)));
        }
    }

    /// Ids cached for `subject` (for tests and metrics).
    pub fn cached_ids(&self, subject: &str) -> usize {
        lock(&self.inner.ids).get(subject).map_or(0, Bounded::len)
    }

    /// A random wait below the backoff ceiling of retry `retry` (full jitter).
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.inner.config.retry.ceiling(retry);
        let millis = ceiling.as_millis() as u64;
        if millis == 0 {
            return Duration::ZERO;
        }
        let mut x = self.inner.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.inner.jitter.store(x, Ordering::Relaxed);
        Duration::from_millis(x % millis + 1)
    }

    /// Sends a request with retries and failover, and decodes the answer.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        context: &str,
    ) -> Result<T, RegistryError> {
        let config = &self.inner.config;
        let body = body.map(|b| b.to_string());
        let count = config.endpoints.len();
        let start = self.inner.current.load(Ordering::Relaxed) % count.max(1);
        let mut last = None;
        for step in 0..count {
            let index = (start + step) % count;
            let endpoint = &config.endpoints[index];
            for retry in 0..=config.retry.max_retries {
                match self.attempt(endpoint, method.clone(), segments, query, body.as_deref(), context).await
                {
                    Ok(value) => {
                        if index != start {
                            self.inner.current.store(index, Ordering::Relaxed);
                        }
                        return Ok(value);
                    }
                    Err(Attempt::Definite(e)) => return Err(e),
                    Err(Attempt::Retryable { error, connect }) => {
                        let more_urls = step + 1 < count;
                        let give_up_here = retry == config.retry.max_retries || (connect && more_urls);
                        if give_up_here {
                            if more_urls {
                                tracing::warn!(url = %endpoint, error = %error, "schema registry failed; trying the next URL");
                            }
                            last = Some(error);
                            break;
                        }
                        let wait = self.backoff(retry);
                        tracing::debug!(url = %endpoint, error = %error, ?wait, "schema registry request failed; retrying");
                        last = Some(error);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Config {
            property: format!("{}.schema.registry.url", config.prefix),
            message: "no registry URL is configured".to_owned(),
        }))
    }

    /// One HTTP exchange with one endpoint.
    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: &RegistryEndpoint,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&str>,
        context: &str,
    ) -> Result<T, Attempt> {
        let config = &self.inner.config;
        let unavailable = |message: String, connect: bool| Attempt::Retryable {
            error: RegistryError::Unavailable {
                context: context.to_owned(),
                url: endpoint.to_string(),
                message,
            },
            connect,
        };
        let mut request = self
            .inner
            .http
            .request(method, request_url(endpoint, segments, query))
            .header(ACCEPT, ACCEPT_HEADER);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, CONTENT_TYPE_V1).body(body.to_owned());
        }
        match &config.auth {
            RegistryAuth::None => {}
            RegistryAuth::UserInfo(credentials) => {
                request = request.header(AUTHORIZATION, basic(credentials))
            }
            RegistryAuth::Url => {
                if let Some(credentials) = &endpoint.credentials {
                    request = request.header(AUTHORIZATION, basic(credentials));
                }
            }
            RegistryAuth::StaticToken { token, logical_cluster, identity_pool_id } => {
                request = request.header(AUTHORIZATION, sensitive(&format!("Bearer {}", token.expose())));
                if let Some(cluster) = logical_cluster {
                    request = request.header("target-sr-cluster", cluster.as_str());
                }
                if let Some(pool) = identity_pool_id {
                    request = request.header("Confluent-Identity-Pool-Id", pool.as_str());
                }
            }
        }
        for (name, value) in &config.request_headers {
            // Validated when the configuration was read.
            if let (Ok(name), Ok(mut value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose()))
            {
                value.set_sensitive(true);
                request = request.header(name, value);
            }
        }

        let mut response = request.send().await.map_err(|e| {
            let connect = e.is_connect();
            unavailable(describe(e), connect)
        })?;
        let status = response.status();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(Attempt::Definite(RegistryError::Protocol {
                            context: context.to_owned(),
                            url: endpoint.to_string(),
                            message: format!("the answer is larger than {} MiB", MAX_RESPONSE_BYTES >> 20),
                        }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(unavailable(describe(e), false)),
            }
        }
        if status.is_success() {
            let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(text).map_err(|e| {
                Attempt::Definite(RegistryError::Protocol {
                    context: context.to_owned(),
                    url: endpoint.to_string(),
                    message: format!(
                        "HTTP {} with a body that is not the expected JSON ({e}): {}",
                        status.as_u16(),
                        excerpt(&bytes)
                    ),
                })
            });
        }
        let (error_code, message) = match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(e) => (e.error_code, e.message),
            Err(_) => (
                50005,
                format!("Unable to parse error message from schema registry: '({})'", excerpt(&bytes)),
            ),
        };
        let error =
            RegistryError::Rest { context: context.to_owned(), status: status.as_u16(), error_code, message };
        if error.class().is_retryable() {
            Err(Attempt::Retryable { error, connect: false })
        } else {
            Err(Attempt::Definite(error))
        }
    }
}

/// How one attempt failed.
enum Attempt {
    /// Retrying cannot help.
    Definite(RegistryError),
    /// Retrying may help; `connect` when no connection could be opened (fail over at once).
    Retryable { error: RegistryError, connect: bool },
}

fn sensitive(value: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

fn basic(credentials: &crate::client_config::BasicCredentials) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        credentials.user,
        credentials.password.expose()
    ));
    sensitive(&format!("Basic {encoded}"))
}

/// The start of a body, for messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use serde_json::Value;
    use sluice_core::ErrorClass;

    use super::*;
    use crate::client_config::{BasicCredentials, RetryPolicy};
    use sluice_core::secret::Secret;

    /// One request as the fake registry saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: Method,
        /// The raw (still percent-encoded) path.
        path: String,
        query: String,
        headers: HeaderMap,
    }

    /// A scripted schema registry: Confluent's answers for the endpoints the client uses, plus
    /// injected failures.
    #[derive(Default)]
    struct FakeState {
        schemas: Vec<String>,
        subjects: BTreeMap<String, Vec<u32>>,
        configs: HashMap<String, String>,
        seen: Vec<Seen>,
        /// Answers given before any routing, in order.
        fail_next: VecDeque<(u16, String)>,
        /// Requests that are answered only after this long.
        delay: Option<Duration>,
    }

    type Shared = Arc<Mutex<FakeState>>;

    struct Fake {
        state: Shared,
        url: String,
    }

    impl Fake {
        async fn start() -> Fake {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let state: Shared = Arc::default();
            let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&state));
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Fake { state, url }
        }

        fn seen(&self) -> Vec<Seen> {
            lock(&self.state).seen.clone()
        }

        fn fail(&self, status: u16, body: &str) {
            lock(&self.state).fail_next.push_back((status, body.to_owned()));
        }
    }

    fn decode_segment(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn answer(status: u16, body: Value) -> Response {
        let status = StatusCode::from_u16(status).unwrap();
        (status, [(CONTENT_TYPE, CONTENT_TYPE_V1)], body.to_string()).into_response()
    }

    fn error(status: u16, code: u32, message: &str) -> Response {
        answer(status, json!({"error_code": code, "message": message}))
    }

    async fn handle(
        State(state): State<Shared>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let delay = {
            let mut s = lock(&state);
            s.seen.push(Seen {
                method: method.clone(),
                path: uri.path().to_owned(),
                query: uri.query().unwrap_or("").to_owned(),
                headers: headers.clone(),
            });
            s.delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut s = lock(&state);
        if let Some((status, body)) = s.fail_next.pop_front() {
            return (StatusCode::from_u16(status).unwrap(), body).into_response();
        }
        let segments: Vec<String> =
            uri.path().trim_start_matches('/').split('/').map(decode_segment).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let schema_of = |body: &Bytes| -> Option<String> {
            let v: Value = serde_json::from_slice(body).ok()?;
            v.get("schema")?.as_str().map(str::to_owned)
        };
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["subjects", subject, "versions"]) => {
                let Some(schema) = schema_of(&body) else { return error(422, 42201, "Invalid schema") };
                if schema.contains("INCOMPATIBLE") {
                    return error(
                        409,
                        40901,
                        &format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\""
                        ),
                    );
                }
                let id = match s.schemas.iter().position(|x| *x == schema) {
                    Some(i) => i as u32 + 1,
                    None => {
                        s.schemas.push(schema);
                        s.schemas.len() as u32
                    }
                };
                let ids = s.subjects.entry((*subject).to_owned()).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
                answer(200, json!({"id": id}))
            }
            ("POST", ["subjects", subject]) => {
                let schema = schema_of(&body).unwrap_or_default();
                let Some(ids) = s.subjects.get(*subject) else {
                    return error(404, 40401, &format!("Subject '{subject}' not found."));
                };
                match ids.iter().position(|&id| s.schemas[id as usize - 1] == schema) {
                    Some(v) => answer(
                        200,
                        json!({"subject": subject, "version": v + 1, "id": ids[v], "schema": schema}),
                    ),
                    None => error(404, 40403, "Schema not found"),
                }
            }
            ("GET", ["subjects", subject, "versions", "latest"]) => match s.subjects.get(*subject) {
                Some(ids) => {
                    let id = *ids.last().unwrap();
                    answer(
                        200,
                        json!({"subject": subject, "version": ids.len(), "id": id,
                               "schema": s.schemas[id as usize - 1]}),
                    )
                }
                None => error(404, 40401, &format!("Subject '{subject}' not found.")),
            },
            ("GET", ["subjects", subject, "versions"]) => match s.subjects.get(*subject) {
                Some(ids) => answer(200, json!((1..=ids.len()).collect::<Vec<_>>())),
                None => error(404, 40401, &format!("Subject '{subject}' not found.")),
            },
            ("DELETE", ["subjects", subject]) => match s.subjects.remove(*subject) {
                Some(ids) => answer(200, json!((1..=ids.len()).collect::<Vec<_>>())),
                None => error(404, 40401, &format!("Subject '{subject}' not found.")),
            },
            ("GET", ["subjects"]) => answer(200, json!(s.subjects.keys().collect::<Vec<_>>())),
            ("GET", ["schemas", "ids", id]) => {
                match id.parse::<usize>().ok().and_then(|i| s.schemas.get(i - 1)) {
                    Some(schema) => answer(200, json!({"schema": schema})),
                    None => error(404, 40403, &format!("Schema {id} not found")),
                }
            }
            ("GET", ["config", rest @ ..]) => {
                let key = rest.first().copied().unwrap_or("").to_owned();
                let level = s.configs.get(&key).or(s.configs.get("")).cloned().unwrap_or("BACKWARD".into());
                answer(200, json!({"compatibilityLevel": level}))
            }
            ("PUT", ["config", rest @ ..]) => {
                let key = rest.first().copied().unwrap_or("").to_owned();
                let v: Value = serde_json::from_slice(&body).unwrap();
                let level = v["compatibility"].as_str().unwrap().to_owned();
                s.configs.insert(key, level.clone());
                answer(200, json!({"compatibility": level}))
            }
            _ => error(404, 404, "HTTP 404 Not Found"),
        }
    }

    fn config(urls: &str) -> RegistryClientConfig {
        let mut c = RegistryClientConfig::new(urls).unwrap();
        c.retry = RetryPolicy {
            max_retries: 3,
            initial_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(5),
        };
        c.connect_timeout = Duration::from_secs(5);
        c.read_timeout = Duration::from_secs(5);
        c
    }

    fn client(c: RegistryClientConfig) -> RegistryClient {
        RegistryClient::new(c).unwrap()
    }

    const SCHEMA: &str = r#"{"type":"record","name":"Key","fields":[{"name":"id","type":"int"}]}"#;
    const OTHER: &str = r#"{"type":"record","name":"Value","fields":[]}"#;

    #[tokio::test]
    async fn register_is_cached_and_speaks_confluents_protocol() {
        let fake = Fake::start().await;
        let c = client(config(&fake.url));
        let id = c.register("t-key", SCHEMA).await.unwrap();
        assert_eq!(c.register("t-key", SCHEMA).await.unwrap(), id);
        assert_eq!(fake.seen().len(), 1, "the second call is served from the cache");
        let seen = &fake.seen()[0];
        assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/subjects/t-key/versions"));
        assert_eq!(seen.headers[ACCEPT], ACCEPT_HEADER);
        assert_eq!(seen.headers[CONTENT_TYPE], CONTENT_TYPE_V1);
        assert!(seen.headers.get(AUTHORIZATION).is_none());
        // Another subject with the same schema: another request, the same id.
        assert_eq!(c.register("t2-key", SCHEMA).await.unwrap(), id);
        assert_eq!(c.register("t-key", OTHER).await.unwrap(), id + 1);
        assert_eq!(fake.seen().len(), 3);
        // The schema is known by id without asking.
        assert_eq!(&*c.schema_by_id(id).await.unwrap(), SCHEMA);
        assert_eq!(fake.seen().len(), 3);
        // Clones share the cache.
        assert_eq!(c.clone().register("t-key", SCHEMA).await.unwrap(), id);
        assert_eq!(fake.seen().len(), 3);
        // Other helpers.
        assert_eq!(c.subjects().await.unwrap(), ["t-key", "t2-key"]);
        assert_eq!(c.versions("t-key").await.unwrap(), [1, 2]);
        let latest = c.latest("t-key").await.unwrap();
        assert_eq!((latest.version, latest.id, &*latest.schema), (2, id + 1, OTHER));
        let found = c.lookup("t-key", SCHEMA).await.unwrap();
        assert_eq!((found.subject.as_str(), found.version, found.id), ("t-key", 1, id));
        assert_eq!(c.config(None).await.unwrap(), "BACKWARD");
        assert_eq!(c.set_config(Some("t-key"), "NONE").await.unwrap(), "NONE");
        assert_eq!(c.config(Some("t-key")).await.unwrap(), "NONE");
        assert_eq!(c.set_config(None, "FULL").await.unwrap(), "FULL");
        assert_eq!(c.config(Some("t2-key")).await.unwrap(), "FULL");
        let get_config = fake.seen().into_iter().rev().find(|s| s.path == "/config/t2-key").unwrap();
        assert_eq!(get_config.query, "defaultToGlobal=true");
        // Deleting a subject forgets its cached ids.
        assert_eq!(c.delete_subject("t-key", false).await.unwrap(), [1, 2]);
        assert_eq!(c.cached_ids("t-key"), 0);
        let before = fake.seen().len();
        c.register("t-key", SCHEMA).await.unwrap();
        assert_eq!(fake.seen().len(), before + 1);
    }

    #[tokio::test]
    async fn subjects_are_percent_encoded() {
        let fake = Fake::start().await;
        let c = client(config(&format!("{}/", fake.url)));
        let subject = "db.public/odd name%-value";
        let id = c.register(subject, SCHEMA).await.unwrap();
        assert_eq!(fake.seen()[0].path, "/subjects/db.public%2Fodd%20name%25-value/versions");
        assert_eq!(c.latest(subject).await.unwrap().id, id);
        assert_eq!(c.subjects().await.unwrap(), [subject]);
        for bad in ["", ".", ".."] {
            assert!(matches!(c.register(bad, SCHEMA).await, Err(RegistryError::InvalidSubject { .. })));
        }
        // A base URL with a path keeps it.
        let mut endpoint = c.client_config().endpoints[0].clone();
        endpoint.url.set_path("/registry/");
        let url = request_url(&endpoint, &["subjects", "a b"], &[("normalize", "true")]);
        assert!(url.as_str().ends_with("/registry/subjects/a%20b?normalize=true"), "{url}");
    }

    #[tokio::test]
    async fn lookup_latest_and_normalize_follow_the_settings() {
        let fake = Fake::start().await;
        let setup = client(config(&fake.url));
        let first = setup.register_schema("s-value", SCHEMA).await.unwrap();
        let second = setup.register_schema("s-value", OTHER).await.unwrap();

        // auto.register.schemas=false: look up, never register.
        let mut c = config(&fake.url);
        c.auto_register_schemas = false;
        c.normalize_schemas = true;
        let lookup = client(c.clone());
        assert_eq!(lookup.register("s-value", SCHEMA).await.unwrap(), first);
        let seen = fake.seen().pop().unwrap();
        assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/subjects/s-value"));
        assert_eq!(seen.query, "normalize=true&deleted=false");
        let err = lookup.register("missing-value", SCHEMA).await.unwrap_err();
        assert!(matches!(&err, RegistryError::Rest { status: 404, error_code: 40401, .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Definite);
        assert!(err.to_string().contains("auto.register.schemas is false"), "{err}");
        assert!(err.to_string().contains("'missing-value'"), "{err}");

        // use.latest.version: the latest id, fetched once.
        c.use_latest_version = true;
        let latest = client(c);
        let before = fake.seen().len();
        assert_eq!(latest.register("s-value", SCHEMA).await.unwrap(), second);
        assert_eq!(latest.register("s-value", OTHER).await.unwrap(), second);
        assert_eq!(fake.seen().len(), before + 1);
        assert!(fake.seen().last().unwrap().path.ends_with("/versions/latest"));
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_and_definite_ones_are_not() {
        let fake = Fake::start().await;
        let c = client(config(&fake.url));
        fake.fail(503, "<html>busy</html>");
        fake.fail(500, r#"{"error_code":50001,"message":"Error in the backend data store"}"#);
        fake.fail(429, r#"{"error_code":429,"message":"slow down"}"#);
        assert_eq!(c.register("r-value", SCHEMA).await.unwrap(), 1);
        assert_eq!(fake.seen().len(), 4);

        // Exhausted: the last error, retryable, after max.retries + 1 attempts.
        for _ in 0..4 {
            fake.fail(500, r#"{"error_code":50002,"message":"Operation timed out"}"#);
        }
        let err = c.register("r-value", OTHER).await.unwrap_err();
        assert!(matches!(err, RegistryError::Rest { status: 500, error_code: 50002, .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Retryable);
        assert_eq!(fake.seen().len(), 8);

        // 409: definite, named, with what to do.
        let err = c.register("r-value", r#"{"type":"string","doc":"INCOMPATIBLE"}"#).await.unwrap_err();
        assert_eq!(fake.seen().len(), 9);
        assert_eq!(err.class(), ErrorClass::Definite);
        let text = err.to_string();
        assert!(text.contains("subject 'r-value'") && text.contains("compatibility level"), "{text}");
        assert!(text.contains("HTTP 409") && text.contains("40901"), "{text}");

        // A non-JSON error body: Confluent's 50005, classified by status.
        fake.fail(404, "<html>not here</html>");
        let err = c.schema_by_id(77).await.unwrap_err();
        assert!(
            matches!(&err, RegistryError::Rest { status: 404, error_code: 50005, message, .. }
            if message.contains("not here")),
            "{err:?}"
        );
        assert_eq!(fake.seen().len(), 10);

        // A 200 that is not the API's JSON: definite.
        fake.fail(200, "<html>login page</html>");
        let err = c.register("r-value", OTHER).await.unwrap_err();
        assert!(matches!(err, RegistryError::Protocol { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Definite);
    }

    #[tokio::test]
    async fn unreachable_urls_fail_over_and_the_good_one_stays_current() {
        let good = Fake::start().await;
        let flaky = Fake::start().await;
        // A port with nothing listening.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        // Connection refused moves on at once, without backoff.
        let mut c = config(&format!("{closed},{}", good.url));
        c.retry.initial_wait = Duration::from_secs(30);
        c.retry.max_wait = Duration::from_secs(30);
        let started = Instant::now();
        let c = client(c);
        assert_eq!(c.register("f-value", SCHEMA).await.unwrap(), 1);
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

        // A registry answering 503: retried, then the next URL, which stays current.
        let mut c = config(&format!("{},{}", flaky.url, good.url));
        c.retry.max_retries = 1;
        let c = client(c);
        for _ in 0..10 {
            flaky.fail(503, "unavailable");
        }
        assert_eq!(c.register("f-value", OTHER).await.unwrap(), 2);
        assert_eq!(flaky.seen().len(), 2);
        assert_eq!(c.latest("f-value").await.unwrap().id, 2);
        assert_eq!(flaky.seen().len(), 2, "the working URL is used first now");

        // Every URL down: unavailable, retryable, naming the URL but no credentials.
        let c = client(config(&closed.replace("http://", "http://user:pw@")));
        let err = c.subjects().await.unwrap_err();
        assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Retryable);
        let text = err.to_string();
        assert!(text.contains(&closed) && !text.contains("pw"), "{text}");
    }

    #[tokio::test]
    async fn timeouts_are_retryable() {
        let fake = Fake::start().await;
        lock(&fake.state).delay = Some(Duration::from_millis(500));
        let mut c = config(&fake.url);
        c.read_timeout = Duration::from_millis(50);
        c.retry.max_retries = 1;
        let c = client(c);
        let err = c.subjects().await.unwrap_err();
        assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Retryable);
        assert_eq!(fake.seen().len(), 2);
    }

    #[tokio::test]
    async fn credentials_are_sent_and_never_shown() {
        let fake = Fake::start().await;
        let basic = |user: &str, password: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        let mut c = config(&fake.url);
        c.auth =
            RegistryAuth::UserInfo(BasicCredentials { user: "alice".into(), password: Secret::new("pw1") });
        c.request_headers = vec![("X-Api-Key".into(), Secret::new("hdr-secret"))];
        let user_info = client(c);
        user_info.subjects().await.unwrap();
        let seen = fake.seen().pop().unwrap();
        assert_eq!(seen.headers[AUTHORIZATION], basic("alice", "pw1").as_str());
        assert_eq!(seen.headers["x-api-key"], "hdr-secret");
        let shown = format!("{user_info:?}");
        assert!(
            shown.contains("alice") && !shown.contains("pw1") && !shown.contains("hdr-secret"),
            "{shown}"
        );

        let url = fake.url.replace("http://", "http://bob:pw%402@");
        let from_url = client(config(&url));
        from_url.subjects().await.unwrap();
        assert_eq!(fake.seen().pop().unwrap().headers[AUTHORIZATION], basic("bob", "pw@2").as_str());
        assert!(!format!("{from_url:?}").contains("pw"));

        let mut c = config(&fake.url);
        c.auth = RegistryAuth::StaticToken {
            token: Secret::new("tok"),
            logical_cluster: Some("lsrc-1".into()),
            identity_pool_id: Some("pool-9".into()),
        };
        let bearer = client(c);
        bearer.subjects().await.unwrap();
        let seen = fake.seen().pop().unwrap();
        assert_eq!(seen.headers[AUTHORIZATION], "Bearer tok");
        assert_eq!(seen.headers["target-sr-cluster"], "lsrc-1");
        assert_eq!(seen.headers["confluent-identity-pool-id"], "pool-9");
        assert!(!format!("{bearer:?}").contains("tok\""));
    }

    #[tokio::test]
    async fn caches_are_bounded() {
        let fake = Fake::start().await;
        let mut c = config(&fake.url);
        c.max_schemas_per_subject = 2;
        let c = client(c);
        for i in 0..5 {
            c.register("b-value", &format!(r#"{{"type":"record","name":"R{i}","fields":[]}}"#))
                .await
                .unwrap();
        }
        assert_eq!(c.cached_ids("b-value"), 2);
        // The oldest was evicted: registering it again asks the registry (which knows it).
        let before = fake.seen().len();
        assert_eq!(c.register("b-value", r#"{"type":"record","name":"R0","fields":[]}"#).await.unwrap(), 1);
        assert_eq!(fake.seen().len(), before + 1);
    }

    #[test]
    fn error_classes() {
        let rest = |status, error_code| RegistryError::Rest {
            context: "c".into(),
            status,
            error_code,
            message: "m".into(),
        };
        for (status, code) in
            [(500, 50001), (502, 502), (503, 50003), (504, 0), (408, 408), (429, 429), (400, 50002)]
        {
            assert_eq!(rest(status, code).class(), ErrorClass::Retryable, "{status} {code}");
        }
        for (status, code) in [(400, 400), (401, 401), (403, 40301), (404, 40401), (409, 40901), (422, 42201)]
        {
            assert_eq!(rest(status, code).class(), ErrorClass::Definite, "{status} {code}");
        }
        assert!(rest(401, 401).to_string().contains("credentials"));
        assert_eq!(rest(404, 40403).error_code(), 40403);
        let unavailable =
            RegistryError::Unavailable { context: "c".into(), url: "u".into(), message: "m".into() };
        assert_eq!(unavailable.class(), ErrorClass::Retryable);
    }

    /// An HTTPS server on a std thread (rustls over a blocking socket) answering every request
    /// with an empty subject list; optionally demanding a client certificate from `CA_PEM`.
    fn https_server(require_client_cert: bool) -> String {
        use std::io::{Read, Write};

        use crate::client_config::tests::{CA_PEM, SERVER_KEY, SERVER_PEM};

        let pem = |text: &str| -> Vec<rustls_pki_types::CertificateDer<'static>> {
            rustls_pemfile::certs(&mut text.as_bytes()).collect::<Result<_, _>>().unwrap()
        };
        let key = rustls_pemfile::private_key(&mut SERVER_KEY.as_bytes()).unwrap().unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pem(CA_PEM).remove(0)).unwrap();
            builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap(),
            )
        } else {
            builder.with_no_client_auth()
        };
        let mut server = builder.with_single_cert(pem(SERVER_PEM), key).unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server = Arc::new(server);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let connection = rustls::ServerConnection::new(Arc::clone(&server)).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        url
    }

    #[tokio::test]
    async fn tls_trust_store_host_names_and_client_certificates() {
        use crate::client_config::tests::{CA_PEM, CLIENT_KEY, CLIENT_PEM};

        let properties = |url: &str, extra: &[(&str, &str)]| {
            let mut p: BTreeMap<String, String> = [
                ("value.converter.schema.registry.url", url),
                ("value.converter.schema.registry.ssl.truststore.certificates", CA_PEM),
                ("value.converter.max.retries", "0"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            p.insert("value.converter.http.read.timeout.ms".into(), "5000".into());
            p
        };
        let connect = |p: BTreeMap<String, String>| {
            client(RegistryClientConfig::from_converter_properties(&p, "value.converter").unwrap())
        };
        let no_hostname = ("value.converter.schema.registry.ssl.endpoint.identification.algorithm", "");

        let url = https_server(false);
        // The certificate names registry.test, not 127.0.0.1: refused unless host names are off.
        let err = connect(properties(&url, &[])).subjects().await.unwrap_err();
        assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
        let subjects = connect(properties(&url, &[no_hostname])).subjects().await.unwrap();
        assert!(subjects.is_empty());
        // Without the CA the chain is not trusted, host names or not.
        let mut untrusted = properties(&url, &[no_hostname]);
        untrusted.remove("value.converter.schema.registry.ssl.truststore.certificates");
        assert!(connect(untrusted).subjects().await.is_err());

        // Mutual TLS.
        let url = https_server(true);
        assert!(connect(properties(&url, &[no_hostname])).subjects().await.is_err());
        let with_identity = properties(
            &url,
            &[
                no_hostname,
                ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
                ("value.converter.schema.registry.ssl.keystore.key", CLIENT_KEY),
            ],
        );
        assert!(connect(with_identity).subjects().await.unwrap().is_empty());
    }
}
