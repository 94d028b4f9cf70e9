//! The registry's operations (register, look up, delete, levels, modes) over a [`SchemaLog`], with
//! Confluent Schema Registry's semantics. The HTTP server is a thin layer over these methods, and
//! in-process code (the publisher) calls them directly.
//!
//! State is derived only from the log ([`crate::state`]). Reads first catch up with the log, so
//! they see writes made by other processes sharing it. Writes are serialized within the process
//! and run: catch up → decide against the current state → append → catch up → check that the
//! write took effect. If another writer's record came first (both claimed the same id or the same
//! version), the write is decided again on the new state, a few times at most.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::compatibility::{self, CompatibilityLevel, DIFFERENT_SCHEMA_TYPE, Previous};
use crate::error::RegistryError;
use crate::log::{LogRecord, SchemaLog};
use crate::schema::AvroSchema;
use crate::state::{self, AVRO, Applied, Mode, RegistryState, StoredSchema, VersionEntry};

/// How many times a write is decided again after losing a race.
const WRITE_ATTEMPTS: u32 = 5;

/// The schema registry.
#[derive(Debug)]
pub struct Registry {
    log: Box<dyn SchemaLog>,
    state: RwLock<RegistryState>,
    /// Serializes catching up (records must be applied once, in order) and writing.
    writer: tokio::sync::Mutex<()>,
}

/// A schema sent for registration, lookup or a compatibility check (Confluent's
/// `RegisterSchemaRequest`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaRequest {
    /// The schema text.
    pub schema: String,
    /// `AVRO` (the default when absent); other types are refused.
    pub schema_type: Option<String>,
    /// Schema references; must be empty (not supported).
    pub references: Vec<serde_json::Value>,
    /// An explicit id, allowed in IMPORT mode only.
    pub id: Option<u32>,
    /// An explicit version, allowed in IMPORT mode (or when it is the next version anyway).
    pub version: Option<u32>,
}

impl SchemaRequest {
    /// A plain Avro schema request.
    pub fn avro(schema: impl Into<String>) -> SchemaRequest {
        SchemaRequest { schema: schema.into(), ..SchemaRequest::default() }
    }
}

/// A subject's version with its schema, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSchema {
    /// The subject.
    pub subject: String,
    /// The version within the subject.
    pub version: u32,
    /// The global schema id.
    pub id: u32,
    /// `AVRO` for everything sluice registers.
    pub schema_type: String,
    /// The schema text.
    pub schema: String,
    /// Whether the version is soft-deleted.
    pub deleted: bool,
}

/// Where a registration landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The global schema id (what the wire format carries).
    pub id: u32,
    /// The version within the subject.
    pub version: u32,
}

/// A version in a request path: a number or `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// The newest version.
    Latest,
    /// A specific version (1 ..= 2^31-1).
    Number(u32),
}

impl VersionSelector {
    /// Parses Confluent's version syntax: `latest` (any case), `-1` (also latest) or 1 ..= 2^31-1.
    pub fn parse(text: &str) -> Result<VersionSelector, RegistryError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSelector::Latest);
        }
        match t.parse::<i64>() {
            Ok(-1) => Ok(VersionSelector::Latest),
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Ok(VersionSelector::Number(n as u32)),
            _ => Err(RegistryError::InvalidVersion { version: text.to_owned() }),
        }
    }
}

/// What a write decided.
enum Plan<T> {
    /// Nothing to write; the answer is known.
    Done(T),
    /// Append these records; the answer if they take effect.
    Write(Vec<LogRecord>, T),
}

/// Refuses subject names Confluent refuses (control characters, reserved names, empty).
fn validate_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty()
        || subject.chars().any(char::is_control)
        || subject == "__GLOBAL"
        || subject == "__EMPTY"
    {
        return Err(RegistryError::InvalidSubject { subject: subject.to_owned() });
    }
    Ok(())
}

/// Parses a request's schema, refusing what this registry does not support.
fn parse_request(request: &SchemaRequest) -> Result<AvroSchema, RegistryError> {
    if let Some(t) = &request.schema_type
        && !t.eq_ignore_ascii_case(AVRO)
    {
        return Err(RegistryError::InvalidSchema {
            message: format!("schema type {t} is not supported: this registry supports only AVRO schemas"),
        });
    }
    if !request.references.is_empty() {
        return Err(RegistryError::InvalidSchema {
            message: "schema references are not supported by this registry; inline the referenced types"
                .to_owned(),
        });
    }
    AvroSchema::parse(&request.schema).map_err(|e| RegistryError::InvalidSchema { message: e.to_string() })
}

fn read_only(subject: Option<&str>) -> RegistryError {
    RegistryError::OperationNotPermitted {
        message: match subject {
            Some(s) => format!("Subject {s} is in read-only mode"),
            None => "The registry is in read-only mode".to_owned(),
        },
    }
}

/// The newest version of `subject` holding `schema` (by canonical text; also matching stored
/// texts written by other registries in a different layout).
fn find_version(
    st: &RegistryState,
    subject: &str,
    schema: &AvroSchema,
    include_deleted: bool,
) -> Option<(u32, VersionEntry)> {
    if let Some(found) = st.find_in_subject(subject, AVRO, schema.canonical(), include_deleted) {
        return Some(found);
    }
    st.versions(subject).collect::<Vec<_>>().into_iter().rev().find(|(_, e)| {
        (include_deleted || !e.deleted)
            && st.schema(e.id).is_some_and(|s| {
                s.schema_type == AVRO
                    && s.text != schema.canonical()
                    && AvroSchema::parse(&s.text).is_ok_and(|p| p.canonical() == schema.canonical())
            })
    })
}

/// The subject's live versions as compatibility checks see them, oldest first.
fn previous_versions(
    st: &RegistryState,
    subject: &str,
    only: Option<u32>,
) -> Vec<(u32, Result<AvroSchema, String>)> {
    st.versions(subject)
        .filter(|(v, e)| !e.deleted && only.is_none_or(|o| o == *v))
        .map(|(v, e)| {
            let parsed = match st.schema(e.id) {
                Some(s) if s.schema_type == AVRO => AvroSchema::parse(&s.text).map_err(|err| {
                    format!("version {v} of subject {subject} is not a valid Avro schema: {err}")
                }),
                Some(_) => Err(DIFFERENT_SCHEMA_TYPE.to_owned()),
                None => Err(format!("version {v} of subject {subject} refers to unknown schema id {}", e.id)),
            };
            (v, parsed)
        })
        .collect()
}

/// Confluent's compatibility messages for `schema` against `previous`, with its closing summary.
fn compatibility_messages(
    level: CompatibilityLevel,
    schema: &AvroSchema,
    previous: &[(u32, Result<AvroSchema, String>)],
) -> Vec<String> {
    let prev: Vec<Previous<'_>> = previous
        .iter()
        .map(|(v, p)| match p {
            Ok(schema) => Previous::Avro { version: Some(*v), schema },
            Err(reason) => Previous::Unusable { reason },
        })
        .collect();
    let mut messages = compatibility::check(level, schema, &prev);
    if !messages.is_empty() {
        messages.push(format!("{{validateFields: 'false', compatibility: '{level}'}}"));
    }
    messages
}

impl Registry {
    /// Opens the registry: replays the whole log into the state.
    pub async fn open(log: Box<dyn SchemaLog>) -> Result<Arc<Registry>, RegistryError> {
        let registry = Registry {
            log,
            state: RwLock::new(RegistryState::default()),
            writer: tokio::sync::Mutex::new(()),
        };
        registry.refresh().await?;
        {
            let st = registry.read();
            tracing::info!(
                subjects = st.subjects(true).count(),
                schemas = st.schema_count(),
                next_id = st.next_id().unwrap_or(0),
                "schema registry state loaded from its log"
            );
        }
        Ok(Arc::new(registry))
    }

    fn read(&self) -> RwLockReadGuard<'_, RegistryState> {
        // Applying never panics halfway in a way that matters; a poisoned lock still holds a state.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies records appended since the last call. Callers hold `writer`.
    async fn catch_up(&self) -> Result<(), RegistryError> {
        let records = self.log.catch_up().await?;
        if records.is_empty() {
            return Ok(());
        }
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        for record in &records {
            match st.apply(record) {
                Applied::Applied | Applied::Skipped => {}
                Applied::Conflict(why) => tracing::debug!(%why, "registry log record lost a race; ignored"),
                Applied::Malformed(why) => {
                    tracing::warn!(%why, "registry log record not understood; ignored")
                }
            }
        }
        Ok(())
    }

    /// Catches up with the log (writes by other processes sharing it).
    async fn refresh(&self) -> Result<(), RegistryError> {
        let _guard = self.writer.lock().await;
        self.catch_up().await
    }

    /// A copy of the current state, after catching up with the log.
    pub async fn snapshot(&self) -> Result<RegistryState, RegistryError> {
        self.refresh().await?;
        Ok(self.read().clone())
    }

    async fn write<T>(
        &self,
        what: &str,
        mut plan: impl FnMut(&RegistryState) -> Result<Plan<T>, RegistryError>,
        took_effect: impl Fn(&RegistryState, &T) -> bool,
    ) -> Result<T, RegistryError> {
        let _guard = self.writer.lock().await;
        for attempt in 1..=WRITE_ATTEMPTS {
            self.catch_up().await?;
            let decided = {
                let st = self.read();
                plan(&st)?
            };
            let (records, answer) = match decided {
                Plan::Done(answer) => return Ok(answer),
                Plan::Write(records, answer) => (records, answer),
            };
            self.log.append(records).await?;
            self.catch_up().await?;
            if took_effect(&self.read(), &answer) {
                return Ok(answer);
            }
            tracing::info!(attempt, what, "a concurrent registry write came first; deciding again");
        }
        Err(RegistryError::WriteConflict {
            attempts: WRITE_ATTEMPTS,
            message: format!("{what} kept losing to concurrent writers"),
        })
    }

    /// Registers an Avro schema under `subject` and returns its global id: the fast path for
    /// in-process producers. Same semantics as [`Registry::register_schema`], except that a text
    /// already registered under the subject is answered from memory without catching up with the
    /// log (like a serializer's cache: the id stays valid even if the version was deleted since).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        // Already registered with exactly this text: no parsing, no log access.
        let known = self.read().find_in_subject(subject, AVRO, schema, false).map(|(_, e)| e.id);
        if let Some(id) = known {
            return Ok(id);
        }
        self.register_schema(subject, &SchemaRequest::avro(schema)).await.map(|r| r.id)
    }

    /// Registers a schema under `subject` (Confluent `POST /subjects/{s}/versions`): returns the
    /// existing version if the subject already has this schema; otherwise checks the subject's
    /// mode and compatibility level and adds a version, reusing the schema's global id if another
    /// subject registered the same schema.
    pub async fn register_schema(
        &self,
        subject: &str,
        request: &SchemaRequest,
    ) -> Result<Registered, RegistryError> {
        validate_subject(subject)?;
        let schema = parse_request(request)?;
        if let Some(id) = request.id
            && (id == 0 || id > i32::MAX as u32)
        {
            return Err(RegistryError::InvalidSchema { message: format!("schema id {id} is out of range") });
        }
        self.write(
            "schema registration",
            |st| plan_register(st, subject, request, &schema),
            |st, r| {
                st.version(subject, r.version).is_some_and(|e| e.id == r.id && !e.deleted)
                    && st.schema(r.id).is_some_and(|s| s.text == schema.canonical() && s.schema_type == AVRO)
            },
        )
        .await
    }

    /// Finds the version of `subject` holding `schema` (Confluent `POST /subjects/{s}`).
    pub async fn lookup(
        &self,
        subject: &str,
        request: &SchemaRequest,
        include_deleted: bool,
    ) -> Result<VersionedSchema, RegistryError> {
        let schema = parse_request(request)?;
        self.refresh().await?;
        let st = self.read();
        match find_version(&st, subject, &schema, include_deleted) {
            Some((v, e)) => versioned(&st, subject, v, e),
            None if !st.has_subject(subject, include_deleted) => {
                Err(RegistryError::SubjectNotFound { subject: subject.to_owned() })
            }
            None => Err(RegistryError::SchemaNotFound { id: None }),
        }
    }

    /// The schema bound to an id (Confluent `GET /schemas/ids/{id}`); not found once every
    /// version holding it was permanently deleted.
    pub async fn schema_by_id(&self, id: u32) -> Result<StoredSchema, RegistryError> {
        if let Some(found) = self.live_schema(id) {
            return Ok(found);
        }
        // Perhaps another process registered it a moment ago.
        self.refresh().await?;
        self.live_schema(id).ok_or(RegistryError::SchemaNotFound { id: Some(id) })
    }

    fn live_schema(&self, id: u32) -> Option<StoredSchema> {
        let st = self.read();
        st.holders(id).next()?;
        st.schema(id).cloned()
    }

    /// The (subject, version) pairs holding an id (Confluent `GET /schemas/ids/{id}/versions`).
    pub async fn versions_for_id(
        &self,
        id: u32,
        include_deleted: bool,
    ) -> Result<Vec<(String, u32)>, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        if st.holders(id).next().is_none() {
            return Err(RegistryError::SchemaNotFound { id: None });
        }
        Ok(st
            .holders(id)
            .filter(|(s, v)| include_deleted || st.version(s, *v).is_some_and(|e| !e.deleted))
            .map(|(s, v)| (s.to_owned(), v))
            .collect())
    }

    /// The subjects holding an id (Confluent `GET /schemas/ids/{id}/subjects`).
    pub async fn subjects_for_id(
        &self,
        id: u32,
        include_deleted: bool,
    ) -> Result<Vec<String>, RegistryError> {
        let mut subjects: Vec<String> =
            self.versions_for_id(id, include_deleted).await?.into_iter().map(|(s, _)| s).collect();
        subjects.dedup();
        Ok(subjects)
    }

    /// Subjects in name order, optionally only those starting with `prefix`.
    pub async fn subjects(
        &self,
        prefix: Option<&str>,
        include_deleted: bool,
    ) -> Result<Vec<String>, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        Ok(st
            .subjects(include_deleted)
            .filter(|s| prefix.is_none_or(|p| s.starts_with(p)))
            .map(str::to_owned)
            .collect())
    }

    /// A subject's version numbers, ascending.
    pub async fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<u32>, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        if !st.has_subject(subject, include_deleted) {
            return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
        }
        Ok(st.versions(subject).filter(|(_, e)| include_deleted || !e.deleted).map(|(v, _)| v).collect())
    }

    /// One version of a subject with its schema.
    pub async fn version(
        &self,
        subject: &str,
        selector: VersionSelector,
        include_deleted: bool,
    ) -> Result<VersionedSchema, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        let found = match selector {
            VersionSelector::Latest => st.latest(subject, include_deleted),
            VersionSelector::Number(n) => {
                st.version(subject, n).filter(|e| include_deleted || !e.deleted).map(|e| (n, e))
            }
        };
        match (found, selector) {
            (Some((v, e)), _) => versioned(&st, subject, v, e),
            (None, VersionSelector::Number(n)) if st.has_subject(subject, include_deleted) => {
                Err(RegistryError::VersionNotFound { version: n })
            }
            (None, _) => Err(RegistryError::SubjectNotFound { subject: subject.to_owned() }),
        }
    }

    /// Every version of every subject (optionally starting with `prefix`, or only each subject's
    /// latest), as Confluent's `GET /schemas`.
    pub async fn schemas(
        &self,
        prefix: Option<&str>,
        include_deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<VersionedSchema>, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        let mut out = Vec::new();
        for subject in st.subjects(include_deleted).filter(|s| prefix.is_none_or(|p| s.starts_with(p))) {
            let versions: Vec<(u32, VersionEntry)> =
                st.versions(subject).filter(|(_, e)| include_deleted || !e.deleted).collect();
            let chosen =
                if latest_only { &versions[versions.len().saturating_sub(1)..] } else { &versions[..] };
            for (v, e) in chosen {
                out.push(versioned(&st, subject, *v, *e)?);
            }
        }
        Ok(out)
    }

    /// Deletes a subject: soft (every live version hidden, ids still resolvable) or, after a soft
    /// delete, permanent (versions, level and mode gone). Returns the deleted versions.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>, RegistryError> {
        self.write(
            "subject deletion",
            |st| {
                if !st.has_subject(subject, true) {
                    return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
                }
                if !permanent && !st.has_subject(subject, false) {
                    return Err(RegistryError::SubjectSoftDeleted { subject: subject.to_owned() });
                }
                if st.mode_in_scope(Some(subject)) == Mode::ReadOnly {
                    return Err(read_only(Some(subject)));
                }
                let all: Vec<(u32, VersionEntry)> = st.versions(subject).collect();
                if permanent {
                    if all.iter().any(|(_, e)| !e.deleted) {
                        return Err(RegistryError::SubjectNotSoftDeleted { subject: subject.to_owned() });
                    }
                    let mut records: Vec<LogRecord> =
                        all.iter().rev().map(|(v, _)| state::schema_tombstone(subject, *v)).collect();
                    records.extend(forget_subject_settings(st, subject));
                    Ok(Plan::Write(records, all.iter().map(|(v, _)| *v).collect()))
                } else {
                    let live: Vec<u32> = all.iter().filter(|(_, e)| !e.deleted).map(|(v, _)| *v).collect();
                    let upto = live.last().copied().unwrap_or(0);
                    Ok(Plan::Write(vec![state::delete_subject_record(subject, upto)], live))
                }
            },
            |st, versions: &Vec<u32>| {
                versions.iter().all(|v| st.version(subject, *v).is_none_or(|e| e.deleted && !permanent))
            },
        )
        .await
    }

    /// Deletes one version: soft, or (after a soft delete) permanent. Returns the version.
    pub async fn delete_version(
        &self,
        subject: &str,
        selector: VersionSelector,
        permanent: bool,
    ) -> Result<u32, RegistryError> {
        self.write(
            "version deletion",
            |st| {
                let (version, entry) = match selector {
                    VersionSelector::Number(n) => match st.version(subject, n) {
                        Some(e) => (n, e),
                        None if !st.has_subject(subject, true) => {
                            return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
                        }
                        None => return Err(RegistryError::VersionNotFound { version: n }),
                    },
                    VersionSelector::Latest => match st.latest(subject, permanent) {
                        Some(found) => found,
                        None if !st.has_subject(subject, true) => {
                            return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
                        }
                        None => {
                            return Err(RegistryError::SubjectSoftDeleted { subject: subject.to_owned() });
                        }
                    },
                };
                if !permanent && entry.deleted {
                    return Err(RegistryError::VersionSoftDeleted { subject: subject.to_owned(), version });
                }
                if st.mode_in_scope(Some(subject)) == Mode::ReadOnly {
                    return Err(read_only(Some(subject)));
                }
                if permanent && !entry.deleted {
                    return Err(RegistryError::VersionNotSoftDeleted {
                        subject: subject.to_owned(),
                        version,
                    });
                }
                if permanent {
                    let mut records = vec![state::schema_tombstone(subject, version)];
                    if st.versions(subject).all(|(v, _)| v == version) {
                        records.extend(forget_subject_settings(st, subject));
                    }
                    Ok(Plan::Write(records, version))
                } else {
                    let stored =
                        st.schema(entry.id).ok_or(RegistryError::SchemaNotFound { id: Some(entry.id) })?;
                    let record = state::schema_record(
                        subject,
                        version,
                        entry.id,
                        &stored.schema_type,
                        &stored.text,
                        true,
                    );
                    Ok(Plan::Write(vec![record], version))
                }
            },
            |st, version| st.version(subject, *version).is_none_or(|e| e.deleted && !permanent),
        )
        .await
    }

    /// The compatibility level of a subject (`None`: the global level, BACKWARD unless set). A
    /// subject without its own level is an error unless `default_to_global`.
    pub async fn config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<CompatibilityLevel, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        match subject {
            None => Ok(st.config(None).unwrap_or(CompatibilityLevel::DEFAULT)),
            Some(s) if st.has_config(Some(s)) => {
                Ok(st.config(Some(s)).unwrap_or(CompatibilityLevel::DEFAULT))
            }
            Some(s) if default_to_global => Ok(st.level_in_scope(Some(s))),
            Some(s) => Err(RegistryError::SubjectCompatibilityNotConfigured { subject: s.to_owned() }),
        }
    }

    /// Sets a subject's (or the global) compatibility level.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<CompatibilityLevel, RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        self.write(
            "compatibility level change",
            |st| {
                if st.mode_in_scope(subject) == Mode::ReadOnly {
                    return Err(read_only(subject));
                }
                Ok(Plan::Write(vec![state::config_record(subject, level)], level))
            },
            |_, _| true,
        )
        .await
    }

    /// Removes a subject's (or the global) level; returns the level it had.
    pub async fn delete_config(&self, subject: Option<&str>) -> Result<CompatibilityLevel, RegistryError> {
        self.write(
            "compatibility level removal",
            |st| {
                let old = match subject {
                    Some(s) if !st.has_config(Some(s)) => {
                        return Err(RegistryError::SubjectNotFound { subject: s.to_owned() });
                    }
                    _ => st.config(subject).unwrap_or(CompatibilityLevel::DEFAULT),
                };
                if st.mode_in_scope(subject) == Mode::ReadOnly {
                    return Err(read_only(subject));
                }
                Ok(Plan::Write(vec![state::config_tombstone(subject)], old))
            },
            |_, _| true,
        )
        .await
    }

    /// The mode of a subject (`None`: the global mode, READWRITE unless set). A subject without
    /// its own mode is an error unless `default_to_global`.
    pub async fn mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<Mode, RegistryError> {
        self.refresh().await?;
        let st = self.read();
        match subject {
            None => Ok(st.mode(None).unwrap_or(Mode::DEFAULT)),
            Some(s) => match st.mode(Some(s)) {
                Some(m) => Ok(m),
                None if default_to_global => Ok(st.mode_in_scope(Some(s))),
                None => Err(RegistryError::SubjectModeNotConfigured { subject: s.to_owned() }),
            },
        }
    }

    /// Sets a subject's (or the global) mode. Entering IMPORT requires that the subject (or, for
    /// the global mode, every subject) has no live versions, unless `force`; soft-deleted
    /// versions are then removed for good, as Confluent does.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<Mode, RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        self.write(
            "mode change",
            |st| {
                let mut records = Vec::new();
                if mode == Mode::Import && st.mode_in_scope(subject) != Mode::Import && !force {
                    let scope: Vec<&str> = match subject {
                        Some(s) => vec![s],
                        None => st.subjects(true).collect(),
                    };
                    if scope.iter().any(|s| st.has_subject(s, false)) {
                        return Err(RegistryError::OperationNotPermitted {
                            message: "Cannot import since found existing subjects".to_owned(),
                        });
                    }
                    for s in &scope {
                        records.extend(st.versions(s).map(|(v, _)| state::schema_tombstone(s, v)));
                    }
                    records.push(state::clear_subject_record(subject));
                }
                records.push(state::mode_record(subject, mode));
                Ok(Plan::Write(records, mode))
            },
            |_, _| true,
        )
        .await
    }

    /// Removes a subject's (or the global) mode; returns the mode it had.
    pub async fn delete_mode(&self, subject: Option<&str>) -> Result<Mode, RegistryError> {
        self.write(
            "mode removal",
            |st| {
                let old = match (subject, st.mode(subject)) {
                    (_, Some(m)) => m,
                    (Some(s), None) => return Err(RegistryError::SubjectNotFound { subject: s.to_owned() }),
                    (None, None) => Mode::DEFAULT,
                };
                Ok(Plan::Write(vec![state::mode_tombstone(subject)], old))
            },
            |_, _| true,
        )
        .await
    }

    /// Checks `request` against one version of `subject` (`Some`) or, as registration would,
    /// against its versions under its level (`None`). Returns Confluent's messages; empty means
    /// compatible.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        version: Option<VersionSelector>,
        request: &SchemaRequest,
    ) -> Result<Vec<String>, RegistryError> {
        let schema = parse_request(request)?;
        self.refresh().await?;
        let st = self.read();
        let only = match version {
            None => None,
            Some(VersionSelector::Number(n)) => match st.version(subject, n) {
                Some(e) if !e.deleted => Some(n),
                _ => return Err(RegistryError::VersionNotFound { version: n }),
            },
            Some(VersionSelector::Latest) => match st.latest(subject, false) {
                Some((v, _)) => Some(v),
                None => return Ok(Vec::new()),
            },
        };
        let previous = previous_versions(&st, subject, only);
        Ok(compatibility_messages(st.level_in_scope(Some(subject)), &schema, &previous))
    }
}

/// Tombstones for a subject's own level and mode (when its last version goes for good).
fn forget_subject_settings(st: &RegistryState, subject: &str) -> Vec<LogRecord> {
    let mut records = Vec::new();
    if st.has_config(Some(subject)) {
        records.push(state::config_tombstone(Some(subject)));
    }
    if st.mode(Some(subject)).is_some() {
        records.push(state::mode_tombstone(Some(subject)));
    }
    records
}

fn versioned(
    st: &RegistryState,
    subject: &str,
    version: u32,
    entry: VersionEntry,
) -> Result<VersionedSchema, RegistryError> {
    let stored = st.schema(entry.id).ok_or(RegistryError::SchemaNotFound { id: Some(entry.id) })?;
    Ok(VersionedSchema {
        subject: subject.to_owned(),
        version,
        id: entry.id,
        schema_type: stored.schema_type.clone(),
        schema: stored.text.clone(),
        deleted: entry.deleted,
    })
}

fn plan_register(
    st: &RegistryState,
    subject: &str,
    request: &SchemaRequest,
    schema: &AvroSchema,
) -> Result<Plan<Registered>, RegistryError> {
    let text = schema.canonical();
    // An existing live version with this schema answers, whatever the mode (as in Confluent).
    if let Some((version, e)) = find_version(st, subject, schema, false) {
        let same_id = request.id.is_none_or(|id| id == e.id);
        if same_id && request.version.is_none_or(|v| v == version) {
            return Ok(Plan::Done(Registered { id: e.id, version }));
        }
    }
    let mode = st.mode_in_scope(Some(subject));
    match (mode, request.id) {
        (Mode::ReadOnly, _) => return Err(read_only(Some(subject))),
        (Mode::ReadWrite, Some(_)) => {
            return Err(RegistryError::OperationNotPermitted {
                message: format!("Subject {subject} is not in import mode"),
            });
        }
        (Mode::Import, None) => {
            return Err(RegistryError::OperationNotPermitted {
                message: format!("Subject {subject} is not in read-write mode"),
            });
        }
        _ => {}
    }
    let all: Vec<(u32, VersionEntry)> = st.versions(subject).collect();
    let next_version = match all.last() {
        None => 1,
        Some((v, _)) if *v < i32::MAX as u32 => v + 1,
        Some(_) => {
            return Err(RegistryError::InvalidSchema {
                message: format!("subject {subject} has no version numbers left"),
            });
        }
    };
    let version = match request.version {
        None => next_version,
        Some(v) if mode == Mode::Import || v == next_version => v,
        Some(_) => {
            return Err(RegistryError::InvalidSchema {
                message: "Version is not one more than previous version".to_owned(),
            });
        }
    };
    if version == 0 || version > i32::MAX as u32 {
        return Err(RegistryError::InvalidVersion { version: version.to_string() });
    }
    let id = match request.id {
        Some(id) => {
            if st.schema(id).is_some_and(|s| s.text != text || s.schema_type != AVRO) {
                return Err(RegistryError::OperationNotPermitted {
                    message: format!("Overwrite new schema with id {id} is not permitted."),
                });
            }
            id
        }
        None => match st.id_for(AVRO, text).or_else(|| st.next_id()) {
            Some(id) => id,
            None => {
                return Err(RegistryError::Log {
                    message: "the registry has used every schema id".to_owned(),
                    retryable: false,
                });
            }
        },
    };
    if let Some(existing) = st.version(subject, version)
        && existing.id != id
    {
        return Err(RegistryError::OperationNotPermitted {
            message: format!(
                "Overwrite of {subject} version {version} with another schema is not permitted."
            ),
        });
    }
    if mode != Mode::Import {
        let previous = previous_versions(st, subject, None);
        let messages = compatibility_messages(st.level_in_scope(Some(subject)), schema, &previous);
        if !messages.is_empty() {
            return Err(RegistryError::IncompatibleSchema { subject: subject.to_owned(), messages });
        }
    }
    // Earlier soft-deleted versions holding the same id go for good (as in Confluent).
    let mut records: Vec<LogRecord> = all
        .iter()
        .filter(|(v, e)| e.deleted && e.id == id && *v < version)
        .map(|(v, _)| state::schema_tombstone(subject, *v))
        .collect();
    records.push(state::schema_record(subject, version, id, AVRO, text, false));
    Ok(Plan::Write(records, Registered { id, version }))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;

    /// A log shared by several registries (like a Kafka topic), with a hook that slips another
    /// writer's records in just before the next append.
    #[derive(Debug, Default)]
    struct SharedLog {
        records: Arc<Mutex<Vec<LogRecord>>>,
        cursor: Mutex<usize>,
        sneak_in: Mutex<Vec<LogRecord>>,
    }

    impl SharedLog {
        fn sharing(other: &SharedLog) -> SharedLog {
            SharedLog { records: Arc::clone(&other.records), ..SharedLog::default() }
        }
    }

    impl SchemaLog for SharedLog {
        fn append(&self, records: Vec<LogRecord>) -> BoxFuture<'_, Result<(), RegistryError>> {
            let sneak: Vec<LogRecord> = std::mem::take(&mut *self.sneak_in.lock().unwrap());
            let mut all = self.records.lock().unwrap();
            all.extend(sneak);
            all.extend(records);
            Box::pin(async { Ok(()) })
        }

        fn catch_up(&self) -> BoxFuture<'_, Result<Vec<LogRecord>, RegistryError>> {
            let all = self.records.lock().unwrap();
            let mut cursor = self.cursor.lock().unwrap();
            let new = all[*cursor..].to_vec();
            *cursor = all.len();
            Box::pin(async move { Ok(new) })
        }
    }

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    const V2: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}]}"#;
    const V3_BAD: &str =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"c","type":"string"}]}"#;

    async fn registry() -> Arc<Registry> {
        Registry::open(Box::new(SharedLog::default())).await.unwrap()
    }

    #[tokio::test]
    async fn register_dedupes_versions_and_ids() {
        let r = registry().await;
        assert_eq!(r.register("a", V1).await.unwrap(), 1);
        assert_eq!(r.register("a", V1).await.unwrap(), 1);
        // Same schema, other spacing: same canonical text, same version.
        let spaced = V1.replace(',', ", ");
        assert_eq!(
            r.register_schema("a", &SchemaRequest::avro(spaced)).await.unwrap(),
            Registered { id: 1, version: 1 }
        );
        assert_eq!(r.register("b", V1).await.unwrap(), 1, "ids are global");
        assert_eq!(
            r.register_schema("a", &SchemaRequest::avro(V2)).await.unwrap(),
            Registered { id: 2, version: 2 }
        );
        let err = r.register("a", V3_BAD).await.unwrap_err();
        assert_eq!(err.error_code(), 40901);
        assert!(err.to_string().contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{err}");
        assert!(err.to_string().ends_with("{validateFields: 'false', compatibility: 'BACKWARD'}]"), "{err}");
        r.set_config(Some("a"), CompatibilityLevel::None).await.unwrap();
        assert_eq!(r.register("a", V3_BAD).await.unwrap(), 3);
        assert_eq!(r.versions("a", false).await.unwrap(), [1, 2, 3]);
    }

    #[tokio::test]
    async fn invalid_and_unsupported_schemas_are_refused() {
        let r = registry().await;
        let e = r.register("a", "{").await.unwrap_err();
        assert_eq!(e.error_code(), 42201);
        let json = SchemaRequest { schema_type: Some("JSON".into()), ..SchemaRequest::avro("{}") };
        let e = r.register_schema("a", &json).await.unwrap_err();
        assert!(e.to_string().contains("only AVRO"), "{e}");
        let refs =
            SchemaRequest { references: vec![serde_json::json!({"name":"x"})], ..SchemaRequest::avro(V1) };
        assert_eq!(r.register_schema("a", &refs).await.unwrap_err().error_code(), 42201);
        assert_eq!(r.register("bad\u{1}subject", V1).await.unwrap_err().error_code(), 42208);
    }

    #[tokio::test]
    async fn deletes_follow_confluent_rules() {
        let r = registry().await;
        r.register("a", V1).await.unwrap();
        r.register("a", V2).await.unwrap();
        let code = |e: RegistryError| e.error_code();
        assert_eq!(code(r.delete_version("a", VersionSelector::Number(1), true).await.unwrap_err()), 40407);
        assert_eq!(r.delete_version("a", VersionSelector::Number(1), false).await.unwrap(), 1);
        assert_eq!(code(r.delete_version("a", VersionSelector::Number(1), false).await.unwrap_err()), 40406);
        assert_eq!(code(r.delete_version("a", VersionSelector::Number(9), false).await.unwrap_err()), 40402);
        assert_eq!(code(r.delete_version("zz", VersionSelector::Number(1), false).await.unwrap_err()), 40401);
        assert_eq!(r.versions("a", false).await.unwrap(), [2]);
        assert_eq!(r.versions("a", true).await.unwrap(), [1, 2]);
        assert_eq!(r.schema_by_id(1).await.unwrap().text, AvroSchema::parse(V1).unwrap().canonical());
        assert_eq!(code(r.delete_subject("a", true).await.unwrap_err()), 40405);
        assert_eq!(r.delete_subject("a", false).await.unwrap(), [2]);
        assert_eq!(code(r.delete_subject("a", false).await.unwrap_err()), 40404);
        assert_eq!(code(r.version("a", VersionSelector::Latest, false).await.unwrap_err()), 40401);
        assert_eq!(r.version("a", VersionSelector::Latest, true).await.unwrap().version, 2);
        assert_eq!(r.delete_subject("a", true).await.unwrap(), [1, 2]);
        assert_eq!(code(r.delete_subject("a", true).await.unwrap_err()), 40401);
        assert_eq!(code(r.schema_by_id(1).await.unwrap_err()), 40403);
        // Ids are not reused; the same schema gets its old id back.
        assert_eq!(r.register("a", V2).await.unwrap(), 2);
        assert_eq!(r.register("c", r#""string""#).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn re_registering_a_soft_deleted_schema_gets_a_new_version_with_the_same_id() {
        let r = registry().await;
        r.register("a", V1).await.unwrap();
        r.register("a", V2).await.unwrap();
        r.delete_version("a", VersionSelector::Number(1), false).await.unwrap();
        r.set_config(Some("a"), CompatibilityLevel::None).await.unwrap();
        assert_eq!(
            r.register_schema("a", &SchemaRequest::avro(V1)).await.unwrap(),
            Registered { id: 1, version: 3 }
        );
        // The soft-deleted version 1 holding the same id is gone for good.
        assert_eq!(r.versions("a", true).await.unwrap(), [2, 3]);
    }

    #[tokio::test]
    async fn modes_gate_writes() {
        let r = registry().await;
        r.register("a", V1).await.unwrap();
        r.set_mode(Some("a"), Mode::ReadOnly, false).await.unwrap();
        assert_eq!(r.register("a", V1).await.unwrap(), 1, "existing schemas still resolve");
        assert_eq!(r.register("a", V2).await.unwrap_err().error_code(), 42205);
        assert_eq!(r.delete_subject("a", false).await.unwrap_err().error_code(), 42205);
        assert_eq!(r.set_config(Some("a"), CompatibilityLevel::Full).await.unwrap_err().error_code(), 42205);
        assert_eq!(r.mode(Some("a"), false).await.unwrap(), Mode::ReadOnly);
        assert_eq!(r.delete_mode(Some("a")).await.unwrap(), Mode::ReadOnly);
        assert_eq!(r.mode(Some("a"), false).await.unwrap_err().error_code(), 40409);
        assert_eq!(r.mode(Some("a"), true).await.unwrap(), Mode::ReadWrite);
        // IMPORT needs an empty subject unless forced, and explicit ids.
        assert_eq!(r.set_mode(Some("a"), Mode::Import, false).await.unwrap_err().error_code(), 42205);
        r.set_mode(Some("imp"), Mode::Import, false).await.unwrap();
        assert_eq!(r.register("imp", V1).await.unwrap_err().error_code(), 42205);
        let req = SchemaRequest { id: Some(100), version: Some(7), ..SchemaRequest::avro(V3_BAD) };
        assert_eq!(r.register_schema("imp", &req).await.unwrap(), Registered { id: 100, version: 7 });
        let clash = SchemaRequest { id: Some(1), version: Some(8), ..SchemaRequest::avro(V2) };
        assert_eq!(r.register_schema("imp", &clash).await.unwrap_err().error_code(), 42205);
        r.set_mode(Some("imp"), Mode::ReadWrite, false).await.unwrap();
        assert_eq!(r.register("other", r#""int""#).await.unwrap(), 101, "next id follows the largest");
    }

    #[tokio::test]
    async fn configs_default_and_fall_back() {
        let r = registry().await;
        assert_eq!(r.config(None, false).await.unwrap(), CompatibilityLevel::Backward);
        assert_eq!(r.config(Some("a"), false).await.unwrap_err().error_code(), 40408);
        r.set_config(None, CompatibilityLevel::Full).await.unwrap();
        assert_eq!(r.config(Some("a"), true).await.unwrap(), CompatibilityLevel::Full);
        r.set_config(Some("a"), CompatibilityLevel::Forward).await.unwrap();
        assert_eq!(r.config(Some("a"), false).await.unwrap(), CompatibilityLevel::Forward);
        assert_eq!(r.delete_config(Some("a")).await.unwrap(), CompatibilityLevel::Forward);
        assert_eq!(r.delete_config(Some("a")).await.unwrap_err().error_code(), 40401);
        assert_eq!(r.delete_config(None).await.unwrap(), CompatibilityLevel::Full);
        assert_eq!(r.config(None, false).await.unwrap(), CompatibilityLevel::Backward);
    }

    #[tokio::test]
    async fn compatibility_checks_without_registering() {
        let r = registry().await;
        assert!(r.check_compatibility("a", None, &SchemaRequest::avro(V3_BAD)).await.unwrap().is_empty());
        assert!(
            r.check_compatibility("a", Some(VersionSelector::Latest), &SchemaRequest::avro(V1))
                .await
                .unwrap()
                .is_empty()
        );
        r.register("a", V1).await.unwrap();
        assert!(r.check_compatibility("a", None, &SchemaRequest::avro(V2)).await.unwrap().is_empty());
        assert!(!r.check_compatibility("a", None, &SchemaRequest::avro(V3_BAD)).await.unwrap().is_empty());
        let e = r.check_compatibility("a", Some(VersionSelector::Number(5)), &SchemaRequest::avro(V2)).await;
        assert_eq!(e.unwrap_err().error_code(), 40402);
        assert_eq!(r.versions("a", true).await.unwrap(), [1], "checks do not register");
    }

    #[tokio::test]
    async fn a_writer_that_loses_a_race_decides_again() {
        let first = SharedLog::default();
        let second = SharedLog::sharing(&first);
        let a = Registry::open(Box::new(first)).await.unwrap();
        // Another process's record claiming version 1 and id 1 lands just before ours.
        let b_log = SharedLog::sharing(&second);
        *second.sneak_in.lock().unwrap() =
            vec![state::schema_record("s", 1, 1, AVRO, AvroSchema::parse(V1).unwrap().canonical(), false)];
        let b = Registry::open(Box::new(second)).await.unwrap();
        assert_eq!(
            b.register_schema("s", &SchemaRequest::avro(V2)).await.unwrap(),
            Registered { id: 2, version: 2 }
        );
        // Everyone sharing the log converges on the same state.
        let c = Registry::open(Box::new(b_log)).await.unwrap();
        let sa = a.snapshot().await.unwrap();
        assert_eq!(sa, b.snapshot().await.unwrap());
        assert_eq!(sa, c.snapshot().await.unwrap());
        assert_eq!(a.lookup("s", &SchemaRequest::avro(V1), false).await.unwrap().id, 1);
        assert_eq!(a.register("t", V2).await.unwrap(), 2, "another registry sees and reuses the id");
    }

    #[test]
    fn versions_parse_like_confluent() {
        assert_eq!(VersionSelector::parse("latest").unwrap(), VersionSelector::Latest);
        assert_eq!(VersionSelector::parse(" LATEST ").unwrap(), VersionSelector::Latest);
        assert_eq!(VersionSelector::parse("-1").unwrap(), VersionSelector::Latest);
        assert_eq!(VersionSelector::parse("3").unwrap(), VersionSelector::Number(3));
        for bad in ["0", "-2", "abc", "2147483648", ""] {
            assert_eq!(VersionSelector::parse(bad).unwrap_err().error_code(), 42202, "{bad}");
        }
    }
}
