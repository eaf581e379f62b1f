//! The brain crate's one error type and how it maps onto the module error hierarchy.
//!
//! It owns the distinction between a bad configuration (the operator must fix it: exit 2) and a
//! bad input record (skipped and recorded: DataValidationError). It must not carry secrets,
//! and it never decides exit codes itself: aivex-core does that.

use aivex_core::ModuleError;
use std::fmt;

/// What went wrong in the pure core, always naming where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrainError {
    /// A setting is missing, malformed or out of range. `field` is the settings path
    /// (e.g. `governor.trading_hours.timezone`).
    Config { field: String, reason: String },
    /// An input record cannot be used. `source` names the record (symbol, row index, bar ts).
    Input { source: String, reason: String },
}

impl BrainError {
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BrainError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn input(source: impl Into<String>, reason: impl Into<String>) -> Self {
        BrainError::Input {
            source: source.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrainError::Config { field, reason } => write!(f, "setting {field}: {reason}"),
            BrainError::Input { source, reason } => write!(f, "input {source}: {reason}"),
        }
    }
}

impl std::error::Error for BrainError {}

impl From<BrainError> for ModuleError {
    fn from(e: BrainError) -> Self {
        match e {
            BrainError::Config { .. } => ModuleError::Config(e.to_string()),
            BrainError::Input { .. } => ModuleError::DataValidation(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_module_error_classes() {
        let table = [
            (
                BrainError::config("weights.chart", "must be >= 0"),
                "ConfigError",
                "setting weights.chart: must be >= 0",
            ),
            (
                BrainError::input("AAPL chart", "value NaN"),
                "DataValidationError",
                "input AAPL chart: value NaN",
            ),
        ];
        for (err, class, msg) in table {
            let m: ModuleError = err.into();
            assert_eq!(m.class(), class);
            assert_eq!(m.message(), msg);
        }
    }
}
