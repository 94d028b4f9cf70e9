//! The registry crate's error type, classified for supervisors.

use sluice_core::ErrorClass;

/// Everything that can go wrong in the registry client, server or its storage.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A registry client or server property is missing or invalid.
    #[error("invalid schema registry property '{property}': {message}")]
    Config {
        /// The property name, as the user wrote it.
        property: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The registry's durable log (file or Kafka topic) failed.
    #[error("schema registry storage failed: {message}")]
    Log {
        /// What failed.
        message: String,
        /// Whether retrying may help (a broker outage) or not (a corrupt file).
        retryable: bool,
    },
    // The variants below are the registry's answers to requests; their messages are Confluent's
    // (`Errors.java`), so HTTP clients see what a Confluent registry would say.
    /// The subject has no versions (or none that are not deleted). Confluent 40401.
    #[error("Subject '{subject}' not found.")]
    SubjectNotFound {
        /// The subject asked for.
        subject: String,
    },
    /// The subject exists but not this version. Confluent 40402.
    #[error("Version {version} not found.")]
    VersionNotFound {
        /// The version asked for.
        version: u32,
    },
    /// No schema has this id, or the subject has no version with this schema. Confluent 40403.
    #[error("{}", match id { Some(id) => format!("Schema {id} not found"), None => "Schema not found".to_owned() })]
    SchemaNotFound {
        /// The id asked for, when the request was by id.
        id: Option<u32>,
    },
    /// Every version of the subject is soft-deleted; only a permanent delete is left. Confluent 40404.
    #[error("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted {
        /// The subject.
        subject: String,
    },
    /// A permanent subject delete needs a soft delete first. Confluent 40405.
    #[error("Subject '{subject}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted {
        /// The subject.
        subject: String,
    },
    /// The version is soft-deleted already; only a permanent delete is left. Confluent 40406.
    #[error(
        "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
    },
    /// A permanent version delete needs a soft delete first. Confluent 40407.
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
    },
    /// The subject has no compatibility level of its own. Confluent 40408.
    #[error("Subject '{subject}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured {
        /// The subject.
        subject: String,
    },
    /// The subject has no mode of its own. Confluent 40409.
    #[error("Subject '{subject}' does not have subject-level mode configured")]
    SubjectModeNotConfigured {
        /// The subject.
        subject: String,
    },
    /// The schema breaks the subject's compatibility level. Confluent 40901 (HTTP 409).
    #[error(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
        messages.join(", ")
    )]
    IncompatibleSchema {
        /// The subject.
        subject: String,
        /// Every reason, in Confluent's format (field paths, old version, level).
        messages: Vec<String>,
    },
    /// The schema text is not a schema this registry accepts. Confluent 42201.
    #[error("Invalid schema: {message}")]
    InvalidSchema {
        /// What is wrong with it.
        message: String,
    },
    /// A version in a path is neither a positive 32-bit number nor `latest`. Confluent 42202.
    #[error(
        "The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] \
         and the string \"latest\""
    )]
    InvalidVersion {
        /// The version as given.
        version: String,
    },
    /// Not one of the seven compatibility levels. Confluent 42203.
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, \
         forward_transitive, and full_transitive"
    )]
    InvalidCompatibilityLevel,
    /// Not a supported mode. Confluent 42204.
    #[error("Invalid mode. Valid values are READWRITE, READONLY and IMPORT.")]
    InvalidMode,
    /// The subject's mode forbids the operation (read-only, import). Confluent 42205.
    #[error("{message}")]
    OperationNotPermitted {
        /// Which subject and mode.
        message: String,
    },
    /// The subject name is not allowed (control characters, reserved names). Confluent 42208.
    #[error("The specified subject '{subject}' is not a valid.")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
    },
    /// Concurrent writers to a shared log kept winning; the write did not take effect.
    #[error(
        "schema registry write did not take effect after {attempts} attempts ({message}); retry the request"
    )]
    WriteConflict {
        /// How many times the write was tried.
        attempts: u32,
        /// What kept conflicting.
        message: String,
    },
    // The variants below are the client's: a remote registry's answers and failures.
    /// A registry answered a client request with an error (Confluent's `error_code` and message).
    /// Retryable for HTTP 408, 429 and 5xx and error codes 50001-50003, definite otherwise.
    #[error(
        "{context}: schema registry answered HTTP {status} (error code {error_code}): {message}{}",
        rest_hint(*status, *error_code)
    )]
    Rest {
        /// What sluice was doing, naming the subject or id.
        context: String,
        /// The HTTP status.
        status: u16,
        /// Confluent's `error_code` (50005 when the answer was not Confluent's error JSON).
        error_code: u32,
        /// The registry's message.
        message: String,
    },
    /// A registry could not be reached or did not answer in time (after retries).
    #[error("{context}: schema registry at {url} is unavailable: {message}")]
    Unavailable {
        /// What sluice was doing.
        context: String,
        /// The registry URL, without credentials.
        url: String,
        /// The transport error and its causes.
        message: String,
    },
    /// A registry answered something the REST API does not allow (not JSON, too large): usually a
    /// URL that points at something else, or a proxy's error page.
    #[error("{context}: unexpected answer from schema registry at {url}: {message}")]
    Protocol {
        /// What sluice was doing.
        context: String,
        /// The registry URL, without credentials.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// What to do about a registry's error answer, by status and error code.
fn rest_hint(status: u16, error_code: u32) -> &'static str {
    match (status, error_code) {
        (409, _) | (_, 40901) => {
            " (hint: check the subject's compatibility level, GET /config/<subject>?defaultToGlobal=true, \
             and keep schema changes compatible with it, or change the level)"
        }
        (401, _) => " (hint: check the registry credentials, basic.auth.user.info or bearer.auth.token)",
        (403, _) => " (hint: the credentials lack permission for this operation)",
        (422, 42201) => " (hint: the registry does not accept this schema text)",
        _ => "",
    }
}

impl RegistryError {
    /// Whether retrying may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Config { .. } => ErrorClass::Definite,
            RegistryError::Log { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Definite
                }
            }
            RegistryError::WriteConflict { .. } => ErrorClass::Retryable,
            RegistryError::Unavailable { .. } => ErrorClass::Retryable,
            RegistryError::Protocol { .. } => ErrorClass::Definite,
            RegistryError::Rest { status, error_code, .. } => {
                if matches!(status, 408 | 429 | 500..=599) || matches!(error_code, 50001..=50003) {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Definite
                }
            }
            RegistryError::SubjectNotFound { .. }
            | RegistryError::VersionNotFound { .. }
            | RegistryError::SchemaNotFound { .. }
            | RegistryError::SubjectSoftDeleted { .. }
            | RegistryError::SubjectNotSoftDeleted { .. }
            | RegistryError::VersionSoftDeleted { .. }
            | RegistryError::VersionNotSoftDeleted { .. }
            | RegistryError::SubjectCompatibilityNotConfigured { .. }
            | RegistryError::SubjectModeNotConfigured { .. }
            | RegistryError::IncompatibleSchema { .. }
            | RegistryError::InvalidSchema { .. }
            | RegistryError::InvalidVersion { .. }
            | RegistryError::InvalidCompatibilityLevel
            | RegistryError::InvalidMode
            | RegistryError::OperationNotPermitted { .. }
            | RegistryError::InvalidSubject { .. } => ErrorClass::Definite,
        }
    }

    /// Confluent's `error_code` for this error (40401, 42201, ...; 50001 for storage failures).
    /// The HTTP status is its first three digits.
    pub fn error_code(&self) -> u32 {
        match self {
            RegistryError::SubjectNotFound { .. } => 40401,
            RegistryError::VersionNotFound { .. } => 40402,
            RegistryError::SchemaNotFound { .. } => 40403,
            RegistryError::SubjectSoftDeleted { .. } => 40404,
            RegistryError::SubjectNotSoftDeleted { .. } => 40405,
            RegistryError::VersionSoftDeleted { .. } => 40406,
            RegistryError::VersionNotSoftDeleted { .. } => 40407,
            RegistryError::SubjectCompatibilityNotConfigured { .. } => 40408,
            RegistryError::SubjectModeNotConfigured { .. } => 40409,
            RegistryError::IncompatibleSchema { .. } => 40901,
            RegistryError::InvalidSchema { .. } => 42201,
            RegistryError::InvalidVersion { .. } => 42202,
            RegistryError::InvalidCompatibilityLevel => 42203,
            RegistryError::InvalidMode => 42204,
            RegistryError::OperationNotPermitted { .. } => 42205,
            RegistryError::InvalidSubject { .. } => 42208,
            RegistryError::Rest { error_code, .. } => *error_code,
            RegistryError::Unavailable { .. } | RegistryError::Protocol { .. } => 50001,
            RegistryError::Config { .. }
            | RegistryError::Log { .. }
            | RegistryError::WriteConflict { .. } => 50001,
        }
    }
}
