//! Collapse tests on real Debezium records (built by sluice-debezium from hand-made events).

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Int32Type, Int64Type};

use super::*;

#[path = "../../tests/common/source.rs"]
mod source;

use source::{Source, Step, TOPIC, key_only, row, row_v2, toasted};

fn collapse_all(records: Vec<Record>) -> Vec<TableChanges> {
    collapse(records, &CollapseOptions::default()).expect("collapses")
}

/// (id, op, name, bio) per row of a change batch, sorted by id.
fn rows(batch: &RecordBatch) -> Vec<(i32, String, Option<String>, Option<String>)> {
    let id = batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    let op = batch.column_by_name("_op").unwrap().as_string::<i32>();
    let name = batch.column_by_name("name").unwrap().as_string::<i32>();
    let bio = batch.column_by_name("bio").unwrap().as_string::<i32>();
    let opt =
        |a: &deltalake::arrow::array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
    let mut out: Vec<_> = (0..batch.num_rows())
        .map(|i| (id.value(i), op.value(i).to_owned(), opt(name, i), opt(bio, i)))
        .collect();
    out.sort();
    out
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn the_last_change_per_key_wins_and_deletes_stay_as_deletes() {
    let mut src = Source::new();
    let mut records = src.snapshot(vec![row(1, "a", "bio1"), row(2, "b", "bio2"), row(3, "c", "bio3")]);
    records.extend(src.txn(vec![
        Step::Update { before: None, after: row(1, "a2", "bio1") },
        Step::Delete(2),
        Step::Insert(row(4, "d", "bio4")),
    ]));
    records.extend(src.txn(vec![Step::Update { before: None, after: row(1, "a3", "bio1b") }]));
    let changes = collapse_all(records);
    assert_eq!(changes.len(), 1);
    let t = &changes[0];
    assert_eq!((t.topic(), t.len(), t.deletes(), t.truncate()), (TOPIC, 4, 1, None));
    let b = t.to_batch().unwrap();
    assert_eq!((b.upserts, b.deletes), (3, 1));
    assert!(b.keep.is_empty());
    assert_eq!(
        rows(&b.batch),
        vec![
            (1, "u".into(), s("a3"), s("bio1b")),
            (2, "d".into(), None, None),
            (3, "r".into(), s("c"), s("bio3")),
            (4, "c".into(), s("d"), s("bio4")),
        ]
    );
    // The winning change's position is kept: commit LSN and seq of the second transaction.
    let lsn = b.batch.column_by_name("_commit_lsn").unwrap().as_primitive::<Int64Type>();
    let seq = b.batch.column_by_name("_seq").unwrap().as_primitive::<Int64Type>();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    let one = (0..b.batch.num_rows()).find(|&i| id.value(i) == 1).unwrap();
    let three = (0..b.batch.num_rows()).find(|&i| id.value(i) == 3).unwrap();
    assert!(lsn.value(one) > lsn.value(three), "streamed after snapshot");
    assert_eq!(lsn.value(three), source::SNAPSHOT_LSN as i64, "snapshot rows carry the consistent point");
    assert_eq!((seq.value(one), seq.value(three)), (0, 2));
    assert_eq!(t.last_position().unwrap().commit_lsn, lsn.value(one));
}

#[test]
fn order_is_by_commit_lsn_and_seq_not_arrival() {
    let mut src = Source::new();
    let first = src.txn(vec![Step::Insert(row(1, "old", "x"))]);
    let second = src.txn(vec![Step::Update { before: None, after: row(1, "new", "x") }]);
    // Arrival out of log order (e.g. a replay): the higher position still wins.
    let changes = collapse_all(second.into_iter().chain(first).collect());
    assert_eq!(rows(&changes[0].to_batch().unwrap().batch), vec![(1, "u".into(), s("new"), s("x"))]);
}

#[test]
fn in_arrival_order_the_later_record_wins_whatever_its_position() {
    let mut src = Source::new();
    let first = src.txn(vec![Step::Insert(row(1, "old", "x"))]);
    let second = src.txn(vec![Step::Update { before: None, after: row(1, "new", "x") }]);
    // Kafka: the partition's order is the source's order; positions are not compared.
    let options = CollapseOptions::default().in_arrival_order();
    let changes = collapse(second.into_iter().chain(first), &options).unwrap();
    assert_eq!(rows(&changes[0].to_batch().unwrap().batch), vec![(1, "c".into(), s("old"), s("x"))]);
}

#[test]
fn a_key_change_deletes_the_old_key_and_creates_the_new_one() {
    let mut src = Source::new();
    let mut records = src.snapshot(vec![row(1, "a", "bio")]);
    let change = src.txn(vec![Step::Update { before: Some(key_only(1, 9)), after: row(10, "a", "bio") }]);
    // delete(1), tombstone(1), create(10)
    assert_eq!(change.iter().filter(|r| r.value.is_none()).count(), 1, "one tombstone");
    records.extend(change);
    let b = collapse_all(records).remove(0).to_batch().unwrap();
    assert_eq!(rows(&b.batch), vec![(1, "d".into(), None, None), (10, "c".into(), s("a"), s("bio"))]);
}

#[test]
fn a_key_changed_back_and_forth_ends_where_the_log_ends() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "bio"))]);
    records.extend(src.txn(vec![
        Step::Update { before: Some(key_only(1, 9)), after: row(2, "a", "bio") },
        Step::Update { before: Some(key_only(2, 9)), after: row(1, "b", "bio") },
    ]));
    let b = collapse_all(records).remove(0).to_batch().unwrap();
    assert_eq!(rows(&b.batch), vec![(1, "c".into(), s("b"), s("bio")), (2, "d".into(), None, None)]);
}

#[test]
fn toast_placeholders_are_filled_from_earlier_changes_of_the_key() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "long bio"))]);
    records.extend(src.txn(vec![Step::Update { before: None, after: toasted(1, "a2") }]));
    records.extend(src.txn(vec![Step::Update { before: None, after: toasted(1, "a3") }]));
    let t = collapse_all(records).remove(0);
    assert!(!t.keeps_target_values());
    let b = t.to_batch().unwrap();
    assert!(b.keep.is_empty());
    assert_eq!(rows(&b.batch), vec![(1, "u".into(), s("a3"), s("long bio"))]);
}

#[test]
fn toast_placeholders_without_an_earlier_value_keep_the_target() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Update { before: None, after: toasted(1, "a2") }]);
    records.extend(src.txn(vec![Step::Update { before: None, after: toasted(1, "a3") }]));
    records.extend(src.txn(vec![Step::Insert(row(2, "b", "bio2"))]));
    let t = collapse_all(records).remove(0);
    assert!(t.keeps_target_values());
    let b = t.to_batch().unwrap();
    assert_eq!(b.keep, vec![KeepFlag { column: "bio".into(), flag: format!("{KEEP_FLAG_PREFIX}2") }]);
    assert_eq!(rows(&b.batch), vec![(1, "u".into(), s("a3"), None), (2, "c".into(), s("b"), s("bio2"))]);
    let flags = b.batch.column_by_name(&b.keep[0].flag).unwrap().as_boolean();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    for i in 0..b.batch.num_rows() {
        assert_eq!(flags.value(i), id.value(i) == 1, "only the toasted row keeps its target value");
    }
    // An append has no target to keep from: the flag columns go, the value stays null.
    let upserts = b.upserts_only(TOPIC).unwrap();
    assert!(upserts.column_by_name(&b.keep[0].flag).is_none());
    assert_eq!(upserts.num_rows(), 2);
}

#[test]
fn after_a_delete_nothing_of_the_old_row_is_kept() {
    let mut src = Source::new();
    // Row 2 is deleted, then key 1 moves to 2 with bio unchanged: bio is not the old row 2's.
    let records = src.txn(vec![
        Step::Delete(2),
        Step::Update { before: Some(key_only(1, 9)), after: toasted(2, "moved") },
    ]);
    let t = collapse_all(records).remove(0);
    let b = t.to_batch().unwrap();
    // bio is kept, but from the table row of the old key 1, not of the deleted row 2.
    assert_eq!(rows(&b.batch), vec![(1, "d".into(), None, None), (2, "c".into(), s("moved"), None)]);
    assert_eq!(b.keep[0].column, "bio");
    assert_eq!(b.moved_from, vec![format!("{MOVED_FROM_PREFIX}0")]);
    let from = b.batch.column_by_name(&b.moved_from[0]).unwrap().as_primitive::<Int32Type>();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    for i in 0..2 {
        assert_eq!(from.is_valid(i).then(|| from.value(i)), (id.value(i) == 2).then_some(1));
    }
    assert_eq!(
        b.upserts_only(TOPIC).unwrap().num_columns(),
        b.batch.num_columns() - 2,
        "no flag, no old key"
    );
}

#[test]
fn a_truncate_drops_earlier_changes_and_is_reported() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "x")), Step::Insert(row(2, "b", "y"))]);
    records.extend(src.txn(vec![Step::Truncate]));
    records.extend(src.txn(vec![Step::Insert(row(3, "c", "z")), Step::Delete(4)]));
    let t = collapse_all(records).remove(0);
    assert!(t.truncate().is_some());
    assert_eq!(t.records(), 5, "tombstones are not counted");
    assert_eq!(
        rows(&t.to_batch().unwrap().batch),
        vec![(3, "c".into(), s("c"), s("z")), (4, "d".into(), None, None)]
    );

    let only = collapse_all(src.txn(vec![Step::Truncate])).remove(0);
    assert!(only.truncate().is_some() && only.is_empty() && only.mapping().is_none());
}

#[test]
fn tombstones_and_non_change_records_are_ignored() {
    let mut src = Source::new();
    let records = src.txn(vec![Step::Insert(row(1, "a", "x")), Step::Delete(1)]);
    let mut c = ChangeCollapser::new(CollapseOptions::from_config(src.config()));
    let pushed: Vec<Pushed> = records.into_iter().map(|r| c.push(r).unwrap()).collect();
    assert_eq!(pushed, vec![Pushed::Change, Pushed::Change, Pushed::Ignored]);
    let mut heartbeat = sluice_debezium::heartbeat::heartbeat_record(src.config(), Timestamp::Micros(1));
    heartbeat.topic = "__debezium-heartbeat.pg".into();
    assert_eq!(c.push(heartbeat).unwrap(), Pushed::Ignored);
    let b = c.finish().remove(0).to_batch().unwrap();
    assert_eq!(rows(&b.batch), vec![(1, "d".into(), None, None)]);
}

#[test]
fn rows_of_an_older_schema_keep_the_columns_they_did_not_have() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Update { before: None, after: row(1, "a", "x") }]);
    src.set_table(source::customers(2));
    records.extend(src.txn(vec![Step::Insert(row_v2(2, "b", "y", "e"))]));
    let t = collapse_all(records).remove(0);
    let mapping = t.mapping().unwrap().clone();
    assert!(mapping.columns().iter().any(|c| c.name() == "extra"));
    let b = t.to_batch().unwrap();
    assert_eq!(b.keep.len(), 1);
    assert_eq!(b.keep[0].column, "extra");
    let extra = b.batch.column_by_name("extra").unwrap().as_string::<i32>();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    for i in 0..2 {
        assert_eq!(extra.is_null(i), id.value(i) == 1);
    }
}

#[test]
fn values_convert_to_their_delta_types() {
    use deltalake::arrow::datatypes::{Date32Type, Decimal128Type, TimestampMicrosecondType};
    let mut src = Source::new();
    let b = collapse_all(src.txn(vec![Step::Insert(row(7, "a", "x"))])).remove(0).to_batch().unwrap();
    let col = |n: &str| b.batch.column_by_name(n).unwrap().clone();
    assert_eq!(col("amount").data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(col("amount").as_primitive::<Decimal128Type>().value(0), 725);
    assert_eq!(col("price").as_string::<i32>().value(0), "12345678901234567890123456789012345678901.7");
    assert_eq!(col("seen").as_primitive::<TimestampMicrosecondType>().value(0), source::COMMIT_US + 7);
    assert_eq!(col("born").as_primitive::<Date32Type>().value(0), 20_007);
    assert_eq!(col("at").as_primitive::<TimestampMicrosecondType>().value(0), 7_000_000);
    let tags = col("tags");
    let tags = tags.as_list::<i32>();
    assert_eq!(tags.value(0).as_string::<i32>().value(0), "t7");
    assert!(tags.value(0).is_null(1));
    let ts = col("_source_ts");
    assert_eq!(ts.as_primitive::<TimestampMicrosecondType>().value(0), source::COMMIT_US);
}

#[test]
fn a_keyless_table_is_refused() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "x"))]);
    for r in &mut records {
        r.key = None;
        r.key_schema = None;
    }
    assert!(matches!(collapse(records, &CollapseOptions::default()), Err(DeltaError::NoKey { .. })));
}

#[test]
fn tables_are_collapsed_separately_in_first_seen_order() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "x"))]);
    let mut other = src.txn(vec![Step::Insert(row(1, "other", "y")), Step::Delete(2)]);
    for r in &mut other {
        r.topic = "pg.public.other".into();
    }
    records.extend(other);
    records.extend(src.txn(vec![Step::Update { before: None, after: row(1, "a2", "x") }]));
    let changes = collapse_all(records);
    assert_eq!(changes.iter().map(TableChanges::topic).collect::<Vec<_>>(), [TOPIC, "pg.public.other"]);
    assert_eq!(rows(&changes[0].to_batch().unwrap().batch), vec![(1, "u".into(), s("a2"), s("x"))]);
    assert_eq!(
        rows(&changes[1].to_batch().unwrap().batch),
        vec![(1, "c".into(), s("other"), s("y")), (2, "d".into(), None, None)]
    );
}

#[test]
fn a_key_change_takes_unchanged_toast_values_from_the_old_keys_row_in_the_batch() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Insert(row(1, "a", "long bio"))]);
    // 1 → 5 → 6, bio untouched (unchanged-TOAST placeholder in both creates).
    records.extend(src.txn(vec![Step::Update { before: Some(key_only(1, 9)), after: toasted(5, "moved") }]));
    records.extend(src.txn(vec![Step::Update { before: Some(key_only(5, 9)), after: toasted(6, "again") }]));
    // Key 2 is not in the batch: its value can only come from the table.
    records.extend(src.txn(vec![Step::Update { before: Some(key_only(2, 9)), after: toasted(7, "x") }]));
    let b = collapse_all(records).remove(0).to_batch().unwrap();
    assert_eq!(
        rows(&b.batch),
        vec![
            (1, "d".into(), None, None),
            (2, "d".into(), None, None),
            (5, "d".into(), None, None),
            (6, "c".into(), s("again"), s("long bio")),
            (7, "c".into(), s("x"), None),
        ]
    );
    let flags = b.batch.column_by_name(&b.keep[0].flag).unwrap().as_boolean();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    for i in 0..b.batch.num_rows() {
        assert_eq!(flags.value(i), id.value(i) == 7, "only the row whose old value is unknown keeps a flag");
    }
}

#[test]
fn a_column_dropped_mid_batch_stays_with_the_values_written_before_the_drop() {
    let mut src = Source::new();
    let mut records = src.txn(vec![Step::Update { before: None, after: row(1, "a", "x") }]);
    src.set_table(source::customers(2));
    records.extend(src.txn(vec![Step::Update { before: None, after: row_v2(2, "b", "y", "e2") }]));
    let mut dropped = (*source::customers(2)).clone();
    dropped.version = 3;
    dropped.columns.retain(|c| &*c.name != "extra");
    src.set_table(Arc::new(dropped));
    records.extend(src.txn(vec![Step::Update { before: None, after: row(3, "c", "z") }]));
    let t = collapse_all(records).remove(0);
    let mapping = t.mapping().unwrap();
    assert_eq!(mapping.columns().last().unwrap().name(), "extra", "the dropped column stays, last");
    assert!(mapping.columns().last().unwrap().field().is_nullable());
    assert!(t.keeps_target_values(), "row 1 predates the column");
    let b = t.to_batch().unwrap();
    let extra = b.batch.column_by_name("extra").unwrap().as_string::<i32>();
    let id = b.batch.column_by_name("id").unwrap().as_primitive::<Int32Type>();
    let flags = b.batch.column_by_name(&b.keep[0].flag).unwrap().as_boolean();
    assert_eq!(b.keep[0].column, "extra");
    for i in 0..3 {
        let (value, keep) = match id.value(i) {
            1 => (None, true),        // before the column existed: the table's value
            2 => (Some("e2"), false), // written while it existed
            _ => (None, false),       // written after the drop: null
        };
        assert_eq!(
            (extra.is_valid(i).then(|| extra.value(i)), flags.value(i)),
            (value, keep),
            "row {}",
            id.value(i)
        );
    }
}
