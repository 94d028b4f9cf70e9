//! Debezium change records → per-table batches collapsed to the last change per key.
//!
//! A [`ChangeCollapser`] takes records in log order (any mix of tables) and keeps, per table and
//! key, only the change with the highest `(commit LSN, seq)` (ties: the later record), which is
//! what applying every change in order would leave (invariant "log order per key"). What it reads
//! from each record:
//!
//! * the envelope's `op`, `after` (for `c`/`u`/`r`) and the record key (every op: the key struct
//!   names the row; a delete needs nothing else);
//! * the record's [`SourcePosition`]: the commit LSN (for snapshot rows, which have none, the
//!   snapshot's consistent point in `lsn`; for records rebuilt without a position, the envelope's
//!   `source.lsn`) and `seq`;
//! * `source.ts_us` (else `ts_ms`, else the position's commit time) for `_source_ts`.
//!
//! Kafka tombstones (null value) and records that are not change envelopes (heartbeats,
//! transaction metadata, logical messages) are ignored. A key change arrives as a delete of the old
//! key, a tombstone and a create of the new key; both halves are ordinary changes of their own keys.
//!
//! **Truncates.** A truncate (`op = t`) drops every change of its table collected so far: none of
//! them is visible after it. The resulting [`TableChanges`] carries the truncate's position in
//! [`TableChanges::truncate`] and only the changes after it, so the table writer replaces the
//! table's content in one commit (see [`crate::table`]).
//!
//! **Unchanged TOAST values.** A change whose column holds the TOAST placeholder (see the
//! crate's `toast` module) does not know that column's value. If an earlier change of the same key in the
//! batch carried the value, it is moved over; otherwise the column is marked *keep target* for the
//! row: its value in the batch is null and a boolean flag column `__sluice_keep_<n>` (`n` = the
//! column's position) is true, which the MERGE turns into `CASE WHEN s.flag THEN t.col ELSE s.col
//! END`. A column the row's schema did not have yet (added by a later schema in the same batch) is
//! *keep target* too. After a delete of the same key in the batch nothing of the old row may
//! survive, so such columns become null instead.
//!
//! The create half of a key change (header `__debezium.oldkey`) may carry the placeholder too: the
//! value is the old key's. When the old key's row is in the batch, its known values are moved over
//! (the delete half stashes the row it replaces under the new key); otherwise the column stays
//! *keep target* of the new key, which cannot see the old key's value.
//!
//! Records of one table may come with several row schemas (a column added or dropped mid-batch).
//! The batch takes the columns of the last schema followed by the columns earlier schemas had and
//! the last one lacks (dropped mid-batch), so the rows written before the drop keep their values;
//! rows are matched to these columns by name. A row whose schema lacks a column is *keep target*
//! for it when the column came after the row's schema (added), and null when the column was there
//! before the row's schema (dropped).

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Schema as ArrowSchema};
use sluice_core::{SourcePosition, Timestamp};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::connect::{ConnectValue, Field as ConnectField, Schema};
use sluice_debezium::record::{NEW_KEY_HEADER, OLD_KEY_HEADER, Record};

use crate::column;
use crate::error::DeltaError;
use crate::mapping::{OP_COLUMN, TableMapping, UTC};
use crate::toast::ToastMarker;

/// Prefix of the keep-target flag columns of a change batch (never stored in a table).
pub const KEEP_FLAG_PREFIX: &str = "__sluice_keep_";

/// Prefix of the old-key columns of a change batch (see [`ChangeBatch::moved_from`]).
pub const MOVED_FROM_PREFIX: &str = "__sluice_from_";

/// Debezium's default `unavailable.value.placeholder`.
pub const DEFAULT_PLACEHOLDER: &[u8] = b"__debezium_unavailable_value";

/// How records are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollapseOptions {
    placeholder: Vec<u8>,
    arrival_order: bool,
}

impl CollapseOptions {
    /// Options recognising `placeholder` (the raw bytes of `unavailable.value.placeholder`) as an
    /// unchanged TOAST value.
    pub fn new(placeholder: impl Into<Vec<u8>>) -> Self {
        CollapseOptions { placeholder: placeholder.into(), arrival_order: false }
    }

    /// Orders the changes of a key by arrival instead of by source position: for records read
    /// from Kafka, whose partition order *is* the source's order for every key (a key always maps
    /// to one partition), while the positions in the records cannot order a snapshot row against a
    /// change of a transaction that began before the snapshot, and re-sent duplicates after a
    /// producer crash carry older positions than what preceded them.
    pub fn in_arrival_order(mut self) -> Self {
        self.arrival_order = true;
        self
    }

    /// The options matching a Debezium connector configuration.
    pub fn from_config(config: &DebeziumConfig) -> Self {
        CollapseOptions::new(config.unavailable_value_placeholder.clone())
    }
}

impl Default for CollapseOptions {
    fn default() -> Self {
        CollapseOptions::new(DEFAULT_PLACEHOLDER)
    }
}

/// Where a change sits in the source log: commit LSN, then position within the commit. Orders
/// every change of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangePosition {
    /// The commit LSN (snapshot rows: the snapshot's consistent point).
    pub commit_lsn: i64,
    /// The position within the commit (or snapshot).
    pub seq: i64,
}

/// What [`ChangeCollapser::push`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// A row change was collected.
    Change,
    /// A truncate dropped the table's earlier changes.
    Truncate,
    /// Not a change record (tombstone, heartbeat, transaction metadata, message): ignored.
    Ignored,
}

/// The operation of a collapsed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowOp {
    Read,
    Create,
    Update,
    Delete,
}

impl RowOp {
    fn code(self) -> &'static str {
        match self {
            RowOp::Read => "r",
            RowOp::Create => "c",
            RowOp::Update => "u",
            RowOp::Delete => "d",
        }
    }
}

/// One row schema of a table seen in the batch.
#[derive(Debug)]
struct Layout {
    row_schema: Arc<Schema>,
    mapping: Arc<TableMapping>,
    toast: Vec<ToastMarker>,
    any_toast: bool,
}

/// Positions of the envelope fields in a value schema.
#[derive(Debug, Clone)]
struct EnvelopeFields {
    op: usize,
    after: usize,
    source: Option<usize>,
    source_lsn: Option<usize>,
    source_ts_us: Option<usize>,
    source_ts_ms: Option<usize>,
}

impl EnvelopeFields {
    fn of(schema: &Schema) -> Option<Self> {
        let pos = |s: &Schema, name: &str| s.fields.iter().position(|f| f.name == name);
        let source = pos(schema, "source");
        let source_schema = source.map(|i| &schema.fields[i].schema);
        let in_source = |name: &str| source_schema.and_then(|s| pos(s, name));
        Some(EnvelopeFields {
            op: pos(schema, "op")?,
            after: pos(schema, "after")?,
            source,
            source_lsn: in_source("lsn"),
            source_ts_us: in_source("ts_us"),
            source_ts_ms: in_source("ts_ms"),
        })
    }
}

/// One collapsed change.
#[derive(Debug)]
struct ChangeRow {
    op: RowOp,
    layout: usize,
    /// The key struct's values, in key order.
    key: Vec<ConnectValue>,
    /// The row's values in its layout's column order (empty for deletes).
    after: Vec<ConnectValue>,
    /// Layout columns whose value is unknown (TOAST placeholder): keep the target's.
    keep: Vec<u32>,
    position: ChangePosition,
    source_ts: Option<i64>,
    /// A delete of this key precedes the row in the batch: nothing of the old row may be kept.
    follows_delete: bool,
    /// The create half of a key change whose old row was not in the batch: the key (in key order)
    /// of the table row whose values the keep columns take.
    from: Option<Vec<ConnectValue>>,
}

#[derive(Debug)]
struct TableState {
    topic: String,
    layouts: Vec<Layout>,
    envelope: Option<(Arc<Schema>, EnvelopeFields)>,
    rows: Vec<ChangeRow>,
    index: HashMap<Box<[u8]>, usize>,
    truncate: Option<ChangePosition>,
    records: usize,
    last: Option<ChangePosition>,
    /// Rows the delete half of a key change replaced, by the new key's encoding: the create half
    /// takes its unchanged TOAST values from them.
    moved: HashMap<Box<[u8]>, ChangeRow>,
    /// When earlier layouts have columns the last one lacks (dropped mid-batch): the last row
    /// schema extended by them, and its mapping, which is then the batch's.
    covering: Option<(Arc<Schema>, Arc<TableMapping>)>,
}

/// Collects change records and collapses them per table to the last change per key.
#[derive(Debug, Default)]
pub struct ChangeCollapser {
    options: CollapseOptions,
    tables: Vec<TableState>,
    by_topic: HashMap<String, usize>,
    key_buf: Vec<u8>,
}

impl ChangeCollapser {
    /// An empty collapser.
    pub fn new(options: CollapseOptions) -> Self {
        ChangeCollapser { options, ..ChangeCollapser::default() }
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Adds one record (records must come in log order per table).
    pub fn push(&mut self, record: Record) -> Result<Pushed, DeltaError> {
        let Record { topic, key_schema, key, value_schema, value, position, headers } = record;
        let (Some(value_schema), Some(value)) = (value_schema, value) else { return Ok(Pushed::Ignored) };
        let t = match self.by_topic.get(&topic) {
            Some(&t) => t,
            None => {
                let fields = EnvelopeFields::of(&value_schema);
                if fields.is_none() {
                    return Ok(Pushed::Ignored);
                }
                self.tables.push(TableState {
                    topic: topic.clone(),
                    layouts: Vec::new(),
                    envelope: None,
                    rows: Vec::new(),
                    index: HashMap::new(),
                    truncate: None,
                    records: 0,
                    last: None,
                    moved: HashMap::new(),
                    covering: None,
                });
                self.by_topic.insert(topic, self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        let table = &mut self.tables[t];
        let fields = match &table.envelope {
            Some((s, f)) if Arc::ptr_eq(s, &value_schema) || **s == *value_schema => f.clone(),
            _ => match EnvelopeFields::of(&value_schema) {
                Some(f) => {
                    table.envelope = Some((value_schema.clone(), f.clone()));
                    f
                }
                None => return Ok(Pushed::Ignored),
            },
        };
        let ConnectValue::Struct(mut values) = value else {
            return Err(record_err(&table.topic, "the value is not a struct"));
        };
        let op = match values.get(fields.op) {
            Some(ConnectValue::String(op)) => match op.as_str() {
                "r" => RowOp::Read,
                "c" => RowOp::Create,
                "u" => RowOp::Update,
                "d" => RowOp::Delete,
                "t" => {
                    let position = change_position(&position, source_lsn(&values, &fields));
                    table.records += 1;
                    table.last = table.last.max(Some(position));
                    table.rows.clear();
                    table.index.clear();
                    table.moved.clear();
                    table.truncate = Some(position);
                    return Ok(Pushed::Truncate);
                }
                _ => return Ok(Pushed::Ignored),
            },
            _ => return Err(record_err(&table.topic, "the envelope has no op")),
        };
        let position_ = change_position(&position, source_lsn(&values, &fields));
        let source_ts = source_ts(&values, &fields, &position);
        let after_schema = &value_schema.fields[fields.after].schema;
        let layout = table.layout(after_schema, key_schema.as_deref(), &self.options)?;
        let key = match key {
            Some(ConnectValue::Struct(k)) => k,
            Some(_) => return Err(record_err(&table.topic, "the key is not a struct")),
            None => return Err(DeltaError::NoKey { table: table.topic.clone() }),
        };
        let mut after = Vec::new();
        let mut keep = Vec::new();
        if op != RowOp::Delete {
            let row = std::mem::replace(&mut values[fields.after], ConnectValue::Null);
            let ConnectValue::Struct(row) = row else {
                return Err(record_err(&table.topic, "a create, read or update without an 'after' row"));
            };
            after = row;
            let l = &table.layouts[layout];
            if after.len() != l.mapping.columns().len() {
                return Err(record_err(&table.topic, "the 'after' row does not match its schema"));
            }
            if l.any_toast && op != RowOp::Read {
                for (i, (v, marker)) in after.iter_mut().zip(&l.toast).enumerate() {
                    if marker.matches(v) {
                        *v = ConnectValue::Null;
                        keep.push(i as u32);
                    }
                }
            }
        }
        let mut row = ChangeRow {
            op,
            layout,
            key,
            after,
            keep,
            position: position_,
            source_ts,
            follows_delete: false,
            from: None,
        };
        self.key_buf.clear();
        for v in &row.key {
            encode_key(v, &mut self.key_buf);
        }
        table.records += 1;
        table.last = table.last.max(Some(position_));
        // A key change: the delete half stashes the old key's row for the create half.
        let moved_to = match (op, headers.iter().find(|h| h.key == NEW_KEY_HEADER)) {
            (RowOp::Delete, Some(h)) => {
                let mut new_key = Vec::new();
                match &h.value {
                    ConnectValue::Struct(k) => k.iter().for_each(|v| encode_key(v, &mut new_key)),
                    other => encode_key(other, &mut new_key),
                }
                Some(new_key.into_boxed_slice())
            }
            _ => None,
        };
        if op == RowOp::Create
            && !row.keep.is_empty()
            && let Some(old_key) = headers.iter().find(|h| h.key == OLD_KEY_HEADER)
        {
            match table.moved.remove(self.key_buf.as_slice()) {
                Some(mut older) => {
                    donate(&table.layouts, &mut older, &mut row);
                    if !row.keep.is_empty() {
                        row.from = older.from.take().or(Some(older.key));
                    }
                }
                None => {
                    row.from = match &old_key.value {
                        ConnectValue::Struct(k) => Some(k.clone()),
                        _ => None,
                    }
                }
            }
        }
        match table.index.get(self.key_buf.as_slice()) {
            None => {
                table.index.insert(self.key_buf.as_slice().into(), table.rows.len());
                table.rows.push(row);
            }
            Some(&i) => {
                let old = &mut table.rows[i];
                if self.options.arrival_order || row.position >= old.position {
                    let mut row = row;
                    row.follows_delete = old.follows_delete || old.op == RowOp::Delete;
                    donate(&table.layouts, old, &mut row);
                    if !row.keep.is_empty() && row.from.is_none() && old.op != RowOp::Delete {
                        row.from = old.from.clone();
                    }
                    let replaced = std::mem::replace(old, row);
                    if let Some(new_key) = moved_to
                        && replaced.op != RowOp::Delete
                    {
                        table.moved.insert(new_key, replaced);
                    }
                } else {
                    let mut row = row;
                    donate(&table.layouts, &mut row, old);
                }
            }
        }
        Ok(Pushed::Change)
    }

    /// The collapsed changes, one entry per table that had changes or a truncate, in the order
    /// the tables first appeared.
    pub fn finish(self) -> Vec<TableChanges> {
        self.tables
            .into_iter()
            .filter(|t| !t.rows.is_empty() || t.truncate.is_some())
            .map(|t| TableChanges {
                mapping: match t.covering {
                    Some((_, mapping)) => Some(mapping),
                    None => t.layouts.last().map(|l| l.mapping.clone()),
                },
                topic: t.topic,
                layouts: t.layouts,
                rows: t.rows,
                truncate: t.truncate,
                records: t.records,
                last: t.last,
            })
            .collect()
    }
}

/// Whether the batch's column `j` is missing from `layout` because it was dropped before it (an
/// earlier layout has it).
fn dropped_before(translations: &[Option<Vec<Option<usize>>>], layout: usize, j: usize) -> bool {
    let has = |l: usize| translations[l].as_ref().is_none_or(|t| t[j].is_some());
    !has(layout) && (0..layout).any(has)
}

fn record_err(table: &str, message: &str) -> DeltaError {
    DeltaError::Record { table: table.to_owned(), message: message.into() }
}

/// Collapses `records` (in log order) with `options`: see [`ChangeCollapser`].
pub fn collapse(
    records: impl IntoIterator<Item = Record>,
    options: &CollapseOptions,
) -> Result<Vec<TableChanges>, DeltaError> {
    let mut c = ChangeCollapser::new(options.clone());
    for r in records {
        c.push(r)?;
    }
    Ok(c.finish())
}

impl TableState {
    /// The layout of a row schema, added when new (the newest layout is always last).
    fn layout(
        &mut self,
        row_schema: &Arc<Schema>,
        key_schema: Option<&Schema>,
        options: &CollapseOptions,
    ) -> Result<usize, DeltaError> {
        if let Some(last) = self.layouts.last()
            && (Arc::ptr_eq(&last.row_schema, row_schema) || *last.row_schema == **row_schema)
        {
            return Ok(self.layouts.len() - 1);
        }
        let mapping = TableMapping::new(&self.topic, key_schema, row_schema)?;
        if let Some(last) = self.layouts.last()
            && !self.rows.is_empty()
            && !last.mapping.key_names().eq(mapping.key_names())
        {
            return Err(DeltaError::KeyChanged {
                table: self.topic.clone(),
                before: last.mapping.key_names().collect::<Vec<_>>().join(", "),
                after: mapping.key_names().collect::<Vec<_>>().join(", "),
            });
        }
        let toast: Vec<ToastMarker> = row_schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if mapping.key_indexes().contains(&i) {
                    ToastMarker::default()
                } else {
                    ToastMarker::for_column(&f.schema, &options.placeholder)
                }
            })
            .collect();
        let any_toast = toast.iter().any(ToastMarker::is_possible);
        // Columns seen so far that the new schema lacks (dropped): the batch keeps them.
        let seen = match &self.covering {
            Some((schema, _)) => Some(schema.clone()),
            None => self.layouts.last().map(|l| l.row_schema.clone()),
        };
        let dropped: Vec<ConnectField> = seen
            .iter()
            .flat_map(|s| s.fields.iter())
            .filter(|f| !row_schema.fields.iter().any(|g| g.name.eq_ignore_ascii_case(&f.name)))
            .map(|f| ConnectField {
                name: f.name.clone(),
                schema: Arc::new(Schema::clone(&f.schema).optional()),
            })
            .collect();
        self.covering = if dropped.is_empty() {
            None
        } else {
            let mut schema = Schema::clone(row_schema);
            schema.fields.extend(dropped);
            let mapping = TableMapping::new(&self.topic, key_schema, &schema)?;
            Some((Arc::new(schema), Arc::new(mapping)))
        };
        self.layouts.push(Layout {
            row_schema: row_schema.clone(),
            mapping: Arc::new(mapping),
            toast,
            any_toast,
        });
        Ok(self.layouts.len() - 1)
    }
}

/// Fills the newer row's unknown (keep) columns from the older row where it knew them.
fn donate(layouts: &[Layout], older: &mut ChangeRow, newer: &mut ChangeRow) {
    if newer.keep.is_empty() || older.op == RowOp::Delete {
        return;
    }
    let same = older.layout == newer.layout;
    let (old_cols, new_cols) =
        (layouts[older.layout].mapping.columns(), layouts[newer.layout].mapping.columns());
    newer.keep.retain(|&j| {
        let j = j as usize;
        let i = if same { Some(j) } else { old_cols.iter().position(|c| c.name() == new_cols[j].name()) };
        match i {
            Some(i) if !older.keep.contains(&(i as u32)) && i < older.after.len() => {
                newer.after[j] = std::mem::replace(&mut older.after[i], ConnectValue::Null);
                false
            }
            _ => true,
        }
    });
}

fn source_lsn(values: &[ConnectValue], f: &EnvelopeFields) -> Option<i64> {
    let ConnectValue::Struct(source) = values.get(f.source?)? else { return None };
    match source.get(f.source_lsn?)? {
        ConnectValue::Int64(l) => Some(*l),
        _ => None,
    }
}

fn source_ts(values: &[ConnectValue], f: &EnvelopeFields, position: &SourcePosition) -> Option<i64> {
    let from_source = || -> Option<i64> {
        let ConnectValue::Struct(source) = values.get(f.source?)? else { return None };
        if let Some(ConnectValue::Int64(us)) = f.source_ts_us.and_then(|i| source.get(i)) {
            return Some(*us);
        }
        match f.source_ts_ms.and_then(|i| source.get(i)) {
            Some(ConnectValue::Int64(ms)) => Some(ms.saturating_mul(1000)),
            _ => None,
        }
    };
    from_source().or(match position.commit_ts {
        Some(Timestamp::Micros(us)) => Some(us),
        _ => None,
    })
}

/// The ordering position of a record: its commit LSN (snapshot rows: the consistent point the
/// position's `lsn` holds; records without a position: `source.lsn`) and its seq.
fn change_position(position: &SourcePosition, source_lsn: Option<i64>) -> ChangePosition {
    let commit_lsn = match position.commit_lsn {
        Some(l) => l.as_u64() as i64,
        None if position.lsn.as_u64() != 0 => position.lsn.as_u64() as i64,
        None => source_lsn.unwrap_or(0),
    };
    ChangePosition { commit_lsn, seq: i64::try_from(position.seq).unwrap_or(i64::MAX) }
}

/// A canonical byte encoding of a key value (integers of any width encode alike, so a key column
/// widened mid-batch still matches).
fn encode_key(v: &ConnectValue, out: &mut Vec<u8>) {
    let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u64).to_le_bytes());
    match v {
        ConnectValue::Null => out.push(0),
        ConnectValue::Int8(_) | ConnectValue::Int16(_) | ConnectValue::Int32(_) | ConnectValue::Int64(_) => {
            let i = match v {
                ConnectValue::Int8(x) => i64::from(*x),
                ConnectValue::Int16(x) => i64::from(*x),
                ConnectValue::Int32(x) => i64::from(*x),
                ConnectValue::Int64(x) => *x,
                _ => 0,
            };
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ConnectValue::Float32(x) => {
            out.push(2);
            out.extend_from_slice(&f64::from(*x).to_bits().to_le_bytes());
        }
        ConnectValue::Float64(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        ConnectValue::Boolean(b) => out.extend_from_slice(&[3, u8::from(*b)]),
        ConnectValue::String(s) => {
            out.push(4);
            len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        ConnectValue::Bytes(b) => {
            out.push(5);
            len(out, b.len());
            out.extend_from_slice(b);
        }
        ConnectValue::Array(items) | ConnectValue::Struct(items) => {
            out.push(if matches!(v, ConnectValue::Array(_)) { 6 } else { 7 });
            len(out, items.len());
            for i in items {
                encode_key(i, out);
            }
        }
        ConnectValue::Map(pairs) => {
            out.push(8);
            len(out, pairs.len());
            for (k, v) in pairs {
                encode_key(k, out);
                encode_key(v, out);
            }
        }
    }
}

/// The collapsed changes of one table: at most one row per key, plus a truncate that precedes them.
#[derive(Debug)]
pub struct TableChanges {
    topic: String,
    mapping: Option<Arc<TableMapping>>,
    layouts: Vec<Layout>,
    rows: Vec<ChangeRow>,
    truncate: Option<ChangePosition>,
    records: usize,
    last: Option<ChangePosition>,
}

/// A keep-target flag column of a [`ChangeBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepFlag {
    /// The data column whose target value a true flag keeps.
    pub column: String,
    /// The boolean flag column's name.
    pub flag: String,
}

/// The Arrow form of a [`TableChanges`]: the source columns, the metadata columns (with `_op`
/// `d` marking deletes, whose non-key columns are null), then the keep-target flag columns.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// The rows.
    pub batch: RecordBatch,
    /// The flag columns, for the columns that have at least one keep-target row.
    pub keep: Vec<KeepFlag>,
    /// Rows that insert or update.
    pub upserts: usize,
    /// Rows that delete.
    pub deletes: usize,
    /// Columns after the flags, one per key column (in key order), holding for the create half of
    /// a key change the old key whose table row the row's keep columns take their values from
    /// (null in other rows); empty when no row needs it.
    pub moved_from: Vec<String>,
}

impl ChangeBatch {
    /// Only the upserts, without the flag columns: what an append writes (keep-target columns are
    /// null, there being no target row to keep them from).
    pub fn upserts_only(&self, table: &str) -> Result<RecordBatch, DeltaError> {
        let op = self
            .batch
            .column_by_name(OP_COLUMN)
            .and_then(|c| c.as_any().downcast_ref::<deltalake::arrow::array::StringArray>())
            .ok_or_else(|| DeltaError::Schema {
                table: table.into(),
                message: "a change batch without _op".into(),
            })?;
        let mask: BooleanArray = op.iter().map(|o| Some(o != Some("d"))).collect();
        let filtered = filter_record_batch(&self.batch, &mask)
            .map_err(|e| DeltaError::arrow(table, "filtering the upserts", e))?;
        let data_columns = self.batch.num_columns() - self.keep.len() - self.moved_from.len();
        filtered
            .project(&(0..data_columns).collect::<Vec<_>>())
            .map_err(|e| DeltaError::arrow(table, "dropping the keep flags", e))
    }
}

impl TableChanges {
    /// The table's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The mapping of the table's last row schema (`None` when the batch holds only a truncate).
    pub fn mapping(&self) -> Option<&Arc<TableMapping>> {
        self.mapping.as_ref()
    }

    /// The position of a truncate that precedes the rows: the table's content is replaced.
    pub fn truncate(&self) -> Option<ChangePosition> {
        self.truncate
    }

    /// Collapsed rows (upserts and deletes).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows (a truncate alone).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Collapsed rows that delete.
    pub fn deletes(&self) -> usize {
        self.rows.iter().filter(|r| r.op == RowOp::Delete).count()
    }

    /// Whether some row keeps a target value (an unchanged TOAST value, or a column its schema lacked).
    pub fn keeps_target_values(&self) -> bool {
        let Some(mapping) = &self.mapping else { return false };
        let translations = self.translations(mapping);
        self.rows.iter().any(|r| {
            r.op != RowOp::Delete
                && !r.follows_delete
                && (!r.keep.is_empty()
                    || translations[r.layout].as_ref().is_some_and(|t| {
                        t.iter()
                            .enumerate()
                            .any(|(j, i)| i.is_none() && !dropped_before(&translations, r.layout, j))
                    }))
        })
    }

    /// For every layout: the batch's column → the layout's column of the same name (`None` for
    /// the layout whose mapping is the batch's).
    fn translations(&self, mapping: &Arc<TableMapping>) -> Vec<Option<Vec<Option<usize>>>> {
        let columns = mapping.columns();
        self.layouts
            .iter()
            .map(|l| {
                (!Arc::ptr_eq(&l.mapping, mapping)).then(|| {
                    let theirs = l.mapping.columns();
                    columns.iter().map(|c| theirs.iter().position(|t| t.name() == c.name())).collect()
                })
            })
            .collect()
    }

    /// Records (change records and truncates) that went into the batch.
    pub fn records(&self) -> usize {
        self.records
    }

    /// The highest position of any record of the batch.
    pub fn last_position(&self) -> Option<ChangePosition> {
        self.last
    }

    /// Builds the Arrow batch of the rows (see [`ChangeBatch`]).
    pub fn to_batch(&self) -> Result<ChangeBatch, DeltaError> {
        let table = self.topic.as_str();
        let Some(mapping) = &self.mapping else {
            return Err(DeltaError::Schema {
                table: table.into(),
                message: "a batch with only a truncate has no columns".into(),
            });
        };
        let columns = mapping.columns();
        let n = self.rows.len();
        let translations = self.translations(mapping);
        let key_position: Vec<Option<usize>> =
            (0..columns.len()).map(|j| mapping.key_indexes().iter().position(|&k| k == j)).collect();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 6);
        let mut fields: Vec<FieldRef> = Vec::with_capacity(columns.len() + 6);
        let mut keep_flags: Vec<(usize, Vec<bool>)> = Vec::new();
        let mut values: Vec<Option<&ConnectValue>> = Vec::with_capacity(n);
        for (j, c) in columns.iter().enumerate() {
            values.clear();
            let mut keep: Option<Vec<bool>> = None;
            for (r, row) in self.rows.iter().enumerate() {
                if let Some(k) = key_position[j] {
                    values.push(row.key.get(k));
                    continue;
                }
                if row.op == RowOp::Delete {
                    values.push(None);
                    continue;
                }
                let i = match &translations[row.layout] {
                    None => Some(j),
                    Some(t) => t[j],
                };
                let unknown = match i {
                    Some(i) => row.keep.contains(&(i as u32)),
                    // Added after the row's schema: the target's; dropped before it: null.
                    None => !dropped_before(&translations, row.layout, j),
                };
                values.push(i.and_then(|i| row.after.get(i)));
                if unknown && (!row.follows_delete || row.from.is_some()) {
                    keep.get_or_insert_with(|| vec![false; n])[r] = true;
                }
            }
            let array = column::build(c.conversion(), c.field().data_type(), &values).map_err(|message| {
                DeltaError::Value { table: table.into(), column: c.name().into(), message }
            })?;
            arrays.push(array);
            fields.push(c.field().clone());
            if let Some(k) = keep {
                keep_flags.push((j, k));
            }
        }
        let mut op = StringBuilder::with_capacity(n, n);
        for row in &self.rows {
            op.append_value(row.op.code());
        }
        let meta = crate::mapping::metadata_fields();
        arrays.push(Arc::new(op.finish()));
        arrays.push(Arc::new(Int64Array::from_iter_values(self.rows.iter().map(|r| r.position.commit_lsn))));
        arrays.push(Arc::new(Int64Array::from_iter_values(self.rows.iter().map(|r| r.position.seq))));
        arrays.push(Arc::new(
            TimestampMicrosecondArray::from_iter(self.rows.iter().map(|r| r.source_ts)).with_timezone(UTC),
        ));
        fields.extend(meta);
        let mut keep = Vec::with_capacity(keep_flags.len());
        for (j, flags) in keep_flags {
            let flag = format!("{KEEP_FLAG_PREFIX}{j}");
            if columns.iter().any(|c| c.name() == flag) {
                return Err(DeltaError::ColumnConflict { table: table.into(), column: flag });
            }
            fields.push(Arc::new(Field::new(&flag, DataType::Boolean, false)));
            arrays.push(Arc::new(BooleanArray::from(flags)));
            keep.push(KeepFlag { column: columns[j].name().to_owned(), flag });
        }
        let mut moved_from = Vec::new();
        if self.rows.iter().any(|r| r.op != RowOp::Delete && r.from.is_some()) {
            for (k, &j) in mapping.key_indexes().iter().enumerate() {
                let c = &columns[j];
                let name = format!("{MOVED_FROM_PREFIX}{j}");
                values.clear();
                values.extend(self.rows.iter().map(|r| r.from.as_ref().and_then(|f| f.get(k))));
                let array =
                    column::build(c.conversion(), c.field().data_type(), &values).map_err(|message| {
                        DeltaError::Value { table: table.into(), column: c.name().into(), message }
                    })?;
                fields.push(Arc::new(Field::new(&name, c.field().data_type().clone(), true)));
                arrays.push(array);
                moved_from.push(name);
            }
        }
        let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)
            .map_err(|e| DeltaError::arrow(table, "building the change batch", e))?;
        let deletes = self.deletes();
        Ok(ChangeBatch { batch, keep, upserts: n - deletes, deletes, moved_from })
    }
}

#[cfg(test)]
mod tests;
