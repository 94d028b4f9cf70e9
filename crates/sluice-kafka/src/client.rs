//! librdkafka clients as sluice builds them: settings in order of precedence, logs into tracing.
//!
//! Every client starts from sluice's defaults for its kind, then the worker's shared settings, then
//! the worker's per-kind settings (`producer.*`, `consumer.*`, `admin.*`), then any connector
//! overrides, and finally the settings sluice's guarantees depend on. librdkafka's own log lines go
//! to `tracing` under the `librdkafka` target; transport errors are reported once by whoever uses
//! the client (the producer's broker status, or the error of the operation that failed).

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as ClientError;

use crate::config::KafkaConfig;

/// Assembles a client configuration: `defaults`, the worker's shared settings, `role` (the
/// worker's per-kind settings), `overrides`, then `fixed`.
pub(crate) fn client_config(
    config: &KafkaConfig,
    defaults: &[(&str, &str)],
    role: &BTreeMap<String, String>,
    overrides: Option<&BTreeMap<String, String>>,
    fixed: &[(&str, &str)],
) -> ClientConfig {
    let mut merged: BTreeMap<String, String> =
        defaults.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    merged.insert("bootstrap.servers".to_owned(), config.bootstrap_servers.clone());
    for (k, v) in config.client.iter().chain(role).chain(overrides.into_iter().flatten()) {
        merged.insert(k.clone(), v.clone());
    }
    for (k, v) in fixed {
        merged.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut cc: ClientConfig = merged.into_iter().collect();
    cc.set_log_level(if tracing::enabled!(target: "librdkafka", tracing::Level::DEBUG) {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Warning
    });
    cc
}

/// Forwards librdkafka's log lines to `tracing`. Errors are at debug level: the operation that
/// failed reports them once (connection refusals would otherwise repeat on every retry).
pub(crate) fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
            tracing::error!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Error | RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::debug!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::trace!(target: "librdkafka", facility, "{message}"),
    }
}

/// The context of sluice's admin clients and consumers: logs into tracing, nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QuietContext;

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: ClientError, reason: &str) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason}");
    }
}

impl ConsumerContext for QuietContext {}

/// rdkafka's async runtime hook, spawning through [`sluice_core::task::spawn_named`]: the only task
/// rdkafka starts is a stream consumer's periodic wake-up, which ends when the consumer is dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NamedRuntime;

impl rdkafka::util::AsyncRuntime for NamedRuntime {
    type Delay = tokio::time::Sleep;

    fn spawn<T>(task: T)
    where
        T: std::future::Future<Output = ()> + Send + 'static,
    {
        drop(sluice_core::task::spawn_named("kafka-consumer-wakeup", task));
    }

    fn delay_for(duration: std::time::Duration) -> Self::Delay {
        tokio::time::sleep(duration)
    }
}
