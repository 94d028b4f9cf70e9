//! The registry state machine: subjects, versions, ids, compatibility levels and modes, built only
//! by applying log records in log order.
//!
//! Records use the key/value JSON of Confluent Schema Registry's `_schemas` topic
//! (`SchemaKey`/`SchemaValue`, `ConfigKey`/`ConfigValue`, `ModeKey`/`ModeValue`,
//! `DeleteSubjectKey`/`DeleteSubjectValue`, `ClearSubjectKey`/`ClearSubjectValue`, `NoopKey`):
//!
//! | key | value | effect |
//! |---|---|---|
//! | `{"keytype":"SCHEMA","subject":s,"version":v,"magic":1}` | `{"subject","version","id","schemaType"?,"schema","deleted"}` | registers (or soft-deletes, `deleted: true`) version `v` |
//! | same | `null` | permanently deletes version `v` |
//! | `{"keytype":"CONFIG","subject":s or null,"magic":0}` | `{"subject"?,"compatibilityLevel":"BACKWARD"}` or `null` | sets / removes a level |
//! | `{"keytype":"MODE","subject":s or null,"magic":0}` | `{"subject"?,"mode":"READONLY"}` or `null` | sets / removes a mode |
//! | `{"keytype":"DELETE_SUBJECT","subject":s,"magic":0}` | `{"subject":s,"version":v}` | soft-deletes versions `1..=v` |
//! | `{"keytype":"CLEAR_SUBJECT","subject":s or null,"magic":0}` | `{"subject":s}` | forgets soft-deleted versions |
//! | `{"keytype":"NOOP","magic":0}` (or an unknown key type) | anything | nothing |
//!
//! Applying is deterministic, so processes sharing one log converge. When writers race, the first
//! record in log order wins: a schema record claiming an id already bound to a different schema,
//! or a subject/version already holding a different schema, is ignored, and its writer sees that
//! when it reads the log back. Ids are global: the next id is the largest id ever applied plus
//! one, so ids are never reused, even after permanent deletes, and an id always denotes the same
//! schema text.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::compatibility::CompatibilityLevel;
use crate::log::LogRecord;

/// The schema type of Avro schemas; omitted from stored values, as Confluent does.
pub const AVRO: &str = "AVRO";

/// Largest id or version Confluent allows (Java `int`).
const MAX_NUMBER: u64 = i32::MAX as u64;

/// A subject's (or the registry's) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Normal operation.
    ReadWrite,
    /// Reads only; registrations, deletes and config changes are refused.
    ReadOnly,
    /// Registrations must carry their id and version (migrating from another registry); no
    /// compatibility checks.
    Import,
}

impl Mode {
    /// Confluent's default mode.
    pub const DEFAULT: Mode = Mode::ReadWrite;

    /// Parses a mode name case-insensitively (Confluent upper-cases it). Confluent's
    /// `READONLY_OVERRIDE` reads as [`Mode::ReadOnly`].
    pub fn parse(name: &str) -> Option<Mode> {
        Some(match name.to_ascii_uppercase().as_str() {
            "READWRITE" => Mode::ReadWrite,
            "READONLY" | "READONLY_OVERRIDE" => Mode::ReadOnly,
            "IMPORT" => Mode::Import,
            _ => return None,
        })
    }

    /// The upper-case name, as stored and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    /// The global schema id.
    pub id: u32,
    /// Soft-deleted: hidden unless asked for, still resolvable by id.
    pub deleted: bool,
}

/// A schema as stored under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    /// `AVRO`, or another type found in a shared log.
    pub schema_type: String,
    /// The schema text (canonical for schemas sluice registered).
    pub text: String,
}

/// What applying one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state changed (or was confirmed).
    Applied,
    /// A no-op record, or a key type this registry does not use.
    Skipped,
    /// A schema record that lost a race to an earlier record; ignored.
    Conflict(String),
    /// A record that could not be understood; ignored.
    Malformed(String),
}

/// The registry state. Build it with [`RegistryState::default`] and [`RegistryState::apply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryState {
    subjects: BTreeMap<String, BTreeMap<u32, VersionEntry>>,
    /// Every id ever applied, with its schema; never shrinks.
    schemas: BTreeMap<u32, StoredSchema>,
    /// (type, text) → ids with that text.
    ids_by_text: HashMap<(String, String), BTreeSet<u32>>,
    /// id → the (subject, version) pairs that currently hold it, deleted or not.
    holders: HashMap<u32, BTreeSet<(String, u32)>>,
    /// Compatibility levels; `None` key = global. A `None` level is a config without a level.
    configs: BTreeMap<Option<String>, Option<CompatibilityLevel>>,
    /// Modes; `None` key = global.
    modes: BTreeMap<Option<String>, Mode>,
    max_id: u32,
}

/// A parsed record key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Schema { subject: String, version: u32 },
    Config { subject: Option<String> },
    Mode { subject: Option<String> },
    DeleteSubject { subject: String },
    ClearSubject { subject: Option<String> },
    Other,
}

impl RegistryState {
    /// Applies one log record. Never fails: records that cannot be applied are ignored, the same
    /// way in every process, and the outcome says why.
    pub fn apply(&mut self, record: &LogRecord) -> Applied {
        let key = match parse_key(&record.key) {
            Ok(k) => k,
            Err(e) => return Applied::Malformed(e),
        };
        let value = match &record.value {
            None => None,
            Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Null) => None,
                Ok(Value::Object(o)) => Some(o),
                Ok(other) => return Applied::Malformed(format!("value is not a JSON object: {other}")),
                Err(e) => return Applied::Malformed(format!("value is not JSON: {e}")),
            },
        };
        match (key, value) {
            (Key::Schema { subject, version }, Some(v)) => self.apply_schema(subject, version, &v),
            (Key::Schema { subject, version }, None) => {
                self.remove_version(&subject, version);
                Applied::Applied
            }
            (Key::Config { subject }, None) => {
                self.configs.remove(&subject);
                Applied::Applied
            }
            (Key::Config { subject }, Some(v)) => match v.get("compatibilityLevel") {
                None | Some(Value::Null) => {
                    self.configs.insert(subject, None);
                    Applied::Applied
                }
                Some(Value::String(l)) => match CompatibilityLevel::parse(l) {
                    Some(level) => {
                        self.configs.insert(subject, Some(level));
                        Applied::Applied
                    }
                    None => Applied::Malformed(format!("unknown compatibility level \"{l}\"")),
                },
                Some(other) => Applied::Malformed(format!("compatibilityLevel is not a string: {other}")),
            },
            (Key::Mode { subject }, None) => {
                self.modes.remove(&subject);
                Applied::Applied
            }
            (Key::Mode { subject }, Some(v)) => {
                match v.get("mode").and_then(Value::as_str).map(Mode::parse) {
                    Some(Some(mode)) => {
                        self.modes.insert(subject, mode);
                        Applied::Applied
                    }
                    _ => Applied::Malformed(format!("unsupported mode in {}", Value::Object(v))),
                }
            }
            (Key::DeleteSubject { subject }, Some(v)) => {
                if v.get("subject").and_then(Value::as_str).is_some_and(|s| s != subject) {
                    return Applied::Malformed(
                        "DELETE_SUBJECT key and value name different subjects".to_owned(),
                    );
                }
                let Some(upto) = v.get("version").and_then(Value::as_u64) else {
                    return Applied::Malformed("DELETE_SUBJECT value has no version".to_owned());
                };
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, entry) in versions.range_mut(..=upto.min(MAX_NUMBER) as u32) {
                        entry.deleted = true;
                    }
                }
                Applied::Applied
            }
            (Key::ClearSubject { subject }, Some(v)) => {
                let subject = subject.or_else(|| v.get("subject").and_then(Value::as_str).map(str::to_owned));
                self.clear_deleted(subject.as_deref());
                Applied::Applied
            }
            // Non-schema tombstones of other key types are ignored, as in Confluent.
            (Key::DeleteSubject { .. } | Key::ClearSubject { .. }, None) | (Key::Other, _) => {
                Applied::Skipped
            }
        }
    }

    fn apply_schema(&mut self, subject: String, version: u32, v: &Map<String, Value>) -> Applied {
        if v.get("subject").and_then(Value::as_str).is_some_and(|s| s != subject)
            || v.get("version").and_then(Value::as_u64).is_some_and(|n| n != u64::from(version))
        {
            return Applied::Malformed(format!(
                "SCHEMA record for {subject} version {version}: the value names another subject or version"
            ));
        }
        let Some(id) = v.get("id").and_then(Value::as_u64).filter(|id| (1..=MAX_NUMBER).contains(id)) else {
            return Applied::Malformed(format!("SCHEMA record for {subject} version {version}: no valid id"));
        };
        let id = id as u32;
        let Some(text) = v.get("schema").and_then(Value::as_str) else {
            return Applied::Malformed(format!(
                "SCHEMA record for {subject} version {version}: no schema text"
            ));
        };
        let schema_type = v.get("schemaType").and_then(Value::as_str).unwrap_or(AVRO).to_owned();
        let deleted = v.get("deleted").and_then(Value::as_bool).unwrap_or(false);
        if let Some(bound) = self.schemas.get(&id)
            && (bound.text != text || bound.schema_type != schema_type)
        {
            return Applied::Conflict(format!(
                "id {id} is already bound to another schema; {subject} version {version} ignored"
            ));
        }
        if let Some(existing) = self.subjects.get(&subject).and_then(|vs| vs.get(&version))
            && existing.id != id
        {
            return Applied::Conflict(format!(
                "{subject} version {version} already holds schema id {}; the record with id {id} is ignored",
                existing.id
            ));
        }
        self.schemas
            .entry(id)
            .or_insert_with(|| StoredSchema { schema_type: schema_type.clone(), text: text.to_owned() });
        self.ids_by_text.entry((schema_type, text.to_owned())).or_default().insert(id);
        self.holders.entry(id).or_default().insert((subject.clone(), version));
        self.subjects.entry(subject).or_default().insert(version, VersionEntry { id, deleted });
        self.max_id = self.max_id.max(id);
        Applied::Applied
    }

    fn remove_version(&mut self, subject: &str, version: u32) {
        let Some(versions) = self.subjects.get_mut(subject) else { return };
        if let Some(entry) = versions.remove(&version)
            && let Some(h) = self.holders.get_mut(&entry.id)
        {
            h.remove(&(subject.to_owned(), version));
            if h.is_empty() {
                self.holders.remove(&entry.id);
            }
        }
        if versions.is_empty() {
            self.subjects.remove(subject);
        }
    }

    fn clear_deleted(&mut self, subject: Option<&str>) {
        let targets: Vec<(String, u32)> = self
            .subjects
            .iter()
            .filter(|(s, _)| subject.is_none_or(|want| want == s.as_str()))
            .flat_map(|(s, vs)| vs.iter().filter(|(_, e)| e.deleted).map(move |(v, _)| (s.clone(), *v)))
            .collect();
        for (s, v) in targets {
            self.remove_version(&s, v);
        }
    }

    /// The id the next new schema gets (largest id ever applied + 1), `None` when exhausted.
    pub fn next_id(&self) -> Option<u32> {
        self.max_id.checked_add(1).filter(|id| u64::from(*id) <= MAX_NUMBER)
    }

    /// Subjects in name order; with `include_deleted`, also those whose versions are all
    /// soft-deleted.
    pub fn subjects(&self, include_deleted: bool) -> impl Iterator<Item = &str> {
        self.subjects
            .iter()
            .filter(move |(_, vs)| include_deleted || vs.values().any(|e| !e.deleted))
            .map(|(s, _)| s.as_str())
    }

    /// Whether the subject has a version (a live one unless `include_deleted`).
    pub fn has_subject(&self, subject: &str, include_deleted: bool) -> bool {
        self.subjects.get(subject).is_some_and(|vs| include_deleted || vs.values().any(|e| !e.deleted))
    }

    /// The subject's versions in ascending order, deleted ones included (check `deleted`).
    pub fn versions(&self, subject: &str) -> impl Iterator<Item = (u32, VersionEntry)> {
        self.subjects.get(subject).into_iter().flat_map(|vs| vs.iter().map(|(v, e)| (*v, *e)))
    }

    /// One version of a subject, deleted or not.
    pub fn version(&self, subject: &str, version: u32) -> Option<VersionEntry> {
        self.subjects.get(subject).and_then(|vs| vs.get(&version)).copied()
    }

    /// The subject's newest version (a live one unless `include_deleted`).
    pub fn latest(&self, subject: &str, include_deleted: bool) -> Option<(u32, VersionEntry)> {
        self.subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, e)| include_deleted || !e.deleted)
            .map(|(v, e)| (*v, *e))
    }

    /// The schema an id was ever bound to (also after its versions were permanently deleted).
    pub fn schema(&self, id: u32) -> Option<&StoredSchema> {
        self.schemas.get(&id)
    }

    /// The (subject, version) pairs currently holding an id, soft-deleted ones included; empty
    /// once every such version is permanently deleted.
    pub fn holders(&self, id: u32) -> impl Iterator<Item = (&str, u32)> {
        self.holders.get(&id).into_iter().flat_map(|h| h.iter().map(|(s, v)| (s.as_str(), *v)))
    }

    /// The smallest id bound to exactly this schema text, for reuse across subjects.
    pub fn id_for(&self, schema_type: &str, text: &str) -> Option<u32> {
        self.ids_by_text.get(&(schema_type.to_owned(), text.to_owned())).and_then(|ids| ids.first().copied())
    }

    /// The newest version of `subject` holding exactly this schema text (a live one unless
    /// `include_deleted`).
    pub fn find_in_subject(
        &self,
        subject: &str,
        schema_type: &str,
        text: &str,
        include_deleted: bool,
    ) -> Option<(u32, VersionEntry)> {
        let ids = self.ids_by_text.get(&(schema_type.to_owned(), text.to_owned()))?;
        self.subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, e)| (include_deleted || !e.deleted) && ids.contains(&e.id))
            .map(|(v, e)| (*v, *e))
    }

    /// Whether a config record exists for the subject (`None`: the global one).
    pub fn has_config(&self, subject: Option<&str>) -> bool {
        self.configs.contains_key(&subject.map(str::to_owned))
    }

    /// The level configured for the subject (`None`: the global level), if any.
    pub fn config(&self, subject: Option<&str>) -> Option<CompatibilityLevel> {
        self.configs.get(&subject.map(str::to_owned)).copied().flatten()
    }

    /// The level that applies to a subject: its own, else the global one, else BACKWARD.
    pub fn level_in_scope(&self, subject: Option<&str>) -> CompatibilityLevel {
        subject
            .and_then(|s| self.config(Some(s)))
            .or_else(|| self.config(None))
            .unwrap_or(CompatibilityLevel::DEFAULT)
    }

    /// The mode set for the subject (`None`: the global mode), if any.
    pub fn mode(&self, subject: Option<&str>) -> Option<Mode> {
        self.modes.get(&subject.map(str::to_owned)).copied()
    }

    /// The mode that applies to a subject: its own, else the global one, else READWRITE.
    pub fn mode_in_scope(&self, subject: Option<&str>) -> Mode {
        subject.and_then(|s| self.mode(Some(s))).or_else(|| self.mode(None)).unwrap_or(Mode::DEFAULT)
    }

    /// Number of ids ever bound (for logs).
    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }
}

fn parse_key(bytes: &[u8]) -> Result<Key, String> {
    let key: Value = serde_json::from_slice(bytes).map_err(|e| format!("key is not JSON: {e}"))?;
    let Value::Object(key) = key else {
        return Err(format!("key is not a JSON object: {key}"));
    };
    let keytype = key.get("keytype").and_then(Value::as_str).ok_or("key has no keytype")?;
    let subject = match key.get("subject") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("key subject is not a string: {other}")),
    };
    let need_subject = |s: Option<String>| s.ok_or_else(|| format!("{keytype} key has no subject"));
    Ok(match keytype {
        "SCHEMA" => {
            let version = key
                .get("version")
                .and_then(Value::as_u64)
                .filter(|v| (1..=MAX_NUMBER).contains(v))
                .ok_or("SCHEMA key has no valid version")?;
            Key::Schema { subject: need_subject(subject)?, version: version as u32 }
        }
        "CONFIG" => Key::Config { subject },
        "MODE" => Key::Mode { subject },
        "DELETE_SUBJECT" => Key::DeleteSubject { subject: need_subject(subject)? },
        "CLEAR_SUBJECT" => Key::ClearSubject { subject },
        _ => Key::Other,
    })
}

fn record(key: Value, value: Option<Value>) -> LogRecord {
    LogRecord { key: key.to_string().into_bytes(), value: value.map(|v| v.to_string().into_bytes()) }
}

/// A `SCHEMA` record registering (or, with `deleted`, soft-deleting) a version.
pub fn schema_record(
    subject: &str,
    version: u32,
    id: u32,
    schema_type: &str,
    text: &str,
    deleted: bool,
) -> LogRecord {
    let mut value = Map::new();
    value.insert("subject".into(), subject.into());
    value.insert("version".into(), version.into());
    value.insert("id".into(), id.into());
    if schema_type != AVRO {
        value.insert("schemaType".into(), schema_type.into());
    }
    value.insert("schema".into(), text.into());
    value.insert("deleted".into(), deleted.into());
    record(schema_key(subject, version), Some(Value::Object(value)))
}

fn schema_key(subject: &str, version: u32) -> Value {
    json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})
}

/// A `SCHEMA` tombstone: permanently deletes a version.
pub fn schema_tombstone(subject: &str, version: u32) -> LogRecord {
    record(schema_key(subject, version), None)
}

/// A `CONFIG` record setting a level (`subject` `None`: the global level).
pub fn config_record(subject: Option<&str>, level: CompatibilityLevel) -> LogRecord {
    let value = match subject {
        Some(s) => json!({"subject": s, "compatibilityLevel": level.as_str()}),
        None => json!({"compatibilityLevel": level.as_str()}),
    };
    record(json!({"keytype": "CONFIG", "subject": subject, "magic": 0}), Some(value))
}

/// A `CONFIG` tombstone: removes a level.
pub fn config_tombstone(subject: Option<&str>) -> LogRecord {
    record(json!({"keytype": "CONFIG", "subject": subject, "magic": 0}), None)
}

/// A `MODE` record setting a mode (`subject` `None`: the global mode).
pub fn mode_record(subject: Option<&str>, mode: Mode) -> LogRecord {
    let value = match subject {
        Some(s) => json!({"subject": s, "mode": mode.as_str()}),
        None => json!({"mode": mode.as_str()}),
    };
    record(json!({"keytype": "MODE", "subject": subject, "magic": 0}), Some(value))
}

/// A `MODE` tombstone: removes a mode.
pub fn mode_tombstone(subject: Option<&str>) -> LogRecord {
    record(json!({"keytype": "MODE", "subject": subject, "magic": 0}), None)
}

/// A `DELETE_SUBJECT` record soft-deleting versions `1..=version` of a subject.
pub fn delete_subject_record(subject: &str, version: u32) -> LogRecord {
    record(
        json!({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}),
        Some(json!({"subject": subject, "version": version})),
    )
}

/// A `CLEAR_SUBJECT` record forgetting soft-deleted versions (`None`: of every subject).
pub fn clear_subject_record(subject: Option<&str>) -> LogRecord {
    record(
        json!({"keytype": "CLEAR_SUBJECT", "subject": subject, "magic": 0}),
        Some(json!({"subject": subject})),
    )
}

/// A `NOOP` record (Confluent writes these to find the end of the log).
pub fn noop_record() -> LogRecord {
    record(json!({"keytype": "NOOP", "magic": 0}), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(records: &[LogRecord]) -> (RegistryState, Vec<Applied>) {
        let mut state = RegistryState::default();
        let outcomes = records.iter().map(|r| state.apply(r)).collect();
        (state, outcomes)
    }

    fn raw(key: &str, value: Option<&str>) -> LogRecord {
        LogRecord { key: key.as_bytes().to_vec(), value: value.map(|v| v.as_bytes().to_vec()) }
    }

    #[test]
    fn records_use_confluent_json() {
        let r = schema_record("t-value", 1, 3, AVRO, "\"int\"", false);
        assert_eq!(
            String::from_utf8(r.key).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(r.value.unwrap()).unwrap(),
            r#"{"subject":"t-value","version":1,"id":3,"schema":"\"int\"","deleted":false}"#
        );
        let r = schema_record("t", 1, 3, "JSON", "{}", true);
        assert!(String::from_utf8(r.value.unwrap()).unwrap().contains(r#""schemaType":"JSON""#));
        let r = config_record(None, CompatibilityLevel::Full);
        assert_eq!(String::from_utf8(r.key).unwrap(), r#"{"keytype":"CONFIG","subject":null,"magic":0}"#);
        assert_eq!(String::from_utf8(r.value.unwrap()).unwrap(), r#"{"compatibilityLevel":"FULL"}"#);
        let r = mode_record(Some("s"), Mode::ReadOnly);
        assert_eq!(String::from_utf8(r.key).unwrap(), r#"{"keytype":"MODE","subject":"s","magic":0}"#);
        assert_eq!(String::from_utf8(r.value.unwrap()).unwrap(), r#"{"subject":"s","mode":"READONLY"}"#);
        let r = delete_subject_record("s", 4);
        assert_eq!(
            String::from_utf8(r.key).unwrap(),
            r#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#
        );
        assert_eq!(String::from_utf8(r.value.unwrap()).unwrap(), r#"{"subject":"s","version":4}"#);
        assert_eq!(String::from_utf8(noop_record().key).unwrap(), r#"{"keytype":"NOOP","magic":0}"#);
    }

    #[test]
    fn registering_soft_and_permanent_deletes() {
        let (s, out) = replay(&[
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("a", 2, 2, AVRO, "\"long\"", false),
            schema_record("b", 1, 1, AVRO, "\"int\"", false),
        ]);
        assert!(out.iter().all(|o| *o == Applied::Applied));
        assert_eq!(s.subjects(false).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.latest("a", false), Some((2, VersionEntry { id: 2, deleted: false })));
        assert_eq!(s.id_for(AVRO, "\"int\""), Some(1));
        assert_eq!(s.holders(1).collect::<Vec<_>>(), [("a", 1), ("b", 1)]);
        assert_eq!(s.next_id(), Some(3));

        let mut s = s;
        s.apply(&schema_record("a", 2, 2, AVRO, "\"long\"", true));
        assert_eq!(s.latest("a", false).map(|(v, _)| v), Some(1));
        assert_eq!(s.latest("a", true).map(|(v, _)| v), Some(2));
        s.apply(&schema_tombstone("a", 2));
        assert_eq!(s.version("a", 2), None);
        assert_eq!(s.holders(2).count(), 0);
        assert_eq!(s.schema(2).map(|x| x.text.as_str()), Some("\"long\""), "ids stay bound");
        assert_eq!(s.next_id(), Some(3), "ids are never reused");
        s.apply(&schema_tombstone("b", 1));
        s.apply(&schema_tombstone("a", 1));
        assert_eq!(s.subjects(true).count(), 0);
        assert_eq!(s.next_id(), Some(3));
    }

    #[test]
    fn delete_subject_and_clear_subject() {
        let (mut s, _) = replay(&[
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("a", 2, 2, AVRO, "\"long\"", false),
            delete_subject_record("a", 1),
        ]);
        assert!(s.version("a", 1).unwrap().deleted);
        assert!(!s.version("a", 2).unwrap().deleted);
        s.apply(&delete_subject_record("a", 2));
        assert!(!s.has_subject("a", false));
        assert!(s.has_subject("a", true));
        s.apply(&clear_subject_record(Some("a")));
        assert!(!s.has_subject("a", true));
        // A null subject clears every subject's deleted versions.
        s.apply(&schema_record("x", 1, 1, AVRO, "\"int\"", true));
        s.apply(&schema_record("y", 1, 2, AVRO, "\"long\"", false));
        s.apply(&clear_subject_record(None));
        assert_eq!(s.subjects(true).collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn first_record_wins_races() {
        // Two writers both claim id 1 for different schemas: the first in log order wins.
        let (s, out) = replay(&[
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("b", 1, 1, AVRO, "\"long\"", false),
        ]);
        assert!(matches!(out[1], Applied::Conflict(_)));
        assert!(!s.has_subject("b", true));
        // Two writers both claim a/2 for different schemas.
        let (s, out) = replay(&[
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("a", 2, 2, AVRO, "\"long\"", false),
            schema_record("a", 2, 3, AVRO, "\"string\"", false),
        ]);
        assert!(matches!(out[2], Applied::Conflict(_)));
        assert_eq!(s.version("a", 2).map(|e| e.id), Some(2));
        assert_eq!(s.next_id(), Some(3), "ignored records do not consume ids");
        // The same schema under the same id twice is fine (idempotent).
        let (_, out) = replay(&[
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
        ]);
        assert_eq!(out[1], Applied::Applied);
    }

    #[test]
    fn configs_and_modes_are_last_writer_wins() {
        let (mut s, _) = replay(&[
            config_record(None, CompatibilityLevel::Full),
            config_record(Some("a"), CompatibilityLevel::None),
            mode_record(Some("a"), Mode::ReadOnly),
            mode_record(None, Mode::Import),
        ]);
        assert_eq!(s.level_in_scope(Some("a")), CompatibilityLevel::None);
        assert_eq!(s.level_in_scope(Some("b")), CompatibilityLevel::Full);
        assert_eq!(s.mode_in_scope(Some("a")), Mode::ReadOnly);
        assert_eq!(s.mode_in_scope(Some("b")), Mode::Import);
        s.apply(&config_tombstone(Some("a")));
        s.apply(&config_tombstone(None));
        s.apply(&mode_tombstone(None));
        s.apply(&mode_tombstone(Some("a")));
        assert_eq!(s.level_in_scope(Some("a")), CompatibilityLevel::Backward);
        assert_eq!(s.mode_in_scope(Some("a")), Mode::ReadWrite);
        assert!(!s.has_config(Some("a")));
    }

    #[test]
    fn confluent_written_records_are_understood() {
        // As a Confluent registry writes them: schemaType present, legacy config without subject.
        let (s, out) = replay(&[
            raw(
                r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#,
                Some(
                    r#"{"subject":"t","version":1,"id":7,"schemaType":"AVRO","schema":"\"int\"","deleted":false,"md5":"x"}"#,
                ),
            ),
            raw(
                r#"{"keytype":"CONFIG","subject":"t","magic":0}"#,
                Some(r#"{"compatibilityLevel":"forward"}"#),
            ),
            raw(r#"{"keytype":"MODE","subject":null,"magic":0}"#, Some(r#"{"mode":"READONLY_OVERRIDE"}"#)),
            raw(r#"{"keytype":"CONTEXT","tenant":"default","context":".x","magic":0}"#, Some("{}")),
            raw(r#"{"keytype":"NOOP","magic":0}"#, None),
            raw(r#"{"keytype":"DELETE_SUBJECT","subject":"t","magic":0}"#, None),
        ]);
        assert_eq!(out[..3], [Applied::Applied, Applied::Applied, Applied::Applied]);
        assert_eq!(out[3..], [Applied::Skipped, Applied::Skipped, Applied::Skipped]);
        assert_eq!(s.find_in_subject("t", AVRO, "\"int\"", false).map(|(_, e)| e.id), Some(7));
        assert_eq!(s.config(Some("t")), Some(CompatibilityLevel::Forward));
        assert_eq!(s.mode(None), Some(Mode::ReadOnly));
        assert_eq!(s.next_id(), Some(8));
    }

    #[test]
    fn malformed_records_are_ignored_deterministically() {
        let bad = [
            raw("not json", None),
            raw("[]", None),
            raw(r#"{"subject":"x"}"#, None),
            raw(r#"{"keytype":"SCHEMA","subject":"t","magic":1}"#, Some("{}")),
            raw(r#"{"keytype":"SCHEMA","subject":"t","version":0,"magic":1}"#, Some("{}")),
            raw(r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#, Some(r#"{"id":1}"#)),
            raw(
                r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#,
                Some(r#"{"id":0,"schema":"x"}"#),
            ),
            raw(
                r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#,
                Some(r#"{"subject":"u","id":1,"schema":"x"}"#),
            ),
            raw(r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#, Some("[1]")),
            raw(r#"{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}"#, Some("{")),
            raw(
                r#"{"keytype":"CONFIG","subject":"t","magic":0}"#,
                Some(r#"{"compatibilityLevel":"SIDEWAYS"}"#),
            ),
            raw(r#"{"keytype":"MODE","subject":"t","magic":0}"#, Some(r#"{"mode":"FORWARD"}"#)),
            raw(r#"{"keytype":"DELETE_SUBJECT","subject":"t","magic":0}"#, Some(r#"{"subject":"t"}"#)),
            raw(r#"{"keytype":"SCHEMA","subject":7,"version":1,"magic":1}"#, None),
        ];
        for r in &bad {
            let mut s = RegistryState::default();
            let out = s.apply(r);
            assert!(matches!(out, Applied::Malformed(_)), "{:?} -> {out:?}", String::from_utf8_lossy(&r.key));
            assert_eq!(s, RegistryState::default());
        }
    }

    #[test]
    fn replaying_the_same_log_gives_the_same_state() {
        let log = vec![
            schema_record("a", 1, 1, AVRO, "\"int\"", false),
            schema_record("b", 1, 1, AVRO, "\"long\"", false),
            schema_record("a", 2, 2, AVRO, "\"long\"", false),
            delete_subject_record("a", 2),
            schema_tombstone("a", 1),
            config_record(Some("a"), CompatibilityLevel::Full),
            mode_record(None, Mode::ReadOnly),
        ];
        assert_eq!(replay(&log).0, replay(&log).0);
    }
}
