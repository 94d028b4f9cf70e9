//! `sluice query`: SQL over the replicated Delta tables, with DataFusion, so a user can look at the
//! data without installing anything else.
//!
//! Every directory directly under the lake that holds a `_delta_log` becomes a table named after
//! the directory (`public_customers`); the lake itself may also be a single table, named `t`.

use std::path::{Path, PathBuf};

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::prelude::SessionContext;

use crate::error::DeltaError;

/// The Delta tables of a lake: (table name, directory), sorted by name.
pub fn lake_tables(lake: &Path) -> Result<Vec<(String, PathBuf)>, DeltaError> {
    let io = |e: std::io::Error| DeltaError::Query(format!("reading the lake {}: {e}", lake.display()));
    if lake.join("_delta_log").is_dir() {
        return Ok(vec![("t".to_owned(), lake.to_owned())]);
    }
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(lake).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.join("_delta_log").is_dir()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            tables.push((name.to_owned(), path));
        }
    }
    tables.sort();
    Ok(tables)
}

/// Runs `sql` over the lake's tables and returns the result batches.
pub async fn query(lake: &Path, sql: &str) -> Result<Vec<RecordBatch>, DeltaError> {
    let tables = lake_tables(lake)?;
    if tables.is_empty() {
        return Err(DeltaError::Query(format!(
            "no Delta tables under {} (a table is a directory with a _delta_log)",
            lake.display()
        )));
    }
    let ctx = SessionContext::new();
    for (name, dir) in &tables {
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| DeltaError::Query(format!("table {name} at {}: {e}", dir.display())))?;
        let url = deltalake::ensure_table_uri(dir.to_string_lossy())
            .map_err(|e| DeltaError::Query(format!("table {name}: {e}")))?;
        let table = deltalake::open_table(url)
            .await
            .map_err(|e| DeltaError::Query(format!("opening table {name}: {e}")))?;
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| DeltaError::Query(format!("table {name}: {e}")))?;
        let provider =
            table.table_provider().await.map_err(|e| DeltaError::Query(format!("table {name}: {e}")))?;
        ctx.register_table(name.as_str(), provider)
            .map_err(|e| DeltaError::Query(format!("registering table {name}: {e}")))?;
    }
    let frame = ctx.sql(sql).await.map_err(|e| DeltaError::Query(format!("{e}")))?;
    frame.collect().await.map_err(|e| DeltaError::Query(format!("{e}")))
}

/// The number of rows of one lake table (for checks that compare the lake with its source).
pub async fn count(lake: &Path, table: &str) -> Result<i64, DeltaError> {
    let batches = query(lake, &format!("SELECT count(*) FROM {table}")).await?;
    batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .and_then(|b| {
            b.column(0).as_any().downcast_ref::<deltalake::arrow::array::Int64Array>().map(|a| a.value(0))
        })
        .ok_or_else(|| DeltaError::Query(format!("count(*) of {table} returned no single integer")))
}

/// The batches as a text table (what `sluice query` prints).
pub fn format(batches: &[RecordBatch]) -> Result<String, DeltaError> {
    pretty_format_batches(batches).map(|t| t.to_string()).map_err(|e| DeltaError::Query(e.to_string()))
}
