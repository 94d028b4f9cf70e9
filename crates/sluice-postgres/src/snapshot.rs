//! The initial snapshot: every captured row as an op `r` event, consistent with the slot.
//!
//! Creating the slot exports a snapshot that sees exactly the transactions committed before the
//! slot's consistent point; streaming from the slot starts with the first transaction after it.
//! Reading the tables under that snapshot (`SET TRANSACTION SNAPSHOT` in a REPEATABLE READ
//! transaction) therefore leaves no gap and no overlap with the stream. Large tables are split into
//! ctid page ranges (a TID range scan, PostgreSQL 14+) read by up to `snapshot.max.threads`
//! connections that all import the same snapshot; rows are still emitted in table and chunk order,
//! so the output is deterministic. Each chunk hands its rows over through a channel bounded in
//! bytes, so memory does not grow with the table.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use sluice_core::flow;
use sluice_core::{
    Change, ChangeEvent, Lsn, Op, Row, SnapshotMark, SourceEvent, SourcePosition, TableSchema, Timestamp,
    Value, Xid,
};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::catalog::{CapturedTable, qualified, quote_ident, quote_literal};
use crate::copy::{CopyFormatError, CopyParser};
use crate::error::PostgresError;
use crate::relation::RelationCache;
use crate::replication::{Endpoint, connect_sql};
use crate::value::{binary_supported, decode_binary, decode_text};

/// What to snapshot and under which exported snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// The exported snapshot's name.
    pub snapshot_name: String,
    /// The slot position the snapshot is consistent with.
    pub consistent_point: Lsn,
    /// Tables to read, in emission order.
    pub tables: Vec<CapturedTable>,
    /// Connections reading in parallel.
    pub max_threads: usize,
    /// Heap pages per chunk.
    pub chunk_pages: u32,
    /// Byte budget for rows buffered between the readers and the emitter.
    pub buffer_bytes: usize,
    /// `server_version_num`, to know whether TID range scans exist (14+).
    pub server_version: u32,
}

/// What the snapshot produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotSummary {
    /// Rows emitted.
    pub rows: u64,
    /// Tables read.
    pub tables: usize,
}

#[derive(Debug, Clone)]
struct Chunk {
    table: usize,
    /// First heap page (inclusive), `None` from the start.
    from_page: Option<u64>,
    /// Last heap page (exclusive), `None` to the end.
    to_page: Option<u64>,
}

#[derive(Debug)]
enum ChunkItem {
    /// Rows, each with its [`Row::approx_size`] (measured once, here), handed over together so
    /// the reader and the emitter do not wake each other for every row.
    Rows(Vec<(Row, usize)>),
    Done,
    Failed(PostgresError),
}

/// Reads every table of `request` and emits its rows as op `r` events into `out`.
pub async fn run_snapshot(
    endpoint: &Endpoint,
    request: SnapshotRequest,
    relations: &mut RelationCache,
    out: &flow::Sender<SourceEvent>,
    cancel: &CancellationToken,
) -> Result<SnapshotSummary, PostgresError> {
    let chunks = plan_chunks(&request);
    let workers = request.max_threads.clamp(1, chunks.len().max(1));
    // Every connection imports the snapshot before anything else happens on the exporting
    // connection; after that the snapshot lives in these transactions.
    let mut clients = Vec::with_capacity(workers);
    for _ in 0..workers {
        let client = connect_sql(endpoint).await?;
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT {}",
                quote_literal(&request.snapshot_name)
            ))
            .await
            .map_err(PostgresError::query("importing the exported snapshot"))?;
        clients.push(Arc::new(client));
    }
    let first = clients[0].clone();
    // The transaction id reported with snapshot rows (Debezium's `source.txId`) is taken in a
    // separate, immediately committed transaction: assigning one inside the snapshot transactions
    // would hold an xid for the whole snapshot and make every slot creation on the server wait.
    let stamp = connect_sql(endpoint).await?;
    let xid_row = stamp
        .query_one(
            "SELECT (txid_current() % 4294967296)::int8, (extract(epoch from now()) * 1000000)::int8",
            &[],
        )
        .await
        .map_err(PostgresError::query("reading the snapshot transaction id"))?;
    drop(stamp);
    let snapshot_xid = Xid(xid_row.get::<_, i64>(0) as u32);
    let snapshot_ts = Timestamp::Micros(xid_row.get(1));
    let mut schemas = Vec::with_capacity(request.tables.len());
    for t in &request.tables {
        schemas.push(relations.load(&first, t.oid).await?);
    }
    let schemas = Arc::new(schemas);

    let chunks = Arc::new(chunks);
    let next = Arc::new(AtomicUsize::new(0));
    let (handoff_tx, mut handoff_rx) = mpsc::channel::<(usize, flow::Receiver<ChunkItem>)>(workers);
    let per_chunk_bytes = (request.buffer_bytes / (workers + 1)).max(64 * 1024);
    let reader_cancel = cancel.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, client) in clients.into_iter().enumerate() {
        let chunks = chunks.clone();
        let next = next.clone();
        let handoff = handoff_tx.clone();
        let schemas = schemas.clone();
        let cancel = reader_cancel.clone();
        let span = tracing::info_span!("snapshot_reader", worker = n);
        tasks.spawn(tracing::Instrument::instrument(
            async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(chunk) = chunks.get(i) else { break };
                    let (tx, rx) = flow::channel(4096, per_chunk_bytes);
                    if handoff.send((i, rx)).await.is_err() {
                        break;
                    }
                    let schema = &schemas[chunk.table];
                    let item = tokio::select! {
                        r = read_chunk(&client, schema, chunk, &tx) => match r {
                            Ok(()) => ChunkItem::Done,
                            Err(e) => ChunkItem::Failed(e),
                        },
                        () = cancel.cancelled() => break,
                    };
                    let failed = matches!(item, ChunkItem::Failed(_));
                    let _ = tx.send(item, 1).await;
                    if failed {
                        break;
                    }
                }
                let _ = client.batch_execute("COMMIT").await;
            },
            span,
        ));
    }
    drop(handoff_tx);

    let mut pending_receivers: HashMap<usize, flow::Receiver<ChunkItem>> = HashMap::new();
    let mut emitter = Emitter {
        out,
        schemas: &schemas,
        pending: None,
        seq: 0,
        consistent_point: request.consistent_point,
        xid: snapshot_xid,
        ts: snapshot_ts,
        last_table: None,
    };
    let result = async {
        for i in 0..chunks.len() {
            let mut rx = loop {
                if let Some(rx) = pending_receivers.remove(&i) {
                    break rx;
                }
                let received = tokio::select! {
                    r = handoff_rx.recv() => r,
                    () = cancel.cancelled() => return Err(PostgresError::Closed),
                };
                match received {
                    Some((j, rx)) => {
                        pending_receivers.insert(j, rx);
                    }
                    None => return Err(PostgresError::Protocol("snapshot readers stopped early".into())),
                }
            };
            loop {
                let item = tokio::select! {
                    item = rx.recv() => item,
                    () = cancel.cancelled() => return Err(PostgresError::Closed),
                };
                match item {
                    Some(ChunkItem::Rows(rows)) => {
                        for (row, size) in rows {
                            emitter.push(chunks[i].table, row, size).await?;
                        }
                    }
                    Some(ChunkItem::Done) => break,
                    Some(ChunkItem::Failed(e)) => return Err(e),
                    None => return Err(PostgresError::Protocol("a snapshot reader stopped early".into())),
                }
            }
        }
        emitter.finish().await
    }
    .await;
    reader_cancel.cancel();
    drop(pending_receivers);
    drop(handoff_rx);
    while tasks.join_next().await.is_some() {}
    let rows = result?;
    Ok(SnapshotSummary { rows, tables: request.tables.len() })
}

/// Splits large tables into ctid page ranges.
fn plan_chunks(request: &SnapshotRequest) -> Vec<Chunk> {
    let per = u64::from(request.chunk_pages);
    let tid_ranges = request.server_version >= 140_000;
    let mut chunks = Vec::new();
    for (table, t) in request.tables.iter().enumerate() {
        if !tid_ranges || t.pages <= per {
            chunks.push(Chunk { table, from_page: None, to_page: None });
            continue;
        }
        let mut start = 0;
        while start < t.pages {
            let end = start + per;
            // The last chunk is open-ended: the table may have grown since it was measured.
            let to_page = (end < t.pages).then_some(end);
            chunks.push(Chunk { table, from_page: (start > 0).then_some(start), to_page });
            start = end;
        }
    }
    chunks
}

/// Per column, whether sluice decodes its binary form (else it is read as text).
fn binary_columns(schema: &TableSchema) -> Vec<bool> {
    schema.columns.iter().map(|c| binary_supported(&c.ty)).collect()
}

/// The COPY statement that reads one chunk's columns in pgoutput's column order, in the binary
/// format. A column whose binary form sluice does not decode (`binary[i]` false: domains,
/// composites, unknown extension types, `reg*` OIDs) is selected as `::text`, whose binary form is
/// its text output.
fn copy_statement(schema: &TableSchema, binary: &[bool], chunk: &Chunk) -> String {
    let columns: Vec<String> = schema
        .columns
        .iter()
        .zip(binary)
        .map(|(c, &binary)| {
            let name = quote_ident(&c.name);
            if binary { name } else { format!("{name}::text") }
        })
        .collect();
    let mut sql = format!("COPY (SELECT {} FROM ONLY {}", columns.join(", "), qualified(&schema.id));
    match (chunk.from_page, chunk.to_page) {
        (None, None) => {}
        (Some(from), None) => sql.push_str(&format!(" WHERE ctid >= '({from},0)'::tid")),
        (None, Some(to)) => sql.push_str(&format!(" WHERE ctid < '({to},0)'::tid")),
        (Some(from), Some(to)) => {
            sql.push_str(&format!(" WHERE ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid"))
        }
    }
    sql.push_str(") TO STDOUT (FORMAT binary)");
    sql
}

/// Rows (or bytes of rows) a chunk reader hands to the emitter at once.
const RUN_ROWS: usize = 512;
const RUN_BYTES: usize = 256 * 1024;

async fn read_chunk(
    client: &Client,
    schema: &Arc<TableSchema>,
    chunk: &Chunk,
    tx: &flow::Sender<ChunkItem>,
) -> Result<(), PostgresError> {
    let table = schema.id.to_string();
    let binary = binary_columns(schema);
    let sql = copy_statement(schema, &binary, chunk);
    let stream =
        client.copy_out(&sql).await.map_err(PostgresError::query(format!("reading table {table}")))?;
    futures::pin_mut!(stream);
    // The server sends one tuple per COPY data message; a tuple split across messages is still
    // put together in `partial`.
    let mut parser = CopyParser::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut fields = Vec::with_capacity(schema.columns.len());
    let mut rows = Vec::with_capacity(RUN_ROWS);
    let mut size = 0;
    while let Some(data) = stream.next().await {
        let data = data.map_err(PostgresError::query(format!("reading table {table}")))?;
        let joined = !partial.is_empty();
        if joined {
            partial.extend_from_slice(&data);
        }
        let bytes: &[u8] = if joined { &partial } else { &data };
        let at = parser
            .tuples(bytes, &mut fields, |bytes, fields| {
                let row = decode_tuple(schema, &binary, bytes, fields).map_err(TupleError::Row)?;
                let row_size = row.approx_size();
                size += row_size;
                rows.push((row, row_size));
                Ok(())
            })
            .map_err(|e| match e {
                TupleError::Format(e) => PostgresError::Protocol(format!("reading table {table}: {e}")),
                TupleError::Row(e) => e,
            })?;
        if joined {
            partial.drain(..at);
        } else {
            partial.extend_from_slice(&data[at..]);
        }
        if rows.len() >= RUN_ROWS || size >= RUN_BYTES {
            let run = std::mem::replace(&mut rows, Vec::with_capacity(RUN_ROWS));
            if tx.send(ChunkItem::Rows(run), std::mem::take(&mut size)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !parser.ended() || !partial.is_empty() {
        return Err(PostgresError::Protocol(format!("COPY output of {table} ended in the middle of a row")));
    }
    if !rows.is_empty() && tx.send(ChunkItem::Rows(rows), size).await.is_err() {
        return Ok(());
    }
    Ok(())
}

/// Why a COPY tuple could not become a row: the stream was malformed, or a value would not decode.
enum TupleError {
    Format(CopyFormatError),
    Row(PostgresError),
}

impl From<CopyFormatError> for TupleError {
    fn from(e: CopyFormatError) -> Self {
        TupleError::Format(e)
    }
}

/// One tuple's fields decoded as the columns' values: binary where `binary[i]`, else the text
/// output the statement cast the column to.
fn decode_tuple(
    schema: &TableSchema,
    binary: &[bool],
    bytes: &[u8],
    fields: &[Option<Range<usize>>],
) -> Result<Row, PostgresError> {
    if fields.len() != schema.columns.len() {
        return Err(PostgresError::Protocol(format!(
            "COPY row of {} has {} fields, expected {}",
            schema.id,
            fields.len(),
            schema.columns.len()
        )));
    }
    let mut values = Vec::with_capacity(fields.len());
    for ((field, column), &binary) in fields.iter().zip(&schema.columns).zip(binary) {
        values.push(match field {
            None => Value::Null,
            Some(range) => {
                let raw = &bytes[range.clone()];
                let decoded =
                    if binary { decode_binary(&column.ty, raw) } else { decode_text(&column.ty, raw) };
                decoded.map_err(PostgresError::value(schema, column))?
            }
        });
    }
    Ok(Row(values))
}

/// Emits rows with Debezium's snapshot markers; holds one row back to know which row is last.
struct Emitter<'a> {
    out: &'a flow::Sender<SourceEvent>,
    schemas: &'a [Arc<TableSchema>],
    /// The row held back: its table, the row, its size, and whether it is its table's first.
    pending: Option<(usize, Row, usize, bool)>,
    seq: u64,
    consistent_point: Lsn,
    xid: Xid,
    ts: Timestamp,
    last_table: Option<usize>,
}

impl Emitter<'_> {
    async fn push(&mut self, table: usize, row: Row, size: usize) -> Result<(), PostgresError> {
        let first_in_table = self.last_table != Some(table);
        self.last_table = Some(table);
        if let Some((t, r, s, f)) = self.pending.take() {
            self.emit(t, r, s, f, t != table, false).await?;
        }
        self.pending = Some((table, row, size, first_in_table));
        Ok(())
    }

    async fn finish(mut self) -> Result<u64, PostgresError> {
        if let Some((t, r, s, f)) = self.pending.take() {
            self.emit(t, r, s, f, true, true).await?;
        }
        Ok(self.seq)
    }

    /// Sends one row as an op `r` event; `row_size` is its [`Row::approx_size`], so the event's
    /// size is that plus the event itself (what [`ChangeEvent::approx_size`] would count again).
    async fn emit(
        &mut self,
        table: usize,
        row: Row,
        row_size: usize,
        first_in_table: bool,
        last_in_table: bool,
        last: bool,
    ) -> Result<(), PostgresError> {
        // As in Debezium, "first" is the first row of the first table in snapshot order: when that
        // table is empty, no row is marked first. "last" is simply the last row emitted.
        let mark = SnapshotMark { first: table == 0 && first_in_table, last, first_in_table, last_in_table };
        let event = ChangeEvent {
            change: Change::Row {
                op: Op::Read,
                table: self.schemas[table].clone(),
                before: None,
                after: Some(row),
            },
            source: SourcePosition {
                lsn: self.consistent_point,
                commit_lsn: None,
                seq: self.seq,
                xid: Some(self.xid),
                commit_ts: Some(self.ts),
                origin: None,
                snapshot: Some(mark),
            },
        };
        self.seq += 1;
        let size = row_size + std::mem::size_of::<ChangeEvent>();
        debug_assert_eq!(size, event.approx_size());
        self.out.send(SourceEvent::Change(event), size).await.map_err(|_| PostgresError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::TableId;

    use super::*;

    #[test]
    fn columns_without_a_known_binary_form_are_read_as_text() {
        use sluice_core::{Column, ColumnType, ReplicaIdentity, TypeKind};
        let column = |name: &str, kind: TypeKind, oid: u32| Column {
            name: name.into(),
            ty: ColumnType::new(oid, -1, "t", kind),
            nullable: true,
            default: None,
            part_of_identity: false,
        };
        let schema = TableSchema {
            relation_id: 1,
            id: TableId::new("s", "t"),
            version: 1,
            columns: vec![column("id", TypeKind::Int8, 20), column("Odd", TypeKind::Unknown, 99999)],
            key: vec![0],
            replica_identity: ReplicaIdentity::Default,
        };
        let chunk = Chunk { table: 0, from_page: Some(4), to_page: None };
        assert_eq!(
            copy_statement(&schema, &binary_columns(&schema), &chunk),
            "COPY (SELECT \"id\", \"Odd\"::text FROM ONLY \"s\".\"t\" WHERE ctid >= '(4,0)'::tid) TO STDOUT (FORMAT binary)"
        );
    }

    #[test]
    fn chunks_cover_large_tables_with_an_open_end() {
        let table = |pages| CapturedTable { oid: 1, id: TableId::new("s", "t"), pages };
        let req = SnapshotRequest {
            snapshot_name: "x".into(),
            consistent_point: Lsn(1),
            tables: vec![table(10), table(2)],
            max_threads: 2,
            chunk_pages: 4,
            buffer_bytes: 1 << 20,
            server_version: 150_000,
        };
        let c = plan_chunks(&req);
        let ranges: Vec<_> = c.iter().map(|c| (c.table, c.from_page, c.to_page)).collect();
        assert_eq!(
            ranges,
            vec![(0, None, Some(4)), (0, Some(4), Some(8)), (0, Some(8), None), (1, None, None)]
        );
        let old = SnapshotRequest { server_version: 130_000, ..req };
        assert_eq!(plan_chunks(&old).len(), 2, "no TID range scans before PostgreSQL 14");
    }
}
