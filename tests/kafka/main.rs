//! The Kafka layer against a real Kafka-protocol broker (Tansu, see `sluice_tests::kafka`).
//!
//! Tansu features these tests rely on: CreateTopics with partition counts and topic configs
//! (read back with DescribeConfigs), Metadata, idempotent Produce with acks=all and correct record
//! offsets, Fetch by assignment (no consumer groups), record headers and null values. Each test
//! starts its own broker with memory storage. Not relied on: high watermarks (Tansu reports wrong
//! ones), consumer groups (slow first join), transactions (unsupported), log compaction actually
//! running, durability across a broker restart (memory storage loses everything; the outage tests
//! either freeze the broker with SIGSTOP or re-create the topic after a restart).

mod connect_client;
mod connect_debezium;
mod connect_shapes;
mod delta_sink;
mod pipeline;
mod rest;
mod worker_state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice_kafka::{
    DeliveryTracker, FileOffsetStore, KafkaOffsetStore, KafkaSchemaLog, OffsetStore, OutRecord, Producer,
    ProducerSettings, TopicAdmin, TopicCreation, connect_offset_key, partition_for_key,
};
use sluice_registry::{LogRecord, SchemaLog};
use sluice_tests::init_tracing;
use sluice_tests::kafka::{Broker, Record};

const QUIET: Duration = Duration::from_secs(3);

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn producer<M: Send + 'static>(broker: &Broker, overrides: &[(&str, &str)]) -> Producer<M> {
    let mut config = broker.config();
    // Notice a frozen broker within seconds rather than the default minute.
    config.client.insert("socket.timeout.ms".into(), "2000".into());
    if let Ok(d) = std::env::var("SLUICE_RDKAFKA_DEBUG") {
        config.client.insert("debug".into(), d);
    }
    let settings = ProducerSettings { overrides: props(overrides) };
    Producer::new(&config, &settings, DeliveryTracker::new()).expect("producer")
}

async fn marks<M: Send + 'static>(tracker: &DeliveryTracker<M>, within: Duration) -> Option<Vec<M>> {
    tokio::time::timeout(within, tracker.delivered_marks()).await.ok().map(|r| r.expect("no delivery error"))
}

/// Waits until `n` marks have completed, collecting them in order.
async fn all_marks<M: Send + 'static>(tracker: &DeliveryTracker<M>, n: usize, within: Duration) -> Vec<M> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        let got = tokio::time::timeout_at(deadline, tracker.delivered_marks())
            .await
            .expect("marks complete in time")
            .expect("no delivery error");
        out.extend(got);
    }
    out
}

fn text(bytes: &Option<Vec<u8>>) -> &str {
    std::str::from_utf8(bytes.as_deref().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_delivered_in_order_per_partition_where_java_would_put_them() {
    init_tracing();
    let broker = Broker::start().unwrap();
    broker.create_topic("orders", 3, &[]).await.unwrap();
    let p: Producer<u32> = producer(&broker, &[]);
    let n = 300;
    for i in 0..n {
        let key = format!("order-{}", i % 17);
        let value = format!("{i}");
        let headers: [(&str, Option<&[u8]>); 2] = [("seq", Some(value.as_bytes())), ("nothing", None)];
        p.send(OutRecord {
            topic: "orders",
            key: Some(key.as_bytes()),
            value: Some(value.as_bytes()),
            headers: &headers,
        })
        .await
        .unwrap();
        if i % 50 == 49 {
            p.tracker().mark(i);
        }
    }
    p.send(OutRecord { topic: "orders", key: Some(b"order-1"), value: None, headers: &[] }).await.unwrap();
    p.tracker().mark(n);
    assert_eq!(
        all_marks(p.tracker(), 7, Duration::from_secs(30)).await,
        vec![49, 99, 149, 199, 249, 299, 300]
    );
    assert_eq!(p.tracker().in_flight(), 0);

    let records = broker.read_all("orders", 3, Some(n as usize + 1), QUIET).await.unwrap();
    assert_eq!(records.len(), n as usize + 1);
    let mut last_value: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &records {
        let key = text(&r.key).to_owned();
        // Kafka's default partitioner for keyed records.
        assert_eq!(r.partition, partition_for_key(key.as_bytes(), 3), "{key}");
        assert!(last_offset.insert(r.partition, r.offset).is_none_or(|prev| prev < r.offset));
        match &r.value {
            None => assert_eq!((key.as_str(), r.headers.len()), ("order-1", 0)),
            Some(_) => {
                let v: i64 = text(&r.value).parse().unwrap();
                assert!(last_value.insert(key, v).is_none_or(|prev| prev < v), "per-key order");
                assert_eq!(
                    r.headers,
                    vec![("seq".to_owned(), Some(v.to_string().into_bytes())), ("nothing".to_owned(), None)]
                );
            }
        }
    }
    assert_eq!(last_value.len(), 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_partitions_keys_exactly_as_the_java_client() {
    init_tracing();
    let broker = Broker::start().unwrap();
    broker.create_topic("spread", 7, &[]).await.unwrap();
    let p: Producer<()> = producer(&broker, &[("linger.ms", "20")]);
    let keys: Vec<String> = (0..1000).map(|i| format!("{{\"id\":{i}}}")).collect();
    for k in &keys {
        p.send(OutRecord { topic: "spread", key: Some(k.as_bytes()), value: Some(b"v"), headers: &[] })
            .await
            .unwrap();
    }
    p.tracker().mark(());
    all_marks(p.tracker(), 1, Duration::from_secs(30)).await;
    let records = broker.read_all("spread", 7, Some(keys.len()), QUIET).await.unwrap();
    assert_eq!(records.len(), keys.len());
    let mut used = std::collections::BTreeSet::new();
    for r in records {
        let key = r.key.unwrap();
        assert_eq!(r.partition, partition_for_key(&key, 7), "{}", String::from_utf8_lossy(&key));
        used.insert(r.partition);
    }
    assert_eq!(used.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_holds_records_and_deliveries_resume_without_duplicates() {
    init_tracing();
    let broker = Broker::start().unwrap();
    broker.create_topic("t", 2, &[]).await.unwrap();
    let p: Producer<&'static str> = producer(&broker, &[]);
    // Warm up: connections and producer id established.
    p.send(OutRecord { topic: "t", key: Some(b"k"), value: Some(b"0"), headers: &[] }).await.unwrap();
    p.tracker().mark("warm");
    assert_eq!(all_marks(p.tracker(), 1, Duration::from_secs(30)).await, vec!["warm"]);

    broker.pause().unwrap();
    for i in 0..10 {
        let key = format!("k{i}");
        p.send(OutRecord { topic: "t", key: Some(key.as_bytes()), value: Some(b"x"), headers: &[] })
            .await
            .unwrap();
    }
    p.tracker().mark("frozen");
    // Longer than socket.timeout.ms: requests time out and are retried, records stay queued.
    assert!(marks(p.tracker(), Duration::from_secs(5)).await.is_none(), "no ack from a frozen broker");
    assert_eq!(p.tracker().in_flight(), 10);
    assert!(p.tracker().failure().is_none(), "an outage does not fail records");
    let status = p.broker_status().expect("the outage is reported");
    // Which of librdkafka's reports comes first depends on timing: a request timing out, or the
    // broker given up as down.
    let status_lower = status.to_lowercase();
    assert!(status_lower.contains("timed out") || status_lower.contains("brokers are down"), "{status}");
    broker.resume().unwrap();
    assert_eq!(all_marks(p.tracker(), 1, Duration::from_secs(60)).await, vec!["frozen"]);
    assert_eq!(p.tracker().in_flight(), 0);
    assert_eq!(p.broker_status(), None, "cleared by the next acknowledgement");
    // Idempotence: the retried requests did not duplicate anything.
    let records = broker.read_all("t", 2, None, QUIET).await.unwrap();
    assert_eq!(records.len(), 11, "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_holds_send_back_until_the_broker_drains_it() {
    init_tracing();
    let broker = Broker::start().unwrap();
    broker.create_topic("t", 1, &[]).await.unwrap();
    let p: Arc<Producer<usize>> = Arc::new(producer(&broker, &[("queue.buffering.max.messages", "5")]));
    p.send(OutRecord { topic: "t", key: Some(b"k"), value: Some(b"warm"), headers: &[] }).await.unwrap();
    p.tracker().mark(0);
    all_marks(p.tracker(), 1, Duration::from_secs(30)).await;

    broker.pause().unwrap();
    let sender = {
        let p = Arc::clone(&p);
        tokio::spawn(async move {
            for i in 1..=20usize {
                let value = i.to_string();
                p.send(OutRecord {
                    topic: "t",
                    key: Some(b"k"),
                    value: Some(value.as_bytes()),
                    headers: &[],
                })
                .await
                .unwrap();
            }
            p.tracker().mark(20);
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!sender.is_finished(), "send must wait while librdkafka's queue is full");
    let in_flight = p.tracker().in_flight();
    assert!((5..=6).contains(&in_flight), "queue bounded at 5 (+1 waiting): {in_flight}");
    broker.resume().unwrap();
    tokio::time::timeout(Duration::from_secs(60), sender).await.unwrap().unwrap();
    assert_eq!(all_marks(p.tracker(), 1, Duration::from_secs(60)).await, vec![20]);
    let records = broker.read_all("t", 1, Some(21), QUIET).await.unwrap();
    let values: Vec<&str> = records.iter().map(|r| text(&r.value)).collect();
    let expected: Vec<String> =
        std::iter::once("warm".to_owned()).chain((1..=20).map(|i| i.to_string())).collect();
    assert_eq!(values, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_holds_records_and_a_restarted_connector_resends_them() {
    init_tracing();
    let broker = Broker::start().unwrap();
    broker.create_topic("t", 1, &[]).await.unwrap();
    let p: Producer<&'static str> = producer(&broker, &[]);
    p.send(OutRecord { topic: "t", key: Some(b"k"), value: Some(b"before"), headers: &[] }).await.unwrap();
    p.tracker().mark("before");
    assert_eq!(all_marks(p.tracker(), 1, Duration::from_secs(30)).await, vec!["before"]);
    assert_eq!(p.broker_status(), None);

    broker.stop();
    let during: Vec<String> = (0..5).map(|i| format!("during-{i}")).collect();
    for value in &during {
        p.send(OutRecord { topic: "t", key: Some(b"k"), value: Some(value.as_bytes()), headers: &[] })
            .await
            .unwrap();
    }
    p.tracker().mark("during");
    assert!(marks(p.tracker(), Duration::from_secs(3)).await.is_none());
    assert_eq!(p.tracker().in_flight(), 5);
    assert!(p.tracker().failure().is_none(), "an outage does not fail records");
    let status = p.broker_status().expect("the outage is reported");
    assert!(status.contains("brokers are down") || status.contains("refused"), "{status}");

    // Tansu's memory storage comes back empty (no topic, no producer ids): re-create the topic.
    broker.start_again().unwrap();
    broker.create_topic("t", 1, &[]).await.unwrap();
    let tracker = p.tracker().clone();
    match marks(&tracker, Duration::from_secs(10)).await {
        // A broker that kept its state (real Kafka) accepts the held records.
        Some(m) => assert_eq!(m, vec!["during"]),
        // Tansu forgot the producer id and keeps refusing it: nothing may be confirmed then.
        None => {
            assert_eq!(tracker.in_flight(), 5);
            assert_eq!(broker.read_all("t", 1, None, Duration::from_secs(1)).await.unwrap(), vec![]);
            // The supervisor restarts the connector from its last confirmed position ("before"):
            // the old producer's unacknowledged records fail, a new producer sends them again.
            drop(p);
            assert!(tracker.delivered_marks().await.is_err(), "purged records fail the old tracker");
            let p2: Producer<&'static str> = producer(&broker, &[]);
            for value in &during {
                p2.send(OutRecord {
                    topic: "t",
                    key: Some(b"k"),
                    value: Some(value.as_bytes()),
                    headers: &[],
                })
                .await
                .unwrap();
            }
            p2.tracker().mark("during");
            assert_eq!(all_marks(p2.tracker(), 1, Duration::from_secs(30)).await, vec!["during"]);
            assert_eq!(p2.broker_status(), None);
        }
    }
    let records = broker.read_all("t", 1, Some(5), QUIET).await.unwrap();
    let values: Vec<&str> = records.iter().map(|r| text(&r.value)).collect();
    assert_eq!(values, during);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_from_topic_creation_properties() {
    init_tracing();
    let broker = Broker::start().unwrap();
    let creation = TopicCreation::from_connector_properties(&props(&[
        ("topic.creation.default.replication.factor", "1"),
        ("topic.creation.default.partitions", "2"),
        ("topic.creation.default.retention.ms", "86400000"),
        ("topic.creation.groups", "compacted"),
        ("topic.creation.compacted.include", "srv\\.public\\.dim_.*"),
        ("topic.creation.compacted.partitions", "4"),
        ("topic.creation.compacted.cleanup.policy", "compact"),
        ("topic.creation.compacted.min.compaction.lag.ms", "60000"),
    ]))
    .unwrap()
    .unwrap();
    let admin = TopicAdmin::new(&broker.config()).unwrap();
    for topic in ["srv.public.orders", "srv.public.dim_customer"] {
        admin.ensure_topic(topic, creation.settings_for(topic)).await.unwrap();
        // Known topics are not created again; creating an existing topic is not an error.
        admin.ensure_topic(topic, creation.settings_for(topic)).await.unwrap();
    }
    assert_eq!(admin.partition_count("srv.public.orders").await.unwrap(), 2);
    assert_eq!(broker.partition_count("srv.public.orders").unwrap(), 2);
    assert_eq!(admin.partition_count("srv.public.dim_customer").await.unwrap(), 4);
    let orders = broker.topic_configs("srv.public.orders").await.unwrap();
    assert_eq!(orders.get("retention.ms").map(String::as_str), Some("86400000"), "{orders:?}");
    assert_ne!(orders.get("cleanup.policy").map(String::as_str), Some("compact"));
    let dim = broker.topic_configs("srv.public.dim_customer").await.unwrap();
    assert_eq!(dim.get("cleanup.policy").map(String::as_str), Some("compact"), "{dim:?}");
    assert_eq!(dim.get("min.compaction.lag.ms").map(String::as_str), Some("60000"), "{dim:?}");

    // An existing topic is left as it is.
    broker.create_topic("srv.public.dim_existing", 1, &[]).await.unwrap();
    let fresh = TopicAdmin::new(&broker.config()).unwrap();
    fresh
        .ensure_topic("srv.public.dim_existing", creation.settings_for("srv.public.dim_existing"))
        .await
        .unwrap();
    assert_eq!(fresh.partition_count("srv.public.dim_existing").await.unwrap(), 1);

    let missing = fresh.partition_count("no.such.topic").await.unwrap_err();
    assert_eq!(missing.code(), Some(rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition), "{missing}");
    assert_eq!(broker.partition_count("no.such.topic").unwrap(), 0, "metadata must not auto-create topics");
}

/// What every offset store must do.
async fn exercise_offset_store(open: impl AsyncFn() -> Box<dyn OffsetStore>) {
    let store = open().await;
    let inventory = connect_offset_key("inventory", &json!({"server": "dbserver1"}));
    let other = connect_offset_key("other", &json!({"server": "dbserver2"}));
    assert_eq!(store.load(&inventory).await.unwrap(), None);
    store.save(&inventory, &json!({"lsn": 100, "txId": 5})).await.unwrap();
    store.save(&inventory, &json!({"lsn_proc": 200, "lsn": 200, "txId": 6, "ts_usec": 1})).await.unwrap();
    store.save(&other, &json!({"lsn": 7})).await.unwrap();
    assert_eq!(store.load(&other).await.unwrap(), Some(json!({"lsn": 7})));
    drop(store);
    let fresh = open().await;
    assert_eq!(
        fresh.load(&inventory).await.unwrap(),
        Some(json!({"lsn_proc": 200, "lsn": 200, "txId": 6, "ts_usec": 1}))
    );
    assert_eq!(fresh.load(&other).await.unwrap(), Some(json!({"lsn": 7})));
    assert_eq!(fresh.load(&connect_offset_key("nobody", &json!({"server": "x"}))).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_offsets_survive_a_fresh_store() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offsets.json");
    exercise_offset_store(async || Box::new(FileOffsetStore::new(&path)) as Box<dyn OffsetStore>).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_offsets_are_stored_as_kafka_connect_stores_them() {
    init_tracing();
    let broker = Broker::start().unwrap();
    let mut config = broker.config();
    config.offsets_topic = "my-connect-offsets".into();
    config.offsets_partitions = 5;
    exercise_offset_store(async || {
        Box::new(KafkaOffsetStore::open(&config).await.unwrap()) as Box<dyn OffsetStore>
    })
    .await;
    assert_eq!(broker.partition_count("my-connect-offsets").unwrap(), 5);
    let configs = broker.topic_configs("my-connect-offsets").await.unwrap();
    assert_eq!(configs.get("cleanup.policy").map(String::as_str), Some("compact"));

    // The bytes and partition Kafka Connect's KafkaOffsetBackingStore would use.
    let key = br#"["inventory",{"server":"dbserver1"}]"#;
    let records = broker.read_all("my-connect-offsets", 5, None, QUIET).await.unwrap();
    let ours: Vec<&Record> = records.iter().filter(|r| r.key.as_deref() == Some(&key[..])).collect();
    assert_eq!(ours.len(), 2, "{records:?}");
    assert!(ours.iter().all(|r| r.partition == partition_for_key(key, 5)));
    assert_eq!(text(&ours[1].value), r#"{"lsn_proc":200,"lsn":200,"txId":6,"ts_usec":1}"#);

    // A tombstone written by anyone deletes the offset.
    let partition = partition_for_key(key, 5);
    let tombstone = rdkafka::producer::BaseRecord::<[u8], [u8]>::to("my-connect-offsets").key(&key[..]);
    let raw: rdkafka::producer::BaseProducer = broker.client_config().create().unwrap();
    raw.send(tombstone.partition(partition)).map_err(|(e, _)| e).unwrap();
    rdkafka::producer::Producer::flush(&raw, Duration::from_secs(10)).unwrap();
    let store = KafkaOffsetStore::open(&config).await.unwrap();
    let inventory = connect_offset_key("inventory", &json!({"server": "dbserver1"}));
    assert_eq!(store.load(&inventory).await.unwrap(), None);
}

fn entry(key: &str, value: Option<&str>) -> LogRecord {
    LogRecord { key: key.as_bytes().to_vec(), value: value.map(|v| v.as_bytes().to_vec()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schema_logs_share_one_ordered_log() {
    init_tracing();
    let broker = Broker::start().unwrap();
    let config = broker.config();
    let a = KafkaSchemaLog::open(&config).await.unwrap();
    let b = KafkaSchemaLog::open(&config).await.unwrap();
    assert_eq!(broker.partition_count("_schemas").unwrap(), 1);
    assert_eq!(
        broker.topic_configs("_schemas").await.unwrap().get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(a.catch_up().await.unwrap(), vec![]);

    let k1 = r#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#;
    let v1 = r#"{"subject":"t-value","version":1,"id":1,"schema":"\"string\"","deleted":false}"#;
    let k2 = r#"{"keytype":"CONFIG","subject":null,"magic":0}"#;
    let v2 = r#"{"compatibilityLevel":"BACKWARD"}"#;
    let k3 = r#"{"keytype":"SCHEMA","subject":"u-value","version":1,"magic":1}"#;
    let v3 = r#"{"subject":"u-value","version":1,"id":2,"schema":"\"long\"","deleted":false}"#;
    a.append(vec![entry(k1, Some(v1)), entry(k2, Some(v2))]).await.unwrap();
    b.append(vec![entry(k3, Some(v3))]).await.unwrap();
    let expected = vec![entry(k1, Some(v1)), entry(k2, Some(v2)), entry(k3, Some(v3))];
    assert_eq!(b.catch_up().await.unwrap(), expected);
    assert_eq!(a.catch_up().await.unwrap(), expected);
    assert_eq!(a.catch_up().await.unwrap(), vec![], "only what is new since the previous call");

    // Concurrent appends from both: whatever the interleaving, both read the same order.
    let (ra, rb) = tokio::join!(
        async {
            for i in 0..10 {
                a.append(vec![entry(&format!(r#"{{"a":{i}}}"#), Some("x"))]).await.unwrap();
            }
        },
        async {
            for i in 0..10 {
                b.append(vec![entry(&format!(r#"{{"b":{i}}}"#), Some("y"))]).await.unwrap();
            }
        }
    );
    let _ = (ra, rb);
    a.append(vec![entry(k1, None)]).await.unwrap();
    let seen_a = a.catch_up().await.unwrap();
    let seen_b = b.catch_up().await.unwrap();
    assert_eq!(seen_a.len(), 21);
    assert_eq!(seen_a, seen_b);
    assert_eq!(seen_a.last(), Some(&entry(k1, None)), "a tombstone is an entry with no value");

    // A third instance reads the whole log from the start, NOOPs left out.
    let c = KafkaSchemaLog::open(&config).await.unwrap();
    let all = c.catch_up().await.unwrap();
    assert_eq!(all.len(), 24);
    assert_eq!(&all[..3], &expected[..]);
}
