//! The harness gives a logical-replication-capable cluster and isolated databases.

use sluice_tests::TestDb;

#[tokio::test]
async fn cluster_runs_with_logical_wal() {
    let db = TestDb::create("harness_smoke").await.unwrap();
    let row = db.client.query_one("SHOW wal_level", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "logical");
    let row = db.client.query_one("SELECT current_database()", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "t_harness_smoke");
}
