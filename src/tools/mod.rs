//! One-shot operator tools behind `aivex migrate`, `aivex indicators`, `aivex news-preview` and
//! `aivex calibrate`. Each is a thin shell over its layer's crate, in its own file.
//!
//! Tools report failures as their own `ToolError`; they must not import the CLI (which calls
//! them) nor decide exit codes: `cli` maps a `ToolError` to its exit code.

mod calibrate;
mod indicators;
pub mod migrate;
mod news_preview;

pub use calibrate::calibrate;
pub use indicators::indicators;
pub use migrate::migrate;
pub use news_preview::news_preview;

use std::fmt;

/// Why a tool failed.
#[derive(Debug)]
pub enum ToolError {
    /// A bad argument value (e.g. `--since` that is not a date).
    Usage(String),
    /// The configuration the tool reads is invalid.
    Config(crate::config::ConfigError),
    /// Something failed while running (a file, the store, a feed).
    Failed(String),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Usage(m) | ToolError::Failed(m) => f.write_str(m),
            ToolError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ToolError {}
