//! The initial snapshot: modes, markers, chunked parallel reads, and consistency with the stream.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_core::{Op, SourceEvent};
use sluice_postgres::reader::{ReaderExit, StoredOffset};
use sluice_tests::TestDb;

use sluice_tests::capture::{Capture, after, col, config, int};

#[tokio::test]
async fn initial_snapshot_emits_reads_with_markers_then_streams() {
    let db = TestDb::create("snap_initial").await.unwrap();
    db.exec(
        "CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 3) g;
         CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (10);
         CREATE TABLE empty (id int PRIMARY KEY);",
    )
    .await
    .unwrap();
    let mut cap = Capture::start(config(&db, "snap_initial", &[]), None);
    let (rows, consistent_point) = cap.snapshot().await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.op() == Op::Read && r.source.lsn == consistent_point));
    let marks: Vec<(bool, bool, bool, bool)> = rows
        .iter()
        .map(|r| {
            let m = r.source.snapshot.unwrap();
            (m.first, m.first_in_table, m.last_in_table, m.last)
        })
        .collect();
    assert_eq!(
        marks,
        vec![
            (true, true, false, false),
            (false, false, false, false),
            (false, false, true, false),
            (false, true, true, true)
        ]
    );
    assert_eq!(rows.iter().map(|r| r.source.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    db.exec("INSERT INTO a VALUES (4, 'a4')").await.unwrap();
    let t = cap.txn().await;
    assert!(t.begin.commit_lsn >= consistent_point);
    assert_eq!(int(col(&t.changes[0], after(&t.changes[0]), "id")), 4);
    cap.stop().await;
}

#[tokio::test]
async fn snapshot_under_concurrent_writes_has_no_gap_and_no_duplicate() {
    let db = TestDb::create("snap_concurrent").await.unwrap();
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, pad text);
         INSERT INTO t SELECT g, 0, repeat('p', 200) FROM generate_series(1, 60000) g;",
    )
    .await
    .unwrap();
    // Writers keep inserting and updating while the snapshot runs.
    let writer_db = db.connect().await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = 100_000;
            while !stop.is_cancelled() {
                writer_db
                    .batch_execute(&format!(
                        "BEGIN; INSERT INTO t VALUES ({next}, 0, 'n'); UPDATE t SET v = v + 1 WHERE id = {}; \
                         DELETE FROM t WHERE id = {}; COMMIT;",
                        1 + next % 60000,
                        60000 - next % 1000
                    ))
                    .await
                    .unwrap();
                next += 1;
            }
            next
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cfg = config(
        &db,
        "snap_concurrent",
        &[
            ("snapshot.max.threads", "3"),
            ("sluice.snapshot.chunk.pages", "100"),
            ("max.queue.size.in.bytes", "1000000"),
        ],
    );
    let mut cap = Capture::start(cfg, None);
    let (rows, _) = cap.snapshot().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    writer.await.unwrap();

    // Rebuild the table from the snapshot plus the stream and compare with the database.
    let mut state: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &rows {
        let id = int(col(r, after(r), "id"));
        assert!(state.insert(id, int(col(r, after(r), "v"))).is_none(), "row {id} read twice");
    }
    // A final marker transaction: once it arrives, every earlier commit has been seen.
    db.exec("INSERT INTO t VALUES (-1, -1, 'end')").await.unwrap();
    let expected: BTreeMap<i64, i64> = db
        .client
        .query("SELECT id::int8, v::int8 FROM t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut seen_marker = false;
    while !seen_marker {
        let t = cap.txn().await;
        for c in &t.changes {
            match c.op() {
                Op::Create => {
                    let id = int(col(c, after(c), "id"));
                    seen_marker |= id == -1;
                    assert!(
                        state.insert(id, int(col(c, after(c), "v"))).is_none(),
                        "insert {id} already present"
                    );
                }
                Op::Update => {
                    let id = int(col(c, after(c), "id"));
                    assert!(
                        state.insert(id, int(col(c, after(c), "v"))).is_some(),
                        "update of missing row {id}"
                    );
                }
                Op::Delete => {
                    let b = sluice_tests::capture::before(c).unwrap();
                    let id = int(col(c, b, "id"));
                    assert!(state.remove(&id).is_some(), "delete of missing row {id}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(state, expected, "snapshot + stream must equal the table");
    cap.stop().await;
}

/// The next transaction with at least one change (transactions whose changes were all in the
/// snapshot arrive empty).
async fn non_empty_txn(cap: &mut Capture) -> sluice_tests::capture::Txn {
    loop {
        let t = cap.txn().await;
        if !t.changes.is_empty() {
            return t;
        }
    }
}

#[tokio::test]
async fn a_missing_slot_after_streaming_started_is_a_named_failure() {
    let db = TestDb::create("snap_slot_missing").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let offset = StoredOffset { lsn: "0/1000000".parse().unwrap(), snapshot_completed: true };
    let cap = Capture::start(config(&db, "snap_slot_missing", &[]), Some(offset));
    let result = tokio::time::timeout(sluice_tests::capture::WAIT, cap.handle.task).await.unwrap().unwrap();
    let err = result.expect_err("a missing slot must not be silently re-created");
    assert!(matches!(err, sluice_postgres::PostgresError::SlotMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("0/1000000"), "{err}");
}

#[tokio::test]
async fn snapshot_modes_decide_whether_data_is_read() {
    let db = TestDb::create("snap_modes").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);").await.unwrap();

    // initial_only: the rows, then the reader ends by itself.
    let mut cap = Capture::start(config(&db, "snap_modes_a", &[("snapshot.mode", "initial_only")]), None);
    let (rows, _) = cap.snapshot().await;
    assert_eq!(rows.len(), 2);
    let exit =
        tokio::time::timeout(Duration::from_secs(60), cap.handle.task).await.unwrap().unwrap().unwrap();
    assert_eq!(exit, ReaderExit::SnapshotOnly);

    // no_data: streaming only.
    let mut cap = Capture::start(config(&db, "snap_modes_b", &[("snapshot.mode", "no_data")]), None);
    sluice_tests::capture::wait_for_slot(&db, "snap_modes_b").await;
    db.exec("INSERT INTO t VALUES (3)").await.unwrap();
    match cap.next_significant().await {
        SourceEvent::Begin(_) => {}
        other => panic!("no_data must not snapshot, got {other:?}"),
    }
    cap.stop().await;

    // when_needed with a completed offset and an existing slot: no snapshot.
    let offset = StoredOffset { lsn: sluice_core::Lsn::INVALID, snapshot_completed: true };
    let mut cap =
        Capture::start(config(&db, "snap_modes_b", &[("snapshot.mode", "when_needed")]), Some(offset));
    sluice_tests::capture::wait_for_slot(&db, "snap_modes_b").await;
    db.exec("INSERT INTO t VALUES (4)").await.unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes[0].op(), Op::Create);
    cap.stop().await;

    // always, on an existing slot that is behind (row 5 was written while the connector was down,
    // so the slot still holds it), with nothing delivered downstream yet (no offset): the snapshot
    // (through a temporary slot) contains everything committed so far, and the stream resumes
    // after it without repeating row 5.
    db.exec("INSERT INTO t VALUES (5)").await.unwrap();
    let mut cap = Capture::start(config(&db, "snap_modes_b", &[("snapshot.mode", "always")]), None);
    let (rows, _) = cap.snapshot().await;
    let ids: Vec<i64> = rows.iter().map(|r| int(col(r, after(r), "id"))).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    db.exec("INSERT INTO t VALUES (6)").await.unwrap();
    let t = non_empty_txn(&mut cap).await;
    assert_eq!(int(col(&t.changes[0], after(&t.changes[0]), "id")), 6, "5 was in the snapshot, not repeated");
    cap.stop().await;

    // always again, now that a downstream holds rows: row 2 is deleted while the connector is down.
    // The new snapshot no longer has row 2, so the stream must still replay the delete (the
    // downstream would otherwise keep row 2 forever); replayed changes converge on the snapshot.
    db.exec("DELETE FROM t WHERE id = 2").await.unwrap();
    let mut cap = Capture::start(config(&db, "snap_modes_b", &[("snapshot.mode", "always")]), Some(offset));
    let (rows, _) = cap.snapshot().await;
    let ids: Vec<i64> = rows.iter().map(|r| int(col(r, after(r), "id"))).collect();
    assert_eq!(ids, vec![1, 3, 4, 5, 6]);
    let t = non_empty_txn(&mut cap).await;
    assert_eq!(t.changes[0].op(), Op::Delete, "the delete made while down is replayed after the snapshot");
    cap.stop().await;
}
