//! Subject name strategies: under which registry subject a key or value schema is registered,
//! exactly as Confluent's serializers name them (`key.subject.name.strategy`,
//! `value.subject.name.strategy`).

use std::fmt;

use crate::error::RegistryError;

const PACKAGE: &str = "io.confluent.kafka.serializers.subject";

/// How a subject name is derived from the topic and the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubjectNameStrategy {
    /// `TopicNameStrategy` (the default): `<topic>-key` / `<topic>-value`; one schema lineage per
    /// topic.
    #[default]
    Topic,
    /// `RecordNameStrategy`: the record's full name; one lineage per record type, across topics.
    Record,
    /// `TopicRecordNameStrategy`: `<topic>-<record full name>`; one lineage per record type per topic.
    TopicRecord,
}

impl SubjectNameStrategy {
    /// The strategy named by its Java class (`io.confluent.kafka.serializers.subject.…`), as
    /// converter configs give it; `property` names the setting in errors.
    pub fn from_class_name(property: &str, class_name: &str) -> Result<Self, RegistryError> {
        let class_name = class_name.trim();
        let short = class_name.strip_prefix(PACKAGE).and_then(|s| s.strip_prefix('.'));
        match short {
            Some("TopicNameStrategy") => Ok(SubjectNameStrategy::Topic),
            Some("RecordNameStrategy") => Ok(SubjectNameStrategy::Record),
            Some("TopicRecordNameStrategy") => Ok(SubjectNameStrategy::TopicRecord),
            Some("AssociatedNameStrategy") => Err(RegistryError::Config {
                property: property.to_owned(),
                message: format!(
                    "{class_name} looks subjects up in registry associations, which sluice does not support; \
                     use {PACKAGE}.TopicNameStrategy (its fallback) or another strategy"
                ),
            }),
            _ => Err(RegistryError::Config {
                property: property.to_owned(),
                message: format!(
                    "'{class_name}' is not a supported subject name strategy: use {PACKAGE}.TopicNameStrategy, \
                     {PACKAGE}.RecordNameStrategy or {PACKAGE}.TopicRecordNameStrategy"
                ),
            }),
        }
    }

    /// The Java class name, for messages and round trips.
    pub fn class_name(self) -> &'static str {
        match self {
            SubjectNameStrategy::Topic => "io.confluent.kafka.serializers.subject.TopicNameStrategy",
            SubjectNameStrategy::Record => "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            SubjectNameStrategy::TopicRecord => {
                "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
            }
        }
    }

    /// The subject for a key (`is_key`) or value schema written to `topic`. `record_full_name` is
    /// the schema's full name when it is a record (the record strategies need one, as
    /// Confluent's `RecordNameStrategy.getRecordName` does).
    pub fn subject(
        self,
        topic: &str,
        is_key: bool,
        record_full_name: Option<&str>,
    ) -> Result<String, RegistryError> {
        let record = || {
            record_full_name.filter(|n| !n.is_empty()).ok_or_else(|| {
                let (property, what) = if is_key {
                    ("key.subject.name.strategy", "key")
                } else {
                    ("value.subject.name.strategy", "value")
                };
                RegistryError::Config {
                    property: property.to_owned(),
                    message: format!(
                        "with {}, the message {what} must be a record schema (topic '{topic}'); \
                         use {PACKAGE}.TopicNameStrategy for other schemas",
                        self.class_name()
                    ),
                }
            })
        };
        Ok(match self {
            SubjectNameStrategy::Topic => format!("{topic}-{}", if is_key { "key" } else { "value" }),
            SubjectNameStrategy::Record => record()?.to_owned(),
            SubjectNameStrategy::TopicRecord => format!("{topic}-{}", record()?),
        })
    }
}

impl fmt::Display for SubjectNameStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_named_as_confluent_names_them() {
        let topic = "PostgreSQL_server.public.customers";
        let record = Some("PostgreSQL_server.public.customers.Envelope");
        let s = |strategy: SubjectNameStrategy, is_key| strategy.subject(topic, is_key, record).unwrap();
        assert_eq!(s(SubjectNameStrategy::Topic, true), "PostgreSQL_server.public.customers-key");
        assert_eq!(s(SubjectNameStrategy::Topic, false), "PostgreSQL_server.public.customers-value");
        assert_eq!(s(SubjectNameStrategy::Record, false), "PostgreSQL_server.public.customers.Envelope");
        assert_eq!(s(SubjectNameStrategy::Record, true), "PostgreSQL_server.public.customers.Envelope");
        assert_eq!(
            s(SubjectNameStrategy::TopicRecord, false),
            "PostgreSQL_server.public.customers-PostgreSQL_server.public.customers.Envelope"
        );
        // The topic strategy does not need a record.
        assert_eq!(SubjectNameStrategy::Topic.subject("t", true, None).unwrap(), "t-key");
        let err = SubjectNameStrategy::Record.subject("t", true, None).unwrap_err();
        assert!(
            matches!(&err, RegistryError::Config { property, message }
                if property == "key.subject.name.strategy" && message.contains("must be a record schema")),
            "{err}"
        );
        assert!(SubjectNameStrategy::TopicRecord.subject("t", false, Some("")).is_err());
    }

    #[test]
    fn class_names_round_trip_and_others_are_refused() {
        for strategy in
            [SubjectNameStrategy::Topic, SubjectNameStrategy::Record, SubjectNameStrategy::TopicRecord]
        {
            assert_eq!(SubjectNameStrategy::from_class_name("p", strategy.class_name()).unwrap(), strategy);
            assert_eq!(strategy.to_string(), strategy.class_name());
        }
        assert_eq!(
            SubjectNameStrategy::from_class_name(
                "p",
                " io.confluent.kafka.serializers.subject.RecordNameStrategy "
            )
            .unwrap(),
            SubjectNameStrategy::Record
        );
        for bad in [
            "TopicNameStrategy",
            "com.example.Mine",
            "io.confluent.kafka.serializers.subject.AssociatedNameStrategy",
        ] {
            let err =
                SubjectNameStrategy::from_class_name("value.converter.value.subject.name.strategy", bad)
                    .unwrap_err();
            assert!(err.to_string().contains("'value.converter.value.subject.name.strategy'"), "{err}");
        }
        assert_eq!(SubjectNameStrategy::default(), SubjectNameStrategy::Topic);
    }
}
