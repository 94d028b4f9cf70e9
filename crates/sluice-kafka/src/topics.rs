//! Topic creation as Kafka Connect does it for source connectors (KIP-158), and the admin client.
//!
//! A connector that sets any `topic.creation.*` property asks the worker to create the topics it
//! writes to before their first record (when the worker's `topic.creation.enable` is true, the
//! default). `topic.creation.default.replication.factor` and `.partitions` are then required (-1:
//! the broker's default); `topic.creation.groups` names further groups in priority order, each with
//! `include`/`exclude` lists of regular expressions (Java syntax, matched against the whole topic
//! name; exclusion wins) and optional `replication.factor`/`partitions` (defaulting to the default
//! group's). Every other `topic.creation.<group>.<name>` is a topic configuration (`cleanup.policy`,
//! `compression.type`, `retention.ms`, ...). A topic takes the settings of the first listed group
//! that matches it, else the default group's. Topics that already exist are left as they are.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::RDKafkaErrorCode;
use regex::Regex;

use crate::client::{QuietContext, client_config};
use crate::config::KafkaConfig;
use crate::error::KafkaError;

const PREFIX: &str = "topic.creation.";
const GROUPS: &str = "topic.creation.groups";
const DEFAULT_GROUP: &str = "default";
/// Group settings that are not topic configurations.
const GROUP_SETTINGS: &[&str] = &["include", "exclude", "replication.factor", "partitions"];

/// How long admin requests (create, metadata) may take before failing as retryable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a topic is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    /// Partition count; -1 for the broker's `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 for the broker's `default.replication.factor`.
    pub replication_factor: i32,
    /// Topic configurations (`cleanup.policy`, `retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
}

/// A connector's `topic.creation.*` rules.
#[derive(Debug, Clone)]
pub struct TopicCreation {
    /// Listed groups in priority order.
    groups: Vec<TopicGroup>,
    /// The `default` group: every topic no listed group matches.
    default: TopicSettings,
}

#[derive(Debug, Clone)]
struct TopicGroup {
    name: String,
    include: Option<Regex>,
    exclude: Option<Regex>,
    settings: TopicSettings,
}

impl TopicGroup {
    fn matches(&self, topic: &str) -> bool {
        !self.exclude.as_ref().is_some_and(|re| re.is_match(topic))
            && self.include.as_ref().is_some_and(|re| re.is_match(topic))
    }
}

impl TopicCreation {
    /// Reads the connector's `topic.creation.*` properties; `None` when it sets none (topics are
    /// then left to the broker's auto-creation). The caller also honours the worker's
    /// [`KafkaConfig::topic_creation_enable`].
    pub fn from_connector_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<Option<TopicCreation>, KafkaError> {
        // `topic.creation.enable` belongs to the worker; it does not switch creation on here.
        if !props.keys().any(|k| k.starts_with(PREFIX) && k != "topic.creation.enable") {
            return Ok(None);
        }
        let default = TopicSettings {
            partitions: count(props, "topic.creation.default.partitions", None)?,
            replication_factor: count(props, "topic.creation.default.replication.factor", None)?,
            configs: other_configs(props, DEFAULT_GROUP),
        };
        let mut names = list(props.get(GROUPS).map(String::as_str).unwrap_or(""));
        let mut seen = HashSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(KafkaError::config(GROUPS, format!("lists the group '{dup}' twice")));
        }
        names.retain(|n| {
            let is_default = n == DEFAULT_GROUP;
            if is_default {
                tracing::warn!("'default' topic creation group always exists and need not be listed");
            }
            !is_default
        });
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            let key = |setting: &str| format!("{PREFIX}{name}.{setting}");
            groups.push(TopicGroup {
                include: pattern(props, &key("include"))?,
                exclude: pattern(props, &key("exclude"))?,
                settings: TopicSettings {
                    partitions: count(props, &key("partitions"), Some(default.partitions))?,
                    replication_factor: count(
                        props,
                        &key("replication.factor"),
                        Some(default.replication_factor),
                    )?,
                    configs: other_configs(props, &name),
                },
                name,
            });
        }
        Ok(Some(TopicCreation { groups, default }))
    }

    /// The settings for `topic`: the first listed group matching it, else the default group.
    pub fn settings_for(&self, topic: &str) -> &TopicSettings {
        match self.groups.iter().find(|g| g.matches(topic)) {
            Some(group) => {
                tracing::debug!(topic, group = %group.name, "topic matched a topic creation group");
                &group.settings
            }
            None => &self.default,
        }
    }
}

/// A Kafka `LIST` value: comma-separated, whitespace around commas ignored, empty for blank.
fn list(value: &str) -> Vec<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split(',').map(|s| s.trim().to_owned()).collect()
}

/// A regex list joined with `|` and matched against the whole name, as Connect's `Pattern`.
fn pattern(props: &BTreeMap<String, String>, key: &str) -> Result<Option<Regex>, KafkaError> {
    let items = list(props.get(key).map(String::as_str).unwrap_or(""));
    if items.is_empty() {
        return Ok(None);
    }
    let joined = items.join("|");
    Regex::new(&format!("^(?:{joined})$"))
        .map(Some)
        .map_err(|e| KafkaError::config(key, format!("'{joined}' is not a valid regular expression: {e}")))
}

/// A partition count or replication factor: -1 or at least 1; `None` default: required.
fn count(props: &BTreeMap<String, String>, key: &str, default: Option<i32>) -> Result<i32, KafkaError> {
    let value = props.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let n = match (value, default) {
        (None, Some(d)) => return Ok(d),
        (None, None) => {
            return Err(KafkaError::config(
                key,
                "is required when any topic.creation.* property is set (-1 for the broker's default)",
            ));
        }
        (Some(v), _) => {
            v.parse::<i32>().map_err(|_| KafkaError::config(key, format!("'{v}' is not a whole number")))?
        }
    };
    let fits = !key.ends_with("replication.factor") || i16::try_from(n).is_ok();
    if (n == -1 || n >= 1) && fits {
        Ok(n)
    } else {
        Err(KafkaError::config(key, format!("{n} is neither -1 (the broker's default) nor at least 1")))
    }
}

/// `topic.creation.<group>.<config>` entries other than the group's own settings.
fn other_configs(props: &BTreeMap<String, String>, group: &str) -> BTreeMap<String, String> {
    let prefix = format!("{PREFIX}{group}.");
    props
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|name| (name, v)))
        .filter(|(name, _)| !GROUP_SETTINGS.contains(name))
        .map(|(name, v)| (name.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Creates topics and reads their partition counts, remembering topics known to exist.
pub struct TopicAdmin {
    admin: Arc<AdminClient<QuietContext>>,
    known: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for TopicAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("TopicAdmin").field("known_topics", &known).finish()
    }
}

impl TopicAdmin {
    /// An admin client for the cluster (connects lazily).
    pub fn new(config: &KafkaConfig) -> Result<TopicAdmin, KafkaError> {
        // Metadata requests must never create topics as a side effect.
        let cc = client_config(
            config,
            &[("client.id", "sluice-admin")],
            &config.admin,
            None,
            &[("allow.auto.create.topics", "false")],
        );
        let admin = AdminClient::from_config_and_context(&cc, QuietContext)
            .map_err(|e| KafkaError::client("creating the Kafka admin client", e))?;
        Ok(TopicAdmin { admin: Arc::new(admin), known: Mutex::new(HashSet::new()) })
    }

    /// Creates `name` with `settings` unless it exists (an existing topic is left unchanged).
    pub async fn ensure_topic(&self, name: &str, settings: &TopicSettings) -> Result<(), KafkaError> {
        if self.known.lock().unwrap_or_else(PoisonError::into_inner).contains(name) {
            return Ok(());
        }
        let mut topic =
            NewTopic::new(name, settings.partitions, TopicReplication::Fixed(settings.replication_factor));
        for (k, v) in &settings.configs {
            topic = topic.set(k, v);
        }
        let options =
            AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT)).operation_timeout(Some(ADMIN_TIMEOUT));
        let context = || format!("creating topic '{name}'");
        let results = tokio::time::timeout(ADMIN_TIMEOUT + Duration::from_secs(5), {
            self.admin.create_topics([&topic], &options)
        })
        .await
        .map_err(|_| KafkaError::Timeout { what: context(), timeout: ADMIN_TIMEOUT })?
        .map_err(|e| KafkaError::client(context(), e))?;
        let outcome = results.into_iter().next().unwrap_or(Ok(String::new()));
        match outcome {
            Ok(_) => {
                tracing::info!(
                    topic = name,
                    partitions = settings.partitions,
                    replication_factor = settings.replication_factor,
                    configs = ?settings.configs,
                    "created topic"
                );
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic = name, "topic already exists");
            }
            // Allowed to write but not to create: fine if the topic is already there.
            Err((
                _,
                code @ (RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed),
            )) if self.partition_count(name).await.is_ok() => {
                tracing::debug!(topic = name, ?code, "may not create topics, but the topic exists");
            }
            Err((_, code)) => return Err(KafkaError::Broker { context: context(), code }),
        }
        self.known.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned());
        Ok(())
    }

    /// The topic's partition count, from cluster metadata. A missing topic is
    /// `UnknownTopicOrPartition`.
    pub async fn partition_count(&self, topic: &str) -> Result<i32, KafkaError> {
        let admin = Arc::clone(&self.admin);
        let name = topic.to_owned();
        let context = || format!("reading the metadata of topic '{topic}'");
        // librdkafka's metadata call blocks its thread until the answer (or the timeout).
        let metadata =
            tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(Some(&name), ADMIN_TIMEOUT))
                .await
                .map_err(|e| KafkaError::Corrupt {
                    context: context(),
                    message: format!("metadata task failed: {e}"),
                })?
                .map_err(|e| KafkaError::client(context(), e))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(KafkaError::Broker {
                context: context(),
                code: RDKafkaErrorCode::UnknownTopicOrPartition,
            });
        };
        if let Some(code) = t.error() {
            return Err(KafkaError::Broker { context: context(), code: code.into() });
        }
        let partitions = i32::try_from(t.partitions().len()).unwrap_or(i32::MAX);
        if partitions == 0 {
            return Err(KafkaError::Broker {
                context: context(),
                code: RDKafkaErrorCode::UnknownTopicOrPartition,
            });
        }
        self.known.lock().unwrap_or_else(PoisonError::into_inner).insert(topic.to_owned());
        Ok(partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn no_topic_creation_properties_means_none() {
        let props = map(&[("topic.prefix", "dbserver1"), ("topic.creation.enable", "true")]);
        assert!(TopicCreation::from_connector_properties(&props).unwrap().is_none());
    }

    #[test]
    fn groups_match_in_order_and_inherit_the_defaults() {
        // The example of Debezium's topic-auto-create-config documentation.
        let tc = TopicCreation::from_connector_properties(&map(&[
            ("topic.creation.default.replication.factor", "3"),
            ("topic.creation.default.partitions", "10"),
            ("topic.creation.default.cleanup.policy", "compact"),
            ("topic.creation.default.compression.type", "lz4"),
            ("topic.creation.groups", "productlog, orderlog"),
            (
                "topic.creation.productlog.include",
                "dbserver1\\.inventory\\.products, dbserver1\\.inventory\\.products_on_hand",
            ),
            ("topic.creation.productlog.replication.factor", "1"),
            ("topic.creation.productlog.partitions", "20"),
            ("topic.creation.productlog.cleanup.policy", "compact"),
            ("topic.creation.productlog.delete.retention.ms", "7776000000"),
            ("topic.creation.orderlog.include", "dbserver1\\.inventory\\.orders.*"),
            ("topic.creation.orderlog.exclude", ".*_archive"),
            ("topic.creation.orderlog.cleanup.policy", "delete"),
            ("topic.creation.ignored.partitions", "99"),
        ]))
        .unwrap()
        .unwrap();
        let products = tc.settings_for("dbserver1.inventory.products");
        assert_eq!((products.partitions, products.replication_factor), (20, 1));
        assert_eq!(
            products.configs,
            map(&[("cleanup.policy", "compact"), ("delete.retention.ms", "7776000000")])
        );
        // Whole-name match: a longer name is not included.
        assert_eq!(tc.settings_for("dbserver1.inventory.products2").partitions, 10);
        let orders = tc.settings_for("dbserver1.inventory.orders");
        assert_eq!((orders.partitions, orders.replication_factor), (10, 3));
        assert_eq!(orders.configs, map(&[("cleanup.policy", "delete")]));
        // Exclusion wins over inclusion; then the default group applies.
        let archive = tc.settings_for("dbserver1.inventory.orders_archive");
        assert_eq!(archive.configs, map(&[("cleanup.policy", "compact"), ("compression.type", "lz4")]));
        // Matching is case-sensitive, as Java's Pattern.
        assert_eq!(
            tc.settings_for("DBSERVER1.inventory.orders").configs.get("cleanup.policy").unwrap(),
            "compact"
        );
    }

    #[test]
    fn default_settings_are_required_and_checked() {
        let err = |pairs: &[(&str, &str)]| TopicCreation::from_connector_properties(&map(pairs)).unwrap_err();
        let e = err(&[("topic.creation.default.partitions", "3")]);
        assert!(
            matches!(&e, KafkaError::Config { property, .. } if property == "topic.creation.default.replication.factor")
        );
        let e = err(&[
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "0"),
        ]);
        assert!(
            matches!(&e, KafkaError::Config { property, .. } if property == "topic.creation.default.partitions")
        );
        let e = err(&[
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "-1"),
            ("topic.creation.groups", "a,a"),
        ]);
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "topic.creation.groups"));
        let e = err(&[
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "-1"),
            ("topic.creation.groups", "a"),
            ("topic.creation.a.include", "("),
        ]);
        assert!(matches!(&e, KafkaError::Config { property, .. } if property == "topic.creation.a.include"));
        let tc = TopicCreation::from_connector_properties(&map(&[
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "-1"),
            ("topic.creation.default.include", "nothing"),
            ("topic.creation.groups", "default"),
        ]))
        .unwrap()
        .unwrap();
        // The default group's include/exclude are ignored; it is never listed twice.
        let s = tc.settings_for("anything");
        assert_eq!((s.partitions, s.replication_factor, s.configs.len()), (-1, -1, 0));
    }
}
