//! Every supported type through INSERT, UPDATE and DELETE on the replication stream, in text and in
//! binary tuple mode, checked against the same rows read back with an ordinary SELECT (the server's
//! output functions, decoded independently of pgoutput).

use sluice_core::{Op, Row, Value};
use sluice_postgres::replication::connect_sql;
use sluice_postgres::types::TypeRegistry;
use sluice_postgres::value::decode_text;
use sluice_tests::TestDb;
use sluice_tests::workload::{TYPE_COLUMNS as COLUMNS, TYPE_SETUP as SETUP};

use sluice_tests::capture::{Capture, after, before, config};

/// Reads one row's columns as the server prints them and decodes them with the types the stream
/// reported.
async fn expected_row(db: &TestDb, table: &str, id: i32, schema: &sluice_core::TableSchema) -> Row {
    let endpoint = sluice_tests::capture::config(db, "unused", &[]).endpoint;
    let client = connect_sql(&endpoint).await.unwrap();
    let cols: Vec<String> = schema.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let rows = client
        .simple_query(&format!("SELECT {} FROM {table} WHERE id = {id}", cols.join(", ")))
        .await
        .unwrap();
    let row = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("row exists");
    Row(schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match row.get(i) {
            None => Value::Null,
            Some(text) => {
                decode_text(&c.ty, text.as_bytes()).unwrap_or_else(|e| panic!("column {}: {e}", c.name))
            }
        })
        .collect())
}

fn assert_rows_equal(got: &Row, want: &Row, schema: &sluice_core::TableSchema, what: &str) {
    for ((g, w), c) in got.0.iter().zip(&want.0).zip(&schema.columns) {
        let same = match (g, w) {
            (Value::Float32(a), Value::Float32(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (Value::Float64(a), Value::Float64(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            _ => g == w,
        };
        assert!(same, "{what}: column {} ({}) streamed {g:?}, server says {w:?}", c.name, c.ty.name);
    }
}

async fn every_type_round_trip(name: &str, binary: bool) {
    let db = TestDb::create(name).await.unwrap();
    db.exec(SETUP).await.unwrap();
    // In binary mode keep only types that have a binary decoder, so the connection really uses it.
    let mut columns: Vec<&(&str, &str, [&str; 3])> = COLUMNS.iter().collect();
    if binary {
        db.exec(&format!(
            "CREATE TABLE probe ({})",
            COLUMNS.iter().map(|(n, t, _)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
        ))
        .await
        .unwrap();
        let endpoint = config(&db, "unused", &[]).endpoint;
        let client = connect_sql(&endpoint).await.unwrap();
        let mut relations = sluice_postgres::relation::RelationCache::new();
        let oid: u32 = db.client.query_one("SELECT 'probe'::regclass::oid", &[]).await.unwrap().get(0);
        let schema = relations.load(&client, oid).await.unwrap();
        columns.retain(|(n, _, _)| {
            let c = &schema.columns[schema.column_index(n).unwrap()];
            TypeRegistry::all_types_support_binary(&c.ty)
        });
        assert!(columns.len() > 40, "most types must have binary decoders, only {} do", columns.len());
    }
    let ddl: Vec<String> = columns.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    db.exec(&format!(
        "CREATE TABLE types (id int PRIMARY KEY, {}); ALTER TABLE types REPLICA IDENTITY FULL;",
        ddl.join(", ")
    ))
    .await
    .unwrap();
    let mut extra = vec![("snapshot.mode", "no_data"), ("table.include.list", "public.types")];
    if binary {
        extra.push(("sluice.pgoutput.binary", "true"));
    }
    let mut cap = Capture::start(config(&db, name, &extra), None);
    sluice_tests::capture::wait_for_slot(&db, name).await;

    let names: Vec<&str> = columns.iter().map(|(n, _, _)| *n).collect();
    let literals = |k: usize| columns.iter().map(|(_, _, v)| v[k]).collect::<Vec<_>>().join(", ");
    db.exec(&format!("INSERT INTO types (id, {}) VALUES (1, {})", names.join(", "), literals(0)))
        .await
        .unwrap();
    db.exec(&format!("INSERT INTO types (id, {}) VALUES (2, {})", names.join(", "), literals(1)))
        .await
        .unwrap();
    db.exec("INSERT INTO types (id) VALUES (3)").await.unwrap();

    let mut inserted = Vec::new();
    for id in 1..=3 {
        let t = cap.txn().await;
        let e = &t.changes[0];
        assert_eq!(e.op(), Op::Create);
        let schema = e.table().unwrap().clone();
        let want = expected_row(&db, "types", id, &schema).await;
        assert_rows_equal(after(e), &want, &schema, &format!("insert {id}"));
        inserted.push(want);
    }
    // Update every column of every row to the third set of literals.
    let set: Vec<String> = columns.iter().map(|(n, _, v)| format!("{n} = {}", v[2])).collect();
    db.exec(&format!("UPDATE types SET {}", set.join(", "))).await.unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 3);
    let mut updated = Vec::new();
    for e in &t.changes {
        assert_eq!(e.op(), Op::Update);
        let schema = e.table().unwrap().clone();
        let id = match &after(e).0[0] {
            Value::Int32(i) => *i,
            other => panic!("id {other:?}"),
        };
        assert_rows_equal(
            before(e).expect("FULL old row"),
            &inserted[id as usize - 1],
            &schema,
            "update before",
        );
        let want = expected_row(&db, "types", id, &schema).await;
        assert_rows_equal(after(e), &want, &schema, "update after");
        updated.push((id, want));
    }
    db.exec("DELETE FROM types").await.unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 3);
    for e in &t.changes {
        assert_eq!(e.op(), Op::Delete);
        let schema = e.table().unwrap().clone();
        let old = before(e).expect("FULL old row");
        let id = match &old.0[0] {
            Value::Int32(i) => *i,
            other => panic!("id {other:?}"),
        };
        let want = &updated.iter().find(|(i, _)| *i == id).unwrap().1;
        assert_rows_equal(old, want, &schema, "delete before");
    }
    cap.stop().await;
}

#[tokio::test]
async fn every_type_survives_insert_update_delete_in_text_mode() {
    every_type_round_trip("types_text", false).await;
}

#[tokio::test]
async fn every_binary_capable_type_survives_insert_update_delete_in_binary_mode() {
    every_type_round_trip("types_binary", true).await;
}
