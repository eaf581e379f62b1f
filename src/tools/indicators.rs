//! `aivex indicators FILE` (being written).
use crate::cli::CliError;
use std::path::Path;

pub fn indicators(_file: &Path) -> Result<i32, CliError> {
    Err(CliError::Failed("indicators: not wired yet".into()))
}
