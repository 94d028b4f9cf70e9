//! Streaming changes: ops, replica identities, TOAST, schema changes, truncates, messages, restarts.

use sluice_core::{Change, Op, ReplicaIdentity, SourceEvent, Value};
use sluice_postgres::reader::StoredOffset;
use sluice_tests::TestDb;

use sluice_tests::capture::{Capture, after, before, col, config, int, text, wait_for_slot};

#[tokio::test]
async fn inserts_updates_and_deletes_arrive_in_commit_order_with_positions() {
    let db = TestDb::create("stream_basic").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, name text)").await.unwrap();
    let mut cap = Capture::start(config(&db, "stream_basic", &[("snapshot.mode", "no_data")]), None);
    // Wait until streaming is up (the slot exists) before writing.
    wait_for_slot(&db, "stream_basic").await;
    db.exec("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await.unwrap();
    db.exec("BEGIN; UPDATE t SET name = 'c' WHERE id = 1; DELETE FROM t WHERE id = 2; COMMIT").await.unwrap();

    let t1 = cap.txn().await;
    assert_eq!(t1.changes.len(), 2);
    assert!(t1.changes.iter().all(|c| c.op() == Op::Create));
    assert_eq!(int(col(&t1.changes[0], after(&t1.changes[0]), "id")), 1);
    assert_eq!(text(col(&t1.changes[1], after(&t1.changes[1]), "name")), "b");
    let t2 = cap.txn().await;
    assert!(t2.begin.commit_lsn > t1.commit.commit_lsn, "commit order");
    let ops: Vec<Op> = t2.changes.iter().map(|c| c.op()).collect();
    assert_eq!(ops, vec![Op::Update, Op::Delete]);
    // REPLICA IDENTITY DEFAULT: no old row on an update that keeps the key; the key on delete.
    assert!(before(&t2.changes[0]).is_none());
    let del_before = before(&t2.changes[1]).unwrap();
    assert_eq!(int(col(&t2.changes[1], del_before, "id")), 2);
    assert_eq!(col(&t2.changes[1], del_before, "name"), &Value::Null);
    for (i, c) in t2.changes.iter().enumerate() {
        assert_eq!(c.source.seq, i as u64);
        assert_eq!(c.source.xid, Some(t2.begin.xid));
        assert_eq!(c.source.commit_lsn, Some(t2.begin.commit_lsn));
        assert!(c.source.lsn <= t2.begin.commit_lsn);
        assert!(c.source.commit_ts.is_some());
    }
    assert!(t2.changes[0].source.lsn < t2.changes[1].source.lsn);
    let table = t2.changes[0].table().unwrap();
    assert_eq!(table.key, vec![0]);
    assert_eq!(table.replica_identity, ReplicaIdentity::Default);
    cap.stop().await;
}

/// Runs each `;`-separated statement in its own transaction.
async fn exec_each(db: &TestDb, statements: &str) {
    for sql in statements.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.exec(sql).await.unwrap();
    }
}

#[tokio::test]
async fn replica_identities_shape_the_old_row() {
    let db = TestDb::create("stream_identity").await.unwrap();
    db.exec(
        "CREATE TABLE d (id int PRIMARY KEY, v text NOT NULL, n int);
         CREATE TABLE f (id int PRIMARY KEY, v text NOT NULL, n int); ALTER TABLE f REPLICA IDENTITY FULL;
         CREATE TABLE i (id int, code text NOT NULL, v text); CREATE UNIQUE INDEX i_code ON i (code);
         ALTER TABLE i REPLICA IDENTITY USING INDEX i_code;
         CREATE TABLE nopk (a int, b text); ALTER TABLE nopk REPLICA IDENTITY FULL;
         INSERT INTO d VALUES (1, 'a', 5); INSERT INTO f VALUES (1, 'a', 5);
         INSERT INTO i VALUES (1, 'k1', 'a'); INSERT INTO nopk VALUES (1, 'a');",
    )
    .await
    .unwrap();
    let mut cap = Capture::start(config(&db, "stream_identity", &[("snapshot.mode", "no_data")]), None);
    wait_for_slot(&db, "stream_identity").await;
    exec_each(
        &db,
        "UPDATE d SET id = 2, v = 'b' WHERE id = 1; UPDATE f SET v = 'b' WHERE id = 1; \
         UPDATE i SET v = 'b', code = 'k2'; UPDATE nopk SET b = 'b'; \
         DELETE FROM d; DELETE FROM f; DELETE FROM i; DELETE FROM nopk",
    )
    .await;
    let mut changes: Vec<sluice_core::ChangeEvent> = Vec::new();
    for i in 0..8 {
        let received: Vec<String> =
            changes.iter().map(|c| format!("{}:{:?}", c.table().unwrap().id, c.op())).collect();
        let t = tokio::time::timeout(sluice_tests::capture::WAIT, cap.txn())
            .await
            .unwrap_or_else(|_| panic!("transaction {i} of 8 missing; received so far: {received:?}"));
        changes.extend(t.changes);
    }
    let by = |table: &str, op: Op| {
        changes.iter().find(|c| &*c.table().unwrap().id.name == table && c.op() == op).unwrap().clone()
    };
    // DEFAULT: a key change sends the old key only (other columns NULL).
    let u = by("d", Op::Update);
    let b = before(&u).expect("old key on key change");
    assert_eq!(int(col(&u, b, "id")), 1);
    assert_eq!(col(&u, b, "v"), &Value::Null);
    let d = by("d", Op::Delete);
    assert_eq!(int(col(&d, before(&d).unwrap(), "id")), 2);
    // FULL: every old column.
    let u = by("f", Op::Update);
    let b = before(&u).expect("full old row");
    assert_eq!(text(col(&u, b, "v")), "a");
    assert_eq!(int(col(&u, b, "n")), 5);
    assert_eq!(u.table().unwrap().replica_identity, ReplicaIdentity::Full);
    let d = by("f", Op::Delete);
    assert_eq!(int(col(&d, before(&d).unwrap(), "n")), 5);
    // USING INDEX: the index columns; the key is the identity index when there is no primary key.
    let u = by("i", Op::Update);
    let b = before(&u).expect("old index key");
    assert_eq!(text(col(&u, b, "code")), "k1");
    assert_eq!(col(&u, b, "v"), &Value::Null);
    let t = u.table().unwrap();
    assert_eq!(t.replica_identity, ReplicaIdentity::Index);
    assert_eq!(t.key.iter().map(|&k| t.columns[k].name.to_string()).collect::<Vec<_>>(), vec!["code"]);
    // No primary key, FULL identity: old row present, no key.
    let u = by("nopk", Op::Update);
    assert_eq!(text(col(&u, before(&u).unwrap(), "b")), "a");
    assert!(u.table().unwrap().key.is_empty());
    let d = by("nopk", Op::Delete);
    assert_eq!(text(col(&d, before(&d).unwrap(), "b")), "b");
    cap.stop().await;
}

#[tokio::test]
async fn replica_identity_nothing_and_tables_without_key_publish_inserts() {
    // PostgreSQL refuses UPDATE/DELETE on such tables when a publication publishes them, so the
    // only shape they can have in a stream is an insert-only publication.
    let db = TestDb::create("stream_nothing").await.unwrap();
    db.exec(
        "CREATE TABLE x (id int PRIMARY KEY, v text); ALTER TABLE x REPLICA IDENTITY NOTHING;
         CREATE TABLE nokey (a int, b text);
         CREATE PUBLICATION stream_nothing FOR TABLE x, nokey WITH (publish = 'insert');",
    )
    .await
    .unwrap();
    let cfg = config(
        &db,
        "stream_nothing",
        &[("snapshot.mode", "no_data"), ("publication.autocreate.mode", "disabled")],
    );
    let mut cap = Capture::start(cfg, None);
    wait_for_slot(&db, "stream_nothing").await;
    exec_each(&db, "INSERT INTO x VALUES (1, 'a'); UPDATE x SET v = 'b'; INSERT INTO nokey VALUES (1, 'z')")
        .await;
    let first = cap.txn().await;
    assert_eq!(first.changes[0].op(), Op::Create);
    assert_eq!(first.changes[0].table().unwrap().replica_identity, ReplicaIdentity::Nothing);
    // The update is not published: its transaction is empty, then the keyless insert follows.
    let mut next = cap.txn().await;
    if next.changes.is_empty() {
        next = cap.txn().await;
    }
    let e = &next.changes[0];
    assert_eq!(&*e.table().unwrap().id.name, "nokey");
    assert!(e.table().unwrap().key.is_empty(), "no primary key, no identity index: no key");
    assert_eq!(text(col(e, after(e), "b")), "z");
    cap.stop().await;
}

#[tokio::test]
async fn unchanged_toast_values_are_their_own_variant() {
    let db = TestDb::create("stream_toast").await.unwrap();
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, big text, small text);
         ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;
         INSERT INTO t VALUES (1, repeat('x', 100000), 'a');",
    )
    .await
    .unwrap();
    let mut cap = Capture::start(config(&db, "stream_toast", &[("snapshot.mode", "no_data")]), None);
    wait_for_slot(&db, "stream_toast").await;
    db.exec("UPDATE t SET small = 'b' WHERE id = 1").await.unwrap();
    db.exec("UPDATE t SET big = repeat('y', 100000) WHERE id = 1").await.unwrap();
    let first = cap.txn().await.changes.remove(0);
    assert_eq!(col(&first, after(&first), "big"), &Value::UnchangedToast, "never a NULL");
    assert_eq!(text(col(&first, after(&first), "small")), "b");
    let second = cap.txn().await.changes.remove(0);
    assert_eq!(text(col(&second, after(&second), "big")).len(), 100000);
    cap.stop().await;
}

#[tokio::test]
async fn schema_changes_mid_stream_produce_new_schema_versions() {
    let db = TestDb::create("stream_ddl").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, a int, b text)").await.unwrap();
    let mut cap = Capture::start(config(&db, "stream_ddl", &[("snapshot.mode", "no_data")]), None);
    wait_for_slot(&db, "stream_ddl").await;
    exec_each(
        &db,
        "INSERT INTO t VALUES (1, 1, 'x');
         ALTER TABLE t ADD COLUMN c numeric(5,2) DEFAULT 1.5;
         INSERT INTO t VALUES (2, 2, 'y', 2.25);
         ALTER TABLE t DROP COLUMN b;
         INSERT INTO t VALUES (3, 3, 3.5);
         ALTER TABLE t ALTER COLUMN a TYPE bigint;
         INSERT INTO t VALUES (4, 4, 4.5);",
    )
    .await;
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(cap.txn().await.changes.remove(0));
    }
    let names = |e: &sluice_core::ChangeEvent| {
        e.table().unwrap().columns.iter().map(|c| c.name.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&events[0]), ["id", "a", "b"]);
    assert_eq!(names(&events[1]), ["id", "a", "b", "c"]);
    assert_eq!(names(&events[2]), ["id", "a", "c"]);
    let versions: Vec<u32> = events.iter().map(|e| e.table().unwrap().version).collect();
    assert!(versions.windows(2).all(|w| w[1] == w[0] + 1), "each change bumps the version: {versions:?}");
    assert_eq!(col(&events[1], after(&events[1]), "c"), &Value::Numeric(num("2.25")));
    assert_eq!(events[3].table().unwrap().columns[1].ty.kind, sluice_core::TypeKind::Int8);
    assert_eq!(col(&events[3], after(&events[3]), "a"), &Value::Int64(4));
    assert_eq!(
        events[1].table().unwrap().columns[3].default.as_deref(),
        Some("1.5"),
        "column default from the catalog"
    );
    cap.stop().await;
}

fn num(s: &str) -> sluice_core::Numeric {
    sluice_core::Numeric::Finite(sluice_core::Decimal::parse(s).unwrap())
}

#[tokio::test]
async fn truncates_and_logical_messages_are_captured() {
    let db = TestDb::create("stream_trunc_msg").await.unwrap();
    db.exec("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (1); INSERT INTO b VALUES (1);")
        .await
        .unwrap();
    let mut cap = Capture::start(config(&db, "stream_trunc_msg", &[("snapshot.mode", "no_data")]), None);
    wait_for_slot(&db, "stream_trunc_msg").await;
    db.exec("TRUNCATE a, b RESTART IDENTITY").await.unwrap();
    db.exec(
        "BEGIN; SELECT pg_logical_emit_message(true, 'audit', 'in-txn'); INSERT INTO a VALUES (2); COMMIT;",
    )
    .await
    .unwrap();
    db.exec("SELECT pg_logical_emit_message(false, 'ping', '\\x00ff'::bytea)").await.unwrap();

    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 2, "one truncate event per table");
    for c in &t.changes {
        assert!(matches!(c.change, Change::Truncate { restart_identity: true, cascade: false, .. }));
    }
    let t = cap.txn().await;
    match &t.changes[0].change {
        Change::Message { prefix, content, transactional } => {
            assert_eq!(&**prefix, "audit");
            assert_eq!(&content[..], b"in-txn");
            assert!(transactional);
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert_eq!(t.changes[1].op(), Op::Create);
    let e = match cap.next_significant().await {
        SourceEvent::Change(e) => e,
        other => panic!("expected the non-transactional message, got {other:?}"),
    };
    match &e.change {
        Change::Message { prefix, content, transactional } => {
            assert_eq!(&**prefix, "ping");
            assert_eq!(&content[..], &[0x00, 0xff]);
            assert!(!transactional);
            assert!(e.source.xid.is_none());
        }
        other => panic!("expected a message, got {other:?}"),
    }
    cap.stop().await;
}

#[tokio::test]
async fn restart_from_the_confirmed_position_loses_nothing_and_repeats_nothing() {
    let db = TestDb::create("stream_restart").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY)").await.unwrap();
    let cfg = config(&db, "stream_restart", &[("snapshot.mode", "no_data")]);
    let mut cap = Capture::start(cfg.clone(), None);
    wait_for_slot(&db, "stream_restart").await;
    for i in 1..=3 {
        db.exec(&format!("INSERT INTO t VALUES ({i})")).await.unwrap();
    }
    let mut confirmed = sluice_core::Lsn::INVALID;
    for _ in 0..3 {
        confirmed = cap.txn().await.commit.end_lsn;
    }
    cap.stop().await;
    // Written while the connector was down.
    for i in 4..=6 {
        db.exec(&format!("INSERT INTO t VALUES ({i})")).await.unwrap();
    }
    let offset = StoredOffset { lsn: confirmed, snapshot_completed: true };
    let mut cap = Capture::start(cfg, Some(offset));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let t = cap.txn().await;
        seen.push(int(col(&t.changes[0], after(&t.changes[0]), "id")));
    }
    assert_eq!(seen, vec![4, 5, 6], "exactly the rows after the confirmed position");
    cap.stop().await;
}

#[tokio::test]
async fn filtered_tables_and_message_prefixes_are_not_emitted() {
    let db = TestDb::create("stream_filter").await.unwrap();
    db.exec("CREATE SCHEMA s; CREATE TABLE public.keep (id int PRIMARY KEY); CREATE TABLE public.skip (id int PRIMARY KEY); CREATE TABLE s.other (id int PRIMARY KEY);")
        .await
        .unwrap();
    let cfg = config(
        &db,
        "stream_filter",
        &[
            ("snapshot.mode", "no_data"),
            ("table.include.list", "public\\.kee.*"),
            ("message.prefix.exclude.list", "noise.*"),
        ],
    );
    let mut cap = Capture::start(cfg, None);
    wait_for_slot(&db, "stream_filter").await;
    db.exec("BEGIN; INSERT INTO skip VALUES (1); INSERT INTO s.other VALUES (1); SELECT pg_logical_emit_message(true, 'noise1', 'x'); INSERT INTO keep VALUES (1); COMMIT;")
        .await
        .unwrap();
    let t = cap.txn().await;
    assert_eq!(t.changes.len(), 1);
    assert_eq!(&*t.changes[0].table().unwrap().id.name, "keep");
    cap.stop().await;
}
