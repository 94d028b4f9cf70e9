//! Delta tables read back by readers independent of sluice (Python deltalake and, when installed,
//! DuckDB's delta extension, through `crates/sluice-delta/tests/read_delta_rows.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::eventually::eventually;

fn reader_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sluice-delta/tests/read_delta_rows.py")
}

/// One row of an `items` table: its key and the commit LSN of its last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LakeRow {
    pub(crate) id: i64,
    pub(crate) commit_lsn: i64,
}

/// The rows of the `items` table at `path`, sorted by id (`None` while the table does not exist).
/// Fails if the readers disagree or a key appears twice.
pub(crate) async fn rows(path: &Path) -> Result<Option<Vec<LakeRow>>> {
    if !path.join("_delta_log").is_dir() {
        return Ok(None);
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || read(&path)).await?.map(Some)
}

fn read(path: &Path) -> Result<Vec<LakeRow>> {
    let out = Command::new("python3").arg(reader_script()).arg(path).output()?;
    if !out.status.success() {
        bail!("read_delta_rows.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let seen: Value = serde_json::from_slice(&out.stdout)?;
    let table = &seen[path.display().to_string()];
    let parse = |rows: &Value| -> Result<Vec<LakeRow>> {
        let mut out: Vec<LakeRow> = rows
            .as_array()
            .context("no rows in the reader's output")?
            .iter()
            .map(|r| {
                Ok(LakeRow {
                    id: r["id"].as_i64().context("a row without an id")?,
                    commit_lsn: r["_commit_lsn"].as_i64().context("a row without _commit_lsn")?,
                })
            })
            .collect::<Result<_>>()?;
        out.sort();
        Ok(out)
    };
    let rows = parse(&table["deltalake"])?;
    if !table["duckdb"].is_null() {
        let duckdb = parse(&table["duckdb"])?;
        ensure!(duckdb == rows, "DuckDB and deltalake disagree on {}", path.display());
    }
    ensure!(
        rows.windows(2).all(|w| w[0].id != w[1].id),
        "a key appears twice in {}: {rows:?}",
        path.display()
    );
    Ok(rows)
}

/// The ids of `rows`.
pub(crate) fn ids(rows: &[LakeRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

/// Waits until the table at `path` holds exactly the rows `want` (sorted ids).
pub(crate) async fn wait_for(path: &Path, want: &[i64]) -> Result<Vec<LakeRow>> {
    eventually(Duration::from_secs(60), &format!("{} to hold ids {want:?}", path.display()), async || {
        let rows = rows(path).await?.context("the table does not exist yet")?;
        let got = ids(&rows);
        if got == want {
            return Ok(Some(rows));
        }
        bail!("it holds {got:?}")
    })
    .await
}
