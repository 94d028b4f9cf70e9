//! Connection settings shared by the replication connection and ordinary SQL connections.
//!
//! An [`Endpoint`] carries everything needed to reach and log in to the server; the config parser
//! builds it from Debezium's `database.*` properties. Both kinds of connection apply the same TLS
//! semantics ([`SslMode`], libpq's) and the same [`SESSION_SETTINGS`], so text produced by either
//! one decodes the same way.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sluice_core::Secret;

use crate::error::PostgresError;

/// Session settings every connection sets at startup; value decoding depends on them.
///
/// - `DateStyle=ISO` and `IntervalStyle=postgres`: dates, timestamps and intervals in the text
///   format the value decoder parses (`2024-01-31 12:00:00+00`, `1 year 2 mons 3 days 04:05:06`).
/// - `TimeZone=UTC`: `timestamptz` text always carries `+00`, so no zone database is needed.
/// - `extra_float_digits=3`: `real`/`double precision` text round-trips exactly (shortest form).
/// - `bytea_output=hex`: `bytea` text is `\x...`, never the escape format.
/// - `lc_monetary=C`: `money` text has no locale currency symbols or grouping beyond `$` and `,`.
/// - `client_encoding=UTF8`: all text (identifiers, values, messages) is UTF-8.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
    ("client_encoding", "UTF8"),
];

/// Startup packet keys with a protocol meaning; they may not be passed as extra options.
const RESERVED_STARTUP_KEYS: &[&str] = &["user", "database", "replication", "options", "application_name"];

/// Whether and how to use TLS, with libpq's semantics (Debezium's `database.sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Connect without TLS; if the server rejects that connection, retry with TLS (unverified).
    Allow,
    /// Ask for TLS (unverified) and fall back to plain text if the server does not offer it.
    #[default]
    Prefer,
    /// Insist on TLS. The certificate is not verified unless `sslrootcert` is given, in which case
    /// the chain is verified as for [`SslMode::VerifyCa`] (as libpq does).
    Require,
    /// Insist on TLS and verify the certificate chain, not the host name, against `sslrootcert`
    /// (or the bundled public web PKI roots when it is not given).
    VerifyCa,
    /// Insist on TLS and verify the chain (as for [`SslMode::VerifyCa`]) and that the certificate
    /// names the host (a DNS name, or an IP address in its subject alternative names).
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of libpq's `sslmode` values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sslmode {0:?}: expected one of disable, allow, prefer, require, verify-ca, verify-full")]
pub struct ParseSslModeError(pub String);

impl FromStr for SslMode {
    type Err = ParseSslModeError;

    /// Accepts libpq's spellings case-insensitively, plus Debezium's old `verify_ca`/`verify_full`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => Ok(SslMode::Disable),
            "allow" => Ok(SslMode::Allow),
            "prefer" | "preferred" => Ok(SslMode::Prefer),
            "require" | "required" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" | "verify-identity" => Ok(SslMode::VerifyFull),
            _ => Err(ParseSslModeError(s.to_owned())),
        }
    }
}

/// Everything needed to reach and log in to the server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database user.
    pub user: String,
    /// Password, if the server asks for one.
    pub password: Option<Secret>,
    /// Database to connect to.
    pub dbname: String,
    /// TLS policy.
    pub sslmode: SslMode,
    /// PEM file of the CA certificates to trust (`system` for the bundled web PKI roots).
    pub sslrootcert: Option<PathBuf>,
    /// PEM file of the client certificate (chain), sent when the server asks for one.
    pub sslcert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub sslkey: Option<PathBuf>,
    /// Shown in `pg_stat_activity` and `pg_stat_replication`.
    pub application_name: String,
    /// Limit for the whole connection setup (TCP, TLS, authentication); zero means none.
    pub connect_timeout: Duration,
    /// Enables TCP keepalive probes, so a silently dead peer is eventually noticed.
    pub tcp_keepalive: bool,
    /// Extra run-time parameters set at startup, e.g. `("logical_decoding_work_mem", "64kB")`.
    pub options: Vec<(String, String)>,
    /// `database.initial.statements`: SQL run on every ordinary connection right after it opens
    /// (never on the replication connection, as in Debezium).
    pub initial_statements: Vec<String>,
}

/// Splits `database.initial.statements`: `;` separates statements, `;;` is a literal semicolon.
pub fn split_initial_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ';' {
            if chars.peek() == Some(&';') {
                chars.next();
                current.push(';');
            } else {
                statements.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    statements.push(current);
    statements.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

impl Endpoint {
    /// An endpoint with libpq's and Debezium's defaults: `sslmode=prefer`, keepalive on, a 30 s
    /// connect timeout, application name `sluice`, no password.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        dbname: impl Into<String>,
    ) -> Self {
        Endpoint {
            host: host.into(),
            port,
            user: user.into(),
            password: None,
            dbname: dbname.into(),
            sslmode: SslMode::default(),
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            application_name: "sluice".to_owned(),
            connect_timeout: Duration::from_secs(30),
            tcp_keepalive: true,
            options: Vec::new(),
            initial_statements: Vec::new(),
        }
    }

    /// The host without the brackets of a bracketed IPv6 address, for resolving and TLS.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `host:port` (IPv6 addresses bracketed), for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The run-time parameters to send at startup: the extra options, then the mandatory
    /// [`SESSION_SETTINGS`] (which win over an extra option of the same name, with a warning).
    pub(crate) fn runtime_parameters(&self) -> Result<Vec<(&str, &str)>, PostgresError> {
        let mut params = Vec::with_capacity(self.options.len() + SESSION_SETTINGS.len());
        for (name, value) in &self.options {
            if name.is_empty() || name.contains('\0') || value.contains('\0') {
                return Err(PostgresError::config(
                    format!("options.{name}"),
                    "run-time parameter names must be non-empty and names and values must not contain NUL bytes",
                ));
            }
            if RESERVED_STARTUP_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(PostgresError::config(
                    format!("options.{name}"),
                    format!("'{name}' is a connection property, not a run-time parameter"),
                ));
            }
            if SESSION_SETTINGS.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                tracing::warn!(parameter = %name, "ignoring a run-time option that sluice sets itself");
                continue;
            }
            params.push((name.as_str(), value.as_str()));
        }
        params.extend(SESSION_SETTINGS.iter().copied());
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_parses_libpq_and_debezium_spellings() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("REQUIRE", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify_full", SslMode::VerifyFull),
        ] {
            assert_eq!(text.parse::<SslMode>().unwrap(), mode);
            assert_eq!(mode.to_string().parse::<SslMode>().unwrap(), mode);
        }
        let err = "strict".parse::<SslMode>().unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn session_settings_override_extra_options() {
        let mut e = Endpoint::new("h", 5432, "u", "d");
        e.options = vec![("TimeZone".into(), "Europe/Paris".into()), ("work_mem".into(), "8MB".into())];
        let params = e.runtime_parameters().unwrap();
        assert!(params.contains(&("work_mem", "8MB")));
        assert!(params.contains(&("TimeZone", "UTC")));
        assert!(!params.contains(&("TimeZone", "Europe/Paris")));
        e.options = vec![("replication".into(), "true".into())];
        assert!(e.runtime_parameters().is_err());
    }

    #[test]
    fn address_brackets_ipv6() {
        assert_eq!(Endpoint::new("::1", 5432, "u", "d").address(), "[::1]:5432");
        assert_eq!(Endpoint::new("db", 5433, "u", "d").address(), "db:5433");
    }
}

#[cfg(test)]
mod initial_statement_tests {
    use super::split_initial_statements;

    #[test]
    fn semicolons_split_and_double_semicolons_escape() {
        assert_eq!(
            split_initial_statements("SET search_path = app; SELECT ';;' ;; ; ;SET x = 1"),
            vec!["SET search_path = app", "SELECT ';' ;", "SET x = 1"]
        );
        assert!(split_initial_statements(" ; ").is_empty());
    }
}
