//! Kafka Connect worker and connector properties, translated into librdkafka client settings.
//!
//! Users bring the properties they already give a Kafka Connect worker (`bootstrap.servers`,
//! `security.protocol`, `sasl.jaas.config`, `producer.compression.type`, `offset.storage.topic`, ...)
//! and connector (`producer.override.*`). The Java client and librdkafka mostly share property names;
//! where they differ this module translates (`sasl.mechanism` → `sasl.mechanisms`, a PLAIN or SCRAM
//! `sasl.jaas.config` → `sasl.username`/`sasl.password`, a PEM truststore → `ssl.ca.location`, ...),
//! refuses what librdkafka cannot read (JKS stores) with what to use instead, ignores JVM-only
//! settings with a warning, and lets librdkafka itself validate every other name so that a typo is
//! an error naming the property. Settings that would weaken sluice's delivery guarantees
//! (`acks=1`, `enable.idempotence=false`, a custom partitioner, ...) are refused.
//!
//! Secrets (`sasl.password`, `ssl.key.password`, `sasl.jaas.config`, ...) are kept in the maps
//! librdkafka needs but never appear in `Debug` output or error messages.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use sluice_core::properties::Properties;

use crate::error::KafkaError;

/// Default `offset.storage.topic` (Kafka Connect's documented example name).
pub const DEFAULT_OFFSETS_TOPIC: &str = "connect-offsets";
/// Default partition count of a newly created offsets topic (Kafka Connect's default).
pub const DEFAULT_OFFSETS_PARTITIONS: i32 = 25;
/// Default replication factor of a newly created offsets topic: -1, the broker's
/// `default.replication.factor` (Kafka Connect defaults to 3, which fails on smaller clusters).
pub const DEFAULT_OFFSETS_REPLICATION_FACTOR: i32 = -1;
/// Default name of the schema registry's log topic (Confluent Schema Registry's `kafkastore.topic`).
pub const DEFAULT_SCHEMAS_TOPIC: &str = "_schemas";

/// How to reach and use the Kafka cluster: a Kafka Connect worker configuration, translated.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// librdkafka settings for every client (security, SASL, TLS, timeouts), librdkafka names.
    pub client: BTreeMap<String, String>,
    /// The worker's `producer.*` settings, librdkafka names; applied after `client`.
    pub producer: BTreeMap<String, String>,
    /// The worker's `consumer.*` settings, librdkafka names; applied after `client`.
    pub consumer: BTreeMap<String, String>,
    /// The worker's `admin.*` settings, librdkafka names; applied after `client`.
    pub admin: BTreeMap<String, String>,
    /// `offset.storage.topic`: the compacted topic holding source offsets.
    pub offsets_topic: String,
    /// `offset.storage.partitions`, used when sluice creates the offsets topic.
    pub offsets_partitions: i32,
    /// `offset.storage.replication.factor`, used when sluice creates the offsets topic.
    pub offsets_replication_factor: i32,
    /// `offset.storage.file.filename`: a standalone worker's offsets file, if configured.
    pub offsets_file: Option<String>,
    /// The schema registry's compacted log topic.
    pub schemas_topic: String,
    /// `topic.creation.enable`: whether connectors' `topic.creation.*` settings are honoured.
    pub topic_creation_enable: bool,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client", &Redacted(&self.client))
            .field("producer", &Redacted(&self.producer))
            .field("consumer", &Redacted(&self.consumer))
            .field("admin", &Redacted(&self.admin))
            .field("offsets_topic", &self.offsets_topic)
            .field("offsets_partitions", &self.offsets_partitions)
            .field("offsets_replication_factor", &self.offsets_replication_factor)
            .field("offsets_file", &self.offsets_file)
            .field("schemas_topic", &self.schemas_topic)
            .field("topic_creation_enable", &self.topic_creation_enable)
            .finish()
    }
}

/// Which client a setting is for: decides which Java-only names are translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Any,
    Producer,
    Consumer,
    Admin,
}

/// Kafka Connect worker properties that are not client settings and that sluice does not need.
const WORKER_ONLY: &[&str] = &[
    "group.id",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "rebalance.timeout.ms",
    "worker.sync.timeout.ms",
    "worker.unsync.backoff.ms",
    "scheduled.rebalance.max.delay.ms",
    "connect.protocol",
    "key.converter",
    "value.converter",
    "header.converter",
    "internal.key.converter",
    "internal.value.converter",
    "task.shutdown.graceful.timeout.ms",
    "offset.flush.interval.ms",
    "offset.flush.timeout.ms",
    "plugin.path",
    "plugin.discovery",
    "listeners",
    "admin.listeners",
    "rest.host.name",
    "rest.port",
    "rest.advertised.host.name",
    "rest.advertised.port",
    "rest.advertised.listener",
    "rest.extension.classes",
    "response.http.headers.config",
    "access.control.allow.methods",
    "access.control.allow.origin",
    "config.providers",
    "connector.client.config.override.policy",
    "topic.tracking.enable",
    "topic.tracking.allow.reset",
    "exactly.once.source.support",
    "inter.worker.key.generation.algorithm",
    "inter.worker.key.size",
    "inter.worker.key.ttl.ms",
    "inter.worker.signature.algorithm",
    "inter.worker.verification.algorithms",
    "metrics.sample.window.ms",
    "metrics.num.samples",
    "metrics.recording.level",
    "metric.reporters",
    "auto.include.jmx.reporter",
    "metadata.recovery.strategy",
];

/// Prefixes of worker-only property families (converter, REST listener, storage-topic settings).
const WORKER_ONLY_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "internal.key.converter.",
    "internal.value.converter.",
    "config.providers.",
    "listeners.https.",
    "admin.listeners.https.",
    "config.storage.",
    "status.storage.",
    "metrics.context.",
];

/// Java client settings with no librdkafka counterpart; ignored with a warning.
const JVM_ONLY: &[&str] = &[
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "interceptor.classes",
    "metric.reporters",
    "metrics.sample.window.ms",
    "metrics.num.samples",
    "metrics.recording.level",
    "auto.include.jmx.reporter",
    "max.block.ms",
    "default.api.timeout.ms",
    "metadata.max.idle.ms",
    "partitioner.ignore.keys",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "socket.connection.setup.timeout.max.ms",
    "exclude.internal.topics",
    "security.providers",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.provider",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.engine.factory.class",
    "sasl.login.class",
    "sasl.login.callback.handler.class",
    "sasl.client.callback.handler.class",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
    "sasl.login.connect.timeout.ms",
    "sasl.login.read.timeout.ms",
    "sasl.login.retry.backoff.ms",
    "sasl.login.retry.backoff.max.ms",
    "sasl.kerberos.kinit.cmd",
    "sasl.kerberos.ticket.renew.window.factor",
    "sasl.kerberos.ticket.renew.jitter",
    "sasl.kerberos.min.time.before.relogin",
    "metadata.recovery.strategy",
    "metadata.recovery.rebootstrap.trigger.ms",
];

/// Settings sluice fixes on its producer; an override must keep their guarantee (checked in
/// [`check_producer_guarantee`]).
const PARTITIONER_SETTINGS: &[&str] = &["partitioner.class", "partitioner"];

impl KafkaConfig {
    /// A configuration for `bootstrap_servers` with every other setting at its default.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            admin: BTreeMap::new(),
            offsets_topic: DEFAULT_OFFSETS_TOPIC.to_owned(),
            offsets_partitions: DEFAULT_OFFSETS_PARTITIONS,
            offsets_replication_factor: DEFAULT_OFFSETS_REPLICATION_FACTOR,
            offsets_file: None,
            schemas_topic: DEFAULT_SCHEMAS_TOPIC.to_owned(),
            topic_creation_enable: true,
        }
    }

    /// Reads a Kafka Connect worker configuration. Worker-only properties sluice does not use
    /// (converters, REST listeners, group settings) are accepted and ignored; a name that is
    /// neither a worker property nor a Kafka client setting is an error naming it.
    pub fn from_worker_properties(props: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        let p = Properties(props);
        let mut config = KafkaConfig::new(p.string_or("bootstrap.servers", "localhost:9092"));
        config.offsets_topic = p.string_or("offset.storage.topic", DEFAULT_OFFSETS_TOPIC);
        config.offsets_partitions = topic_count(&p, "offset.storage.partitions", DEFAULT_OFFSETS_PARTITIONS)?;
        config.offsets_replication_factor =
            topic_count(&p, "offset.storage.replication.factor", DEFAULT_OFFSETS_REPLICATION_FACTOR)?;
        config.offsets_file = p.str("offset.storage.file.filename").map(str::to_owned);
        config.topic_creation_enable = p.bool_or("topic.creation.enable", true).map_err(prop_err)?;

        let mut shared = BTreeMap::new();
        let mut scoped: [(Role, &str, BTreeMap<String, String>); 3] = [
            (Role::Producer, "producer.", BTreeMap::new()),
            (Role::Consumer, "consumer.", BTreeMap::new()),
            (Role::Admin, "admin.", BTreeMap::new()),
        ];
        for (name, value) in props {
            let worker_only = WORKER_ONLY.contains(&name.as_str())
                || WORKER_ONLY_PREFIXES.iter().any(|prefix| name.starts_with(prefix));
            if worker_only {
                continue;
            }
            if let Some((_, _, map)) = scoped.iter_mut().find(|(_, prefix, _)| name.starts_with(prefix)) {
                map.insert(name.clone(), value.clone());
                continue;
            }
            let handled = matches!(
                name.as_str(),
                "bootstrap.servers"
                    | "offset.storage.topic"
                    | "offset.storage.partitions"
                    | "offset.storage.replication.factor"
                    | "offset.storage.file.filename"
                    | "topic.creation.enable"
            );
            if !handled {
                shared.insert(name.clone(), value.clone());
            }
        }
        config.client = translate(&shared, "", Role::Any)?;
        for (role, prefix, map) in &scoped {
            let unprefixed: BTreeMap<String, String> =
                map.iter().map(|(k, v)| (k[prefix.len()..].to_owned(), v.clone())).collect();
            let translated = translate(&unprefixed, prefix, *role)?;
            if *role == Role::Producer {
                for (name, value) in &translated {
                    check_producer_guarantee(&format!("{prefix}{name}"), name, value)?;
                }
            }
            match role {
                Role::Producer => config.producer = translated,
                Role::Consumer => config.consumer = translated,
                _ => config.admin = translated,
            }
        }
        if let Some(servers) = config.client.remove("bootstrap.servers") {
            config.bootstrap_servers = servers;
        }
        Ok(config)
    }
}

/// The connector's producer settings: its `producer.override.*` properties, translated.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProducerSettings {
    /// librdkafka producer settings applied after the worker's `producer.*` ones.
    pub overrides: BTreeMap<String, String>,
}

impl fmt::Debug for ProducerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerSettings").field("overrides", &Redacted(&self.overrides)).finish()
    }
}

impl ProducerSettings {
    /// Reads `producer.override.*` from a connector configuration (other properties are the
    /// connector's own and are ignored here). Refuses overrides that would break delivery
    /// guarantees, naming the property.
    pub fn from_connector_properties(props: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        const PREFIX: &str = "producer.override.";
        let unprefixed: BTreeMap<String, String> = props
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|name| (name.to_owned(), v.clone())))
            .collect();
        let overrides = translate(&unprefixed, PREFIX, Role::Producer)?;
        for (name, value) in &overrides {
            check_producer_guarantee(&format!("{PREFIX}{name}"), name, value)?;
        }
        Ok(ProducerSettings { overrides })
    }
}

/// Refuses producer settings that would let records be lost, duplicated out of order or land on
/// partitions Kafka Connect would not choose. `name` is the librdkafka name.
fn check_producer_guarantee(property: &str, name: &str, value: &str) -> Result<(), KafkaError> {
    let v = value.trim();
    let refuse = |why: &str| Err(KafkaError::config(property, why));
    match name {
        "acks" | "request.required.acks" | "acks.required" if !(v == "all" || v == "-1") => refuse(
            "sluice only confirms source positions after every in-sync replica has the record; \
             remove it or set it to all",
        ),
        "enable.idempotence" if !v.eq_ignore_ascii_case("true") => refuse(
            "the idempotent producer is what keeps retried records unduplicated and in order; remove it",
        ),
        "max.in.flight.requests.per.connection" | "max.in.flight"
            if v.parse::<i64>().map_or(true, |n| !(1..=5).contains(&n)) =>
        {
            refuse("must be between 1 and 5 for the idempotent producer to keep records in order")
        }
        "transactional.id" => refuse("transactions are not supported; remove it"),
        n if PARTITIONER_SETTINGS.contains(&n) => refuse(
            "sluice partitions keyed records exactly as Kafka Connect's default partitioner (murmur2) \
             so consumers see each key on the partition they expect; remove it",
        ),
        _ => Ok(()),
    }
}

/// Translates one scope of Java-named client properties into librdkafka names, validating each
/// name with librdkafka. `prefix` is how the user wrote the scope (for error messages).
fn translate(
    props: &BTreeMap<String, String>,
    prefix: &str,
    role: Role,
) -> Result<BTreeMap<String, String>, KafkaError> {
    let mut out = BTreeMap::new();
    let get = |name: &str| props.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let store_type = |name: &str| get(name).unwrap_or("JKS").to_ascii_uppercase();
    for (name, raw) in props {
        let value = raw.trim();
        let property = format!("{prefix}{name}");
        let mut put = |k: &str, v: &str| -> Result<(), KafkaError> {
            validate(&property, k, v)?;
            out.insert(k.to_owned(), v.to_owned());
            Ok(())
        };
        match name.as_str() {
            // Java's empty value switches host name verification off.
            "ssl.endpoint.identification.algorithm" => {
                put(name, if value.eq_ignore_ascii_case("https") { "https" } else { "none" })?
            }
            _ if value.is_empty() => {}
            "sasl.mechanism" => put("sasl.mechanisms", value)?,
            "sasl.jaas.config" => {
                for (k, v) in jaas_settings(&property, value, get("sasl.oauthbearer.token.endpoint.url"))? {
                    put(k, &v)?;
                }
            }
            "ssl.truststore.location" => {
                if store_type("ssl.truststore.type") != "PEM" {
                    return Err(KafkaError::config(
                        property,
                        "librdkafka cannot read Java (JKS/PKCS12) truststores: export the CA certificates as \
                         PEM (keytool -exportcert -rfc) and set ssl.ca.location to that file instead",
                    ));
                }
                put("ssl.ca.location", value)?;
            }
            "ssl.truststore.certificates" => put("ssl.ca.pem", value)?,
            "ssl.keystore.location" => match store_type("ssl.keystore.type").as_str() {
                "PKCS12" => put("ssl.keystore.location", value)?,
                "PEM" => {
                    put("ssl.certificate.location", value)?;
                    put("ssl.key.location", value)?;
                }
                _ => {
                    return Err(KafkaError::config(
                        property,
                        "librdkafka cannot read JKS keystores: use ssl.keystore.type=PKCS12, or PEM files in \
                         ssl.certificate.location and ssl.key.location",
                    ));
                }
            },
            "ssl.keystore.certificate.chain" => put("ssl.certificate.pem", value)?,
            "ssl.keystore.key" => put("ssl.key.pem", value)?,
            "send.buffer.bytes" => put("socket.send.buffer.bytes", &socket_buffer(value))?,
            "receive.buffer.bytes" => put("socket.receive.buffer.bytes", &socket_buffer(value))?,
            "buffer.memory" if role == Role::Producer => {
                let bytes: u64 = value.parse().map_err(|_| {
                    KafkaError::config(&property, format!("'{value}' is not a whole number of bytes"))
                })?;
                put("queue.buffering.max.kbytes", &bytes.div_ceil(1024).max(1).to_string())?
            }
            "max.request.size" if role == Role::Producer => put("message.max.bytes", value)?,
            "delivery.timeout.ms" if role == Role::Producer => put("message.timeout.ms", value)?,
            // Read together with the store locations above (a PEM truststore needs no password).
            "ssl.truststore.type" | "ssl.keystore.type" | "ssl.truststore.password" => {}
            n if JVM_ONLY.contains(&n) => {
                tracing::warn!(property = %property, "Java-client setting has no librdkafka equivalent; ignored");
            }
            _ => put(name, value)?,
        }
    }
    Ok(out)
}

/// Java's `-1` means "the OS default"; librdkafka's is `0`.
fn socket_buffer(value: &str) -> String {
    if value == "-1" { "0".to_owned() } else { value.to_owned() }
}

/// Asks librdkafka whether it knows `name` and accepts `value`; errors name `property` (the user's
/// spelling) and never quote the value.
fn validate(property: &str, name: &str, value: &str) -> Result<(), KafkaError> {
    let mut probe = ClientConfig::new();
    probe.set(name, value);
    match probe.create_native_config() {
        Ok(_) => Ok(()),
        Err(rdkafka::error::KafkaError::ClientConfig(result, description, ..)) => {
            let message = if result == rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN {
                if property == name {
                    "is neither a Kafka Connect worker property nor a Kafka client property (librdkafka does \
                     not know it); check the spelling"
                        .to_owned()
                } else {
                    format!("'{name}' is not a Kafka client property librdkafka knows; check the spelling")
                }
            } else if is_secret(name) {
                "librdkafka refused its value".to_owned()
            } else {
                format!("librdkafka refused it: {description}")
            };
            Err(KafkaError::config(property, message))
        }
        Err(other) => Err(KafkaError::client(format!("checking property '{property}'"), other)),
    }
}

/// librdkafka settings for a `sasl.jaas.config` value: PLAIN and SCRAM credentials, or OAUTHBEARER
/// client credentials for OIDC.
fn jaas_settings(
    property: &str,
    text: &str,
    token_endpoint: Option<&str>,
) -> Result<Vec<(&'static str, String)>, KafkaError> {
    let (module, options) = parse_jaas(text).map_err(|m| KafkaError::config(property, m))?;
    let short = module.rsplit('.').next().unwrap_or(&module);
    let option = |key: &str| {
        options
            .get(key)
            .cloned()
            .ok_or_else(|| KafkaError::config(property, format!("{short} needs the option {key}=\"...\"")))
    };
    match short {
        "PlainLoginModule" | "ScramLoginModule" => {
            Ok(vec![("sasl.username", option("username")?), ("sasl.password", option("password")?)])
        }
        "OAuthBearerLoginModule" if token_endpoint.is_some() => {
            let mut out = vec![
                ("sasl.oauthbearer.method", "oidc".to_owned()),
                ("sasl.oauthbearer.client.id", option("clientId")?),
                ("sasl.oauthbearer.client.secret", option("clientSecret")?),
            ];
            if let Some(scope) = options.get("scope") {
                out.push(("sasl.oauthbearer.scope", scope.clone()));
            }
            Ok(out)
        }
        "OAuthBearerLoginModule" => Err(KafkaError::config(
            property,
            "OAUTHBEARER without sasl.oauthbearer.token.endpoint.url is not supported: set the token \
             endpoint with clientId and clientSecret options (OIDC client credentials)",
        )),
        "Krb5LoginModule" => Err(KafkaError::config(
            property,
            "Kerberos (GSSAPI) is not supported by this build; use PLAIN, SCRAM or OAUTHBEARER",
        )),
        _ => Err(KafkaError::config(
            property,
            format!(
                "login module {short} is not supported; use PlainLoginModule, ScramLoginModule or \
                 OAuthBearerLoginModule"
            ),
        )),
    }
}

/// Parses a one-entry JAAS configuration (`<LoginModule> <flag> key="value" ...;`) as Kafka's
/// `JaasConfig` does: words, single- or double-quoted strings with backslash escapes, `//` and
/// `/* */` comments. Errors never quote option values.
fn parse_jaas(text: &str) -> Result<(String, BTreeMap<String, String>), String> {
    #[derive(PartialEq)]
    enum Token {
        Word(String),
        Quoted(String),
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(other) => s.push(other),
                            None => break,
                        },
                        c if c == quote => {
                            closed = true;
                            break;
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err("a quoted value is not closed".to_owned());
                }
                tokens.push(Token::Quoted(s));
            }
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '$') => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || matches!(n, '.' | '-' | '_' | '$') {
                        s.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(s));
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    let mut it = tokens.into_iter();
    let Some(Token::Word(module)) = it.next() else {
        return Err("no login module: expected '<LoginModule class> required key=\"value\" ...;'".to_owned());
    };
    match it.next() {
        Some(Token::Word(flag))
            if ["required", "requisite", "sufficient", "optional"]
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&flag)) => {}
        _ => return Err("the login module must be followed by a control flag such as 'required'".to_owned()),
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some(Token::Char(';')) => break,
            Some(Token::Word(key)) => {
                if it.next() != Some(Token::Char('=')) {
                    return Err(format!("option '{key}' has no '=value'"));
                }
                match it.next() {
                    Some(Token::Word(v) | Token::Quoted(v)) => {
                        options.insert(key, v);
                    }
                    _ => return Err(format!("option '{key}' has no value")),
                }
            }
            _ => return Err("the entry must end with ';' after its options".to_owned()),
        }
    }
    if it.next().is_some() {
        return Err("only one login module entry is supported".to_owned());
    }
    Ok((module, options))
}

/// Reads a partition count or replication factor: -1 (broker default) or at least 1.
fn topic_count(p: &Properties<'_>, key: &str, default: i32) -> Result<i32, KafkaError> {
    let n: i32 = p.number_or(key, default, "a whole number").map_err(prop_err)?;
    if n == -1 || n >= 1 {
        Ok(n)
    } else {
        Err(KafkaError::config(key, format!("{n} is neither -1 (the broker's default) nor at least 1")))
    }
}

fn prop_err(e: sluice_core::properties::PropertyError) -> KafkaError {
    KafkaError::Config { property: e.property, message: e.message }
}

/// Whether a client setting holds a secret (never printed).
pub(crate) fn is_secret(name: &str) -> bool {
    name.contains("password")
        || name.contains("secret")
        || name.contains("jaas")
        || name.ends_with("key.pem")
        || name == "ssl.keystore.key"
        || name == "sasl.oauthbearer.config"
}

/// Debug view of a settings map with secret values replaced.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, if is_secret(k) { "[redacted]" } else { v.as_str() })))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn worker_properties_are_translated_to_librdkafka_names() {
        let c = KafkaConfig::from_worker_properties(&map(&[
            ("bootstrap.servers", "k1:9092,k2:9092"),
            ("group.id", "connect-cluster"),
            ("key.converter", "org.apache.kafka.connect.json.JsonConverter"),
            ("key.converter.schemas.enable", "false"),
            ("config.storage.topic", "connect-configs"),
            ("offset.storage.topic", "my-offsets"),
            ("offset.storage.partitions", "5"),
            ("offset.storage.replication.factor", "3"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" \
                 password=\"al\\\"ice-secret\";",
            ),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/etc/ca.pem"),
            ("ssl.endpoint.identification.algorithm", ""),
            ("producer.compression.type", "zstd"),
            ("producer.buffer.memory", "33554432"),
            ("consumer.fetch.max.bytes", "1000000"),
            ("admin.request.timeout.ms", "5000"),
            ("topic.creation.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(c.bootstrap_servers, "k1:9092,k2:9092");
        assert_eq!(c.offsets_topic, "my-offsets");
        assert_eq!((c.offsets_partitions, c.offsets_replication_factor), (5, 3));
        assert!(!c.topic_creation_enable);
        assert_eq!(
            c.client,
            map(&[
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.password", "al\"ice-secret"),
                ("sasl.username", "alice"),
                ("security.protocol", "SASL_SSL"),
                ("ssl.ca.location", "/etc/ca.pem"),
                ("ssl.endpoint.identification.algorithm", "none"),
            ])
        );
        assert_eq!(c.producer, map(&[("compression.type", "zstd"), ("queue.buffering.max.kbytes", "32768")]));
        assert_eq!(c.consumer, map(&[("fetch.max.bytes", "1000000")]));
        assert_eq!(c.admin, map(&[("request.timeout.ms", "5000")]));
        let debug = format!("{c:?}");
        assert!(!debug.contains("ice-secret"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
    }

    #[test]
    fn defaults_follow_kafka_connect() {
        let c = KafkaConfig::from_worker_properties(&BTreeMap::new()).unwrap();
        assert_eq!(c.bootstrap_servers, "localhost:9092");
        assert_eq!(c.offsets_topic, "connect-offsets");
        assert_eq!(c.schemas_topic, "_schemas");
        assert_eq!((c.offsets_partitions, c.offsets_replication_factor), (25, -1));
        assert!(c.topic_creation_enable);
    }

    #[test]
    fn unknown_names_and_java_stores_are_named_errors() {
        let err = |pairs: &[(&str, &str)]| KafkaConfig::from_worker_properties(&map(pairs)).unwrap_err();
        let e = err(&[("bootstrap.server", "x:1")]);
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "bootstrap.server"), "{e}");
        let e = err(&[("producer.lingr.ms", "5")]);
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "producer.lingr.ms"), "{e}");
        let e = err(&[("ssl.truststore.location", "/etc/truststore.jks")]);
        assert!(e.to_string().contains("ssl.ca.location"), "{e}");
        let e = err(&[("ssl.keystore.location", "/etc/keystore.jks")]);
        assert!(e.to_string().contains("PKCS12"), "{e}");
        let e = err(&[("offset.storage.partitions", "0")]);
        assert!(e.to_string().contains("offset.storage.partitions"), "{e}");
        let e = err(&[(
            "sasl.jaas.config",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
        )]);
        assert!(e.to_string().contains("Kerberos"), "{e}");
        let e =
            err(&[("sasl.jaas.config", "PlainLoginModule required username=\"u\" password=\"top-secret\"")]);
        assert!(e.to_string().contains("';'") && !e.to_string().contains("top-secret"), "{e}");
        let e = err(&[("admin.listeners", "http://:8083"), ("security.protocol", "carrier-pigeon")]);
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "security.protocol"), "{e}");
    }

    #[test]
    fn producer_overrides_are_read_and_guarantees_kept() {
        let s = ProducerSettings::from_connector_properties(&map(&[
            ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
            ("producer.override.compression.type", "lz4"),
            ("producer.override.linger.ms", "20"),
            ("producer.override.batch.size", "65536"),
            ("producer.override.acks", "all"),
            ("producer.override.max.in.flight.requests.per.connection", "5"),
            ("producer.override.delivery.timeout.ms", "120000"),
        ]))
        .unwrap();
        assert_eq!(
            s.overrides,
            map(&[
                ("acks", "all"),
                ("batch.size", "65536"),
                ("compression.type", "lz4"),
                ("linger.ms", "20"),
                ("max.in.flight.requests.per.connection", "5"),
                ("message.timeout.ms", "120000"),
            ])
        );
        for (k, v) in [
            ("producer.override.acks", "1"),
            ("producer.override.enable.idempotence", "false"),
            ("producer.override.max.in.flight.requests.per.connection", "6"),
            ("producer.override.partitioner.class", "org.example.MyPartitioner"),
            ("producer.override.transactional.id", "t"),
        ] {
            let e = ProducerSettings::from_connector_properties(&map(&[(k, v)])).unwrap_err();
            assert!(matches!(&e, KafkaError::Config { property, .. } if property == k), "{k}: {e}");
        }
        let e = KafkaConfig::from_worker_properties(&map(&[("producer.acks", "1")])).unwrap_err();
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "producer.acks"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let s = ProducerSettings::from_connector_properties(&map(&[
            (
                "producer.override.sasl.jaas.config",
                "PlainLoginModule required username=u password=\"pw-123\";",
            ),
            ("producer.override.ssl.key.password", "kp-456"),
        ]))
        .unwrap();
        assert_eq!(s.overrides["sasl.password"], "pw-123");
        let debug = format!("{s:?}");
        assert!(!debug.contains("pw-123") && !debug.contains("kp-456"), "{debug}");
    }

    #[test]
    fn jaas_parsing_follows_kafka() {
        let (m, o) = parse_jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule /* c */ REQUIRED username='a b' \
             password=\"p\\\\w\"; // trailing",
        )
        .unwrap();
        assert_eq!(m, "org.apache.kafka.common.security.plain.PlainLoginModule");
        assert_eq!(o, map(&[("password", "p\\w"), ("username", "a b")]));
        assert!(parse_jaas("X required a=;").is_err());
        assert!(parse_jaas("X maybe a=b;").is_err());
    }
}
