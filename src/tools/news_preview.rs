//! `aivex news-preview SOURCE` (being written).
use crate::cli::CliError;
use std::path::Path;

pub fn news_preview(_source: &str, _config: &Path) -> Result<i32, CliError> {
    Err(CliError::Failed("news-preview: not wired yet".into()))
}
