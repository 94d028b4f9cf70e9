//! The Kafka layer's error type, classified for supervisors.
//!
//! Broker and transport trouble (a broker down, a leader moving, a request timing out) is retryable:
//! the connector restarts from its last durable position once Kafka is back. Configuration errors,
//! refused authentication or authorization, records Kafka will never accept and fatal idempotent
//! producer errors are definite: retrying fails the same way until a human changes something.
//! Messages name the property, topic or file involved and never contain a secret or a record's bytes.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};
use sluice_core::ErrorClass;

/// Everything that can go wrong in the Kafka layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    /// A worker or connector property is missing, invalid or would break delivery guarantees.
    #[error("invalid Kafka property '{property}': {message}")]
    Config {
        /// The property name, as the user wrote it.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The Kafka client (librdkafka) reported an error while sluice was doing `context`.
    #[error("{context}: {source}")]
    Client {
        /// What sluice was doing, naming the topic where there is one.
        context: String,
        /// The client's error (never carries a property value: configuration errors become `Config`).
        #[source]
        source: ClientError,
    },
    /// A broker answered a request about a topic with an error code.
    #[error("{context}: {code} ({code:?})")]
    Broker {
        /// What sluice was doing, naming the topic.
        context: String,
        /// The broker's (or librdkafka's local) error code.
        code: RDKafkaErrorCode,
    },
    /// An operation did not finish in time (typically: no broker reachable).
    #[error("{what} did not finish within {timeout:?}; is the Kafka cluster reachable?")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
    },
    /// A local file (the file offset store) could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What sluice was doing, naming the file.
        context: String,
        /// The underlying error (shared: errors are cloned to every waiter).
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A stored offset or log record is not what sluice (or Kafka Connect) writes.
    #[error("{context}: {message}")]
    Corrupt {
        /// Where the data lives (topic and partition, or file).
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A record was abandoned before librdkafka accepted it (its `send` was cancelled), so the
    /// records after it cannot be acknowledged as contiguous.
    #[error("a record was abandoned before it was handed to the Kafka producer (send cancelled)")]
    Abandoned,
    /// The PostgreSQL source failed (the publisher's upstream).
    #[error(transparent)]
    Source(Arc<sluice_postgres::PostgresError>),
    /// A change could not be turned into a Debezium record or serialized.
    #[error(transparent)]
    Record(Arc<sluice_debezium::DebeziumError>),
    /// The schema registry refused or could not be reached.
    #[error(transparent)]
    Registry(Arc<sluice_registry::RegistryError>),
    /// Records stayed unacknowledged for too long; the pipeline restarts with a new producer.
    #[error("{in_flight} records unacknowledged for {waited:?} (broker: {broker}); restarting the producer")]
    Stalled {
        /// Records in flight.
        in_flight: u64,
        /// How long nothing was acknowledged.
        waited: Duration,
        /// The producer's latest broker problem.
        broker: String,
    },
    /// A task of the pipeline failed unexpectedly (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl KafkaError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            KafkaError::Config { .. } | KafkaError::Corrupt { .. } => ErrorClass::Definite,
            KafkaError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::InvalidInput => ErrorClass::Definite,
                _ => ErrorClass::Retryable,
            },
            KafkaError::Timeout { .. } | KafkaError::Abandoned => ErrorClass::Retryable,
            KafkaError::Source(e) => e.class(),
            KafkaError::Record(e) => e.class(),
            KafkaError::Registry(e) => e.class(),
            KafkaError::Internal(_) => ErrorClass::Definite,
            KafkaError::Stalled { .. } => ErrorClass::Retryable,
            KafkaError::Broker { code, .. } => code_class(*code),
            KafkaError::Client { source, .. } => client_class(source),
        }
    }

    /// Wraps a source error.
    pub fn source(e: sluice_postgres::PostgresError) -> Self {
        KafkaError::Source(Arc::new(e))
    }

    /// Wraps a record-layer error.
    pub fn record(e: sluice_debezium::DebeziumError) -> Self {
        KafkaError::Record(Arc::new(e))
    }

    /// Wraps a registry error.
    pub fn registry(e: sluice_registry::RegistryError) -> Self {
        KafkaError::Registry(Arc::new(e))
    }

    /// The librdkafka or broker error code, when there is one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            KafkaError::Client { source: ClientError::AdminOp(code), .. } => Some(*code),
            KafkaError::Client { source, .. } => source.rdkafka_error_code(),
            _ => None,
        }
    }

    /// Wraps a client error. Configuration errors become [`KafkaError::Config`] naming only the
    /// property, because librdkafka's message would repeat the (possibly secret) value.
    pub(crate) fn client(context: impl Into<String>, source: ClientError) -> Self {
        match source {
            ClientError::ClientConfig(_, description, property, _value) => KafkaError::Config {
                message: format!("librdkafka refused it: {}", redact_value(&description)),
                property,
            },
            source => KafkaError::Client { context: context.into(), source },
        }
    }

    /// An I/O error about `context`.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KafkaError::Io { context: context.into(), source: Arc::new(source) }
    }

    /// A property error.
    pub fn config(property: impl Into<String>, message: impl Into<String>) -> Self {
        KafkaError::Config { property: property.into(), message: message.into() }
    }
}

/// librdkafka's configuration error descriptions sometimes quote the value ("Invalid value "x" for
/// configuration property ..."): keep only the text outside quotes.
fn redact_value(description: &str) -> String {
    let mut out = String::with_capacity(description.len());
    let mut quoted = false;
    for c in description.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

fn client_class(error: &ClientError) -> ErrorClass {
    match error {
        ClientError::ClientConfig(..) | ClientError::ClientCreation(_) | ClientError::Nul(_) => {
            ErrorClass::Definite
        }
        ClientError::AdminOpCreation(_) => ErrorClass::Definite,
        ClientError::AdminOp(code) => code_class(*code),
        ClientError::MessageConsumptionFatal(_) => ErrorClass::Definite,
        other => other.rdkafka_error_code().map_or(ErrorClass::Retryable, code_class),
    }
}

/// Definite codes: configuration, authentication and authorization, records the broker will never
/// take, and fatal idempotent-producer states. Everything else (transport, leadership, timeouts,
/// throttling, unknown codes) is retryable.
fn code_class(code: RDKafkaErrorCode) -> ErrorClass {
    use RDKafkaErrorCode as C;
    match code {
        C::InvalidArgument
        | C::Authentication
        | C::SSL
        | C::UnsupportedFeature
        | C::Fatal
        | C::Fenced
        | C::Inconsistent
        | C::GaplessGuarantee
        | C::NotConfigured
        | C::BadCompression
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::TransactionalIdAuthorizationFailed
        | C::DelegationTokenAuthorizationFailed
        | C::SaslAuthenticationFailed
        | C::UnsupportedSASLMechanism
        | C::IllegalSASLState
        | C::SecurityDisabled
        | C::UnacceptableCredential
        | C::InvalidTopic
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidReplicaAssignment
        | C::InvalidConfig
        | C::InvalidRequest
        | C::InvalidRequiredAcks
        | C::PolicyViolation
        | C::TopicDeletionDisabled
        | C::MessageSizeTooLarge
        | C::InvalidMessageSize
        | C::MessageBatchTooLarge
        | C::InvalidRecord
        | C::InvalidTimestamp
        | C::UnsupportedVersion
        | C::UnsupportedForMessageFormat
        | C::UnsupportedCompressionType
        | C::OutOfOrderSequenceNumber
        | C::InvalidProducerEpoch
        | C::ProducerFenced
        | C::InvalidProducerIdMapping
        | C::InvalidTransactionalState => ErrorClass::Definite,
        _ => ErrorClass::Retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaConfRes;

    #[test]
    fn configuration_errors_never_repeat_the_value() {
        let e = KafkaError::client(
            "creating the producer",
            ClientError::ClientConfig(
                RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
                "Invalid value \"hunter2\" for configuration property \"sasl.password\"".into(),
                "sasl.password".into(),
                "hunter2".into(),
            ),
        );
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
        assert_eq!(e.class(), ErrorClass::Definite);
    }

    #[test]
    fn transport_trouble_is_retryable_and_refusals_are_definite() {
        let c = |code| KafkaError::Client {
            context: "delivering to topic 't'".into(),
            source: ClientError::MessageProduction(code),
        };
        assert_eq!(c(RDKafkaErrorCode::AllBrokersDown).class(), ErrorClass::Retryable);
        assert_eq!(c(RDKafkaErrorCode::MessageTimedOut).class(), ErrorClass::Retryable);
        assert_eq!(c(RDKafkaErrorCode::NotLeaderForPartition).class(), ErrorClass::Retryable);
        assert_eq!(c(RDKafkaErrorCode::TopicAuthorizationFailed).class(), ErrorClass::Definite);
        assert_eq!(c(RDKafkaErrorCode::Fatal).class(), ErrorClass::Definite);
        assert_eq!(c(RDKafkaErrorCode::MessageSizeTooLarge).class(), ErrorClass::Definite);
        let admin = KafkaError::Client {
            context: "creating topic 't'".into(),
            source: ClientError::AdminOp(RDKafkaErrorCode::OperationTimedOut),
        };
        assert_eq!(admin.class(), ErrorClass::Retryable);
        assert_eq!(admin.code(), Some(RDKafkaErrorCode::OperationTimedOut));
        assert_eq!(KafkaError::config("acks", "x").class(), ErrorClass::Definite);
    }
}
