//! pgoutput logical replication messages (protocol versions 1-4), decoded without I/O.
//!
//! The replication reader hands [`decode`] the payload of each `XLogData` frame together with a
//! [`DecodeContext`]; it gets back a [`LogicalMessage`] that borrows strings, tuple values and
//! message contents from that payload, so decoding copies nothing but the small per-column
//! vectors.
//!
//! The wire format is PostgreSQL's "Logical Replication Message Formats": a one-byte tag, then
//! big-endian integers, NUL-terminated strings and length-prefixed byte strings. Which messages
//! and fields exist depends on the negotiated `proto_version`:
//!
//! | version | server | adds |
//! |---|---|---|
//! | 1 | 10+ | transactions, Relation/Type, Insert/Update/Delete, Truncate (11+), Origin, Message (14+) |
//! | 2 | 14+ | streaming of in-progress transactions: Stream Start/Stop/Commit/Abort, and a leading xid on changes between Stream Start and Stop |
//! | 3 | 15+ | two-phase commit: Begin Prepare, Prepare, Commit Prepared, Rollback Prepared, Stream Prepare |
//! | 4 | 16+ | parallel streaming: Stream Abort may carry the abort LSN and time |
//!
//! Decoding is strict: a message that needs a newer protocol than the negotiated one, an unknown
//! tag or code, a truncated field, invalid UTF-8 in a name, or bytes left over after the last field
//! is a [`DecodeError`] naming the message, the field and the byte offset. A stream that violates
//! the format once cannot be resynchronised, so failing loudly beats guessing.

mod decode;
mod error;
mod tuple;

#[cfg(test)]
mod tests;

use sluice_core::{Lsn, ReplicaIdentity, Timestamp, Xid};

pub use decode::decode;
pub use error::{DecodeError, DecodeErrorKind, ItemPosition};
pub use tuple::{OldTuple, TupleColumn, TupleData};

/// What the decoder must know that the bytes do not say.
///
/// pgoutput messages are not self-describing: whether a change carries a leading xid depends on
/// whether it sits inside a streamed chunk, which only the reader (having seen Stream Start) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeContext {
    /// The `proto_version` passed to `START_REPLICATION`.
    pub protocol_version: u32,
    /// True between Stream Start and Stream Stop, where Relation, Type, Insert, Update, Delete,
    /// Truncate and Message carry the xid of the streamed (sub)transaction first.
    pub in_stream: bool,
}

/// The kind of a pgoutput message, named as in PostgreSQL's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `B`
    Begin,
    /// `C`
    Commit,
    /// `O`
    Origin,
    /// `R`
    Relation,
    /// `Y`
    Type,
    /// `I`
    Insert,
    /// `U`
    Update,
    /// `D`
    Delete,
    /// `T`
    Truncate,
    /// `M`
    Message,
    /// `S` (v2+)
    StreamStart,
    /// `E` (v2+)
    StreamStop,
    /// `c` (v2+)
    StreamCommit,
    /// `A` (v2+)
    StreamAbort,
    /// `b` (v3+)
    BeginPrepare,
    /// `P` (v3+)
    Prepare,
    /// `K` (v3+)
    CommitPrepared,
    /// `r` (v3+)
    RollbackPrepared,
    /// `p` (v3+)
    StreamPrepare,
}

impl MessageType {
    /// The message type a tag byte announces.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            b'B' => MessageType::Begin,
            b'C' => MessageType::Commit,
            b'O' => MessageType::Origin,
            b'R' => MessageType::Relation,
            b'Y' => MessageType::Type,
            b'I' => MessageType::Insert,
            b'U' => MessageType::Update,
            b'D' => MessageType::Delete,
            b'T' => MessageType::Truncate,
            b'M' => MessageType::Message,
            b'S' => MessageType::StreamStart,
            b'E' => MessageType::StreamStop,
            b'c' => MessageType::StreamCommit,
            b'A' => MessageType::StreamAbort,
            b'b' => MessageType::BeginPrepare,
            b'P' => MessageType::Prepare,
            b'K' => MessageType::CommitPrepared,
            b'r' => MessageType::RollbackPrepared,
            b'p' => MessageType::StreamPrepare,
            _ => return None,
        })
    }

    /// The tag byte on the wire.
    pub fn tag(self) -> u8 {
        match self {
            MessageType::Begin => b'B',
            MessageType::Commit => b'C',
            MessageType::Origin => b'O',
            MessageType::Relation => b'R',
            MessageType::Type => b'Y',
            MessageType::Insert => b'I',
            MessageType::Update => b'U',
            MessageType::Delete => b'D',
            MessageType::Truncate => b'T',
            MessageType::Message => b'M',
            MessageType::StreamStart => b'S',
            MessageType::StreamStop => b'E',
            MessageType::StreamCommit => b'c',
            MessageType::StreamAbort => b'A',
            MessageType::BeginPrepare => b'b',
            MessageType::Prepare => b'P',
            MessageType::CommitPrepared => b'K',
            MessageType::RollbackPrepared => b'r',
            MessageType::StreamPrepare => b'p',
        }
    }

    /// The lowest protocol version in which the server may send this message.
    pub fn min_protocol_version(self) -> u32 {
        match self {
            MessageType::StreamStart
            | MessageType::StreamStop
            | MessageType::StreamCommit
            | MessageType::StreamAbort => 2,
            MessageType::BeginPrepare
            | MessageType::Prepare
            | MessageType::CommitPrepared
            | MessageType::RollbackPrepared
            | MessageType::StreamPrepare => 3,
            _ => 1,
        }
    }

    /// The name PostgreSQL's documentation uses.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Begin => "Begin",
            MessageType::Commit => "Commit",
            MessageType::Origin => "Origin",
            MessageType::Relation => "Relation",
            MessageType::Type => "Type",
            MessageType::Insert => "Insert",
            MessageType::Update => "Update",
            MessageType::Delete => "Delete",
            MessageType::Truncate => "Truncate",
            MessageType::Message => "Message",
            MessageType::StreamStart => "Stream Start",
            MessageType::StreamStop => "Stream Stop",
            MessageType::StreamCommit => "Stream Commit",
            MessageType::StreamAbort => "Stream Abort",
            MessageType::BeginPrepare => "Begin Prepare",
            MessageType::Prepare => "Prepare",
            MessageType::CommitPrepared => "Commit Prepared",
            MessageType::RollbackPrepared => "Rollback Prepared",
            MessageType::StreamPrepare => "Stream Prepare",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One decoded pgoutput message, borrowing from the buffer it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicalMessage<'a> {
    /// Start of a (non-streamed) transaction.
    Begin(Begin),
    /// End of a (non-streamed) transaction.
    Commit(Commit),
    /// The transaction was replicated into this server from elsewhere.
    Origin(OriginMessage<'a>),
    /// A table's shape; precedes the first change to it and follows every schema change.
    Relation(Relation<'a>),
    /// A non-built-in type used by a following Relation.
    Type(TypeMessage<'a>),
    /// A row was inserted.
    Insert(Insert<'a>),
    /// A row was updated.
    Update(Update<'a>),
    /// A row was deleted.
    Delete(Delete<'a>),
    /// One `TRUNCATE` statement, possibly over several tables.
    Truncate(Truncate),
    /// A logical decoding message from `pg_logical_emit_message`.
    Message(Message<'a>),
    /// A chunk of an in-progress transaction begins (v2+).
    StreamStart {
        /// The top-level transaction being streamed.
        xid: Xid,
        /// True for the transaction's first chunk.
        first_segment: bool,
    },
    /// The current chunk of an in-progress transaction ends (v2+).
    StreamStop,
    /// A streamed transaction committed (v2+).
    StreamCommit {
        /// The streamed transaction.
        xid: Xid,
        /// Currently unused by PostgreSQL (0).
        flags: u8,
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// LSN just past the commit record.
        end_lsn: Lsn,
        /// Commit time.
        commit_ts: Timestamp,
    },
    /// A streamed transaction or one of its subtransactions aborted (v2+).
    StreamAbort {
        /// The top-level transaction.
        xid: Xid,
        /// The aborted subtransaction; equal to `xid` when the whole transaction aborted.
        subxid: Xid,
        /// LSN of the abort record; only sent with v4 parallel streaming.
        abort_lsn: Option<Lsn>,
        /// Abort time; only sent with v4 parallel streaming.
        abort_ts: Option<Timestamp>,
    },
    /// A transaction being prepared with `PREPARE TRANSACTION` begins (v3+).
    BeginPrepare {
        /// LSN of the prepare record.
        prepare_lsn: Lsn,
        /// LSN just past the prepared transaction.
        end_lsn: Lsn,
        /// Prepare time.
        prepare_ts: Timestamp,
        /// The transaction.
        xid: Xid,
        /// The global identifier given to `PREPARE TRANSACTION`.
        gid: &'a str,
    },
    /// The transaction begun by Begin Prepare was prepared (v3+).
    Prepare {
        /// Currently unused by PostgreSQL (0).
        flags: u8,
        /// LSN of the prepare record.
        prepare_lsn: Lsn,
        /// LSN just past the prepared transaction.
        end_lsn: Lsn,
        /// Prepare time.
        prepare_ts: Timestamp,
        /// The transaction.
        xid: Xid,
        /// The global identifier.
        gid: &'a str,
    },
    /// `COMMIT PREPARED` (v3+).
    CommitPrepared {
        /// Currently unused by PostgreSQL (0).
        flags: u8,
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// LSN just past the commit record.
        end_lsn: Lsn,
        /// Commit time.
        commit_ts: Timestamp,
        /// The transaction.
        xid: Xid,
        /// The global identifier.
        gid: &'a str,
    },
    /// `ROLLBACK PREPARED` (v3+).
    RollbackPrepared {
        /// Currently unused by PostgreSQL (0).
        flags: u8,
        /// LSN just past the prepared transaction.
        prepare_end_lsn: Lsn,
        /// LSN just past the rollback record.
        rollback_end_lsn: Lsn,
        /// Prepare time.
        prepare_ts: Timestamp,
        /// Rollback time.
        rollback_ts: Timestamp,
        /// The transaction.
        xid: Xid,
        /// The global identifier.
        gid: &'a str,
    },
    /// A streamed transaction was prepared (v3+).
    StreamPrepare {
        /// Currently unused by PostgreSQL (0).
        flags: u8,
        /// LSN of the prepare record.
        prepare_lsn: Lsn,
        /// LSN just past the prepared transaction.
        end_lsn: Lsn,
        /// Prepare time.
        prepare_ts: Timestamp,
        /// The transaction.
        xid: Xid,
        /// The global identifier.
        gid: &'a str,
    },
}

impl LogicalMessage<'_> {
    /// The kind of this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            LogicalMessage::Begin(_) => MessageType::Begin,
            LogicalMessage::Commit(_) => MessageType::Commit,
            LogicalMessage::Origin(_) => MessageType::Origin,
            LogicalMessage::Relation(_) => MessageType::Relation,
            LogicalMessage::Type(_) => MessageType::Type,
            LogicalMessage::Insert(_) => MessageType::Insert,
            LogicalMessage::Update(_) => MessageType::Update,
            LogicalMessage::Delete(_) => MessageType::Delete,
            LogicalMessage::Truncate(_) => MessageType::Truncate,
            LogicalMessage::Message(_) => MessageType::Message,
            LogicalMessage::StreamStart { .. } => MessageType::StreamStart,
            LogicalMessage::StreamStop => MessageType::StreamStop,
            LogicalMessage::StreamCommit { .. } => MessageType::StreamCommit,
            LogicalMessage::StreamAbort { .. } => MessageType::StreamAbort,
            LogicalMessage::BeginPrepare { .. } => MessageType::BeginPrepare,
            LogicalMessage::Prepare { .. } => MessageType::Prepare,
            LogicalMessage::CommitPrepared { .. } => MessageType::CommitPrepared,
            LogicalMessage::RollbackPrepared { .. } => MessageType::RollbackPrepared,
            LogicalMessage::StreamPrepare { .. } => MessageType::StreamPrepare,
        }
    }
}

/// Start of a transaction (`B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begin {
    /// LSN of the transaction's commit record.
    pub final_lsn: Lsn,
    /// Commit time.
    pub commit_ts: Timestamp,
    /// The transaction id.
    pub xid: Xid,
}

/// End of a transaction (`C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Currently unused by PostgreSQL (0).
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record: where replication resumes after this transaction.
    pub end_lsn: Lsn,
    /// Commit time.
    pub commit_ts: Timestamp,
}

/// The replication origin of the current transaction (`O`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginMessage<'a> {
    /// Commit LSN on the origin server.
    pub commit_lsn: Lsn,
    /// The origin's name.
    pub name: &'a str,
}

/// A table's shape (`R`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// The table's OID, which later changes refer to.
    pub relation_id: u32,
    /// The schema; empty for `pg_catalog`.
    pub namespace: &'a str,
    /// The table name.
    pub name: &'a str,
    /// What old-row data updates and deletes carry.
    pub replica_identity: ReplicaIdentity,
    /// The published columns, in the order tuples carry them.
    pub columns: Vec<RelationColumn<'a>>,
}

/// One column of a [`Relation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationColumn<'a> {
    /// Part of the replica identity key.
    pub is_key: bool,
    /// The column name.
    pub name: &'a str,
    /// The column's type OID.
    pub type_oid: u32,
    /// `atttypmod` (e.g. length or precision); -1 when none.
    pub type_modifier: i32,
}

/// A type referenced by a following Relation (`Y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeMessage<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// The type's OID.
    pub type_oid: u32,
    /// The type's schema; empty for `pg_catalog`.
    pub namespace: &'a str,
    /// The type name.
    pub name: &'a str,
}

/// An inserted row (`I`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// The table's OID.
    pub relation_id: u32,
    /// The new row.
    pub new: TupleData<'a>,
}

/// An updated row (`U`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// The table's OID.
    pub relation_id: u32,
    /// The old key or row; sent only when the replica identity changed or is FULL.
    pub old: Option<OldTuple<'a>>,
    /// The new row; TOASTed columns that did not change are [`TupleColumn::UnchangedToast`].
    pub new: TupleData<'a>,
}

/// A deleted row (`D`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// The table's OID.
    pub relation_id: u32,
    /// The old key or row.
    pub old: OldTuple<'a>,
}

/// A `TRUNCATE` (`T`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// `TRUNCATE ... CASCADE`.
    pub cascade: bool,
    /// `TRUNCATE ... RESTART IDENTITY`.
    pub restart_identity: bool,
    /// The OIDs of the truncated tables.
    pub relation_ids: Vec<u32>,
}

/// A logical decoding message (`M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The streamed transaction, when sent between Stream Start and Stream Stop.
    pub xid: Option<Xid>,
    /// Emitted as part of the transaction (true) or immediately (false).
    pub transactional: bool,
    /// LSN of the message.
    pub lsn: Lsn,
    /// The prefix given to `pg_logical_emit_message`.
    pub prefix: &'a str,
    /// The payload.
    pub content: &'a [u8],
}
