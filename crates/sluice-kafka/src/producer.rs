//! The idempotent producer whose acknowledgements drive source confirmations.
//!
//! Fixed settings (overrides that would weaken them are refused in [`crate::config`]):
//! `enable.idempotence=true` and `acks=all` (a record is acknowledged once every in-sync replica has
//! it, and retries neither duplicate nor reorder it), `partitioner=murmur2_random` (keyed records
//! land where the Java producer would put them; null keys are spread at random), and
//! `message.timeout.ms=0`: librdkafka holds and retries records for as long as the cluster is away
//! instead of failing them, so a broker outage stops acknowledgements and, through the bounded
//! queue, stops [`Producer::send`] — backpressure all the way to the replication slot. A connector
//! may still set `producer.override.delivery.timeout.ms`; expired records then fail the tracker
//! and the connector restarts from its last confirmed position (nothing is lost).
//!
//! Defaults (each overridable through the worker's `producer.*` or the connector's
//! `producer.override.*`): `linger.ms=5`, `batch.size=1000000`, `compression.type=none`, and a
//! queue bounded at `queue.buffering.max.messages=100000` records and
//! `queue.buffering.max.kbytes=32768` (32 MiB, the Java producer's `buffer.memory` default).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use sluice_core::ErrorClass;

use crate::client::{client_config, forward_log};
use crate::config::{KafkaConfig, ProducerSettings};
use crate::delivery::DeliveryTracker;
use crate::error::KafkaError;

/// Sequence numbers travel through librdkafka as the `usize` delivery opaque.
const _: () = assert!(usize::BITS >= 64, "sequence numbers must fit the delivery opaque");

/// sluice's producer defaults, applied before any user setting.
const DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "sluice"),
    ("linger.ms", "5"),
    ("batch.size", "1000000"),
    ("compression.type", "none"),
    ("queue.buffering.max.messages", "100000"),
    ("queue.buffering.max.kbytes", "32768"),
    ("max.in.flight.requests.per.connection", "5"),
    ("message.timeout.ms", "0"),
];

/// Settings sluice's guarantees rest on, applied last.
const FIXED: &[(&str, &str)] =
    &[("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2_random")];

/// The longest pause between attempts to enqueue into a full librdkafka queue.
const MAX_QUEUE_BACKOFF: Duration = Duration::from_millis(50);

/// One record to send. Bytes are copied into librdkafka, so the borrow ends when `send` returns.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The key; `None` for a null key (partition chosen at random).
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Record headers in order (a `None` value is a null header).
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

/// An idempotent, acks=all producer reporting every delivery to a [`DeliveryTracker`]. Dropping it
/// purges records not yet acknowledged (they fail the tracker) and blocks for up to about half a
/// second while librdkafka reports them.
pub struct Producer<M: Send + 'static> {
    inner: ThreadedProducer<DeliveryContext<M>>,
    tracker: DeliveryTracker<M>,
    status: Arc<BrokerStatus>,
    /// Keeps numbering and enqueueing in one order when several tasks send.
    order: tokio::sync::Mutex<()>,
}

impl<M: Send + 'static> std::fmt::Debug for Producer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("tracker", &self.tracker)
            .field("broker_status", &self.broker_status())
            .finish()
    }
}

impl<M: Send + 'static> Producer<M> {
    /// Creates the producer (librdkafka starts connecting in the background; nothing fails here
    /// when the cluster is unreachable). Its polling thread runs until the producer is dropped.
    pub fn new(
        config: &KafkaConfig,
        settings: &ProducerSettings,
        tracker: DeliveryTracker<M>,
    ) -> Result<Producer<M>, KafkaError> {
        let cc = client_config(config, DEFAULTS, &config.producer, Some(&settings.overrides), FIXED);
        let status = Arc::new(BrokerStatus::default());
        let context = DeliveryContext { tracker: tracker.clone(), status: Arc::clone(&status) };
        let inner = ThreadedProducer::from_config_and_context(&cc, context)
            .map_err(|e| KafkaError::client("creating the Kafka producer", e))?;
        Ok(Producer { inner, tracker, status, order: tokio::sync::Mutex::new(()) })
    }

    /// Hands `record` to librdkafka. While its queue is full (the cluster is slow or away), waits
    /// with a short backoff: that is the backpressure. Returns once the record is enqueued; its
    /// acknowledgement arrives through the tracker. Fails at once after a delivery failure (the
    /// caller must restart from its last durable position). Cancelling a send that is waiting for
    /// queue space fails the tracker too, since records after the abandoned one could otherwise be
    /// confirmed without it.
    pub async fn send(&self, record: OutRecord<'_>) -> Result<(), KafkaError> {
        if let Some(e) = self.tracker.failure() {
            return Err(e);
        }
        let _order = self.order.lock().await;
        let seq = self.tracker.next_seq();
        let mut pending = Abandon { tracker: &self.tracker, seq: Some(seq) };
        let mut base = BaseRecord::<[u8], [u8], usize>::with_opaque_to(record.topic, seq as usize);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        if !record.headers.is_empty() {
            let headers = record
                .headers
                .iter()
                .fold(OwnedHeaders::new_with_capacity(record.headers.len()), |h, (key, value)| {
                    h.insert(Header { key, value: *value })
                });
            base = base.headers(headers);
        }
        let mut backoff = Duration::from_millis(1);
        loop {
            match self.inner.send(base) {
                Ok(()) => {
                    pending.seq = None;
                    return Ok(());
                }
                Err((ClientError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    base = returned;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_QUEUE_BACKOFF);
                }
                Err((e, _)) => {
                    pending.seq = None;
                    let error =
                        KafkaError::client(format!("sending a record to topic '{}'", record.topic), e);
                    self.tracker.delivered(seq, Err(error.clone()));
                    return Err(error);
                }
            }
        }
    }

    /// Waits up to `timeout` for every enqueued record to be acknowledged or failed (blocking the
    /// calling thread; from async code prefer waiting on the tracker's marks).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout).map_err(|e| match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::OperationTimedOut) => {
                KafkaError::Timeout { what: "flushing the Kafka producer".to_owned(), timeout }
            }
            _ => KafkaError::client("flushing the Kafka producer", e),
        })
    }

    /// The latest problem reaching the cluster (e.g. "1/1 brokers are down"), for connector status;
    /// `None` once a record was acknowledged after it.
    pub fn broker_status(&self) -> Option<String> {
        self.status.current()
    }

    /// The tracker this producer reports deliveries to.
    pub fn tracker(&self) -> &DeliveryTracker<M> {
        &self.tracker
    }
}

/// Fails the tracker for a numbered record that never reached librdkafka (its send was dropped).
struct Abandon<'a, M: Send + 'static> {
    tracker: &'a DeliveryTracker<M>,
    seq: Option<u64>,
}

impl<M: Send + 'static> Drop for Abandon<'_, M> {
    fn drop(&mut self) {
        if let Some(seq) = self.seq {
            self.tracker.delivered(seq, Err(KafkaError::Abandoned));
        }
    }
}

/// The latest cluster-level problem librdkafka reported. Each kind of problem (error code) is
/// logged once per outage, not on every reconnection attempt; the outage ends with the next
/// acknowledged record.
#[derive(Debug, Default)]
struct BrokerStatus {
    outage: Mutex<Outage>,
    /// Whether an outage is under way, readable on every delivery without the lock.
    troubled: AtomicBool,
}

#[derive(Debug, Default)]
struct Outage {
    /// The latest problem.
    latest: Option<(RDKafkaErrorCode, String)>,
    /// The kinds of problem already logged during this outage.
    logged: Vec<RDKafkaErrorCode>,
}

impl BrokerStatus {
    fn report(&self, code: RDKafkaErrorCode, reason: &str) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if !outage.logged.contains(&code) {
            tracing::warn!(code = ?code, "Kafka cluster problem: {reason}");
            outage.logged.push(code);
        }
        outage.latest = Some((code, reason.to_owned()));
        self.troubled.store(true, Ordering::Release);
    }

    fn delivered(&self) {
        if self.troubled.swap(false, Ordering::AcqRel) {
            let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
            if outage.latest.take().is_some() {
                tracing::info!("Kafka cluster acknowledges records again");
            }
            outage.logged.clear();
        }
    }

    fn current(&self) -> Option<String> {
        let outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        outage.latest.as_ref().map(|(code, reason)| format!("{reason} ({code:?})"))
    }
}

/// Routes librdkafka's delivery reports to the tracker and its errors to the broker status.
struct DeliveryContext<M: Send + 'static> {
    tracker: DeliveryTracker<M>,
    status: Arc<BrokerStatus>,
}

impl<M: Send + 'static> ClientContext for DeliveryContext<M> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // A broker that accepts connections but does not answer (overloaded, frozen) produces no
        // error callback, only request time-outs.
        if facility == "REQTMOUT" {
            self.status.report(RDKafkaErrorCode::RequestTimedOut, message);
        }
        forward_log(level, facility, message);
    }

    fn error(&self, error: ClientError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Unknown);
        self.status.report(code, reason);
        // A fatal idempotence error, refused credentials or TLS: records would wait forever.
        let error = KafkaError::client(format!("the Kafka producer: {reason}"), error);
        if matches!(code, RDKafkaErrorCode::Fatal | RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
            && error.class() == ErrorClass::Definite
        {
            self.tracker.fail(error);
        }
    }
}

impl<M: Send + 'static> ProducerContext for DeliveryContext<M> {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let seq = seq as u64;
        match result {
            Ok(message) => {
                self.status.delivered();
                self.tracker.delivered(seq, Ok((message.partition(), message.offset())));
            }
            Err((error, message)) => {
                let context = format!("delivering a record to topic '{}'", message.topic());
                self.tracker.delivered(seq, Err(KafkaError::client(context, error.clone())));
            }
        }
    }
}
