//! Connectors, their configs and their target states live in the data directory: a restarted
//! process brings back the same connectors in the same states, and the running one continues
//! where it stopped.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::json;

use crate::eventually::eventually;
use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source;

const RUNNING: &str = "svc_keep";
const PAUSED: &str = "svc_held";
const STOPPED: &str = "svc_parked";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() -> Result<()> {
    let db = source::database("svc_restart").await?;
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let table = source::table(&lake_dir, RUNNING);
    let mut first = Sluice::start(dir.path(), &Launch::default()).await?;
    let api = Api::new(&first.rest)?;

    let before = first
        .explain(
            async {
                for name in [RUNNING, PAUSED] {
                    let config = source::connector(&db, name, &lake_dir);
                    api.send(Method::POST, "/connectors", &json!({"name": name, "config": config}))
                        .await?
                        .expect(201)?;
                }
                // Created STOPPED (KIP-980): it never runs.
                let config = source::connector(&db, STOPPED, &lake_dir);
                let created = api
                    .send(
                        Method::POST,
                        "/connectors",
                        &json!({"name": STOPPED, "config": config, "initial_state": "STOPPED"}),
                    )
                    .await?;
                ensure!(created.expect(201)?["tasks"] == json!([]), "{}", created.text);
                api.wait_status(RUNNING, "RUNNING", &["RUNNING"]).await?;
                api.wait_status(PAUSED, "RUNNING", &["RUNNING"]).await?;
                api.wait_status(STOPPED, "STOPPED", &[]).await?;
                source::insert(&db, 1..=10).await?;
                lake::wait_for(&table, &(1..=10).collect::<Vec<_>>()).await?;
                api.call(Method::PUT, &format!("/connectors/{PAUSED}/pause")).await?.expect(202)?;
                api.wait_status(PAUSED, "PAUSED", &["PAUSED"]).await?;
                api.get("/connectors?expand=info").await?.expect(200).cloned()
            }
            .await,
        )
        .context("before the restart")?;
    let took = first.terminate(Duration::from_secs(30)).await.context("SIGTERM")?;
    ensure!(took < Duration::from_secs(30), "stopping took {took:?}");
    ensure!(source::slot(&db, RUNNING).await?.is_some_and(|s| !s.active), "the slot is released");

    // Changes while nobody reads.
    source::insert(&db, 11..=30).await?;

    let second = Sluice::start(dir.path(), &Launch::default()).await?;
    let api = Api::new(&second.rest)?;
    let admin = Api::new(&second.admin)?;
    let result = async {
        let after = api.get("/connectors?expand=info").await?.expect(200)?.clone();
        ensure!(
            after == before,
            "the connectors changed across the restart:\nbefore {before}\nafter {after}"
        );
        api.wait_status(RUNNING, "RUNNING", &["RUNNING"]).await?;
        api.wait_status(PAUSED, "PAUSED", &["PAUSED"]).await?;
        api.wait_status(STOPPED, "STOPPED", &[]).await?;
        ensure!(source::slot(&db, STOPPED).await?.is_none(), "the STOPPED connector ran: it has a slot");

        // The running connector continues: every row written while it was down arrives once.
        lake::wait_for(&table, &(1..=30).collect::<Vec<_>>()).await?;
        let events = eventually(Duration::from_secs(10), "the durable events to be counted", async || {
            let lag = admin.get(&format!("/lag/{RUNNING}")).await?.expect(200)?.clone();
            let events = lag["events"].as_u64().context("events")?;
            ensure!(events <= 20, "more events made durable than rows written while down: {lag}");
            Ok((events == 20).then_some(events))
        })
        .await?;
        ensure!(events == 20, "{events}");

        // The paused one stays paused (its slot unused) until resumed, then catches up.
        ensure!(source::slot(&db, PAUSED).await?.is_some_and(|s| !s.active), "the paused connector reads");
        api.call(Method::PUT, &format!("/connectors/{PAUSED}/resume")).await?.expect(202)?;
        api.wait_status(PAUSED, "RUNNING", &["RUNNING"]).await?;
        lake::wait_for(&source::table(&lake_dir, PAUSED), &(1..=30).collect::<Vec<_>>()).await?;
        Ok(())
    }
    .await;
    second.explain(result)
}
