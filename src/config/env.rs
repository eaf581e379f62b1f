//! Environment overrides of the global config (`WATCHDOG_*`, `AIVEX_*`). They win over the file.
//! Pure: takes a lookup function so tests need not mutate the process environment.

use super::{DatabaseConfig, RuntimeConfig, WatchdogConfig};
use std::path::PathBuf;

/// Applies overrides; an unparsable value is an error naming the variable.
pub fn apply(
    get: &dyn Fn(&str) -> Option<String>,
    w: &mut WatchdogConfig,
    r: &mut RuntimeConfig,
    db: &mut DatabaseConfig,
) -> Result<(), String> {
    if let Some(v) = get("WATCHDOG_MAX_RESTARTS") {
        w.max_restarts = parse(&v, "WATCHDOG_MAX_RESTARTS")?;
    }
    if let Some(v) = get("WATCHDOG_BACKOFF") {
        w.backoff_base_s = parse(&v, "WATCHDOG_BACKOFF")?;
    }
    if let Some(v) = get("WATCHDOG_HEARTBEAT_TTL") {
        w.heartbeat_ttl_s = parse(&v, "WATCHDOG_HEARTBEAT_TTL")?;
    }
    if let Some(v) = get("AIVEX_DATA_DIR") {
        r.data_dir = PathBuf::from(v);
    }
    if let Some(v) = get("AIVEX_MODULES_DIR") {
        r.modules_dir = PathBuf::from(v);
    }
    if let Some(v) = get("AIVEX_ENABLED") {
        r.enabled = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    if let Some(v) = get("AIVEX_EXPORTS") {
        r.exports = parse_bool(&v, "AIVEX_EXPORTS")?;
    }
    if let Some(v) = get("AIVEX_DATABASE_URL") {
        db.url = v;
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(v: &str, name: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("environment variable {name}={v:?} is not a valid number"))
}

pub fn parse_bool(v: &str, name: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "environment variable {name}={v:?} is not a boolean (true/false)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn defaults() -> (WatchdogConfig, RuntimeConfig, DatabaseConfig) {
        let r = RuntimeConfig {
            data_dir: "data".into(),
            modules_dir: "modules".into(),
            enabled: vec![],
            keep_runs: 10,
            max_disk_bytes: 1 << 30,
            log_max_bytes: 1 << 20,
            log_keep: 3,
            crash_keep: 200,
            exports: true,
        };
        (
            WatchdogConfig::default(),
            r,
            DatabaseConfig {
                url: "sqlite://x".into(),
                auto_migrate: false,
            },
        )
    }

    #[test]
    fn overrides_win_and_bad_values_name_the_variable() {
        let env: HashMap<&str, &str> = [
            ("WATCHDOG_MAX_RESTARTS", "3"),
            ("WATCHDOG_BACKOFF", "0.5"),
            ("WATCHDOG_HEARTBEAT_TTL", "7"),
            ("AIVEX_ENABLED", "a, b,,c"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let (mut w, mut r, mut d) = defaults();
        apply(&get, &mut w, &mut r, &mut d).unwrap();
        assert_eq!(
            (w.max_restarts, w.backoff_base_s, w.heartbeat_ttl_s),
            (3, 0.5, 7.0)
        );
        assert_eq!(r.enabled, ["a", "b", "c"]);

        let bad = |k: &str| (k == "WATCHDOG_BACKOFF").then(|| "fast".to_string());
        let err = apply(&bad, &mut w, &mut r, &mut d).unwrap_err();
        assert!(err.contains("WATCHDOG_BACKOFF"), "{err}");
    }
}
