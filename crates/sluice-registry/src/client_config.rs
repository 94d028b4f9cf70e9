//! Schema registry client settings, read from the properties Confluent's `AvroConverter` takes
//! under `key.converter.` / `value.converter.`, so an existing connector config works unchanged.
//!
//! | Property (after the prefix) | Meaning |
//! |---|---|
//! | `schema.registry.url` | comma-separated registry URLs (required); `http://user:pass@host` carries credentials for `basic.auth.credentials.source=URL` |
//! | `basic.auth.credentials.source` | `USER_INFO` or `URL`; `SASL_INHERIT` is refused |
//! | `basic.auth.user.info` (or the deprecated `schema.registry.basic.auth.user.info`) | `user:password` |
//! | `bearer.auth.credentials.source` | `STATIC_TOKEN` (OAuth flows are refused) |
//! | `bearer.auth.token`, `bearer.auth.logical.cluster`, `bearer.auth.identity.pool.id` | the token and Confluent Cloud's routing headers |
//! | `schema.registry.ssl.truststore.location` / `.type` / `.certificates` | trusted CAs, PEM only (JKS and PKCS12 are refused with a conversion hint) |
//! | `schema.registry.ssl.keystore.location` / `.type` / `.certificate.chain` / `.key` | client certificate and unencrypted private key, PEM only |
//! | `schema.registry.ssl.endpoint.identification.algorithm` | `https` (the default here) checks the host name; empty or `none` does not |
//! | `key.subject.name.strategy`, `value.subject.name.strategy` | [`SubjectNameStrategy`] Java class names |
//! | `auto.register.schemas` (true), `use.latest.version` (false), `normalize.schemas` (false) | how [`crate::client::RegistryClient::register`] finds an id |
//! | `max.schemas.per.subject` (1000) | schema → id cache bound per subject |
//! | `latest.cache.ttl.sec` (-1: forever) | how long `use.latest.version` trusts the latest version it fetched |
//! | `max.retries` (3), `retries.wait.ms` (1000), `retries.max.wait.ms` (20000) | exponential backoff with full jitter on retryable failures, per URL |
//! | `http.connect.timeout.ms` (60000), `http.read.timeout.ms` (60000) | timeouts |
//! | `proxy.host`, `proxy.port` | an HTTP proxy (otherwise none, whatever the environment says) |
//! | `request.header.<Name>` | extra headers on every request (values treated as secrets) |
//!
//! The retry and timeout properties are also read with a `schema.registry.` prefix, as Confluent's
//! client accepts both. Differences from Confluent: an unset endpoint identification algorithm
//! checks host names (Confluent's client skips the check when a trust store is configured);
//! credentials in a URL are percent-decoded; `basic.auth.user.info` without a credentials source is
//! an error rather than silently unused. Not supported: `schema.registry.url.randomize`, TLS
//! protocol and cipher settings (rustls's safe defaults apply), encrypted keys.
//!
//! Secrets (passwords, tokens, header values, private keys) are [`Secret`]s or hidden in `Debug`;
//! errors and logs show URLs without their credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sluice_core::properties::{Properties, PropertyError};
use sluice_core::secret::Secret;

use crate::error::RegistryError;
use crate::strategy::SubjectNameStrategy;

/// Settings of a [`crate::client::RegistryClient`]. Build with
/// [`RegistryClientConfig::from_converter_properties`] or [`RegistryClientConfig::new`].
#[derive(Debug, Clone)]
pub struct RegistryClientConfig {
    /// The property prefix the settings came from (`value.converter`), for messages.
    pub prefix: String,
    /// The registries to use, in order; requests fail over to the next on unavailability.
    pub endpoints: Vec<RegistryEndpoint>,
    /// How requests authenticate.
    pub auth: RegistryAuth,
    /// TLS trust and client certificate.
    pub tls: RegistryTls,
    /// `key.subject.name.strategy`.
    pub key_subject_name_strategy: SubjectNameStrategy,
    /// `value.subject.name.strategy`.
    pub value_subject_name_strategy: SubjectNameStrategy,
    /// `auto.register.schemas`: register unknown schemas (else look them up).
    pub auto_register_schemas: bool,
    /// `use.latest.version`: with auto-registration off, use the subject's latest schema id.
    pub use_latest_version: bool,
    /// `normalize.schemas`: ask the registry to normalize schemas before registering or looking up.
    pub normalize_schemas: bool,
    /// `max.schemas.per.subject`: cached schema → id entries per subject at most.
    pub max_schemas_per_subject: usize,
    /// `latest.cache.ttl.sec`: how long a fetched latest version is reused (`None`: forever).
    pub latest_cache_ttl: Option<Duration>,
    /// Retries of a failed request, per URL.
    pub retry: RetryPolicy,
    /// `http.connect.timeout.ms`.
    pub connect_timeout: Duration,
    /// `http.read.timeout.ms`.
    pub read_timeout: Duration,
    /// `proxy.host` and `proxy.port`.
    pub proxy: Option<(String, u16)>,
    /// `request.header.*`: extra headers, values secret.
    pub request_headers: Vec<(String, Secret)>,
}

/// One registry URL, without credentials, and the credentials it carried.
#[derive(Clone)]
pub struct RegistryEndpoint {
    /// The base URL (no user info); paths are appended to its path.
    pub url: Url,
    /// `user:password@` from the configured URL, used with `basic.auth.credentials.source=URL`.
    pub credentials: Option<BasicCredentials>,
}

impl fmt::Display for RegistryEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for RegistryEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryEndpoint")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// HTTP basic credentials; the password never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Secret,
}

/// How requests authenticate (Confluent's credential sources).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RegistryAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `basic.auth.credentials.source=USER_INFO`: the same credentials for every URL.
    UserInfo(BasicCredentials),
    /// `basic.auth.credentials.source=URL`: each URL's own `user:password@`, if any.
    Url,
    /// `bearer.auth.credentials.source=STATIC_TOKEN`.
    StaticToken {
        /// `bearer.auth.token`.
        token: Secret,
        /// `bearer.auth.logical.cluster`, sent as `target-sr-cluster`.
        logical_cluster: Option<String>,
        /// `bearer.auth.identity.pool.id`, sent as `Confluent-Identity-Pool-Id`.
        identity_pool_id: Option<String>,
    },
}

/// TLS settings for `https` URLs.
#[derive(Clone)]
pub struct RegistryTls {
    /// Trusted CA certificates; `None` trusts the Mozilla roots (webpki-roots).
    pub trusted_certificates: Option<Vec<CertificateDer<'static>>>,
    /// A client certificate chain and its key, for registries requiring mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Whether the certificate must name the host (`endpoint.identification.algorithm=https`).
    pub verify_hostname: bool,
}

impl Default for RegistryTls {
    fn default() -> Self {
        RegistryTls { trusted_certificates: None, client_identity: None, verify_hostname: true }
    }
}

impl fmt::Debug for RegistryTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryTls")
            .field("trusted_certificates", &self.trusted_certificates.as_ref().map(Vec::len))
            .field("client_identity", &self.client_identity)
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
}

/// A client certificate chain and private key; the key never prints.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub certificate_chain: Vec<CertificateDer<'static>>,
    /// The private key (shared: keys are not `Clone`).
    pub key: Arc<PrivateKeyDer<'static>>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.certificate_chain.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Exponential backoff with full jitter, as Confluent's `RetryExecutor`: before retry `n` (from
/// 0) it waits a random time up to `min(initial_wait * 2^n, max_wait)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, per URL (`max.retries`).
    pub max_retries: u32,
    /// `retries.wait.ms`.
    pub initial_wait: Duration,
    /// `retries.max.wait.ms`.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_wait: Duration::from_millis(1000),
            max_wait: Duration::from_millis(20_000),
        }
    }
}

impl RetryPolicy {
    /// The longest wait before retry `retry` (from 0): the jitter draws below it.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(30);
        self.initial_wait.saturating_mul(factor).min(self.max_wait)
    }
}

fn config_error(property: impl Into<String>, message: impl Into<String>) -> RegistryError {
    RegistryError::Config { property: property.into(), message: message.into() }
}

fn property_error(e: PropertyError) -> RegistryError {
    RegistryError::Config { property: e.property, message: e.message }
}

/// `raw` with any `user:password@` replaced, for messages about URLs that may carry credentials.
pub fn redact_url(raw: &str) -> String {
    let authority_start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &raw[..authority_start], &rest[at..]),
        None => raw.to_owned(),
    }
}

/// Percent-decodes URL user info (`%40` → `@`); invalid escapes stay as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one registry URL, taking its credentials out.
fn endpoint(property: &str, raw: &str) -> Result<RegistryEndpoint, RegistryError> {
    let shown = redact_url(raw);
    if raw.starts_with("mock://") {
        return Err(config_error(
            property,
            format!(
                "'{shown}' names Confluent's in-process mock registry, which exists only in Java tests; give the URL of a registry"
            ),
        ));
    }
    let mut url = Url::parse(raw).map_err(|e| {
        config_error(property, format!("'{shown}' is not a valid URL ({e}); write e.g. http://registry:8081"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_error(
            property,
            format!("'{shown}' is not an http:// or https:// URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(
            property,
            format!("'{shown}' has a query or fragment; give the registry's base URL"),
        ));
    }
    let credentials = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some(BasicCredentials {
            user: percent_decode(url.username()),
            password: Secret::new(percent_decode(url.password().unwrap_or(""))),
        })
    };
    // Infallible for http(s) URLs with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(RegistryEndpoint { url, credentials })
}

fn endpoints(property: &str, list: &str) -> Result<Vec<RegistryEndpoint>, RegistryError> {
    let endpoints = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|raw| endpoint(property, raw))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return Err(config_error(property, "is required: the comma-separated URLs of the schema registry"));
    }
    Ok(endpoints)
}

/// `user:password`, as `basic.auth.user.info` holds it.
fn user_info(property: &str, value: &str) -> Result<BasicCredentials, RegistryError> {
    if value.chars().any(char::is_control) {
        return Err(config_error(property, "holds control characters (the value is not shown)"));
    }
    match value.split_once(':') {
        Some((user, password)) => {
            Ok(BasicCredentials { user: user.to_owned(), password: Secret::new(password) })
        }
        None => Err(config_error(property, "must have the form user:password (the value is not shown)")),
    }
}

/// The PEM blocks of `text` of the kinds wanted; `what` names the property in errors.
fn pem_items(property: &str, text: &[u8]) -> Result<Vec<rustls_pemfile::Item>, RegistryError> {
    rustls_pemfile::read_all(&mut &text[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(property, format!("is not valid PEM: {e}")))
}

fn certificates(property: &str, text: &[u8]) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let certs: Vec<_> = pem_items(property, text)?
        .into_iter()
        .filter_map(|item| match item {
            rustls_pemfile::Item::X509Certificate(cert) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(config_error(property, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

fn private_key(property: &str, text: &[u8]) -> Result<PrivateKeyDer<'static>, RegistryError> {
    if String::from_utf8_lossy(text).contains("ENCRYPTED") {
        return Err(config_error(
            property,
            "holds an encrypted private key, which sluice cannot use: decrypt it \
             (openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-plain.pem) and keep the file private",
        ));
    }
    let mut keys = pem_items(property, text)?.into_iter().filter_map(|item| match item {
        rustls_pemfile::Item::Pkcs1Key(k) => Some(PrivateKeyDer::Pkcs1(k)),
        rustls_pemfile::Item::Pkcs8Key(k) => Some(PrivateKeyDer::Pkcs8(k)),
        rustls_pemfile::Item::Sec1Key(k) => Some(PrivateKeyDer::Sec1(k)),
        _ => None,
    });
    keys.next()
        .ok_or_else(|| config_error(property, "holds no PEM private key (-----BEGIN PRIVATE KEY-----)"))
}

fn read_file(property: &str, path: &str) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|e| config_error(property, format!("cannot read '{path}': {e}")))
}

/// Refuses a store type other than PEM, saying how to convert.
fn require_pem(
    type_property: &str,
    store_type: Option<&str>,
    location: Option<&str>,
) -> Result<(), RegistryError> {
    match store_type {
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("PEM") => Ok(()),
        Some(t) => {
            let file = location.unwrap_or("store.jks");
            Err(config_error(
                type_property,
                format!(
                    "{t} stores are not supported; convert the store to PEM and set this to PEM, e.g. \
                     keytool -importkeystore -srckeystore {file} -destkeystore store.p12 -deststoretype PKCS12, \
                     then openssl pkcs12 -in store.p12 -out store.pem -nodes"
                ),
            ))
        }
    }
}

impl RegistryClientConfig {
    /// Settings with Confluent's defaults for the comma-separated `urls` (credentials in them are
    /// used as with `basic.auth.credentials.source=URL`).
    pub fn new(urls: &str) -> Result<Self, RegistryError> {
        let endpoints = endpoints("schema.registry.url", urls)?;
        let auth = if endpoints.iter().any(|e| e.credentials.is_some()) {
            RegistryAuth::Url
        } else {
            RegistryAuth::None
        };
        Ok(RegistryClientConfig {
            prefix: String::new(),
            endpoints,
            auth,
            tls: RegistryTls::default(),
            key_subject_name_strategy: SubjectNameStrategy::Topic,
            value_subject_name_strategy: SubjectNameStrategy::Topic,
            auto_register_schemas: true,
            use_latest_version: false,
            normalize_schemas: false,
            max_schemas_per_subject: 1000,
            latest_cache_ttl: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_millis(60_000),
            read_timeout: Duration::from_millis(60_000),
            proxy: None,
            request_headers: Vec::new(),
        })
    }

    /// Reads the registry settings a converter takes under `prefix` (`key.converter` or
    /// `value.converter`). Files named by TLS properties are read now, so errors surface at
    /// startup; every error names the full property.
    pub fn from_converter_properties(
        props: &BTreeMap<String, String>,
        prefix: &str,
    ) -> Result<Self, RegistryError> {
        let p = Properties(props);
        let key = |name: &str| format!("{prefix}.{name}");
        // Client settings Confluent also reads with a `schema.registry.` prefix.
        let client_key = |name: &str| {
            let long = key(&format!("schema.registry.{name}"));
            if p.str(&long).is_some() { long } else { key(name) }
        };

        let url_property = key("schema.registry.url");
        let mut config = RegistryClientConfig::new(p.required(&url_property).map_err(property_error)?)
            .map_err(|e| match e {
                RegistryError::Config { message, .. } => config_error(&url_property, message),
                other => other,
            })?;
        config.prefix = prefix.to_owned();
        config.auth = auth(&p, prefix, &config.endpoints)?;
        config.tls = tls(&p, prefix)?;

        for (is_key, slot) in
            [(true, &mut config.key_subject_name_strategy), (false, &mut config.value_subject_name_strategy)]
        {
            let property =
                key(if is_key { "key.subject.name.strategy" } else { "value.subject.name.strategy" });
            if let Some(class) = p.str(&property) {
                *slot = SubjectNameStrategy::from_class_name(&property, class)?;
            }
        }
        config.auto_register_schemas =
            p.bool_or(&key("auto.register.schemas"), true).map_err(property_error)?;
        config.use_latest_version = p.bool_or(&key("use.latest.version"), false).map_err(property_error)?;
        if config.auto_register_schemas && config.use_latest_version {
            tracing::warn!(
                "{} is ignored while {} is true, as with Confluent's serializers",
                key("use.latest.version"),
                key("auto.register.schemas")
            );
        }
        config.normalize_schemas = p.bool_or(&key("normalize.schemas"), false).map_err(property_error)?;
        let max = key("max.schemas.per.subject");
        config.max_schemas_per_subject =
            p.number_or(&max, 1000usize, "a positive whole number").map_err(property_error)?;
        if config.max_schemas_per_subject == 0 {
            return Err(config_error(max, "must be at least 1"));
        }
        let ttl = client_key("latest.cache.ttl.sec");
        let ttl_seconds: i64 =
            p.number_or(&ttl, -1, "a whole number of seconds (-1: no expiry)").map_err(property_error)?;
        config.latest_cache_ttl = u64::try_from(ttl_seconds).ok().map(Duration::from_secs);

        let retries = client_key("max.retries");
        config.retry.max_retries =
            p.number_or(&retries, 3u32, "a whole number of retries").map_err(property_error)?;
        if config.retry.max_retries > 30 {
            return Err(config_error(retries, "must be at most 30"));
        }
        config.retry.initial_wait =
            p.millis_or(&client_key("retries.wait.ms"), 1000).map_err(property_error)?;
        config.retry.max_wait =
            p.millis_or(&client_key("retries.max.wait.ms"), 20_000).map_err(property_error)?;
        for (name, slot) in [
            ("http.connect.timeout.ms", &mut config.connect_timeout),
            ("http.read.timeout.ms", &mut config.read_timeout),
        ] {
            let property = client_key(name);
            *slot = p.millis_or(&property, 60_000).map_err(property_error)?;
            if slot.is_zero() {
                return Err(config_error(property, "must be positive"));
            }
        }

        let host_property = client_key("proxy.host");
        if let Some(host) = p.str(&host_property) {
            let port_property = client_key("proxy.port");
            let port: u16 = p.number_or(&port_property, 0, "a TCP port number").map_err(property_error)?;
            if port == 0 {
                return Err(config_error(port_property, format!("is required with {host_property}")));
            }
            config.proxy = Some((host.to_owned(), port));
        }

        let header_prefix = key("request.header.");
        for (name, value) in props.range(header_prefix.clone()..) {
            let Some(header) = name.strip_prefix(&header_prefix) else { break };
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(config_error(
                    name,
                    "is not a valid HTTP header name and value (the value is not shown)",
                ));
            }
            config.request_headers.push((header.to_owned(), Secret::new(value.as_str())));
        }

        for ignored in [
            "protocol",
            "enabled.protocols",
            "cipher.suites",
            "keymanager.algorithm",
            "trustmanager.algorithm",
        ] {
            let property = key(&format!("schema.registry.ssl.{ignored}"));
            if p.str(&property).is_some() {
                tracing::warn!("{property} is ignored: sluice uses rustls's safe TLS defaults");
            }
        }
        if p.str(&key("schema.registry.url.randomize")).is_some() {
            tracing::warn!(
                "{} is ignored: URLs are tried in the configured order",
                key("schema.registry.url.randomize")
            );
        }
        // Fail now, naming the property, if the TLS material does not make a configuration.
        config.tls.rustls_config(&config.tls_property())?;
        Ok(config)
    }

    /// The subject of a key or value schema for `topic`, per the configured strategy; errors
    /// name the full property.
    pub fn subject(
        &self,
        topic: &str,
        is_key: bool,
        record_full_name: Option<&str>,
    ) -> Result<String, RegistryError> {
        let strategy = if is_key { self.key_subject_name_strategy } else { self.value_subject_name_strategy };
        strategy.subject(topic, is_key, record_full_name).map_err(|e| match e {
            RegistryError::Config { property, message } => RegistryError::Config {
                property: if self.prefix.is_empty() {
                    property
                } else {
                    format!("{}.{property}", self.prefix)
                },
                message,
            },
            other => other,
        })
    }

    /// The property TLS errors name.
    pub(crate) fn tls_property(&self) -> String {
        if self.prefix.is_empty() {
            "schema.registry.ssl".to_owned()
        } else {
            format!("{}.schema.registry.ssl", self.prefix)
        }
    }
}

fn auth(
    p: &Properties<'_>,
    prefix: &str,
    endpoints: &[RegistryEndpoint],
) -> Result<RegistryAuth, RegistryError> {
    let key = |name: &str| format!("{prefix}.{name}");
    let basic_source = key("basic.auth.credentials.source");
    let bearer_source = key("bearer.auth.credentials.source");
    let deprecated_user_info = key("schema.registry.basic.auth.user.info");
    let user_info_property = if p.str(&deprecated_user_info).is_some() {
        deprecated_user_info
    } else {
        key("basic.auth.user.info")
    };
    let token_property = key("bearer.auth.token");
    p.exclusive(&basic_source, &bearer_source).map_err(property_error)?;

    if let Some(source) = p.str(&bearer_source) {
        if !source.eq_ignore_ascii_case("STATIC_TOKEN") {
            return Err(config_error(
                &bearer_source,
                format!("'{source}' is not supported: only STATIC_TOKEN (with {token_property}) is"),
            ));
        }
        return static_token(p, prefix, &token_property);
    }
    match p.str(&basic_source) {
        Some(s) if s.eq_ignore_ascii_case("USER_INFO") => {
            let value = p.str(&user_info_property).ok_or_else(|| {
                config_error(
                    &user_info_property,
                    format!("is required (user:password) with {basic_source}=USER_INFO"),
                )
            })?;
            Ok(RegistryAuth::UserInfo(user_info(&user_info_property, value)?))
        }
        Some(s) if s.eq_ignore_ascii_case("URL") => {
            if p.str(&user_info_property).is_some() {
                tracing::warn!(
                    "{user_info_property} is ignored: {basic_source}=URL takes credentials from the URLs"
                );
            }
            Ok(RegistryAuth::Url)
        }
        Some(s) if s.eq_ignore_ascii_case("SASL_INHERIT") => Err(config_error(
            &basic_source,
            "SASL_INHERIT (reusing Kafka's SASL credentials) is not supported: set USER_INFO and \
             basic.auth.user.info=user:password instead",
        )),
        Some(s) => Err(config_error(&basic_source, format!("'{s}' is not one of: USER_INFO, URL"))),
        None if p.str(&user_info_property).is_some() => Err(config_error(
            &user_info_property,
            format!("is set but unused: also set {basic_source}=USER_INFO"),
        )),
        None if p.str(&token_property).is_some() => static_token(p, prefix, &token_property),
        None if endpoints.iter().any(|e| e.credentials.is_some()) => Ok(RegistryAuth::Url),
        None => Ok(RegistryAuth::None),
    }
}

fn static_token(
    p: &Properties<'_>,
    prefix: &str,
    token_property: &str,
) -> Result<RegistryAuth, RegistryError> {
    let token = p.str(token_property).ok_or_else(|| {
        config_error(token_property, "is required with bearer.auth.credentials.source=STATIC_TOKEN")
    })?;
    if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(config_error(
            token_property,
            "holds characters an HTTP header cannot carry (the value is not shown)",
        ));
    }
    Ok(RegistryAuth::StaticToken {
        token: Secret::new(token),
        logical_cluster: p.str(&format!("{prefix}.bearer.auth.logical.cluster")).map(str::to_owned),
        identity_pool_id: p.str(&format!("{prefix}.bearer.auth.identity.pool.id")).map(str::to_owned),
    })
}

fn tls(p: &Properties<'_>, prefix: &str) -> Result<RegistryTls, RegistryError> {
    let key = |name: &str| format!("{prefix}.schema.registry.ssl.{name}");
    let mut tls = RegistryTls::default();

    // Trust store.
    let (location_property, type_property) = (key("truststore.location"), key("truststore.type"));
    let location = p.str(&location_property);
    require_pem(&type_property, p.str(&type_property), location)?;
    let inline_property = key("truststore.certificates");
    if let Some(pem) = p.str(&inline_property) {
        tls.trusted_certificates = Some(certificates(&inline_property, pem.as_bytes())?);
    } else if let Some(path) = location {
        let bytes = read_file(&location_property, path)?;
        if !String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
            return Err(config_error(
                &location_property,
                format!(
                    "'{path}' is not a PEM file (a JKS or PKCS12 store?); convert it to PEM \
                     (keytool -exportcert -rfc -alias <ca> -keystore {path} > ca.pem) and set {type_property}=PEM"
                ),
            ));
        }
        tls.trusted_certificates = Some(certificates(&location_property, &bytes)?);
    }
    if tls.trusted_certificates.is_some() && p.str(&key("truststore.password")).is_some() {
        return Err(config_error(
            key("truststore.password"),
            "cannot be used with a PEM trust store; remove it",
        ));
    }

    // Key store: one PEM file with certificate chain and key, or inline chain and key.
    let (location_property, type_property) = (key("keystore.location"), key("keystore.type"));
    let location = p.str(&location_property);
    require_pem(&type_property, p.str(&type_property), location)?;
    let (chain_property, key_property) = (key("keystore.certificate.chain"), key("keystore.key"));
    let identity = match (p.str(&chain_property), p.str(&key_property), location) {
        (Some(chain), Some(pem_key), _) => Some(ClientIdentity {
            certificate_chain: certificates(&chain_property, chain.as_bytes())?,
            key: Arc::new(private_key(&key_property, pem_key.as_bytes())?),
        }),
        (Some(_), None, _) => {
            return Err(config_error(&key_property, format!("is required with {chain_property}")));
        }
        (None, Some(_), _) => {
            return Err(config_error(&chain_property, format!("is required with {key_property}")));
        }
        (None, None, Some(path)) => {
            let bytes = read_file(&location_property, path)?;
            if !String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
                return Err(config_error(
                    &location_property,
                    format!(
                        "'{path}' is not a PEM file (a JKS or PKCS12 store?); convert it to PEM and set {type_property}=PEM"
                    ),
                ));
            }
            Some(ClientIdentity {
                certificate_chain: certificates(&location_property, &bytes)?,
                key: Arc::new(private_key(&location_property, &bytes)?),
            })
        }
        (None, None, None) => None,
    };
    if identity.is_some() {
        for property in [key("keystore.password"), key("key.password")] {
            if p.str(&property).is_some() {
                return Err(config_error(
                    property,
                    "cannot be used with a PEM key store: sluice needs an unencrypted key; remove it",
                ));
            }
        }
    }
    tls.client_identity = identity;

    let algorithm_property = key("endpoint.identification.algorithm");
    tls.verify_hostname = match p.0.get(&algorithm_property).map(|v| v.trim()) {
        None => true,
        Some("") => false,
        Some(a) if a.eq_ignore_ascii_case("none") => false,
        Some(a) if a.eq_ignore_ascii_case("https") => true,
        Some(a) => {
            return Err(config_error(
                algorithm_property,
                format!("'{a}' is not one of: https, none, or empty"),
            ));
        }
    };
    Ok(tls)
}

impl RegistryTls {
    /// The rustls configuration for these settings, or `None` for reqwest's defaults (Mozilla
    /// roots, host names checked, no client certificate). `property` names the settings in errors.
    pub(crate) fn rustls_config(
        &self,
        property: &str,
    ) -> Result<Option<rustls::ClientConfig>, RegistryError> {
        if self.trusted_certificates.is_none() && self.client_identity.is_none() && self.verify_hostname {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.trusted_certificates {
            Some(certs) => {
                for cert in certs {
                    roots.add(cert.clone()).map_err(|e| {
                        config_error(
                            format!("{property}.truststore.location"),
                            format!("a certificate is unusable: {e}"),
                        )
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(property, format!("TLS setup failed: {e}")))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| config_error(property, format!("TLS setup failed: {e}")))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostname(inner)))
        };
        let mut config = match &self.client_identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.certificate_chain.clone(), identity.key.clone_key())
                .map_err(|e| {
                    config_error(
                        format!("{property}.keystore.location"),
                        format!("the client certificate and key do not make a usable identity: {e}"),
                    )
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(config))
    }
}

/// Checks the certificate chain but not the host name
/// (`ssl.endpoint.identification.algorithm` empty or `none`).
#[derive(Debug)]
pub(crate) struct AnyHostname(pub(crate) Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name error means the chain is trusted.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A throwaway CA, a server certificate for registry.test and a client certificate, all valid
    // for a hundred years; generated with openssl for these tests only.
    pub(crate) const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUVJ+o8wguAbpCDSbwyjdjvaXxEQ4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc2x1aWNlIHRlc3QgQ0EwIBcNMjYxMTIxMDc1NDUyWhgPMjEy
NjEwMjgwNzU0NTJaMBkxFzAVBgNVBAMMDnNsdWljZSB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEXJqyOn6A/SGYVBKqbFsEpaU/rxt07iYpmj0eYdB5
VdAvUSCg5CnAA7X6GhZjeH6rosTdJUwHz5sfwoUzNpBLM6NjMGEwHQYDVR0OBBYE
FPRUl2t+U6vCnmoMwXt3dGOG3h/gMB8GA1UdIwQYMBaAFPRUl2t+U6vCnmoMwXt3
dGOG3h/gMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49
BAMCA0cAMEQCIHOSYJkqTJexIKrtD/z87HjOVOoZsjSLku8ugH6Ra9XdAiAaek+l
j1a45xQP8GQ0CIRH5fnFigKu/NNZgMrPYxoyjg==
-----END CERTIFICATE-----
";
    pub(crate) const SERVER_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBsDCCAVegAwIBAgIURTSWtVibLR3FTmY2MDfSe0wd2IcwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc2x1aWNlIHRlc3QgQ0EwIBcNMjYxMTIxMDc1NDUyWhgPMjEy
NjEwMjgwNzU0NTJaMBgxFjAUBgNVBAMMDXJlZ2lzdHJ5LnRlc3QwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAAQqjoUCbYFpUPGbpqu/44W6R47+9St63FgHVkHvXee2
h7jbnkbnEuxFOVsvkxjicdrasyXzl8rCm0bAFeq3z2+ro3wwejAYBgNVHREEETAP
gg1yZWdpc3RyeS50ZXN0MAkGA1UdEwQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEw
HQYDVR0OBBYEFLYr5vevog11FRn2UDcNg2YTM9dfMB8GA1UdIwQYMBaAFPRUl2t+
U6vCnmoMwXt3dGOG3h/gMAoGCCqGSM49BAMCA0cAMEQCIHew21POAd6yTyVlmr9S
T7cWOKa/1Jy/EfIPhc6HbliSAiBa5im9f4jH4J+677FbfWgNU82jKueodkTdHTze
mv/+vQ==
-----END CERTIFICATE-----
";
    pub(crate) const SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCEfnGSMVcDrz/mr4
NaCx3QFLxzn354yXCICvK5Kw+qqhRANCAAQqjoUCbYFpUPGbpqu/44W6R47+9St6
3FgHVkHvXee2h7jbnkbnEuxFOVsvkxjicdrasyXzl8rCm0bAFeq3z2+r
-----END PRIVATE KEY-----
";
    pub(crate) const CLIENT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIURTSWtVibLR3FTmY2MDfSe0wd2IgwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOc2x1aWNlIHRlc3QgQ0EwIBcNMjYxMTIxMDc1NDUyWhgPMjEy
NjEwMjgwNzU0NTJaMBgxFjAUBgNVBAMMDXNsdWljZSBjbGllbnQwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAARdwGv6xC56LzFjAA2xGzr6Yn/boNNwha5Z+eldmM33
JcOB48Y2Kc9qmYEUkiaIXDhnGiSBJ3HGnepapjE44POyo2IwYDAJBgNVHRMEAjAA
MBMGA1UdJQQMMAoGCCsGAQUFBwMCMB0GA1UdDgQWBBSxaEVo6xXxdT1moW2RpX/j
hTDhvjAfBgNVHSMEGDAWgBT0VJdrflOrwp5qDMF7d3Rjht4f4DAKBggqhkjOPQQD
AgNJADBGAiEA57Xj0euBeUSxdB74jQiCr4vxsWlGCLTpxA876yLLADMCIQDHpG4g
d1EAIiXZ5zZ1Z+Meomljo/YhfHuQk6BimAairg==
-----END CERTIFICATE-----
";
    pub(crate) const CLIENT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUO+41k/2hSpAHcuN
Enh4tgP2UdqbneqphWqnjS7PXHOhRANCAARdwGv6xC56LzFjAA2xGzr6Yn/boNNw
ha5Z+eldmM33JcOB48Y2Kc9qmYEUkiaIXDhnGiSBJ3HGnepapjE44POy
-----END PRIVATE KEY-----
";
    pub(crate) const CLIENT_KEY_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhoXqSOUqDFIgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEELzbO976lhyWKqRYeevyyOAEgZC+
d4FQb1oQljV6OJYPERZURpw90xDbHMe1LCdn/Oab13cOLnxaVobXeFrr9G0XCkCD
xs94JvZi5yeBrPoNmXa3EABuexf1X/E6A6FKBtS4k8BakiX+QaqV2Ft82/yLlE5R
ulWbjs7BZvFxQAdHohfLWWumPPWsiTPQnJ6cqdwvvC71Ob4n9n03azZ1FiYWhqo=
-----END ENCRYPTED PRIVATE KEY-----
";

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<RegistryClientConfig, RegistryError> {
        RegistryClientConfig::from_converter_properties(&props(pairs), "value.converter")
    }

    /// The property and message of a configuration error.
    fn refused(pairs: &[(&str, &str)]) -> (String, String) {
        match parse(pairs) {
            Err(RegistryError::Config { property, message }) => (property, message),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }

    const URL: (&str, &str) = ("value.converter.schema.registry.url", "http://registry:8081");

    #[test]
    fn confluent_properties_are_read_under_the_prefix() {
        let c = parse(&[
            ("value.converter.schema.registry.url", " https://a.example:8081/base/ , http://b.example:8081 "),
            ("value.converter.basic.auth.credentials.source", "USER_INFO"),
            ("value.converter.basic.auth.user.info", "alice:pa:ss"),
            (
                "value.converter.key.subject.name.strategy",
                "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            ),
            (
                "value.converter.value.subject.name.strategy",
                "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
            ),
            ("value.converter.auto.register.schemas", "false"),
            ("value.converter.use.latest.version", "TRUE"),
            ("value.converter.normalize.schemas", "true"),
            ("value.converter.max.schemas.per.subject", "7"),
            ("value.converter.latest.cache.ttl.sec", "30"),
            ("value.converter.schema.registry.max.retries", "5"),
            ("value.converter.max.retries", "9"),
            ("value.converter.retries.wait.ms", "10"),
            ("value.converter.retries.max.wait.ms", "100"),
            ("value.converter.http.connect.timeout.ms", "2000"),
            ("value.converter.http.read.timeout.ms", "3000"),
            ("value.converter.proxy.host", "proxy.example"),
            ("value.converter.proxy.port", "3128"),
            ("value.converter.request.header.X-Api-Key", "k3y"),
            ("key.converter.schema.registry.url", "http://other:1"),
        ])
        .unwrap();
        let urls: Vec<String> = c.endpoints.iter().map(ToString::to_string).collect();
        assert_eq!(urls, ["https://a.example:8081/base/", "http://b.example:8081/"]);
        assert_eq!(
            c.auth,
            RegistryAuth::UserInfo(BasicCredentials { user: "alice".into(), password: Secret::new("pa:ss") })
        );
        assert_eq!(c.key_subject_name_strategy, SubjectNameStrategy::Record);
        assert_eq!(c.value_subject_name_strategy, SubjectNameStrategy::TopicRecord);
        assert!(!c.auto_register_schemas && c.use_latest_version && c.normalize_schemas);
        assert_eq!(c.max_schemas_per_subject, 7);
        assert_eq!(c.latest_cache_ttl, Some(Duration::from_secs(30)));
        assert_eq!(
            c.retry,
            RetryPolicy {
                max_retries: 5, // the schema.registry.-prefixed form wins
                initial_wait: Duration::from_millis(10),
                max_wait: Duration::from_millis(100)
            }
        );
        assert_eq!((c.connect_timeout, c.read_timeout), (Duration::from_secs(2), Duration::from_secs(3)));
        assert_eq!(c.proxy, Some(("proxy.example".to_owned(), 3128)));
        assert_eq!(c.request_headers, vec![("X-Api-Key".to_owned(), Secret::new("k3y"))]);
        assert!(c.tls.verify_hostname && c.tls.trusted_certificates.is_none());
        assert_eq!(c.subject("t", true, Some("n.R")).unwrap(), "n.R");
        assert_eq!(c.subject("t", false, Some("n.R")).unwrap(), "t-n.R");
        let err = c.subject("t", false, None).unwrap_err();
        assert!(err.to_string().contains("'value.converter.value.subject.name.strategy'"), "{err}");

        // Confluent's defaults.
        let d = parse(&[URL]).unwrap();
        assert_eq!(d.auth, RegistryAuth::None);
        assert_eq!(d.value_subject_name_strategy, SubjectNameStrategy::Topic);
        assert!(d.auto_register_schemas && !d.use_latest_version && !d.normalize_schemas);
        assert_eq!(d.max_schemas_per_subject, 1000);
        assert_eq!(d.latest_cache_ttl, None);
        assert_eq!(d.retry, RetryPolicy::default());
        assert_eq!((d.connect_timeout, d.read_timeout), (Duration::from_secs(60), Duration::from_secs(60)));
        assert_eq!(d.retry.ceiling(0), Duration::from_secs(1));
        assert_eq!(d.retry.ceiling(3), Duration::from_secs(8));
        assert_eq!(d.retry.ceiling(40), Duration::from_secs(20));
    }

    #[test]
    fn credential_sources() {
        // Credentials in URLs, percent-decoded, used for their own URL only.
        let c =
            parse(&[("value.converter.schema.registry.url", "http://u%40x:p%3Ass@a:1,http://b:2")]).unwrap();
        assert_eq!(c.auth, RegistryAuth::Url);
        assert_eq!(
            c.endpoints[0].credentials,
            Some(BasicCredentials { user: "u@x".into(), password: Secret::new("p:ss") })
        );
        assert_eq!(c.endpoints[1].credentials, None);
        assert_eq!(c.endpoints[0].to_string(), "http://a:1/");
        let explicit = parse(&[
            ("value.converter.schema.registry.url", "http://u:p@a:1"),
            ("value.converter.basic.auth.credentials.source", "URL"),
        ])
        .unwrap();
        assert_eq!(explicit.auth, RegistryAuth::Url);
        // The deprecated user info property wins, as in Confluent's provider.
        let c = parse(&[
            URL,
            ("value.converter.basic.auth.credentials.source", "USER_INFO"),
            ("value.converter.basic.auth.user.info", "a:b"),
            ("value.converter.schema.registry.basic.auth.user.info", "c:d"),
        ])
        .unwrap();
        assert_eq!(
            c.auth,
            RegistryAuth::UserInfo(BasicCredentials { user: "c".into(), password: Secret::new("d") })
        );
        // Bearer tokens, with or without an explicit source.
        let c = parse(&[
            URL,
            ("value.converter.bearer.auth.credentials.source", "STATIC_TOKEN"),
            ("value.converter.bearer.auth.token", "t0ken"),
            ("value.converter.bearer.auth.logical.cluster", "lsrc-1"),
            ("value.converter.bearer.auth.identity.pool.id", "pool-1"),
        ])
        .unwrap();
        assert_eq!(
            c.auth,
            RegistryAuth::StaticToken {
                token: Secret::new("t0ken"),
                logical_cluster: Some("lsrc-1".into()),
                identity_pool_id: Some("pool-1".into())
            }
        );
        let c = parse(&[URL, ("value.converter.bearer.auth.token", "t0ken")]).unwrap();
        assert!(matches!(c.auth, RegistryAuth::StaticToken { .. }));
    }

    #[test]
    fn invalid_settings_name_the_full_property() {
        // (properties, the property the error names, a word of its message)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (&[], "value.converter.schema.registry.url", "required"),
            (
                &[("value.converter.schema.registry.url", " , ")],
                "value.converter.schema.registry.url",
                "required",
            ),
            (
                &[("value.converter.schema.registry.url", "registry:8081")],
                "value.converter.schema.registry.url",
                "http",
            ),
            (
                &[("value.converter.schema.registry.url", "ftp://r")],
                "value.converter.schema.registry.url",
                "http",
            ),
            (
                &[("value.converter.schema.registry.url", "mock://scope")],
                "value.converter.schema.registry.url",
                "mock",
            ),
            (
                &[("value.converter.schema.registry.url", "http://r/?a=1")],
                "value.converter.schema.registry.url",
                "query",
            ),
            (
                &[URL, ("value.converter.basic.auth.credentials.source", "SASL_INHERIT")],
                "value.converter.basic.auth.credentials.source",
                "not supported",
            ),
            (
                &[URL, ("value.converter.basic.auth.credentials.source", "LDAP")],
                "value.converter.basic.auth.credentials.source",
                "not one of",
            ),
            (
                &[URL, ("value.converter.basic.auth.credentials.source", "USER_INFO")],
                "value.converter.basic.auth.user.info",
                "required",
            ),
            (
                &[
                    URL,
                    ("value.converter.basic.auth.credentials.source", "USER_INFO"),
                    ("value.converter.basic.auth.user.info", "nocolon"),
                ],
                "value.converter.basic.auth.user.info",
                "user:password",
            ),
            (
                &[URL, ("value.converter.basic.auth.user.info", "a:b")],
                "value.converter.basic.auth.user.info",
                "USER_INFO",
            ),
            (
                &[URL, ("value.converter.bearer.auth.credentials.source", "OAUTHBEARER")],
                "value.converter.bearer.auth.credentials.source",
                "STATIC_TOKEN",
            ),
            (
                &[URL, ("value.converter.bearer.auth.credentials.source", "STATIC_TOKEN")],
                "value.converter.bearer.auth.token",
                "required",
            ),
            (
                &[
                    URL,
                    ("value.converter.basic.auth.credentials.source", "URL"),
                    ("value.converter.bearer.auth.credentials.source", "STATIC_TOKEN"),
                ],
                "value.converter.bearer.auth.credentials.source",
                "together",
            ),
            (
                &[URL, ("value.converter.value.subject.name.strategy", "x.Y")],
                "value.converter.value.subject.name.strategy",
                "TopicNameStrategy",
            ),
            (
                &[URL, ("value.converter.auto.register.schemas", "yes")],
                "value.converter.auto.register.schemas",
                "boolean",
            ),
            (
                &[URL, ("value.converter.max.schemas.per.subject", "0")],
                "value.converter.max.schemas.per.subject",
                "at least",
            ),
            (&[URL, ("value.converter.max.retries", "-1")], "value.converter.max.retries", "whole number"),
            (&[URL, ("value.converter.max.retries", "99")], "value.converter.max.retries", "at most"),
            (
                &[URL, ("value.converter.http.read.timeout.ms", "0")],
                "value.converter.http.read.timeout.ms",
                "positive",
            ),
            (&[URL, ("value.converter.proxy.host", "p")], "value.converter.proxy.port", "required"),
            (
                &[URL, ("value.converter.bearer.auth.token", "a\nb")],
                "value.converter.bearer.auth.token",
                "header",
            ),
            (
                &[
                    URL,
                    ("value.converter.basic.auth.credentials.source", "USER_INFO"),
                    ("value.converter.basic.auth.user.info", "a:b\r\nX: y"),
                ],
                "value.converter.basic.auth.user.info",
                "control characters",
            ),
            (
                &[URL, ("value.converter.request.header.Bad Name", "v")],
                "value.converter.request.header.Bad Name",
                "header",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.truststore.type", "JKS")],
                "value.converter.schema.registry.ssl.truststore.type",
                "convert the store to PEM",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.keystore.type", "PKCS12")],
                "value.converter.schema.registry.ssl.keystore.type",
                "PEM",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.truststore.location", "/nonexistent/ca.pem")],
                "value.converter.schema.registry.ssl.truststore.location",
                "cannot read",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.truststore.certificates", "not pem")],
                "value.converter.schema.registry.ssl.truststore.certificates",
                "no PEM certificate",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM)],
                "value.converter.schema.registry.ssl.keystore.key",
                "required",
            ),
            (
                &[
                    URL,
                    ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
                    ("value.converter.schema.registry.ssl.keystore.key", CLIENT_KEY_ENCRYPTED),
                ],
                "value.converter.schema.registry.ssl.keystore.key",
                "encrypted",
            ),
            (
                &[
                    URL,
                    ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
                    ("value.converter.schema.registry.ssl.keystore.key", CLIENT_KEY),
                    ("value.converter.schema.registry.ssl.key.password", "pw"),
                ],
                "value.converter.schema.registry.ssl.key.password",
                "unencrypted",
            ),
            (
                &[
                    URL,
                    ("value.converter.schema.registry.ssl.truststore.certificates", CA_PEM),
                    ("value.converter.schema.registry.ssl.truststore.password", "pw"),
                ],
                "value.converter.schema.registry.ssl.truststore.password",
                "PEM",
            ),
            (
                &[URL, ("value.converter.schema.registry.ssl.endpoint.identification.algorithm", "http")],
                "value.converter.schema.registry.ssl.endpoint.identification.algorithm",
                "https",
            ),
        ];
        for (pairs, property, needle) in cases {
            let (p, message) = refused(pairs);
            assert_eq!(p, *property, "{pairs:?}: {message}");
            assert!(message.contains(needle), "{pairs:?}: {message}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = parse(&[
            ("value.converter.schema.registry.url", "https://urluser:urlpass@a:1"),
            ("value.converter.basic.auth.credentials.source", "USER_INFO"),
            ("value.converter.basic.auth.user.info", "alice:s3cret-pass"),
            ("value.converter.request.header.Authorization-Extra", "header-secret"),
            ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
            ("value.converter.schema.registry.ssl.keystore.key", CLIENT_KEY),
        ])
        .unwrap();
        let key_body = CLIENT_KEY.lines().nth(1).unwrap();
        let shown = format!("{c:?}");
        for secret in ["urlpass", "s3cret-pass", "header-secret", key_body] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("alice"), "user names are not secret: {shown}");
        let t = parse(&[URL, ("value.converter.bearer.auth.token", "tok-123")]).unwrap();
        assert!(!format!("{t:?}").contains("tok-123"));
        // Errors about URLs never show their credentials.
        let (_, message) = refused(&[("value.converter.schema.registry.url", "ftp://bob:hunter2@r/")]);
        assert!(!message.contains("hunter2") && message.contains("ftp://[redacted]@r/"), "{message}");
        let (_, message) = refused(&[("value.converter.schema.registry.url", "http://bob:hunter2@bad host")]);
        assert!(!message.contains("hunter2"), "{message}");
        let (_, message) = refused(&[
            URL,
            ("value.converter.basic.auth.credentials.source", "USER_INFO"),
            ("value.converter.basic.auth.user.info", "hunter2"),
        ]);
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("http://u:p@h:1/x@y"), "http://[redacted]@h:1/x@y");
        assert_eq!(redact_url("https://h/p"), "https://h/p");
        assert_eq!(redact_url("u:p@h"), "[redacted]@h");
        assert_eq!(redact_url("http://a@b@h?q=@"), "http://[redacted]@h?q=@");
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn pem_trust_and_key_stores() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA_PEM).unwrap();
        let keystore = dir.path().join("client.pem");
        std::fs::write(&keystore, format!("{CLIENT_PEM}{CLIENT_KEY}")).unwrap();
        let jks = dir.path().join("store.jks");
        std::fs::write(&jks, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

        let c = parse(&[
            URL,
            ("value.converter.schema.registry.ssl.truststore.location", &path(&ca)),
            ("value.converter.schema.registry.ssl.truststore.type", "PEM"),
            ("value.converter.schema.registry.ssl.keystore.location", &path(&keystore)),
            ("value.converter.schema.registry.ssl.keystore.type", "pem"),
            ("value.converter.schema.registry.ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert_eq!(c.tls.trusted_certificates.as_ref().map(Vec::len), Some(1));
        assert_eq!(c.tls.client_identity.as_ref().map(|i| i.certificate_chain.len()), Some(1));
        assert!(!c.tls.verify_hostname);
        let rustls = c.tls.rustls_config("p").unwrap().unwrap();
        assert_eq!(rustls.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(RegistryTls::default().rustls_config("p").unwrap().is_none(), "reqwest's defaults");

        // Inline PEM, and "none" turns host name checks off too.
        let c = parse(&[
            URL,
            ("value.converter.schema.registry.ssl.truststore.certificates", CA_PEM),
            ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
            ("value.converter.schema.registry.ssl.keystore.key", CLIENT_KEY),
            ("value.converter.schema.registry.ssl.endpoint.identification.algorithm", "NONE"),
        ])
        .unwrap();
        assert!(c.tls.client_identity.is_some() && !c.tls.verify_hostname);

        // A JKS file without a type gets a conversion hint.
        let (property, message) =
            refused(&[URL, ("value.converter.schema.registry.ssl.truststore.location", &path(&jks))]);
        assert_eq!(property, "value.converter.schema.registry.ssl.truststore.location");
        assert!(message.contains("not a PEM file") && message.contains("PEM"), "{message}");
        // A certificate and someone else's key do not make an identity.
        let (property, message) = refused(&[
            URL,
            ("value.converter.schema.registry.ssl.keystore.certificate.chain", CLIENT_PEM),
            ("value.converter.schema.registry.ssl.keystore.key", SERVER_KEY),
        ]);
        assert_eq!(property, "value.converter.schema.registry.ssl.keystore.location");
        assert!(message.contains("identity"), "{message}");
    }

    #[test]
    fn host_names_are_checked_unless_turned_off() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls_pki_types::{ServerName, UnixTime};

        let ca = certificates("ca", CA_PEM.as_bytes()).unwrap();
        let server = certificates("server", SERVER_PEM.as_bytes()).unwrap().remove(0);
        let other_ca = certificates("client", CLIENT_PEM.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = |roots: &[CertificateDer<'static>]| {
            let mut store = rustls::RootCertStore::empty();
            for r in roots {
                store.add(r.clone()).unwrap();
            }
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                Arc::clone(&provider),
            )
            .build()
            .unwrap()
        };
        let name = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
        let now = UnixTime::now();
        let strict = verifier(&ca);
        assert!(strict.verify_server_cert(&server, &[], &name("registry.test"), &[], now).is_ok());
        assert!(strict.verify_server_cert(&server, &[], &name("127.0.0.1"), &[], now).is_err());
        let lax = AnyHostname(verifier(&ca));
        assert!(lax.verify_server_cert(&server, &[], &name("127.0.0.1"), &[], now).is_ok());
        assert!(lax.verify_server_cert(&server, &[], &name("elsewhere.example"), &[], now).is_ok());
        // The chain is still checked.
        let untrusted = AnyHostname(verifier(&other_ca));
        assert!(untrusted.verify_server_cert(&server, &[], &name("registry.test"), &[], now).is_err());
    }
}
