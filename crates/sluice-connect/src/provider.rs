//! Config providers and secret masking.
//!
//! Kafka Connect resolves `${provider:[path:]key}` references in connector configs just before a
//! connector starts, so the stored config (and every REST response) holds the reference, never the
//! secret. sluice does the same with Kafka's two standard providers: `env`
//! (`EnvVarConfigProvider`, `${env:VAR}`) and `file` (`FileConfigProvider`, `${file:/path:key}`
//! reading a Java properties file). A worker config that sets `config.providers` enables exactly
//! the providers it lists (as Kafka Connect does); without one both are enabled. A reference to a
//! provider that is not enabled, a variable that is not set, or a key the file lacks is an error
//! naming the property, never a literal `${...}` handed to the database.
//!
//! Literal secrets (a password typed into the config) are masked as `[hidden]` in every response;
//! a config sent back with `[hidden]` keeps the stored value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ConnectError;

/// What REST responses show instead of a literal secret (Kafka's `Password` rendering).
pub const HIDDEN: &str = "[hidden]";

/// Kafka's provider classes, accepted in `config.providers.<name>.class`.
const ENV_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.EnvVarConfigProvider";
const FILE_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.FileConfigProvider";

/// A provider's implementation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Provider {
    /// Environment variables; `allowlist` is `allowlist.pattern` when set.
    Env,
    /// Java properties files, optionally restricted to `allowed.paths`.
    File { allowed_paths: Option<Vec<PathBuf>> },
}

/// The enabled providers, by the name references use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProviders {
    providers: BTreeMap<String, Provider>,
}

impl Default for ConfigProviders {
    /// `env` and `file`, unrestricted: the embedded default.
    fn default() -> Self {
        ConfigProviders {
            providers: [
                ("env".to_owned(), Provider::Env),
                ("file".to_owned(), Provider::File { allowed_paths: None }),
            ]
            .into_iter()
            .collect(),
        }
    }
}

impl ConfigProviders {
    /// The providers a worker config declares (`config.providers`, `config.providers.<n>.class`,
    /// `config.providers.<n>.param.allowed.paths`), or the default pair when it declares none.
    pub fn from_worker(worker: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        let Some(list) = worker.get("config.providers") else { return Ok(ConfigProviders::default()) };
        let mut providers = BTreeMap::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let class_key = format!("config.providers.{name}.class");
            let class = worker.get(&class_key).map(|c| c.trim()).ok_or_else(|| {
                ConnectError::BadRequest(format!(
                    "worker property {class_key} is missing; config.providers lists '{name}'"
                ))
            })?;
            let provider = match class {
                ENV_PROVIDER_CLASS => Provider::Env,
                FILE_PROVIDER_CLASS => Provider::File {
                    allowed_paths: worker.get(&format!("config.providers.{name}.param.allowed.paths")).map(
                        |p| {
                            p.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect()
                        },
                    ),
                },
                other => {
                    return Err(ConnectError::BadRequest(format!(
                        "worker property {class_key}: '{other}' is not a provider sluice has; use \
                         {ENV_PROVIDER_CLASS} or {FILE_PROVIDER_CLASS}"
                    )));
                }
            };
            providers.insert(name.to_owned(), provider);
        }
        Ok(ConfigProviders { providers })
    }

    /// The config with every `${provider:[path:]key}` reference replaced by its value. Errors
    /// name the property and the reference (never a resolved value).
    pub fn resolve(&self, config: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Unresolved> {
        config
            .iter()
            .map(|(k, v)| match self.resolve_value(k, v) {
                Ok(value) => Ok((k.clone(), value)),
                Err(error) => Err(Unresolved { property: k.clone(), error }),
            })
            .collect()
    }

    fn resolve_value(&self, property: &str, value: &str) -> Result<String, ConnectError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else { break };
            let inner = &rest[start + 2..start + len];
            // `provider:key` or `provider:path:key`; anything else is literal text.
            let Some((provider, tail)) = inner.split_once(':') else {
                out.push_str(&rest[..start + len + 1]);
                rest = &rest[start + len + 1..];
                continue;
            };
            let (path, key) = match tail.split_once(':') {
                Some((path, key)) => (Some(path), key),
                None => (None, tail),
            };
            out.push_str(&rest[..start]);
            out.push_str(&self.lookup(property, provider, path, key)?);
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(
        &self,
        property: &str,
        name: &str,
        path: Option<&str>,
        key: &str,
    ) -> Result<String, ConnectError> {
        let reference = match path {
            Some(p) => format!("${{{name}:{p}:{key}}}"),
            None => format!("${{{name}:{key}}}"),
        };
        let bad = |why: String| ConnectError::BadRequest(format!("property {property}: {reference}: {why}"));
        let Some(provider) = self.providers.get(name) else {
            let enabled: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            return Err(bad(format!(
                "no config provider '{name}' is enabled (enabled: {}); set config.providers in the worker config",
                enabled.join(", ")
            )));
        };
        match provider {
            Provider::Env => {
                std::env::var(key).map_err(|_| bad(format!("environment variable {key} is not set")))
            }
            Provider::File { allowed_paths } => {
                let Some(path) = path.filter(|p| !p.is_empty()) else {
                    return Err(bad("the file provider needs ${file:<path>:<key>}".to_owned()));
                };
                let path = Path::new(path);
                if let Some(allowed) = allowed_paths
                    && !allowed.iter().any(|a| path.starts_with(a))
                {
                    return Err(bad("the path is outside config.providers.*.param.allowed.paths".to_owned()));
                }
                let text =
                    std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the file: {e}")))?;
                java_properties(&text).remove(key).ok_or_else(|| bad(format!("the file has no key '{key}'")))
            }
        }
    }
}

/// A provider reference that could not be resolved, with the property holding it (validation
/// reports the error against that property).
#[derive(Debug)]
pub struct Unresolved {
    /// The property whose value holds the reference.
    pub property: String,
    /// Why it could not be resolved (names the property and the reference, never a value).
    pub error: ConnectError,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl From<Unresolved> for ConnectError {
    fn from(unresolved: Unresolved) -> ConnectError {
        unresolved.error
    }
}

/// A Java properties file's `key=value` / `key: value` / `key value` lines (comments `#` and `!`,
/// backslash line continuations, the common escapes).
pub fn java_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.starts_with('#') || line.starts_with('!') || line.is_empty()) {
            continue;
        }
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        let split = entry
            .char_indices()
            .scan(false, |escaped, (i, c)| {
                let was = *escaped;
                *escaped = !was && c == '\\';
                Some((i, c, was))
            })
            .find(|(_, c, was)| !was && matches!(c, '=' | ':' | ' ' | '\t'));
        let (key, value) = match split {
            Some((i, c, _)) => {
                let mut value = entry[i + c.len_utf8()..].trim_start();
                if c.is_whitespace()
                    && let Some(v) = value.strip_prefix(['=', ':'])
                {
                    value = v.trim_start();
                }
                (&entry[..i], value)
            }
            None => (entry.as_str(), ""),
        };
        out.insert(unescape(key), unescape(value));
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Whether a property holds a secret: Kafka's and Debezium's password-typed settings and anything
/// named like one.
pub fn is_secret(property: &str) -> bool {
    let p = property.to_ascii_lowercase();
    p.ends_with("password")
        || p.ends_with(".secret")
        || p.contains("secret.key")
        || p.ends_with("sasl.jaas.config")
        || p.ends_with("basic.auth.user.info")
        || p.ends_with("bearer.auth.token")
        || p.ends_with("ssl.key")
        || p.ends_with("ssl.keystore.key")
        || p.ends_with("access.key")
        || p.ends_with("token")
}

/// Whether a value is (only) config provider references: not a secret itself.
fn is_reference(value: &str) -> bool {
    let v = value.trim();
    v.starts_with("${") && v.ends_with('}')
}

/// The config as responses show it: literal secrets become [`HIDDEN`].
pub fn mask(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .map(|(k, v)| {
            let shown =
                if is_secret(k) && !v.is_empty() && !is_reference(v) { HIDDEN.to_owned() } else { v.clone() };
            (k.clone(), shown)
        })
        .collect()
}

/// A config sent back after a GET keeps the stored secrets where it says [`HIDDEN`].
pub fn restore_hidden(new: &mut BTreeMap<String, String>, stored: Option<&BTreeMap<String, String>>) {
    for (k, v) in new.iter_mut() {
        if v == HIDDEN
            && let Some(old) = stored.and_then(|s| s.get(k))
        {
            v.clone_from(old);
        }
    }
}

/// Every secret value in a (resolved) config, longest first: what must never appear in a trace.
pub fn secret_values(resolved: &BTreeMap<String, String>) -> Vec<String> {
    let mut values: Vec<String> =
        resolved.iter().filter(|(k, v)| is_secret(k) && v.len() >= 3).map(|(_, v)| v.clone()).collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

/// `text` with every secret value replaced by [`HIDDEN`].
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |t, s| t.replace(s.as_str(), HIDDEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_and_file_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.properties");
        std::fs::write(&file, "# comment\nuser = alice\npassword=s3cr\\=t\nlong: a \\\n   b\n").unwrap();
        // A variable no environment sets, and one every environment sets.
        let var = "SLUICE_PROVIDER_TEST_UNSET_VARIABLE";
        let home = std::env::var("PATH").unwrap();
        let providers = ConfigProviders::default();
        let config = map(&[
            ("database.password", &format!("${{file:{}:password}}", file.display())),
            ("database.user", &format!("${{file:{}:user}}", file.display())),
            ("x", &format!("pre-${{env:PATH}}-${{file:{}:long}}", file.display())),
            ("plain", "no ${reference here"),
        ]);
        let resolved = providers.resolve(&config).unwrap();
        assert_eq!(resolved["database.password"], "s3cr=t");
        assert_eq!(resolved["database.user"], "alice");
        assert_eq!(resolved["x"], format!("pre-{home}-a b"));
        assert_eq!(resolved["plain"], "no ${reference here");

        let err = providers.resolve(&map(&[("database.password", &format!("${{env:{var}}}"))])).unwrap_err();
        assert_eq!(err.property, "database.password");
        assert_eq!(err.error.status(), 400);
        let text = err.to_string();
        assert!(text.contains("database.password") && text.contains(var), "{text}");
        let err = providers.resolve(&map(&[("p", "${vault:secret/db:pw}")])).unwrap_err().to_string();
        assert!(err.contains("no config provider 'vault'"), "{err}");
        let err = providers
            .resolve(&map(&[("p", &format!("${{file:{}:missing}}", file.display()))]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no key 'missing'") && !err.contains("s3cr"), "{err}");
    }

    #[test]
    fn worker_config_enables_exactly_the_listed_providers() {
        let worker = map(&[
            ("config.providers", "file"),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.file.param.allowed.paths", "/run/secrets"),
        ]);
        let providers = ConfigProviders::from_worker(&worker).unwrap();
        assert!(providers.resolve(&map(&[("a", "${env:PATH}")])).is_err());
        let err = providers.resolve(&map(&[("a", "${file:/etc/passwd:root}")])).unwrap_err().to_string();
        assert!(err.contains("allowed.paths"), "{err}");
        let bad = map(&[("config.providers", "v"), ("config.providers.v.class", "com.example.Vault")]);
        assert!(ConfigProviders::from_worker(&bad).unwrap_err().to_string().contains("com.example.Vault"));
    }

    #[test]
    fn secrets_are_masked_restored_and_scrubbed() {
        let stored =
            map(&[("database.password", "hunter2"), ("database.user", "app"), ("x.password", "${env:PW}")]);
        let shown = mask(&stored);
        assert_eq!(shown["database.password"], HIDDEN);
        assert_eq!(shown["database.user"], "app");
        assert_eq!(shown["x.password"], "${env:PW}", "references are not secrets");
        let mut back = shown.clone();
        restore_hidden(&mut back, Some(&stored));
        assert_eq!(back, stored);
        let secrets = secret_values(&stored);
        assert_eq!(scrub("auth failed for hunter2", &secrets), "auth failed for [hidden]");
        assert!(is_secret("value.converter.basic.auth.user.info"));
        assert!(is_secret("database.sslpassword"));
        assert!(!is_secret("database.user"));
    }
}
