//! Change events: what the Postgres reader emits and every later stage consumes.
//!
//! The reader emits a stream of [`SourceEvent`]s in commit order. Each committed transaction is
//! contiguous: `Begin`, its `Change`s, `Commit`. Snapshot rows (op `r`) come as `Change`s outside
//! any transaction. `Progress` tells idle consumers how far the server has gone, so heartbeats can
//! advance a slot that sees no captured changes.

use std::sync::Arc;

use bytes::Bytes;

use crate::lsn::{Lsn, Xid};
use crate::table::TableSchema;
use crate::value::{Row, Timestamp};

/// Debezium's operation codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Op {
    /// `r`: a row read by a snapshot.
    Read,
    /// `c`: an INSERT.
    Create,
    /// `u`: an UPDATE.
    Update,
    /// `d`: a DELETE.
    Delete,
    /// `t`: a TRUNCATE.
    Truncate,
    /// `m`: a logical decoding message (`pg_logical_emit_message`).
    Message,
}

impl Op {
    /// The one-letter code Debezium writes in `op`.
    pub fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }
}

/// Where a snapshot row sits in the snapshot, for Debezium's `source.snapshot` marker.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SnapshotMark {
    /// The first row of the whole snapshot.
    pub first: bool,
    /// The last row of the whole snapshot.
    pub last: bool,
    /// The first row of its table.
    pub first_in_table: bool,
    /// The last row of its table.
    pub last_in_table: bool,
}

impl SnapshotMark {
    /// Debezium's `source.snapshot` value for a snapshot row: `last` wins over `first`, which wins
    /// over `last_in_data_collection`, then `first_in_data_collection`, else `true`.
    pub fn marker(&self) -> &'static str {
        if self.last {
            "last"
        } else if self.first {
            "first"
        } else if self.last_in_table {
            "last_in_data_collection"
        } else if self.first_in_table {
            "first_in_data_collection"
        } else {
            "true"
        }
    }
}

/// A replication origin, set when the change was itself replicated into this database.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Origin {
    /// The origin's name.
    pub name: Arc<str>,
    /// The commit LSN on the origin server.
    pub lsn: Lsn,
}

/// Where an event came from in the source's log.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct SourcePosition {
    /// The LSN of the change itself (for snapshot rows: the slot's consistent point).
    pub lsn: Lsn,
    /// The LSN of the commit record of the enclosing transaction (`None` for snapshot rows and
    /// non-transactional messages).
    pub commit_lsn: Option<Lsn>,
    /// 0-based position of the event within its transaction (or within the snapshot).
    pub seq: u64,
    /// The transaction id (`None` for non-transactional messages; the snapshot's for reads when known).
    pub xid: Option<Xid>,
    /// Commit time of the transaction, or the snapshot's read time for op `r`, in µs since the epoch.
    pub commit_ts: Option<Timestamp>,
    /// The replication origin of the transaction, if any.
    pub origin: Option<Origin>,
    /// Set for snapshot reads.
    pub snapshot: Option<SnapshotMark>,
}

/// What changed.
#[derive(Clone, PartialEq, Debug)]
pub enum Change {
    /// A row was read (snapshot), inserted, updated or deleted.
    Row {
        /// `Read`, `Create`, `Update` or `Delete`.
        op: Op,
        /// The table's schema as it was when the change was decoded.
        table: Arc<TableSchema>,
        /// The old row, as much of it as the replica identity sends (key columns, or all
        /// columns under `REPLICA IDENTITY FULL`); `None` when the WAL carried no old row.
        /// pgoutput sends columns outside the identity as NULL, so they are [`crate::Value::Null`].
        before: Option<Row>,
        /// The new row; `None` for deletes.
        after: Option<Row>,
    },
    /// A table was truncated (one event per table of a `TRUNCATE` statement).
    Truncate {
        /// The truncated table.
        table: Arc<TableSchema>,
        /// `TRUNCATE ... CASCADE`.
        cascade: bool,
        /// `TRUNCATE ... RESTART IDENTITY`.
        restart_identity: bool,
    },
    /// A logical decoding message from `pg_logical_emit_message`.
    Message {
        /// The message prefix.
        prefix: Arc<str>,
        /// Its payload.
        content: Bytes,
        /// Whether it was emitted inside the transaction (true) or immediately (false).
        transactional: bool,
    },
}

/// One captured change with its position in the source log.
#[derive(Clone, PartialEq, Debug)]
pub struct ChangeEvent {
    /// What changed.
    pub change: Change,
    /// Where it sits in the log.
    pub source: SourcePosition,
}

impl ChangeEvent {
    /// The Debezium operation of this event.
    pub fn op(&self) -> Op {
        match &self.change {
            Change::Row { op, .. } => *op,
            Change::Truncate { .. } => Op::Truncate,
            Change::Message { .. } => Op::Message,
        }
    }

    /// The table the event is about, if any.
    pub fn table(&self) -> Option<&Arc<TableSchema>> {
        match &self.change {
            Change::Row { table, .. } | Change::Truncate { table, .. } => Some(table),
            Change::Message { .. } => None,
        }
    }

    /// Approximate size in bytes, for byte-bounded buffers.
    pub fn approx_size(&self) -> usize {
        let payload = match &self.change {
            Change::Row { before, after, .. } => {
                before.as_ref().map_or(0, Row::approx_size) + after.as_ref().map_or(0, Row::approx_size)
            }
            Change::Truncate { .. } => 0,
            Change::Message { prefix, content, .. } => prefix.len() + content.len(),
        };
        payload + std::mem::size_of::<ChangeEvent>()
    }
}

/// A transaction started.
#[derive(Clone, PartialEq, Debug)]
pub struct TxnBegin {
    /// Its transaction id.
    pub xid: Xid,
    /// The LSN of the transaction's first WAL record (where the server positioned its Begin);
    /// Debezium's BEGIN transaction-metadata id uses it.
    pub lsn: Lsn,
    /// The LSN of its commit record.
    pub commit_lsn: Lsn,
    /// Its commit time.
    pub commit_ts: Timestamp,
}

/// A transaction committed; all its changes have been emitted.
#[derive(Clone, PartialEq, Debug)]
pub struct TxnCommit {
    /// Its transaction id.
    pub xid: Xid,
    /// The LSN of its commit record.
    pub commit_lsn: Lsn,
    /// The LSN just past the commit record: what to confirm once everything before it is durable.
    pub end_lsn: Lsn,
    /// Its commit time.
    pub commit_ts: Timestamp,
    /// How many `Change` events the transaction produced.
    pub event_count: u64,
}

/// One item of the reader's output stream.
#[derive(Clone, PartialEq, Debug)]
pub enum SourceEvent {
    /// A transaction begins.
    Begin(TxnBegin),
    /// A change (inside a transaction, a snapshot read, or a non-transactional message).
    Change(ChangeEvent),
    /// A transaction ends.
    Commit(TxnCommit),
    /// The initial snapshot finished; streaming follows from `consistent_point`.
    SnapshotCompleted {
        /// The LSN from which streaming continues.
        consistent_point: Lsn,
    },
    /// The server reported its WAL end while nothing captured was pending: every transaction
    /// committed before `lsn` has been emitted, so `lsn` may be confirmed once the events before
    /// this marker are durable.
    Progress {
        /// A position safe to confirm after the preceding events.
        lsn: Lsn,
    },
}

impl SourceEvent {
    /// Approximate size in bytes, for byte-bounded buffers.
    pub fn approx_size(&self) -> usize {
        match self {
            SourceEvent::Change(e) => e.approx_size(),
            _ => std::mem::size_of::<SourceEvent>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_markers_follow_debeziums_precedence() {
        let m = |first, last, first_in_table, last_in_table| {
            SnapshotMark { first, last, first_in_table, last_in_table }.marker()
        };
        assert_eq!(m(true, true, true, true), "last", "a one-row snapshot");
        assert_eq!(m(true, false, true, true), "first", "one-row first table of several");
        assert_eq!(m(false, false, true, true), "last_in_data_collection", "a one-row table");
        assert_eq!(m(false, false, true, false), "first_in_data_collection");
        assert_eq!(m(false, false, false, false), "true");
    }
}
