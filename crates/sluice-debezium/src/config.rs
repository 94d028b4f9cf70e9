//! Typed configuration of the record layer, parsed once from Debezium's flat property map.
//!
//! Property names, values and defaults are Debezium 3.6's. Property *names* are validated by the
//! source config (sluice-postgres), which knows the whole catalogue; this module validates the
//! values of the properties that shape records.

use std::collections::BTreeMap;

use regex::Regex;
use sluice_core::properties::{PatternList, Properties};

use crate::error::DebeziumError;

/// `decimal.handling.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalMode {
    /// `org.apache.kafka.connect.data.Decimal` / `VariableScaleDecimal` (default).
    Precise,
    /// `float64`.
    Double,
    /// `string`.
    String,
}

/// `time.precision.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePrecisionMode {
    /// Millisecond types for precision ≤ 3, microsecond types otherwise (default).
    Adaptive,
    /// Like adaptive, but `time` is always `MicroTime`.
    AdaptiveTimeMicroseconds,
    /// Kafka Connect's own `Date`, `Time`, `Timestamp` logical types (milliseconds).
    Connect,
    /// ISO-8601 strings.
    IsoString,
    /// Always microsecond types.
    Microseconds,
    /// Always nanosecond types.
    Nanoseconds,
}

/// `binary.handling.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryMode {
    /// `bytes` (default).
    Bytes,
    /// Base64 string.
    Base64,
    /// URL-safe base64 string.
    Base64UrlSafe,
    /// Hex string.
    Hex,
}

/// `interval.handling.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalMode {
    /// `io.debezium.time.MicroDuration` int64 (default).
    Numeric,
    /// `io.debezium.time.Interval` ISO-8601 string.
    String,
}

/// `hstore.handling.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HstoreMode {
    /// `io.debezium.data.Json` string (default).
    Json,
    /// `map<string, optional string>`.
    Map,
}

/// `schema.name.adjustment.mode` / `field.name.adjustment.mode`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameAdjustment {
    /// Names as they are (default).
    None,
    /// Invalid Avro characters replaced by `_`.
    Avro,
    /// Invalid Avro characters replaced by `_uXXXX`.
    AvroUnicode,
}

/// The Kafka Connect converter configured for keys or values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converter {
    /// `org.apache.kafka.connect.json.JsonConverter`, with `schemas.enable`.
    Json {
        /// Whether the schema travels with each record.
        schemas_enable: bool,
    },
    /// `io.confluent.connect.avro.AvroConverter` (or Apicurio's), through a schema registry.
    Avro {
        /// `*.schema.registry.url`
        registry_url: Option<String>,
    },
}

/// A column selected by a regular expression on `schema.table.column`, with a parameter.
#[derive(Debug, Clone)]
pub struct ColumnRule<T> {
    /// The anchored, case-insensitive pattern list.
    pub columns: Vec<Regex>,
    /// The rule's parameter (mask length, truncate length).
    pub value: T,
}

/// Everything that shapes Debezium records.
#[derive(Debug, Clone)]
pub struct DebeziumConfig {
    /// `topic.prefix`
    pub topic_prefix: String,
    /// `topic.delimiter`
    pub topic_delimiter: String,
    /// `topic.heartbeat.prefix`
    pub heartbeat_topic_prefix: String,
    /// `topic.transaction`
    pub transaction_topic: String,
    /// `database.dbname`, for `source.db`.
    pub database: String,
    /// `tombstones.on.delete`
    pub tombstones_on_delete: bool,
    /// `provide.transaction.metadata`
    pub provide_transaction_metadata: bool,
    /// `skipped.operations`: op codes not emitted (default `t`).
    pub skipped_operations: Vec<String>,
    /// `extended.headers.enabled`: the `__debezium.context.*` headers.
    pub extended_headers: bool,
    /// `decimal.handling.mode`
    pub decimal_mode: DecimalMode,
    /// `time.precision.mode`
    pub time_precision_mode: TimePrecisionMode,
    /// `binary.handling.mode`
    pub binary_mode: BinaryMode,
    /// `interval.handling.mode`
    pub interval_mode: IntervalMode,
    /// `hstore.handling.mode`
    pub hstore_mode: HstoreMode,
    /// `money.fraction.digits`
    pub money_fraction_digits: u32,
    /// `include.unknown.datatypes`
    pub include_unknown_datatypes: bool,
    /// `unavailable.value.placeholder` (raw bytes when given as `hex:...`).
    pub unavailable_value_placeholder: Vec<u8>,
    /// `schema.name.adjustment.mode`
    pub schema_name_adjustment: NameAdjustment,
    /// `field.name.adjustment.mode` (turned to `avro` when an Avro converter is used and this is
    /// `none`, as Debezium does).
    pub field_name_adjustment: NameAdjustment,
    /// `column.include.list`
    pub column_include: Option<Vec<Regex>>,
    /// `column.exclude.list`
    pub column_exclude: Option<Vec<Regex>>,
    /// `column.mask.with.N.chars`
    pub column_masks: Vec<ColumnRule<usize>>,
    /// `column.truncate.to.N.chars`
    pub column_truncates: Vec<ColumnRule<usize>>,
    /// `column.propagate.source.type`
    pub propagate_source_type_columns: Option<Vec<Regex>>,
    /// `datatype.propagate.source.type`
    pub propagate_source_type_datatypes: Option<Vec<Regex>>,
    /// `message.key.columns`: per table pattern, the key columns.
    pub message_key_columns: Vec<(Regex, Vec<String>)>,
    /// `heartbeat.interval.ms` (0 = off)
    pub heartbeat_interval_ms: u64,
    /// `heartbeat.action.query`
    pub heartbeat_action_query: Option<String>,
    /// `key.converter`
    pub key_converter: Converter,
    /// `value.converter`
    pub value_converter: Converter,
}

/// The Debezium version sluice reports in `source.version`, matching the release it is
/// conformance-tested against.
pub const DEBEZIUM_VERSION: &str = "3.6.3.Final";

/// The converter configured under `which` (`key.converter` / `value.converter`).
fn converter(p: &Properties<'_>, which: &str) -> Result<Converter, DebeziumError> {
    let class = p.str(which).unwrap_or("org.apache.kafka.connect.json.JsonConverter");
    match class {
        "org.apache.kafka.connect.json.JsonConverter" => {
            Ok(Converter::Json { schemas_enable: p.bool_or(&format!("{which}.schemas.enable"), true)? })
        }
        "io.confluent.connect.avro.AvroConverter" | "io.apicurio.registry.utils.converter.AvroConverter" => {
            Ok(Converter::Avro {
                registry_url: p.str(&format!("{which}.schema.registry.url")).map(str::to_owned),
            })
        }
        other => Err(DebeziumError::config(
            which,
            format!(
                "'{other}' is not supported: use org.apache.kafka.connect.json.JsonConverter or \
                 io.confluent.connect.avro.AvroConverter"
            ),
        )),
    }
}

/// A pattern-list property as compiled regular expressions.
fn patterns(p: &Properties<'_>, key: &str) -> Result<Option<Vec<Regex>>, DebeziumError> {
    Ok(p.patterns(key)?.map(PatternList::into_patterns))
}

/// `column.mask.with.N.chars` / `column.truncate.to.N.chars` rules.
fn length_rules(
    map: &BTreeMap<String, String>,
    prefix: &str,
) -> Result<Vec<ColumnRule<usize>>, DebeziumError> {
    let mut rules = Vec::new();
    for (key, value) in map.range(prefix.to_owned()..) {
        let Some(rest) = key.strip_prefix(prefix) else { break };
        let Some(n) = rest.strip_suffix(".chars") else {
            return Err(DebeziumError::config(key, format!("expected {prefix}<N>.chars")));
        };
        let n: usize = n.parse().map_err(|_| DebeziumError::config(key, "N must be a whole number"))?;
        rules.push(ColumnRule { columns: PatternList::parse(key, value)?.into_patterns(), value: n });
    }
    Ok(rules)
}

impl DebeziumConfig {
    /// Parses the record-shaping properties of a Debezium PostgreSQL connector config.
    pub fn from_properties(map: &BTreeMap<String, String>) -> Result<Self, DebeziumError> {
        let p = Properties(map);
        let topic_prefix = p.required("topic.prefix")?.to_owned();
        let key_converter = converter(&p, "key.converter")?;
        let value_converter = converter(&p, "value.converter")?;
        let adjustment = |key: &str| {
            p.choice(
                key,
                NameAdjustment::None,
                &[
                    ("none", NameAdjustment::None),
                    ("avro", NameAdjustment::Avro),
                    ("avro_unicode", NameAdjustment::AvroUnicode),
                ],
            )
        };
        let mut field_name_adjustment = adjustment("field.name.adjustment.mode")?;
        let uses_avro = matches!(key_converter, Converter::Avro { .. })
            || matches!(value_converter, Converter::Avro { .. });
        if field_name_adjustment == NameAdjustment::None && uses_avro {
            field_name_adjustment = NameAdjustment::Avro;
        }
        let skipped_operations = match p.str("skipped.operations").unwrap_or("t") {
            "none" => Vec::new(),
            list => {
                let ops: Vec<String> =
                    list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                if let Some(bad) = ops.iter().find(|o| !matches!(o.as_str(), "c" | "u" | "d" | "t")) {
                    return Err(DebeziumError::config(
                        "skipped.operations",
                        format!("'{bad}' is not an operation: use c, u, d, t or none"),
                    ));
                }
                ops
            }
        };
        let placeholder = p.str("unavailable.value.placeholder").unwrap_or("__debezium_unavailable_value");
        let unavailable_value_placeholder = match placeholder.strip_prefix("hex:") {
            Some(h) => hex::decode(h).map_err(|_| {
                DebeziumError::config(
                    "unavailable.value.placeholder",
                    "after 'hex:' give an even number of hex digits",
                )
            })?,
            None => placeholder.as_bytes().to_vec(),
        };
        let message_key_columns = match p.str("message.key.columns") {
            None => Vec::new(),
            Some(spec) => spec
                .split(';')
                .filter(|s| !s.trim().is_empty())
                .map(|entry| {
                    let (table, cols) = entry.rsplit_once(':').ok_or_else(|| {
                        DebeziumError::config(
                            "message.key.columns",
                            format!("'{entry}' is not <table>:<column>,..."),
                        )
                    })?;
                    let re = PatternList::parse("message.key.columns", table.trim())?
                        .into_patterns()
                        .into_iter()
                        .next()
                        .ok_or_else(|| DebeziumError::config("message.key.columns", "empty table pattern"))?;
                    Ok((re, cols.split(',').map(|c| c.trim().to_owned()).collect()))
                })
                .collect::<Result<_, DebeziumError>>()?,
        };
        p.exclusive("column.include.list", "column.exclude.list")?;
        Ok(DebeziumConfig {
            topic_prefix,
            topic_delimiter: p.str("topic.delimiter").unwrap_or(".").to_owned(),
            heartbeat_topic_prefix: p
                .str("topic.heartbeat.prefix")
                .unwrap_or("__debezium-heartbeat")
                .to_owned(),
            transaction_topic: p.str("topic.transaction").unwrap_or("transaction").to_owned(),
            database: p.str("database.dbname").unwrap_or_default().to_owned(),
            tombstones_on_delete: p.bool_or("tombstones.on.delete", true)?,
            provide_transaction_metadata: p.bool_or("provide.transaction.metadata", false)?,
            skipped_operations,
            extended_headers: p.bool_or("extended.headers.enabled", true)?,
            decimal_mode: p.choice(
                "decimal.handling.mode",
                DecimalMode::Precise,
                &[
                    ("precise", DecimalMode::Precise),
                    ("double", DecimalMode::Double),
                    ("string", DecimalMode::String),
                ],
            )?,
            time_precision_mode: p.choice(
                "time.precision.mode",
                TimePrecisionMode::Adaptive,
                &[
                    ("adaptive", TimePrecisionMode::Adaptive),
                    ("adaptive_time_microseconds", TimePrecisionMode::AdaptiveTimeMicroseconds),
                    ("connect", TimePrecisionMode::Connect),
                    ("isostring", TimePrecisionMode::IsoString),
                    ("microseconds", TimePrecisionMode::Microseconds),
                    ("nanoseconds", TimePrecisionMode::Nanoseconds),
                ],
            )?,
            binary_mode: p.choice(
                "binary.handling.mode",
                BinaryMode::Bytes,
                &[
                    ("bytes", BinaryMode::Bytes),
                    ("base64", BinaryMode::Base64),
                    ("base64-url-safe", BinaryMode::Base64UrlSafe),
                    ("hex", BinaryMode::Hex),
                ],
            )?,
            interval_mode: p.choice(
                "interval.handling.mode",
                IntervalMode::Numeric,
                &[("numeric", IntervalMode::Numeric), ("string", IntervalMode::String)],
            )?,
            hstore_mode: p.choice(
                "hstore.handling.mode",
                HstoreMode::Json,
                &[("json", HstoreMode::Json), ("map", HstoreMode::Map)],
            )?,
            money_fraction_digits: p.number_or("money.fraction.digits", 2u32, "a whole number")?,
            include_unknown_datatypes: p.bool_or("include.unknown.datatypes", false)?,
            unavailable_value_placeholder,
            schema_name_adjustment: adjustment("schema.name.adjustment.mode")?,
            field_name_adjustment,
            column_include: patterns(&p, "column.include.list")?,
            column_exclude: patterns(&p, "column.exclude.list")?,
            column_masks: length_rules(map, "column.mask.with.")?,
            column_truncates: length_rules(map, "column.truncate.to.")?,
            propagate_source_type_columns: patterns(&p, "column.propagate.source.type")?,
            propagate_source_type_datatypes: patterns(&p, "datatype.propagate.source.type")?,
            message_key_columns,
            heartbeat_interval_ms: p.number_or(
                "heartbeat.interval.ms",
                0u64,
                "a whole number of milliseconds",
            )?,
            heartbeat_action_query: p.str("heartbeat.action.query").map(str::to_owned),
            key_converter,
            value_converter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_are_debeziums() {
        let c = DebeziumConfig::from_properties(&props(&[("topic.prefix", "shop")])).unwrap();
        assert_eq!(c.decimal_mode, DecimalMode::Precise);
        assert_eq!(c.time_precision_mode, TimePrecisionMode::Adaptive);
        assert_eq!(c.skipped_operations, vec!["t"]);
        assert!(c.tombstones_on_delete);
        assert_eq!(c.unavailable_value_placeholder, b"__debezium_unavailable_value");
        assert_eq!(c.key_converter, Converter::Json { schemas_enable: true });
        assert_eq!(c.field_name_adjustment, NameAdjustment::None);
    }

    #[test]
    fn avro_converters_turn_on_field_name_adjustment() {
        let c = DebeziumConfig::from_properties(&props(&[
            ("topic.prefix", "shop"),
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            ("value.converter.schema.registry.url", "http://r:8081"),
        ]))
        .unwrap();
        assert_eq!(c.field_name_adjustment, NameAdjustment::Avro);
        assert_eq!(c.value_converter, Converter::Avro { registry_url: Some("http://r:8081".into()) });
    }

    #[test]
    fn column_rules_and_key_columns_parse() {
        let c = DebeziumConfig::from_properties(&props(&[
            ("topic.prefix", "shop"),
            ("column.mask.with.5.chars", "public.t.secret"),
            ("column.truncate.to.10.chars", "public.t.note,public.u.x"),
            ("message.key.columns", "public.t:a,b;public.u:c"),
            ("unavailable.value.placeholder", "hex:00ff"),
            ("skipped.operations", "none"),
        ]))
        .unwrap();
        assert_eq!(c.column_masks[0].value, 5);
        assert_eq!(c.column_truncates[0].columns.len(), 2);
        assert_eq!(c.message_key_columns[0].1, vec!["a", "b"]);
        assert!(c.message_key_columns[1].0.is_match("PUBLIC.U"));
        assert_eq!(c.unavailable_value_placeholder, vec![0, 255]);
        assert!(c.skipped_operations.is_empty());
    }

    #[test]
    fn bad_values_name_their_property() {
        for (k, v) in [
            ("decimal.handling.mode", "exact"),
            ("skipped.operations", "x"),
            ("value.converter", "com.example.Other"),
            ("column.mask.with.x.chars", "a"),
        ] {
            let err = DebeziumConfig::from_properties(&props(&[("topic.prefix", "p"), (k, v)])).unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
    }
}
