//! One-shot operator tools behind `aivex migrate`, `aivex indicators`, `aivex news-preview`,
//! `aivex calibrate`, `aivex replay` and `aivex cluster status`. Each is a thin shell over its
//! layer's crate, in its own file(s); `parse_date` is the date form every `--since`/`--from`/
//! `--to` takes, `open_store` the one way a reading tool opens the configured store.
//!
//! Tools report failures as their own `ToolError`; they must not import the CLI (which calls
//! them) nor decide exit codes: `cli` maps a `ToolError` to its exit code.

mod calibrate;
pub mod cluster;
mod indicators;
pub mod migrate;
mod news_preview;
mod replay;
mod replay_output;

pub use calibrate::calibrate;
pub use cluster::cluster_status;
pub use indicators::indicators;
pub use migrate::migrate;
pub use news_preview::news_preview;
pub use replay::{replay, ReplayArgs};

use crate::config::Config;
use aivex_store::{redact_url, Store};
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

/// A date flag: `YYYY-MM-DD` (00:00 UTC that day) or an RFC 3339 timestamp, as Unix seconds.
/// The error names the flag and the value.
pub(crate) fn parse_date(flag: &str, s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    t.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_second())
        .ok_or_else(|| format!("{flag} {s:?} is not a date (YYYY-MM-DD or an RFC 3339 timestamp)"))
}

/// Opens the configured store for reading and checks its schema is the binary's; errors name
/// the store with its password redacted.
pub(crate) fn open_store(cfg: &Config) -> Result<Store, ToolError> {
    let store = Store::open(&cfg.database.url).map_err(|e| {
        ToolError::Failed(format!(
            "cannot open the store {}: {e}",
            redact_url(&cfg.database.url)
        ))
    })?;
    store
        .check_schema()
        .map_err(|e| ToolError::Failed(format!("{}: {e}", store.redacted_url())))?;
    Ok(store)
}
