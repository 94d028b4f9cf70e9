//! A `replication=database` connection: startup, TLS negotiation, replication commands.
//!
//! Such a connection accepts both SQL (simple query protocol only) and the walsender's
//! replication commands. [`ReplicationConnection::start_logical_replication`] consumes it and hands
//! the socket to a [`ReplicationStream`] once the server enters CopyBoth mode.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{Message, ParameterStatusBody};
use postgres_protocol::message::frontend;
use sluice_core::Lsn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::error::PostgresError;

use super::auth;
use super::endpoint::{Endpoint, SslMode};
use super::stream::ReplicationStream;
use super::tls::TlsSetup;
use super::wire::{Backend, Transport, Wire, log_notice, server_error};

/// The answer to `IDENTIFY_SYSTEM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifySystem {
    /// The cluster's unique system identifier (a decimal string: it does not fit an i64 reliably).
    pub systemid: String,
    /// The current timeline.
    pub timeline: u32,
    /// The current WAL flush position.
    pub xlogpos: Lsn,
    /// The database connected to (`None` for physical replication connections).
    pub dbname: Option<String>,
}

/// What `CREATE_REPLICATION_SLOT` does with the slot's starting snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotSnapshot {
    /// Export it under a name usable by `SET TRANSACTION SNAPSHOT` until this connection's next
    /// command: how an initial snapshot reads exactly the data before the slot's first change.
    Export,
    /// Use it in the current transaction of this connection (which must have begun with
    /// `BEGIN ISOLATION LEVEL REPEATABLE READ` before any query).
    Use,
    /// Neither: no snapshot is needed.
    NoExport,
}

/// The answer to `CREATE_REPLICATION_SLOT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSlot {
    /// The slot's name.
    pub slot_name: String,
    /// The first LSN the slot will stream; everything before it is in the snapshot.
    pub consistent_point: Lsn,
    /// The exported snapshot's name, with [`SlotSnapshot::Export`].
    pub snapshot_name: Option<String>,
    /// The output plugin.
    pub output_plugin: String,
}

/// How the TLS question is asked on one connection attempt.
#[derive(Clone, Copy)]
enum Negotiation<'a> {
    Plain,
    Prefer(&'a TlsSetup),
    Require(&'a TlsSetup),
}

/// A logged-in replication connection, ready for commands.
pub struct ReplicationConnection {
    wire: Wire,
    parameters: HashMap<String, String>,
    server_version_num: u32,
    backend_pid: i32,
}

impl fmt::Debug for ReplicationConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicationConnection")
            .field("server", &self.wire.address())
            .field("tls", &self.wire.transport().is_tls())
            .field("server_version_num", &self.server_version_num)
            .field("backend_pid", &self.backend_pid)
            .finish()
    }
}

impl ReplicationConnection {
    /// Connects with `replication=database`, applying the endpoint's TLS policy, authentication and
    /// [`SESSION_SETTINGS`](super::SESSION_SETTINGS), all within its connect timeout.
    pub async fn connect(endpoint: &Endpoint) -> Result<Self, PostgresError> {
        within_connect_timeout(endpoint, Self::connect_with_policy(endpoint)).await
    }

    async fn connect_with_policy(endpoint: &Endpoint) -> Result<Self, PostgresError> {
        if endpoint.sslmode == SslMode::Disable {
            return Self::attempt(endpoint, Negotiation::Plain).await;
        }
        let tls = TlsSetup::new(endpoint)?;
        match endpoint.sslmode {
            SslMode::Disable => Self::attempt(endpoint, Negotiation::Plain).await,
            SslMode::Allow => match Self::attempt(endpoint, Negotiation::Plain).await {
                Err(PostgresError::Server { error, .. }) => {
                    tracing::debug!(endpoint = %endpoint.address(), code = %error.code,
                        "the server rejected an unencrypted connection; retrying with TLS (sslmode=allow)");
                    Self::attempt(endpoint, Negotiation::Require(&tls)).await
                }
                other => other,
            },
            SslMode::Prefer => Self::attempt(endpoint, Negotiation::Prefer(&tls)).await,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                Self::attempt(endpoint, Negotiation::Require(&tls)).await
            }
        }
    }

    async fn attempt(endpoint: &Endpoint, negotiation: Negotiation<'_>) -> Result<Self, PostgresError> {
        let mut wire = open(endpoint, negotiation).await?;
        let mut params: Vec<(&str, &str)> =
            vec![("user", &endpoint.user), ("database", &endpoint.dbname), ("replication", "database")];
        if !endpoint.application_name.is_empty() {
            params.push(("application_name", &endpoint.application_name));
        }
        params.extend(endpoint.runtime_parameters()?);
        frontend::startup_message(params, wire.out()).map_err(|_| {
            PostgresError::config(
                "database.user",
                "the user, database name and application name must not contain NUL bytes",
            )
        })?;
        wire.flush().await?;
        let startup_context = || format!("connecting to {} as user '{}'", endpoint.address(), endpoint.user);
        auth::authenticate(&mut wire, &endpoint.user, endpoint.password.as_ref()).await.map_err(
            |e| match e {
                PostgresError::Server { error, .. } => privilege_error(endpoint, *error, startup_context()),
                other => other,
            },
        )?;

        let mut connection =
            ReplicationConnection { wire, parameters: HashMap::new(), server_version_num: 0, backend_pid: 0 };
        loop {
            match connection.wire.read().await? {
                Backend::Message(Message::ReadyForQuery(_)) => break,
                Backend::Message(Message::ParameterStatus(body)) => connection.record_parameter(&body),
                Backend::Message(Message::BackendKeyData(body)) => connection.backend_pid = body.process_id(),
                Backend::Message(Message::NoticeResponse(body)) => {
                    log_notice(body.fields(), connection.wire.address())
                }
                Backend::Message(Message::ErrorResponse(body)) => {
                    return Err(privilege_error(endpoint, server_error(body.fields()), startup_context()));
                }
                other => {
                    return Err(PostgresError::Protocol(format!(
                        "unexpected {} during startup",
                        other.name()
                    )));
                }
            }
        }
        connection.server_version_num =
            match connection.parameters.get("server_version").and_then(|v| parse_server_version(v)) {
                Some(v) => v,
                None => connection.query_server_version().await?,
            };
        tracing::debug!(
            endpoint = %endpoint.address(),
            tls = connection.wire.transport().is_tls(),
            server_version_num = connection.server_version_num,
            backend_pid = connection.backend_pid,
            "replication connection established"
        );
        Ok(connection)
    }

    /// `SHOW server_version_num`, for servers whose `server_version` string is unusual.
    async fn query_server_version(&mut self) -> Result<u32, PostgresError> {
        let rows = self.simple_query("SHOW server_version_num").await?;
        let text = column(&rows, 0, "SHOW server_version_num")?;
        text.trim()
            .parse()
            .map_err(|_| PostgresError::Protocol(format!("server_version_num {text:?} is not a number")))
    }

    /// The server's version as `server_version_num` spells it (150018 for 15.18).
    pub fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    /// The PID of the walsender serving this connection.
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// True when the connection is encrypted.
    pub fn uses_tls(&self) -> bool {
        self.wire.transport().is_tls()
    }

    /// A run-time parameter the server reported (`server_version`, `TimeZone`, `DateStyle`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    fn record_parameter(&mut self, body: &ParameterStatusBody) {
        if let (Ok(name), Ok(value)) = (body.name(), body.value()) {
            self.parameters.insert(name.to_owned(), value.to_owned());
        }
    }

    /// Runs SQL or a replication command with the simple query protocol and returns every row of
    /// every result, as text. A server error is returned after the connection is ready again, so
    /// the connection stays usable; a protocol error, or dropping the future before it completes,
    /// leaves it unusable (unlike [`ReplicationStream::next_frame`], this is not cancel-safe).
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, PostgresError> {
        frontend::query(sql, self.wire.out())
            .map_err(|_| PostgresError::Precondition("a query must not contain NUL bytes".to_owned()))?;
        self.wire.flush().await?;
        let mut rows = Vec::new();
        let mut error = None;
        let mut unsupported_copy = false;
        loop {
            let message = match self.wire.read().await {
                Ok(message) => message,
                // A FATAL error is followed by the server closing the socket: report the error.
                Err(e) => return Err(error.map_or(e, |err| PostgresError::server(query_context(sql), err))),
            };
            match message {
                Backend::Message(Message::DataRow(body)) => {
                    let buffer = body.buffer();
                    let mut ranges = body.ranges();
                    let mut row = Vec::new();
                    while let Some(range) = ranges
                        .next()
                        .map_err(|e| PostgresError::Protocol(format!("malformed DataRow: {e}")))?
                    {
                        let value = match range {
                            None => None,
                            Some(range) => {
                                let bytes = buffer.get(range).ok_or_else(|| {
                                    PostgresError::Protocol("DataRow column out of bounds".to_owned())
                                })?;
                                Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                                    PostgresError::Protocol("DataRow column is not UTF-8".to_owned())
                                })?)
                            }
                        };
                        row.push(value);
                    }
                    rows.push(row);
                }
                Backend::Message(
                    Message::RowDescription(_) | Message::CommandComplete(_) | Message::EmptyQueryResponse,
                ) => {}
                Backend::Message(Message::ReadyForQuery(_)) => break,
                Backend::Message(Message::ErrorResponse(body)) => error = Some(server_error(body.fields())),
                Backend::Message(Message::NoticeResponse(body)) => {
                    log_notice(body.fields(), self.wire.address())
                }
                Backend::Message(Message::ParameterStatus(body)) => self.record_parameter(&body),
                Backend::Message(Message::CopyInResponse(_)) => {
                    unsupported_copy = true;
                    frontend::copy_fail("sluice sends no COPY data on this connection", self.wire.out())
                        .map_err(|e| PostgresError::Protocol(e.to_string()))?;
                    self.wire.flush().await?;
                }
                Backend::Message(Message::CopyOutResponse(_) | Message::CopyDone) | Backend::CopyData(_) => {
                    unsupported_copy = true;
                }
                other => {
                    return Err(PostgresError::Protocol(format!(
                        "unexpected {} in reply to a simple query (START_REPLICATION must go through \
                         start_logical_replication)",
                        other.name()
                    )));
                }
            }
        }
        if let Some(error) = error {
            return Err(PostgresError::server(query_context(sql), error));
        }
        if unsupported_copy {
            return Err(PostgresError::Precondition(format!(
                "{}: COPY is not supported on the replication connection",
                query_context(sql)
            )));
        }
        Ok(rows)
    }

    /// `IDENTIFY_SYSTEM`.
    pub async fn identify_system(&mut self) -> Result<IdentifySystem, PostgresError> {
        const WHAT: &str = "IDENTIFY_SYSTEM";
        let rows = self.simple_query(WHAT).await?;
        let row = rows.first().filter(|r| r.len() >= 4).ok_or_else(|| missing(WHAT))?;
        let text = |i: usize| row.get(i).and_then(|v| v.as_deref()).ok_or_else(|| missing(WHAT));
        Ok(IdentifySystem {
            systemid: text(0)?.to_owned(),
            timeline: text(1)?
                .parse()
                .map_err(|_| PostgresError::Protocol(format!("{WHAT} returned an invalid timeline")))?,
            xlogpos: text(2)?.parse().map_err(|e| PostgresError::Protocol(format!("{WHAT}: {e}")))?,
            dbname: row.get(3).cloned().flatten(),
        })
    }

    /// `CREATE_REPLICATION_SLOT` for a logical slot: PostgreSQL 15's option list, or the older
    /// keywords on older servers.
    pub async fn create_logical_slot(
        &mut self,
        slot: &str,
        plugin: &str,
        temporary: bool,
        snapshot: SlotSnapshot,
    ) -> Result<CreatedSlot, PostgresError> {
        let command = create_slot_command(slot, plugin, temporary, snapshot, self.server_version_num);
        let rows = self.simple_query(&command).await?;
        let row = rows.first().filter(|r| r.len() >= 4).ok_or_else(|| missing("CREATE_REPLICATION_SLOT"))?;
        let text = |i: usize| row.get(i).and_then(|v| v.clone());
        let consistent_point = text(1)
            .ok_or_else(|| missing("CREATE_REPLICATION_SLOT"))?
            .parse()
            .map_err(|e| PostgresError::Protocol(format!("CREATE_REPLICATION_SLOT: {e}")))?;
        Ok(CreatedSlot {
            slot_name: text(0).unwrap_or_else(|| slot.to_owned()),
            consistent_point,
            snapshot_name: text(2),
            output_plugin: text(3).unwrap_or_else(|| plugin.to_owned()),
        })
    }

    /// `DROP_REPLICATION_SLOT`; with `wait`, waits for an active slot to be released instead of
    /// failing.
    pub async fn drop_slot(&mut self, slot: &str, wait: bool) -> Result<(), PostgresError> {
        let mut command = format!("DROP_REPLICATION_SLOT {}", quote_identifier(slot));
        if wait {
            command.push_str(" WAIT");
        }
        self.simple_query(&command).await.map(drop)
    }

    /// `START_REPLICATION SLOT ... LOGICAL ...` with the output plugin's options (names quoted as
    /// identifiers, values as literals), returning the stream once the server enters CopyBoth.
    pub async fn start_logical_replication(
        mut self,
        slot: &str,
        start: Lsn,
        options: &[(&str, String)],
    ) -> Result<ReplicationStream, PostgresError> {
        let command = start_replication_command(slot, start, options);
        frontend::query(&command, self.wire.out()).map_err(|_| {
            PostgresError::Precondition("replication options must not contain NUL bytes".to_owned())
        })?;
        self.wire.flush().await?;
        let context = || format!("starting logical replication from slot '{slot}' at {start}");
        let mut error = None;
        loop {
            let message = match self.wire.read().await {
                Ok(message) => message,
                Err(e) => return Err(error.map_or(e, |err| PostgresError::server(context(), err))),
            };
            match message {
                Backend::CopyBoth => {
                    tracing::debug!(endpoint = %self.wire.address(), slot, %start, "streaming replication started");
                    return Ok(ReplicationStream::new(self.wire));
                }
                Backend::Message(Message::ErrorResponse(body)) => error = Some(server_error(body.fields())),
                Backend::Message(Message::NoticeResponse(body)) => {
                    log_notice(body.fields(), self.wire.address())
                }
                Backend::Message(Message::ParameterStatus(body)) => self.record_parameter(&body),
                Backend::Message(Message::ReadyForQuery(_)) => {
                    return Err(match error {
                        Some(err) => PostgresError::server(context(), err),
                        None => PostgresError::Protocol(format!(
                            "{}: the server did not start streaming",
                            context()
                        )),
                    });
                }
                other => {
                    return Err(PostgresError::Protocol(format!(
                        "unexpected {} in reply to START_REPLICATION",
                        other.name()
                    )));
                }
            }
        }
    }

    /// Ends the session politely (`Terminate`) and closes the socket.
    pub async fn close(mut self) -> Result<(), PostgresError> {
        frontend::terminate(self.wire.out());
        let flushed = self.wire.flush().await;
        self.wire.shutdown().await;
        flushed
    }
}

/// Runs a connection attempt within the endpoint's connect timeout (zero: no limit).
pub(crate) async fn within_connect_timeout<T>(
    endpoint: &Endpoint,
    attempt: impl Future<Output = Result<T, PostgresError>>,
) -> Result<T, PostgresError> {
    if endpoint.connect_timeout.is_zero() {
        return attempt.await;
    }
    tokio::time::timeout(endpoint.connect_timeout, attempt).await.unwrap_or_else(|_| {
        Err(PostgresError::Io {
            endpoint: endpoint.address(),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                format!("not connected within the connect timeout of {:?}", endpoint.connect_timeout),
            ),
        })
    })
}

/// TCP connection (trying every resolved address) and the SSLRequest exchange.
async fn open(endpoint: &Endpoint, negotiation: Negotiation<'_>) -> Result<Wire, PostgresError> {
    let address = endpoint.address();
    let io_error = |source: io::Error| PostgresError::Io { endpoint: endpoint.address(), source };
    let mut tcp = tcp_connect(endpoint).await?;
    let (tls, required) = match negotiation {
        Negotiation::Plain => return Ok(Wire::new(Transport::Plain(tcp), address)),
        Negotiation::Prefer(tls) => (tls, false),
        Negotiation::Require(tls) => (tls, true),
    };
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    tcp.write_all(&request).await.map_err(io_error)?;
    // Exactly one byte: anything after it must come through TLS (CVE-2021-23222).
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.map_err(io_error)?;
    match answer[0] {
        b'S' => Ok(Wire::new(Transport::Tls(Box::new(tls.handshake(tcp).await?)), address)),
        b'N' if !required => {
            tracing::debug!(endpoint = %address, "the server does not offer TLS; continuing unencrypted (sslmode=prefer)");
            Ok(Wire::new(Transport::Plain(tcp), address))
        }
        b'N' => Err(PostgresError::Tls {
            endpoint: address,
            message: format!(
                "the server does not accept TLS connections but sslmode={} requires TLS; enable ssl on the \
                 server or change database.sslmode",
                endpoint.sslmode
            ),
        }),
        b'E' => {
            let mut wire = Wire::with_buffered(Transport::Plain(tcp), address, b"E");
            match wire.read().await? {
                Backend::Message(Message::ErrorResponse(body)) => Err(PostgresError::server(
                    format!("negotiating TLS with {}", endpoint.address()),
                    server_error(body.fields()),
                )),
                other => Err(PostgresError::Protocol(format!(
                    "unexpected {} in reply to SSLRequest",
                    other.name()
                ))),
            }
        }
        other => Err(PostgresError::Protocol(format!("unexpected byte {other:#04x} in reply to SSLRequest"))),
    }
}

async fn tcp_connect(endpoint: &Endpoint) -> Result<TcpStream, PostgresError> {
    let host = endpoint.bare_host();
    let io_error = |source: io::Error| PostgresError::Io { endpoint: endpoint.address(), source };
    let addresses = tokio::net::lookup_host((host, endpoint.port))
        .await
        .map_err(|e| io_error(io::Error::new(e.kind(), format!("cannot resolve host '{host}': {e}"))))?;
    let mut last_error = None;
    for address in addresses {
        match tcp_connect_to(address, endpoint.tcp_keepalive).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                tracing::debug!(%address, error = %e, "TCP connection failed");
                last_error = Some(e);
            }
        }
    }
    Err(io_error(
        last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("host '{host}' has no address"))
        }),
    ))
}

async fn tcp_connect_to(address: SocketAddr, keepalive: bool) -> io::Result<TcpStream> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_keepalive(keepalive)?;
    // Status updates are tiny and latency-sensitive.
    socket.set_nodelay(true)?;
    socket.connect(address).await
}

/// A missing REPLICATION attribute gets its own, actionable error.
fn privilege_error(endpoint: &Endpoint, error: crate::error::ServerError, context: String) -> PostgresError {
    // 42501 insufficient_privilege: "permission denied to start WAL sender" / "must be superuser or
    // replication role to start walsender".
    let about_walsender = error.message.contains("WAL sender") || error.message.contains("walsender");
    if error.code == "42501" && about_walsender {
        return PostgresError::NoReplicationPrivilege { user: endpoint.user.clone() };
    }
    PostgresError::server(context, error)
}

/// `150018` from `15.18 (Debian 15.18-1)`, `90624` from `9.6.24`, `170000` from `17beta1`.
pub(crate) fn parse_server_version(text: &str) -> Option<u32> {
    let numeric: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let mut parts = numeric.split('.').filter(|p| !p.is_empty()).map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().transpose().ok()?.unwrap_or(0);
    if major >= 10 {
        major.checked_mul(10_000)?.checked_add(minor)
    } else {
        let patch = parts.next().transpose().ok()?.unwrap_or(0);
        Some(major * 10_000 + minor * 100 + patch)
    }
}

fn create_slot_command(
    slot: &str,
    plugin: &str,
    temporary: bool,
    snapshot: SlotSnapshot,
    version: u32,
) -> String {
    let mut command = format!("CREATE_REPLICATION_SLOT {}", quote_identifier(slot));
    if temporary {
        command.push_str(" TEMPORARY");
    }
    command.push_str(" LOGICAL ");
    command.push_str(&quote_identifier(plugin));
    command.push_str(match (version >= 150_000, snapshot) {
        (true, SlotSnapshot::Export) => " (SNAPSHOT 'export')",
        (true, SlotSnapshot::Use) => " (SNAPSHOT 'use')",
        (true, SlotSnapshot::NoExport) => " (SNAPSHOT 'nothing')",
        (false, SlotSnapshot::Export) => " EXPORT_SNAPSHOT",
        (false, SlotSnapshot::Use) => " USE_SNAPSHOT",
        (false, SlotSnapshot::NoExport) => " NOEXPORT_SNAPSHOT",
    });
    command
}

fn start_replication_command(slot: &str, start: Lsn, options: &[(&str, String)]) -> String {
    let mut command = format!("START_REPLICATION SLOT {} LOGICAL {start}", quote_identifier(slot));
    if !options.is_empty() {
        let list: Vec<String> = options
            .iter()
            .map(|(name, value)| format!("{} {}", quote_identifier(name), quote_literal(value)))
            .collect();
        command.push_str(" (");
        command.push_str(&list.join(", "));
        command.push(')');
    }
    command
}

/// A double-quoted identifier, as both SQL and the replication grammar read it.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted literal for the replication grammar (which knows no backslash escapes).
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The first column of the first row.
fn column<'a>(rows: &'a [Vec<Option<String>>], index: usize, what: &str) -> Result<&'a str, PostgresError> {
    rows.first().and_then(|r| r.get(index)).and_then(|v| v.as_deref()).ok_or_else(|| missing(what))
}

fn missing(what: &str) -> PostgresError {
    PostgresError::Protocol(format!("{what} returned no or an incomplete row"))
}

/// The query, shortened, for error context.
fn query_context(sql: &str) -> String {
    const MAX: usize = 120;
    let mut end = sql.len().min(MAX);
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < sql.len() { "..." } else { "" };
    format!("query `{}{ellipsis}` failed", &sql[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        assert_eq!(parse_server_version("15.18 (Debian 15.18-1.pgdg120+1)"), Some(150018));
        assert_eq!(parse_server_version("16.0"), Some(160000));
        assert_eq!(parse_server_version("17beta1"), Some(170000));
        assert_eq!(parse_server_version("9.6.24"), Some(90624));
        assert_eq!(parse_server_version("EnterpriseDB"), None);
    }

    #[test]
    fn commands_quote_names_and_values() {
        assert_eq!(
            create_slot_command("s", "pgoutput", true, SlotSnapshot::Export, 150018),
            "CREATE_REPLICATION_SLOT \"s\" TEMPORARY LOGICAL \"pgoutput\" (SNAPSHOT 'export')"
        );
        assert_eq!(
            create_slot_command("s", "pgoutput", false, SlotSnapshot::NoExport, 140010),
            "CREATE_REPLICATION_SLOT \"s\" LOGICAL \"pgoutput\" NOEXPORT_SNAPSHOT"
        );
        assert_eq!(
            start_replication_command(
                "my\"slot",
                Lsn(0x16_B374_D848),
                &[("proto_version", "1".to_owned()), ("publication_names", "\"a\",\"it's\"".to_owned())]
            ),
            "START_REPLICATION SLOT \"my\"\"slot\" LOGICAL 16/B374D848 (\"proto_version\" '1', \
             \"publication_names\" '\"a\",\"it''s\"')"
        );
        assert_eq!(start_replication_command("s", Lsn(0), &[]), "START_REPLICATION SLOT \"s\" LOGICAL 0/0");
    }

    #[test]
    fn long_queries_are_shortened_on_a_char_boundary() {
        let sql = "é".repeat(100);
        let context = query_context(&sql);
        assert!(context.ends_with("...` failed"));
        assert!(context.len() < 140);
    }
}
