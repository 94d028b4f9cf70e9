//! Named, actionable failures: wal_level, REPLICATION privilege, busy slot, lost slot, publication.

use std::collections::BTreeMap;

use sluice_postgres::PostgresError;
use sluice_postgres::PostgresSourceConfig;
use sluice_postgres::sandbox::{Sandbox, SandboxOptions};
use sluice_tests::{NO_REPLICATION_USER, TestDb};

use sluice_tests::capture::{Capture, config};

fn sandbox_config(port: u16, db: &str, slot: &str, extra: &[(&str, &str)]) -> PostgresSourceConfig {
    let mut props: BTreeMap<String, String> = [
        ("database.hostname", "127.0.0.1"),
        ("database.user", "postgres"),
        ("database.dbname", db),
        ("database.sslmode", "disable"),
        ("topic.prefix", "t"),
        ("slot.name", slot),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    props.insert("database.port".into(), port.to_string());
    for (k, v) in extra {
        props.insert((*k).into(), (*v).into());
    }
    PostgresSourceConfig::from_properties(&props).unwrap()
}

async fn run_to_error(config: PostgresSourceConfig) -> PostgresError {
    let cap = Capture::start(config, None);
    let result = tokio::time::timeout(sluice_tests::capture::WAIT, cap.handle.task).await.unwrap().unwrap();
    match result {
        Err(e) => e,
        Ok(exit) => panic!("expected a failure, the source ended with {exit:?}"),
    }
}

#[tokio::test]
async fn wal_level_replica_is_refused_with_the_fix() {
    let sandbox = tokio::task::spawn_blocking(|| {
        Sandbox::start(SandboxOptions { extra_conf: "wal_level = replica\n".into(), ..Default::default() })
    })
    .await
    .unwrap()
    .unwrap();
    let err = run_to_error(sandbox_config(sandbox.port, "postgres", "s1", &[])).await;
    assert!(matches!(err, PostgresError::WalLevel { .. }), "{err:?}");
    assert!(err.to_string().contains("wal_level = logical"), "{err}");
}

#[tokio::test]
async fn a_user_without_replication_privilege_is_told_what_to_grant() {
    let db = TestDb::create("fail_privilege").await.unwrap();
    let mut cfg = config(&db, "fail_privilege", &[]);
    cfg.endpoint.user = NO_REPLICATION_USER.into();
    let err = run_to_error(cfg).await;
    assert!(matches!(err, PostgresError::NoReplicationPrivilege { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("ALTER ROLE {NO_REPLICATION_USER} WITH REPLICATION")), "{err}");
}

#[tokio::test]
async fn a_slot_active_elsewhere_is_a_named_failure() {
    let db = TestDb::create("fail_active").await.unwrap();
    let first = Capture::start(config(&db, "fail_active", &[("snapshot.mode", "no_data")]), None);
    sluice_tests::capture::wait_for_slot(&db, "fail_active").await;
    let err = run_to_error(config(
        &db,
        "fail_active",
        &[("snapshot.mode", "no_data"), ("slot.max.retries", "1"), ("slot.retry.delay.ms", "100")],
    ))
    .await;
    assert!(matches!(err, PostgresError::SlotActive { .. }), "{err:?}");
    assert!(err.to_string().contains("is active for PID"), "{err}");
    first.stop().await;
}

#[tokio::test]
async fn a_lost_slot_fails_loudly_instead_of_resnapshotting() {
    let sandbox = tokio::task::spawn_blocking(|| {
        Sandbox::start(SandboxOptions {
            extra_conf: "max_slot_wal_keep_size = 1MB\nmin_wal_size = 32MB\nmax_wal_size = 32MB\n".into(),
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .unwrap();
    sandbox.psql("postgres", "CREATE TABLE filler (x text)").unwrap();
    sandbox.psql("postgres", "SELECT pg_create_logical_replication_slot('lost_slot', 'pgoutput')").unwrap();
    // Write and recycle WAL past max_slot_wal_keep_size so the checkpoint invalidates the slot.
    for _ in 0..4 {
        sandbox
            .psql("postgres", "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 20000)")
            .unwrap();
        sandbox.psql("postgres", "SELECT pg_switch_wal()").unwrap();
        sandbox.psql("postgres", "CHECKPOINT").unwrap();
    }
    let err = run_to_error(sandbox_config(
        sandbox.port,
        "postgres",
        "lost_slot",
        &[("snapshot.mode", "when_needed")],
    ))
    .await;
    assert!(matches!(err, PostgresError::SlotLost { .. }), "{err:?}");
    assert!(err.to_string().contains("pg_drop_replication_slot('lost_slot')"), "{err}");
}

#[tokio::test]
async fn publication_modes_create_or_require_the_publication() {
    let db = TestDb::create("fail_publication").await.unwrap();
    db.exec("CREATE TABLE keep (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY);")
        .await
        .unwrap();
    let err = run_to_error(config(&db, "pub_disabled", &[("publication.autocreate.mode", "disabled")])).await;
    assert!(err.to_string().contains("does not exist") && err.to_string().contains("disabled"), "{err}");

    // filtered: exactly the captured tables, and re-aligned when the lists change.
    let cap = Capture::start(
        config(
            &db,
            "pub_filtered",
            &[("publication.autocreate.mode", "filtered"), ("table.include.list", "public.keep")],
        ),
        None,
    );
    sluice_tests::capture::wait_for_slot(&db, "pub_filtered").await;
    cap.stop().await;
    let tables = published(&db, "pub_filtered").await;
    assert_eq!(tables, vec!["public.keep"]);
    let cap = Capture::start(
        config(
            &db,
            "pub_filtered",
            &[("publication.autocreate.mode", "filtered"), ("table.include.list", "public.other")],
        ),
        None,
    );
    sluice_tests::capture::wait_for_slot(&db, "pub_filtered").await;
    cap.stop().await;
    assert_eq!(published(&db, "pub_filtered").await, vec!["public.other"]);

    // all_tables
    let cap = Capture::start(config(&db, "pub_all", &[]), None);
    sluice_tests::capture::wait_for_slot(&db, "pub_all").await;
    cap.stop().await;
    let all: bool = db
        .client
        .query_one("SELECT puballtables FROM pg_publication WHERE pubname = 'pub_all'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(all);
}

async fn published(db: &TestDb, publication: &str) -> Vec<String> {
    db.client
        .query(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1",
            &[&publication],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
