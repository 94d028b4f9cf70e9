//! The Postgres source: snapshot, then streaming, as one ordered stream of [`SourceEvent`]s.
//!
//! ```text
//!  start ─► checks (wal_level, REPLICATION) ─► publication ─► slot (create / validate)
//!        ─► snapshot? (exported snapshot of the new slot, or of a temporary slot when the slot
//!           already existed: transactions committed before its consistent point are then skipped)
//!        ─► START_REPLICATION ─► loop { frame ─► pgoutput ─► relation cache ─► values ─► events }
//! ```
//!
//! Ordering: with protocol 1 the server sends whole transactions at commit. With streaming (2+),
//! in-progress chunks are spilled to disk and replayed at their Stream Commit, so either way each
//! transaction leaves the reader contiguous and in commit order.
//!
//! Progress: the reader never decides on its own that WAL may be released. The standby status
//! update's flush position is whatever downstream confirmed through the [`Acknowledger`]; the reader
//! only reports how far it has received. Status updates are also sent while the reader is blocked on
//! a full event buffer, so a slow consumer never makes the server drop the connection, and the
//! socket is simply not read until there is room (backpressure reaches PostgreSQL, memory stays
//! bounded).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_core::flow;
use sluice_core::{
    Acknowledger, Change, ChangeEvent, Lsn, Op, Origin, Row, SourceEvent, SourcePosition, TableId,
    TableSchema, Timestamp, TxnBegin, TxnCommit, Value, Xid,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::catalog::{CapturedTable, captured_tables, check_replication_ready, quote_ident, server_info};
use crate::config::{PostgresSourceConfig, SnapshotMode, StreamingMode};
use crate::error::PostgresError;
use crate::pgoutput::{DecodeContext, LogicalMessage, OldTuple, TupleColumn, TupleData, decode};
use crate::publication::ensure_publication;
use crate::relation::RelationCache;
use crate::replication::{
    ReplicationConnection, ReplicationFrame, ReplicationStream, SlotSnapshot, connect_sql,
};
use crate::slot::{PreparedSlot, classify_start_error, drop_slot, prepare_slot};
use crate::snapshot::{SnapshotRequest, run_snapshot};
use crate::spill::SpillStore;
use crate::types::TypeRegistry;
use crate::value::{decode_binary, decode_text};

/// The position a previous run of the connector reached, as stored downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredOffset {
    /// The last confirmed LSN.
    pub lsn: Lsn,
    /// Whether the initial snapshot had completed.
    pub snapshot_completed: bool,
}

/// How a reader ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderExit {
    /// It was cancelled and shut down cleanly.
    Stopped,
    /// `snapshot.mode=initial_only`: the snapshot is done and there is nothing to stream.
    SnapshotOnly,
}

/// A running source: its events, where to confirm durable positions, and its task.
#[derive(Debug)]
pub struct SourceHandle {
    /// The ordered event stream (bounded in bytes).
    pub events: flow::Receiver<SourceEvent>,
    /// Confirm positions here once the events before them are durable.
    pub acks: Acknowledger,
    /// The reader task.
    pub task: JoinHandle<Result<ReaderExit, PostgresError>>,
}

/// Starts the source as a named task.
pub fn spawn(
    config: PostgresSourceConfig,
    offset: Option<StoredOffset>,
    cancel: CancellationToken,
) -> SourceHandle {
    let (tx, rx) = flow::channel(config.max_queue_size, config.max_queue_bytes);
    let acks = Acknowledger::new();
    let name = format!("postgres-source:{}", config.name);
    let task = sluice_core::task::spawn_named(name, run(config, offset, tx, acks.clone(), cancel));
    SourceHandle { events: rx, acks, task }
}

/// Runs the source until cancelled (or, for `initial_only`, until the snapshot is done).
pub async fn run(
    config: PostgresSourceConfig,
    offset: Option<StoredOffset>,
    out: flow::Sender<SourceEvent>,
    acks: Acknowledger,
    cancel: CancellationToken,
) -> Result<ReaderExit, PostgresError> {
    let result = run_inner(&config, offset, &out, &acks, &cancel).await;
    match result {
        Err(PostgresError::Closed) if cancel.is_cancelled() => Ok(ReaderExit::Stopped),
        other => other,
    }
}

async fn run_inner(
    config: &PostgresSourceConfig,
    offset: Option<StoredOffset>,
    out: &flow::Sender<SourceEvent>,
    acks: &Acknowledger,
    cancel: &CancellationToken,
) -> Result<ReaderExit, PostgresError> {
    let mut endpoint = config.endpoint.clone();
    if let Some(mem) = &config.logical_decoding_work_mem {
        endpoint.options.push(("logical_decoding_work_mem".into(), mem.clone()));
    }
    let sql = connect_sql(&endpoint).await?;
    let info = server_info(&sql).await?;
    check_replication_ready(&info)?;
    let tables = captured_tables(&sql, &config.filter).await?;
    ensure_publication(&sql, &config.publication, &tables, info.version_num).await?;

    let mut repl =
        ReplicationConnection::connect(&endpoint).await.map_err(|e| no_privilege(e, &info.user))?;
    let snapshot_done = offset.is_some_and(|o| o.snapshot_completed);
    let slot_exists = crate::catalog::slot_info(&sql, &config.slot.name).await?.is_some();
    let wants_snapshot = match config.snapshot.mode {
        SnapshotMode::Initial | SnapshotMode::InitialOnly => !snapshot_done,
        SnapshotMode::Always => true,
        SnapshotMode::NoData => false,
        SnapshotMode::WhenNeeded => !snapshot_done || !slot_exists,
    };
    if config.snapshot.mode == SnapshotMode::InitialOnly && snapshot_done {
        return Ok(ReaderExit::SnapshotOnly);
    }
    // A stored offset whose slot is gone means the changes since that offset are gone too: a named
    // failure, unless the mode re-snapshots anyway.
    if !slot_exists
        && let Some(o) = offset.filter(|o| o.snapshot_completed)
        && matches!(config.snapshot.mode, SnapshotMode::Initial | SnapshotMode::NoData)
    {
        return Err(PostgresError::SlotMissing { slot: config.slot.name.clone(), lsn: o.lsn });
    }
    // A new slot can export the snapshot itself. An existing slot cannot, so a temporary slot
    // exports one instead. When nothing was ever delivered downstream (no stored offset), rows of
    // snapshotted tables from transactions committed before its consistent point (which the
    // snapshot already contains) are dropped from the stream: exact. When something was delivered
    // before, nothing is dropped: replaying those transactions after the snapshot is what removes
    // rows deleted meanwhile, and the replay converges on the snapshot's state (at-least-once).
    let export_from_slot = wants_snapshot && config.snapshot.mode != SnapshotMode::InitialOnly;
    let prepared = prepare_slot(&sql, &mut repl, &config.slot, &endpoint.dbname, export_from_slot).await?;
    let mut relations = RelationCache::new();
    let mut overlap: Option<SnapshotOverlap> = None;
    if wants_snapshot {
        let (snapshot_name, consistent_point, exporter) = match &prepared {
            PreparedSlot::Created { consistent_point, snapshot_name: Some(name) } => {
                (name.clone(), *consistent_point, None)
            }
            _ => {
                let mut temp = ReplicationConnection::connect(&endpoint).await?;
                let temp_name = format!("{}_snap_{}", truncate(&config.slot.name, 40), std::process::id());
                let created =
                    temp.create_logical_slot(&temp_name, "pgoutput", true, SlotSnapshot::Export).await?;
                let name = created.snapshot_name.ok_or_else(|| {
                    PostgresError::Protocol("CREATE_REPLICATION_SLOT exported no snapshot".into())
                })?;
                if offset.is_none() {
                    overlap =
                        Some(SnapshotOverlap { before: created.consistent_point, tables: HashSet::new() });
                }
                (name, created.consistent_point, Some(temp))
            }
        };
        let to_read: Vec<CapturedTable> = tables
            .iter()
            .filter(|t| config.snapshot.include.as_ref().is_none_or(|inc| inc.matches(&t.id.to_string())))
            .cloned()
            .collect();
        if let Some(o) = overlap.as_mut() {
            o.tables = to_read.iter().map(|t| t.id.clone()).collect();
        }
        let request = SnapshotRequest {
            snapshot_name,
            consistent_point,
            tables: to_read,
            max_threads: config.snapshot.max_threads,
            chunk_pages: config.snapshot.chunk_pages,
            buffer_bytes: config.max_queue_bytes,
            server_version: info.version_num,
        };
        let summary = run_snapshot(&endpoint, request, &mut relations, out, cancel).await?;
        tracing::info!(rows = summary.rows, tables = summary.tables, "snapshot completed");
        if let Some(temp) = exporter {
            drop(temp); // closing the connection drops the temporary slot
        }
        send(out, SourceEvent::SnapshotCompleted { consistent_point }).await?;
        if config.snapshot.mode == SnapshotMode::InitialOnly {
            if config.slot.drop_on_stop {
                drop(repl);
                drop_slot(&sql, &config.slot.name).await?;
            }
            return Ok(ReaderExit::SnapshotOnly);
        }
    }

    let options = replication_options(config, info.version_num, &sql, &tables, &mut relations).await?;
    let protocol_version =
        options.iter().find(|(k, _)| *k == "proto_version").and_then(|(_, v)| v.parse().ok()).unwrap_or(1);
    let start = match (&prepared, offset) {
        (PreparedSlot::Existing { .. }, Some(o)) => o.lsn,
        _ => Lsn::INVALID,
    };
    let option_refs: Vec<(&str, String)> = options.iter().map(|(k, v)| (*k, v.clone())).collect();
    let stream = repl
        .start_logical_replication(&config.slot.name, start, &option_refs)
        .await
        .map_err(|e| classify_start_error(&config.slot.name, e))?;
    let binary = options.iter().any(|(k, _)| *k == "binary");
    tracing::info!(slot = %config.slot.name, %start, protocol_version, binary, "streaming started");
    let mut streamer = Streamer {
        config,
        sql: &sql,
        relations,
        stream,
        out,
        acks,
        cancel,
        ctx: DecodeContext { protocol_version, in_stream: false },
        txn: None,
        stream_xid: None,
        spill: None,
        overlap,
        last_received: start,
        last_progress: Lsn::INVALID,
        next_status: Instant::now() + config.status_update_interval,
        next_heartbeat: config
            .heartbeat_action_query
            .as_ref()
            .and(config.heartbeat_interval)
            .map(|interval| Instant::now() + interval),
        verdicts: HashMap::new(),
    };
    let result = streamer.run().await;
    let Streamer { stream, .. } = streamer;
    match result {
        Ok(()) => {
            // A large transaction still in flight makes the server finish sending it first; do not
            // let that hold up shutdown for long.
            if tokio::time::timeout(Duration::from_secs(10), stream.finish()).await.is_err() {
                tracing::warn!("the server did not end replication within 10s; closing the connection");
            }
            if config.slot.drop_on_stop {
                drop_slot(&sql, &config.slot.name).await?;
            }
            Ok(ReaderExit::Stopped)
        }
        Err(e) => Err(e),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    &s[..s.len().min(max)]
}

fn no_privilege(err: PostgresError, user: &str) -> PostgresError {
    match &err {
        PostgresError::Server { error, .. } if error.code == "42501" => {
            PostgresError::NoReplicationPrivilege { user: user.to_owned() }
        }
        _ => err,
    }
}

async fn send(out: &flow::Sender<SourceEvent>, event: SourceEvent) -> Result<(), PostgresError> {
    let size = event.approx_size();
    out.send(event, size).await.map_err(|_| PostgresError::Closed)
}

/// The pgoutput options for START_REPLICATION.
async fn replication_options(
    config: &PostgresSourceConfig,
    version: u32,
    sql: &Client,
    tables: &[CapturedTable],
    relations: &mut RelationCache,
) -> Result<Vec<(&'static str, String)>, PostgresError> {
    let proto = match config.streaming {
        StreamingMode::Off => 1,
        StreamingMode::On if version >= 160_000 => 4,
        StreamingMode::On if version >= 150_000 => 3,
        StreamingMode::On if version >= 140_000 => 2,
        StreamingMode::On => {
            return Err(PostgresError::config(
                "sluice.streaming.mode",
                "streaming of in-progress transactions needs PostgreSQL 14 or later; set it to off",
            ));
        }
    };
    let mut options = vec![
        ("proto_version", proto.to_string()),
        ("publication_names", quote_ident(&config.publication.name)),
    ];
    if version >= 140_000 {
        options.push(("messages", "true".into()));
    }
    if proto >= 2 {
        options.push(("streaming", "on".into()));
    }
    if config.binary && version >= 140_000 && binary_capable(sql, tables, relations).await? {
        options.push(("binary", "true".into()));
    }
    for (k, v) in &config.slot.stream_params {
        let key: &'static str = match k.as_str() {
            "origin" => "origin",
            other => {
                return Err(PostgresError::config(
                    "slot.stream.params",
                    format!("'{other}' is not a pgoutput option sluice passes through; only 'origin' is"),
                ));
            }
        };
        options.push((key, v.clone()));
    }
    Ok(options)
}

/// Binary tuple data is all-or-nothing per connection: use it only if every captured column's type
/// has a binary decoder.
async fn binary_capable(
    sql: &Client,
    tables: &[CapturedTable],
    relations: &mut RelationCache,
) -> Result<bool, PostgresError> {
    for t in tables {
        let schema = relations.load(sql, t.oid).await?;
        if !schema.columns.iter().all(|c| TypeRegistry::all_types_support_binary(&c.ty)) {
            tracing::info!(table = %t.id, "binary tuple data disabled: a column type has no binary decoder");
            return Ok(false);
        }
    }
    Ok(true)
}

/// The transaction being decoded.
#[derive(Debug)]
struct TxnState {
    xid: Xid,
    commit_lsn: Lsn,
    commit_ts: Timestamp,
    origin: Option<Origin>,
    seq: u64,
    /// Committed before the snapshot's consistent point: its row changes of snapshotted tables are
    /// already in the snapshot.
    in_snapshot: bool,
}

struct Streamer<'a> {
    config: &'a PostgresSourceConfig,
    sql: &'a Client,
    relations: RelationCache,
    stream: ReplicationStream,
    out: &'a flow::Sender<SourceEvent>,
    acks: &'a Acknowledger,
    cancel: &'a CancellationToken,
    ctx: DecodeContext,
    txn: Option<TxnState>,
    stream_xid: Option<Xid>,
    spill: Option<SpillStore>,
    overlap: Option<SnapshotOverlap>,
    last_received: Lsn,
    last_progress: Lsn,
    next_status: Instant,
    /// When `heartbeat.action.query` runs next (`None` when not configured).
    next_heartbeat: Option<Instant>,
    /// The table filter's verdict per relation, for the schema it was made for: matching the
    /// include and exclude patterns for every change would cost more than decoding the row.
    verdicts: HashMap<u32, (Arc<TableSchema>, bool)>,
}

impl Streamer<'_> {
    async fn run(&mut self) -> Result<(), PostgresError> {
        // The timers live across frames and are re-armed only when their deadline moves: a timer
        // registered anew for every frame costs more than decoding a small row.
        let status_timer = tokio::time::sleep_until(self.next_status);
        let heartbeat_timer = tokio::time::sleep_until(self.next_heartbeat.unwrap_or_else(far_future));
        tokio::pin!(status_timer, heartbeat_timer);
        loop {
            if status_timer.deadline() != self.next_status {
                status_timer.as_mut().reset(self.next_status);
            }
            if let Some(at) = self.next_heartbeat
                && heartbeat_timer.deadline() != at
            {
                heartbeat_timer.as_mut().reset(at);
            }
            let frame = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    self.send_status(false).await?;
                    return Ok(());
                }
                () = &mut status_timer => {
                    self.send_status(false).await?;
                    continue;
                }
                () = &mut heartbeat_timer, if self.next_heartbeat.is_some() => {
                    self.heartbeat_action().await;
                    continue;
                }
                frame = self.stream.next_frame() => frame?,
            };
            match frame {
                None => {
                    return Err(PostgresError::Protocol("the server ended the replication stream".into()));
                }
                Some(ReplicationFrame::XLogData { wal_start, wal_end, data, .. }) => {
                    self.last_received = self.last_received.max(wal_end);
                    self.on_xlog(wal_start, data).await?;
                }
                Some(ReplicationFrame::Keepalive { wal_end, reply_requested, .. }) => {
                    self.last_received = self.last_received.max(wal_end);
                    if self.txn.is_none() && !self.ctx.in_stream && wal_end > self.last_progress {
                        self.last_progress = wal_end;
                        self.emit(SourceEvent::Progress { lsn: wal_end }).await?;
                    }
                    if reply_requested {
                        self.send_status(false).await?;
                    }
                }
            }
        }
    }

    /// Runs `heartbeat.action.query`. A failure is logged, not fatal: the query only helps WAL
    /// advance, and the next interval tries again.
    async fn heartbeat_action(&mut self) {
        if let (Some(query), Some(interval)) =
            (&self.config.heartbeat_action_query, self.config.heartbeat_interval)
        {
            if let Err(e) = self.sql.batch_execute(query).await {
                let detail = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| format!("{} ({})", d.message(), d.code().code()));
                tracing::warn!(error = %detail, "heartbeat.action.query failed");
            }
            self.next_heartbeat = Some(Instant::now() + interval);
        }
    }

    async fn send_status(&mut self, reply: bool) -> Result<(), PostgresError> {
        Self::status(&mut self.stream, self.acks, self.last_received, reply).await?;
        self.next_status = Instant::now() + self.config.status_update_interval;
        Ok(())
    }

    async fn status(
        stream: &mut ReplicationStream,
        acks: &Acknowledger,
        received: Lsn,
        reply: bool,
    ) -> Result<(), PostgresError> {
        let flushed = acks.confirmed();
        stream.send_status_update(received.max(flushed), flushed, flushed, reply).await
    }

    /// Sends an event downstream, keeping the replication connection alive while waiting for room.
    async fn emit(&mut self, event: SourceEvent) -> Result<(), PostgresError> {
        let size = event.approx_size();
        let send = self.out.send(event, size);
        tokio::pin!(send);
        loop {
            tokio::select! {
                biased;
                r = &mut send => return r.map_err(|_| PostgresError::Closed),
                () = self.cancel.cancelled() => return Err(PostgresError::Closed),
                () = tokio::time::sleep_until(self.next_status) => {
                    Self::status(&mut self.stream, self.acks, self.last_received, false).await?;
                    self.next_status = Instant::now() + self.config.status_update_interval;
                }
            }
        }
    }

    async fn on_xlog(&mut self, wal_start: Lsn, data: Bytes) -> Result<(), PostgresError> {
        let message = decode(&data, self.ctx)?;
        match message {
            LogicalMessage::StreamStart { xid, .. } => {
                self.ctx.in_stream = true;
                self.stream_xid = Some(xid);
                if self.spill.is_none() {
                    self.spill = Some(SpillStore::new(self.config.spill_dir.as_deref())?);
                }
            }
            LogicalMessage::StreamStop => {
                self.ctx.in_stream = false;
                self.stream_xid = None;
            }
            _ if self.ctx.in_stream => {
                let xid =
                    self.stream_xid.ok_or_else(|| PostgresError::Protocol("stream without xid".into()))?;
                self.spill_store()?.append(xid, wal_start, &data)?;
            }
            LogicalMessage::StreamAbort { xid, subxid, .. } => self.spill_store()?.abort(xid, subxid),
            LogicalMessage::StreamCommit { xid, commit_lsn, end_lsn, commit_ts, .. } => {
                self.replay(xid, commit_lsn, end_lsn, commit_ts).await?;
            }
            other => self.handle(wal_start, other, None).await?,
        }
        Ok(())
    }

    fn spill_store(&mut self) -> Result<&mut SpillStore, PostgresError> {
        self.spill.as_mut().ok_or_else(|| PostgresError::Protocol("streamed message outside a stream".into()))
    }

    /// Emits a streamed transaction from its spill file at its commit.
    async fn replay(
        &mut self,
        xid: Xid,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_ts: Timestamp,
    ) -> Result<(), PostgresError> {
        let replay = match self.spill.as_mut() {
            Some(s) => s.take(xid)?,
            None => None,
        };
        let first_lsn = replay.as_ref().and_then(|r| r.first_lsn()).unwrap_or(commit_lsn);
        self.begin(xid, first_lsn, commit_lsn, commit_ts).await?;
        if let Some(mut replay) = replay {
            let ctx = DecodeContext { protocol_version: self.ctx.protocol_version, in_stream: true };
            let aborted = replay.aborted_subxacts();
            while let Some((lsn, bytes)) = replay.next_message()? {
                let message = decode(bytes, ctx)?;
                if message_xid(&message).is_some_and(|x| aborted.contains(&x.0)) {
                    continue;
                }
                self.handle(lsn, message, Some(xid)).await?;
            }
        }
        self.commit(commit_lsn, end_lsn, commit_ts).await
    }

    async fn begin(
        &mut self,
        xid: Xid,
        first_lsn: Lsn,
        commit_lsn: Lsn,
        commit_ts: Timestamp,
    ) -> Result<(), PostgresError> {
        if self.txn.is_some() {
            return Err(PostgresError::Protocol(format!(
                "transaction {xid} began inside another transaction"
            )));
        }
        let in_snapshot = self.overlap.as_ref().is_some_and(|o| commit_lsn < o.before);
        self.txn = Some(TxnState { xid, commit_lsn, commit_ts, origin: None, seq: 0, in_snapshot });
        self.emit(SourceEvent::Begin(TxnBegin { xid, lsn: first_lsn, commit_lsn, commit_ts })).await
    }

    async fn commit(
        &mut self,
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_ts: Timestamp,
    ) -> Result<(), PostgresError> {
        let txn =
            self.txn.take().ok_or_else(|| PostgresError::Protocol("commit without a transaction".into()))?;
        self.last_progress = self.last_progress.max(end_lsn);
        self.emit(SourceEvent::Commit(TxnCommit {
            xid: txn.xid,
            commit_lsn,
            end_lsn,
            commit_ts,
            event_count: txn.seq,
        }))
        .await
    }

    async fn handle(
        &mut self,
        wal_start: Lsn,
        message: LogicalMessage<'_>,
        replaying: Option<Xid>,
    ) -> Result<(), PostgresError> {
        match message {
            LogicalMessage::Begin(b) => self.begin(b.xid, wal_start, b.final_lsn, b.commit_ts).await,
            LogicalMessage::Commit(c) => self.commit(c.commit_lsn, c.end_lsn, c.commit_ts).await,
            LogicalMessage::Origin(o) => {
                if let Some(t) = self.txn.as_mut() {
                    t.origin = Some(Origin { name: o.name.into(), lsn: o.commit_lsn });
                }
                Ok(())
            }
            LogicalMessage::Relation(r) => self.relations.apply(self.sql, &r).await.map(drop),
            LogicalMessage::Type(t) => {
                self.relations.types_mut().invalidate(t.type_oid);
                Ok(())
            }
            LogicalMessage::Insert(i) => {
                let Some(table) = self.captured(i.relation_id)? else { return Ok(()) };
                let after = decode_tuple(&table, &i.new)?;
                self.row(wal_start, Op::Create, table, None, Some(after)).await
            }
            LogicalMessage::Update(u) => {
                let Some(table) = self.captured(u.relation_id)? else { return Ok(()) };
                let before = u.old.as_ref().map(|o| decode_tuple(&table, old_tuple(o))).transpose()?;
                let after = decode_tuple(&table, &u.new)?;
                self.row(wal_start, Op::Update, table, before, Some(after)).await
            }
            LogicalMessage::Delete(d) => {
                let Some(table) = self.captured(d.relation_id)? else { return Ok(()) };
                let before = decode_tuple(&table, old_tuple(&d.old))?;
                self.row(wal_start, Op::Delete, table, Some(before), None).await
            }
            LogicalMessage::Truncate(t) => {
                for id in &t.relation_ids {
                    let Some(table) = self.captured(*id)? else { continue };
                    let change =
                        Change::Truncate { table, cascade: t.cascade, restart_identity: t.restart_identity };
                    self.change(wal_start, change).await?;
                }
                Ok(())
            }
            LogicalMessage::Message(m) => {
                if !self.config.captures_message_prefix(m.prefix) {
                    return Ok(());
                }
                let change = Change::Message {
                    prefix: m.prefix.into(),
                    content: Bytes::copy_from_slice(m.content),
                    transactional: m.transactional,
                };
                if m.transactional || replaying.is_some() {
                    self.change(wal_start, change).await
                } else {
                    let event = ChangeEvent {
                        change,
                        source: SourcePosition { lsn: m.lsn, ..SourcePosition::default() },
                    };
                    self.emit(SourceEvent::Change(event)).await
                }
            }
            LogicalMessage::StreamStart { .. }
            | LogicalMessage::StreamStop
            | LogicalMessage::StreamCommit { .. }
            | LogicalMessage::StreamAbort { .. } => {
                Err(PostgresError::Protocol("stream control message inside a streamed transaction".into()))
            }
            LogicalMessage::BeginPrepare { .. }
            | LogicalMessage::Prepare { .. }
            | LogicalMessage::CommitPrepared { .. }
            | LogicalMessage::RollbackPrepared { .. }
            | LogicalMessage::StreamPrepare { .. } => Err(PostgresError::Protocol(
                "two-phase commit messages arrived although two_phase was not requested".into(),
            )),
        }
    }

    /// The schema of a relation if its changes are captured; `None` for filtered-out tables.
    fn captured(&mut self, relation_id: u32) -> Result<Option<Arc<TableSchema>>, PostgresError> {
        let table = self.relations.get(relation_id).ok_or_else(|| {
            PostgresError::Protocol(format!("change for relation {relation_id} before its Relation message"))
        })?;
        let included = match self.verdicts.get(&relation_id) {
            // A Relation message replaces the schema, so a verdict is only valid for its own.
            Some((schema, verdict)) if Arc::ptr_eq(schema, table) => *verdict,
            _ => {
                let verdict = self.config.filter.includes(&table.id);
                self.verdicts.insert(relation_id, (table.clone(), verdict));
                verdict
            }
        };
        Ok(included.then(|| table.clone()))
    }

    async fn row(
        &mut self,
        wal_start: Lsn,
        op: Op,
        table: Arc<TableSchema>,
        before: Option<Row>,
        after: Option<Row>,
    ) -> Result<(), PostgresError> {
        self.change(wal_start, Change::Row { op, table, before, after }).await
    }

    async fn change(&mut self, wal_start: Lsn, change: Change) -> Result<(), PostgresError> {
        let txn = self
            .txn
            .as_mut()
            .ok_or_else(|| PostgresError::Protocol("change outside a transaction".into()))?;
        if txn.in_snapshot
            && let Some(table) = change_table(&change)
            && self.overlap.as_ref().is_some_and(|o| o.tables.contains(&table.id))
        {
            return Ok(());
        }
        let source = SourcePosition {
            lsn: wal_start,
            commit_lsn: Some(txn.commit_lsn),
            seq: txn.seq,
            xid: Some(txn.xid),
            commit_ts: Some(txn.commit_ts),
            origin: txn.origin.clone(),
            snapshot: None,
        };
        txn.seq += 1;
        self.emit(SourceEvent::Change(ChangeEvent { change, source })).await
    }
}

/// Transactions the snapshot already contains, when streaming from a slot older than the snapshot.
#[derive(Debug)]
struct SnapshotOverlap {
    /// The snapshot's consistent point: transactions committed before it are in the snapshot.
    before: Lsn,
    /// The tables the snapshot read (changes of other tables are still emitted).
    tables: HashSet<TableId>,
}

/// The table of a row change or truncate (a truncate of a snapshotted table before the snapshot is
/// reflected in it too).
fn change_table(change: &Change) -> Option<&Arc<TableSchema>> {
    match change {
        Change::Row { table, .. } | Change::Truncate { table, .. } => Some(table),
        Change::Message { .. } => None,
    }
}

/// Sleeps until `at`, or forever when there is no such time.
/// A deadline for a timer that is not armed (a year away; its branch is disabled anyway).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

fn old_tuple<'a, 'b>(old: &'b OldTuple<'a>) -> &'b TupleData<'a> {
    match old {
        OldTuple::Key(t) | OldTuple::Full(t) => t,
    }
}

/// The (sub)transaction a streamed message belongs to.
fn message_xid(message: &LogicalMessage<'_>) -> Option<Xid> {
    match message {
        LogicalMessage::Insert(m) => m.xid,
        LogicalMessage::Update(m) => m.xid,
        LogicalMessage::Delete(m) => m.xid,
        LogicalMessage::Truncate(m) => m.xid,
        LogicalMessage::Message(m) => m.xid,
        _ => None,
    }
}

/// Decodes a tuple into a row of typed values aligned with the table's columns.
pub fn decode_tuple(table: &TableSchema, tuple: &TupleData<'_>) -> Result<Row, PostgresError> {
    if tuple.columns.len() != table.columns.len() {
        return Err(PostgresError::Protocol(format!(
            "tuple of {} has {} columns but its relation has {}",
            table.id,
            tuple.columns.len(),
            table.columns.len()
        )));
    }
    let mut values = Vec::with_capacity(tuple.columns.len());
    for (data, column) in tuple.columns.iter().zip(&table.columns) {
        let value = match data {
            TupleColumn::Null => Ok(Value::Null),
            TupleColumn::UnchangedToast => Ok(Value::UnchangedToast),
            TupleColumn::Text(bytes) => decode_text(&column.ty, bytes),
            TupleColumn::Binary(bytes) => decode_binary(&column.ty, bytes),
        }
        .map_err(PostgresError::value(table, column))?;
        values.push(value);
    }
    Ok(Row(values))
}

/// How long a reader waits between reconnect attempts after a retryable error.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(5);
