//! The Delta merge applier against Python deltalake, and append-only ingest against plain Parquet.
//!
//! **Merge.** A base table of 10,000,000 rows (`id bigint` key, `a integer`, `b text`,
//! `c timestamptz`, `d numeric(12,2)`) is written once by sluice's own [`TableWriter`] (so it has
//! sluice's mapping and metadata columns) and copied for each contender. 1,000,000 changes in 10
//! batches (per batch: distinct keys; 70% updates and 10% deletes of live ids, 20% inserts of new
//! ids, shuffled; a seeded PRNG, so every process derives the same batches) are then applied:
//!
//! * by sluice's real applier: the changes as Debezium records ([`RecordBuilder`], the direct path's
//!   record layer), collapsed per key by [`ChangeCollapser`] into a [`TableChanges`], and one
//!   [`TableWriter::apply`] (a MERGE, which sluice applies as its own copy-on-write rewrite of the
//!   touched files) per batch;
//! * by Python deltalake's `DeltaTable.merge` (`python/merge_bench.py`), given exactly sluice's
//!   Arrow change batches, written once to Parquet.
//!
//! Each contender runs as its own child process under [`measure::measured`]: sluice's as this very
//! binary re-executed as `sluice-bench merge-child --spec <json>`, which re-derives the batches
//! from the seed. Only the merge calls are timed; the final tables are
//! read back by polars and must be equal column for column.
//!
//! **Append.** 1,000,000 inserts into a new table through [`TableWriter::apply`]'s append path, in
//! 10 batches of 100,000 (the direct path's default `sluice.delta.batch.max.records`), against the
//! same Arrow rows written as plain Parquet files with the `parquet` crate's `ArrowWriter` and
//! delta-rs' default writer properties (snappy). Both run in this process.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use deltalake::arrow::array::RecordBatch;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};
use sluice_core::{
    Change, ChangeEvent, Column, ColumnType, Decimal, Lsn, Numeric, Op, ReplicaIdentity, Row, SnapshotMark,
    SourceEvent, SourcePosition, TableId, TableSchema, Timestamp, TxnBegin, TxnCommit, TypeKind, Value, Xid,
};
use sluice_debezium::DebeziumConfig;
use sluice_debezium::record::{Record, RecordBuilder};
use sluice_delta::{ApplyPath, ChangeCollapser, CollapseOptions, TableChanges, TableWriter};

use crate::Options;
use crate::measure::{self, Measured};
use crate::report::{self, Section, mib, ratio, seconds, thousands};

/// Rows of the base table at scale 1.
const BASE_ROWS: u64 = 10_000_000;
/// Changes merged at scale 1.
const CHANGES: u64 = 1_000_000;
/// Merge batches (at every scale).
const BATCHES: u64 = 10;
/// Rows appended at scale 1.
const APPEND_ROWS: u64 = 1_000_000;
/// Append batches (at scale 1: 100,000 rows each, the direct path's `batch.max.records`).
const APPEND_BATCHES: u64 = 10;
/// Rows per append commit while writing the base table.
const BASE_CHUNK_ROWS: u64 = 1_000_000;
/// Changes per source transaction.
const TXN_CHANGES: usize = 100;
/// The seed every process derives the changes from.
const SEED: u64 = 0x5EED_0000_51CE;
/// The benchmark table's topic.
const TOPIC: &str = "bench.public.merge_bench";
/// The txn application ids of the base table's appends and of the measured commits.
const BASE_APP_ID: &str = "sluice-bench-base";
const APP_ID: &str = "sluice-bench";
/// Python deltalake's side, written next to the batches at run time.
const PYTHON_SCRIPT: &str = include_str!("../python/merge_bench.py");
const PYTHON: &str = "python3";
/// Commit time of the changes (plus the transaction number): 2026-01-02T03:04:05.123456Z.
const COMMIT_US: i64 = 1_767_323_045_123_456;
/// The base snapshot's consistent point.
const SNAPSHOT_LSN: u64 = 0x0100_0000;

/// Runs the merge and append benchmarks.
pub(crate) async fn run(options: &Options) -> Result<Vec<Section>> {
    let work = tempfile::Builder::new().prefix("sluice-bench-merge-").tempdir()?;
    let merge = merge_benchmark(options, work.path()).await?;
    report::print(&merge);
    let append = append_benchmark(options, work.path()).await?;
    report::print(&append);
    Ok(vec![merge, append])
}

// ---------------------------------------------------------------------------------------------
// The changes: a pure, seeded plan.

/// What a planned change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Update,
    Insert,
    Delete,
}

/// One planned change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planned {
    kind: Kind,
    id: i64,
}

/// What the table holds after every batch, and what the merges must report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Outcome {
    rows: u64,
    sum_id: u64,
    /// Rows by `_op`: untouched base rows, last changed by an update, inserted.
    read: u64,
    updated_rows: u64,
    created_rows: u64,
    /// Planned changes by kind (each batch's keys are distinct, so these are the MERGE's counts).
    inserts: u64,
    updates: u64,
    deletes: u64,
}

/// The batches of changes to a base table of ids `1..=base_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    batches: Vec<Vec<Planned>>,
    outcome: Outcome,
}

/// A row's state while planning (indexed by id).
const ROW_READ: u8 = 0;
const ROW_UPDATED: u8 = 1;
const ROW_CREATED: u8 = 2;
const ROW_DELETED: u8 = 3;

/// A batch of `n` changes as (updates, inserts, deletes): 70%, 20%, 10%, rounded.
fn op_mix(n: u64) -> (u64, u64, u64) {
    let updates = (7 * n + 5) / 10;
    let inserts = ((2 * n + 5) / 10).min(n - updates);
    (updates, inserts, n - updates - inserts)
}

impl Plan {
    /// `changes` changes in `batches` batches (sizes differ by at most one); every batch has
    /// distinct keys, its updates and deletes pick live ids (base rows or earlier inserts) and its
    /// inserts take new ids above every id so far; the batch is shuffled.
    fn new(base_rows: u64, changes: u64, batches: u64, seed: u64) -> Result<Plan> {
        ensure!(batches >= 1 && changes >= batches, "{changes} changes cannot fill {batches} batches");
        let mut rng = SplitMix64(seed);
        let mut state = vec![ROW_READ; usize::try_from(base_rows + changes + 1)?];
        let mut live = base_rows;
        let mut max_id = base_rows;
        let mut outcome = Outcome::default();
        let mut planned = Vec::with_capacity(usize::try_from(batches)?);
        for b in 0..batches {
            let n = changes / batches + u64::from(b < changes % batches);
            let (updates, inserts, deletes) = op_mix(n);
            ensure!(
                2 * (updates + deletes) <= live,
                "{live} live rows are too few for {updates} updates and {deletes} deletes in one batch"
            );
            let mut used = HashSet::with_capacity(usize::try_from(updates + deletes)?);
            let mut batch = Vec::with_capacity(usize::try_from(n)?);
            for (kind, count) in [(Kind::Update, updates), (Kind::Delete, deletes)] {
                for _ in 0..count {
                    let id = loop {
                        let id = 1 + rng.below(max_id);
                        if state[id as usize] != ROW_DELETED && used.insert(id) {
                            break id;
                        }
                    };
                    batch.push(Planned { kind, id: id as i64 });
                }
            }
            for _ in 0..inserts {
                max_id += 1;
                batch.push(Planned { kind: Kind::Insert, id: max_id as i64 });
            }
            for p in &batch {
                state[p.id as usize] = match p.kind {
                    Kind::Update => ROW_UPDATED,
                    Kind::Insert => ROW_CREATED,
                    Kind::Delete => ROW_DELETED,
                };
            }
            live = live + inserts - deletes;
            outcome.updates += updates;
            outcome.inserts += inserts;
            outcome.deletes += deletes;
            rng.shuffle(&mut batch);
            planned.push(batch);
        }
        for (id, s) in state.iter().enumerate().take(max_id as usize + 1).skip(1) {
            match *s {
                ROW_READ => outcome.read += 1,
                ROW_UPDATED => outcome.updated_rows += 1,
                ROW_CREATED => outcome.created_rows += 1,
                _ => continue,
            }
            outcome.rows += 1;
            outcome.sum_id += id as u64;
        }
        Ok(Plan { batches: planned, outcome })
    }
}

/// SplitMix64: tiny, seedable and the same everywhere.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// The source table and its Debezium records.

/// `public.merge_bench (id bigint primary key, a integer, b text, c timestamptz, d numeric(12,2))`.
fn table_schema() -> Arc<TableSchema> {
    let column = |name: &str, oid: u32, modifier: i32, ty: &str, kind: TypeKind| Column {
        name: name.into(),
        ty: ColumnType::new(oid, modifier, ty, kind),
        nullable: name != "id",
        default: None,
        part_of_identity: name == "id",
    };
    Arc::new(TableSchema {
        relation_id: 16_500,
        id: TableId::new("public", "merge_bench"),
        version: 1,
        columns: vec![
            column("id", 20, -1, "int8", TypeKind::Int8),
            column("a", 23, -1, "int4", TypeKind::Int4),
            column("b", 25, -1, "text", TypeKind::Text),
            column("c", 1184, -1, "timestamptz", TypeKind::TimestampTz),
            column("d", 1700, ((12 << 16) | 2) + 4, "numeric", TypeKind::Numeric),
        ],
        key: vec![0],
        replica_identity: ReplicaIdentity::Default,
    })
}

/// Row `id` as written by `version` (0: the base table; batch `n`: `n`).
fn row(id: i64, version: u64) -> Result<Row> {
    let h = mix64(id as u64 ^ version.rotate_left(40) ^ SEED);
    let amount = format!("{}.{:02}", (h >> 20) % 100_000_000, h % 100);
    Ok(Row(vec![
        Value::Int64(id),
        Value::Int32((h % 1_000_000) as i32),
        Value::Text(format!("row {id} version {version} {:08x}", h >> 32)),
        Value::TimestampTz(Timestamp::Micros(COMMIT_US - 86_400_000_000 + id * 1_000 + version as i64)),
        Value::Numeric(Numeric::Finite(Decimal::parse(&amount)?)),
    ]))
}

/// The old-key tuple pgoutput sends for a delete under `REPLICA IDENTITY DEFAULT`.
fn key_only(id: i64) -> Row {
    Row(vec![Value::Int64(id), Value::Null, Value::Null, Value::Null, Value::Null])
}

/// Source events of the benchmark table turned into Debezium records by the direct path's
/// [`RecordBuilder`], and collapsed per key as the direct path does. A fresh `Events` fed the same
/// calls yields the same records in any process.
#[derive(Debug)]
struct Events {
    builder: RecordBuilder,
    table: Arc<TableSchema>,
    lsn: u64,
    xid: u32,
    records: Vec<Record>,
}

impl Events {
    fn new() -> Result<Events> {
        let props: BTreeMap<String, String> = [("topic.prefix", "bench"), ("database.dbname", "bench")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let config = DebeziumConfig::from_properties(&props)?;
        Ok(Events {
            builder: RecordBuilder::new(config),
            table: table_schema(),
            lsn: 0x1000_0000,
            xid: 1_000,
            records: Vec::new(),
        })
    }

    fn collapser(&self) -> ChangeCollapser {
        ChangeCollapser::new(CollapseOptions::from_config(self.builder.config()))
    }

    fn feed(&mut self, event: &SourceEvent, into: &mut ChangeCollapser) -> Result<()> {
        self.builder.on_event(event, Timestamp::Micros(COMMIT_US), &mut self.records)?;
        for record in self.records.drain(..) {
            into.push(record)?;
        }
        Ok(())
    }

    /// Snapshot reads (op `r`) of `ids` out of a snapshot of ids `1..=total`, as one batch.
    fn snapshot(&mut self, ids: RangeInclusive<i64>, total: i64) -> Result<TableChanges> {
        let mut collapser = self.collapser();
        for id in ids {
            let source = SourcePosition {
                lsn: Lsn(SNAPSHOT_LSN),
                commit_lsn: None,
                seq: (id - 1) as u64,
                xid: None,
                commit_ts: Some(Timestamp::Micros(COMMIT_US)),
                origin: None,
                snapshot: Some(SnapshotMark {
                    first: id == 1,
                    last: id == total,
                    first_in_table: id == 1,
                    last_in_table: id == total,
                }),
            };
            let change = Change::Row {
                op: Op::Read,
                table: self.table.clone(),
                before: None,
                after: Some(row(id, 0)?),
            };
            self.feed(&SourceEvent::Change(ChangeEvent { change, source }), &mut collapser)?;
        }
        only_table(collapser)
    }

    /// `changes` as committed transactions of [`TXN_CHANGES`] changes, as one batch; new values
    /// are those of `version`.
    fn transactions(&mut self, changes: &[Planned], version: u64) -> Result<TableChanges> {
        let mut collapser = self.collapser();
        for txn in changes.chunks(TXN_CHANGES) {
            self.xid += 1;
            let xid = Xid(self.xid);
            let begin = self.lsn;
            let commit = begin + 0x100 * (txn.len() as u64 + 1);
            self.lsn = commit + 0x100;
            let ts = Timestamp::Micros(COMMIT_US + i64::from(self.xid));
            let event =
                SourceEvent::Begin(TxnBegin { xid, lsn: Lsn(begin), commit_lsn: Lsn(commit), commit_ts: ts });
            self.feed(&event, &mut collapser)?;
            for (i, p) in txn.iter().enumerate() {
                let (op, before, after) = match p.kind {
                    Kind::Insert => (Op::Create, None, Some(row(p.id, version)?)),
                    Kind::Update => (Op::Update, None, Some(row(p.id, version)?)),
                    Kind::Delete => (Op::Delete, Some(key_only(p.id)), None),
                };
                let source = SourcePosition {
                    lsn: Lsn(begin + 0x100 * (i as u64 + 1)),
                    commit_lsn: Some(Lsn(commit)),
                    seq: i as u64,
                    xid: Some(xid),
                    commit_ts: Some(ts),
                    origin: None,
                    snapshot: None,
                };
                let change = Change::Row { op, table: self.table.clone(), before, after };
                self.feed(&SourceEvent::Change(ChangeEvent { change, source }), &mut collapser)?;
            }
            let event = SourceEvent::Commit(TxnCommit {
                xid,
                commit_lsn: Lsn(commit),
                end_lsn: Lsn(commit + 0x10),
                commit_ts: ts,
                event_count: txn.len() as u64,
            });
            self.feed(&event, &mut collapser)?;
        }
        only_table(collapser)
    }
}

fn only_table(collapser: ChangeCollapser) -> Result<TableChanges> {
    let mut tables = collapser.finish();
    ensure!(tables.len() == 1, "expected changes of one table, got {}", tables.len());
    Ok(tables.remove(0))
}

// ---------------------------------------------------------------------------------------------
// Merge.

/// What sluice's child is told.
#[derive(Debug, Serialize, Deserialize)]
struct ChildSpec {
    table: String,
    base_rows: u64,
    changes: u64,
    batches: u64,
    seed: u64,
}

/// One contender's merge run (printed by sluice's child and by merge_bench.py as a JSON line).
#[derive(Debug, Default, Serialize, Deserialize)]
struct MergeRun {
    merge_seconds: f64,
    batch_seconds: Vec<f64>,
    /// The process's CPU time (all threads) during the merge calls.
    merge_cpu_seconds: f64,
    inserted: u64,
    updated: u64,
    deleted: u64,
    /// sluice: Debezium records → collapsed batches, not timed with the merges.
    #[serde(default)]
    build_seconds: f64,
    /// Python: the deltalake version.
    #[serde(default)]
    deltalake: String,
}

/// `merge_bench.py --compare`'s answer.
#[derive(Debug, Deserialize)]
struct Compared {
    rows: [u64; 2],
    equal: bool,
    differs: Vec<String>,
    sum_id: u64,
    ops: BTreeMap<String, u64>,
}

/// sluice's side, in the child process (`sluice-bench merge-child --spec <json>`): re-derives
/// the batches and merges them into the table.
pub(crate) async fn child(spec: &str) -> Result<()> {
    let spec: ChildSpec = serde_json::from_str(spec).with_context(|| format!("merge-child --spec {spec}"))?;
    let spec = &spec;
    let plan = Plan::new(spec.base_rows, spec.changes, spec.batches, spec.seed)?;
    let mut writer = TableWriter::open(&spec.table, TOPIC)
        .await?
        .with_context(|| format!("no Delta table at {}", spec.table))?;
    let mut events = Events::new()?;
    let mut run = MergeRun::default();
    for (b, batch) in plan.batches.iter().enumerate() {
        let start = Instant::now();
        let changes = events.transactions(batch, b as u64 + 1)?;
        run.build_seconds += start.elapsed().as_secs_f64();
        let cpu = cpu_time()?;
        let start = Instant::now();
        let applied = writer.apply(&changes, APP_ID, b as i64 + 1, false).await?;
        let wall = start.elapsed().as_secs_f64();
        run.merge_cpu_seconds += (cpu_time()? - cpu).as_secs_f64();
        ensure!(
            applied.path == ApplyPath::Merge,
            "batch {} took the {:?} path, not a MERGE",
            b + 1,
            applied.path
        );
        run.batch_seconds.push(wall);
        run.merge_seconds += wall;
        run.inserted += applied.inserted as u64;
        run.updated += applied.updated as u64;
        run.deleted += applied.deleted as u64;
        tracing::info!(batch = b + 1, seconds = wall, "sluice merged a batch");
    }
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, format!("{}\n", serde_json::to_string(&run)?).as_bytes())?;
    Ok(())
}

async fn merge_benchmark(options: &Options, work: &Path) -> Result<Section> {
    let base_rows = options.scaled(BASE_ROWS);
    let changes = options.scaled(CHANGES);
    let batches = BATCHES.min(changes);
    let plan = Plan::new(base_rows, changes, batches, SEED)?;
    let outcome = plan.outcome.clone();

    let base = work.join("base");
    tracing::info!(rows = base_rows, "merge: writing the base table with sluice (not timed)");
    create_base(&base, base_rows).await?;
    let (base_files, base_bytes) = parquet_files(&base)?;

    tracing::info!(changes, batches, "merge: writing the change batches to Parquet (not timed)");
    let mut events = Events::new()?;
    let mut batch_files = Vec::new();
    for (b, batch) in plan.batches.iter().enumerate() {
        let changes = events.transactions(batch, b as u64 + 1)?;
        let arrow = changes.to_batch()?;
        ensure!(
            arrow.keep.is_empty() && arrow.moved_from.is_empty(),
            "a change batch with keep or moved columns"
        );
        ensure!(arrow.batch.num_rows() == batch.len(), "batch {} collapsed: keys must be distinct", b + 1);
        let path = work.join(format!("batch-{:02}.parquet", b + 1));
        write_parquet(&path, &arrow.batch)?;
        batch_files.push(path_string(&path)?);
    }
    drop(events);

    let sluice_table = work.join("sluice");
    let python_table = work.join("python");
    copy_dir(&base, &sluice_table)?;
    copy_dir(&base, &python_table)?;
    std::fs::remove_dir_all(&base)?;

    tracing::info!("merge: sluice (child process)");
    let spec = ChildSpec { table: path_string(&sluice_table)?, base_rows, changes, batches, seed: SEED };
    let exe = std::env::current_exe()?;
    let sluice_measured = measure::measured(
        &exe,
        &["merge-child".to_owned(), "--spec".to_owned(), serde_json::to_string(&spec)?],
        &[],
    )
    .await
    .context("sluice's merge run")?;
    let sluice: MergeRun = last_json(&sluice_measured)?;

    tracing::info!("merge: Python deltalake (child process)");
    let script = work.join("merge_bench.py");
    std::fs::write(&script, PYTHON_SCRIPT)?;
    let script = path_string(&script)?;
    let mut args = vec![script.clone(), path_string(&python_table)?];
    args.extend(batch_files.iter().cloned());
    let python_measured = measure::measured(Path::new(PYTHON), &args, &[]).await.context(
        "Python deltalake's merge run (scripts/install-delta-readers installs deltalake and polars)",
    )?;
    let python: MergeRun = last_json(&python_measured)?;

    for (who, run) in [("sluice", &sluice), ("Python deltalake", &python)] {
        ensure!(
            (run.inserted, run.updated, run.deleted) == (outcome.inserts, outcome.updates, outcome.deletes),
            "{who}'s merges inserted/updated/deleted {}/{}/{} rows, the batches hold {}/{}/{}",
            run.inserted,
            run.updated,
            run.deleted,
            outcome.inserts,
            outcome.updates,
            outcome.deletes
        );
    }

    tracing::info!("merge: comparing the tables");
    let args = vec![script, "--compare".to_owned(), path_string(&sluice_table)?, path_string(&python_table)?];
    let compared: Compared =
        last_json(&measure::measured(Path::new(PYTHON), &args, &[]).await.context("comparing the tables")?)?;
    if !compared.equal {
        bail!(
            "the merged tables differ: sluice's has {} rows, Python deltalake's {}; differing columns: {:?}",
            compared.rows[0],
            compared.rows[1],
            compared.differs
        );
    }
    let ops = |op: &str| compared.ops.get(op).copied().unwrap_or(0);
    let seen = (compared.rows[0], compared.sum_id, ops("r"), ops("u"), ops("c"));
    let expected = (outcome.rows, outcome.sum_id, outcome.read, outcome.updated_rows, outcome.created_rows);
    ensure!(
        seen == expected && compared.ops.len() <= 3,
        "the merged tables are equal but not what the batches make: (rows, sum of ids, r, u, c) = {seen:?}, \
         expected {expected:?}, ops {:?}",
        compared.ops
    );
    let sluice_files = live_files(&sluice_table).await?;
    let python_files = live_files(&python_table).await?;
    let _ = std::fs::remove_dir_all(&sluice_table);
    let _ = std::fs::remove_dir_all(&python_table);

    let workload = format!(
        "A table `public.merge_bench (id bigint primary key, a integer, b text, c timestamptz, d numeric(12,2))`, \
         in Delta as sluice maps it (`id long` not null, `a integer`, `b string`, `c timestamp`, \
         `d decimal(12,2)`, then sluice's `_op`, `_commit_lsn`, `_seq`, `_source_ts`). Base table: {} rows \
         (ids 1..{}), written once by sluice's `TableWriter` (appends of {} rows: {} Parquet files, {} MiB) \
         and copied for each contender, not timed. Changes: {} in {} batches of {} (each batch's keys distinct; \
         70% updates and 10% deletes of live ids, 20% inserts of new ids, shuffled; seeded PRNG). \
         **sluice**: the changes as Debezium records (sluice's `RecordBuilder`, transactions of {} changes) \
         collapsed per key (`ChangeCollapser`), then one `TableWriter::apply` per batch: a MERGE on `id`, which \
         sluice applies as its own copy-on-write rewrite (`sluice-delta`'s `rewrite` module; delta-rs' MERGE for \
         tables it does not cover). \
         **Python deltalake**: exactly sluice's Arrow change batches, written once to Parquet and read with \
         polars before each merge, then `DeltaTable.merge(predicate=\"t.id = s.id\")` with \
         `when_matched_delete(s._op = 'd')`, `when_matched_update` of every column and \
         `when_not_matched_insert` (both `s._op <> 'd'`), default options. **Timed**: only the merge calls \
         (sluice's includes converting the records to Arrow), summed over the batches. Each contender is a child \
         process: merge CPU is its CPU time (all threads) during the merge calls; process CPU and peak RSS \
         cover the whole process (sluice's includes deriving the batches again, Python's reading them). The \
         final tables are read back by polars and compared column by column.",
        thousands(base_rows as f64),
        base_rows,
        thousands(BASE_CHUNK_ROWS.min(base_rows) as f64),
        base_files,
        mib_1(base_bytes),
        thousands(changes as f64),
        batches,
        thousands((changes / batches) as f64),
        TXN_CHANGES,
    );
    let mut section = Section::new(
        "Merge applier",
        workload,
        &[
            "system",
            "changes",
            "batches",
            "merge s",
            "changes/s",
            "merge CPU s",
            "process CPU s",
            "peak RSS MiB",
        ],
    );
    for (name, run, measured) in [
        (format!("sluice (delta-rs {})", deltalake::crate_version()), &sluice, &sluice_measured),
        (format!("Python deltalake {}", python.deltalake), &python, &python_measured),
    ] {
        section.row(vec![
            name,
            thousands(changes as f64),
            batches.to_string(),
            seconds(Duration::from_secs_f64(run.merge_seconds)),
            thousands(changes as f64 / run.merge_seconds),
            seconds(Duration::from_secs_f64(run.merge_cpu_seconds)),
            seconds(measured.usage.cpu),
            mib(measured.usage.peak_rss),
        ]);
    }
    section.findings.push(format!(
        "sluice / Python deltalake: {} (target ≥ 2x)",
        ratio(python.merge_seconds / sluice.merge_seconds)
    ));
    section.findings.push(format!(
        "CPU during the merges, Python deltalake / sluice: {} (above 1: sluice needs less)",
        ratio(python.merge_cpu_seconds / sluice.merge_cpu_seconds)
    ));
    section.findings.push(format!(
        "both tables equal: {} rows ({} untouched, {} updated, {} inserted), every column compared",
        thousands(outcome.rows as f64),
        thousands(outcome.read as f64),
        thousands(outcome.updated_rows as f64),
        thousands(outcome.created_rows as f64),
    ));
    let span = |s: &[f64]| {
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.iter().copied().fold(0.0, f64::max);
        format!("{min:.2}–{max:.2} s")
    };
    section.findings.push(format!(
        "the tables' live files afterwards: sluice {} ({} MiB), Python deltalake {} ({} MiB)",
        sluice_files.0,
        mib_1(sluice_files.1),
        python_files.0,
        mib_1(python_files.1)
    ));
    section.findings.push(format!(
        "per batch: sluice {}, Python deltalake {}",
        span(&sluice.batch_seconds),
        span(&python.batch_seconds)
    ));
    section.findings.push(format!(
        "sluice built its batches (Debezium records collapsed per key) in {} s in all, not counted above",
        seconds(Duration::from_secs_f64(sluice.build_seconds))
    ));
    Ok(section)
}

/// Writes the base table (ids `1..=rows`, op `r`) with sluice's append path.
async fn create_base(dir: &Path, rows: u64) -> Result<()> {
    let location = path_string(dir)?;
    let total = rows as i64;
    let mut events = Events::new()?;
    let mut writer: Option<TableWriter> = None;
    let mut first = 1_i64;
    let mut commit = 0;
    while first <= total {
        let last = (first + BASE_CHUNK_ROWS as i64 - 1).min(total);
        let changes = events.snapshot(first..=last, total)?;
        let opened = match writer.take() {
            Some(w) => w,
            None => {
                let mapping = changes.mapping().context("a batch without a mapping")?;
                TableWriter::open_or_create(&location, mapping).await?
            }
        };
        let w = writer.insert(opened);
        commit += 1;
        let applied = w.apply(&changes, BASE_APP_ID, commit, true).await?;
        ensure!(applied.path == ApplyPath::Append, "the base table took the {:?} path", applied.path);
        tracing::info!(rows = last, of = total, "base table");
        first = last + 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Append.

async fn append_benchmark(options: &Options, work: &Path) -> Result<Section> {
    let rows = options.scaled(APPEND_ROWS);
    let batches = APPEND_BATCHES.min(rows);
    tracing::info!(rows, batches, "append: building the batches (not timed)");
    let mut events = Events::new()?;
    let mut changes = Vec::new();
    let mut arrow = Vec::new();
    let start = Instant::now();
    let mut first = 1_u64;
    for b in 0..batches {
        let n = rows / batches + u64::from(b < rows % batches);
        let inserts: Vec<Planned> =
            (first..first + n).map(|id| Planned { kind: Kind::Insert, id: id as i64 }).collect();
        first += n;
        let c = events.transactions(&inserts, 0)?;
        arrow.push(c.to_batch()?.upserts_only(TOPIC)?);
        changes.push(c);
    }
    let build = start.elapsed();
    drop(events);

    tracing::info!("append: sluice, append path");
    let append_dir = work.join("append-sluice");
    let append = sluice_append(&append_dir, &changes, true).await?;
    ensure!(
        append.paths.iter().all(|p| *p == ApplyPath::Append),
        "not every batch appended: {:?}",
        append.paths
    );
    tracing::info!("append: sluice, as the direct path calls it");
    let direct_dir = work.join("append-direct");
    let direct = sluice_append(&direct_dir, &changes, false).await?;
    let merged = direct.paths.iter().filter(|p| **p == ApplyPath::Merge).count();
    for dir in [&append_dir, &direct_dir] {
        let counted = sluice_delta::query::count(dir, "t").await?;
        ensure!(counted == rows as i64, "{} holds {counted} rows, not {rows}", dir.display());
    }

    tracing::info!("append: plain Parquet");
    let parquet_dir = work.join("append-parquet");
    std::fs::create_dir_all(&parquet_dir)?;
    let mut parquet = Timed::default();
    for (b, batch) in arrow.iter().enumerate() {
        let cpu = cpu_time()?;
        let start = Instant::now();
        write_parquet(&parquet_dir.join(format!("part-{b:05}.parquet")), batch)?;
        parquet.wall += start.elapsed();
        parquet.cpu += cpu_time()? - cpu;
    }
    let (_, parquet_bytes) = parquet_files(&parquet_dir)?;
    let (_, delta_bytes) = parquet_files(&append_dir)?;
    for dir in [&append_dir, &direct_dir, &parquet_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }

    let workload = format!(
        "{} inserts (ids 1..{}) into a new table of the merge benchmark's shape, in {} batches of {} (the \
         direct path's default `sluice.delta.batch.max.records` at scale 1). **sluice**: Debezium create \
         records (transactions of {} changes) collapsed per key, then one `TableWriter::apply` per batch with \
         `keys_are_new` (the append path: a blind Delta write, no read of the target); and once more as the \
         direct path calls `apply` today (`keys_are_new = false`: the first batch appends into the empty table, \
         the later ones MERGE). **Plain Parquet**: the same rows as the same Arrow batches (sluice's own \
         conversion, made before the clock starts), one file per batch with the `parquet` crate's \
         `ArrowWriter` and delta-rs' default writer properties (snappy). **Timed**: the apply calls (which \
         include converting the records to Arrow and the Delta commit) and the Parquet writes; CPU is this \
         process's (all threads) during those calls. Both in one process.",
        thousands(rows as f64),
        rows,
        batches,
        thousands((rows / batches) as f64),
        TXN_CHANGES,
    );
    let mut section = Section::new(
        "Append-only ingest",
        workload,
        &["system", "rows", "batches", "seconds", "rows/s", "CPU s"],
    );
    for (name, t) in [
        ("sluice (append path)", &append.timed),
        ("sluice (as the direct path calls it)", &direct.timed),
        ("plain Parquet (ArrowWriter, snappy)", &parquet),
    ] {
        section.row(vec![
            name.to_owned(),
            thousands(rows as f64),
            batches.to_string(),
            seconds(t.wall),
            thousands(rows as f64 / t.wall.as_secs_f64()),
            seconds(t.cpu),
        ]);
    }
    section.findings.push(format!(
        "sluice / plain Parquet: {}",
        ratio(parquet.wall.as_secs_f64() / append.timed.wall.as_secs_f64())
    ));
    section.findings.push(format!(
        "as the direct path calls it ({merged} of {batches} batches MERGE), sluice / plain Parquet: {}",
        ratio(parquet.wall.as_secs_f64() / direct.timed.wall.as_secs_f64())
    ));
    section.findings.push(format!(
        "files written: Delta {} MiB, plain Parquet {} MiB; building the batches from records took {} s, not \
         counted above",
        mib_1(delta_bytes),
        mib_1(parquet_bytes),
        seconds(build)
    ));
    Ok(section)
}

/// Wall and CPU time of some calls.
#[derive(Debug, Default, Clone, Copy)]
struct Timed {
    wall: Duration,
    cpu: Duration,
}

#[derive(Debug)]
struct Appended {
    timed: Timed,
    paths: Vec<ApplyPath>,
}

/// Applies `batches` to a new table at `dir`, timing the apply calls.
async fn sluice_append(dir: &Path, batches: &[TableChanges], keys_are_new: bool) -> Result<Appended> {
    let mapping = batches.first().and_then(TableChanges::mapping).context("no batch")?;
    let mut writer = TableWriter::open_or_create(&path_string(dir)?, mapping).await?;
    let mut out = Appended { timed: Timed::default(), paths: Vec::new() };
    for (b, changes) in batches.iter().enumerate() {
        let cpu = cpu_time()?;
        let start = Instant::now();
        let applied = writer.apply(changes, APP_ID, b as i64 + 1, keys_are_new).await?;
        out.timed.wall += start.elapsed();
        out.timed.cpu += cpu_time()? - cpu;
        out.paths.push(applied.path);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// This process's user + system CPU time so far (all threads).
fn cpu_time() -> Result<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, (t.tv_usec() * 1000) as u32);
    Ok(tv(usage.user_time()) + tv(usage.system_time()))
}

/// Writes `batch` as one Parquet file with delta-rs' default writer properties (snappy).
fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}

/// The Parquet files directly under `dir`: how many, and their bytes.
/// The number and total size of the files in the Delta table's current version.
async fn live_files(dir: &Path) -> Result<(usize, u64)> {
    let writer = TableWriter::open(&path_string(dir)?, TOPIC)
        .await?
        .with_context(|| format!("no Delta table at {}", dir.display()))?;
    let snapshot = writer.table().snapshot()?;
    let sizes: Vec<u64> = snapshot.log_data().iter().map(|f| u64::try_from(f.size()).unwrap_or(0)).collect();
    Ok((sizes.len(), sizes.iter().sum()))
}

fn parquet_files(dir: &Path) -> Result<(usize, u64)> {
    let mut count = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "parquet") {
            count += 1;
            bytes += entry.metadata()?.len();
        }
    }
    Ok((count, bytes))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Bytes as MiB with one decimal (the small trial runs write a few hundred KiB).
fn mib_1(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn path_string(path: &Path) -> Result<String> {
    path.to_str().map(str::to_owned).with_context(|| format!("not a UTF-8 path: {}", path.display()))
}

/// The last non-empty stdout line of a measured run, as JSON.
fn last_json<T: serde::de::DeserializeOwned>(run: &Measured) -> Result<T> {
    let line = run.stdout.lines().rev().find(|l| !l.trim().is_empty()).with_context(|| {
        format!("the run printed nothing on stdout; its stderr ends:\n{}", run.stderr_tail(20))
    })?;
    serde_json::from_str(line).with_context(|| format!("reading {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_op_mix_is_70_20_10_and_adds_up() {
        assert_eq!(op_mix(100_000), (70_000, 20_000, 10_000));
        assert_eq!(op_mix(1_000), (700, 200, 100));
        for n in 1..200 {
            let (u, i, d) = op_mix(n);
            assert_eq!(u + i + d, n);
        }
    }

    #[test]
    fn every_batch_has_the_mix_distinct_keys_and_valid_targets() {
        let base = 20_000;
        let plan = Plan::new(base, 10_000, 10, SEED).unwrap();
        assert_eq!(plan.batches.len(), 10);
        let mut live: HashSet<i64> = (1..=base as i64).collect();
        let mut max_id = base as i64;
        for batch in &plan.batches {
            assert_eq!(batch.len(), 1_000);
            let count = |k: Kind| batch.iter().filter(|p| p.kind == k).count();
            assert_eq!((count(Kind::Update), count(Kind::Insert), count(Kind::Delete)), (700, 200, 100));
            let ids: HashSet<i64> = batch.iter().map(|p| p.id).collect();
            assert_eq!(ids.len(), batch.len(), "keys are distinct within a batch");
            let prior_max = max_id;
            for p in batch {
                match p.kind {
                    Kind::Update | Kind::Delete => assert!(live.contains(&p.id), "{p:?} targets a live row"),
                    Kind::Insert => assert!(p.id > prior_max && !live.contains(&p.id), "{p:?} is new"),
                }
            }
            for p in batch {
                match p.kind {
                    Kind::Delete => assert!(live.remove(&p.id)),
                    Kind::Insert => {
                        live.insert(p.id);
                        max_id = max_id.max(p.id);
                    }
                    Kind::Update => {}
                }
            }
            let first_kinds: Vec<Kind> = batch.iter().take(20).map(|p| p.kind).collect();
            assert!(first_kinds.iter().any(|k| *k != Kind::Update), "shuffled: {first_kinds:?}");
        }
        let o = &plan.outcome;
        assert_eq!(o.rows, live.len() as u64);
        assert_eq!(o.rows, base + 2_000 - 1_000);
        assert_eq!(o.sum_id, live.iter().map(|&i| i as u64).sum::<u64>());
        assert_eq!(o.read + o.updated_rows + o.created_rows, o.rows);
        assert_eq!((o.updates, o.inserts, o.deletes), (7_000, 2_000, 1_000));
    }

    #[test]
    fn plans_are_deterministic_per_seed() {
        let a = Plan::new(5_000, 1_005, 10, SEED).unwrap();
        assert_eq!(a, Plan::new(5_000, 1_005, 10, SEED).unwrap());
        assert_ne!(a, Plan::new(5_000, 1_005, 10, SEED + 1).unwrap());
        let sizes: Vec<usize> = a.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [101, 101, 101, 101, 101, 100, 100, 100, 100, 100]);
        assert!(Plan::new(10, 100, 10, SEED).is_err(), "too few live rows");
    }

    #[test]
    fn rows_are_deterministic_and_differ_by_version() {
        assert_eq!(row(42, 3).unwrap(), row(42, 3).unwrap());
        assert_ne!(row(42, 3).unwrap(), row(42, 4).unwrap());
    }

    #[test]
    fn batches_become_one_collapsed_change_batch_per_plan_batch() {
        let plan = Plan::new(2_000, 500, 2, SEED).unwrap();
        let build = || {
            let mut events = Events::new().unwrap();
            plan.batches
                .iter()
                .enumerate()
                .map(|(b, batch)| events.transactions(batch, b as u64 + 1).unwrap().to_batch().unwrap())
                .collect::<Vec<_>>()
        };
        let batches = build();
        for (arrow, planned) in batches.iter().zip(&plan.batches) {
            assert_eq!(arrow.batch.num_rows(), planned.len());
            assert_eq!(arrow.deletes, planned.iter().filter(|p| p.kind == Kind::Delete).count());
            assert!(arrow.keep.is_empty() && arrow.moved_from.is_empty());
            let names: Vec<&str> =
                arrow.batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names, ["id", "a", "b", "c", "d", "_op", "_commit_lsn", "_seq", "_source_ts"]);
        }
        let again = build();
        assert!(
            batches.iter().zip(&again).all(|(x, y)| x.batch == y.batch),
            "the same records in any process"
        );
    }
}
