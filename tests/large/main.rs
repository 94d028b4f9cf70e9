//! Large transactions through the Postgres source, in a process of their own so that peak memory
//! can be measured: protocol 1 (the server sends the transaction at commit) and protocol 2+
//! streaming (chunks spilled to disk until commit). Memory must not grow with the transaction.

use std::time::Duration;

use sluice_core::{Op, SourceEvent};
use sluice_tests::TestDb;

use sluice_tests::capture::{Capture, after, col, config, int};

/// Peak resident memory of this process since the last reset, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn reset_peak_rss() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset peak RSS");
}

fn current_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

const MIB: u64 = 1024 * 1024;

/// The tests measure this process's peak memory, so they must not overlap.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_row_transaction_flows_in_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create("large_v1").await.unwrap();
    db.exec("CREATE TABLE big (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL, c timestamptz, d numeric(10,2))")
        .await
        .unwrap();
    let cfg =
        config(&db, "large_v1", &[("snapshot.mode", "no_data"), ("max.queue.size.in.bytes", "8000000")]);
    let mut cap = Capture::start(cfg, None);
    sluice_tests::capture::wait_for_slot(&db, "large_v1").await;
    db.exec(
        "INSERT INTO big SELECT g, g % 1000, 'row-' || g, now(), g / 100.0 FROM generate_series(1, 1000000) g",
    )
    .await
    .unwrap();
    let baseline = current_rss();
    reset_peak_rss();
    let begin = match cap.next_significant().await {
        SourceEvent::Begin(b) => b,
        other => panic!("expected begin, got {other:?}"),
    };
    let (mut count, mut id_sum) = (0u64, 0i64);
    loop {
        match cap.next_significant().await {
            SourceEvent::Change(c) => {
                assert_eq!(c.op(), Op::Create);
                assert_eq!(c.source.seq, count, "contiguous, in order");
                id_sum += int(col(&c, after(&c), "id"));
                count += 1;
                if count == 100_000 {
                    // A slow consumer: the reader must stop reading instead of buffering.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            SourceEvent::Commit(commit) => {
                assert_eq!(commit.xid, begin.xid);
                assert_eq!(commit.event_count, count);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(count, 1_000_000);
    assert_eq!(id_sum, 1_000_000 * 1_000_001 / 2);
    let growth = peak_rss().saturating_sub(baseline);
    eprintln!("peak RSS growth while streaming 1,000,000 rows: {} MiB", growth / MIB);
    // Buffering the transaction would take several hundred MiB; the budget is 8 MB of events.
    assert!(growth < 160 * MIB, "memory grew by {} MiB", growth / MIB);
    cap.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_in_progress_transactions_are_spilled_and_emitted_in_commit_order() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create("large_stream").await.unwrap();
    db.exec("CREATE TABLE big (id int PRIMARY KEY, b text NOT NULL)").await.unwrap();
    let spill = tempfile::tempdir().unwrap();
    let spill_dir = spill.path().to_str().unwrap().to_owned();
    let cfg = config(
        &db,
        "large_stream",
        &[
            ("snapshot.mode", "no_data"),
            ("sluice.streaming.mode", "on"),
            ("sluice.logical.decoding.work.mem", "64kB"),
            ("sluice.spill.dir", &spill_dir),
            ("max.queue.size.in.bytes", "4000000"),
        ],
    );
    let mut cap = Capture::start(cfg, None);
    sluice_tests::capture::wait_for_slot(&db, "large_stream").await;
    let a = db.connect().await.unwrap();
    a.batch_execute(
        "BEGIN; INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 150000) g; SAVEPOINT s; \
         INSERT INTO big SELECT g, 'rolled back' FROM generate_series(900000, 900999) g; ROLLBACK TO SAVEPOINT s; \
         INSERT INTO big SELECT g, repeat('y', 100) FROM generate_series(150001, 300000) g;",
    )
    .await
    .unwrap();
    // A small transaction commits while the big one is still open.
    db.exec("INSERT INTO big VALUES (-1, 'small')").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    db.exec("INSERT INTO big VALUES (-2, 'after')").await.unwrap();

    let small = cap.txn().await;
    assert_eq!(small.changes.len(), 1);
    assert_eq!(int(col(&small.changes[0], after(&small.changes[0]), "id")), -1, "commit order: small first");
    let baseline = current_rss();
    reset_peak_rss();
    let begin = match cap.next_significant().await {
        SourceEvent::Begin(b) => b,
        other => panic!("expected the big transaction, got {other:?}"),
    };
    let mut ids = Vec::with_capacity(300_000);
    loop {
        match cap.next_significant().await {
            SourceEvent::Change(c) => ids.push(int(col(&c, after(&c), "id"))),
            SourceEvent::Commit(commit) => {
                assert_eq!(commit.xid, begin.xid);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ids.len(), 300_000, "rolled-back subtransaction rows are not emitted");
    assert!(ids.iter().zip(1..).all(|(id, want)| *id == want), "rows in order, none from the rollback");
    let growth = peak_rss().saturating_sub(baseline);
    eprintln!("peak RSS growth while replaying 300,000 spilled rows: {} MiB", growth / MIB);
    assert!(growth < 160 * MIB, "memory grew by {} MiB", growth / MIB);
    let after_txn = cap.txn().await;
    assert_eq!(int(col(&after_txn.changes[0], after(&after_txn.changes[0]), "id")), -2);
    let leftovers: Vec<_> = walk(spill.path());
    assert!(leftovers.is_empty(), "spill files must be removed after commit: {leftovers:?}");
    cap.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            files.extend(walk(&e.path()));
        } else {
            files.push(e.path());
        }
    }
    files
}
