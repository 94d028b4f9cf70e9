//! Message framing of the frontend/backend protocol over a plain or TLS socket.
//!
//! [`Wire`] owns one read buffer and one write buffer. Reading parses at most one message per call
//! from the buffer and refills it with a single `read_buf` only when no complete message is there,
//! so a read cancelled at its await point loses nothing (the bytes stay in the buffer) and the
//! buffer never holds much more than one message plus one read chunk: backpressure on the server
//! comes from not calling [`Wire::read`]. `CopyData` payloads are split off the buffer without
//! copying. Writes are queued into the write buffer and drained by [`Wire::flush`], which is
//! cancel-safe too: whatever was not yet written stays queued for the next flush.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{ErrorFields, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::{PostgresError, ServerError};

use super::tls;

/// Bytes requested from the socket per read when the next message is small.
const READ_CHUNK: usize = 64 * 1024;
/// Refill without growing while at least this much spare capacity is left.
const MIN_SPARE: usize = 4 * 1024;
/// Largest message accepted: PostgreSQL's 1 GiB allocation limit plus headroom. A larger length is
/// a corrupt stream, not a reason to allocate.
const MAX_MESSAGE_LEN: usize = (1 << 30) + READ_CHUNK;

/// The socket, encrypted or not.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    /// True when the connection is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// SCRAM channel-binding data, when encrypted and the certificate allows it.
    pub(crate) fn channel_binding(&self) -> Option<Vec<u8>> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(tls) => tls::server_end_point(tls.get_ref().1),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// One backend message.
pub(crate) enum Backend {
    /// A `CopyData` payload (without tag and length).
    CopyData(Bytes),
    /// `CopyBothResponse`: the server entered streaming replication (postgres-protocol does not
    /// know this message).
    CopyBoth,
    /// Any other message.
    Message(Message),
}

impl Backend {
    /// The message's name, for protocol-violation errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::CopyData(_) => "CopyData",
            Backend::CopyBoth => "CopyBothResponse",
            Backend::Message(m) => match m {
                Message::AuthenticationOk
                | Message::AuthenticationCleartextPassword
                | Message::AuthenticationMd5Password(_)
                | Message::AuthenticationSasl(_)
                | Message::AuthenticationSaslContinue(_)
                | Message::AuthenticationSaslFinal(_)
                | Message::AuthenticationGss
                | Message::AuthenticationGssContinue(_)
                | Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationSspi => "Authentication",
                Message::BackendKeyData(_) => "BackendKeyData",
                Message::CommandComplete(_) => "CommandComplete",
                Message::CopyDone => "CopyDone",
                Message::CopyInResponse(_) => "CopyInResponse",
                Message::CopyOutResponse(_) => "CopyOutResponse",
                Message::DataRow(_) => "DataRow",
                Message::EmptyQueryResponse => "EmptyQueryResponse",
                Message::ErrorResponse(_) => "ErrorResponse",
                Message::NoticeResponse(_) => "NoticeResponse",
                Message::NotificationResponse(_) => "NotificationResponse",
                Message::ParameterStatus(_) => "ParameterStatus",
                Message::ReadyForQuery(_) => "ReadyForQuery",
                Message::RowDescription(_) => "RowDescription",
                _ => "an extended-protocol message",
            },
        }
    }
}

/// A framed protocol connection.
pub(crate) struct Wire {
    transport: Transport,
    read: BytesMut,
    write: BytesMut,
    /// Bytes were handed to the transport but not yet flushed (TLS buffers inside rustls).
    unflushed: bool,
    address: String,
}

impl fmt::Debug for Wire {
    /// Buffers may hold row values or a password message, so only their sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wire")
            .field("address", &self.address)
            .field("tls", &self.transport.is_tls())
            .field("buffered", &self.read.len())
            .field("queued", &self.write.len())
            .finish()
    }
}

impl Wire {
    /// Wraps a connected transport; `address` (`host:port`) labels errors.
    pub(crate) fn new(transport: Transport, address: String) -> Wire {
        Wire {
            transport,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: BytesMut::new(),
            unflushed: false,
            address,
        }
    }

    /// Like [`Wire::new`] with bytes already read from the socket.
    pub(crate) fn with_buffered(transport: Transport, address: String, buffered: &[u8]) -> Wire {
        let mut wire = Wire::new(transport, address);
        wire.read.extend_from_slice(buffered);
        wire
    }

    /// `host:port` of the server.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The underlying socket.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The write buffer, for postgres-protocol's encoders; [`Wire::flush`] sends it.
    pub(crate) fn out(&mut self) -> &mut BytesMut {
        &mut self.write
    }

    /// True while queued bytes have not reached the socket.
    pub(crate) fn has_pending_writes(&self) -> bool {
        !self.write.is_empty() || self.unflushed
    }

    /// Sends everything queued. Cancel-safe: unsent bytes stay queued.
    pub(crate) async fn flush(&mut self) -> Result<(), PostgresError> {
        while !self.write.is_empty() {
            let n = self.transport.write_buf(&mut self.write).await.map_err(|e| self.io_error(e))?;
            self.unflushed = true;
            if n == 0 {
                return Err(self
                    .io_error(io::Error::new(io::ErrorKind::WriteZero, "the socket accepts no more data")));
            }
        }
        if self.unflushed {
            self.transport.flush().await.map_err(|e| self.io_error(e))?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// The next message. Cancel-safe: a cancelled call leaves every received byte buffered.
    pub(crate) async fn read(&mut self) -> Result<Backend, PostgresError> {
        loop {
            if let Some(message) = self.parse()? {
                return Ok(message);
            }
            self.fill().await?;
        }
    }

    /// Closes the socket (sending TLS close_notify); errors are irrelevant by then.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.transport.shutdown().await;
    }

    /// An I/O error on this connection.
    pub(crate) fn io_error(&self, source: io::Error) -> PostgresError {
        if let Some(tls) = source.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return PostgresError::Tls { endpoint: self.address.clone(), message: tls.to_string() };
        }
        PostgresError::Io { endpoint: self.address.clone(), source }
    }

    /// Splits one complete message off the buffer, if there is one.
    fn parse(&mut self) -> Result<Option<Backend>, PostgresError> {
        let Some(total) = self.frame_len()? else {
            return Ok(None);
        };
        if self.read.len() < total {
            return Ok(None);
        }
        let tag = self.read[0];
        let mut frame = self.read.split_to(total);
        match tag {
            b'd' => {
                frame.advance(5);
                Ok(Some(Backend::CopyData(frame.freeze())))
            }
            b'W' => Ok(Some(Backend::CopyBoth)),
            _ => match Message::parse(&mut frame) {
                Ok(Some(message)) => Ok(Some(Backend::Message(message))),
                Ok(None) => Err(PostgresError::Protocol(format!("truncated {:?} message", char::from(tag)))),
                Err(e) => {
                    Err(PostgresError::Protocol(format!("malformed {:?} message: {e}", char::from(tag))))
                }
            },
        }
    }

    /// Total length of the message at the head of the buffer, once its header is in.
    fn frame_len(&self) -> Result<Option<usize>, PostgresError> {
        let Some(header) = self.read.get(..5) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if !(4..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(PostgresError::Protocol(format!(
                "message {:?} has an invalid length of {len} bytes",
                char::from(header[0])
            )));
        }
        Ok(Some(len + 1))
    }

    /// Reads once from the socket, making room for the rest of the current message.
    async fn fill(&mut self) -> Result<(), PostgresError> {
        let wanted = self.frame_len()?.unwrap_or(5);
        let missing = wanted.saturating_sub(self.read.len()).max(1);
        let spare = self.read.capacity() - self.read.len();
        if spare < missing || spare < MIN_SPARE {
            // Grow with the data actually arriving, not with a length the peer merely declared.
            self.read.reserve(missing.clamp(READ_CHUNK, 1 << 20));
        }
        let n = self.transport.read_buf(&mut self.read).await.map_err(|e| self.io_error(e))?;
        if n == 0 {
            return Err(self.io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection unexpectedly",
            )));
        }
        Ok(())
    }
}

/// A [`ServerError`] from the fields of an `ErrorResponse` or `NoticeResponse`. Lossy on
/// non-UTF-8 text (early errors come in the server's encoding) and on malformed field lists.
pub(crate) fn server_error(mut fields: ErrorFields<'_>) -> ServerError {
    let mut error = ServerError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    let mut localized_severity = None;
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'V' => error.severity = value,
            b'S' => localized_severity = Some(value),
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' => error.detail = Some(value),
            b'H' => error.hint = Some(value),
            _ => {}
        }
    }
    if error.severity.is_empty() {
        error.severity = localized_severity.unwrap_or_else(|| "ERROR".to_owned());
    }
    error
}

/// Logs a `NoticeResponse` at a level matching its severity.
pub(crate) fn log_notice(fields: ErrorFields<'_>, address: &str) {
    let notice = server_error(fields);
    match notice.severity.as_str() {
        "WARNING" => tracing::warn!(endpoint = address, code = %notice.code, "server: {}", notice.message),
        "DEBUG" | "LOG" => {
            tracing::debug!(endpoint = address, code = %notice.code, "server: {}", notice.message)
        }
        _ => tracing::info!(endpoint = address, code = %notice.code, "server: {}", notice.message),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (Wire, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (Wire::new(Transport::Plain(client.unwrap()), addr.to_string()), server.unwrap().0)
    }

    fn copy_data(payload: &[u8]) -> Vec<u8> {
        let mut m = vec![b'd'];
        m.extend_from_slice(&(payload.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_no_bytes() {
        let (mut wire, mut server) = pair().await;
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let message = copy_data(&payload);
        let (head, tail) = message.split_at(70_000);
        server.write_all(head).await.unwrap();
        // The message is incomplete: reads time out (are cancelled) repeatedly.
        for _ in 0..3 {
            assert!(tokio::time::timeout(Duration::from_millis(30), wire.read()).await.is_err());
        }
        server.write_all(tail).await.unwrap();
        server.write_all(&copy_data(b"next")).await.unwrap();
        match wire.read().await.unwrap() {
            Backend::CopyData(data) => assert_eq!(&data[..], &payload[..]),
            other => panic!("unexpected {}", other.name()),
        }
        match wire.read().await.unwrap() {
            Backend::CopyData(data) => assert_eq!(&data[..], b"next"),
            other => panic!("unexpected {}", other.name()),
        }
    }

    #[tokio::test]
    async fn garbage_lengths_are_protocol_errors_not_allocations() {
        let (mut wire, mut server) = pair().await;
        server.write_all(&[b'd', 0xFF, 0xFF, 0xFF, 0xFF]).await.unwrap();
        assert!(matches!(wire.read().await, Err(PostgresError::Protocol(_))));
        let (mut wire, mut server) = pair().await;
        server.write_all(&[b'Z', 0, 0, 0, 2]).await.unwrap();
        assert!(matches!(wire.read().await, Err(PostgresError::Protocol(_))));
    }

    #[tokio::test]
    async fn eof_is_an_io_error() {
        let (mut wire, server) = pair().await;
        drop(server);
        assert!(matches!(wire.read().await, Err(PostgresError::Io { .. })));
    }

    #[test]
    fn server_error_prefers_the_unlocalized_severity() {
        let mut body = BytesMut::new();
        for (t, v) in [(b'S', "FEHLER"), (b'V', "ERROR"), (b'C', "55006"), (b'M', "busy"), (b'H', "wait")] {
            body.extend_from_slice(&[t]);
            body.extend_from_slice(v.as_bytes());
            body.extend_from_slice(&[0]);
        }
        body.extend_from_slice(&[0]);
        let mut frame = BytesMut::new();
        frame.extend_from_slice(b"E");
        frame.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        frame.extend_from_slice(&body);
        let Ok(Some(Message::ErrorResponse(e))) = Message::parse(&mut frame) else { panic!("not parsed") };
        let error = server_error(e.fields());
        assert_eq!(error.severity, "ERROR");
        assert_eq!(error.code, "55006");
        assert_eq!(error.message, "busy");
        assert_eq!(error.hint.as_deref(), Some("wait"));
    }
}
