//! The module error hierarchy (RecoverableError, FatalError, ConfigError, ExternalServiceError,
//! DataValidationError) and what each means for the process.
//!
//! Every layer maps its own errors into `ModuleError` at the module boundary; the exit code
//! for each class is decided here and nowhere else. No I/O here.

use crate::exit;
use std::fmt;

/// An error a module cycle can end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleError {
    /// Something went wrong that a restart after backoff may fix. Exit 1.
    Recoverable(String),
    /// The module cannot continue; restart depends on the module's policy. Exit 3.
    Fatal(String),
    /// Misconfiguration (a kind of FatalError): never restarted until fixed. Exit 2.
    Config(String),
    /// A transient failure of something outside aivex (HTTP source, database). Exit 75.
    ExternalService(String),
    /// A bad record or batch: recorded and skipped, the module keeps running. No exit.
    DataValidation(String),
}

impl ModuleError {
    /// The class name used in crash records and logs (matches the seed's exception names).
    pub fn class(&self) -> &'static str {
        match self {
            ModuleError::Recoverable(_) => "RecoverableError",
            ModuleError::Fatal(_) => "FatalError",
            ModuleError::Config(_) => "ConfigError",
            ModuleError::ExternalService(_) => "ExternalServiceError",
            ModuleError::DataValidation(_) => "DataValidationError",
        }
    }

    /// The process exit code this error ends the module with, or `None` when the module keeps
    /// running (DataValidationError: the bad input is skipped and retried next cycle).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ModuleError::Recoverable(_) => Some(exit::RECOVERABLE),
            ModuleError::Fatal(_) => Some(exit::FATAL),
            ModuleError::Config(_) => Some(exit::CONFIG),
            ModuleError::ExternalService(_) => Some(exit::EXTERNAL_SERVICE),
            ModuleError::DataValidation(_) => None,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ModuleError::Recoverable(m)
            | ModuleError::Fatal(m)
            | ModuleError::Config(m)
            | ModuleError::ExternalService(m)
            | ModuleError::DataValidation(m) => m,
        }
    }

    /// Adds context in front of the message, keeping the class.
    pub fn context(self, what: impl fmt::Display) -> ModuleError {
        let wrap = |m: String| format!("{what}: {m}");
        match self {
            ModuleError::Recoverable(m) => ModuleError::Recoverable(wrap(m)),
            ModuleError::Fatal(m) => ModuleError::Fatal(wrap(m)),
            ModuleError::Config(m) => ModuleError::Config(wrap(m)),
            ModuleError::ExternalService(m) => ModuleError::ExternalService(wrap(m)),
            ModuleError::DataValidation(m) => ModuleError::DataValidation(wrap(m)),
        }
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class(), self.message())
    }
}

impl std::error::Error for ModuleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_seed_table() {
        let table = [
            (ModuleError::Recoverable("x".into()), Some(1)),
            (ModuleError::Fatal("x".into()), Some(3)),
            (ModuleError::Config("x".into()), Some(2)),
            (ModuleError::ExternalService("x".into()), Some(75)),
            (ModuleError::DataValidation("x".into()), None),
        ];
        for (err, code) in table {
            assert_eq!(err.exit_code(), code, "{err}");
        }
    }

    #[test]
    fn context_keeps_class() {
        let e = ModuleError::ExternalService("timeout".into()).context("GET http://x");
        assert_eq!(e.class(), "ExternalServiceError");
        assert_eq!(e.message(), "GET http://x: timeout");
    }
}
