//! A connector that cannot run fails alone: its task shows FAILED with the cause, the others keep
//! replicating, `/ready` names it, and fixing its config brings it back.

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::json;

use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source;

const GOOD: &str = "svc_good";
const BAD: &str = "svc_bad";
const MISSING_DB: &str = "t_svc_no_such_database";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_connector_does_not_stop_another() -> Result<()> {
    let db = source::database("svc_isolation").await?;
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let sluice = Sluice::start(dir.path(), &Launch::default()).await?;
    let api = Api::new(&sluice.rest)?;
    let admin = Api::new(&sluice.admin)?;
    let result = async {
        let good = source::connector(&db, GOOD, &lake_dir);
        api.send(Method::POST, "/connectors", &json!({"name": GOOD, "config": good})).await?.expect(201)?;
        api.wait_status(GOOD, "RUNNING", &["RUNNING"]).await?;
        source::insert(&db, 1..=3).await?;
        lake::wait_for(&source::table(&lake_dir, GOOD), &[1, 2, 3]).await?;

        // Valid, but its database does not exist: a definite error when it starts.
        let mut bad = source::connector(&db, BAD, &lake_dir);
        bad.insert("database.dbname".into(), json!(MISSING_DB));
        api.send(Method::POST, "/connectors", &json!({"name": BAD, "config": bad.clone()}))
            .await?
            .expect(201)?;
        let status = api.wait_status(BAD, "RUNNING", &["FAILED"]).await?;
        let trace = status["tasks"][0]["trace"].as_str().context("a FAILED task has a trace")?;
        ensure!(
            trace.contains(MISSING_DB) && trace.contains("does not exist"),
            "the trace does not name the missing database: {trace}"
        );
        let task = api.get(&format!("/connectors/{BAD}/tasks/0/status")).await?.expect(200)?.clone();
        ensure!(task["state"] == "FAILED" && task["trace"] == trace, "{task}");
        ensure!(status["connector"].get("trace").is_none(), "the connector itself has no trace: {status}");

        // The other one is untouched.
        ensure!(api.status(GOOD).await?["tasks"][0]["state"] == "RUNNING", "the good connector stopped");
        source::insert(&db, 4..=6).await?;
        lake::wait_for(&source::table(&lake_dir, GOOD), &(1..=6).collect::<Vec<_>>()).await?;
        ensure!(api.status(GOOD).await?["tasks"][0]["state"] == "RUNNING", "the good connector stopped");

        // Readiness names the failed connector; health does not care.
        let ready = admin.get("/ready").await?;
        let body = ready.expect(503)?;
        ensure!(
            body["connectors"] == json!([{"name": BAD, "states": ["FAILED"]}]),
            "/ready does not name the failed connector alone: {body}"
        );
        admin.get("/health").await?.expect(200)?;

        // A restart of only the failed instances marks its task RESTARTING; it fails again.
        let restarting = api
            .call(Method::POST, &format!("/connectors/{BAD}/restart?includeTasks=true&onlyFailed=true"))
            .await?;
        let restarting = restarting.expect(202)?.clone();
        ensure!(restarting["connector"]["state"] == "RUNNING", "{restarting}");
        ensure!(restarting["tasks"][0]["state"] == "RESTARTING", "{restarting}");
        api.wait_status(BAD, "RUNNING", &["FAILED"]).await?;

        // Fixing the config brings it back.
        bad.insert("database.dbname".into(), json!(db.name));
        let updated = api.send(Method::PUT, &format!("/connectors/{BAD}/config"), &json!(bad)).await?;
        updated.expect(200)?;
        let status = api.wait_status(BAD, "RUNNING", &["RUNNING"]).await?;
        ensure!(status["tasks"][0].get("trace").is_none(), "a running task keeps its old trace: {status}");
        lake::wait_for(&source::table(&lake_dir, BAD), &(1..=6).collect::<Vec<_>>()).await?;
        let ready = admin.get("/ready").await?;
        ensure!(ready.expect(200)? == &json!({"status": "ready"}), "{}", ready.text);
        Ok(())
    }
    .await;
    sluice.explain(result)
}
