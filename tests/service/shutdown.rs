//! SIGTERM while changes stream in: the process stops reading, commits what it read, confirms it
//! to the slot and exits 0 within the shutdown timeout; a restart then loses and repeats nothing.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::json;

use crate::eventually::eventually;
use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source;

const NAME: &str = "svc_term";
const SHUTDOWN_TIMEOUT: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_confirms_before_exit() -> Result<()> {
    let db = source::database("svc_shutdown").await?;
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let table = source::table(&lake_dir, NAME);
    let launch = Launch { shutdown_timeout: Some(SHUTDOWN_TIMEOUT), ..Launch::default() };
    let mut first = Sluice::start(dir.path(), &launch).await?;
    let api = Api::new(&first.rest)?;
    first
        .explain(
            async {
                let config = source::connector(&db, NAME, &lake_dir);
                api.send(Method::POST, "/connectors", &json!({"name": NAME, "config": config}))
                    .await?
                    .expect(201)?;
                api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
                source::insert(&db, 1..=50).await?;
                lake::wait_for(&table, &(1..=50).collect::<Vec<_>>()).await?;
                Ok(())
            }
            .await,
        )
        .context("before SIGTERM")?;

    // More rows, and SIGTERM while they stream in.
    let writer = {
        let client = db.connect().await?;
        tokio::spawn(async move {
            for id in 51..=150_i64 {
                client.execute("INSERT INTO items VALUES ($1::bigint::int, 'late')", &[&id]).await?;
            }
            anyhow::Ok(())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let took = first.terminate(Duration::from_secs(SHUTDOWN_TIMEOUT + 5)).await.context("SIGTERM")?;
    ensure!(took < Duration::from_secs(SHUTDOWN_TIMEOUT), "the shutdown took {took:?}");
    writer.await??;

    // What reached the table is confirmed to the slot: a commit in the table is never re-read.
    // (Checked after the restart below, which must work either way.)
    let rows = lake::rows(&table).await?.context("the table")?;
    let ids = lake::ids(&rows);
    ensure!(ids.starts_with(&(1..=50).collect::<Vec<_>>()), "rows before SIGTERM are missing: {ids:?}");
    ensure!(ids.iter().all(|id| (1..=150).contains(id)), "{ids:?}");
    let slot = source::wait_slot_active(&db, NAME, false).await?;
    let confirmed = slot.confirmed_flush.context("confirmed_flush_lsn")?;
    let unconfirmed: Vec<_> = rows.iter().filter(|r| r.commit_lsn > confirmed).collect();
    let position: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("data/positions/{NAME}.json")))?)?;
    ensure!(position["snapshot_completed"] == true, "{position}");
    drop(first);

    // A restart continues: every row once.
    let second = Sluice::start(dir.path(), &launch).await?;
    let admin = Api::new(&second.admin)?;
    let result = async {
        lake::wait_for(&table, &(1..=150).collect::<Vec<_>>()).await?;
        let missing = (150 - ids.len()) as u64;
        let events = eventually(Duration::from_secs(10), "the restarted run's events", async || {
            let lag = admin.get(&format!("/lag/{NAME}")).await?.expect(200)?.clone();
            let events = lag["events"].as_u64().context("events")?;
            ensure!(
                events <= missing,
                "{events} events after the restart, but only {missing} rows were missing"
            );
            Ok((events == missing).then_some(events))
        })
        .await?;
        ensure!(events == missing, "{events}");
        Ok(())
    }
    .await;
    second.explain(result).context("after the restart")?;
    ensure!(
        unconfirmed.is_empty(),
        "after SIGTERM, {} rows in the Delta table have commits past the slot's confirmed_flush_lsn {confirmed} \
         (position file: {position}): {unconfirmed:?}",
        unconfirmed.len()
    );
    Ok(())
}
