//! Every Kafka Connect REST endpoint through one connector's life, and the error answers.

use anyhow::{Context, Result, ensure};
use reqwest::Method;
use serde_json::{Value, json};

use crate::lake;
use crate::server::{Api, Launch, Sluice};
use crate::source::{self, DELTA_SINK_CLASS, POSTGRES_CLASS};

const NAME: &str = "svc_life";
/// A literal password (the database trusts local connections, so any value works).
const PASSWORD: &str = "literal-pw-9f3c";

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_lifecycle_and_errors() -> Result<()> {
    let db = source::database("svc_lifecycle").await?;
    let dir = tempfile::tempdir()?;
    let sluice = Sluice::start(dir.path(), &Launch::default()).await?;
    let api = Api::new(&sluice.rest)?;
    let result = lifecycle(&db, dir.path(), &sluice, &api).await;
    sluice.explain(result)
}

async fn lifecycle(
    db: &sluice_tests::TestDb,
    dir: &std::path::Path,
    sluice: &Sluice,
    api: &Api,
) -> Result<()> {
    let lake_dir = dir.join("lake");
    let table = source::table(&lake_dir, NAME);
    let worker_id = sluice.worker_id();

    // The server and its plugins.
    let info = api.get("/").await?;
    let info = info.expect(200)?;
    ensure!(info["version"].is_string() && info["commit"].is_string(), "GET /: {info}");
    ensure!(info.get("kafka_cluster_id").is_some(), "GET / has no kafka_cluster_id: {info}");
    ensure!(api.get("/connectors").await?.expect(200)? == &json!([]), "no connectors at first");
    let plugins = api.get("/connector-plugins").await?;
    let plugins = plugins.expect(200)?.as_array().context("plugins are a list")?.clone();
    for (class, kind) in [(POSTGRES_CLASS, "source"), (DELTA_SINK_CLASS, "sink")] {
        ensure!(
            plugins.iter().any(|p| p["class"] == class && p["type"] == kind && p["version"].is_string()),
            "{class} ({kind}) missing from {plugins:?}"
        );
    }
    // Each state carries its plugin's version, as in Kafka Connect 4.x.
    let version = plugins.iter().find(|p| p["class"] == POSTGRES_CLASS).map(|p| p["version"].clone());
    let keys = api.get("/connector-plugins/PostgresConnector/config").await?;
    let keys = keys.expect(200)?.as_array().context("config keys are a list")?.clone();
    ensure!(
        keys.iter()
            .any(|k| k["name"] == "database.hostname" && k["required"] == true && k["type"].is_string()),
        "database.hostname missing from the plugin's config keys: {keys:?}"
    );
    api.get("/connector-plugins/MySqlConnector/config").await?.error(404)?;

    // Create.
    let mut config = source::connector(db, NAME, &lake_dir);
    config.insert("database.password".into(), PASSWORD.into());
    let created = api.send(Method::POST, "/connectors", &json!({"name": NAME, "config": config})).await?;
    let body = created.expect(201)?.clone();
    ensure!(
        created.header("location") == Some(&format!("/connectors/{NAME}")),
        "Location: {:?}",
        created.headers
    );
    ensure!(sorted_keys(&body) == ["config", "name", "tasks", "type"], "ConnectorInfo shape: {body}");
    ensure!(body["name"] == NAME && body["type"] == "source", "{body}");
    ensure!(body["tasks"] == json!([{"connector": NAME, "task": 0}]), "tasks: {body}");
    ensure!(body["config"]["database.password"] == "[hidden]", "the password is shown: {body}");
    ensure!(body["config"]["name"] == NAME, "the config gets the name: {body}");
    ensure!(body["config"]["slot.name"] == NAME, "{body}");

    ensure!(api.get("/connectors").await?.expect(200)? == &json!([NAME]), "the list names it");
    let status = api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    ensure!(sorted_keys(&status) == ["connector", "name", "tasks", "type"], "status shape: {status}");
    ensure!(
        status["connector"] == json!({"state": "RUNNING", "worker_id": worker_id, "version": version}),
        "connector status: {status}"
    );
    ensure!(
        status["tasks"] == json!([{"id": 0, "state": "RUNNING", "worker_id": worker_id, "version": version}]),
        "task status: {status}"
    );
    let task = api.get(&format!("/connectors/{NAME}/tasks/0/status")).await?;
    ensure!(
        task.expect(200)?
            == &json!({"id": 0, "state": "RUNNING", "worker_id": worker_id, "version": version}),
        "task status: {}",
        task.text
    );

    // Reads.
    let info = api.get(&format!("/connectors/{NAME}")).await?.expect(200)?.clone();
    ensure!(info == body, "GET /connectors/{NAME} = {info}, created {body}");
    let expanded = api.get("/connectors?expand=status&expand=info").await?.expect(200)?.clone();
    ensure!(sorted_keys(&expanded) == [NAME], "{expanded}");
    ensure!(sorted_keys(&expanded[NAME]) == ["info", "status"], "{expanded}");
    ensure!(expanded[NAME]["info"] == info, "expanded info: {expanded}");
    ensure!(expanded[NAME]["status"]["name"] == NAME, "{expanded}");
    ensure!(expanded[NAME]["status"]["connector"]["state"] == "RUNNING", "{expanded}");
    let only_info = api.get("/connectors?expand=info").await?.expect(200)?.clone();
    ensure!(sorted_keys(&only_info[NAME]) == ["info"], "{only_info}");
    let shown = api.get(&format!("/connectors/{NAME}/config")).await?.expect(200)?.clone();
    ensure!(shown["database.password"] == "[hidden]", "{shown}");
    for (k, v) in &config {
        if k != "database.password" {
            ensure!(&shown[k] == v, "config {k}: {shown}");
        }
    }
    let tasks = api.get(&format!("/connectors/{NAME}/tasks")).await?.expect(200)?.clone();
    ensure!(tasks[0]["id"] == json!({"connector": NAME, "task": 0}), "{tasks}");
    ensure!(tasks.as_array().map(Vec::len) == Some(1), "{tasks}");
    ensure!(tasks[0]["config"]["database.password"] == "[hidden]", "{tasks}");
    ensure!(
        tasks[0]["config"]["task.class"] == "io.debezium.connector.postgresql.PostgresConnectorTask",
        "{tasks}"
    );

    // Rows reach the Delta table.
    source::insert(db, 1..=5).await?;
    lake::wait_for(&table, &[1, 2, 3, 4, 5]).await?;

    // Offsets may only change while stopped.
    let must_stop = format!(
        "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the \
         specified connector by issuing a 'PUT' request to the '/connectors/{NAME}/stop' endpoint"
    );
    let patch = json!({"offsets": [{"partition": {"server": NAME}, "offset": {"lsn": 1}}]});
    let refused =
        api.send(Method::PATCH, &format!("/connectors/{NAME}/offsets"), &patch).await?.error(400)?;
    ensure!(refused == must_stop, "PATCH offsets while RUNNING: {refused}");
    let refused = api.delete(&format!("/connectors/{NAME}/offsets")).await?.error(400)?;
    ensure!(refused == must_stop, "DELETE offsets while RUNNING: {refused}");

    // Pause: the task stops and releases the slot; resume continues.
    let paused = api.call(Method::PUT, &format!("/connectors/{NAME}/pause")).await?;
    paused.expect(202)?;
    api.wait_status(NAME, "PAUSED", &["PAUSED"]).await?;
    source::wait_slot_active(db, NAME, false).await?;
    let refused =
        api.send(Method::PATCH, &format!("/connectors/{NAME}/offsets"), &patch).await?.error(400)?;
    ensure!(refused == must_stop, "PATCH offsets while PAUSED: {refused}");
    source::insert(db, 6..=8).await?;
    api.call(Method::PUT, &format!("/connectors/{NAME}/resume")).await?.expect(202)?;
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    source::wait_slot_active(db, NAME, true).await?;
    lake::wait_for(&table, &(1..=8).collect::<Vec<_>>()).await?;

    // Stop: no tasks at all.
    let stopped = api.call(Method::PUT, &format!("/connectors/{NAME}/stop")).await?;
    stopped.expect(204)?;
    ensure!(stopped.text.is_empty(), "204 with a body: {}", stopped.text);
    let status = api.wait_status(NAME, "STOPPED", &[]).await?;
    ensure!(status["tasks"] == json!([]), "{status}");
    let info = api.get(&format!("/connectors/{NAME}")).await?.expect(200)?.clone();
    ensure!(info["tasks"] == json!([]), "a stopped connector lists tasks: {info}");
    ensure!(api.get(&format!("/connectors/{NAME}/tasks")).await?.expect(200)? == &json!([]), "tasks");
    source::wait_slot_active(db, NAME, false).await?;

    // Offsets: Debezium's shape, altered and reset while stopped.
    let offsets_path = format!("/connectors/{NAME}/offsets");
    let offsets = api.get(&offsets_path).await?.expect(200)?.clone();
    ensure!(sorted_keys(&offsets) == ["offsets"], "{offsets}");
    let list = offsets["offsets"].as_array().context("offsets is a list")?.clone();
    ensure!(list.len() == 1, "{offsets}");
    ensure!(sorted_keys(&list[0]) == ["offset", "partition"], "{offsets}");
    ensure!(list[0]["partition"] == json!({"server": NAME}), "{offsets}");
    ensure!(list[0]["offset"]["lsn"].as_i64().is_some_and(|l| l > 0), "{offsets}");
    let altered = api.send(Method::PATCH, &offsets_path, &offsets).await?.expect(200)?.clone();
    ensure!(
        altered == json!({"message": "The offsets for this connector have been altered successfully"}),
        "{altered}"
    );
    ensure!(api.get(&offsets_path).await?.expect(200)? == &offsets, "the altered offset reads back");
    let wrong_partition = json!({"offsets": [{"partition": {"server": "elsewhere"}, "offset": {"lsn": 1}}]});
    api.send(Method::PATCH, &offsets_path, &wrong_partition).await?.error(400)?;
    api.send(Method::PATCH, &offsets_path, &json!({"offsets": []})).await?.error(400)?;
    let reset = api.delete(&offsets_path).await?.expect(200)?.clone();
    ensure!(
        reset == json!({"message": "The offsets for this connector have been reset successfully"}),
        "{reset}"
    );
    ensure!(api.get(&offsets_path).await?.expect(200)? == &json!({"offsets": []}), "reset");
    // Put the position back, so resuming continues instead of taking a new snapshot.
    api.send(Method::PATCH, &offsets_path, &offsets).await?.expect(200)?;
    ensure!(api.get(&offsets_path).await?.expect(200)? == &offsets, "restored");

    // Resume from STOPPED.
    api.call(Method::PUT, &format!("/connectors/{NAME}/resume")).await?.expect(202)?;
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    source::insert(db, 9..=10).await?;
    lake::wait_for(&table, &(1..=10).collect::<Vec<_>>()).await?;

    // Restarts (KIP-745).
    let restart = api.call(Method::POST, &format!("/connectors/{NAME}/restart")).await?;
    restart.expect(204)?;
    ensure!(restart.text.is_empty(), "204 with a body: {}", restart.text);
    let restarting = api.call(Method::POST, &format!("/connectors/{NAME}/restart?includeTasks=true")).await?;
    let restarting = restarting.expect(202)?.clone();
    ensure!(restarting["name"] == NAME, "{restarting}");
    ensure!(restarting["connector"]["state"] == "RESTARTING", "{restarting}");
    ensure!(restarting["tasks"][0]["state"] == "RESTARTING", "{restarting}");
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    let nothing_failed = api
        .call(Method::POST, &format!("/connectors/{NAME}/restart?includeTasks=true&onlyFailed=true"))
        .await?;
    let nothing_failed = nothing_failed.expect(202)?.clone();
    ensure!(
        nothing_failed["connector"]["state"] == "RUNNING",
        "nothing failed, nothing restarts: {nothing_failed}"
    );
    ensure!(nothing_failed["tasks"][0]["state"] == "RUNNING", "{nothing_failed}");
    api.call(Method::POST, &format!("/connectors/{NAME}/restart?includeTasks=maybe")).await?.error(400)?;
    let task_restart = api.call(Method::POST, &format!("/connectors/{NAME}/tasks/0/restart")).await?;
    task_restart.expect(204)?;
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;

    // PUT config: an update (200) keeps a password sent back as [hidden]; a new name creates (201).
    let mut update = api.get(&format!("/connectors/{NAME}/config")).await?.expect(200)?.clone();
    update["sluice.delta.flush.interval.ms"] = json!("250");
    let updated = api.send(Method::PUT, &format!("/connectors/{NAME}/config"), &update).await?;
    let updated = updated.expect(200)?.clone();
    ensure!(
        updated["name"] == NAME && updated["config"]["sluice.delta.flush.interval.ms"] == "250",
        "{updated}"
    );
    ensure!(updated["config"]["database.password"] == "[hidden]", "{updated}");
    let stored: Value = serde_json::from_slice(&std::fs::read(dir.join("data/connectors.json"))?)?;
    ensure!(
        stored["connectors"][NAME]["config"]["database.password"] == PASSWORD,
        "the stored password was replaced by the mask: {stored}"
    );
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    let other = "svc_life_put";
    let created = api
        .send(
            Method::PUT,
            &format!("/connectors/{other}/config"),
            &json!(source::connector(db, other, &lake_dir)),
        )
        .await?;
    let info = created.expect(201)?.clone();
    ensure!(created.header("location") == Some(&format!("/connectors/{other}")), "{:?}", created.headers);
    ensure!(info["name"] == other && info["config"]["name"] == other, "{info}");
    let deleted = api.delete(&format!("/connectors/{other}")).await?;
    deleted.expect(204)?;

    // PATCH config (KIP-477): null removes a key.
    let patch = json!({"sluice.delta.flush.interval.ms": null, "status.update.interval.ms": "900"});
    let patched = api.send(Method::PATCH, &format!("/connectors/{NAME}/config"), &patch).await?;
    let patched = patched.expect(200)?.clone();
    ensure!(patched["config"].get("sluice.delta.flush.interval.ms").is_none(), "not removed: {patched}");
    ensure!(patched["config"]["status.update.interval.ms"] == "900", "{patched}");
    ensure!(patched["config"]["database.password"] == "[hidden]", "{patched}");
    let shown = api.get(&format!("/connectors/{NAME}/config")).await?.expect(200)?.clone();
    ensure!(shown == patched["config"], "GET config after PATCH: {shown}");
    api.wait_status(NAME, "RUNNING", &["RUNNING"]).await?;
    source::insert(db, 11..=12).await?;
    lake::wait_for(&table, &(1..=12).collect::<Vec<_>>()).await?;

    errors(db, &lake_dir, api).await?;

    // Delete.
    let deleted = api.delete(&format!("/connectors/{NAME}")).await?;
    deleted.expect(204)?;
    let missing = api.get(&format!("/connectors/{NAME}")).await?;
    ensure!(
        missing.expect(404)? == &json!({"error_code": 404, "message": format!("Connector {NAME} not found")}),
        "{}",
        missing.text
    );
    ensure!(api.get("/connectors").await?.expect(200)? == &json!([]), "deleted");
    api.delete(&format!("/connectors/{NAME}")).await?.error(404)?;
    Ok(())
}

/// The error answers, with the connector `NAME` existing.
async fn errors(db: &sluice_tests::TestDb, lake_dir: &std::path::Path, api: &Api) -> Result<()> {
    // Duplicate create.
    let config = source::connector(db, NAME, lake_dir);
    let duplicate = api.send(Method::POST, "/connectors", &json!({"name": NAME, "config": config})).await?;
    let message = duplicate.error(409)?;
    ensure!(message == format!("Connector {NAME} already exists"), "{message}");

    // The name in the body must match the URL's.
    let mut mismatched = config.clone();
    mismatched.insert("name".into(), json!("svc_other"));
    let message =
        api.send(Method::PUT, &format!("/connectors/{NAME}/config"), &json!(mismatched)).await?.error(400)?;
    ensure!(message.contains("svc_other") && message.contains(NAME), "name mismatch: {message}");

    // A misspelt property is named (and nothing is created).
    let mut typo = source::connector(db, "svc_typo", lake_dir);
    typo.insert("database.passwrd".into(), json!("x"));
    let message = api
        .send(Method::POST, "/connectors", &json!({"name": "svc_typo", "config": typo}))
        .await?
        .error(400)?;
    ensure!(message.contains("database.passwrd"), "the unknown property is not named: {message}");
    api.get("/connectors/svc_typo").await?.error(404)?;

    // Unreadable bodies.
    api.raw(Method::POST, "/connectors", Some("{\"name\": ".into())).await?.error(400)?;
    api.raw(Method::PUT, &format!("/connectors/{NAME}/config"), Some("[1, 2".into())).await?.error(400)?;

    // Unknown connector, task, path; wrong method.
    let message = api.get("/connectors/svc_nobody/status").await?.error(404)?;
    ensure!(message == "No status found for connector svc_nobody", "{message}");
    let message = api.get(&format!("/connectors/{NAME}/tasks/5/status")).await?.error(404)?;
    ensure!(message == format!("No status found for task {NAME}-5"), "{message}");
    api.get("/connectors/svc_nobody").await?.error(404)?;
    api.call(Method::POST, &format!("/connectors/{NAME}/tasks/5/restart")).await?.error(404)?;
    api.call(Method::PUT, "/connectors/svc_nobody/pause").await?.error(404)?;
    api.get("/no/such/path").await?.error(404)?;
    api.delete("/connectors").await?.error(405)?;
    api.call(Method::PUT, &format!("/connectors/{NAME}/status")).await?.error(405)?;
    api.call(Method::GET, &format!("/connectors/{NAME}/pause")).await?.error(405)?;

    // Validation reports every bad field at once, each on its own property.
    let mut bad = source::connector(db, "svc_valid", lake_dir);
    bad.insert("name".into(), json!("svc_valid"));
    bad.remove("database.hostname");
    bad.insert("database.port".into(), json!("not-a-port"));
    bad.insert("snapshot.mode".into(), json!("sometimes"));
    bad.insert("database.password".into(), json!(PASSWORD));
    let validated =
        api.send(Method::PUT, "/connector-plugins/PostgresConnector/config/validate", &json!(bad)).await?;
    let validated = validated.expect(200)?.clone();
    ensure!(sorted_keys(&validated) == ["configs", "error_count", "groups", "name"], "{validated}");
    ensure!(validated["name"] == POSTGRES_CLASS, "{validated}");
    let configs = validated["configs"].as_array().context("configs is a list")?;
    let errors_of = |name: &str| -> Vec<String> {
        configs
            .iter()
            .find(|c| c["value"]["name"] == name)
            .and_then(|c| c["value"]["errors"].as_array())
            .map(|e| e.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    for field in ["database.port", "snapshot.mode", "database.hostname"] {
        ensure!(!errors_of(field).is_empty(), "no error on {field}: {validated}");
    }
    for field in ["database.user", "slot.name", "topic.prefix"] {
        ensure!(errors_of(field).is_empty(), "an error on the valid {field}: {validated}");
    }
    let total: usize = configs.iter().map(|c| c["value"]["errors"].as_array().map_or(0, Vec::len)).sum();
    ensure!(
        validated["error_count"].as_u64() == Some(total as u64) && total >= 3,
        "error_count: {validated}"
    );
    for c in configs {
        ensure!(
            sorted_keys(&c["value"]) == ["errors", "name", "recommended_values", "value", "visible"]
                && c["definition"]["name"] == c["value"]["name"],
            "config entry shape: {c}"
        );
    }
    let password = configs.iter().find(|c| c["value"]["name"] == "database.password").context("password")?;
    ensure!(password["value"]["value"] == "[hidden]", "validate shows the password: {password}");
    let good = source::connector(db, "svc_valid", lake_dir);
    let validated =
        api.send(Method::PUT, "/connector-plugins/PostgresConnector/config/validate", &json!(good)).await?;
    ensure!(validated.expect(200)?["error_count"] == 0, "a valid config: {}", validated.text);

    // The plugin in the URL must be the config's class.
    let message = api
        .send(Method::PUT, "/connector-plugins/DeltaSinkConnector/config/validate", &json!(good))
        .await?
        .error(400)?;
    ensure!(message.contains(POSTGRES_CLASS) && message.contains("DeltaSinkConnector"), "{message}");
    Ok(())
}
