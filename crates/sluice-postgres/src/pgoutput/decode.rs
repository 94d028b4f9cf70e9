//! The parser: one pass over a message with a bounds-checked cursor.
//!
//! Every read goes through [`Cursor`], which checks the bytes are there before taking them and
//! turns a shortfall into a [`DecodeError`] naming the field, so no input can make the decoder
//! panic or allocate more than a small multiple of its own size.

use sluice_core::time::PG_EPOCH_MICROS;
use sluice_core::{Lsn, ReplicaIdentity, Timestamp, Xid};

use super::error::{DecodeError, DecodeErrorKind};
use super::tuple::{OldTuple, TupleSection, read_tuple};
use super::{
    Begin, Commit, DecodeContext, Delete, Insert, LogicalMessage, Message, MessageType, OriginMessage,
    Relation, RelationColumn, Truncate, TypeMessage, Update,
};

/// Smallest encoding of a Relation column: flags, an empty name's NUL, type OID and modifier.
const MIN_RELATION_COLUMN_LEN: usize = 1 + 1 + 4 + 4;

/// Decodes one pgoutput message (the payload of an `XLogData` frame).
///
/// The result borrows from `buf`. Fails on anything the format does not allow, including bytes
/// after the last field.
pub fn decode(buf: &[u8], ctx: DecodeContext) -> Result<LogicalMessage<'_>, DecodeError> {
    let Some(&tag) = buf.first() else {
        return Err(DecodeError::new(None, "message tag", 0, DecodeErrorKind::Truncated));
    };
    let Some(message) = MessageType::from_tag(tag) else {
        return Err(DecodeError::new(None, "message tag", 0, DecodeErrorKind::UnknownTag(tag)));
    };
    let required = message.min_protocol_version();
    if ctx.protocol_version < required {
        return Err(DecodeError::new(
            Some(message),
            "message tag",
            0,
            DecodeErrorKind::ProtocolVersion { required, negotiated: ctx.protocol_version },
        ));
    }
    let mut c = Cursor { buf, pos: 1, message };
    let decoded = match message {
        MessageType::Begin => LogicalMessage::Begin(Begin {
            final_lsn: c.lsn("final LSN")?,
            commit_ts: c.timestamp("commit timestamp")?,
            xid: c.xid("xid")?,
        }),
        MessageType::Commit => LogicalMessage::Commit(Commit {
            flags: c.u8("flags")?,
            commit_lsn: c.lsn("commit LSN")?,
            end_lsn: c.lsn("end LSN")?,
            commit_ts: c.timestamp("commit timestamp")?,
        }),
        MessageType::Origin => LogicalMessage::Origin(OriginMessage {
            commit_lsn: c.lsn("origin commit LSN")?,
            name: c.cstr("origin name")?,
        }),
        MessageType::Relation => LogicalMessage::Relation(relation(&mut c, ctx)?),
        MessageType::Type => LogicalMessage::Type(TypeMessage {
            xid: c.stream_xid(ctx)?,
            type_oid: c.u32("type OID")?,
            namespace: c.cstr("namespace")?,
            name: c.cstr("type name")?,
        }),
        MessageType::Insert => {
            let xid = c.stream_xid(ctx)?;
            let relation_id = c.u32("relation OID")?;
            let marker_offset = c.offset();
            match c.u8("tuple marker")? {
                b'N' => {}
                other => return Err(c.unknown_code("tuple marker", marker_offset, other)),
            }
            LogicalMessage::Insert(Insert { xid, relation_id, new: read_tuple(&mut c, TupleSection::New)? })
        }
        MessageType::Update => LogicalMessage::Update(update(&mut c, ctx)?),
        MessageType::Delete => {
            let xid = c.stream_xid(ctx)?;
            let relation_id = c.u32("relation OID")?;
            let marker_offset = c.offset();
            let old = match c.u8("tuple marker")? {
                b'K' => OldTuple::Key(read_tuple(&mut c, TupleSection::Key)?),
                b'O' => OldTuple::Full(read_tuple(&mut c, TupleSection::Old)?),
                other => return Err(c.unknown_code("tuple marker", marker_offset, other)),
            };
            LogicalMessage::Delete(Delete { xid, relation_id, old })
        }
        MessageType::Truncate => LogicalMessage::Truncate(truncate(&mut c, ctx)?),
        MessageType::Message => {
            let xid = c.stream_xid(ctx)?;
            let flags_offset = c.offset();
            let transactional = match c.u8("flags")? {
                0 => false,
                1 => true,
                other => return Err(c.unknown_code("flags", flags_offset, other)),
            };
            LogicalMessage::Message(Message {
                xid,
                transactional,
                lsn: c.lsn("message LSN")?,
                prefix: c.cstr("prefix")?,
                content: c.counted_bytes("content length", "content")?,
            })
        }
        MessageType::StreamStart => {
            let xid = c.xid("xid")?;
            let flag_offset = c.offset();
            let first_segment = match c.u8("first segment flag")? {
                0 => false,
                1 => true,
                other => return Err(c.unknown_code("first segment flag", flag_offset, other)),
            };
            LogicalMessage::StreamStart { xid, first_segment }
        }
        MessageType::StreamStop => LogicalMessage::StreamStop,
        MessageType::StreamCommit => LogicalMessage::StreamCommit {
            xid: c.xid("xid")?,
            flags: c.u8("flags")?,
            commit_lsn: c.lsn("commit LSN")?,
            end_lsn: c.lsn("end LSN")?,
            commit_ts: c.timestamp("commit timestamp")?,
        },
        MessageType::StreamAbort => {
            let xid = c.xid("xid")?;
            let subxid = c.xid("subtransaction xid")?;
            // v4 sends the abort position only with streaming = parallel, and the message does
            // not say which mode is on, so the remaining length decides.
            let (abort_lsn, abort_ts) = if ctx.protocol_version >= 4 && c.remaining() > 0 {
                (Some(c.lsn("abort LSN")?), Some(c.timestamp("abort timestamp")?))
            } else {
                (None, None)
            };
            LogicalMessage::StreamAbort { xid, subxid, abort_lsn, abort_ts }
        }
        MessageType::BeginPrepare => LogicalMessage::BeginPrepare {
            prepare_lsn: c.lsn("prepare LSN")?,
            end_lsn: c.lsn("end LSN")?,
            prepare_ts: c.timestamp("prepare timestamp")?,
            xid: c.xid("xid")?,
            gid: c.cstr("gid")?,
        },
        MessageType::Prepare => LogicalMessage::Prepare {
            flags: c.u8("flags")?,
            prepare_lsn: c.lsn("prepare LSN")?,
            end_lsn: c.lsn("end LSN")?,
            prepare_ts: c.timestamp("prepare timestamp")?,
            xid: c.xid("xid")?,
            gid: c.cstr("gid")?,
        },
        MessageType::CommitPrepared => LogicalMessage::CommitPrepared {
            flags: c.u8("flags")?,
            commit_lsn: c.lsn("commit LSN")?,
            end_lsn: c.lsn("end LSN")?,
            commit_ts: c.timestamp("commit timestamp")?,
            xid: c.xid("xid")?,
            gid: c.cstr("gid")?,
        },
        MessageType::RollbackPrepared => LogicalMessage::RollbackPrepared {
            flags: c.u8("flags")?,
            prepare_end_lsn: c.lsn("prepare end LSN")?,
            rollback_end_lsn: c.lsn("rollback end LSN")?,
            prepare_ts: c.timestamp("prepare timestamp")?,
            rollback_ts: c.timestamp("rollback timestamp")?,
            xid: c.xid("xid")?,
            gid: c.cstr("gid")?,
        },
        MessageType::StreamPrepare => LogicalMessage::StreamPrepare {
            flags: c.u8("flags")?,
            prepare_lsn: c.lsn("prepare LSN")?,
            end_lsn: c.lsn("end LSN")?,
            prepare_ts: c.timestamp("prepare timestamp")?,
            xid: c.xid("xid")?,
            gid: c.cstr("gid")?,
        },
    };
    c.finish()?;
    Ok(decoded)
}

fn relation<'a>(c: &mut Cursor<'a>, ctx: DecodeContext) -> Result<Relation<'a>, DecodeError> {
    let xid = c.stream_xid(ctx)?;
    let relation_id = c.u32("relation OID")?;
    let namespace = c.cstr("namespace")?;
    let name = c.cstr("relation name")?;
    let identity_offset = c.offset();
    let code = c.u8("replica identity")?;
    let replica_identity = ReplicaIdentity::from_code(code)
        .ok_or_else(|| c.unknown_code("replica identity", identity_offset, code))?;
    let count = c.u16("column count")?;
    let mut columns = Vec::with_capacity(usize::from(count).min(c.remaining() / MIN_RELATION_COLUMN_LEN));
    for index in 1..=count {
        let column = relation_column(c).map_err(|e| e.at("column", u32::from(index), u32::from(count)))?;
        columns.push(column);
    }
    Ok(Relation { xid, relation_id, namespace, name, replica_identity, columns })
}

fn relation_column<'a>(c: &mut Cursor<'a>) -> Result<RelationColumn<'a>, DecodeError> {
    // Bit 0 marks key columns; PostgreSQL defines no other bits and its own reader ignores them.
    let flags = c.u8("column flags")?;
    Ok(RelationColumn {
        is_key: flags & 1 != 0,
        name: c.cstr("column name")?,
        type_oid: c.u32("column type OID")?,
        type_modifier: c.i32("column type modifier")?,
    })
}

fn update<'a>(c: &mut Cursor<'a>, ctx: DecodeContext) -> Result<Update<'a>, DecodeError> {
    let xid = c.stream_xid(ctx)?;
    let relation_id = c.u32("relation OID")?;
    let (mut field, mut marker_offset) = ("tuple marker", c.offset());
    let mut marker = c.u8(field)?;
    let old = match marker {
        b'K' => Some(OldTuple::Key(read_tuple(c, TupleSection::Key)?)),
        b'O' => Some(OldTuple::Full(read_tuple(c, TupleSection::Old)?)),
        _ => None,
    };
    if old.is_some() {
        (field, marker_offset) = ("new tuple marker", c.offset());
        marker = c.u8(field)?;
    }
    if marker != b'N' {
        return Err(c.unknown_code(field, marker_offset, marker));
    }
    Ok(Update { xid, relation_id, old, new: read_tuple(c, TupleSection::New)? })
}

fn truncate(c: &mut Cursor<'_>, ctx: DecodeContext) -> Result<Truncate, DecodeError> {
    let xid = c.stream_xid(ctx)?;
    let count = c.u32("relation count")?;
    // Bit 0 is CASCADE and bit 1 RESTART IDENTITY; PostgreSQL's reader ignores other bits.
    let options = c.u8("option bits")?;
    let count_usize = usize::try_from(count).unwrap_or(usize::MAX);
    let mut relation_ids = Vec::with_capacity(count_usize.min(c.remaining() / 4));
    for index in 1..=count {
        relation_ids.push(c.u32("relation OID").map_err(|e| e.at("relation", index, count))?);
    }
    Ok(Truncate { xid, cascade: options & 1 != 0, restart_identity: options & 2 != 0, relation_ids })
}

/// A read position in one message; every accessor checks bounds and names its field on error.
#[derive(Debug)]
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    message: MessageType,
}

impl<'a> Cursor<'a> {
    /// Offset of the next byte to read.
    pub(super) fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn error(&self, field: &'static str, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(Some(self.message), field, offset, kind)
    }

    /// The error for a code byte, already read at `offset`, that the protocol does not define.
    pub(super) fn unknown_code(&self, field: &'static str, offset: usize, code: u8) -> DecodeError {
        self.error(field, offset, DecodeErrorKind::UnknownCode(code))
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let bytes = start
            .checked_add(len)
            .and_then(|end| self.buf.get(start..end))
            .ok_or_else(|| self.error(field, start, DecodeErrorKind::Truncated))?;
        self.pos = start + bytes.len();
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let start = self.pos;
        let bytes = self.take(N, field)?;
        bytes.try_into().map_err(|_| self.error(field, start, DecodeErrorKind::Truncated))
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>(field)?;
        Ok(b)
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_be_bytes)
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub(super) fn lsn(&mut self, field: &'static str) -> Result<Lsn, DecodeError> {
        self.array(field).map(|b| Lsn(u64::from_be_bytes(b)))
    }

    pub(super) fn xid(&mut self, field: &'static str) -> Result<Xid, DecodeError> {
        self.u32(field).map(Xid)
    }

    /// The xid that leads changes inside a streamed chunk.
    pub(super) fn stream_xid(&mut self, ctx: DecodeContext) -> Result<Option<Xid>, DecodeError> {
        if ctx.in_stream { self.xid("streamed transaction xid").map(Some) } else { Ok(None) }
    }

    /// A `TimestampTz`: microseconds since 2000-01-01, with the extremes meaning ±infinity.
    pub(super) fn timestamp(&mut self, field: &'static str) -> Result<Timestamp, DecodeError> {
        let start = self.pos;
        let raw = self.array(field).map(i64::from_be_bytes)?;
        Ok(match raw {
            i64::MAX => Timestamp::PositiveInfinity,
            i64::MIN => Timestamp::NegativeInfinity,
            _ => Timestamp::Micros(
                raw.checked_add(PG_EPOCH_MICROS)
                    .ok_or_else(|| self.error(field, start, DecodeErrorKind::TimestampOutOfRange(raw)))?,
            ),
        })
    }

    /// A NUL-terminated UTF-8 string, without its NUL.
    pub(super) fn cstr(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.error(field, start, DecodeErrorKind::Unterminated))?;
        let bytes = self.take(len, field)?;
        self.pos += 1; // the NUL found above
        std::str::from_utf8(bytes).map_err(|_| self.error(field, start, DecodeErrorKind::InvalidUtf8))
    }

    /// An Int32 length followed by that many bytes.
    pub(super) fn counted_bytes(
        &mut self,
        length_field: &'static str,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let length_offset = self.pos;
        let len = self.i32(length_field)?;
        let len = usize::try_from(len)
            .map_err(|_| self.error(length_field, length_offset, DecodeErrorKind::NegativeLength(len)))?;
        self.take(len, field)
    }

    /// Checks the message ended exactly at the last field.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error("end of message", self.pos, DecodeErrorKind::TrailingBytes(n))),
        }
    }
}
