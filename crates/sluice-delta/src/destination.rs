//! Where and how often an applier writes: the table path template and the batch bounds, shared by
//! the direct path and the Kafka sink connector (same property names, same defaults).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::DeltaError;

/// Default table location template.
pub const DEFAULT_PATH: &str = "lake/${schema}_${table}";

/// The `sluice.delta.*` properties that place tables and bound batches.
pub const DESTINATION_PROPERTIES: &[&str] =
    &["sluice.delta.path", "sluice.delta.flush.interval.ms", "sluice.delta.batch.max.records"];

/// Table placement and batch bounds, parsed once from a connector's flat properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `sluice.delta.path`: where each table lives; `${topic}`, `${schema}` and `${table}` are
    /// replaced (default `lake/${schema}_${table}`).
    pub path: String,
    /// `sluice.delta.flush.interval.ms`: the longest a change waits before its batch is committed.
    pub flush_interval: Duration,
    /// `sluice.delta.batch.max.records`: a batch is committed at this many records.
    pub max_records: usize,
}

impl Destination {
    /// Parses the destination properties; errors name the property.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, DeltaError> {
        let number = |name: &str, default: u64| -> Result<u64, DeltaError> {
            match props.get(name) {
                None => Ok(default),
                Some(v) => {
                    v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| DeltaError::Config {
                        property: name.to_owned(),
                        message: format!("expected a positive integer, got '{v}'"),
                    })
                }
            }
        };
        let path = props.get("sluice.delta.path").map(|p| p.trim()).unwrap_or(DEFAULT_PATH);
        if path.is_empty() {
            return Err(DeltaError::Config {
                property: "sluice.delta.path".into(),
                message: format!("must not be empty (default {DEFAULT_PATH})"),
            });
        }
        Ok(Destination {
            path: path.to_owned(),
            flush_interval: Duration::from_millis(number("sluice.delta.flush.interval.ms", 1000)?),
            max_records: usize::try_from(number("sluice.delta.batch.max.records", 100_000)?)
                .unwrap_or(usize::MAX),
        })
    }

    /// The location of the table a topic's records go to.
    pub fn location(&self, topic: &str) -> String {
        // Topic: <prefix>.<schema>.<table>; the prefix may itself contain dots.
        let mut parts = topic.rsplitn(3, '.');
        let table = parts.next().unwrap_or(topic);
        let schema = parts.next().unwrap_or("");
        self.path.replace("${topic}", topic).replace("${schema}", schema).replace("${table}", table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn locations_follow_the_template() {
        let d = Destination::from_properties(&props(&[])).unwrap();
        assert_eq!(d.location("srv.one.public.customers"), "lake/public_customers");
        let d = Destination::from_properties(&props(&[("sluice.delta.path", "/data/${topic}")])).unwrap();
        assert_eq!(d.location("srv.one.public.customers"), "/data/srv.one.public.customers");
    }

    #[test]
    fn numbers_and_paths_are_validated_by_name() {
        for bad in ["0", "-5", "soon"] {
            let e =
                Destination::from_properties(&props(&[("sluice.delta.flush.interval.ms", bad)])).unwrap_err();
            assert!(e.to_string().contains("sluice.delta.flush.interval.ms"), "{e}");
        }
        let e = Destination::from_properties(&props(&[("sluice.delta.path", " ")])).unwrap_err();
        assert!(e.to_string().contains("sluice.delta.path"), "{e}");
        let d = Destination::from_properties(&props(&[("sluice.delta.batch.max.records", "10")])).unwrap();
        assert_eq!(d.max_records, 10);
    }
}
