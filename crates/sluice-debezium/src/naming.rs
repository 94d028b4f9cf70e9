//! Topic names and Avro-compatible schema and field names, as Debezium 3.6 derives them.
//!
//! * Data topics follow `SchemaTopicNamingStrategy`: the non-blank parts `topic.prefix`, schema and
//!   table joined by `topic.delimiter`, then sanitized for Kafka (every UTF-16 unit outside
//!   `[A-Za-z0-9._-]` becomes `_`, at most 249 units, `.`/`..` replaced).
//! * The transaction topic is `<prefix><delimiter><topic.transaction>` and the heartbeat topic
//!   `<topic.heartbeat.prefix><delimiter><prefix>`; neither is sanitized.
//! * The logical-message topic is `<prefix>.message` (always a dot, never sanitized).
//! * Schema and field names go through the adjuster chosen by `schema.name.adjustment.mode` /
//!   `field.name.adjustment.mode`. Debezium's adjusters remember every name they changed and fail
//!   when two different originals end up with the same replacement; [`NameAdjuster`] does the same
//!   (one memory per adjuster, which Debezium shares across all tables of a connector).

use std::collections::{HashMap, HashSet};

use sluice_core::TableId;

use crate::config::{DebeziumConfig, NameAdjustment};
use crate::error::DebeziumError;

/// Kafka's longest topic name.
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Suffix of the logical decoding message topic.
pub const MESSAGE_TOPIC_SUFFIX: &str = ".message";

fn valid_topic_unit(u: u16) -> bool {
    matches!(u, 0x2E | 0x5F | 0x2D)
        || (0x30..=0x39).contains(&u)
        || (0x41..=0x5A).contains(&u)
        || (0x61..=0x7A).contains(&u)
}

/// Makes `name` a valid Kafka topic name the way Debezium does: every UTF-16 code unit outside
/// `[A-Za-z0-9._-]` becomes `_` (so a character outside the BMP becomes `__`), the result is cut to
/// 249 units, and the names `.` and `..` become `_` and `__`.
pub fn sanitize_topic_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for u in name.encode_utf16().take(MAX_TOPIC_NAME_LENGTH) {
        // Valid units are ASCII, so pushing them as chars is exact.
        out.push(if valid_topic_unit(u) { char::from(u as u8) } else { '_' });
    }
    match out.as_str() {
        "." => "_".to_owned(),
        ".." => "__".to_owned(),
        _ => out,
    }
}

/// The data topic of a table: `<prefix><delim><schema><delim><table>` (blank parts left out), sanitized.
pub fn data_topic(config: &DebeziumConfig, table: &TableId) -> String {
    let parts = [config.topic_prefix.as_str(), &table.schema, &table.name];
    let joined: Vec<&str> = parts.into_iter().filter(|p| !p.trim().is_empty()).collect();
    sanitize_topic_name(&joined.join(&config.topic_delimiter))
}

/// The transaction metadata topic: `<prefix><delim><topic.transaction>`.
pub fn transaction_topic(config: &DebeziumConfig) -> String {
    format!("{}{}{}", config.topic_prefix, config.topic_delimiter, config.transaction_topic)
}

/// The heartbeat topic: `<topic.heartbeat.prefix><delim><prefix>`.
pub fn heartbeat_topic(config: &DebeziumConfig) -> String {
    format!("{}{}{}", config.heartbeat_topic_prefix, config.topic_delimiter, config.topic_prefix)
}

/// The logical decoding message topic: `<prefix>.message`.
pub fn message_topic(config: &DebeziumConfig) -> String {
    format!("{}{MESSAGE_TOPIC_SUFFIX}", config.topic_prefix)
}

/// What a name is adjusted for: schema names may contain dots, field names may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A (full) Connect schema name.
    Schema,
    /// A struct field name.
    Field,
}

fn ascii_letter(u: u16) -> bool {
    (0x41..=0x5A).contains(&u) || (0x61..=0x7A).contains(&u)
}

fn ascii_digit(u: u16) -> bool {
    (0x30..=0x39).contains(&u)
}

fn valid_first(mode: NameAdjustment, u: u16) -> bool {
    match mode {
        NameAdjustment::AvroUnicode => ascii_letter(u),
        _ => ascii_letter(u) || u == 0x5F,
    }
}

fn valid_rest(mode: NameAdjustment, kind: NameKind, u: u16) -> bool {
    valid_first(mode, u) || ascii_digit(u) || (kind == NameKind::Schema && u == 0x2E)
}

/// Java's `Character.isDigit` for one UTF-16 unit (category Nd). Exact for ASCII; other scripts'
/// decimal digits are approximated by Rust's numeric check.
fn java_is_digit(u: u16) -> bool {
    ascii_digit(u) || char::from_u32(u32::from(u)).is_some_and(|c| c.is_numeric() && !c.is_ascii())
}

fn push_unit(out: &mut String, u: u16) {
    // Lone surrogates cannot be pushed as chars; they only occur in replaced positions, so this
    // is only reached for valid (ASCII) units.
    if let Some(c) = char::from_u32(u32::from(u)) {
        out.push(c);
    }
}

fn push_replacement(out: &mut String, mode: NameAdjustment, u: u16) {
    match mode {
        NameAdjustment::AvroUnicode => {
            // `_u` + Integer.toHexString, left-padded with "00" only when it has at most 2 digits.
            let hex = format!("{u:x}");
            out.push_str("_u");
            if hex.len() <= 2 {
                out.push_str("00");
            }
            out.push_str(&hex);
        }
        _ => out.push('_'),
    }
}

/// Adjusts one name by the rules of `mode` without remembering it. Returns `None` when the name
/// is already valid (or the mode is `none`).
pub fn adjusted_name(mode: NameAdjustment, kind: NameKind, name: &str) -> Option<String> {
    if mode == NameAdjustment::None || name.is_empty() {
        return None;
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    let mut out = String::with_capacity(name.len() + 4);
    let mut changed = false;
    // Debezium works on Java chars, i.e. UTF-16 units; only ASCII units are ever valid.
    for (i, &u) in units.iter().enumerate() {
        let ok = if i == 0 { valid_first(mode, u) } else { valid_rest(mode, kind, u) };
        if ok {
            push_unit(&mut out, u);
            continue;
        }
        changed = true;
        push_replacement(&mut out, mode, u);
        if i == 0 && mode == NameAdjustment::Avro && java_is_digit(u) {
            // A leading digit is kept after the underscore (`24a` -> `_24a`).
            push_unit(&mut out, u);
        }
    }
    changed.then_some(out)
}

/// A schema- or field-name adjuster with Debezium's conflict detection: the first time a name is
/// changed, its replacement is remembered; a different name that later maps to the same
/// replacement is an error.
#[derive(Debug, Clone)]
pub struct NameAdjuster {
    mode: NameAdjustment,
    kind: NameKind,
    seen: HashSet<String>,
    original_by_replacement: HashMap<String, String>,
}

impl NameAdjuster {
    /// An adjuster for `kind` names under `mode`.
    pub fn new(mode: NameAdjustment, kind: NameKind) -> Self {
        NameAdjuster { mode, kind, seen: HashSet::new(), original_by_replacement: HashMap::new() }
    }

    /// The schema-name adjuster of a config (`schema.name.adjustment.mode`).
    pub fn for_schema_names(config: &DebeziumConfig) -> Self {
        Self::new(config.schema_name_adjustment, NameKind::Schema)
    }

    /// The field-name adjuster of a config (`field.name.adjustment.mode`, already turned to `avro`
    /// for Avro converters by the config parser).
    pub fn for_field_names(config: &DebeziumConfig) -> Self {
        Self::new(config.field_name_adjustment, NameKind::Field)
    }

    /// The mode.
    pub fn mode(&self) -> NameAdjustment {
        self.mode
    }

    /// Adjusts `name`; fails if its replacement was already produced from a different name.
    pub fn adjust(&mut self, name: &str) -> Result<String, DebeziumError> {
        let Some(replacement) = adjusted_name(self.mode, self.kind, name) else {
            return Ok(name.to_owned());
        };
        if self.seen.insert(name.to_owned()) {
            match self.original_by_replacement.get(&replacement) {
                Some(other) if other != name => {
                    let what = match self.kind {
                        NameKind::Schema => "schema",
                        NameKind::Field => "field",
                    };
                    return Err(DebeziumError::NameConflict(format!(
                        "the {what} name '{name}' is not a valid Avro name and its replacement '{replacement}' \
                         is already used for '{other}'; rename one of them or change the name adjustment mode"
                    )));
                }
                Some(_) => {}
                None => {
                    self.original_by_replacement.insert(replacement.clone(), name.to_owned());
                }
            }
        }
        Ok(replacement)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> DebeziumConfig {
        let mut map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        map.entry("topic.prefix".into()).or_insert_with(|| "PostgreSQL_server".into());
        DebeziumConfig::from_properties(&map).unwrap()
    }

    #[test]
    fn topics_follow_debezium_defaults() {
        let c = config(&[]);
        assert_eq!(
            data_topic(&c, &TableId::new("public", "customers")),
            "PostgreSQL_server.public.customers"
        );
        assert_eq!(transaction_topic(&c), "PostgreSQL_server.transaction");
        assert_eq!(heartbeat_topic(&c), "__debezium-heartbeat.PostgreSQL_server");
        assert_eq!(message_topic(&c), "PostgreSQL_server.message");
    }

    #[test]
    fn delimiter_and_custom_topic_names() {
        let c = config(&[
            ("topic.delimiter", "_"),
            ("topic.transaction", "tx"),
            ("topic.heartbeat.prefix", "hb"),
        ]);
        assert_eq!(data_topic(&c, &TableId::new("s", "t")), "PostgreSQL_server_s_t");
        assert_eq!(transaction_topic(&c), "PostgreSQL_server_tx");
        assert_eq!(heartbeat_topic(&c), "hb_PostgreSQL_server");
        assert_eq!(message_topic(&c), "PostgreSQL_server.message", "always a dot");
    }

    #[test]
    fn topic_sanitization() {
        let c = config(&[]);
        assert_eq!(
            data_topic(&c, &TableId::new("my schema", "Tab$le")),
            "PostgreSQL_server.my_schema.Tab_le"
        );
        assert_eq!(data_topic(&c, &TableId::new("public", "größe")), "PostgreSQL_server.public.gr__e");
        // A character outside the BMP is two UTF-16 units, hence two underscores.
        assert_eq!(sanitize_topic_name("a😀b"), "a__b");
        assert_eq!(sanitize_topic_name("."), "_");
        assert_eq!(sanitize_topic_name(".."), "__");
        assert_eq!(sanitize_topic_name(&"x".repeat(300)).len(), 249);
        assert_eq!(data_topic(&c, &TableId::new(" ", "t")), "PostgreSQL_server.t", "blank parts dropped");
    }

    #[test]
    fn avro_schema_names() {
        let a = |s: &str| adjusted_name(NameAdjustment::Avro, NameKind::Schema, s);
        assert_eq!(a("test_server.connector_test.products.Key"), None);
        assert_eq!(a("test-server.x.Key").as_deref(), Some("test_server.x.Key"));
        assert_eq!(a("24ColumnName").as_deref(), Some("_24ColumnName"));
        assert_eq!(a("a$b").as_deref(), Some("a_b"));
        assert_eq!(adjusted_name(NameAdjustment::None, NameKind::Schema, "a-b"), None);
    }

    #[test]
    fn avro_unicode_schema_names() {
        let u = |s: &str| adjusted_name(NameAdjustment::AvroUnicode, NameKind::Schema, s);
        assert_eq!(u("_hello_语言.").as_deref(), Some("_u005fhello_u005f_u8bed_u8a00."));
        // Integer.toHexString is padded with "00" only up to two digits.
        assert_eq!(u("aā").as_deref(), Some("a_u101"));
        assert_eq!(u("1a").as_deref(), Some("_u0031a"), "no digit kept in unicode mode");
        assert_eq!(u("a\u{1}").as_deref(), Some("a_u001"));
    }

    #[test]
    fn field_names_exclude_dots() {
        assert_eq!(adjusted_name(NameAdjustment::Avro, NameKind::Field, "a.b").as_deref(), Some("a_b"));
        assert_eq!(adjusted_name(NameAdjustment::Avro, NameKind::Field, "9x").as_deref(), Some("_9x"));
        assert_eq!(
            adjusted_name(NameAdjustment::AvroUnicode, NameKind::Field, "a.b").as_deref(),
            Some("a_u002eb")
        );
        assert_eq!(adjusted_name(NameAdjustment::Avro, NameKind::Field, "ok_name1"), None);
    }

    #[test]
    fn conflicting_replacements_fail() {
        let mut adj = NameAdjuster::new(NameAdjustment::Avro, NameKind::Schema);
        assert_eq!(adj.adjust("some-invalid-fullname$").unwrap(), "some_invalid_fullname_");
        assert_eq!(adj.adjust("some-invalid-fullname$").unwrap(), "some_invalid_fullname_");
        let err = adj.adjust("some-invalid%fullname_").unwrap_err();
        assert!(matches!(err, DebeziumError::NameConflict(_)), "{err}");
        // A valid name is never remembered, so it cannot conflict (as in Debezium).
        let mut adj = NameAdjuster::new(NameAdjustment::Avro, NameKind::Field);
        assert_eq!(adj.adjust("a_b").unwrap(), "a_b");
        assert_eq!(adj.adjust("a-b").unwrap(), "a_b");
    }
}
