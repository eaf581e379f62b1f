//! `aivex calibrate` (being written).
use crate::cli::CliError;
use crate::config::Config;

pub fn calibrate(_cfg: &Config, _since: Option<&str>, _json: bool) -> Result<i32, CliError> {
    Err(CliError::Failed("calibrate: not wired yet".into()))
}
