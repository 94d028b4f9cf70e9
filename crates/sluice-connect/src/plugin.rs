//! Connector plugins and config validation in Kafka Connect's shapes.
//!
//! sluice has two plugins: Debezium's PostgreSQL source (by its Debezium class name, so existing
//! configs are accepted unchanged) and the Delta sink. Like Kafka Connect, a plugin may be named by
//! its class, its simple name, or its simple name without `Connector`.
//!
//! Validation answers `PUT /connector-plugins/{plugin}/config/validate` with one entry per
//! property and every error found, not just the first: the config parsers stop at the first
//! problem, so validation parses repeatedly, each time without the property just reported, until
//! the config parses or nothing new turns up.

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_delta::DeltaError;
use sluice_delta::sink::DELTA_SINK_CONNECTOR_CLASS;
use sluice_kafka::KafkaError;
use sluice_postgres::PostgresError;
use sluice_postgres::config::POSTGRES_CONNECTOR_CLASS;

use crate::state::ConnectorType;

/// A connector plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// The class name configs use in `connector.class`.
    #[serde(rename = "class")]
    pub class: &'static str,
    /// Source or sink.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    /// The plugin's version: sluice's.
    pub version: &'static str,
}

/// Every plugin sluice runs.
pub const PLUGINS: [PluginInfo; 2] = [
    PluginInfo {
        class: DELTA_SINK_CONNECTOR_CLASS,
        kind: ConnectorType::Sink,
        version: env!("CARGO_PKG_VERSION"),
    },
    PluginInfo {
        class: POSTGRES_CONNECTOR_CLASS,
        kind: ConnectorType::Source,
        version: env!("CARGO_PKG_VERSION"),
    },
];

/// The plugin a `connector.class` (or a URL's plugin name) means: the full class name, the simple
/// name, or the simple name without its `Connector` suffix (Kafka Connect's aliases).
pub fn find(name: &str) -> Option<PluginInfo> {
    let name = name.trim();
    PLUGINS.into_iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        name == p.class || name == simple || Some(name) == simple.strip_suffix("Connector")
    })
}

/// What went wrong with one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The property (`None` when the error names none).
    pub property: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// The property a PostgreSQL-side error is about.
pub fn postgres_field(e: &PostgresError) -> FieldError {
    match e {
        PostgresError::Config { property, message } => {
            FieldError { property: Some(property.clone()), message: message.clone() }
        }
        other => FieldError { property: None, message: other.to_string() },
    }
}

/// The property a Kafka-side error is about.
pub fn kafka_field(e: &KafkaError) -> FieldError {
    match e {
        KafkaError::Config { property, message } => {
            FieldError { property: Some(property.clone()), message: message.clone() }
        }
        KafkaError::Source(e) => postgres_field(e),
        KafkaError::Record(e) => debezium_field(e),
        other => FieldError { property: None, message: other.to_string() },
    }
}

/// The property a Delta-side error is about.
pub fn delta_field(e: &DeltaError) -> FieldError {
    match e {
        DeltaError::Config { property, message } => {
            FieldError { property: Some(property.clone()), message: message.clone() }
        }
        DeltaError::Source(e) => postgres_field(e),
        DeltaError::Kafka(e) => kafka_field(e),
        other => FieldError { property: None, message: other.to_string() },
    }
}

fn debezium_field(e: &sluice_debezium::DebeziumError) -> FieldError {
    match e {
        sluice_debezium::DebeziumError::Config { property, message } => {
            FieldError { property: Some(property.clone()), message: message.clone() }
        }
        other => FieldError { property: None, message: other.to_string() },
    }
}

/// Every error `parse` finds in `config`, found by re-parsing without each reported property (or,
/// for a missing required one, with a stand-in value), so one request reports them all.
pub fn collect_errors(
    config: &BTreeMap<String, String>,
    parse: impl Fn(&BTreeMap<String, String>) -> Result<(), FieldError>,
) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut remaining = config.clone();
    for _ in 0..64 {
        let Err(error) = parse(&remaining) else { break };
        // Nothing more can be learned from an error naming no property, or one already reported
        // (its stand-in was refused too).
        let Some(property) = error.property.clone() else {
            errors.push(error);
            break;
        };
        if errors.iter().any(|e| e.property.as_deref() == Some(property.as_str())) {
            break;
        }
        errors.push(error);
        if remaining.remove(&property).is_none() {
            remaining.insert(property, STAND_IN.to_owned());
        }
    }
    errors
}

/// The value a missing required property gets while validation looks for further errors: valid
/// as a host, a name, a prefix and a number alike.
const STAND_IN: &str = "1";

/// Kafka Connect's `ConfigInfos`: the validate endpoint's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigInfos {
    /// The plugin's class.
    pub name: String,
    /// How many errors in all.
    pub error_count: usize,
    /// The property groups.
    pub groups: Vec<String>,
    /// One entry per property.
    pub configs: Vec<ConfigInfo>,
}

/// One property's definition and value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigInfo {
    /// What the property is.
    pub definition: ConfigKeyInfo,
    /// Its value and errors.
    pub value: ConfigValueInfo,
}

/// Kafka Connect's `ConfigKeyInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigKeyInfo {
    /// The property name.
    pub name: String,
    /// Its type (sluice reports every property as `STRING`, the form configs travel in).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether a config must set it.
    pub required: bool,
    /// The default (`null` for none).
    pub default_value: Option<String>,
    /// `HIGH`, `MEDIUM` or `LOW`.
    pub importance: &'static str,
    /// What it does.
    pub documentation: String,
    /// Its group.
    pub group: &'static str,
    /// Position in the group.
    pub order_in_group: i32,
    /// Display width (`NONE`).
    pub width: &'static str,
    /// Display name.
    pub display_name: String,
    /// Dependent properties.
    pub dependents: Vec<String>,
}

/// Kafka Connect's `ConfigValueInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigValueInfo {
    /// The property name.
    pub name: String,
    /// The submitted value (secrets masked).
    pub value: Option<String>,
    /// Suggested values.
    pub recommended_values: Vec<String>,
    /// What is wrong with it.
    pub errors: Vec<String>,
    /// Whether it applies.
    pub visible: bool,
}

/// Properties every connector must have; they form Kafka Connect's `Common` group.
const COMMON: &[&str] = &["name", "connector.class", "tasks.max"];

/// Properties each plugin requires.
fn required(plugin: &PluginInfo) -> &'static [&'static str] {
    if plugin.kind == ConnectorType::Sink {
        &["name", "connector.class"]
    } else {
        &["name", "connector.class", "database.hostname", "database.user", "database.dbname", "topic.prefix"]
    }
}

/// The validate answer for `config` (secrets already masked by the caller) and its errors.
pub fn config_infos(
    plugin: &PluginInfo,
    shown: &BTreeMap<String, String>,
    errors: &[FieldError],
) -> ConfigInfos {
    let mut names: Vec<&str> = required(plugin).to_vec();
    names.extend(shown.keys().map(String::as_str));
    names.extend(errors.iter().filter_map(|e| e.property.as_deref()));
    names.sort_by_key(|n| (!COMMON.contains(n), COMMON.iter().position(|c| c == n), *n));
    names.dedup();
    let specific = if plugin.kind == ConnectorType::Sink { "Delta sink" } else { "PostgreSQL source" };
    let mut configs: Vec<ConfigInfo> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let group = if COMMON.contains(name) { "Common" } else { specific };
            ConfigInfo {
                definition: ConfigKeyInfo {
                    name: (*name).to_owned(),
                    kind: "STRING",
                    required: required(plugin).contains(name),
                    default_value: None,
                    importance: if required(plugin).contains(name) { "HIGH" } else { "MEDIUM" },
                    documentation: String::new(),
                    group,
                    order_in_group: i as i32,
                    width: "NONE",
                    display_name: (*name).to_owned(),
                    dependents: Vec::new(),
                },
                value: ConfigValueInfo {
                    name: (*name).to_owned(),
                    value: shown.get(*name).cloned(),
                    recommended_values: Vec::new(),
                    errors: errors
                        .iter()
                        .filter(|e| e.property.as_deref() == Some(*name))
                        .map(|e| e.message.clone())
                        .collect(),
                    visible: true,
                },
            }
        })
        .collect();
    // Errors that name no property are reported on `connector.class`, as Kafka Connect reports
    // connector-level validation failures.
    let unnamed: Vec<String> =
        errors.iter().filter(|e| e.property.is_none()).map(|e| e.message.clone()).collect();
    if let Some(class) = configs.iter_mut().find(|c| c.definition.name == "connector.class") {
        class.value.errors.extend(unnamed);
    }
    ConfigInfos {
        name: plugin.class.to_owned(),
        error_count: configs.iter().map(|c| c.value.errors.len()).sum(),
        groups: vec!["Common".to_owned(), specific.to_owned()],
        configs,
    }
}

/// Kafka Connect's message for an invalid config on create or update.
pub fn invalid_config_message(infos: &ConfigInfos) -> String {
    let mut lines = Vec::new();
    for c in &infos.configs {
        for e in &c.value.errors {
            lines.push(format!("{}: {e}", c.definition.name));
        }
    }
    format!(
        "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above \
         list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
        infos.error_count,
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_found_by_class_and_alias() {
        assert_eq!(find(POSTGRES_CONNECTOR_CLASS).map(|p| p.kind), Some(ConnectorType::Source));
        assert_eq!(find("PostgresConnector").map(|p| p.class), Some(POSTGRES_CONNECTOR_CLASS));
        assert_eq!(find("Postgres").map(|p| p.class), Some(POSTGRES_CONNECTOR_CLASS));
        assert_eq!(find("DeltaSink").map(|p| p.kind), Some(ConnectorType::Sink));
        assert_eq!(find("io.debezium.connector.mysql.MySqlConnector"), None);
    }

    #[test]
    fn every_error_is_collected_not_just_the_first() {
        let config: BTreeMap<String, String> = [("a", "1"), ("b", "x"), ("c", "y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // A parser that rejects b and c (one at a time) and requires d and e.
        let parse = |m: &BTreeMap<String, String>| {
            if !m.contains_key("e") {
                return Err(FieldError { property: Some("e".into()), message: "e is required".into() });
            }
            for p in ["b", "c"] {
                if m.contains_key(p) {
                    return Err(FieldError { property: Some(p.into()), message: format!("bad {p}") });
                }
            }
            if !m.contains_key("d") {
                return Err(FieldError { property: Some("d".into()), message: "d is required".into() });
            }
            Ok(())
        };
        let errors = collect_errors(&config, parse);
        let props: Vec<_> = errors.iter().map(|e| e.property.clone().unwrap()).collect();
        assert_eq!(props, vec!["e", "b", "c", "d"]);
        let plugin = find("DeltaSink").unwrap();
        let infos = config_infos(&plugin, &config, &errors);
        assert_eq!(infos.error_count, 4);
        let d = infos.configs.iter().find(|c| c.definition.name == "d").unwrap();
        assert_eq!(d.value.errors, vec!["d is required"]);
        assert_eq!(infos.configs[0].definition.name, "name");
        let message = invalid_config_message(&infos);
        assert!(
            message
                .starts_with("Connector configuration is invalid and contains the following 4 error(s):\n")
        );
        assert!(message.contains("b: bad b"), "{message}");
    }
}
