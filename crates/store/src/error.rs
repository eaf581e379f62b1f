//! `StoreError`, the one error type of the store layer, and its mapping into the module error
//! hierarchy.
//!
//! It owns the decision of which store failure is transient (ExternalService), which is the
//! caller's bad data (DataValidation) and which needs an operator (Config). It must never carry
//! a database password: every message is built from driver text that has been scrubbed by the
//! backend, or from a redacted URL.

use aivex_core::ModuleError;
use std::fmt;

/// Everything the store can fail with.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The database URL cannot be used (unknown scheme, missing part, bad parameter).
    BadUrl(String),
    /// The database cannot be reached, a connection dropped, I/O failed or a lock wait timed
    /// out. Retrying later may succeed.
    Unavailable(String),
    /// The database rejected a write because of a constraint (unique, foreign key, check,
    /// not-null) or a value it cannot store.
    Constraint(String),
    /// A value handed to the store (or read back from it) is unusable; names the record and
    /// field.
    InvalidValue(String),
    /// The database schema is older than this binary needs.
    SchemaBehind { current: u32, needed: u32 },
    /// The database schema was migrated by a newer binary than this one.
    SchemaAhead { current: u32, known: u32 },
    /// An applied migration's text no longer matches the one embedded in this binary.
    ChecksumDrift { version: u32, name: String },
    /// A fenced write found that this node no longer holds the shard at the epoch it
    /// composed under (the lease expired or moved): nothing of the transaction was written.
    LostLease { shard: u32, detail: String },
    /// An operation the backend does not offer (the cluster tables need MySQL/MariaDB).
    Unsupported(String),
    /// A migration statement failed; the message names the migration.
    MigrationFailed {
        version: u32,
        name: String,
        detail: String,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::BadUrl(m) => write!(f, "bad database url: {m}"),
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Constraint(m) => write!(f, "database rejected the write: {m}"),
            StoreError::InvalidValue(m) => write!(f, "invalid value: {m}"),
            StoreError::SchemaBehind { current, needed } => write!(
                f,
                "schema is at version {current}, binary needs {needed}: run aivex migrate"
            ),
            StoreError::SchemaAhead { current, known } => write!(
                f,
                "schema is at version {current}, newer than this binary knows ({known}): upgrade aivex"
            ),
            StoreError::ChecksumDrift { version, name } => write!(
                f,
                "applied migration {version:04} ({name}) differs from the one in this binary \
                 (checksum mismatch): migrations are append-only, restore the original file"
            ),
            StoreError::MigrationFailed {
                version,
                name,
                detail,
            } => write!(f, "migration {version:04} ({name}) failed: {detail}"),
            StoreError::LostLease { shard, detail } => {
                write!(f, "lost the lease of shard {shard}: {detail}; nothing written")
            }
            StoreError::Unsupported(m) => write!(f, "not supported by this store: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for ModuleError {
    fn from(e: StoreError) -> ModuleError {
        let msg = e.to_string();
        match e {
            StoreError::Unavailable(_) => ModuleError::ExternalService(msg),
            // A lost lease is the cluster working as designed (another node holds the shard
            // now): the caller's write is refused, the module goes on.
            StoreError::Constraint(_)
            | StoreError::InvalidValue(_)
            | StoreError::LostLease { .. } => ModuleError::DataValidation(msg),
            StoreError::BadUrl(_)
            | StoreError::Unsupported(_)
            | StoreError::SchemaBehind { .. }
            | StoreError::SchemaAhead { .. }
            | StoreError::ChecksumDrift { .. }
            | StoreError::MigrationFailed { .. } => ModuleError::Config(msg),
        }
    }
}

/// Replaces every occurrence of `secret` in `text` with `***`. Backends run driver messages
/// through this as a last line of defence; passwords shorter than 4 characters are not
/// scrubbed because replacing them would mangle ordinary words (and they never reach a
/// message through our own formatting anyway).
pub(crate) fn scrub(text: String, secret: &str) -> String {
    if secret.len() >= 4 && text.contains(secret) {
        text.replace(secret, "***")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_store_contract() {
        let table: [(StoreError, &str); 10] = [
            (StoreError::BadUrl("x".into()), "ConfigError"),
            (StoreError::Unsupported("x".into()), "ConfigError"),
            (
                StoreError::LostLease {
                    shard: 3,
                    detail: "x".into(),
                },
                "DataValidationError",
            ),
            (StoreError::Unavailable("x".into()), "ExternalServiceError"),
            (StoreError::Constraint("x".into()), "DataValidationError"),
            (StoreError::InvalidValue("x".into()), "DataValidationError"),
            (
                StoreError::SchemaBehind {
                    current: 0,
                    needed: 1,
                },
                "ConfigError",
            ),
            (
                StoreError::SchemaAhead {
                    current: 2,
                    known: 1,
                },
                "ConfigError",
            ),
            (
                StoreError::ChecksumDrift {
                    version: 1,
                    name: "initial".into(),
                },
                "ConfigError",
            ),
            (
                StoreError::MigrationFailed {
                    version: 1,
                    name: "initial".into(),
                    detail: "x".into(),
                },
                "ConfigError",
            ),
        ];
        for (err, class) in table {
            let text = err.to_string();
            assert_eq!(ModuleError::from(err).class(), class, "{text}");
        }
    }

    #[test]
    fn schema_behind_tells_the_operator_what_to_do() {
        let e = StoreError::SchemaBehind {
            current: 0,
            needed: 1,
        };
        assert_eq!(
            e.to_string(),
            "schema is at version 0, binary needs 1: run aivex migrate"
        );
    }

    #[test]
    fn scrub_table() {
        let table = [
            (
                "access denied for s3cretpw",
                "s3cretpw",
                "access denied for ***",
            ),
            ("nothing here", "s3cretpw", "nothing here"),
            ("short a pass", "a", "short a pass"),
        ];
        for (text, secret, want) in table {
            assert_eq!(scrub(text.to_string(), secret), want);
        }
    }
}
