//! The MERGE of a change batch as a copy-on-write rewrite of our own, for the common table.
//!
//! delta-rs' MERGE joins the whole target with the batch in DataFusion, evaluates a CASE per column
//! and row, and writes the result from one stream: on the merge benchmark it keeps one core busy
//! and spends about a fifth of its time in join, CASE and filter machinery a keyed change batch
//! does not need (see `crates/sluice-bench/profile.md`). For a table that is unpartitioned and at
//! protocol reader 1 / writer 2 or below, without constraints, invariants or `appendOnly` (so no
//! deletion vectors, column mapping, change data feed or generated columns: see [`supports`]),
//! this module does the same copy-on-write merge directly:
//!
//! 1. the batch's keys go into a hash index (an `i64` map for a single integer key, Arrow rows
//!    otherwise); a key the batch holds twice is an error, as in delta-rs' MERGE;
//! 2. files whose key min/max statistics hold no key of the batch are skipped; only the key
//!    columns of the others are read, to find the files holding matched rows: only those are
//!    rewritten;
//! 3. each touched file is read once more in full, in row ranges of about [`PART_ROWS`] rows
//!    (small files packed together), each range by its own task so that every core works. Rows
//!    the batch does not touch are copied, deleted rows dropped, updated rows replaced by the
//!    batch's row (a keep-target column keeps the old value where its flag is set; table columns
//!    the batch lacks become null; columns an older file lacks are null). The inserts (batch rows
//!    matching nothing, deletes excepted) join the smallest range. Files are written by delta-rs'
//!    `RecordBatchWriter`, so their statistics are delta-rs' own, with dictionary encoding off for
//!    the columns whose dictionary overflowed in the file rewritten (see [`writer_properties`]);
//! 4. one commit against the snapshot that was read: `remove` (data change) of the rewritten
//!    files, `add` of the new ones, the caller's txns and a MERGE commitInfo. Its read predicate
//!    is the whole table, so any concurrent change of files is a conflict, which the caller
//!    retries as it does delta-rs' MERGE.
//!
//! The rows of the table afterwards are those delta-rs' MERGE leaves (the benchmark compares both
//! tables column by column); updated rows move to the end of their range.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray as _, BooleanArray, RecordBatch, StringArray, UInt32Array, new_null_array,
};
use deltalake::arrow::compute::kernels::cmp::eq;
use deltalake::arrow::compute::kernels::zip::zip;
use deltalake::arrow::compute::{cast, concat_batches, filter_record_batch, prep_null_mask_filter, take};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::row::{RowConverter, SortField};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, LogicalFileView};
use deltalake::logstore::parquet_reader::ParquetObjectReader;
use deltalake::parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStream;
use deltalake::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use deltalake::parquet::basic::{Compression, Encoding, EncodingMask};
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, MergePredicate};
use deltalake::table::state::DeltaTableState;
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError, ObjectStore, Path};
use futures::TryStreamExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::batch::KeepFlag;
use crate::error::DeltaError;
use crate::mapping::OP_COLUMN;

/// Rows a rewrite task aims at: a file of at least twice as many is split into ranges of about
/// this size, touched files of less than half as many are packed together up to it.
#[cfg(not(test))]
pub(crate) const PART_ROWS: u64 = 500_000;
/// Small in unit tests, so that they split and pack files of a few thousand rows.
#[cfg(test)]
pub(crate) const PART_ROWS: u64 = 1_000;

/// Rows per batch read from a file.
const READ_BATCH_ROWS: usize = 65_536;

/// Whether [`merge`] can apply a batch to this table (otherwise delta-rs' MERGE does): no
/// partitions, no protocol feature beyond reader 1 / writer 2 (deletion vectors, column mapping,
/// change data feed, generated or identity columns all need more), and nothing a writer must
/// check per row (invariants, constraints) or that forbids removing rows (`appendOnly`).
pub(crate) fn supports(snapshot: &DeltaTableState) -> bool {
    let protocol = snapshot.protocol();
    let metadata = snapshot.metadata();
    let guarded = metadata.configuration().iter().any(|(k, v)| {
        k.starts_with("delta.constraints.") || (k == "delta.appendOnly" && v.eq_ignore_ascii_case("true"))
    });
    protocol.min_reader_version() <= 1
        && protocol.min_writer_version() <= 2
        && metadata.partition_columns().is_empty()
        && !guarded
        && !metadata.schema_string().contains("delta.invariants")
}

/// What [`merge`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Whether it committed (nothing to change: no commit).
    pub committed: bool,
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
}

/// How an output column is filled in an updated row.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// From the batch column.
    Source(usize),
    /// From the batch column, or the old row's value where the flag column is true.
    Keep { source: usize, flag: usize },
    /// Null: the batch no longer sends the column.
    Null,
}

/// What every task shares.
struct Shared {
    table: String,
    store: Arc<dyn ObjectStore>,
    /// The table's (and the written files') Arrow schema.
    schema: SchemaRef,
    /// The batch, cast to the table's types (keep flags and old-key columns included).
    source: RecordBatch,
    /// Per batch row: a delete.
    deletes: Vec<bool>,
    /// Per output column.
    fills: Vec<Fill>,
    key_names: Vec<String>,
    keys: KeyIndex,
}

/// A file that may hold keys of the batch.
struct Candidate {
    view: LogicalFileView,
    path: Path,
    size: u64,
}

/// The rows of one file the batch matches: (row in the file, batch row), by file row.
struct FileMatches {
    rows: u64,
    matches: Vec<(u64, u32)>,
}

/// A row range of a touched file, to be rewritten.
struct Slice {
    path: Path,
    size: u64,
    rows: u64,
    range: Range<u64>,
    /// The matches within `range`.
    matches: Vec<(u64, u32)>,
}

/// What one task writes into one new file.
#[derive(Default)]
struct Group {
    slices: Vec<Slice>,
    /// Batch rows to insert.
    inserts: Vec<u32>,
    rows: u64,
}

/// Applies `source` (a change batch conformed to `schema`, old keys filled) to `table` as one
/// copy-on-write commit carrying `props` (see the module docs). Only for tables [`supports`]
/// accepts.
pub(crate) async fn merge(
    table: &DeltaTable,
    name: &str,
    key_names: &[&str],
    source: RecordBatch,
    keep: &[KeepFlag],
    schema: &SchemaRef,
    props: CommitProperties,
) -> Result<Merged, DeltaError> {
    let snapshot = table.snapshot().map_err(|e| DeltaError::delta(name, "reading the table state", e))?;
    let shared = Arc::new(Shared::new(name, table.object_store(), schema, source, keep, key_names)?);

    // Files that may hold a key of the batch, by their key statistics.
    let candidates: Vec<Candidate> = snapshot
        .log_data()
        .iter()
        .filter(|view| shared.may_hold_keys(view))
        .map(|view| {
            let size = u64::try_from(view.size()).unwrap_or(0);
            Candidate { path: view.object_store_path(), size, view }
        })
        .collect();
    let tasks = Tasks::new(name);
    let scans: Vec<FileMatches> = tasks
        .run(candidates.iter().map(|c| {
            let shared = shared.clone();
            let (path, size) = (c.path.clone(), c.size);
            async move { shared.scan_keys(path, size).await }
        }))
        .await?;

    // Counts, and the batch rows no file matched.
    let mut counts = Merged::default();
    let mut matched = vec![false; shared.source.num_rows()];
    let mut touched = Vec::new();
    for (candidate, scan) in candidates.into_iter().zip(scans) {
        if scan.matches.is_empty() {
            continue;
        }
        for &(_, s) in &scan.matches {
            matched[s as usize] = true;
            if shared.deletes[s as usize] {
                counts.deleted += 1;
            } else {
                counts.updated += 1;
            }
        }
        touched.push((candidate, scan));
    }
    let inserts: Vec<u32> = (0..shared.source.num_rows())
        .filter(|&i| !matched[i] && !shared.deletes[i])
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    counts.inserted = inserts.len();
    if touched.is_empty() && inserts.is_empty() {
        return Ok(counts);
    }

    let groups = plan_groups(&touched, inserts);
    let mut writers = Vec::with_capacity(groups.len());
    for _ in &groups {
        writers.push(
            RecordBatchWriter::for_table(table)
                .map_err(|e| DeltaError::delta(name, "opening a writer for the merged files", e))?,
        );
    }
    let adds: Vec<Vec<Add>> = tasks
        .run(groups.into_iter().zip(writers).map(|(group, writer)| {
            let shared = shared.clone();
            async move { shared.rewrite(group, writer).await }
        }))
        .await?;

    let mut actions: Vec<Action> = adds.into_iter().flatten().map(Action::Add).collect();
    let removed = touched.len();
    let added = actions.len();
    actions.extend(touched.iter().map(|(c, _)| Action::Remove(c.view.remove_action(true))));
    let on_keys = key_names.iter().map(|k| format!("t.{k} = s.{k}")).collect::<Vec<_>>().join(" AND ");
    let upsert = format!("s.{OP_COLUMN} <> 'd'");
    let predicate =
        |action: &str, p: String| MergePredicate { action_type: action.into(), predicate: Some(p) };
    let operation = DeltaOperation::Merge {
        predicate: None,
        merge_predicate: Some(on_keys),
        matched_predicates: vec![
            predicate("delete", format!("s.{OP_COLUMN} = 'd'")),
            predicate("update", upsert.clone()),
        ],
        not_matched_predicates: vec![predicate("insert", upsert)],
        not_matched_by_source_predicates: Vec::new(),
    };
    let metrics = serde_json::json!({
        "numSourceRows": shared.source.num_rows(),
        "numTargetRowsInserted": counts.inserted,
        "numTargetRowsUpdated": counts.updated,
        "numTargetRowsDeleted": counts.deleted,
        "numTargetFilesAdded": added,
        "numTargetFilesRemoved": removed,
    });
    let props = props.with_metadata([
        ("readVersion".to_owned(), serde_json::Value::from(snapshot.version())),
        ("operationMetrics".to_owned(), metrics),
    ]);
    CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snapshot as &dyn TableReference), table.log_store(), operation)
        .await
        .map_err(|e| DeltaError::delta(name, "committing the merge", e))?;
    counts.committed = true;
    Ok(counts)
}

/// The rewrite tasks: each touched file split into ranges of about [`PART_ROWS`] rows (one when
/// it has fewer than twice that), files of less than half that packed together, the inserts
/// joining the smallest group; largest first, so that the tasks end together.
fn plan_groups(touched: &[(Candidate, FileMatches)], inserts: Vec<u32>) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut small = Group::default();
    for (candidate, scan) in touched {
        let parts = (scan.rows / PART_ROWS).max(1);
        for part in 0..parts {
            let range = scan.rows * part / parts..scan.rows * (part + 1) / parts;
            let lo = scan.matches.partition_point(|m| m.0 < range.start);
            let hi = scan.matches.partition_point(|m| m.0 < range.end);
            let slice = Slice {
                path: candidate.path.clone(),
                size: candidate.size,
                rows: scan.rows,
                range: range.clone(),
                matches: scan.matches[lo..hi].to_vec(),
            };
            let rows = range.end - range.start;
            if rows < PART_ROWS / 2 {
                small.rows += rows;
                small.slices.push(slice);
                if small.rows >= PART_ROWS {
                    groups.push(std::mem::take(&mut small));
                }
            } else {
                groups.push(Group { slices: vec![slice], inserts: Vec::new(), rows });
            }
        }
    }
    if !small.slices.is_empty() {
        groups.push(small);
    }
    if !inserts.is_empty() {
        let rows = inserts.len() as u64;
        match groups.iter_mut().min_by_key(|g| g.rows) {
            Some(g) => {
                g.rows += rows;
                g.inserts = inserts;
            }
            None => groups.push(Group { slices: Vec::new(), inserts, rows }),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.rows));
    groups
}

impl Shared {
    fn new(
        table: &str,
        store: Arc<dyn ObjectStore>,
        schema: &SchemaRef,
        source: RecordBatch,
        keep: &[KeepFlag],
        key_names: &[&str],
    ) -> Result<Self, DeltaError> {
        let source = with_table_types(table, source, schema)?;
        let column = |name: &str| {
            source.schema_ref().index_of(name).map_err(|_| DeltaError::Schema {
                table: table.into(),
                message: format!("the change batch has no column '{name}'"),
            })
        };
        let op = cast(source.column(column(OP_COLUMN)?), &DataType::Utf8)
            .map_err(|e| DeltaError::arrow(table, "reading _op", e))?;
        let is_delete =
            eq(&op, &StringArray::new_scalar("d")).map_err(|e| DeltaError::arrow(table, "reading _op", e))?;
        let deletes: Vec<bool> =
            (0..is_delete.len()).map(|i| is_delete.is_valid(i) && is_delete.value(i)).collect();
        let mut fills = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let fill = match source.schema_ref().index_of(f.name()) {
                Ok(s) => match keep.iter().find(|k| k.column == *f.name()) {
                    Some(k) => Fill::Keep { source: s, flag: column(&k.flag)? },
                    None => Fill::Source(s),
                },
                Err(_) => Fill::Null,
            };
            fills.push(fill);
        }
        let key_columns: Vec<ArrayRef> = key_names
            .iter()
            .map(|k| column(k).map(|i| source.column(i).clone()))
            .collect::<Result<_, _>>()?;
        let keys = KeyIndex::build(table, &key_columns)?;
        Ok(Shared {
            table: table.to_owned(),
            store,
            schema: schema.clone(),
            source,
            deletes,
            fills,
            key_names: key_names.iter().map(|k| (*k).to_owned()).collect(),
            keys,
        })
    }

    /// Whether the file's key statistics allow a key of the batch (true without statistics).
    fn may_hold_keys(&self, view: &LogicalFileView) -> bool {
        let KeyIndex::Int { sorted, .. } = &self.keys else { return true };
        let Some(stats) = view.stats() else { return true };
        let Ok(stats) = serde_json::from_str::<serde_json::Value>(&stats) else { return true };
        let key = self.key_names[0].as_str();
        let bound =
            |which: &str| stats.get(which).and_then(|v| v.get(key)).and_then(serde_json::Value::as_i64);
        match (bound("minValues"), bound("maxValues")) {
            (Some(min), Some(max)) => {
                let first = sorted.partition_point(|k| *k < min);
                first < sorted.len() && sorted[first] <= max
            }
            _ => true,
        }
    }

    /// Opens a file for reading its `columns` (those it has) in `range` of its rows.
    async fn open(
        &self,
        path: &Path,
        size: u64,
        columns: &[String],
        range: Option<(Range<u64>, u64)>,
    ) -> Result<(ParquetRecordBatchStream<ParquetObjectReader>, Arc<ParquetMetaData>), DeltaError> {
        let reader = ParquetObjectReader::new(self.store.clone(), path.clone()).with_file_size(size);
        // The page index lets a range skip the pages before it instead of decoding them.
        let index = if range.is_some() { PageIndexPolicy::Optional } else { PageIndexPolicy::Skip };
        let options = ArrowReaderOptions::new().with_page_index_policy(index);
        let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, options)
            .await
            .map_err(|e| self.parquet(path, e))?;
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| columns.iter().any(|c| c == f.name()))
            .map(|(i, _)| i)
            .collect();
        let projection = ProjectionMask::roots(builder.parquet_schema(), roots);
        let mut builder = builder.with_projection(projection).with_batch_size(READ_BATCH_ROWS);
        if let Some((range, rows)) = range
            && (range.start > 0 || range.end < rows)
        {
            let mut selectors = Vec::with_capacity(3);
            if range.start > 0 {
                selectors.push(RowSelector::skip(to_usize(range.start)));
            }
            selectors.push(RowSelector::select(to_usize(range.end - range.start)));
            builder = builder.with_row_selection(RowSelection::from(selectors));
        }
        let metadata = builder.metadata().clone();
        Ok((builder.build().map_err(|e| self.parquet(path, e))?, metadata))
    }

    /// The rows of a file the batch's keys match, read from its key columns.
    async fn scan_keys(&self, path: Path, size: u64) -> Result<FileMatches, DeltaError> {
        let (mut stream, _) = self.open(&path, size, &self.key_names, None).await?;
        let mut offset = 0_u64;
        let mut matches = Vec::new();
        while let Some(batch) = stream.try_next().await.map_err(|e| self.parquet(&path, e))? {
            let columns: Option<Vec<ArrayRef>> =
                self.key_names.iter().map(|k| batch.column_by_name(k).cloned()).collect();
            // A file without the key columns holds no row the batch can match.
            if let Some(columns) = columns {
                self.keys
                    .probe(&columns, |row, source| matches.push((offset + row as u64, source)))
                    .map_err(|e| DeltaError::arrow(&self.table, format!("matching the keys of {path}"), e))?;
            }
            offset += batch.num_rows() as u64;
        }
        Ok(FileMatches { rows: offset, matches })
    }

    /// Writes one group's rows (its slices merged with the batch, then its inserts) into one
    /// file, whose `add` it returns.
    async fn rewrite(&self, group: Group, mut writer: RecordBatchWriter) -> Result<Vec<Add>, DeltaError> {
        let columns: Vec<String> = self.schema.fields().iter().map(|f| f.name().clone()).collect();
        let write_err = |e| DeltaError::delta(&self.table, "writing the merged rows", e);
        for (i, slice) in group.slices.iter().enumerate() {
            let (mut stream, metadata) =
                self.open(&slice.path, slice.size, &columns, Some((slice.range.clone(), slice.rows))).await?;
            if i == 0 {
                writer = writer.with_writer_properties(writer_properties(&metadata));
            }
            let mut offset = slice.range.start;
            let mut updated = Vec::new();
            while let Some(batch) = stream.try_next().await.map_err(|e| self.parquet(&slice.path, e))? {
                let len = batch.num_rows() as u64;
                let old = self.conform(&batch).map_err(|e| self.arrow(&slice.path, e))?;
                let lo = slice.matches.partition_point(|m| m.0 < offset);
                let hi = slice.matches.partition_point(|m| m.0 < offset + len);
                let here = &slice.matches[lo..hi];
                if here.is_empty() {
                    writer.write(old).await.map_err(write_err)?;
                } else {
                    let (kept, rows) =
                        self.apply(&old, offset, here).map_err(|e| self.arrow(&slice.path, e))?;
                    if kept.num_rows() > 0 {
                        writer.write(kept).await.map_err(write_err)?;
                    }
                    if let Some(rows) = rows {
                        updated.push(rows);
                    }
                }
                offset += len;
            }
            if !updated.is_empty() {
                let rows = concat_batches(&self.schema, &updated).map_err(|e| self.arrow(&slice.path, e))?;
                writer.write(rows).await.map_err(write_err)?;
            }
        }
        if !group.inserts.is_empty() {
            let rows = self.inserted(&group.inserts)?;
            writer.write(rows).await.map_err(write_err)?;
        }
        writer.flush().await.map_err(write_err)
    }

    /// A batch read from a file, as the table's columns: cast where the file's type differs,
    /// null where the file lacks the column (added later).
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for f in self.schema.fields() {
            let column = match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => c.clone(),
                Some(c) => cast(c, f.data_type())?,
                None => new_null_array(f.data_type(), batch.num_rows()),
            };
            columns.push(column);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
    }

    /// The rows of `old` (file rows from `offset`) no match touches, and the updated rows of the
    /// matched ones (`here`: file row, batch row); deleted rows are in neither.
    fn apply(
        &self,
        old: &RecordBatch,
        offset: u64,
        here: &[(u64, u32)],
    ) -> Result<(RecordBatch, Option<RecordBatch>), ArrowError> {
        let mut keep = vec![true; old.num_rows()];
        let mut old_rows = Vec::new();
        let mut source_rows = Vec::new();
        for &(row, source) in here {
            let i = to_usize(row - offset);
            keep[i] = false;
            if !self.deletes[source as usize] {
                old_rows.push(i as u32);
                source_rows.push(source);
            }
        }
        let kept = filter_record_batch(old, &BooleanArray::from(keep))?;
        if source_rows.is_empty() {
            return Ok((kept, None));
        }
        let old_rows = UInt32Array::from(old_rows);
        let source_rows = UInt32Array::from(source_rows);
        let mut columns = Vec::with_capacity(self.fills.len());
        for ((f, fill), old_column) in self.schema.fields().iter().zip(&self.fills).zip(old.columns()) {
            let column = match *fill {
                Fill::Source(s) => take(self.source.column(s), &source_rows, None)?,
                Fill::Keep { source, flag } => {
                    let flags = take(self.source.column(flag), &source_rows, None)?;
                    let flags = flags.as_boolean_opt().ok_or_else(|| {
                        ArrowError::InvalidArgumentError(format!(
                            "keep flag of '{}' is not boolean",
                            f.name()
                        ))
                    })?;
                    // A null flag keeps nothing (`CASE WHEN NULL` takes the ELSE branch).
                    let flags =
                        if flags.null_count() > 0 { prep_null_mask_filter(flags) } else { flags.clone() };
                    let kept = take(old_column, &old_rows, None)?;
                    let new = take(self.source.column(source), &source_rows, None)?;
                    zip(&flags, &kept, &new)?
                }
                Fill::Null => new_null_array(f.data_type(), source_rows.len()),
            };
            columns.push(column);
        }
        Ok((kept, Some(RecordBatch::try_new(self.schema.clone(), columns)?)))
    }

    /// The batch rows `rows` as new table rows (a keep-target column holds the batch's null: there
    /// is no old row).
    fn inserted(&self, rows: &[u32]) -> Result<RecordBatch, DeltaError> {
        let indices = UInt32Array::from(rows.to_vec());
        let mut columns = Vec::with_capacity(self.fills.len());
        for (f, fill) in self.schema.fields().iter().zip(&self.fills) {
            let column = match *fill {
                Fill::Source(s) | Fill::Keep { source: s, .. } => take(self.source.column(s), &indices, None)
                    .map_err(|e| DeltaError::arrow(&self.table, "taking the inserted rows", e))?,
                Fill::Null if f.is_nullable() => new_null_array(f.data_type(), rows.len()),
                Fill::Null => {
                    return Err(DeltaError::Schema {
                        table: self.table.clone(),
                        message: format!(
                            "column '{}' is NOT NULL in the Delta table but the source no longer sends it",
                            f.name()
                        ),
                    });
                }
            };
            columns.push(column);
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| DeltaError::arrow(&self.table, "building the inserted rows", e))
    }

    fn parquet(&self, path: &Path, e: ParquetError) -> DeltaError {
        DeltaError::delta(&self.table, format!("reading {path}"), DeltaTableError::from(e))
    }

    fn arrow(&self, path: &Path, e: ArrowError) -> DeltaError {
        DeltaError::arrow(&self.table, format!("merging the rows of {path}"), e)
    }
}

/// `source` with its table columns cast to the table's types: the old rows of moved keys come back
/// from DataFusion with its own string and binary types (views), which the kernels that combine
/// them with old rows refuse.
fn with_table_types(table: &str, source: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, DeltaError> {
    let differs =
        |f: &FieldRef| schema.field_with_name(f.name()).is_ok_and(|t| t.data_type() != f.data_type());
    if !source.schema_ref().fields().iter().any(differs) {
        return Ok(source);
    }
    let mut fields: Vec<FieldRef> = Vec::with_capacity(source.num_columns());
    let mut columns = Vec::with_capacity(source.num_columns());
    for (f, c) in source.schema_ref().fields().iter().zip(source.columns()) {
        match schema.field_with_name(f.name()) {
            Ok(t) if t.data_type() != f.data_type() => {
                let cast = cast(c, t.data_type())
                    .map_err(|e| DeltaError::arrow(table, format!("casting column '{}'", f.name()), e))?;
                fields.push(Arc::new(Field::new(f.name(), t.data_type().clone(), f.is_nullable())));
                columns.push(cast);
            }
            _ => {
                fields.push(f.clone());
                columns.push(c.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| DeltaError::arrow(table, "casting the batch to the table's types", e))
}

/// delta-rs' writer properties (Snappy), with dictionary encoding off for the columns whose
/// dictionary the file being rewritten (its first part) outgrew, or that were written without one:
/// those values are too many to share a dictionary, and building one anyway until it overflows
/// costs more than encoding the rest.
fn writer_properties(rewritten: &ParquetMetaData) -> WriterProperties {
    let mut properties = WriterProperties::builder()
        .set_created_by(format!("delta-rs version {}", deltalake::crate_version()))
        .set_compression(Compression::SNAPPY);
    let dictionary_only = |mask: &EncodingMask| {
        mask.is_only(Encoding::RLE_DICTIONARY) || mask.is_only(Encoding::PLAIN_DICTIONARY)
    };
    for row_group in rewritten.row_groups() {
        for column in row_group.columns() {
            // Data pages not all dictionary-encoded: the dictionary overflowed, or a rewrite
            // before this one turned it off.
            let outgrown = column.page_encoding_stats_mask().is_some_and(|mask| !dictionary_only(mask));
            if outgrown {
                properties = properties.set_column_dictionary_enabled(column.column_path().clone(), false);
            }
        }
    }
    properties.build()
}

/// The batch's keys, for finding the table rows they match.
enum KeyIndex {
    /// A single integer key (any width, as `i64`), with the keys in order for statistics pruning.
    Int { rows: HashMap<i64, u32, BuildHasherDefault<IntHasher>>, sorted: Vec<i64> },
    /// Any other key, in Arrow's row format.
    Rows { converter: RowConverter, types: Vec<DataType>, rows: HashMap<Box<[u8]>, u32> },
}

impl KeyIndex {
    fn build(table: &str, columns: &[ArrayRef]) -> Result<Self, DeltaError> {
        let err = |e| DeltaError::arrow(table, "indexing the keys of the batch", e);
        let twice = || {
            DeltaError::Internal(format!(
                "table {table}: the change batch holds a key twice (batches are collapsed per key)"
            ))
        };
        if let [column] = columns
            && column.data_type().is_integer()
            && column.null_count() == 0
        {
            let column = cast(column, &DataType::Int64).map_err(err)?;
            let values = column.as_primitive::<Int64Type>().values();
            let mut rows = HashMap::with_capacity_and_hasher(values.len(), BuildHasherDefault::default());
            for (i, &k) in values.iter().enumerate() {
                if rows.insert(k, u32::try_from(i).map_err(|_| twice())?).is_some() {
                    return Err(twice());
                }
            }
            let mut sorted = values.to_vec();
            sorted.sort_unstable();
            return Ok(KeyIndex::Int { rows, sorted });
        }
        let types: Vec<DataType> = columns.iter().map(|c| c.data_type().clone()).collect();
        let converter =
            RowConverter::new(types.iter().map(|t| SortField::new(t.clone())).collect()).map_err(err)?;
        let converted = converter.convert_columns(columns).map_err(err)?;
        let mut rows = HashMap::with_capacity(converted.num_rows());
        for (i, row) in converted.iter().enumerate() {
            if rows.insert(Box::from(row.as_ref()), u32::try_from(i).map_err(|_| twice())?).is_some() {
                return Err(twice());
            }
        }
        Ok(KeyIndex::Rows { converter, types, rows })
    }

    /// Calls `found(row, batch row)` for each row of `columns` (a file's key columns) whose key the
    /// batch holds. A null key matches nothing.
    fn probe(&self, columns: &[ArrayRef], mut found: impl FnMut(usize, u32)) -> Result<(), ArrowError> {
        match self {
            KeyIndex::Int { rows, .. } => {
                let [column] = columns else {
                    return Err(ArrowError::InvalidArgumentError("one key column expected".into()));
                };
                let column = cast(column, &DataType::Int64)?;
                let column = column.as_primitive::<Int64Type>();
                for (i, k) in column.values().iter().enumerate() {
                    if let Some(&s) = rows.get(k)
                        && column.is_valid(i)
                    {
                        found(i, s);
                    }
                }
            }
            KeyIndex::Rows { converter, types, rows } => {
                let columns: Vec<ArrayRef> = columns
                    .iter()
                    .zip(types)
                    .map(|(c, t)| if c.data_type() == t { Ok(c.clone()) } else { cast(c, t) })
                    .collect::<Result<_, _>>()?;
                let converted = converter.convert_columns(&columns)?;
                for (i, row) in converted.iter().enumerate() {
                    if columns.iter().any(|c| c.is_null(i)) {
                        continue;
                    }
                    if let Some(&s) = rows.get(row.as_ref()) {
                        found(i, s);
                    }
                }
            }
        }
        Ok(())
    }
}

/// A multiplicative hash for integer keys: the batch's keys are a source table's key values, not
/// chosen by an adversary, and SipHash would cost more than the lookups themselves.
#[derive(Debug, Default, Clone, Copy)]
struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i64(&mut self, k: i64) {
        self.0 = (k as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Runs a merge's file tasks on the runtime's threads, as many at a time as there are cores;
/// the tasks still running when one fails are aborted.
struct Tasks {
    table: String,
    limit: Arc<Semaphore>,
}

impl Tasks {
    fn new(table: &str) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
        Tasks { table: table.to_owned(), limit: Arc::new(Semaphore::new(cores)) }
    }

    /// The results of `tasks`, in their order.
    async fn run<T, F>(&self, tasks: impl Iterator<Item = F>) -> Result<Vec<T>, DeltaError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, DeltaError>> + Send + 'static,
    {
        let mut set = JoinSet::new();
        let mut count = 0;
        for (i, task) in tasks.enumerate() {
            let limit = self.limit.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, task.await)
            });
            count += 1;
        }
        let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            let (i, result) = joined.map_err(|e| {
                DeltaError::Internal(format!("table {}: a merge task failed: {e}", self.table))
            })?;
            results[i] = Some(result?);
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| DeltaError::Internal(format!("table {}: a merge task vanished", self.table)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{BooleanArray, Int64Array};
    use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
    use deltalake::datafusion::logical_expr::{col, lit};
    use deltalake::datafusion::prelude::SessionContext;
    use deltalake::kernel::StructField;
    use deltalake::kernel::engine::arrow_conversion::{TryFromArrow as _, TryIntoArrow as _};
    use deltalake::protocol::SaveMode;
    use deltalake::{DeltaTable, ensure_table_uri};

    use super::*;

    const APP: &str = "rewrite-test";

    fn field(name: &str, ty: DataType, nullable: bool) -> Field {
        Field::new(name, ty, nullable)
    }

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn ints(values: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    /// A table at `dir` with `columns`, one file per batch of `files`.
    async fn table(dir: &std::path::Path, columns: &[Field], files: Vec<RecordBatch>) -> DeltaTable {
        let url = ensure_table_uri(dir.to_str().unwrap()).unwrap();
        let fields: Vec<StructField> =
            columns.iter().map(|f| StructField::try_from_arrow(f).unwrap()).collect();
        let mut table =
            DeltaTable::try_from_url(url).await.unwrap().create().with_columns(fields).await.unwrap();
        for batch in files {
            table = table.write(vec![batch]).with_save_mode(SaveMode::Append).await.unwrap();
        }
        table
    }

    fn schema_of(table: &DeltaTable) -> SchemaRef {
        let schema: Schema = table.snapshot().unwrap().schema().as_ref().try_into_arrow().unwrap();
        Arc::new(schema)
    }

    /// `columns` as a batch.
    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> =
            columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect())
            .unwrap()
    }

    /// `source` cast to the table's types, as `TableWriter` hands it over.
    fn conformed(source: &RecordBatch, schema: &SchemaRef) -> RecordBatch {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for (f, c) in source.schema().fields().iter().zip(source.columns()) {
            match schema.field_with_name(f.name()) {
                Ok(t) => {
                    fields.push(Field::new(f.name(), t.data_type().clone(), true));
                    columns.push(cast(c, t.data_type()).unwrap());
                }
                Err(_) => {
                    fields.push(f.as_ref().clone());
                    columns.push(c.clone());
                }
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    async fn apply(
        table: &mut DeltaTable,
        key: &[&str],
        source: RecordBatch,
        keep: &[KeepFlag],
        version: i64,
    ) -> Result<Merged, DeltaError> {
        let schema = schema_of(table);
        let props = CommitProperties::default()
            .with_application_transaction(deltalake::kernel::Transaction::new(APP, version));
        let merged =
            merge(table, "test.public.t", key, conformed(&source, &schema), keep, &schema, props).await?;
        table.update_state().await.unwrap();
        Ok(merged)
    }

    /// The table's rows as text, sorted.
    async fn rows(table: &DeltaTable) -> Vec<Vec<String>> {
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state()).unwrap();
        let provider = table.table_provider().await.unwrap();
        let batches = ctx.read_table(provider).unwrap().collect().await.unwrap();
        let options = FormatOptions::default().with_null("null");
        let mut rows = Vec::new();
        for b in &batches {
            let formatters: Vec<ArrayFormatter<'_>> =
                b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
            for i in 0..b.num_rows() {
                rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>());
            }
        }
        rows.sort();
        rows
    }

    fn files(table: &DeltaTable) -> Vec<String> {
        let mut files: Vec<String> =
            table.snapshot().unwrap().log_data().iter().map(|f| f.path().to_string()).collect();
        files.sort();
        files
    }

    async fn txn(table: &DeltaTable) -> Option<i64> {
        table.snapshot().unwrap().transaction_version(table.log_store().as_ref(), APP).await.unwrap()
    }

    /// delta-rs' MERGE with the clauses `TableWriter` gives it when no column keeps its value.
    async fn delta_rs_merge(table: DeltaTable, key: &str, source: RecordBatch) -> DeltaTable {
        let ctx = SessionContext::new();
        let columns: Vec<String> = source.schema().fields().iter().map(|f| f.name().clone()).collect();
        let df = ctx.read_batch(source).unwrap();
        let (table, _) = table
            .merge(df, col(format!("t.{key}")).eq(col(format!("s.{key}"))))
            .with_source_alias("s")
            .with_target_alias("t")
            .when_matched_delete(|d| d.predicate(col("s._op").eq(lit("d"))))
            .unwrap()
            .when_matched_update(|mut u| {
                u = u.predicate(col("s._op").not_eq(lit("d")));
                for c in columns.iter().filter(|c| *c != key) {
                    u = u.update(c.as_str(), col(format!("s.{c}")));
                }
                u
            })
            .unwrap()
            .when_not_matched_insert(|mut i| {
                i = i.predicate(col("s._op").not_eq(lit("d")));
                for c in &columns {
                    i = i.set(c.as_str(), col(format!("s.{c}")));
                }
                i
            })
            .unwrap()
            .await
            .unwrap();
        table
    }

    fn people(ids: std::ops::RangeInclusive<i64>, tag: &str) -> RecordBatch {
        let ids: Vec<i64> = ids.collect();
        let names: Vec<String> = ids.iter().map(|i| format!("{tag}{i}")).collect();
        batch(vec![
            ("id", ints(&ids)),
            ("name", Arc::new(StringArray::from(names))),
            ("_op", strings(&vec![Some("r"); ids.len()])),
        ])
    }

    fn people_columns() -> Vec<Field> {
        vec![
            field("id", DataType::Int64, false),
            field("name", DataType::Utf8, true),
            field("_op", DataType::Utf8, true),
        ]
    }

    #[tokio::test]
    async fn updates_deletes_and_inserts_leave_what_delta_rs_merge_leaves() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let base = || vec![people(1..=100, "a"), people(101..=200, "b"), people(201..=300, "c")];
        let mut ours = table(a.path(), &people_columns(), base()).await;
        let theirs = table(b.path(), &people_columns(), base()).await;
        let before = files(&ours);
        // Updates in the first and last file, a delete, a create of a key the table has (an
        // update), inserts, and a delete of a key the table lacks (nothing).
        let source = batch(vec![
            ("id", ints(&[5, 250, 7, 9, 301, 302, 999])),
            ("name", strings(&[Some("u5"), Some("u250"), None, Some("again9"), Some("n301"), None, None])),
            ("_op", strings(&[Some("u"), Some("u"), Some("d"), Some("c"), Some("c"), Some("c"), Some("d")])),
        ]);
        let merged = apply(&mut ours, &["id"], source.clone(), &[], 2).await.unwrap();
        assert_eq!(
            merged,
            Merged { committed: true, inserted: 2, updated: 3, deleted: 1 },
            "7 deleted; 5, 250 and 9 updated; 301 and 302 inserted; 999 matches nothing"
        );
        let schema = schema_of(&theirs);
        let theirs = delta_rs_merge(theirs, "id", conformed(&source, &schema)).await;
        let (ours_rows, theirs_rows) = (rows(&ours).await, rows(&theirs).await);
        assert_eq!(ours_rows.len(), 301);
        assert_eq!(ours_rows, theirs_rows);
        assert!(ours_rows.contains(&vec!["9".into(), "again9".into(), "c".into()]));
        assert!(ours_rows.contains(&vec!["302".into(), "null".into(), "c".into()]));
        assert!(!ours_rows.iter().any(|r| r[0] == "7"));
        assert_eq!(txn(&ours).await, Some(2), "the txn is in the merge's commit");
        let after = files(&ours);
        assert_eq!(
            after.iter().filter(|f| before.contains(f)).count(),
            1,
            "the middle file is not rewritten"
        );
        assert_eq!(after.len(), 2, "the two touched small files and the inserts make one file");
        let commit = ours.history(Some(1)).try_collect::<Vec<_>>().await.unwrap();
        assert_eq!(commit[0].operation.as_deref(), Some("MERGE"));
    }

    #[tokio::test]
    async fn a_batch_matching_nothing_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), &people_columns(), vec![people(1..=10, "a")]).await;
        let version = t.version();
        let source =
            batch(vec![("id", ints(&[50])), ("name", strings(&[None])), ("_op", strings(&[Some("d")]))]);
        let merged = apply(&mut t, &["id"], source, &[], 2).await.unwrap();
        assert_eq!(merged, Merged::default());
        assert_eq!(t.version(), version);
        let empty = batch(vec![("id", ints(&[])), ("name", strings(&[])), ("_op", strings(&[]))]);
        assert_eq!(apply(&mut t, &["id"], empty, &[], 3).await.unwrap(), Merged::default());
        assert_eq!(rows(&t).await.len(), 10);
    }

    #[tokio::test]
    async fn a_keep_flag_keeps_the_old_value_and_an_insert_gets_the_batchs() {
        let dir = tempfile::tempdir().unwrap();
        let columns = vec![
            field("id", DataType::Int64, false),
            field("name", DataType::Utf8, true),
            field("bio", DataType::Utf8, true),
            field("_op", DataType::Utf8, true),
        ];
        let base = batch(vec![
            ("id", ints(&[1, 2, 3])),
            ("name", strings(&[Some("a"), Some("b"), Some("c")])),
            ("bio", strings(&[Some("long1"), Some("long2"), Some("long3")])),
            ("_op", strings(&[Some("r"); 3])),
        ]);
        let mut t = table(dir.path(), &columns, vec![base]).await;
        let flag: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]));
        let source = batch(vec![
            ("id", ints(&[1, 2, 3, 4])),
            ("name", strings(&[Some("a2"), Some("b2"), Some("c2"), Some("d")])),
            ("bio", strings(&[None, Some("new2"), Some("new3"), None])),
            ("_op", strings(&[Some("u"), Some("u"), Some("u"), Some("c")])),
            ("__sluice_keep_2", flag),
        ]);
        let keep = [KeepFlag { column: "bio".into(), flag: "__sluice_keep_2".into() }];
        let merged = apply(&mut t, &["id"], source, &keep, 2).await.unwrap();
        assert_eq!((merged.updated, merged.inserted), (3, 1));
        let want: Vec<Vec<String>> = [
            ["1", "a2", "long1", "u"],
            ["2", "b2", "new2", "u"],
            ["3", "c2", "new3", "u"],
            ["4", "d", "null", "c"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
        .collect();
        assert_eq!(rows(&t).await, want);
        let schema = schema_of(&t);
        assert!(schema.field_with_name("__sluice_keep_2").is_err(), "flags are not stored");

        // A flag column without nulls (Arrow then has no validity buffer).
        let flag: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
        let source = batch(vec![
            ("id", ints(&[1, 4])),
            ("name", strings(&[Some("a3"), Some("d2")])),
            ("bio", strings(&[None, Some("bio4")])),
            ("_op", strings(&[Some("u"), Some("u")])),
            ("__sluice_keep_2", flag),
        ]);
        apply(&mut t, &["id"], source, &keep, 3).await.unwrap();
        let all = rows(&t).await;
        assert_eq!(all[0], ["1", "a3", "long1", "u"]);
        assert_eq!(all[3], ["4", "d2", "bio4", "u"]);
    }

    #[tokio::test]
    async fn an_added_column_is_null_in_older_files_and_a_dropped_one_null_in_changed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let columns = vec![
            field("id", DataType::Int64, false),
            field("name", DataType::Utf8, true),
            field("gone", DataType::Utf8, true),
            field("_op", DataType::Utf8, true),
        ];
        let base = batch(vec![
            ("id", ints(&[1, 2])),
            ("name", strings(&[Some("a"), Some("b")])),
            ("gone", strings(&[Some("g1"), Some("g2")])),
            ("_op", strings(&[Some("r"), Some("r")])),
        ]);
        let t = table(dir.path(), &columns, vec![base]).await;
        let added = StructField::try_from_arrow(&field("city", DataType::Utf8, true)).unwrap();
        let mut t = t.add_columns().with_fields(vec![added]).await.unwrap();
        // The source sends `city` (new) and no longer sends `gone`.
        let source = batch(vec![
            ("id", ints(&[2, 3])),
            ("name", strings(&[Some("b2"), Some("c")])),
            ("city", strings(&[Some("Oslo"), Some("Rome")])),
            ("_op", strings(&[Some("u"), Some("c")])),
        ]);
        apply(&mut t, &["id"], source, &[], 2).await.unwrap();
        let want: Vec<Vec<String>> = [
            ["1", "a", "g1", "r", "null"],
            ["2", "b2", "null", "u", "Oslo"],
            ["3", "c", "null", "c", "Rome"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
        .collect();
        assert_eq!(rows(&t).await, want);
    }

    #[tokio::test]
    async fn a_composite_key_matches_on_every_key_column() {
        let dir = tempfile::tempdir().unwrap();
        let columns = vec![
            field("order", DataType::Int64, false),
            field("line", DataType::Utf8, false),
            field("qty", DataType::Int64, true),
            field("_op", DataType::Utf8, true),
        ];
        let base = batch(vec![
            ("order", ints(&[1, 1, 2])),
            ("line", strings(&[Some("x"), Some("y"), Some("x")])),
            ("qty", ints(&[10, 20, 30])),
            ("_op", strings(&[Some("r"); 3])),
        ]);
        let mut t = table(dir.path(), &columns, vec![base]).await;
        let source = batch(vec![
            ("order", ints(&[1, 2, 2])),
            ("line", strings(&[Some("y"), Some("x"), Some("y")])),
            ("qty", ints(&[21, 0, 40])),
            ("_op", strings(&[Some("u"), Some("d"), Some("c")])),
        ]);
        let merged = apply(&mut t, &["order", "line"], source, &[], 2).await.unwrap();
        assert_eq!((merged.updated, merged.deleted, merged.inserted), (1, 1, 1));
        let want: Vec<Vec<String>> = [["1", "x", "10", "r"], ["1", "y", "21", "u"], ["2", "y", "40", "c"]]
            .iter()
            .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
            .collect();
        assert_eq!(rows(&t).await, want);
    }

    #[tokio::test]
    async fn string_views_from_datafusion_are_cast_to_the_tables_strings() {
        use deltalake::arrow::array::StringViewArray;

        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), &people_columns(), vec![people(1..=3, "a")]).await;
        let schema = schema_of(&t);
        let views: ArrayRef = Arc::new(StringViewArray::from(vec![Some("b2"), Some("new4")]));
        let flag: ArrayRef = Arc::new(BooleanArray::from(vec![false, false]));
        let source = batch(vec![
            ("id", ints(&[2, 4])),
            ("name", views),
            ("_op", strings(&[Some("u"), Some("c")])),
            ("__sluice_keep_1", flag),
        ]);
        let keep = [KeepFlag { column: "name".into(), flag: "__sluice_keep_1".into() }];
        let props = CommitProperties::default();
        // Handed over as `fill_moved` returns it: not conformed.
        let merged = merge(&t, "test.public.t", &["id"], source, &keep, &schema, props).await.unwrap();
        assert_eq!((merged.updated, merged.inserted), (1, 1));
        t.update_state().await.unwrap();
        let names: Vec<String> = rows(&t).await.into_iter().map(|r| r[1].clone()).collect();
        assert_eq!(names, ["a1", "b2", "a3", "new4"]);
    }

    #[tokio::test]
    async fn a_key_twice_in_the_batch_is_an_error_naming_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), &people_columns(), vec![people(1..=3, "a")]).await;
        let source = batch(vec![
            ("id", ints(&[2, 2])),
            ("name", strings(&[Some("x"), Some("y")])),
            ("_op", strings(&[Some("u"), Some("u")])),
        ]);
        let e = apply(&mut t, &["id"], source, &[], 2).await.unwrap_err();
        assert!(e.to_string().contains("test.public.t") && e.to_string().contains("twice"), "{e}");
        assert_eq!(rows(&t).await.len(), 3, "nothing changed");
    }

    #[tokio::test]
    async fn a_large_file_is_rewritten_in_parallel_ranges_and_small_ones_packed() {
        let dir = tempfile::tempdir().unwrap();
        let rows_total = PART_ROWS * 2 + 10;
        let big = people(1..=rows_total as i64, "a");
        let small1 = people(rows_total as i64 + 1..=rows_total as i64 + 5, "s");
        let small2 = people(rows_total as i64 + 6..=rows_total as i64 + 9, "t");
        let mut t = table(dir.path(), &people_columns(), vec![big, small1, small2]).await;
        let last = rows_total as i64 + 9;
        let source = batch(vec![
            ("id", ints(&[1, rows_total as i64, rows_total as i64 + 2, last, last + 1])),
            ("name", strings(&[Some("x"), Some("y"), None, Some("z"), Some("new")])),
            ("_op", strings(&[Some("u"), Some("u"), Some("d"), Some("u"), Some("c")])),
        ]);
        let merged = apply(&mut t, &["id"], source, &[], 2).await.unwrap();
        assert_eq!((merged.updated, merged.deleted, merged.inserted), (3, 1, 1));
        // The big file became two, the small ones one (with the insert).
        assert_eq!(files(&t).len(), 3);
        let count: usize = t.snapshot().unwrap().log_data().iter().filter_map(|f| f.num_records()).sum();
        assert_eq!(count as u64, rows_total + 9);
        let all = rows(&t).await;
        assert_eq!(all.len() as u64, rows_total + 9);
        let find = |id: i64| all.iter().find(|r| r[0] == id.to_string()).cloned();
        assert_eq!(find(1).unwrap()[1], "x");
        assert_eq!(find(rows_total as i64).unwrap()[1], "y");
        assert_eq!(find(last).unwrap()[1], "z");
        assert_eq!(find(last + 1).unwrap()[1], "new");
        assert!(find(rows_total as i64 + 2).is_none());
        assert_eq!(find(2).unwrap()[1], "a2");
    }

    #[test]
    fn dictionary_encoding_stays_off_for_columns_whose_dictionary_overflowed() {
        use deltalake::parquet::arrow::ArrowWriter;
        use deltalake::parquet::file::reader::{FileReader as _, SerializedFileReader};
        use deltalake::parquet::schema::types::ColumnPath;

        let ids: Vec<i64> = (0..10_000).collect();
        let rows = batch(vec![("id", ints(&ids)), ("_op", strings(&vec![Some("r"); ids.len()]))]);
        let small_dictionaries = WriterProperties::builder().set_dictionary_page_size_limit(1024).build();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, rows.schema(), Some(small_dictionaries)).unwrap();
        writer.write(&rows).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        let properties = writer_properties(reader.metadata());
        assert!(!properties.dictionary_enabled(&ColumnPath::from("id")), "10,000 ids overflow 1 kB");
        assert!(properties.dictionary_enabled(&ColumnPath::from("_op")), "one value fits");
        assert_eq!(properties.compression(&ColumnPath::from("id")), Compression::SNAPPY);

        // The next rewrite reads a file written with those properties: the decision sticks.
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, rows.schema(), Some(properties)).unwrap();
        writer.write(&rows).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        let properties = writer_properties(reader.metadata());
        assert!(!properties.dictionary_enabled(&ColumnPath::from("id")));
        assert!(properties.dictionary_enabled(&ColumnPath::from("_op")));
    }

    #[tokio::test]
    async fn only_plain_tables_take_this_path() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(dir.path(), &people_columns(), vec![people(1..=3, "a")]).await;
        assert!(supports(t.snapshot().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let url = ensure_table_uri(dir.path().to_str().unwrap()).unwrap();
        let fields: Vec<StructField> =
            people_columns().iter().map(|f| StructField::try_from_arrow(f).unwrap()).collect();
        let partitioned = DeltaTable::try_from_url(url)
            .await
            .unwrap()
            .create()
            .with_columns(fields)
            .with_partition_columns(["_op"])
            .await
            .unwrap();
        assert!(!supports(partitioned.snapshot().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let url = ensure_table_uri(dir.path().to_str().unwrap()).unwrap();
        let fields: Vec<StructField> =
            people_columns().iter().map(|f| StructField::try_from_arrow(f).unwrap()).collect();
        let cdf = DeltaTable::try_from_url(url)
            .await
            .unwrap()
            .create()
            .with_columns(fields)
            .with_configuration_property(deltalake::TableProperty::EnableChangeDataFeed, Some("true"))
            .await
            .unwrap();
        assert!(!supports(cdf.snapshot().unwrap()));
    }
}
