//! Reading tables back with independent readers: Python `deltalake` (its DataFusion QueryBuilder,
//! through polars) and DuckDB's delta extension, via `tests/read_delta.py`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What the independent readers saw in a table.
#[derive(Debug, Clone)]
pub(crate) struct Seen(pub(crate) Value);

/// Reads the table at `path`, asking for the txn versions of `apps`.
pub(crate) fn read(path: &Path, apps: &[&str]) -> Seen {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/read_delta.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(path)
        .args(apps)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run scripts/install-delta-readers"));
    assert!(
        out.status.success(),
        "read_delta.py failed (run scripts/install-delta-readers if a module is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Seen(serde_json::from_slice(&out.stdout).expect("read_delta.py prints JSON"))
}

impl Seen {
    /// The Python deltalake rows (sorted by id).
    pub(crate) fn rows(&self) -> &Vec<Value> {
        self.0["rows"].as_array().expect("rows")
    }

    /// The DuckDB rows (sorted by id), if DuckDB's delta extension is installed.
    pub(crate) fn duckdb_rows(&self) -> Option<&Vec<Value>> {
        self.0["duckdb"]["rows"].as_array()
    }

    /// One column of the Python rows, values as text (`null` for null).
    pub(crate) fn column(&self, name: &str) -> Vec<String> {
        column_of(self.rows(), name)
    }

    /// The ids of the Python rows.
    pub(crate) fn ids(&self) -> Vec<i64> {
        self.rows().iter().map(|r| r["id"].as_i64().expect("id")).collect()
    }

    /// Asserts that DuckDB (when installed) sees the same ids and values of `columns`.
    pub(crate) fn duckdb_agrees(&self, columns: &[&str]) {
        let Some(duck) = self.duckdb_rows() else { return };
        let ids: Vec<i64> = duck.iter().map(|r| r["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, self.ids(), "DuckDB sees the same keys");
        for c in columns {
            assert_eq!(column_of(duck, c), self.column(c), "DuckDB sees the same '{c}'");
        }
    }

    /// The txn version the Python reader found for `app`.
    pub(crate) fn txn(&self, app: &str) -> Option<i64> {
        self.0["txn"][app].as_i64()
    }

    /// The Delta type of a column, as the log's schema writes it.
    pub(crate) fn delta_type(&self, column: &str) -> Value {
        self.0["schema"][column].clone()
    }

    /// `[min_reader_version, min_writer_version]`.
    pub(crate) fn protocol(&self) -> (i64, i64) {
        let p = &self.0["protocol"];
        (p[0].as_i64().expect("reader"), p[1].as_i64().expect("writer"))
    }
}

fn column_of(rows: &[Value], name: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[name] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}
