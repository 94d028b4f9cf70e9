//! Ordinary tokio-postgres connections with the replication connection's TLS semantics and
//! session settings, for catalog queries, slot and publication management and snapshot reads.

use std::future::poll_fn;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::SslMode as ClientSslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Client, NoTls, Socket};
use tracing::Instrument;

use crate::error::{PostgresError, ServerError};

use super::connection::within_connect_timeout;
use super::endpoint::{Endpoint, SslMode};
use super::tls::{RustlsConnector, describe_tls_error, find_rustls_error};

/// Connects an ordinary SQL session and spawns its connection driver on the current runtime
/// (a task logging server notices and the connection's end under the `pg_sql_connection` span).
///
/// `sslmode` means what it means for [`ReplicationConnection`](super::ReplicationConnection):
/// `allow` retries with TLS when the server rejects the unencrypted attempt, `prefer` falls back to
/// plain text when the server does not offer TLS, the others insist on TLS and verify as documented
/// on [`SslMode`].
pub async fn connect_sql(endpoint: &Endpoint) -> Result<Client, PostgresError> {
    let client = connect_sql_session(endpoint).await?;
    for statement in &endpoint.initial_statements {
        client
            .batch_execute(statement)
            .await
            .map_err(PostgresError::query("running database.initial.statements"))?;
    }
    Ok(client)
}

async fn connect_sql_session(endpoint: &Endpoint) -> Result<Client, PostgresError> {
    within_connect_timeout(endpoint, async {
        match endpoint.sslmode {
            SslMode::Disable => connect_once(endpoint, ClientSslMode::Disable, NoTls).await,
            SslMode::Allow => match connect_once(endpoint, ClientSslMode::Disable, NoTls).await {
                Err(PostgresError::Server { error, .. }) => {
                    tracing::debug!(endpoint = %endpoint.address(), code = %error.code,
                        "the server rejected an unencrypted connection; retrying with TLS (sslmode=allow)");
                    connect_once(endpoint, ClientSslMode::Require, RustlsConnector::new(endpoint)?).await
                }
                other => other,
            },
            SslMode::Prefer => {
                connect_once(endpoint, ClientSslMode::Prefer, RustlsConnector::new(endpoint)?).await
            }
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                connect_once(endpoint, ClientSslMode::Require, RustlsConnector::new(endpoint)?).await
            }
        }
    })
    .await
}

async fn connect_once<T>(
    endpoint: &Endpoint,
    ssl_mode: ClientSslMode,
    tls: T,
) -> Result<Client, PostgresError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let mut config = tokio_postgres::Config::new();
    config
        .host(endpoint.bare_host())
        .port(endpoint.port)
        .user(&endpoint.user)
        .dbname(&endpoint.dbname)
        .ssl_mode(ssl_mode)
        .keepalives(endpoint.tcp_keepalive)
        .options(options_string(&endpoint.runtime_parameters()?));
    if !endpoint.application_name.is_empty() {
        config.application_name(&endpoint.application_name);
    }
    if let Some(password) = &endpoint.password {
        config.password(password.expose());
    }
    if !endpoint.connect_timeout.is_zero() {
        config.connect_timeout(endpoint.connect_timeout);
    }
    let (client, connection) = config.connect(tls).await.map_err(|e| connect_error(endpoint, e))?;
    spawn_driver(connection, endpoint.address());
    Ok(client)
}

/// Drives the connection until it ends, logging notices through tracing instead of `log`.
fn spawn_driver<S, T>(mut connection: tokio_postgres::Connection<S, T>, address: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::debug_span!("pg_sql_connection", endpoint = %address);
    tokio::spawn(
        async move {
            loop {
                match poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notice(notice))) => {
                        tracing::info!(code = %notice.code().code(), "server: {}", notice.message())
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "SQL connection failed");
                        break;
                    }
                    None => {
                        tracing::debug!("SQL connection closed");
                        break;
                    }
                }
            }
        }
        .instrument(span),
    );
}

/// Server errors become [`PostgresError::Server`] like on the replication connection, certificate
/// problems [`PostgresError::Tls`], a missing password [`PostgresError::Auth`].
fn connect_error(endpoint: &Endpoint, error: tokio_postgres::Error) -> PostgresError {
    if let Some(db) = error.as_db_error() {
        return PostgresError::server(
            format!("connecting to {} as user '{}'", endpoint.address(), endpoint.user),
            ServerError {
                severity: db.severity().to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                hint: db.hint().map(str::to_owned),
            },
        );
    }
    if let Some(tls) = find_rustls_error(&error) {
        return PostgresError::Tls {
            endpoint: endpoint.address(),
            message: describe_tls_error(tls, endpoint.bare_host()),
        };
    }
    // tokio-postgres keeps the specifics in the error's sources, not in its Display.
    let chain = error_chain(&error);
    if endpoint.password.as_ref().is_none_or(|p| p.is_empty()) && chain.contains("password missing") {
        return PostgresError::Auth {
            user: endpoint.user.clone(),
            message: "the server requires a password for this user; set database.password".to_owned(),
        };
    }
    if chain.contains("server does not support TLS") {
        return PostgresError::Tls {
            endpoint: endpoint.address(),
            message: format!(
                "the server does not accept TLS connections but sslmode={} requires TLS; enable ssl on the \
                 server or change database.sslmode",
                endpoint.sslmode
            ),
        };
    }
    PostgresError::Query { context: format!("connecting to {}", endpoint.address()), source: error }
}

/// An error and all its sources, joined.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The `options` startup parameter: `-c name=value` pairs, with backslash escapes for the
/// server's whitespace splitting.
fn options_string(params: &[(&str, &str)]) -> String {
    fn escape(text: &str, out: &mut String) {
        for c in text.chars() {
            if c == '\\' || c.is_ascii_whitespace() {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut options = String::new();
    for (name, value) in params {
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str("-c ");
        escape(name, &mut options);
        options.push('=');
        escape(value, &mut options);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_escape_whitespace_and_backslashes() {
        assert_eq!(
            options_string(&[("DateStyle", "ISO"), ("search_path", "a b\\c")]),
            "-c DateStyle=ISO -c search_path=a\\ b\\\\c"
        );
    }
}
