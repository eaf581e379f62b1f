//! Reads the module environment contract (`AIVEX_*` variables set by the supervisor) into a
//! `RunnerEnv`. Missing required variables and unparsable values are ConfigErrors naming the
//! variable. A module may also be run by hand, without a supervisor: then defaults apply.

use super::RunnerEnv;
use aivex_core::{ModuleEnv, ModuleError};
use std::path::PathBuf;
use std::time::Duration;

fn var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn secs(k: &str) -> Result<Option<f64>, ModuleError> {
    match var(k) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(Some)
            .ok_or_else(|| ModuleError::Config(format!("{k}={v:?} is not a number of seconds"))),
    }
}

pub fn read(name: &str, once_flag: bool) -> Result<RunnerEnv, ModuleError> {
    if let Some(required) = var("AIVEX_REQUIRED_ENV") {
        let missing: Vec<&str> = required
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty() && var(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(ModuleError::Config(format!(
                "missing required environment variable(s): {}",
                missing.join(", ")
            )));
        }
    }
    let settings = match var("AIVEX_SETTINGS") {
        None => serde_json::Value::Object(Default::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ModuleError::Config(format!("AIVEX_SETTINGS is not valid JSON: {e}")))?,
    };
    let config_dir = var("AIVEX_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"));
    let data_dir = var("AIVEX_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"));
    let database_url = var("AIVEX_DATABASE_URL")
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("aivex.sqlite").display()));
    let once =
        once_flag || var("AIVEX_ONCE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let ttl = secs("AIVEX_HEARTBEAT_TTL_S")?
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64);
    Ok(RunnerEnv {
        module: ModuleEnv {
            name: var("AIVEX_MODULE").unwrap_or_else(|| name.to_string()),
            settings,
            config_dir,
            data_dir,
            run_dir: var("AIVEX_RUN_DIR").map(PathBuf::from),
            database_url,
            interval_s: secs("AIVEX_INTERVAL_S")?.unwrap_or(60.0),
            once,
        },
        heartbeat_file: var("AIVEX_HEARTBEAT_FILE").map(PathBuf::from),
        heartbeat_ttl: ttl,
        stop_grace: Duration::from_secs_f64(secs("AIVEX_STOP_GRACE_S")?.unwrap_or(10.0)),
        cycle_timeout: secs("AIVEX_CYCLE_TIMEOUT_S")?
            .filter(|t| *t > 0.0)
            .map(Duration::from_secs_f64),
        crash_keep: var("AIVEX_CRASH_KEEP")
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
    })
}
