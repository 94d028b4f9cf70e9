//! The PostgreSQL side: a test database with an `items` table, connector configs reading it, and
//! what `pg_replication_slots` says about a connector's slot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use sluice_tests::TestDb;

use crate::eventually::eventually;

/// Debezium's PostgreSQL connector class.
pub(crate) const POSTGRES_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";
/// sluice's Delta sink class.
pub(crate) const DELTA_SINK_CLASS: &str = "io.sluice.connect.delta.DeltaSinkConnector";

/// A fresh database `t_<name>` with an empty `items (id int PRIMARY KEY, note text)` table.
pub(crate) async fn database(name: &str) -> Result<TestDb> {
    sluice_tests::init_tracing();
    let db = TestDb::create(name).await?;
    db.exec("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)").await?;
    Ok(db)
}

/// A Debezium PostgreSQL connector config for `items`, replicating into Delta under `lake`: its
/// slot, publication and topic prefix are all `name` (slot names are cluster-wide, so `name` must
/// be unique across tests).
pub(crate) fn connector(db: &TestDb, name: &str, lake: &Path) -> Map<String, Value> {
    let config = json!({
        "connector.class": POSTGRES_CLASS,
        "database.hostname": "127.0.0.1",
        "database.port": db.port().to_string(),
        "database.user": "postgres",
        "database.dbname": db.name,
        "database.sslmode": "disable",
        "topic.prefix": name,
        "slot.name": name,
        "publication.name": name,
        "publication.autocreate.mode": "filtered",
        "table.include.list": "public.items",
        "status.update.interval.ms": "1000",
        "sluice.delta.path": format!("{}/{name}/${{schema}}_${{table}}", lake.display()),
        "sluice.delta.flush.interval.ms": "200",
    });
    match config {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Where `connector(db, name, lake)` writes the `items` table.
pub(crate) fn table(lake: &Path, name: &str) -> PathBuf {
    lake.join(name).join("public_items")
}

/// Inserts rows `ids`, one transaction each.
pub(crate) async fn insert(db: &TestDb, ids: impl IntoIterator<Item = i64>) -> Result<()> {
    for id in ids {
        db.client
            .execute("INSERT INTO items VALUES ($1::bigint::int, 'row ' || $1::bigint)", &[&id])
            .await
            .with_context(|| format!("inserting row {id}"))?;
    }
    Ok(())
}

/// A replication slot as `pg_replication_slots` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) active: bool,
    /// `confirmed_flush_lsn` as a number.
    pub(crate) confirmed_flush: Option<i64>,
}

/// The slot named `name`, if it exists.
pub(crate) async fn slot(db: &TestDb, name: &str) -> Result<Option<Slot>> {
    let row = db
        .client
        .query_opt(
            "SELECT active, (confirmed_flush_lsn - '0/0'::pg_lsn)::bigint FROM pg_replication_slots \
             WHERE slot_name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| Slot { active: r.get(0), confirmed_flush: r.get(1) }))
}

/// Waits until the slot `name` exists with `active` as given.
pub(crate) async fn wait_slot_active(db: &TestDb, name: &str, active: bool) -> Result<Slot> {
    eventually(Duration::from_secs(30), &format!("slot {name} to have active = {active}"), async || {
        Ok(slot(db, name).await?.filter(|s| s.active == active))
    })
    .await
}
