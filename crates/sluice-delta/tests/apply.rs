//! Applying Debezium change batches to real Delta tables in a temporary directory, read back by
//! independent readers (Python `deltalake` and DuckDB's delta extension; see `read_delta.py`).

mod common;

use std::path::Path;

use serde_json::json;
use sluice_debezium::record::Record;
use sluice_delta::batch::{CollapseOptions, TableChanges, collapse};
use sluice_delta::table::{ApplyPath, TableWriter};
use sluice_delta::{DeltaError, TableMapping};

use common::reader::read;
use common::source::{Source, Step, TOPIC, customers, key_only, row, row_v2, toasted};

const APP: &str = "pg1/public.customers";

fn changes(records: Vec<Record>) -> TableChanges {
    let mut all = collapse(records, &CollapseOptions::default()).expect("collapses");
    assert_eq!(all.len(), 1, "one table");
    all.remove(0)
}

async fn writer_for(dir: &Path, c: &TableChanges) -> TableWriter {
    TableWriter::open_or_create(dir.to_str().unwrap(), c.mapping().expect("a mapping")).await.expect("opens")
}

/// Applies `records` as batch `version` and returns the path taken.
async fn apply(w: &mut TableWriter, records: Vec<Record>, version: i64, keys_are_new: bool) -> ApplyPath {
    let c = changes(records);
    w.apply(&c, APP, version, keys_are_new).await.expect("applies").path
}

#[tokio::test]
async fn a_snapshot_appends_then_one_merge_applies_updates_deletes_and_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    let snapshot = changes(src.snapshot(vec![row(1, "a", "bio1"), row(2, "b", "bio2"), row(3, "c", "bio3")]));
    let mut w = writer_for(dir.path(), &snapshot).await;
    let applied = w.apply(&snapshot, APP, 1, true).await.unwrap();
    assert_eq!((applied.path, applied.inserted), (ApplyPath::Append, 3));

    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.ids(), [1, 2, 3]);
    assert_eq!(seen.txn(APP), Some(1));
    assert_eq!(seen.protocol(), (1, 2), "no table feature needed");
    assert_eq!(seen.delta_type("id"), json!("integer"));
    assert_eq!(seen.delta_type("amount"), json!("decimal(10,2)"));
    assert_eq!(seen.delta_type("price"), json!("string"));
    assert_eq!(seen.delta_type("seen"), json!("timestamp"));
    assert_eq!(seen.delta_type("at"), json!("timestamp"));
    assert_eq!(seen.delta_type("born"), json!("date"));
    assert_eq!(seen.delta_type("_commit_lsn"), json!("long"));
    assert_eq!(seen.delta_type("_source_ts"), json!("timestamp"));
    assert_eq!(seen.delta_type("tags")["type"], json!("array"));
    assert_eq!(seen.column("amount"), ["1.25", "2.25", "3.25"]);
    assert_eq!(seen.column("price")[0], "12345678901234567890123456789012345678901.1");
    assert_eq!(seen.column("_op"), ["r", "r", "r"]);
    assert_eq!(seen.column("at")[1], "1970-01-01 00:00:02+00:00");
    assert_eq!(seen.column("born")[0], "2024-10-05");
    seen.duckdb_agrees(&["name", "bio", "_op", "_commit_lsn", "born", "at", "seen", "amount", "price"]);

    let mut records = src.txn(vec![
        Step::Update { before: None, after: row(1, "a2", "bio1") },
        Step::Delete(2),
        Step::Insert(row(4, "d", "bio4")),
    ]);
    records.extend(src.txn(vec![Step::Update { before: None, after: row(1, "a3", "bio1b") }]));
    let batch = changes(records);
    let applied = w.apply(&batch, APP, 2, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::Merge);
    assert_eq!((applied.inserted, applied.updated, applied.deleted), (1, 1, 1));

    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.ids(), [1, 3, 4]);
    assert_eq!(seen.column("name"), ["a3", "c", "d"]);
    assert_eq!(seen.column("bio"), ["bio1b", "bio3", "bio4"]);
    assert_eq!(seen.column("_op"), ["u", "r", "c"]);
    assert_eq!(seen.txn(APP), Some(2));
    seen.duckdb_agrees(&["name", "bio", "_op", "amount"]);
}

#[tokio::test]
async fn a_key_change_moves_the_row_to_its_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    let mut w = writer_for(dir.path(), &changes(src.snapshot(vec![row(1, "x", "y")]))).await;
    apply(&mut w, src.snapshot(vec![row(1, "a", "bio1"), row(2, "b", "bio2")]), 1, true).await;
    let path = apply(
        &mut w,
        src.txn(vec![Step::Update { before: Some(key_only(1, 9)), after: row(10, "a", "bio1") }]),
        2,
        false,
    )
    .await;
    assert_eq!(path, ApplyPath::Merge);
    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.ids(), [2, 10]);
    assert_eq!(seen.column("name"), ["b", "a"]);
    assert_eq!(seen.column("_op"), ["r", "c"]);
    seen.duckdb_agrees(&["name", "bio"]);
}

#[tokio::test]
async fn an_unchanged_toast_value_keeps_the_tables_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    let snap = changes(src.snapshot(vec![row(1, "a", "a very long bio"), row(2, "b", "bio2")]));
    let mut w = writer_for(dir.path(), &snap).await;
    w.apply(&snap, APP, 1, true).await.unwrap();

    let batch = changes(src.txn(vec![
        Step::Update { before: None, after: toasted(1, "a2") },
        Step::Update { before: None, after: row(2, "b2", "bio2b") },
        Step::Insert(row(3, "c", "bio3")),
    ]));
    assert!(batch.keeps_target_values());
    let applied = w.apply(&batch, APP, 2, false).await.unwrap();
    assert_eq!((applied.path, applied.updated, applied.inserted), (ApplyPath::Merge, 2, 1));

    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.column("name"), ["a2", "b2", "c"]);
    assert_eq!(seen.column("bio"), ["a very long bio", "bio2b", "bio3"], "the placeholder never lands");
    assert!(
        seen.0["schema"].as_object().unwrap().keys().all(|k| !k.starts_with("__sluice")),
        "flags are not stored"
    );
    seen.duckdb_agrees(&["name", "bio"]);
}

#[tokio::test]
async fn a_truncate_replaces_the_tables_content_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    let mut w = writer_for(dir.path(), &changes(src.snapshot(vec![row(1, "x", "y")]))).await;
    apply(&mut w, src.snapshot(vec![row(1, "a", "x"), row(2, "b", "y"), row(3, "c", "z")]), 1, true).await;

    let before = w.version().unwrap();
    let mut records = src.txn(vec![Step::Insert(row(4, "d", "w"))]);
    records.extend(src.txn(vec![Step::Truncate]));
    records.extend(src.txn(vec![Step::Insert(row(5, "e", "v")), Step::Insert(row(1, "a2", "u"))]));
    let applied = w.apply(&changes(records), APP, 2, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::Overwrite);
    assert_eq!(w.version().unwrap(), before + 1, "one commit");
    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.ids(), [1, 5]);
    assert_eq!(seen.column("name"), ["a2", "e"]);
    assert_eq!(seen.txn(APP), Some(2));
    seen.duckdb_agrees(&["name"]);

    let applied = w.apply(&changes(src.txn(vec![Step::Truncate])), APP, 3, false).await.unwrap();
    assert_eq!((applied.path, applied.deleted), (ApplyPath::DeleteAll, 2));
    let seen = read(dir.path(), &[APP]);
    assert!(seen.ids().is_empty());
    assert_eq!(seen.txn(APP), Some(3));

    // Truncating an empty table changes nothing, but the txn is still recorded.
    let applied = w.apply(&changes(src.txn(vec![Step::Truncate])), APP, 4, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::TxnOnly);
    assert_eq!(read(dir.path(), &[APP]).txn(APP), Some(4));
}

#[tokio::test]
async fn a_new_column_is_added_before_the_merge() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    let snap = changes(src.snapshot(vec![row(1, "a", "x"), row(2, "b", "y")]));
    let mut w = writer_for(dir.path(), &snap).await;
    w.apply(&snap, APP, 1, true).await.unwrap();

    src.set_table(customers(2));
    let batch = changes(src.txn(vec![
        Step::Insert(row_v2(3, "c", "z", "e3")),
        Step::Update { before: None, after: row_v2(1, "a2", "x", "e1") },
    ]));
    let applied = w.apply(&batch, APP, 2, false).await.unwrap();
    assert_eq!(applied.columns_added, ["extra"]);
    assert_eq!(applied.path, ApplyPath::Merge);

    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.delta_type("extra"), json!("string"));
    assert_eq!(seen.column("extra"), ["e1", "null", "e3"]);
    assert_eq!(seen.column("name"), ["a2", "b", "c"]);
    seen.duckdb_agrees(&["name", "extra"]);
}

#[tokio::test]
async fn a_dropped_column_stays_and_rows_changed_after_the_drop_get_null() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Source::new();
    src.set_table(customers(2));
    let snap = changes(src.snapshot(vec![row_v2(1, "a", "x", "e1"), row_v2(2, "b", "y", "e2")]));
    let mut w = writer_for(dir.path(), &snap).await;
    w.apply(&snap, APP, 1, true).await.unwrap();

    src.set_table(customers(1)); // DROP COLUMN extra
    let batch =
        changes(src.txn(vec![
            Step::Update { before: None, after: row(1, "a2", "x") },
            Step::Insert(row(3, "c", "z")),
        ]));
    let applied = w.apply(&batch, APP, 2, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::Merge);

    let seen = read(dir.path(), &[APP]);
    assert_eq!(seen.column("extra"), ["null", "e2", "null"], "changed rows lose it, others keep it");
    assert_eq!(seen.column("name"), ["a2", "b", "c"]);
    seen.duckdb_agrees(&["name", "extra"]);
}

#[tokio::test]
async fn the_txn_version_survives_a_reload_and_a_merge_that_changes_nothing_still_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let mut src = Source::new();
    let snap = changes(src.snapshot(vec![row(1, "a", "x")]));
    {
        let mut w = TableWriter::open_or_create(location, snap.mapping().unwrap()).await.unwrap();
        assert_eq!(w.transaction_version(APP).await.unwrap(), None);
        w.apply(&snap, APP, 7, true).await.unwrap();
    }
    let mut w = TableWriter::open(location, TOPIC).await.unwrap().expect("the table exists");
    assert_eq!(w.transaction_version(APP).await.unwrap(), Some(7));
    assert_eq!(w.transaction_version("another app").await.unwrap(), None);

    // A replay of batch 7 is skipped by the caller, who compares with the stored version.
    let replayed = 7;
    assert!(replayed <= w.transaction_version(APP).await.unwrap().unwrap());

    // Deleting a key the table never had: the merge changes no file, the txn is still committed.
    let version = w.version().unwrap();
    let applied = w.apply(&changes(src.txn(vec![Step::Delete(99)])), APP, 8, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::TxnOnly);
    assert_eq!(w.version().unwrap(), version + 1);
    assert_eq!(w.transaction_version(APP).await.unwrap(), Some(8));
    let seen = read(dir.path(), &[APP]);
    assert_eq!((seen.txn(APP), seen.ids()), (Some(8), vec![1]));

    // Re-applying the same values is a real update (the row is rewritten) and records the txn.
    let applied = w.apply(&changes(src.snapshot(vec![row(1, "a", "x")])), APP, 9, false).await.unwrap();
    assert_eq!(applied.path, ApplyPath::Merge);
    assert_eq!(read(dir.path(), &[APP]).txn(APP), Some(9));
}

#[tokio::test]
async fn a_conflicting_commit_is_retried_and_a_second_writer_under_the_same_app_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let mut src = Source::new();
    let snap = changes(src.snapshot(vec![row(1, "a", "x"), row(2, "b", "y")]));
    let mut w1 = TableWriter::open_or_create(location, snap.mapping().unwrap()).await.unwrap();
    w1.apply(&snap, APP, 1, true).await.unwrap();
    let mut w2 = TableWriter::open(location, TOPIC).await.unwrap().unwrap();
    // A zombie: a copy of w1 (same app, same knowledge) that keeps running after w1 moved on.
    let mut zombie = w1.clone();

    // w1 rewrites the only file; w2 (another app, stale) must reload and re-run its merge.
    w1.apply(&changes(src.txn(vec![Step::Update { before: None, after: row(1, "a1", "x") }])), APP, 2, false)
        .await
        .unwrap();
    let other = "another-app";
    let applied = w2
        .apply(
            &changes(src.txn(vec![Step::Update { before: None, after: row(2, "b2", "y") }])),
            other,
            1,
            false,
        )
        .await
        .unwrap();
    assert_eq!(applied.attempts, 2, "the first attempt conflicted");
    let seen = read(dir.path(), &[APP, other]);
    assert_eq!(seen.column("name"), ["a1", "b2"], "no change lost");
    assert_eq!((seen.txn(APP), seen.txn(other)), (Some(2), Some(1)));

    // The zombie's commit conflicts; after reloading it finds w1's txn, not its own.
    let err = zombie
        .apply(
            &changes(src.txn(vec![Step::Update { before: None, after: row(1, "zombie", "x") }])),
            APP,
            3,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DeltaError::Fenced { .. }), "{err}");
    assert_eq!(err.class(), sluice_core::ErrorClass::Definite);
    assert_eq!(read(dir.path(), &[]).column("name"), ["a1", "b2"]);
}

#[tokio::test]
async fn a_type_widening_is_a_definite_error_naming_table_and_column() {
    use std::sync::Arc;

    use sluice_debezium::{Field, Schema, SchemaType};
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    // A table whose `amount` was created as a narrower decimal.
    let f = |n: &str, s: Schema| Field { name: n.into(), schema: Arc::new(s) };
    let key = Schema::structure("k", vec![f("id", Schema::primitive(SchemaType::Int32))]);
    let row_schema = Schema::structure(
        "v",
        vec![
            f("id", Schema::primitive(SchemaType::Int32)),
            f("amount", sluice_debezium::mapping::semantic::decimal(2, Some(6)).optional()),
        ],
    );
    let narrow = TableMapping::new(TOPIC, Some(&key), &row_schema).unwrap();
    let mut w = TableWriter::open_or_create(location, &narrow).await.unwrap();

    let mut src = Source::new();
    let err =
        w.apply(&changes(src.txn(vec![Step::Insert(row(1, "a", "x"))])), APP, 1, false).await.unwrap_err();
    assert!(matches!(&err, DeltaError::TypeChange { column, .. } if column == "amount"), "{err}");
    assert_eq!(err.class(), sluice_core::ErrorClass::Definite);
    let text = err.to_string();
    assert!(
        text.contains(TOPIC) && text.contains("Decimal128(6, 2)") && text.contains("Decimal128(10, 2)"),
        "{text}"
    );
}
