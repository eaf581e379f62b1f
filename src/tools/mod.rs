//! One-shot operator tools behind `aivex migrate`, `aivex indicators`, `aivex news-preview` and
//! `aivex calibrate`. Each is a thin shell over its layer's crate.

use crate::cli::CliError;
use crate::config::Config;
use std::path::Path;

pub fn migrate(_cfg: &Config) -> Result<i32, CliError> {
    Err(CliError::Failed("migrate: store not wired yet".into()))
}

pub fn indicators(_file: &Path) -> Result<i32, CliError> {
    Err(CliError::Failed("indicators: not wired yet".into()))
}

pub fn news_preview(_source: &str, _config: &Path) -> Result<i32, CliError> {
    Err(CliError::Failed("news-preview: not wired yet".into()))
}

pub fn calibrate(_cfg: &Config, _since: Option<&str>, _json: bool) -> Result<i32, CliError> {
    Err(CliError::Failed("calibrate: not wired yet".into()))
}
