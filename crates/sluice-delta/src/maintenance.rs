//! Table maintenance: compaction, vacuum and checkpoints, run between an applier's commits.
//!
//! A CDC applier commits small batches often, so its tables collect many small files (every
//! reader and every MERGE opens each of them), files no version still needs (MERGE rewrites
//! files) and a long JSON log (every reader replays it). Three tasks keep a table cheap to read:
//!
//! * **compaction** bin-packs small files into files of a target size with delta-rs' OPTIMIZE
//!   (`dataChange = false`: rows are never changed, added or dropped), only when there are at
//!   least [`MaintenanceConfig::optimize_min_files`] small files;
//! * **vacuum** deletes data files that no version younger than the retention still references,
//!   never with a retention under one hour unless explicitly overridden;
//! * **checkpoints** every [`MaintenanceConfig::checkpoint_interval`] commits, then expired log
//!   files are cleaned (delta-rs only deletes logs older than `delta.logRetentionDuration` and
//!   below a checkpoint). delta-rs' own post-commit hook writes one only when `(version + 1) %
//!   delta.checkpointInterval == 0`, and its default interval is 100 (Delta's is 10), so sluice
//!   writes checkpoints itself, counting commits from the table's last checkpoint.
//!
//! [`MaintenanceSchedule`] decides what is due (pure: time for compaction and vacuum, commits for
//! checkpoints); [`maintain`] runs the due tasks on a [`TableWriter`]'s table, so maintenance is
//! serialized with the applier's own commits. Maintenance commits carry no `txn` action and never
//! replace one, so [`TableWriter::transaction_version`] reads the same before and after, also
//! from a checkpoint. A commit conflict with another writer (a concurrent MERGE that rewrote a
//! file compaction read) is retried on the reloaded table a bounded number of times, then
//! returned as a retryable error; a concurrent MERGE that loses against a compaction is retried
//! by its own writer. Either way no row is lost or doubled. One case delta-rs 1.1 gets wrong:
//! two compactions of the same files (another process compacting the same table) both commit
//! and double those rows; sluice cannot prevent that, but detects it and fails loudly.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deltalake::arrow::temporal_conversions::try_duration_s_to_duration;
use deltalake::checkpoints::{cleanup_metadata, create_checkpoint};
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::logstore::object_store::ObjectStoreExt as _;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode as DeltaVacuumMode;
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::{DeltaTable, DeltaTableError, ObjectStoreError, Path};

use crate::error::{DeltaError, commit_conflict};
use crate::table::{DEFAULT_MAX_ATTEMPTS, TableWriter};

/// Commits between checkpoints.
pub const CHECKPOINT_INTERVAL: &str = "sluice.delta.checkpoint.interval";
/// Milliseconds between compactions (`0` disables compaction).
pub const OPTIMIZE_INTERVAL_MS: &str = "sluice.delta.optimize.interval.ms";
/// The size compaction packs files to.
pub const OPTIMIZE_TARGET_FILE_SIZE: &str = "sluice.delta.optimize.target.file.size.bytes";
/// How many small files make a compaction worth its rewrite.
pub const OPTIMIZE_MIN_FILES: &str = "sluice.delta.optimize.min.files";
/// Milliseconds between vacuums (`0` disables vacuum).
pub const VACUUM_INTERVAL_MS: &str = "sluice.delta.vacuum.interval.ms";
/// How long unreferenced files are kept for readers and writers of older versions.
pub const VACUUM_RETENTION_HOURS: &str = "sluice.delta.vacuum.retention.hours";
/// `false` allows a vacuum retention under [`MIN_VACUUM_RETENTION_HOURS`] (tests only).
pub const VACUUM_RETENTION_CHECK: &str = "sluice.delta.vacuum.retention.check.enabled";
/// `lite` (files the log removed) or `full` (also files no commit ever referenced).
pub const VACUUM_MODE: &str = "sluice.delta.vacuum.mode";
/// How many times a maintenance operation is tried when its commit conflicts.
pub const MAINTENANCE_MAX_ATTEMPTS: &str = "sluice.delta.maintenance.max.attempts";

/// The shortest vacuum retention allowed without [`VACUUM_RETENTION_CHECK`]` = false`: a reader
/// or a MERGE still working from a version this old would find its files gone.
pub const MIN_VACUUM_RETENTION_HOURS: u64 = 1;

const DEFAULT_CHECKPOINT_INTERVAL: u64 = 10;
const DEFAULT_OPTIMIZE_INTERVAL_MS: u64 = 600_000;
const DEFAULT_TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;
const DEFAULT_TARGET: NonZeroU64 = match NonZeroU64::new(DEFAULT_TARGET_FILE_SIZE) {
    Some(n) => n,
    None => NonZeroU64::MIN,
};
const MIN_TARGET_FILE_SIZE: u64 = 1024 * 1024;
const DEFAULT_OPTIMIZE_MIN_FILES: u64 = 10;
const DEFAULT_VACUUM_INTERVAL_MS: u64 = 3_600_000;
const DEFAULT_VACUUM_RETENTION_HOURS: u64 = 168;

/// Which files vacuum considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VacuumMode {
    /// Only files a commit removed (cheap: no listing of the table's directory).
    #[default]
    Lite,
    /// Also files no commit references (written by a writer that crashed before committing, or
    /// whose removal was dropped from the log); lists the whole table directory.
    Full,
}

/// When and how to maintain tables, parsed from a connector's properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// Commits between checkpoints; `None` leaves checkpoints to delta-rs' post-commit hook
    /// (`delta.checkpointInterval`, default 100).
    pub checkpoint_interval: Option<NonZeroU64>,
    /// Time between compactions; `None` disables compaction.
    pub optimize_interval: Option<Duration>,
    /// The size compaction packs files to; bigger files are left alone.
    pub optimize_target_file_size: NonZeroU64,
    /// Compaction runs only when the table has at least this many files smaller than the target.
    pub optimize_min_files: usize,
    /// Time between vacuums; `None` disables vacuum.
    pub vacuum_interval: Option<Duration>,
    /// Files unreferenced for less than this are kept (readers of older versions, running MERGEs).
    pub vacuum_retention: Duration,
    /// Whether a retention under [`MIN_VACUUM_RETENTION_HOURS`] is refused.
    pub vacuum_retention_check: bool,
    /// Which files vacuum considers.
    pub vacuum_mode: VacuumMode,
    /// Attempts per operation when its commit conflicts (at least 1).
    pub max_attempts: usize,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            checkpoint_interval: NonZeroU64::new(DEFAULT_CHECKPOINT_INTERVAL),
            optimize_interval: Some(Duration::from_millis(DEFAULT_OPTIMIZE_INTERVAL_MS)),
            optimize_target_file_size: DEFAULT_TARGET,
            optimize_min_files: DEFAULT_OPTIMIZE_MIN_FILES as usize,
            vacuum_interval: Some(Duration::from_millis(DEFAULT_VACUUM_INTERVAL_MS)),
            vacuum_retention: Duration::from_secs(DEFAULT_VACUUM_RETENTION_HOURS * 3600),
            vacuum_retention_check: true,
            vacuum_mode: VacuumMode::Lite,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl MaintenanceConfig {
    /// Parses and validates the maintenance properties (absent ones take their defaults); errors
    /// name the property.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, DeltaError> {
        let number = |name: &str, default: u64| -> Result<u64, DeltaError> {
            match props.get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| config_error(name, format!("expected a non-negative integer, got '{v}'"))),
            }
        };
        let interval = |name: &str, default: u64| -> Result<Option<Duration>, DeltaError> {
            Ok(Some(number(name, default)?).filter(|ms| *ms > 0).map(Duration::from_millis))
        };

        let checkpoint_interval = NonZeroU64::new(number(CHECKPOINT_INTERVAL, DEFAULT_CHECKPOINT_INTERVAL)?);

        let target = number(OPTIMIZE_TARGET_FILE_SIZE, DEFAULT_TARGET_FILE_SIZE)?;
        let optimize_target_file_size = NonZeroU64::new(target)
            .filter(|t| t.get() >= MIN_TARGET_FILE_SIZE && i64::try_from(t.get()).is_ok())
            .ok_or_else(|| {
                config_error(
                    OPTIMIZE_TARGET_FILE_SIZE,
                    format!(
                        "{target} bytes is not a sensible file size: use at least {MIN_TARGET_FILE_SIZE} \
                         (smaller files make every read slower), default {DEFAULT_TARGET_FILE_SIZE}"
                    ),
                )
            })?;

        let min_files = number(OPTIMIZE_MIN_FILES, DEFAULT_OPTIMIZE_MIN_FILES)?;
        let optimize_min_files = usize::try_from(min_files).ok().filter(|n| *n >= 2).ok_or_else(|| {
            config_error(
                OPTIMIZE_MIN_FILES,
                format!("expected at least 2 (files packed together), got {min_files}"),
            )
        })?;

        let hours = number(VACUUM_RETENTION_HOURS, DEFAULT_VACUUM_RETENTION_HOURS)?;
        let vacuum_retention = hours
            .checked_mul(3600)
            .filter(|s| i64::try_from(*s).ok().and_then(try_duration_s_to_duration).is_some())
            .map(Duration::from_secs)
            .ok_or_else(|| config_error(VACUUM_RETENTION_HOURS, format!("{hours} hours is too long")))?;
        let vacuum_retention_check = boolean(props, VACUUM_RETENTION_CHECK, true)?;

        let vacuum_mode = match props.get(VACUUM_MODE).map(|v| v.trim().to_ascii_lowercase()) {
            None => VacuumMode::Lite,
            Some(v) if v == "lite" => VacuumMode::Lite,
            Some(v) if v == "full" => VacuumMode::Full,
            Some(v) => {
                return Err(config_error(VACUUM_MODE, format!("expected 'lite' or 'full', got '{v}'")));
            }
        };

        let attempts = number(MAINTENANCE_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS as u64)?;
        let max_attempts = usize::try_from(attempts).ok().filter(|n| *n >= 1).ok_or_else(|| {
            config_error(MAINTENANCE_MAX_ATTEMPTS, format!("expected at least 1, got {attempts}"))
        })?;

        let config = MaintenanceConfig {
            checkpoint_interval,
            optimize_interval: interval(OPTIMIZE_INTERVAL_MS, DEFAULT_OPTIMIZE_INTERVAL_MS)?,
            optimize_target_file_size,
            optimize_min_files,
            vacuum_interval: interval(VACUUM_INTERVAL_MS, DEFAULT_VACUUM_INTERVAL_MS)?,
            vacuum_retention,
            vacuum_retention_check,
            vacuum_mode,
            max_attempts,
        };
        config.check_retention()?;
        Ok(config)
    }

    /// Refuses a retention so short that vacuum could delete files a concurrent reader or a
    /// running MERGE still reads, unless the check is off.
    fn check_retention(&self) -> Result<(), DeltaError> {
        if self.vacuum_retention_check
            && self.vacuum_retention < Duration::from_secs(MIN_VACUUM_RETENTION_HOURS * 3600)
        {
            return Err(config_error(
                VACUUM_RETENTION_HOURS,
                format!(
                    "{} hours is below the minimum of {MIN_VACUUM_RETENTION_HOURS}: vacuum would delete \
                     files that a reader or a MERGE working from a recent table version still needs, \
                     failing it or (for an uncommitted write) corrupting the table; set \
                     {VACUUM_RETENTION_CHECK}=false only for tests",
                    self.vacuum_retention.as_secs() / 3600
                ),
            ));
        }
        Ok(())
    }
}

fn boolean(props: &BTreeMap<String, String>, name: &str, default: bool) -> Result<bool, DeltaError> {
    match props.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(config_error(name, format!("expected 'true' or 'false', got '{v}'"))),
    }
}

fn config_error(property: &str, message: String) -> DeltaError {
    DeltaError::Config { property: property.to_owned(), message }
}

/// The maintenance tasks to run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    /// Compact small files.
    pub compaction: bool,
    /// Delete unreferenced files past the retention.
    pub vacuum: bool,
    /// Write a checkpoint if the interval has passed since the table's last one.
    pub checkpoint: bool,
}

impl Due {
    /// Every task (each still only if enabled in the config).
    pub const ALL: Due = Due { compaction: true, vacuum: true, checkpoint: true };

    /// Whether anything is due.
    pub fn any(self) -> bool {
        self.compaction || self.vacuum || self.checkpoint
    }
}

/// When one table's maintenance tasks last ran, and so which are due. Pure: the caller passes the
/// time and the table version, so it can live in the applier's loop and be tested without clocks.
///
/// Compaction and vacuum are due once their interval has passed since they last ran (and at the
/// first call, so a process restarting often still maintains its tables). A checkpoint is due
/// when the interval's number of commits has passed since the last checkpoint this schedule knows
/// of; [`maintain`] reads the table's `_last_checkpoint` before writing one, so an unknown or
/// outdated last checkpoint (a restart, delta-rs' own hook) costs a read, not a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceSchedule {
    last_compaction: Option<Instant>,
    last_vacuum: Option<Instant>,
    last_checkpoint: Option<u64>,
}

impl MaintenanceSchedule {
    /// A schedule for a table nothing is known about yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// What is due at `now` for the table at `table_version` (`None`: no table yet).
    pub fn due(&self, config: &MaintenanceConfig, now: Instant, table_version: Option<u64>) -> Due {
        let timed = |interval: Option<Duration>, last: Option<Instant>| match (interval, last) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(i), Some(t)) => now.saturating_duration_since(t) >= i,
        };
        let checkpoint = match (config.checkpoint_interval, table_version) {
            (Some(n), Some(v)) => match self.last_checkpoint {
                Some(c) => v.saturating_sub(c) >= n.get(),
                None => v.saturating_add(1) >= n.get(),
            },
            _ => false,
        };
        Due {
            compaction: table_version.is_some() && timed(config.optimize_interval, self.last_compaction),
            vacuum: table_version.is_some() && timed(config.vacuum_interval, self.last_vacuum),
            checkpoint,
        }
    }

    /// The earliest time compaction or vacuum is due (`None`: both disabled); checkpoints depend
    /// on commits, not time. For a caller that sleeps between maintenance runs.
    pub fn next_run(&self, config: &MaintenanceConfig, now: Instant) -> Option<Instant> {
        let next = |interval: Option<Duration>, last: Option<Instant>| {
            interval.map(|i| last.and_then(|t| t.checked_add(i)).map_or(now, |at| at.max(now)))
        };
        [next(config.optimize_interval, self.last_compaction), next(config.vacuum_interval, self.last_vacuum)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Records that `due`'s timed tasks ran at `now`, whether they succeeded or not: a failing
    /// task waits a full interval instead of running again on every call.
    pub fn ran(&mut self, due: Due, now: Instant) {
        if due.compaction {
            self.last_compaction = Some(now);
        }
        if due.vacuum {
            self.last_vacuum = Some(now);
        }
    }

    /// Records a finished [`maintain`]: when its tasks ran and the table's last checkpoint.
    pub fn record(&mut self, report: &MaintenanceReport, now: Instant) {
        self.ran(report.due, now);
        if let Some(version) = report.checkpoint.as_ref().and_then(|c| c.version) {
            self.last_checkpoint = Some(self.last_checkpoint.map_or(version, |c| c.max(version)));
        }
    }

    /// The last checkpoint version this schedule knows of.
    pub fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
    }
}

/// What compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Files smaller than the target when compaction looked (after the last attempt's reload).
    pub small_files: usize,
    /// Files replaced by compacted ones (0: fewer small files than the threshold).
    pub files_removed: u64,
    /// Compacted files written.
    pub files_added: u64,
    /// Attempts made (more than 1 after commit conflicts).
    pub attempts: usize,
}

/// What vacuum did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    /// Files deleted (paths relative to the table).
    pub files_deleted: Vec<String>,
    /// Attempts made (more than 1 after commit conflicts).
    pub attempts: usize,
}

/// What the checkpoint task found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The table's last checkpoint after the task (`None`: the table has none yet).
    pub version: Option<u64>,
    /// Whether this task wrote it.
    pub created: bool,
    /// Expired log files deleted after the checkpoint.
    pub logs_removed: usize,
}

/// What [`maintain`] did; a task that was not due or is disabled has no report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaintenanceReport {
    /// The tasks asked for.
    pub due: Due,
    /// Compaction, if it ran.
    pub compaction: Option<CompactionReport>,
    /// Vacuum, if it ran.
    pub vacuum: Option<VacuumReport>,
    /// The checkpoint task, if it ran.
    pub checkpoint: Option<CheckpointReport>,
    /// The writer's table version afterwards.
    pub table_version: Option<u64>,
}

/// Every maintenance property, for connector property checks.
pub const MAINTENANCE_PROPERTIES: &[&str] = &[
    CHECKPOINT_INTERVAL,
    OPTIMIZE_INTERVAL_MS,
    OPTIMIZE_TARGET_FILE_SIZE,
    OPTIMIZE_MIN_FILES,
    VACUUM_INTERVAL_MS,
    VACUUM_RETENTION_HOURS,
    VACUUM_RETENTION_CHECK,
    VACUUM_MODE,
    MAINTENANCE_MAX_ATTEMPTS,
];

/// What an applier calls after committing to a table: runs what the schedule says is due. A
/// failure is logged and the task waits a full interval: maintenance only makes reads cheaper, so
/// it never stops replication (the table stays correct either way).
pub async fn after_commit(
    writer: &mut TableWriter,
    config: &MaintenanceConfig,
    schedule: &mut MaintenanceSchedule,
) {
    let now = Instant::now();
    let due = schedule.due(config, now, writer.version());
    if !due.any() {
        return;
    }
    match maintain(writer, config, due).await {
        Ok(report) => {
            schedule.record(&report, now);
            tracing::debug!(table = %writer.name(), ?report, "maintenance");
        }
        Err(e) => {
            schedule.ran(due, now);
            tracing::warn!(table = %writer.name(), error = %e, "table maintenance failed; it runs again at its next interval");
            if let Err(e) = writer.reload().await {
                tracing::warn!(table = %writer.name(), error = %e, "reloading the table after maintenance");
            }
        }
    }
}

/// Runs the `due` tasks that `config` enables on the writer's table, in the order compaction,
/// vacuum, checkpoint (so the checkpoint describes the compacted table). After each operation
/// that commits or checkpoints, the writer holds the table's new version. Stops at the first
/// failing task: conflicts that survived [`MaintenanceConfig::max_attempts`] are retryable
/// errors (the writer is reloaded); record the attempt with [`MaintenanceSchedule::ran`] so the
/// task waits its interval.
pub async fn maintain(
    writer: &mut TableWriter,
    config: &MaintenanceConfig,
    due: Due,
) -> Result<MaintenanceReport, DeltaError> {
    let mut report = MaintenanceReport { due, ..MaintenanceReport::default() };
    if writer.version().is_some() {
        if due.compaction && config.optimize_interval.is_some() {
            report.compaction = Some(compact(writer, config).await?);
        }
        if due.vacuum && config.vacuum_interval.is_some() {
            report.vacuum = Some(vacuum(writer, config).await?);
        }
        if let (true, Some(interval)) = (due.checkpoint, config.checkpoint_interval) {
            report.checkpoint = Some(checkpoint(writer, interval).await?);
        }
    }
    report.table_version = writer.version();
    Ok(report)
}

/// Bin-packs the table's small files; OPTIMIZE commits removes and adds with `dataChange = false`
/// and no `txn`, so readers, CDC consumers and the applier's txn version see no change.
async fn compact(
    writer: &mut TableWriter,
    config: &MaintenanceConfig,
) -> Result<CompactionReport, DeltaError> {
    let target = config.optimize_target_file_size;
    let mut attempt = 1;
    loop {
        let small_files = small_files(writer, target)?;
        if small_files < config.optimize_min_files {
            tracing::debug!(table = %writer.name(), small_files, "too few small files to compact");
            return Ok(CompactionReport { small_files, files_removed: 0, files_added: 0, attempts: attempt });
        }
        let read_version = writer.version();
        let tag = compaction_tag();
        let props = CommitProperties::default()
            .with_metadata([(COMPACTION_TAG.to_owned(), serde_json::Value::String(tag.clone()))]);
        let result = writer
            .table()
            .clone()
            .optimize()
            .with_type(OptimizeType::Compact)
            .with_target_size(target)
            .with_commit_properties(props)
            .await;
        match result {
            Ok((table, metrics)) => {
                writer.replace_table(table);
                if let (Some(read_version), true) = (read_version, metrics.num_files_removed > 0) {
                    check_not_doubled(writer, read_version, &tag).await?;
                }
                tracing::info!(
                    table = %writer.name(),
                    version = ?writer.version(),
                    files_removed = metrics.num_files_removed,
                    files_added = metrics.num_files_added,
                    attempts = attempt,
                    "compacted small files"
                );
                return Ok(CompactionReport {
                    small_files,
                    files_removed: metrics.num_files_removed,
                    files_added: metrics.num_files_added,
                    attempts: attempt,
                });
            }
            Err(e) => {
                let e = DeltaError::delta(writer.name(), "compacting small files", e);
                attempt = retry_or_fail(writer, config, attempt, e).await?;
            }
        }
    }
}

/// The commitInfo key that tags a compaction commit, so that its version can be found.
const COMPACTION_TAG: &str = "sluice.compaction";

/// A tag no other compaction commit carries.
fn compaction_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Fails if a commit between `read_version` and the compaction commit tagged `tag` removed a file
/// the compaction also removed. delta-rs 1.1 ignores `dataChange = false` removes when checking
/// conflicts, so two compactions of the same files from the same version both commit and every
/// row of those files is then in the table twice (another process compacting this table, or a
/// stale handle). That cannot be undone safely here; the error says what happened and how to fix
/// it. A merge that removed a file the compaction read is caught by delta-rs itself.
async fn check_not_doubled(writer: &TableWriter, read_version: u64, tag: &str) -> Result<(), DeltaError> {
    let log_store = writer.table().log_store();
    let latest = writer.version().unwrap_or(read_version);
    let mut removed_by_others: BTreeMap<String, u64> = BTreeMap::new();
    for version in read_version + 1..=latest {
        let context = || format!("reading commit {version} to check the compaction");
        let Some(bytes) = log_store
            .read_commit_entry(version)
            .await
            .map_err(|e| DeltaError::delta(writer.name(), context(), e))?
        else {
            continue;
        };
        let mut removes = Vec::new();
        let mut ours = false;
        for line in bytes.as_ref().split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(action) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
            if let Some(path) = action["remove"]["path"].as_str() {
                removes.push(path.to_owned());
            }
            ours |= action["commitInfo"][COMPACTION_TAG].as_str() == Some(tag);
        }
        if !ours {
            removed_by_others.extend(removes.into_iter().map(|p| (p, version)));
            continue;
        }
        let doubled: Vec<(&String, &u64)> =
            removes.iter().filter_map(|p| removed_by_others.get_key_value(p)).collect();
        if doubled.is_empty() {
            return Ok(());
        }
        let others: BTreeSet<u64> = doubled.iter().map(|(_, v)| **v).collect();
        tracing::error!(
            table = %writer.name(),
            version,
            concurrent = ?others,
            files = ?doubled,
            "rows doubled by two compactions"
        );
        return Err(DeltaError::Internal(format!(
            "table {}: sluice's compaction committed version {version} over files that another \
             writer's commit (version {others:?}) had already removed without changing data, typically \
             a concurrent compaction; delta-rs 1.1 does not detect this conflict, so the rows of {} \
             file(s) are now in the table twice. Stop whatever else compacts this table; if no commit \
             followed version {version}, restore the table to version {} (e.g. Python deltalake \
             DeltaTable.restore), otherwise rewrite it without duplicates",
            writer.name(),
            doubled.len(),
            version - 1
        )));
    }
    tracing::warn!(table = %writer.name(), read_version, latest, "compaction commit not found in the log");
    Ok(())
}

/// Deletes files no version within the retention references, with sluice's retention floor.
async fn vacuum(writer: &mut TableWriter, config: &MaintenanceConfig) -> Result<VacuumReport, DeltaError> {
    config.check_retention()?;
    let secs = i64::try_from(config.vacuum_retention.as_secs()).ok();
    let retention = secs.and_then(try_duration_s_to_duration).ok_or_else(|| {
        config_error(VACUUM_RETENTION_HOURS, format!("{:?} is too long", config.vacuum_retention))
    })?;
    let mode = match config.vacuum_mode {
        VacuumMode::Lite => DeltaVacuumMode::Lite,
        VacuumMode::Full => DeltaVacuumMode::Full,
    };
    if config.vacuum_mode == VacuumMode::Lite {
        let snapshot = writer
            .table()
            .snapshot()
            .map_err(|e| DeltaError::delta(writer.name(), "reading the table state", e))?;
        let tombstones_kept = snapshot.table_config().deleted_file_retention_duration();
        if config.vacuum_retention > tombstones_kept {
            tracing::warn!(
                table = %writer.name(),
                retention = ?config.vacuum_retention,
                tombstones_kept = ?tombstones_kept,
                "checkpoints drop removed files from the log after \
                 delta.deletedFileRetentionDuration, which is shorter than the vacuum retention: \
                 lite vacuum will miss them (use {VACUUM_MODE}=full)"
            );
        }
    }
    // sluice enforces its own floor: the table's `delta.deletedFileRetentionDuration` check would
    // refuse any retention under a week by default.
    let vacuum_builder = |table: &DeltaTable| {
        table
            .clone()
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(mode.clone())
    };
    let mut attempt = 1;
    loop {
        // delta-rs plans a removed file for deletion as long as its remove action is in the log,
        // also after an earlier vacuum deleted it, and then commits VACUUM START/END again: plan
        // with a dry run, and vacuum (and report) only when planned files still exist.
        let planned = vacuum_builder(writer.table()).with_dry_run(true).await;
        let result = match planned {
            Ok((_, plan)) => {
                let present = existing(writer, &plan.files_deleted).await?;
                if present.is_empty() {
                    Ok(None)
                } else {
                    let run = vacuum_builder(writer.table()).with_dry_run(false).await;
                    run.map(|(table, metrics)| Some((table, metrics.files_deleted, present)))
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(None) => {
                tracing::debug!(table = %writer.name(), "vacuum found nothing to delete");
                return Ok(VacuumReport { files_deleted: Vec::new(), attempts: attempt });
            }
            Ok(Some((table, deleted, present))) => {
                writer.replace_table(table);
                let files_deleted: Vec<String> =
                    deleted.into_iter().filter(|f| present.contains(f)).collect();
                tracing::info!(
                    table = %writer.name(),
                    count = files_deleted.len(),
                    files = ?files_deleted,
                    "vacuum deleted unreferenced files"
                );
                return Ok(VacuumReport { files_deleted, attempts: attempt });
            }
            Err(e) => {
                let e = DeltaError::delta(writer.name(), "vacuuming", e);
                attempt = retry_or_fail(writer, config, attempt, e).await?;
            }
        }
    }
}

/// Which of `files` (paths relative to the table) exist, by listing their directories.
async fn existing(writer: &TableWriter, files: &[String]) -> Result<HashSet<String>, DeltaError> {
    let store = writer.table().log_store().object_store(None);
    let wanted: HashSet<&str> = files.iter().map(String::as_str).collect();
    let parents: BTreeSet<Path> =
        files.iter().filter_map(|f| Path::parse(f).ok()).filter_map(|p| p.parent()).collect();
    let mut found = HashSet::new();
    for parent in parents {
        let prefix = (parent != Path::ROOT).then_some(&parent);
        let listing = store.list_with_delimiter(prefix).await.map_err(|e| {
            DeltaError::delta(writer.name(), format!("listing '{parent}' to vacuum it"), e.into())
        })?;
        found.extend(
            listing
                .objects
                .into_iter()
                .map(|o| o.location.to_string())
                .filter(|l| wanted.contains(l.as_str())),
        );
    }
    Ok(found)
}

/// Writes a checkpoint at the loaded version if `interval` commits passed since the table's last
/// one, then deletes expired logs (if `delta.enableExpiredLogCleanup`, default true) and reloads
/// the table from the checkpoint, so no later read needs a deleted log file.
async fn checkpoint(writer: &mut TableWriter, interval: NonZeroU64) -> Result<CheckpointReport, DeltaError> {
    let Some(version) = writer.version() else {
        return Ok(CheckpointReport { version: None, created: false, logs_removed: 0 });
    };
    let last = last_checkpoint(writer).await?;
    let due = match last {
        Some(c) => version.saturating_sub(c) >= interval.get(),
        None => version.saturating_add(1) >= interval.get(),
    };
    if !due {
        return Ok(CheckpointReport { version: last, created: false, logs_removed: 0 });
    }
    let name = writer.name().to_owned();
    create_checkpoint(writer.table(), None)
        .await
        .map_err(|e| DeltaError::delta(&name, format!("writing a checkpoint at version {version}"), e))?;
    let snapshot =
        writer.table().snapshot().map_err(|e| DeltaError::delta(&name, "reading the table state", e))?;
    let logs_removed = if snapshot.table_config().enable_expired_log_cleanup() {
        cleanup_metadata(writer.table(), None)
            .await
            .map_err(|e| DeltaError::delta(&name, "deleting expired log files", e))?
    } else {
        0
    };
    let mut fresh = DeltaTable::new(writer.table().log_store());
    fresh.load().await.map_err(|e| DeltaError::delta(&name, "reloading the table after a checkpoint", e))?;
    writer.replace_table(fresh);
    tracing::info!(table = %name, version, logs_removed, "wrote a checkpoint");
    Ok(CheckpointReport { version: Some(version), created: true, logs_removed })
}

/// The version `_delta_log/_last_checkpoint` names, `None` if there is none (or it is unreadable:
/// the hint is optional in the protocol).
async fn last_checkpoint(writer: &TableWriter) -> Result<Option<u64>, DeltaError> {
    let log_store = writer.table().log_store();
    let path = log_store.log_path().clone().join("_last_checkpoint");
    let read = async { log_store.object_store(None).get(&path).await?.bytes().await };
    match read.await {
        Ok(bytes) => {
            let version =
                serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["version"].as_u64());
            if version.is_none() {
                tracing::warn!(table = %writer.name(), "ignoring an unreadable _delta_log/_last_checkpoint");
            }
            Ok(version)
        }
        Err(ObjectStoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(DeltaError::delta(writer.name(), "reading _delta_log/_last_checkpoint", e.into())),
    }
}

/// Files smaller than `target` in the loaded version.
fn small_files(writer: &TableWriter, target: NonZeroU64) -> Result<usize, DeltaError> {
    let snapshot = writer
        .table()
        .snapshot()
        .map_err(|e| DeltaError::delta(writer.name(), "reading the table state", e))?;
    let target = i64::try_from(target.get()).unwrap_or(i64::MAX);
    Ok(snapshot.log_data().iter().filter(|f| f.size() < target).count())
}

/// After a failed attempt: the next attempt's number once the table is reloaded, if the error is
/// a commit conflict and attempts remain; otherwise the error (with the writer reloaded, so its
/// next commit starts from the latest version).
async fn retry_or_fail(
    writer: &mut TableWriter,
    config: &MaintenanceConfig,
    attempt: usize,
    error: DeltaError,
) -> Result<usize, DeltaError> {
    let conflict = matches!(&error, DeltaError::Delta { source, .. } if is_conflict(source));
    if conflict && attempt < config.max_attempts {
        tracing::info!(
            table = %writer.name(),
            attempt,
            error = %error,
            "maintenance commit conflicted; retrying"
        );
        writer.reload().await?;
        return Ok(attempt + 1);
    }
    if let Err(e) = writer.reload().await {
        tracing::warn!(table = %writer.name(), error = %e, "reloading the table after failed maintenance");
    }
    Err(error)
}

fn is_conflict(e: &DeltaTableError) -> bool {
    commit_conflict(e).is_some()
        || matches!(
            e,
            DeltaTableError::VersionAlreadyExists(_)
                | DeltaTableError::Transaction {
                    source: TransactionError::MaxCommitAttempts(_)
                        | TransactionError::VersionAlreadyExists(_)
                }
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MaintenanceConfig {
        MaintenanceConfig {
            checkpoint_interval: NonZeroU64::new(10),
            optimize_interval: Some(Duration::from_secs(600)),
            vacuum_interval: Some(Duration::from_secs(3600)),
            ..MaintenanceConfig::default()
        }
    }

    #[test]
    fn timed_tasks_are_due_first_then_after_their_interval() {
        let c = config();
        let t0 = Instant::now();
        let mut s = MaintenanceSchedule::new();
        assert_eq!(s.due(&c, t0, None), Due::default(), "no table, nothing due");
        let due = s.due(&c, t0, Some(0));
        assert!(due.compaction && due.vacuum && !due.checkpoint);
        s.ran(due, t0);
        assert_eq!(s.due(&c, t0 + Duration::from_secs(599), Some(0)), Due::default());
        let due = s.due(&c, t0 + Duration::from_secs(600), Some(0));
        assert!(due.compaction && !due.vacuum);
        s.ran(due, t0 + Duration::from_secs(600));
        let due = s.due(&c, t0 + Duration::from_secs(1199), Some(0));
        assert!(!due.compaction && !due.vacuum);
        let due = s.due(&c, t0 + Duration::from_secs(3600), Some(0));
        assert!(due.compaction && due.vacuum);
        assert_eq!(s.next_run(&c, t0), Some(t0 + Duration::from_secs(1200)));
        // A clock that went backwards (or an `Instant` before `last`) is not due.
        assert!(!s.due(&c, t0, Some(0)).compaction);
    }

    #[test]
    fn disabled_tasks_are_never_due() {
        let c = MaintenanceConfig {
            checkpoint_interval: None,
            optimize_interval: None,
            vacuum_interval: None,
            ..config()
        };
        let s = MaintenanceSchedule::new();
        assert!(!s.due(&c, Instant::now(), Some(1000)).any());
        assert_eq!(s.next_run(&c, Instant::now()), None);
    }

    #[test]
    fn checkpoints_are_due_by_commits_since_the_last_one() {
        let c = MaintenanceConfig { checkpoint_interval: NonZeroU64::new(10), ..config() };
        let now = Instant::now();
        let mut s = MaintenanceSchedule::new();
        assert!(!s.due(&c, now, Some(8)).checkpoint, "9 commits");
        assert!(s.due(&c, now, Some(9)).checkpoint, "10 commits, like Delta's (v + 1) % 10 == 0");
        let report = MaintenanceReport {
            due: Due { checkpoint: true, ..Due::default() },
            checkpoint: Some(CheckpointReport { version: Some(9), created: true, logs_removed: 0 }),
            ..MaintenanceReport::default()
        };
        s.record(&report, now);
        assert_eq!(s.last_checkpoint(), Some(9));
        assert!(!s.due(&c, now, Some(18)).checkpoint);
        assert!(s.due(&c, now, Some(19)).checkpoint);
        // A report with no checkpoint (the task found none) leaves what is known.
        let none = MaintenanceReport {
            checkpoint: Some(CheckpointReport { version: None, created: false, logs_removed: 0 }),
            ..report
        };
        s.record(&none, now);
        assert_eq!(s.last_checkpoint(), Some(9));
    }

    #[test]
    fn next_run_is_now_before_the_first_run() {
        let c = config();
        let now = Instant::now();
        assert_eq!(MaintenanceSchedule::new().next_run(&c, now), Some(now));
    }
}
