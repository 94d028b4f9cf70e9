//! One Delta table written by one applier: create, schema evolution, and one commit per batch.
//!
//! [`TableWriter::apply`] turns a [`TableChanges`] into exactly one data commit that also carries
//! `txn(app_id, version)`, so a restarted applier reads [`TableWriter::transaction_version`] and
//! skips what the table already has (exactly-once effect). The commit is, by case:
//!
//! * **overwrite** when the batch starts with a truncate: the table's files are replaced by the
//!   batch's upserts (`SaveMode::Overwrite`); with no upserts, a DELETE of every row;
//! * **append** (`SaveMode::Append`, no read of the target) when no key of the batch can exist in the
//!   table: the table has no files, or the caller says so (`keys_are_new`, e.g. an initial snapshot).
//!   Deletes are dropped and keep-target columns are null;
//! * otherwise **one MERGE** on the key columns: `WHEN MATCHED AND s._op = 'd' THEN DELETE`,
//!   `WHEN MATCHED AND s._op <> 'd' THEN UPDATE` (every source column; a keep-target column as
//!   `CASE WHEN s.<flag> THEN t.<col> ELSE s.<col> END`), `WHEN NOT MATCHED AND s._op <> 'd' THEN
//!   INSERT`. Table columns the source no longer sends (dropped) become null in updated and
//!   inserted rows; rows the batch does not change keep their values. On the tables sluice creates
//!   (unpartitioned, protocol 1/2) the MERGE is sluice's own copy-on-write rewrite of the touched
//!   files (the crate's `rewrite` module, about twice as fast); on others, delta-rs' DataFusion MERGE.
//!
//! An operation that changes no file (a merge that matched nothing to do, a delete of an empty
//! table) does not commit in delta-rs, so its txn is then recorded by an empty `STREAMING UPDATE`
//! commit: every applied version is readable afterwards.
//!
//! **Schema evolution.** Before the data commit, source columns the table lacks are added (nullable,
//! `add_columns`, a metadata-only commit). A source column whose type widened (`int4` → `int8`, a
//! wider decimal, ...) cannot be applied by delta-rs (no type widening): that is a
//! [`DeltaError::TypeChange`] naming the table, column and the manual fix. A narrower source type is
//! cast to the table's.
//!
//! **Conflicts.** A commit conflict (another writer changed files this commit read, e.g. a
//! concurrent OPTIMIZE) reloads the table and re-runs the whole operation, up to
//! [`TableWriter::with_max_attempts`]; a concurrent commit under the same application id means
//! another applier writes this table, which is [`DeltaError::Fenced`].
//!
//! Timestamps are written as `Timestamp(µs, "UTC")` and no table feature is enabled, so tables stay
//! at protocol reader 1 / writer 2 (see [`crate::mapping`]).

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Schema as ArrowSchema, SchemaRef};
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{Expr, col, lit, when};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow as _, TryIntoArrow as _};
use deltalake::kernel::transaction::{CommitBuilder, CommitConflictError, CommitProperties, TableReference};
use deltalake::kernel::{StructField, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake::{DeltaTable, DeltaTableError, ensure_table_uri};

use crate::batch::{ChangeBatch, TableChanges};
use crate::error::{DeltaError, commit_conflict};
use crate::mapping::{OP_COLUMN, TableMapping};
use crate::rewrite;

/// Source and target aliases in the MERGE.
const SOURCE: &str = "s";
const TARGET: &str = "t";

/// How many times an operation is tried when commits conflict, by default.
pub const DEFAULT_MAX_ATTEMPTS: usize = 5;

/// Which commit [`TableWriter::apply`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyPath {
    /// A blind append of the upserts.
    Append,
    /// One MERGE on the key columns.
    Merge,
    /// The table's content replaced by the upserts (a truncate preceded them).
    Overwrite,
    /// Every row deleted (a truncate with nothing after it).
    DeleteAll,
    /// Only the txn: there was nothing to change.
    TxnOnly,
}

/// What [`TableWriter::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The data commit's kind (`TxnOnly` when the operation changed nothing).
    pub path: ApplyPath,
    /// The table version that carries the txn.
    pub table_version: u64,
    /// Rows inserted (appended, or inserted by the MERGE).
    pub inserted: usize,
    /// Rows updated by the MERGE.
    pub updated: usize,
    /// Rows deleted (by the MERGE or the truncate).
    pub deleted: usize,
    /// Columns added to the table before the data commit.
    pub columns_added: Vec<String>,
    /// How many attempts it took (more than 1 after commit conflicts).
    pub attempts: usize,
}

/// A source position recorded in a Delta commit: the `txn` action (application id, version). The
/// direct path has one per connector (version: the commit LSN); the Kafka sink one per topic
/// partition (`<connector>-<topic>-<partition>`, version: the offset).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppTxn {
    /// The application id.
    pub app_id: String,
    /// The last version of the source the commit covers.
    pub version: i64,
}

impl AppTxn {
    /// `txn(app_id, version)`.
    pub fn new(app_id: impl Into<String>, version: i64) -> Self {
        AppTxn { app_id: app_id.into(), version }
    }

    fn action(&self) -> Transaction {
        Transaction::new(&self.app_id, self.version)
    }
}

/// A Delta table that one applier writes.
#[derive(Debug, Clone)]
pub struct TableWriter {
    table: DeltaTable,
    name: String,
    location: String,
    max_attempts: usize,
    /// The txn version this writer last read or committed per application id: another value in
    /// the table after a conflict means another writer uses the same id.
    txn_seen: HashMap<String, i64>,
}

impl TableWriter {
    /// Opens the table at `location` (a local path or a URL), `None` if there is none yet. `name`
    /// names the table in errors (the topic).
    pub async fn open(location: &str, name: &str) -> Result<Option<Self>, DeltaError> {
        let writer = Self::handle(location, name).await?;
        Ok(writer.table.version().is_some().then_some(writer))
    }

    /// Opens the table at `location`, creating it with `mapping`'s schema when there is none.
    pub async fn open_or_create(location: &str, mapping: &TableMapping) -> Result<Self, DeltaError> {
        let name = mapping.table();
        let mut writer = Self::handle(location, name).await?;
        if writer.table.version().is_some() {
            return Ok(writer);
        }
        let columns = mapping
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| StructField::try_from_arrow(f.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeltaError::arrow(name, "converting the schema to Delta", e))?;
        writer.table = writer
            .table
            .create()
            .with_table_name(name)
            .with_comment(format!("Debezium topic {name}, written by sluice"))
            .with_columns(columns)
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(|e| DeltaError::delta(name, format!("creating the table at {location}"), e))?;
        writer.reload().await?;
        Ok(writer)
    }

    async fn handle(location: &str, name: &str) -> Result<Self, DeltaError> {
        let context = || format!("opening the table at {location}");
        let url = ensure_table_uri(location).map_err(|e| DeltaError::delta(name, context(), e))?;
        let table = DeltaTable::try_from_url(url).await.map_err(|e| DeltaError::delta(name, context(), e))?;
        Ok(TableWriter {
            table,
            name: name.to_owned(),
            location: location.to_owned(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            txn_seen: HashMap::new(),
        })
    }

    /// Sets how many times an operation is tried when its commit conflicts (at least 1).
    pub fn with_max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The loaded table version.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// The table's location as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The delta-rs table (for reads, maintenance and tests).
    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// The table's name in errors (the topic).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the loaded table with one an operation on it returned (maintenance).
    pub(crate) fn replace_table(&mut self, table: DeltaTable) {
        self.table = table;
    }

    /// Reloads the table to its latest version.
    pub async fn reload(&mut self) -> Result<(), DeltaError> {
        self.table.update_state().await.map_err(|e| DeltaError::delta(&self.name, "reloading the table", e))
    }

    /// The last version committed under `app_id` (the txn action), `None` if never. An applier
    /// reads it on start and resumes its source after it.
    pub async fn transaction_version(&mut self, app_id: &str) -> Result<Option<i64>, DeltaError> {
        let context = || format!("reading the txn version of '{app_id}'");
        let snapshot = self.table.snapshot().map_err(|e| DeltaError::delta(&self.name, context(), e))?;
        let version = snapshot
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| DeltaError::delta(&self.name, context(), e))?;
        if let Some(v) = version {
            self.txn_seen.insert(app_id.to_owned(), v);
        }
        Ok(version)
    }

    /// The table's current Arrow schema.
    pub fn arrow_schema(&self) -> Result<SchemaRef, DeltaError> {
        let snapshot =
            self.table.snapshot().map_err(|e| DeltaError::delta(&self.name, "reading the schema", e))?;
        let schema: ArrowSchema = snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| DeltaError::arrow(&self.name, "reading the schema", e))?;
        Ok(Arc::new(schema))
    }

    /// Applies one collapsed batch in one commit carrying `txn(app_id, version)` (see the module
    /// docs). `keys_are_new` promises that no key of the batch exists in the table (e.g. the initial
    /// snapshot into a table this applier created), which allows a blind append; a wrong promise
    /// duplicates rows. Versions must increase per `app_id`; the caller skips batches whose version
    /// is not above [`TableWriter::transaction_version`].
    pub async fn apply(
        &mut self,
        changes: &TableChanges,
        app_id: &str,
        version: i64,
        keys_are_new: bool,
    ) -> Result<Applied, DeltaError> {
        self.apply_many(changes, &[AppTxn::new(app_id, version)], keys_are_new).await
    }

    /// [`TableWriter::apply`] for a batch covering several source partitions: the one commit
    /// carries a `txn` for each (at least one is required, so that every commit records where its
    /// source stands).
    pub async fn apply_many(
        &mut self,
        changes: &TableChanges,
        txns: &[AppTxn],
        keys_are_new: bool,
    ) -> Result<Applied, DeltaError> {
        if txns.is_empty() {
            return Err(DeltaError::Internal(format!("table {}: a commit without a txn", self.name)));
        }
        let batch = if changes.is_empty() { None } else { Some(changes.to_batch()?) };
        let fenced = |name: &str| DeltaError::Fenced {
            table: name.to_owned(),
            app_id: txns.iter().map(|t| t.app_id.as_str()).collect::<Vec<_>>().join(", "),
        };
        let mut attempt = 1;
        loop {
            match self.try_apply(changes, batch.as_ref(), txns, keys_are_new).await {
                Ok(mut applied) => {
                    applied.attempts = attempt;
                    for t in txns {
                        self.txn_seen.insert(t.app_id.clone(), t.version);
                    }
                    return Ok(applied);
                }
                Err(DeltaError::Delta { source, .. })
                    if matches!(
                        commit_conflict(&source),
                        Some(CommitConflictError::ConcurrentTransaction)
                    ) =>
                {
                    return Err(fenced(&self.name));
                }
                Err(e @ DeltaError::Delta { .. }) if attempt < self.max_attempts && is_conflict(&e) => {
                    tracing::info!(table = %self.name, attempt, error = %e, "commit conflict; retrying");
                    attempt += 1;
                    let seen: Vec<Option<i64>> =
                        txns.iter().map(|t| self.txn_seen.get(&t.app_id).copied()).collect();
                    self.reload().await?;
                    for (t, seen) in txns.iter().zip(seen) {
                        let stored = self.transaction_version(&t.app_id).await?;
                        let other_writer = match (seen, stored) {
                            (Some(seen), stored) => stored != Some(seen),
                            (None, Some(stored)) => stored >= t.version,
                            (None, None) => false,
                        };
                        if other_writer {
                            return Err(fenced(&self.name));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_apply(
        &mut self,
        changes: &TableChanges,
        batch: Option<&ChangeBatch>,
        txns: &[AppTxn],
        keys_are_new: bool,
    ) -> Result<Applied, DeltaError> {
        let columns_added = match changes.mapping() {
            Some(mapping) => self.evolve(mapping).await?,
            None => Vec::new(),
        };
        let target = self.arrow_schema()?;
        let props = || txn_properties(txns);
        let mut applied = Applied {
            path: ApplyPath::TxnOnly,
            table_version: 0,
            inserted: 0,
            updated: 0,
            deleted: 0,
            columns_added,
            attempts: 1,
        };
        let base_version = self.table.version();
        let empty = self.file_count()? == 0;
        let upserts = batch.map_or(0, |b| b.upserts);
        // No key of the batch can be in the table after a truncate, in an empty table, or by promise.
        let blind = changes.truncate().is_some() || keys_are_new || empty;
        match batch {
            _ if changes.truncate().is_some() && upserts == 0 => {
                let (table, metrics) = self
                    .table
                    .clone()
                    .delete()
                    .with_commit_properties(props())
                    .await
                    .map_err(|e| DeltaError::delta(&self.name, "deleting every row (truncate)", e))?;
                self.table = table;
                applied.path = ApplyPath::DeleteAll;
                applied.deleted = metrics.num_deleted_rows.unwrap_or(0);
            }
            Some(_) if blind && upserts == 0 => {}
            Some(b) if blind => {
                let rows = conform(&self.name, &b.upserts_only(&self.name)?, &target, true)?;
                let (mode, path) = if changes.truncate().is_some() {
                    (SaveMode::Overwrite, ApplyPath::Overwrite)
                } else {
                    (SaveMode::Append, ApplyPath::Append)
                };
                self.table = self
                    .table
                    .clone()
                    .write(vec![rows])
                    .with_save_mode(mode)
                    .with_commit_properties(props())
                    .await
                    .map_err(|e| DeltaError::delta(&self.name, "writing the batch", e))?;
                applied.path = path;
                applied.inserted = upserts;
            }
            Some(b) => {
                let mapping =
                    changes.mapping().ok_or_else(|| DeltaError::NoKey { table: self.name.clone() })?;
                let snapshot = self
                    .table
                    .snapshot()
                    .map_err(|e| DeltaError::delta(&self.name, "reading the table state", e))?;
                let key: Vec<&str> = mapping.key_names().collect();
                if rewrite::supports(snapshot) && !key.is_empty() {
                    let source = self.merge_source(mapping, b, &target).await?;
                    let merged =
                        rewrite::merge(&self.table, &self.name, &key, source, &b.keep, &target, props())
                            .await?;
                    if merged.committed {
                        self.reload().await?;
                    }
                    applied.inserted = merged.inserted;
                    applied.updated = merged.updated;
                    applied.deleted = merged.deleted;
                } else {
                    let (table, metrics) = self.merge(mapping, b, &target, props()).await?;
                    self.table = table;
                    applied.inserted = metrics.num_target_rows_inserted;
                    applied.updated = metrics.num_target_rows_updated;
                    applied.deleted = metrics.num_target_rows_deleted;
                }
                applied.path = ApplyPath::Merge;
            }
            None => {}
        }
        if self.table.version() == base_version {
            self.commit_txn_only(txns).await?;
            applied.path = ApplyPath::TxnOnly;
        }
        applied.table_version = self.table.version().unwrap_or(0);
        Ok(applied)
    }

    fn file_count(&self) -> Result<usize, DeltaError> {
        let snapshot =
            self.table.snapshot().map_err(|e| DeltaError::delta(&self.name, "reading the table state", e))?;
        Ok(snapshot.log_data().num_files())
    }

    /// Adds the mapping's columns the table lacks; refuses type changes delta-rs cannot apply.
    async fn evolve(&mut self, mapping: &TableMapping) -> Result<Vec<String>, DeltaError> {
        let target = self.arrow_schema()?;
        let mut added = Vec::new();
        let mut fields = Vec::new();
        for f in mapping.arrow_schema().fields() {
            match target.field_with_name(f.name()) {
                Ok(t) if fits(f.data_type(), t.data_type()) => {}
                Ok(t) => {
                    return Err(DeltaError::TypeChange {
                        table: self.name.clone(),
                        location: self.location.clone(),
                        column: f.name().clone(),
                        table_type: t.data_type().to_string(),
                        source_type: f.data_type().to_string(),
                    });
                }
                Err(_) => {
                    if let Some(t) = target.fields().iter().find(|t| t.name().eq_ignore_ascii_case(f.name()))
                    {
                        return Err(DeltaError::Schema {
                            table: self.name.clone(),
                            message: format!(
                                "column '{}' differs only in case from the table's column '{}', which Delta \
                                 Lake treats as the same name; rename one of them",
                                f.name(),
                                t.name()
                            ),
                        });
                    }
                    let nullable = Field::clone(f).with_nullable(true);
                    fields.push(
                        StructField::try_from_arrow(&nullable)
                            .map_err(|e| DeltaError::arrow(&self.name, "converting a new column", e))?,
                    );
                    added.push(f.name().clone());
                }
            }
        }
        if !fields.is_empty() {
            tracing::info!(table = %self.name, columns = ?added, "adding columns");
            self.table = self
                .table
                .clone()
                .add_columns()
                .with_fields(fields)
                .await
                .map_err(|e| DeltaError::delta(&self.name, format!("adding columns {added:?}"), e))?;
        }
        Ok(added)
    }

    async fn merge(
        &self,
        mapping: &TableMapping,
        batch: &ChangeBatch,
        target: &SchemaRef,
        props: CommitProperties,
    ) -> Result<(DeltaTable, deltalake::operations::merge::MergeMetrics), DeltaError> {
        let name = self.name.as_str();
        let source = self.merge_source(mapping, batch, target).await?;
        let s = |c: &str| Expr::Column(Column::new(Some(SOURCE), c));
        let t = |c: &str| Expr::Column(Column::new(Some(TARGET), c));
        let key: Vec<&str> = mapping.key_names().collect();
        let predicate = key.iter().map(|k| t(k).eq(s(k))).reduce(Expr::and).unwrap_or_else(|| lit(false));
        let columns: Vec<&str> = source
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| !batch.keep.iter().any(|k| k.flag == *n))
            .collect();
        let mut updates = Vec::with_capacity(columns.len());
        for c in columns.iter().filter(|c| !key.contains(c)) {
            let expr = match batch.keep.iter().find(|k| k.column == *c) {
                Some(k) => when(s(&k.flag), t(c))
                    .otherwise(s(c))
                    .map_err(|e| DeltaError::datafusion(name, "building the merge", e))?,
                None => s(c),
            };
            updates.push((Column::new_unqualified(*c), expr));
        }
        // Table columns the source no longer sends (dropped before this batch): a changed row
        // has no value for them any more.
        for f in target.fields().iter().filter(|f| !columns.contains(&f.name().as_str())) {
            let null = ScalarValue::try_from(f.data_type())
                .map_err(|e| DeltaError::datafusion(name, format!("a null of column '{}'", f.name()), e))?;
            updates.push((Column::new_unqualified(f.name()), lit(null)));
        }
        let inserts: Vec<(Column, Expr)> =
            columns.iter().map(|c| (Column::new_unqualified(*c), s(c))).collect();
        let is_delete = || col(Column::new(Some(SOURCE), OP_COLUMN)).eq(lit("d"));
        let is_upsert = || col(Column::new(Some(SOURCE), OP_COLUMN)).not_eq(lit("d"));
        let ctx = SessionContext::new();
        let df = ctx.read_batch(source).map_err(|e| DeltaError::datafusion(name, "reading the batch", e))?;
        let merge_err = |e| DeltaError::delta(name, "merging the batch", e);
        self.table
            .clone()
            .merge(df, predicate)
            .with_source_alias(SOURCE)
            .with_target_alias(TARGET)
            .with_commit_properties(props)
            .when_matched_delete(|d| d.predicate(is_delete()))
            .map_err(merge_err)?
            .when_matched_update(|mut u| {
                u = u.predicate(is_upsert());
                for (c, e) in updates {
                    u = u.update(c, e);
                }
                u
            })
            .map_err(merge_err)?
            .when_not_matched_insert(|mut i| {
                i = i.predicate(is_upsert());
                for (c, e) in inserts {
                    i = i.set(c, e);
                }
                i
            })
            .map_err(merge_err)?
            .await
            .map_err(merge_err)
    }

    /// The merge's source: the batch cast to the table's types, the keep columns of moved keys
    /// filled from their old rows.
    async fn merge_source(
        &self,
        mapping: &TableMapping,
        batch: &ChangeBatch,
        target: &SchemaRef,
    ) -> Result<RecordBatch, DeltaError> {
        let source = conform(&self.name, &batch.batch, target, false)?;
        if batch.moved_from.is_empty() {
            return Ok(source);
        }
        self.fill_moved(mapping, batch, source, target).await
    }

    /// Fills the keep columns of the create halves of key changes (`batch.moved_from`) from the
    /// table rows of their old keys, read before the merge, and clears their flags.
    async fn fill_moved(
        &self,
        mapping: &TableMapping,
        batch: &ChangeBatch,
        source: RecordBatch,
        target: &SchemaRef,
    ) -> Result<RecordBatch, DeltaError> {
        let name = self.name.as_str();
        let df_err = |e| DeltaError::datafusion(name, "reading the old rows of moved keys", e);
        let c = |n: &str| Expr::Column(Column::new_unqualified(n));
        let key: Vec<&str> = mapping.key_names().collect();
        // The old-key columns with the table's key types, so the join compares like with like.
        let mut fields: Vec<FieldRef> = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (f, a) in source.schema_ref().fields().iter().zip(source.columns()) {
            match batch.moved_from.iter().position(|m| m == f.name()) {
                Some(k) => {
                    let t =
                        target.field_with_name(key[k]).map_err(|e| DeltaError::arrow(name, "key type", e))?;
                    let a = cast(a, t.data_type())
                        .map_err(|e| DeltaError::arrow(name, "casting an old key", e))?;
                    fields.push(Arc::new(Field::new(f.name(), t.data_type().clone(), true)));
                    arrays.push(a);
                }
                None => {
                    fields.push(f.clone());
                    arrays.push(a.clone());
                }
            }
        }
        let source = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)
            .map_err(|e| DeltaError::arrow(name, "casting the old keys", e))?;
        let ctx = SessionContext::new();
        self.table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| DeltaError::delta(name, "reading the old rows of moved keys", e))?;
        let provider = self.table.table_provider().await.map_err(df_err)?;
        let old_key = |i: usize| format!("__sluice_old_key_{i}");
        let old_value = |i: usize| format!("__sluice_old_value_{i}");
        let mut picked: Vec<Expr> = key.iter().enumerate().map(|(i, k)| c(k).alias(old_key(i))).collect();
        picked.extend(batch.keep.iter().enumerate().map(|(i, k)| c(&k.column).alias(old_value(i))));
        let old = ctx.read_table(provider).map_err(df_err)?.select(picked).map_err(df_err)?;
        let right: Vec<String> = (0..key.len()).map(old_key).collect();
        let left: Vec<&str> = batch.moved_from.iter().map(String::as_str).collect();
        let right: Vec<&str> = right.iter().map(String::as_str).collect();
        let joined = ctx
            .read_batch(source.clone())
            .map_err(df_err)?
            .join(old, deltalake::datafusion::common::JoinType::Left, &left, &right, None)
            .map_err(df_err)?;
        let moved = c(&batch.moved_from[0]).is_not_null();
        let mut out = Vec::new();
        for f in source.schema_ref().fields() {
            let n = f.name().as_str();
            if batch.moved_from.iter().any(|m| m == n) {
                continue;
            }
            let expr = if let Some(i) = batch.keep.iter().position(|k| k.column == n) {
                when(moved.clone().and(c(&batch.keep[i].flag)), c(&old_value(i)))
                    .otherwise(c(n))
                    .map_err(df_err)?
            } else if batch.keep.iter().any(|k| k.flag == n) {
                when(moved.clone(), lit(false)).otherwise(c(n)).map_err(df_err)?
            } else {
                c(n)
            };
            out.push(expr.alias(n));
        }
        let batches = joined.select(out).map_err(df_err)?.collect().await.map_err(df_err)?;
        let schema = batches.first().map(|b| b.schema()).ok_or_else(|| {
            DeltaError::Internal(format!("table {name}: the old rows of moved keys: no result"))
        })?;
        deltalake::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| DeltaError::arrow(name, "collecting the filled batch", e))
    }

    /// Records the txns in an otherwise empty commit.
    async fn commit_txn_only(&mut self, txns: &[AppTxn]) -> Result<(), DeltaError> {
        let context = "committing the txn of a batch that changed nothing";
        let snapshot = self.table.snapshot().map_err(|e| DeltaError::delta(&self.name, context, e))?;
        let (query_id, epoch_id) = txns.first().map_or((String::new(), 0), |t| (t.app_id.clone(), t.version));
        CommitBuilder::from(txn_properties(txns))
            .with_actions(vec![])
            .build(
                Some(snapshot as &dyn TableReference),
                self.table.log_store(),
                DeltaOperation::StreamingUpdate { output_mode: OutputMode::Update, query_id, epoch_id },
            )
            .await
            .map_err(|e| DeltaError::delta(&self.name, context, e))?;
        self.reload().await
    }
}

/// Commit properties carrying every txn.
fn txn_properties(txns: &[AppTxn]) -> CommitProperties {
    CommitProperties::default().with_application_transactions(txns.iter().map(AppTxn::action).collect())
}

fn is_conflict(e: &DeltaError) -> bool {
    match e {
        DeltaError::Delta { source, .. } => {
            commit_conflict(source).is_some()
                || matches!(source.as_ref(), DeltaTableError::VersionAlreadyExists(_))
        }
        _ => false,
    }
}

/// Whether values of type `source` can be stored in a column of type `target` without loss.
fn fits(source: &DataType, target: &DataType) -> bool {
    use DataType as D;
    match (source, target) {
        _ if source == target => true,
        (D::Int8, D::Int16 | D::Int32 | D::Int64)
        | (D::Int16, D::Int32 | D::Int64)
        | (D::Int32, D::Int64) => true,
        (D::Float32, D::Float64) => true,
        (D::Decimal128(p1, s1), D::Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        (D::Timestamp(u1, _), D::Timestamp(u2, _)) => u1 == u2,
        (D::List(a), D::List(b)) => fits(a.data_type(), b.data_type()),
        (D::Map(a, _), D::Map(b, _)) => fits(a.data_type(), b.data_type()),
        (D::Struct(a), D::Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.name() == y.name() && fits(x.data_type(), y.data_type()))
        }
        _ => false,
    }
}

/// `batch` with its columns cast to the table's types. For a write (`fill`), the result has exactly
/// the table's columns, those the batch lacks being null; for a merge source, the batch's columns
/// (keep flags included) in the batch's order.
fn conform(
    table: &str,
    batch: &RecordBatch,
    target: &SchemaRef,
    fill: bool,
) -> Result<RecordBatch, DeltaError> {
    let source = batch.schema_ref();
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut put =
        |field: &FieldRef, array: &ArrayRef, target_field: Option<&FieldRef>| -> Result<(), DeltaError> {
            match target_field {
                Some(t) if t.data_type() != array.data_type() => {
                    let cast = cast(array, t.data_type())
                        .map_err(|e| DeltaError::arrow(table, format!("casting column '{}'", t.name()), e))?;
                    fields.push(Arc::new(Field::new(t.name(), t.data_type().clone(), field.is_nullable())));
                    columns.push(cast);
                }
                _ => {
                    fields.push(field.clone());
                    columns.push(array.clone());
                }
            }
            Ok(())
        };
    if fill {
        for t in target.fields() {
            match source.index_of(t.name()) {
                Ok(i) => put(t, batch.column(i), Some(t))?,
                Err(_) if t.is_nullable() => put(t, &new_null_array(t.data_type(), batch.num_rows()), None)?,
                Err(_) => {
                    return Err(DeltaError::Schema {
                        table: table.into(),
                        message: format!(
                            "column '{}' is NOT NULL in the Delta table but the source no longer sends it",
                            t.name()
                        ),
                    });
                }
            }
        }
    } else {
        for (i, f) in source.fields().iter().enumerate() {
            let t = target.field_with_name(f.name()).ok().map(|t| Arc::new(t.clone()));
            put(f, batch.column(i), t.as_ref())?;
        }
    }
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns)
        .map_err(|e| DeltaError::arrow(table, "conforming the batch to the table schema", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lossless_changes_fit() {
        use DataType as D;
        assert!(fits(&D::Int32, &D::Int64));
        assert!(!fits(&D::Int64, &D::Int32));
        assert!(fits(&D::Float32, &D::Float64));
        assert!(fits(&D::Decimal128(10, 2), &D::Decimal128(12, 2)));
        assert!(fits(&D::Decimal128(10, 2), &D::Decimal128(13, 3)));
        assert!(!fits(&D::Decimal128(10, 2), &D::Decimal128(10, 3)), "fewer integer digits");
        assert!(!fits(&D::Decimal128(12, 2), &D::Decimal128(10, 2)));
        assert!(!fits(&D::Utf8, &D::Int64));
        assert!(!fits(&D::Int64, &D::Utf8));
    }
}
