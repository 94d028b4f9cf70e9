//! sluice's REST answers next to the real Kafka Connect's, for the paths both can answer.
//!
//! The real side is Kafka Connect 4.3's standalone worker running the real Debezium PostgreSQL
//! connector (`sluice_tests::connect`). Its Jetty REST server cannot run from the available jars,
//! so `tests/oracle/ConnectStandaloneWorker.java` answers `GET /connectors` and
//! `GET /connectors/<name>/status` itself, with the herder's own entities serialized by Jackson as
//! Connect's REST resources serialize them, and 404s with Connect's `{"error_code", "message"}`.
//! Those three answers are compared with sluice's for an equivalent connector: the same JSON keys
//! and value types, states and types equal; names, worker ids and messages may differ. (The 404's
//! message is the herder's, as Connect's REST API returns it; its `{"error_code", "message"}`
//! envelope is written by the launcher in the shape of Connect's `ErrorMessage`.)
//!
//! Both report the plugin's `"version"` with the connector's and each task's state (Kafka Connect
//! 4.x does; 3.x did not) and word an unknown connector's status the same way.
//!
//! Every other path (connector info, config, tasks, plugins, validate, lifecycle changes) would
//! need more of the launcher's HTTP handler, forwarding to the same herder calls Connect's
//! `ConnectorsResource` and `ConnectorPluginsResource` make.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};
use sluice_tests::connect::{self, KafkaConnectStandalone};
use sluice_tests::kafka::Broker;
use sluice_tests::process::{RunArgs, SluiceProcess};
use sluice_tests::{TestDb, init_tracing};

use crate::rest::{self, REST_LOG, call, expect};

/// A value's shape: objects keep their keys with their values' shapes, arrays their elements'
/// shapes, scalars become their JSON type's name.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect::<Map<_, _>>())
        }
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("boolean"),
        Value::Null => json!("null"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_have_the_shapes_of_the_real_kafka_connect() -> Result<()> {
    init_tracing();
    if let Err(e) = connect::prerequisites() {
        if std::env::var_os("CI").is_some() {
            return Err(e.context("Kafka Connect with Debezium is required in CI"));
        }
        eprintln!("skipping: Kafka Connect with Debezium cannot run here: {e:#}");
        return Ok(());
    }
    let broker = Broker::start()?;
    let db = TestDb::create("kafka_connect_shapes").await?;
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5) g;",
    )
    .await?;

    // sluice on the broker, serving the registry Kafka Connect's AvroConverter registers in.
    let dir = tempfile::tempdir()?;
    let args = RunArgs::new(&dir.path().join("data"))
        .rest()
        .registry("127.0.0.1:0")
        .worker("bootstrap.servers", &broker.bootstrap())
        .build();
    let mut sluice = SluiceProcess::start(&args, &dir.path().join("sluice.log"))?;
    let url = rest::logged_url(&mut sluice, REST_LOG, Duration::from_secs(120)).await?;
    let registry = rest::logged_url(&mut sluice, "schema registry at ", Duration::from_secs(10)).await?;

    let real_props = connect::postgres_connector(&db, "realshapes", "public.customers");
    let mut real = KafkaConnectStandalone::start(&broker.bootstrap(), &registry, &[], &real_props)?;

    // The same connector for sluice, under its own name (its own slot, publication and topics).
    let mut ours: Map<String, Value> = connect::postgres_connector(&db, "slshapes", "public.customers")
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    for (k, v) in [
        ("connector.class", "io.debezium.connector.postgresql.PostgresConnector"),
        ("plugin.name", "pgoutput"),
        ("tasks.max", "1"),
        ("key.converter", "io.confluent.connect.avro.AvroConverter"),
        ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ("topic.creation.default.replication.factor", "1"),
        ("topic.creation.default.partitions", "1"),
    ] {
        ours.insert(k.to_owned(), json!(v));
    }
    expect(201, "POST", &url, "/connectors", Some(&json!({"name": "slshapes", "config": ours}))).await?;

    let real_status = real.wait_running(Duration::from_secs(300)).await?;
    let start = std::time::Instant::now();
    let our_status = loop {
        let s = expect(200, "GET", &url, "/connectors/slshapes/status", None).await?;
        if s["connector"]["state"] == "RUNNING" && s["tasks"][0]["state"] == "RUNNING" {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("sluice's connector is not RUNNING: {s}\n{}", rest::log_tail(&sluice, 40));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let real_url = real.rest_url();

    // GET /connectors
    let (code, real_list) = call("GET", &real_url, "/connectors", None).await?;
    assert_eq!((code, &real_list), (200, &json!(["realshapes"])));
    assert_eq!(expect(200, "GET", &url, "/connectors", None).await?, json!(["slshapes"]));

    // GET /connectors/<name>/status: ConnectorStateInfo.
    eprintln!("Kafka Connect status: {real_status}\nsluice status: {our_status}");
    assert_eq!(
        shape(&our_status),
        shape(&real_status),
        "status shapes: sluice {our_status} vs Kafka Connect {real_status}"
    );
    assert_eq!(our_status["type"], real_status["type"]);
    assert_eq!(our_status["connector"]["state"], real_status["connector"]["state"]);
    assert_eq!(our_status["tasks"][0]["id"], real_status["tasks"][0]["id"]);
    // Both name the worker by its REST listener's host:port.
    for (status, base) in [(&our_status, &url), (&real_status, &real_url)] {
        let worker = base.trim_start_matches("http://");
        assert_eq!(status["connector"]["worker_id"], worker, "{status}");
        assert_eq!(status["tasks"][0]["worker_id"], worker, "{status}");
    }

    // An unknown connector's status: 404 with Kafka Connect's error body.
    let (real_code, real_error) = call("GET", &real_url, "/connectors/nope/status", None).await?;
    let (our_code, our_error) = call("GET", &url, "/connectors/nope/status", None).await?;
    eprintln!("Kafka Connect 404: {real_error}\nsluice 404: {our_error}");
    assert_eq!((our_code, real_code), (404, 404));
    assert_eq!(shape(&our_error), shape(&real_error));
    assert_eq!(our_error["error_code"], real_error["error_code"]);
    assert_eq!(our_error["message"], real_error["message"]);

    sluice.terminate(Duration::from_secs(30))?;
    let stopped = real.stop().await?;
    if !stopped.success() && stopped.code() != Some(143) {
        bail!("Kafka Connect exited with {stopped}");
    }
    Ok(())
}
