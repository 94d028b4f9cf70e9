//! A connector's slot lag as the admin endpoint reads it, against `pg_replication_slots`.

use sluice_core::Lsn;
use sluice_postgres::lag::slot_lag;
use sluice_tests::capture::config;
use sluice_tests::{TestDb, cluster};

#[tokio::test]
async fn slot_lag_follows_the_slot_and_the_wal() {
    let db = TestDb::create("slot_lag").await.unwrap();
    db.exec("SELECT pg_create_logical_replication_slot('slot_lag', 'pgoutput')").await.unwrap();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g")
        .await
        .unwrap();
    let lag = slot_lag(&config(&db, "slot_lag", &[])).await.unwrap();
    let row = db
        .client
        .query_one(
            "SELECT confirmed_flush_lsn::text, restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'slot_lag'",
            &[],
        )
        .await
        .unwrap();
    let lsn = |i: usize| row.get::<_, String>(i).parse::<Lsn>().unwrap();
    assert!(lag.exists && !lag.active, "{lag:?}");
    assert_eq!(lag.slot_name, "slot_lag");
    assert_eq!(lag.confirmed_flush_lsn, Some(lsn(0)), "{lag:?}");
    assert_eq!(lag.restart_lsn, Some(lsn(1)), "{lag:?}");
    assert!(lag.lag_bytes.is_some_and(|b| b > 0), "the inserts are WAL the slot has not confirmed: {lag:?}");
    assert!(lag.retained_bytes >= lag.lag_bytes, "{lag:?}");
    assert_eq!(lag.lag_bytes, Some(lag.current_lsn.0 - lsn(0).0));
    if cluster().major_version >= 13 {
        assert_eq!(lag.wal_status.as_deref(), Some("reserved"), "{lag:?}");
    }
    // More WAL, more lag.
    db.exec("INSERT INTO t SELECT g, 'y' FROM generate_series(1001, 2000) g").await.unwrap();
    let later = slot_lag(&config(&db, "slot_lag", &[])).await.unwrap();
    assert!(later.current_lsn > lag.current_lsn && later.lag_bytes > lag.lag_bytes, "{later:?}");
    let json = serde_json::to_value(&later).unwrap();
    assert_eq!(json["confirmed_flush_lsn"], lsn(0).to_string());
    db.exec("SELECT pg_drop_replication_slot('slot_lag')").await.unwrap();
}

#[tokio::test]
async fn a_missing_slot_is_reported_as_missing() {
    let db = TestDb::create("slot_lag_missing").await.unwrap();
    let lag = slot_lag(&config(&db, "slot_lag_missing", &[])).await.unwrap();
    assert!(!lag.exists && !lag.active, "{lag:?}");
    assert_eq!(
        (lag.restart_lsn, lag.confirmed_flush_lsn, lag.lag_bytes, lag.retained_bytes),
        (None, None, None, None)
    );
    assert!(!lag.current_lsn.is_invalid(), "{lag:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_quickly() {
    // A listener that accepts and never answers: the connect timeout, not the caller, ends it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let db = TestDb::create("slot_lag_unreachable").await.unwrap();
    let mut cfg = config(&db, "slot_lag_unreachable", &[]);
    cfg.endpoint.port = listener.local_addr().unwrap().port();
    cfg.endpoint.connect_timeout = std::time::Duration::from_secs(60);
    let started = std::time::Instant::now();
    let err = slot_lag(&cfg).await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "{err}");
    assert!(err.class().is_retryable(), "{err:?}");
    drop(listener);
}
