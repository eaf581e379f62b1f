//! `aivex migrate`: applies pending schema migrations to the configured store. Also the
//! automatic migration the supervisor runs at start for the embedded SQLite store.

use super::ToolError;
use crate::config::{redact_url, Config};

pub fn migrate(cfg: &Config) -> Result<(), ToolError> {
    let report = apply(&cfg.database.url).map_err(ToolError::Failed)?;
    if report.applied.is_empty() {
        println!(
            "{}: schema is up to date (version {})",
            redact_url(&cfg.database.url),
            report.version
        );
    } else {
        println!(
            "{}: applied migration(s) {:?}; schema is now at version {}",
            redact_url(&cfg.database.url),
            report.applied,
            report.version
        );
    }
    Ok(())
}

/// Opens the store and migrates it; the error never holds the password.
pub fn apply(url: &str) -> Result<aivex_store::MigrateReport, String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                format!(
                    "cannot create the directory of the SQLite store {}: {e}",
                    parent.display()
                )
            })?;
        }
    }
    let shown = crate::config::redact_url(url);
    let mut store =
        aivex_store::Store::open(url).map_err(|e| format!("cannot open the store {shown}: {e}"))?;
    store
        .migrate()
        .map_err(|e| format!("migration of {shown} failed: {e}"))
}
