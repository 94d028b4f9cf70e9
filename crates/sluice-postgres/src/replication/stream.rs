//! The CopyBoth phase of streaming replication: WAL frames in, standby status updates out.
//!
//! [`ReplicationStream::next_frame`] is cancel-safe, so callers can `select!` it against timers
//! and shutdown signals; it reads one frame at a time, so not calling it is the backpressure.
//! Frame payloads are slices of the read buffer, never copies.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use sluice_core::time::PG_EPOCH_MICROS;
use sluice_core::{Lsn, Timestamp};

use crate::error::PostgresError;

use super::wire::{Backend, Wire, log_notice, server_error};

/// One message of the replication stream.
#[derive(Clone, PartialEq, Eq)]
pub enum ReplicationFrame {
    /// WAL data: for logical replication, one output-plugin message (raw pgoutput bytes).
    XLogData {
        /// The WAL position the data starts at (0/0 for some pgoutput messages).
        wal_start: Lsn,
        /// The server's current WAL end.
        wal_end: Lsn,
        /// The server's clock when it sent the frame.
        server_time: Timestamp,
        /// The payload.
        data: Bytes,
    },
    /// A keepalive; with `reply_requested` the server wants a status update now, or it will end
    /// the connection after `wal_sender_timeout`.
    Keepalive {
        /// The server's current WAL end.
        wal_end: Lsn,
        /// The server's clock when it sent the frame.
        server_time: Timestamp,
        /// The server asks for an immediate status update.
        reply_requested: bool,
    },
}

impl fmt::Debug for ReplicationFrame {
    /// Payloads hold row values, so only their length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicationFrame::XLogData { wal_start, wal_end, server_time, data } => f
                .debug_struct("XLogData")
                .field("wal_start", wal_start)
                .field("wal_end", wal_end)
                .field("server_time", server_time)
                .field("len", &data.len())
                .finish(),
            ReplicationFrame::Keepalive { wal_end, server_time, reply_requested } => f
                .debug_struct("Keepalive")
                .field("wal_end", wal_end)
                .field("server_time", server_time)
                .field("reply_requested", reply_requested)
                .finish(),
        }
    }
}

/// A replication connection in CopyBoth mode.
#[derive(Debug)]
pub struct ReplicationStream {
    wire: Wire,
    /// The server sent CopyDone: no more frames, and nothing else until we end the copy too.
    server_done: bool,
    /// The server is back at ReadyForQuery: the copy is over on both sides.
    ready: bool,
}

impl ReplicationStream {
    pub(crate) fn new(wire: Wire) -> Self {
        ReplicationStream { wire, server_done: false, ready: false }
    }

    /// True when the connection is encrypted.
    pub fn uses_tls(&self) -> bool {
        self.wire.transport().is_tls()
    }

    /// The next frame; `None` once the server has ended the copy. Cancel-safe: a cancelled call
    /// loses no data, and status updates left unsent by a cancelled call are sent first.
    pub async fn next_frame(&mut self) -> Result<Option<ReplicationFrame>, PostgresError> {
        if self.server_done || self.ready {
            return Ok(None);
        }
        if self.wire.has_pending_writes() {
            self.wire.flush().await?;
        }
        loop {
            match self.wire.read().await? {
                Backend::CopyData(data) => return parse_frame(data).map(Some),
                Backend::Message(Message::CopyDone) => {
                    self.server_done = true;
                    return Ok(None);
                }
                Backend::Message(Message::CommandComplete(_)) => {
                    self.server_done = true;
                    return Ok(None);
                }
                Backend::Message(Message::ReadyForQuery(_)) => {
                    self.ready = true;
                    return Ok(None);
                }
                Backend::Message(Message::ErrorResponse(body)) => {
                    return Err(PostgresError::server("streaming replication", server_error(body.fields())));
                }
                Backend::Message(Message::NoticeResponse(body)) => {
                    log_notice(body.fields(), self.wire.address())
                }
                Backend::Message(Message::ParameterStatus(_)) => {}
                other => {
                    return Err(PostgresError::Protocol(format!(
                        "unexpected {} during streaming replication",
                        other.name()
                    )));
                }
            }
        }
    }

    /// Sends a standby status update: positions received (`written`), durably processed
    /// (`flushed`, which lets the server advance the slot's `confirmed_flush_lsn` and recycle WAL)
    /// and applied. The message is queued before the first await, so a cancelled call still
    /// delivers it with the next call of either method.
    pub async fn send_status_update(
        &mut self,
        written: Lsn,
        flushed: Lsn,
        applied: Lsn,
        reply_requested: bool,
    ) -> Result<(), PostgresError> {
        let mut body = Vec::with_capacity(34);
        body.put_u8(b'r');
        body.put_u64(written.as_u64());
        body.put_u64(flushed.as_u64());
        body.put_u64(applied.as_u64());
        body.put_i64(pg_now());
        body.put_u8(u8::from(reply_requested));
        frontend::CopyData::new(&body[..])
            .map_err(|e| PostgresError::Protocol(format!("cannot encode a status update: {e}")))?
            .write(self.wire.out());
        self.wire.flush().await
    }

    /// Ends the copy (CopyDone), drains what the server still sends until it is ready for queries
    /// again, and closes the session. Frames still in flight are discarded, so confirm positions
    /// before calling this. May wait for the server to finish sending a large transaction: bound
    /// it with a timeout if that matters.
    pub async fn finish(mut self) -> Result<(), PostgresError> {
        let mut error = None;
        if !self.ready {
            frontend::copy_done(self.wire.out());
            self.wire.flush().await?;
            loop {
                let message = match self.wire.read().await {
                    Ok(message) => message,
                    Err(e) => {
                        return Err(error.map_or(e, |err| PostgresError::server("ending replication", err)));
                    }
                };
                match message {
                    Backend::Message(Message::ReadyForQuery(_)) => break,
                    Backend::Message(Message::ErrorResponse(body)) => {
                        error = Some(server_error(body.fields()))
                    }
                    Backend::Message(Message::NoticeResponse(body)) => {
                        log_notice(body.fields(), self.wire.address())
                    }
                    Backend::CopyData(_)
                    | Backend::Message(
                        Message::CopyDone | Message::CommandComplete(_) | Message::ParameterStatus(_),
                    ) => {}
                    other => {
                        return Err(PostgresError::Protocol(format!(
                            "unexpected {} while ending replication",
                            other.name()
                        )));
                    }
                }
            }
        }
        frontend::terminate(self.wire.out());
        let flushed = self.wire.flush().await;
        self.wire.shutdown().await;
        match error {
            Some(err) => Err(PostgresError::server("ending replication", err)),
            None => flushed,
        }
    }
}

/// Decodes an XLogData (`w`) or primary keepalive (`k`) message.
fn parse_frame(mut data: Bytes) -> Result<ReplicationFrame, PostgresError> {
    const XLOG_HEADER: usize = 1 + 8 + 8 + 8;
    const KEEPALIVE_LEN: usize = 1 + 8 + 8 + 1;
    match data.first() {
        Some(b'w') if data.len() >= XLOG_HEADER => {
            data.advance(1);
            let wal_start = Lsn(data.get_u64());
            let wal_end = Lsn(data.get_u64());
            let server_time = pg_time(data.get_i64());
            Ok(ReplicationFrame::XLogData { wal_start, wal_end, server_time, data })
        }
        Some(b'k') if data.len() >= KEEPALIVE_LEN => {
            data.advance(1);
            let wal_end = Lsn(data.get_u64());
            let server_time = pg_time(data.get_i64());
            let reply_requested = data.get_u8() != 0;
            Ok(ReplicationFrame::Keepalive { wal_end, server_time, reply_requested })
        }
        Some(b'w' | b'k') => Err(PostgresError::Protocol("truncated replication message".to_owned())),
        Some(other) => {
            Err(PostgresError::Protocol(format!("unknown replication message type {:?}", char::from(*other))))
        }
        None => Err(PostgresError::Protocol("empty CopyData message".to_owned())),
    }
}

/// Server clock (µs since 2000-01-01) to a Unix-epoch timestamp.
fn pg_time(micros: i64) -> Timestamp {
    Timestamp::Micros(micros.saturating_add(PG_EPOCH_MICROS))
}

/// Now, in the server's clock format (µs since 2000-01-01).
fn pg_now() -> i64 {
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    i64::try_from(unix).unwrap_or(i64::MAX) - PG_EPOCH_MICROS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlogdata_payload_is_a_slice_of_the_frame() {
        let mut raw = vec![b'w'];
        raw.extend_from_slice(&1u64.to_be_bytes());
        raw.extend_from_slice(&2u64.to_be_bytes());
        raw.extend_from_slice(&0i64.to_be_bytes());
        raw.extend_from_slice(b"BEGIN");
        let frame = Bytes::from(raw);
        let start = frame.as_ptr() as usize;
        match parse_frame(frame).unwrap() {
            ReplicationFrame::XLogData { wal_start, wal_end, server_time, data } => {
                assert_eq!((wal_start, wal_end), (Lsn(1), Lsn(2)));
                assert_eq!(server_time, Timestamp::Micros(PG_EPOCH_MICROS));
                assert_eq!(&data[..], b"BEGIN");
                assert_eq!(data.as_ptr() as usize, start + 25, "payload must not be copied");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn keepalives_and_malformed_frames() {
        let mut raw = vec![b'k'];
        raw.extend_from_slice(&7u64.to_be_bytes());
        raw.extend_from_slice(&1_000_000i64.to_be_bytes());
        raw.push(1);
        assert_eq!(
            parse_frame(Bytes::from(raw.clone())).unwrap(),
            ReplicationFrame::Keepalive {
                wal_end: Lsn(7),
                server_time: Timestamp::Micros(PG_EPOCH_MICROS + 1_000_000),
                reply_requested: true
            }
        );
        for cut in 0..raw.len() {
            assert!(parse_frame(Bytes::copy_from_slice(&raw[..cut])).is_err());
        }
        assert!(parse_frame(Bytes::from_static(b"x123")).is_err());
    }

    #[test]
    fn clock_is_after_2020() {
        // 2020-01-01 is 20 years after the PostgreSQL epoch.
        assert!(pg_now() > 20 * 365 * 86_400_000_000);
    }
}
