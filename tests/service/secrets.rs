//! Database credentials from config providers (`${file:...}`, `${env:...}`) authenticate for real
//! (md5 and SCRAM roles of the test cluster), literal secrets are masked, and no secret appears in
//! any REST or admin response or in the log.

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::json;
use sluice_tests::{MD5_USER, SCRAM_USER, TEST_PASSWORD};

use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source;

const FROM_FILE: &str = "svc_sec_file";
const FROM_ENV: &str = "svc_sec_env";
const LITERAL: &str = "svc_sec_literal";
const WRONG: &str = "svc_sec_wrong";
const WRONG_PASSWORD: &str = "not-the-pw-7734";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_come_from_providers_and_never_show() -> Result<()> {
    let db = source::database("svc_secrets").await?;
    let dir = tempfile::tempdir()?;
    let lake_dir = dir.path().join("lake");
    let credentials = dir.path().join("db.properties");
    std::fs::write(
        &credentials,
        format!("# the database login\nuser = {SCRAM_USER}\npassword={TEST_PASSWORD}\n"),
    )?;
    let file_ref = |key: &str| format!("${{file:{}:{key}}}", credentials.display());
    let launch =
        Launch::default().env("SVC_DB_PASSWORD", TEST_PASSWORD).env("SVC_WRONG_PASSWORD", WRONG_PASSWORD);
    let sluice = Sluice::start(dir.path(), &launch).await?;
    let api = Api::new(&sluice.rest)?;
    let admin = Api::new(&sluice.admin)?;
    let result = async {
        let mut configs = Vec::new();
        // SCRAM, user and password from a properties file.
        let mut c = source::connector(&db, FROM_FILE, &lake_dir);
        c.insert("database.user".into(), json!(file_ref("user")));
        c.insert("database.password".into(), json!(file_ref("password")));
        configs.push((FROM_FILE, c));
        // md5, password from the environment.
        let mut c = source::connector(&db, FROM_ENV, &lake_dir);
        c.insert("database.user".into(), json!(MD5_USER));
        c.insert("database.password".into(), json!("${env:SVC_DB_PASSWORD}"));
        configs.push((FROM_ENV, c));
        // md5, the password typed into the config.
        let mut c = source::connector(&db, LITERAL, &lake_dir);
        c.insert("database.user".into(), json!(MD5_USER));
        c.insert("database.password".into(), json!(TEST_PASSWORD));
        configs.push((LITERAL, c));

        // Validation resolves references (and shows them, never their values).
        let validated = api
            .send(Method::PUT, "/connector-plugins/PostgresConnector/config/validate", &json!(configs[0].1))
            .await?;
        let validated = validated.expect(200)?.clone();
        ensure!(validated["error_count"] == 0, "{validated}");

        for (name, config) in &configs {
            let created =
                api.send(Method::POST, "/connectors", &json!({"name": name, "config": config})).await?;
            let info = created.expect(201)?;
            let shown = &info["config"]["database.password"];
            if *name == LITERAL {
                ensure!(shown == "[hidden]", "a literal password is shown: {info}");
            } else {
                ensure!(shown == &config["database.password"], "a reference is not shown as written: {info}");
            }
        }
        let shown = api.get(&format!("/connectors/{FROM_FILE}/config")).await?.expect(200)?.clone();
        ensure!(
            shown["database.user"] == file_ref("user"),
            "the reference is resolved in responses: {shown}"
        );

        // Resolution happened: every one of them logs in and replicates.
        source::insert(&db, 1..=4).await?;
        for (name, _) in &configs {
            api.wait_status(name, "RUNNING", &["RUNNING"]).await?;
            lake::wait_for(&source::table(&lake_dir, name), &[1, 2, 3, 4]).await?;
        }

        // A variable that is not set: refused at create, naming the property and the variable.
        let mut unset = source::connector(&db, "svc_sec_unset", &lake_dir);
        unset.insert("database.password".into(), json!("${env:SVC_UNSET_VARIABLE}"));
        let message = api
            .send(Method::POST, "/connectors", &json!({"name": "svc_sec_unset", "config": unset}))
            .await?
            .error(400)?;
        ensure!(
            message.contains("database.password") && message.contains("SVC_UNSET_VARIABLE"),
            "the error does not name the property and the variable: {message}"
        );
        api.get("/connectors/svc_sec_unset").await?.error(404)?;

        // A wrong password resolves, then fails to authenticate: FAILED, naming the user.
        let mut wrong = source::connector(&db, WRONG, &lake_dir);
        wrong.insert("database.user".into(), json!(SCRAM_USER));
        wrong.insert("database.password".into(), json!("${env:SVC_WRONG_PASSWORD}"));
        api.send(Method::POST, "/connectors", &json!({"name": WRONG, "config": wrong})).await?.expect(201)?;
        let status = api.wait_status(WRONG, "RUNNING", &["FAILED"]).await?;
        let trace = status["tasks"][0]["trace"].as_str().context("a trace")?;
        ensure!(
            trace.contains(SCRAM_USER) && trace.contains("authentication"),
            "the trace does not say that authentication as the user failed: {trace}"
        );

        // Every way to look at the connectors.
        for path in [
            "/connectors?expand=status&expand=info".to_owned(),
            format!("/connectors/{LITERAL}"),
            format!("/connectors/{LITERAL}/config"),
            format!("/connectors/{LITERAL}/tasks"),
            format!("/connectors/{FROM_FILE}/tasks"),
            format!("/connectors/{FROM_ENV}/tasks"),
            format!("/connectors/{WRONG}/status"),
            format!("/connectors/{LITERAL}/offsets"),
        ] {
            api.get(&path).await?.expect(200)?;
        }
        let literal = api.get(&format!("/connectors/{LITERAL}/config")).await?.expect(200)?.clone();
        let validated =
            api.send(Method::PUT, "/connector-plugins/PostgresConnector/config/validate", &literal).await?;
        validated.expect(200)?;
        for path in ["/lag", "/metrics", "/ready", "/health"] {
            admin.get(path).await?;
        }
        let responses = format!("{}\n{}", api.transcript(), admin.transcript());
        ensure!(responses.contains("[hidden]"), "no masked value seen at all");
        for secret in [TEST_PASSWORD, WRONG_PASSWORD] {
            ensure!(!responses.contains(secret), "a response shows the secret {secret}:\n{responses}");
            ensure!(!sluice.log_text().contains(secret), "the log shows the secret {secret}");
        }
        Ok(())
    }
    .await;
    sluice.explain(result)
}
