//! The embedded registry's REST API, driven over real HTTP with reqwest: every endpoint, success
//! and error answers (codes and messages as Confluent's), persistence across restarts through the
//! registry file, and the Debezium schemas sluice publishes.

use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use sluice_registry::server::{CONTENT_TYPE, serve};
use sluice_registry::{FileLog, Registry};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The value schema Debezium 3.6.3 registered for `public.customers`, byte for byte as POSTed by
/// Confluent's AvroConverter 7.0.16 (docs/debezium-postgres-reference.md §2.3).
const CUSTOMERS_VALUE: &str = r#"{"type": "record", "name": "Envelope", "namespace": "PostgreSQL_server.public.customers", "fields": [{"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [{"name": "id", "type": {"type": "int", "connect.default": 0}, "default": 0}, {"name": "first_name", "type": "string"}, {"name": "last_name", "type": "string"}, {"name": "email", "type": "string"}], "connect.name": "PostgreSQL_server.public.customers.Value"}], "default": null}, {"name": "after", "type": ["null", "Value"], "default": null}, {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [{"name": "version", "type": "string"}, {"name": "connector", "type": "string"}, {"name": "name", "type": "string"}, {"name": "ts_ms", "type": "long"}, {"name": "snapshot", "type": [{"type": "string", "connect.version": 1, "connect.parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}, "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"], "default": "false"}, {"name": "db", "type": "string"}, {"name": "sequence", "type": ["null", "string"], "default": null}, {"name": "ts_us", "type": ["null", "long"], "default": null}, {"name": "ts_ns", "type": ["null", "long"], "default": null}, {"name": "schema", "type": "string"}, {"name": "table", "type": "string"}, {"name": "txId", "type": ["null", "long"], "default": null}, {"name": "lsn", "type": ["null", "long"], "default": null}, {"name": "xmin", "type": ["null", "long"], "default": null}, {"name": "origin", "type": ["null", "string"], "default": null}, {"name": "origin_lsn", "type": ["null", "long"], "default": null}], "connect.version": 1, "connect.name": "io.debezium.connector.postgresql.Source"}}, {"name": "transaction", "type": ["null", {"type": "record", "name": "block", "namespace": "event", "fields": [{"name": "id", "type": "string"}, {"name": "total_order", "type": "long"}, {"name": "data_collection_order", "type": "long"}], "connect.version": 1, "connect.name": "event.block"}], "default": null}, {"name": "op", "type": "string"}, {"name": "ts_ms", "type": ["null", "long"], "default": null}, {"name": "ts_us", "type": ["null", "long"], "default": null}, {"name": "ts_ns", "type": ["null", "long"], "default": null}], "connect.version": 2, "connect.name": "PostgreSQL_server.public.customers.Envelope"}"#;

/// The matching key schema.
const CUSTOMERS_KEY: &str = r#"{"type":"record","name":"Key","namespace":"PostgreSQL_server.public.customers","fields":[{"name":"id","type":{"type":"int","connect.default":0},"default":0}],"connect.name":"PostgreSQL_server.public.customers.Key"}"#;

struct Server {
    base: String,
    http: reqwest::Client,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    registry: Arc<Registry>,
}

impl Server {
    async fn start(file: &Path) -> Server {
        let registry = Registry::open(Box::new(FileLog::open(file).unwrap())).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::clone(&registry), cancel.clone()));
        Server { base, http: reqwest::Client::new(), cancel, task, registry }
    }

    /// Stops the server and releases the registry file.
    async fn stop(self) {
        let Server { http, cancel, task, registry, .. } = self;
        drop(http);
        drop(registry);
        cancel.cancel();
        task.await.unwrap().unwrap();
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text, content_type) = self.raw(method, path, body).await;
        assert_eq!(content_type, CONTENT_TYPE, "{path}");
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        (status, value)
    }

    async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json",
        );
        if let Some(b) = body {
            req = req.header("Content-Type", "application/vnd.schemaregistry.v1+json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, resp.text().await.unwrap(), content_type)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    async fn register(&self, subject: &str, schema: &str) -> (u16, Value) {
        self.post(&format!("/subjects/{subject}/versions"), json!({"schema": schema})).await
    }
}

/// Asserts a Confluent error answer.
fn assert_error(answer: (u16, Value), status: u16, code: u64, message: &str) {
    let (s, body) = answer;
    assert_eq!(s, status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    let text = body["message"].as_str().unwrap();
    assert!(text.contains(message), "{text:?} should contain {message:?}");
}

fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","namespace":"n","fields":[{fields}]}}"#)
}

fn canonical(text: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
}

#[tokio::test]
async fn registration_lookup_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("registry.jsonl")).await;
    assert_eq!(s.get("/").await, (200, json!({})));
    assert_eq!(s.get("/schemas/types").await, (200, json!(["AVRO"])));
    assert_eq!(s.get("/subjects").await, (200, json!([])));

    let v1 = record(r#"{"name":"a","type":"int"}"#);
    assert_eq!(s.register("t-value", &v1).await, (200, json!({"id": 1})));
    // Again, and with different whitespace: the same version and id.
    assert_eq!(s.register("t-value", &v1).await, (200, json!({"id": 1})));
    let spaced = v1.replace(',', ", ").replace(':', ": ");
    assert_eq!(s.register("t-value", &spaced).await, (200, json!({"id": 1})));
    // Ids are global: another subject with the same schema shares the id.
    assert_eq!(s.register("u-value", &v1).await, (200, json!({"id": 1})));
    // normalize and an explicit AVRO type are accepted.
    let body = json!({"schema": r#""string""#, "schemaType": "AVRO", "references": []});
    assert_eq!(s.post("/subjects/u-key/versions?normalize=true", body).await, (200, json!({"id": 2})));

    let entity = json!({"subject": "t-value", "version": 1, "id": 1, "schema": canonical(&v1)});
    assert_eq!(s.get("/subjects/t-value/versions/1").await, (200, entity.clone()));
    assert_eq!(s.get("/subjects/t-value/versions/latest").await, (200, entity.clone()));
    assert_eq!(s.post("/subjects/t-value", json!({"schema": spaced})).await, (200, entity));
    let (status, raw, _) = s.raw(Method::GET, "/subjects/t-value/versions/1/schema", None).await;
    assert_eq!((status, raw), (200, canonical(&v1)));
    assert_eq!(s.get("/subjects/t-value/versions/1/referencedby").await, (200, json!([])));
    assert_eq!(s.get("/subjects/t-value/versions").await, (200, json!([1])));
    assert_eq!(s.get("/subjects").await, (200, json!(["t-value", "u-key", "u-value"])));
    assert_eq!(s.get("/subjects?subjectPrefix=u-").await, (200, json!(["u-key", "u-value"])));
    assert_eq!(s.get("/schemas/ids/1").await, (200, json!({"schema": canonical(&v1)})));
    let (status, raw, _) = s.raw(Method::GET, "/schemas/ids/2/schema", None).await;
    assert_eq!((status, raw.as_str()), (200, r#""string""#));
    assert_eq!(
        s.get("/schemas/ids/1/versions").await,
        (200, json!([{"subject": "t-value", "version": 1}, {"subject": "u-value", "version": 1}]))
    );
    assert_eq!(s.get("/schemas/ids/1/subjects").await, (200, json!(["t-value", "u-value"])));
    let (status, all) = s.get("/schemas?subjectPrefix=u-").await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["subject"], "u-key");
    assert_eq!(s.get("/contexts").await, (200, json!(["."])));

    // Errors, with Confluent's codes and messages.
    assert_error(s.get("/subjects/nope/versions").await, 404, 40401, "Subject 'nope' not found.");
    assert_error(s.get("/subjects/nope/versions/1").await, 404, 40401, "Subject 'nope' not found.");
    assert_error(s.get("/subjects/t-value/versions/7").await, 404, 40402, "Version 7 not found.");
    assert_error(
        s.get("/subjects/t-value/versions/abc").await,
        422,
        42202,
        "The specified version 'abc' is not a valid version id",
    );
    assert_error(s.get("/subjects/t-value/versions/0").await, 422, 42202, "'0'");
    assert_error(s.get("/schemas/ids/99").await, 404, 40403, "Schema 99 not found");
    assert_error(s.get("/schemas/ids/99/versions").await, 404, 40403, "Schema not found");
    assert_error(s.get("/schemas/ids/x").await, 404, 404, "HTTP 404 Not Found");
    assert_error(
        s.post("/subjects/t-value", json!({"schema": r#""long""#})).await,
        404,
        40403,
        "Schema not found",
    );
    assert_error(
        s.post("/subjects/nope", json!({"schema": r#""long""#})).await,
        404,
        40401,
        "Subject 'nope'",
    );
    assert_error(s.register("t-value", "{\"type\":").await, 422, 42201, "Invalid schema");
    assert_error(s.register("t-value", r#"{"type":"record","name":"R"}"#).await, 422, 42201, "\"fields\"");
    assert_error(
        s.post("/subjects/t-value/versions", json!({"schema": "{}", "schemaType": "JSON"})).await,
        422,
        42201,
        "supports only AVRO",
    );
    assert_error(
        s.post("/subjects/t-value/versions", json!({"schema": "{}", "schemaType": "PROTOBUF"})).await,
        422,
        42201,
        "supports only AVRO",
    );
    assert_error(
        s.post(
            "/subjects/t-value/versions",
            json!({"schema": v1, "references": [{"name": "x", "subject": "y", "version": 1}]}),
        )
        .await,
        422,
        42201,
        "references are not supported",
    );
    assert_error(s.post("/subjects/t-value/versions", json!({})).await, 422, 42201, "no \"schema\"");
    assert_error(s.post("/subjects/t-value/versions", json!({"schema": 5})).await, 422, 422, "");
    let (status, text, _) = s.raw(Method::POST, "/subjects/t-value/versions", Some(json!("x"))).await;
    assert_eq!(status, 422, "{text}");
    assert_error(s.get("/nowhere").await, 404, 404, "HTTP 404 Not Found");
    assert_error(s.call(Method::PATCH, "/subjects", None).await, 405, 405, "HTTP 405 Method Not Allowed");
    // A body that is not JSON at all.
    let resp = s
        .http
        .post(format!("{}/subjects/t-value/versions", s.base))
        .header("Content-Type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 400);
    // Plain application/json and no content type at all are accepted too.
    let resp = s
        .http
        .post(format!("{}/subjects/t-value", s.base))
        .body(json!({"schema": v1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    s.stop().await;
}

#[tokio::test]
async fn compatibility_levels_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("registry.jsonl")).await;
    let v1 = record(r#"{"name":"a","type":"int"}"#);
    let nullable =
        record(r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#);
    let required = record(r#"{"name":"a","type":"int"},{"name":"c","type":"string"}"#);
    assert_eq!(s.register("t", &v1).await, (200, json!({"id": 1})));

    // Checks before registering.
    assert_eq!(
        s.post("/compatibility/subjects/t/versions/latest", json!({"schema": nullable})).await,
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        s.post("/compatibility/subjects/t/versions", json!({"schema": required})).await,
        (200, json!({"is_compatible": false}))
    );
    let (status, verbose) =
        s.post("/compatibility/subjects/t/versions/1?verbose=true", json!({"schema": required})).await;
    assert_eq!(status, 200);
    assert_eq!(verbose["is_compatible"], false);
    let messages: Vec<&str> =
        verbose["messages"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(messages[0].starts_with("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"), "{messages:?}");
    assert!(messages[0].contains("'c'") && messages[0].contains("/fields/1"), "{messages:?}");
    assert!(messages.contains(&"{oldSchemaVersion: 1}"), "{messages:?}");
    assert_eq!(*messages.last().unwrap(), "{validateFields: 'false', compatibility: 'BACKWARD'}");
    assert_eq!(
        s.post("/compatibility/subjects/t/versions?verbose=true", json!({"schema": nullable})).await,
        (200, json!({"is_compatible": true, "messages": []}))
    );
    assert_error(
        s.post("/compatibility/subjects/t/versions/9", json!({"schema": nullable})).await,
        404,
        40402,
        "Version 9 not found.",
    );
    assert_error(
        s.post("/compatibility/subjects/t/versions/x", json!({"schema": nullable})).await,
        422,
        42202,
        "'x'",
    );
    assert_error(
        s.post("/compatibility/subjects/t/versions", json!({"schema": "nope"})).await,
        422,
        42201,
        "Invalid schema",
    );
    let (status, v) =
        s.post("/compatibility/subjects/t/versions?verbose=true", json!({"schema": "nope"})).await;
    assert_eq!((status, &v["is_compatible"]), (200, &json!(false)));
    assert_eq!(
        s.post("/compatibility/subjects/fresh/versions/latest", json!({"schema": required})).await,
        (200, json!({"is_compatible": true}))
    );

    // Registration enforces the level (BACKWARD by default): 409.
    assert_eq!(s.register("t", &nullable).await, (200, json!({"id": 2})));
    let (status, body) = s.register("t", &required).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error_code"], 40901);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Schema being registered is incompatible with an earlier schema for subject \"t\", details: [{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"
        ),
        "{message}"
    );

    // Configs.
    assert_eq!(s.get("/config").await, (200, json!({"compatibilityLevel": "BACKWARD"})));
    assert_error(
        s.get("/config/t").await,
        404,
        40408,
        "Subject 't' does not have subject-level compatibility configured",
    );
    assert_eq!(
        s.get("/config/t?defaultToGlobal=true").await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        s.put("/config", json!({"compatibility": "FULL"})).await,
        (200, json!({"compatibility": "FULL"}))
    );
    assert_eq!(s.get("/config").await, (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(s.get("/config/t?defaultToGlobal=true").await, (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(
        s.put("/config/t", json!({"compatibility": "none"})).await,
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(s.get("/config/t").await, (200, json!({"compatibilityLevel": "NONE"})));
    assert_error(
        s.put("/config/t", json!({"compatibility": "SIDEWAYS"})).await,
        422,
        42203,
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, \
         forward_transitive, and full_transitive",
    );
    assert_eq!(s.register("t", &required).await, (200, json!({"id": 3})));
    assert_eq!(s.delete("/config/t").await, (200, json!({"compatibilityLevel": "NONE"})));
    assert_error(s.delete("/config/t").await, 404, 40401, "Subject 't' not found.");
    assert_eq!(s.delete("/config").await, (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(s.get("/config").await, (200, json!({"compatibilityLevel": "BACKWARD"})));

    // Transitive levels look at every live version.
    let v4 = record(r#"{"name":"a","type":"int"},{"name":"c","type":"string","default":"x"}"#);
    s.put("/config/t", json!({"compatibility": "BACKWARD_TRANSITIVE"})).await;
    assert_eq!(
        s.post("/compatibility/subjects/t/versions", json!({"schema": v4})).await.1["is_compatible"],
        true
    );
    let dropped = record(r#"{"name":"c","type":"string"}"#);
    assert_eq!(
        s.post("/compatibility/subjects/t/versions/latest", json!({"schema": dropped})).await.1["is_compatible"],
        true
    );
    assert_eq!(
        s.post("/compatibility/subjects/t/versions", json!({"schema": dropped})).await.1["is_compatible"],
        false
    );
    s.stop().await;
}

#[tokio::test]
async fn soft_then_permanent_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("registry.jsonl")).await;
    let v1 = record(r#"{"name":"a","type":"int"}"#);
    let v2 = record(r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#);
    let v3 = record(
        r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null},{"name":"c","type":"long","default":0}"#,
    );
    for v in [&v1, &v2, &v3] {
        assert_eq!(s.register("t", v).await.0, 200);
    }

    assert_error(
        s.delete("/subjects/t/versions/1?permanent=true").await,
        404,
        40407,
        "Subject 't' Version 1 was not deleted first before being permanently deleted",
    );
    assert_eq!(s.delete("/subjects/t/versions/1").await, (200, json!(1)));
    assert_error(
        s.delete("/subjects/t/versions/1").await,
        404,
        40406,
        "Subject 't' Version 1 was soft deleted.Set permanent=true to delete permanently",
    );
    assert_error(s.delete("/subjects/t/versions/8").await, 404, 40402, "Version 8 not found.");
    assert_error(s.delete("/subjects/zz/versions/1").await, 404, 40401, "Subject 'zz' not found.");
    assert_error(s.delete("/subjects/t/versions/abc").await, 422, 42202, "'abc'");
    assert_eq!(s.get("/subjects/t/versions").await, (200, json!([2, 3])));
    assert_eq!(s.get("/subjects/t/versions?deleted=true").await, (200, json!([1, 2, 3])));
    assert_error(s.get("/subjects/t/versions/1").await, 404, 40402, "Version 1 not found.");
    let (status, deleted) = s.get("/subjects/t/versions/1?deleted=true").await;
    assert_eq!((status, &deleted["deleted"]), (200, &json!(true)));
    // A soft-deleted version's id still resolves (consumers keep decoding old data).
    assert_eq!(s.get("/schemas/ids/1").await.0, 200);
    assert_eq!(s.get("/schemas/ids/1/versions").await, (200, json!([])));
    assert_eq!(
        s.get("/schemas/ids/1/versions?deleted=true").await,
        (200, json!([{"subject": "t", "version": 1}]))
    );
    assert_eq!(s.delete("/subjects/t/versions/1?permanent=true").await, (200, json!(1)));
    assert_eq!(s.get("/subjects/t/versions?deleted=true").await, (200, json!([2, 3])));
    assert_error(s.get("/schemas/ids/1").await, 404, 40403, "Schema 1 not found");
    assert_eq!(s.delete("/subjects/t/versions/latest").await, (200, json!(3)));

    // Subjects.
    assert_error(
        s.delete("/subjects/t?permanent=true").await,
        404,
        40405,
        "Subject 't' was not deleted first before being permanently deleted",
    );
    assert_eq!(s.delete("/subjects/t").await, (200, json!([2])));
    assert_error(
        s.delete("/subjects/t").await,
        404,
        40404,
        "Subject 't' was soft deleted.Set permanent=true to delete permanently",
    );
    assert_eq!(s.get("/subjects").await, (200, json!([])));
    assert_eq!(s.get("/subjects?deleted=true").await, (200, json!(["t"])));
    assert_error(s.get("/subjects/t/versions/latest").await, 404, 40401, "Subject 't' not found.");
    assert_eq!(s.get("/subjects/t/versions/latest?deleted=true").await.1["version"], 3);
    assert_error(s.post("/subjects/t", json!({"schema": v2})).await, 404, 40401, "Subject 't' not found.");
    assert_eq!(s.post("/subjects/t?deleted=true", json!({"schema": v2})).await.1["version"], 2);
    assert_eq!(s.delete("/subjects/t?permanent=true").await, (200, json!([2, 3])));
    assert_error(s.delete("/subjects/t?permanent=true").await, 404, 40401, "Subject 't' not found.");
    assert_eq!(s.get("/subjects?deleted=true").await, (200, json!([])));
    // After everything is gone, a new registration starts at version 1, with a fresh id for a new
    // schema and the old id for a schema seen before.
    assert_eq!(s.register("t", r#""bytes""#).await, (200, json!({"id": 4})));
    assert_eq!(s.get("/subjects/t/versions").await, (200, json!([1])));
    assert_eq!(s.register("t2", &v2).await, (200, json!({"id": 2})));
    s.stop().await;
}

#[tokio::test]
async fn modes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("registry.jsonl")).await;
    let v1 = record(r#"{"name":"a","type":"int"}"#);
    let v2 = record(r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#);
    assert_eq!(s.register("t", &v1).await.0, 200);
    assert_eq!(s.get("/mode").await, (200, json!({"mode": "READWRITE"})));
    assert_error(
        s.get("/mode/t").await,
        404,
        40409,
        "Subject 't' does not have subject-level mode configured",
    );
    assert_eq!(s.get("/mode/t?defaultToGlobal=true").await, (200, json!({"mode": "READWRITE"})));
    assert_error(s.put("/mode/t", json!({"mode": "SIDEWAYS"})).await, 422, 42204, "Invalid mode");

    assert_eq!(s.put("/mode/t", json!({"mode": "READONLY"})).await, (200, json!({"mode": "READONLY"})));
    assert_eq!(s.get("/mode/t").await, (200, json!({"mode": "READONLY"})));
    assert_eq!(s.register("t", &v1).await, (200, json!({"id": 1})), "known schemas still resolve");
    assert_error(s.register("t", &v2).await, 422, 42205, "Subject t is in read-only mode");
    assert_error(s.delete("/subjects/t").await, 422, 42205, "read-only");
    assert_error(s.put("/config/t", json!({"compatibility": "NONE"})).await, 422, 42205, "read-only");
    assert_eq!(s.register("other", &v2).await.0, 200, "other subjects are unaffected");
    assert_eq!(s.delete("/mode/t").await, (200, json!({"mode": "READONLY"})));
    assert_error(s.delete("/mode/t").await, 404, 40401, "Subject 't' not found.");
    assert_eq!(s.register("t", &v2).await.0, 200);

    // Global read-only.
    assert_eq!(s.put("/mode", json!({"mode": "READONLY"})).await, (200, json!({"mode": "READONLY"})));
    assert_error(s.register("x", &v1).await, 422, 42205, "read-only");
    assert_eq!(s.delete("/mode").await, (200, json!({"mode": "READONLY"})));
    assert_eq!(s.get("/mode").await, (200, json!({"mode": "READWRITE"})));

    // IMPORT: only for empty subjects (unless forced), registrations carry id and version.
    assert_error(s.put("/mode/t", json!({"mode": "IMPORT"})).await, 422, 42205, "Cannot import");
    assert_eq!(s.put("/mode/imp", json!({"mode": "IMPORT"})).await, (200, json!({"mode": "IMPORT"})));
    assert_error(s.register("imp", &v1).await, 422, 42205, "not in read-write mode");
    let body = json!({"schema": r#""double""#, "id": 50, "version": 4});
    assert_eq!(s.post("/subjects/imp/versions", body).await, (200, json!({"id": 50})));
    assert_eq!(s.get("/subjects/imp/versions").await, (200, json!([4])));
    assert_error(
        s.post("/subjects/imp/versions", json!({"schema": r#""float""#, "id": 1, "version": 5})).await,
        422,
        42205,
        "Overwrite new schema with id 1",
    );
    assert_error(
        s.post("/subjects/t/versions", json!({"schema": r#""float""#, "id": 60})).await,
        422,
        42205,
        "not in import mode",
    );
    assert_eq!(s.put("/mode/imp", json!({"mode": "READWRITE"})).await.0, 200);
    assert_eq!(
        s.register("later", r#""boolean""#).await,
        (200, json!({"id": 51})),
        "ids continue after imports"
    );
    s.stop().await;
}

#[tokio::test]
async fn restarting_with_the_same_file_keeps_ids_versions_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.jsonl");
    let v1 = record(r#"{"name":"a","type":"int"}"#);
    let v2 = record(r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#);
    let s = Server::start(&file).await;
    assert_eq!(s.register("t", &v1).await, (200, json!({"id": 1})));
    assert_eq!(s.register("t", &v2).await, (200, json!({"id": 2})));
    assert_eq!(s.register("u", r#""string""#).await, (200, json!({"id": 3})));
    s.put("/config/t", json!({"compatibility": "FULL"})).await;
    s.put("/mode/u", json!({"mode": "READONLY"})).await;
    s.delete("/subjects/t/versions/1").await;
    // While it runs, nobody else may open the file.
    let err = FileLog::open(&file).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    s.stop().await;

    let s = Server::start(&file).await;
    assert_eq!(s.get("/subjects/t/versions").await, (200, json!([2])));
    assert_eq!(s.get("/subjects/t/versions?deleted=true").await, (200, json!([1, 2])));
    assert_eq!(s.get("/subjects/t/versions/2").await.1["id"], 2);
    assert_eq!(s.get("/schemas/ids/3").await, (200, json!({"schema": r#""string""#})));
    assert_eq!(s.get("/config/t").await, (200, json!({"compatibilityLevel": "FULL"})));
    assert_eq!(s.get("/mode/u").await, (200, json!({"mode": "READONLY"})));
    assert_eq!(s.register("t", &v2).await, (200, json!({"id": 2})));
    assert_eq!(s.register("v", r#""long""#).await, (200, json!({"id": 4})), "the next id continues");
    s.delete("/subjects/v").await;
    s.delete("/subjects/v?permanent=true").await;
    s.stop().await;

    let s = Server::start(&file).await;
    assert_eq!(s.register("w", r#""float""#).await, (200, json!({"id": 5})), "ids are never reused");
    s.stop().await;
}

#[tokio::test]
async fn debezium_customers_schemas_register_evolve_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("registry.jsonl")).await;
    let value_subject = "PostgreSQL_server.public.customers-value";
    let key_subject = "PostgreSQL_server.public.customers-key";
    // As AvroConverter posts it.
    let (status, body) = s
        .post(
            &format!("/subjects/{value_subject}/versions?normalize=false"),
            json!({"schema": CUSTOMERS_VALUE}),
        )
        .await;
    assert_eq!((status, &body), (200, &json!({"id": 1})));
    assert_eq!(s.register(key_subject, CUSTOMERS_KEY).await, (200, json!({"id": 2})));
    assert_eq!(s.register(value_subject, CUSTOMERS_VALUE).await, (200, json!({"id": 1})));

    let (status, found) =
        s.post(&format!("/subjects/{value_subject}"), json!({"schema": CUSTOMERS_VALUE})).await;
    assert_eq!(status, 200);
    assert_eq!(found["id"], 1);
    assert_eq!(found["version"], 1);
    let stored = found["schema"].as_str().unwrap();
    assert_eq!(stored, canonical(CUSTOMERS_VALUE));
    assert!(stored.contains(r#""connect.parameters":{"allowed":"true,first,first_in_data_collection"#));
    let (_, by_id) = s.get("/schemas/ids/1").await;
    assert_eq!(by_id["schema"], stored);

    // In process, without HTTP, the publisher gets the same ids.
    assert_eq!(s.registry.register(value_subject, CUSTOMERS_VALUE).await.unwrap(), 1);
    assert_eq!(s.registry.register(value_subject, stored).await.unwrap(), 1);
    assert_eq!(s.registry.register(key_subject, CUSTOMERS_KEY).await.unwrap(), 2);

    // ALTER TABLE customers ADD COLUMN phone text: a nullable field with default null.
    let old_tail = r#"{"name": "email", "type": "string"}]"#;
    assert!(CUSTOMERS_VALUE.contains(old_tail));
    let nullable = CUSTOMERS_VALUE.replacen(
        old_tail,
        r#"{"name": "email", "type": "string"}, {"name": "phone", "type": ["null", "string"], "default": null}]"#,
        1,
    );
    assert_eq!(s.register(value_subject, &nullable).await, (200, json!({"id": 3})));
    assert_eq!(s.get(&format!("/subjects/{value_subject}/versions")).await, (200, json!([1, 2])));
    // ADD COLUMN vip boolean NOT NULL without a default: refused under BACKWARD.
    let required = nullable.replacen(
        r#"{"name": "phone", "type": ["null", "string"], "default": null}]"#,
        r#"{"name": "phone", "type": ["null", "string"], "default": null}, {"name": "vip", "type": "boolean"}]"#,
        1,
    );
    let (status, body) = s.register(value_subject, &required).await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("'vip'") && message.contains("before.vip"), "{message}");
    let err = s.registry.register(value_subject, &required).await.unwrap_err();
    assert_eq!(err.error_code(), 40901);
    s.stop().await;
}
