//! Loading the global config and the enabled modules' manifests from disk, applying defaults and
//! environment overrides, and validating. The only file I/O of the config layer lives here.

use super::alerts::{self, RawAlerts};
use super::deps;
use super::env;
use super::locate::{key_line, line_of, settings_line};
use super::manifest::{self, hex, SandboxDefaults};
use super::registry::Registry;
use super::{
    resolve_against, Config, ConfigError, DatabaseConfig, Problem, RuntimeConfig, WatchdogConfig,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A loaded config plus the warnings found on the way (problems that do not stop a run).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWatchdog {
    max_restarts: Option<u32>,
    backoff_base_s: Option<f64>,
    backoff_cap_s: Option<f64>,
    heartbeat_ttl_s: Option<f64>,
    crash_loop_count: Option<u32>,
    crash_loop_window_s: Option<f64>,
    stop_grace_s: Option<f64>,
    status_interval_s: Option<f64>,
    healthy_after_s: Option<f64>,
    start_stagger_s: Option<f64>,
    accounting: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    data_dir: Option<PathBuf>,
    modules_dir: Option<PathBuf>,
    enabled: Option<Vec<String>>,
    keep_runs: Option<usize>,
    max_disk_mb: Option<u64>,
    log_max_kb: Option<u64>,
    log_keep: Option<u32>,
    crash_keep: Option<usize>,
    exports: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawDatabase {
    url: Option<String>,
    auto_migrate: Option<bool>,
}

#[derive(Deserialize)]
struct RawGlobal {
    #[serde(default)]
    watchdog: RawWatchdog,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    cluster: super::cluster::RawCluster,
    #[serde(default)]
    alerts: RawAlerts,
}

/// The supervisor's own tables; the registry adds the ones built-ins read (`[eye]`). Any other
/// table gets a warning: nothing reads it.
const OWN_TABLES: &[&str] = &["watchdog", "runtime", "database", "cluster", "alerts"];

/// Loads `path` and every enabled module, checking each built-in's `[settings]` and the global
/// tables built-ins own through `registry`. `getenv` supplies overrides.
pub fn load(
    path: &Path,
    registry: &Registry,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let builtins = registry.names;
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::one(path, None, format!("cannot read config file: {e}")))?;
    let raw: RawGlobal =
        toml::from_str(&text).map_err(|e| manifest::toml_error(path, &text, &e))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| manifest::toml_error(path, &text, &e))?;
    // Absolute, because modules run with their own directory as the working directory.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);

    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    for key in table.keys() {
        let owned = registry.tables.iter().any(|t| t.table == key.as_str());
        if !OWN_TABLES.contains(&key.as_str()) && !owned {
            warnings.push(Problem {
                file: path.to_path_buf(),
                line: line_of(&text, key, "").or_else(|| line_of(&text, "", key)),
                message: format!("unknown table or key `{key}` (ignored)"),
            });
        }
    }

    let d = WatchdogConfig::default();
    let w = &raw.watchdog;
    let mut watchdog = WatchdogConfig {
        max_restarts: w.max_restarts.unwrap_or(d.max_restarts),
        backoff_base_s: w.backoff_base_s.unwrap_or(d.backoff_base_s),
        backoff_cap_s: w.backoff_cap_s.unwrap_or(d.backoff_cap_s),
        heartbeat_ttl_s: w.heartbeat_ttl_s.unwrap_or(d.heartbeat_ttl_s),
        crash_loop_count: w.crash_loop_count.unwrap_or(d.crash_loop_count),
        crash_loop_window_s: w.crash_loop_window_s.unwrap_or(d.crash_loop_window_s),
        stop_grace_s: w.stop_grace_s.unwrap_or(d.stop_grace_s),
        status_interval_s: w.status_interval_s.unwrap_or(d.status_interval_s),
        healthy_after_s: w.healthy_after_s.unwrap_or(d.healthy_after_s),
        start_stagger_s: w.start_stagger_s.unwrap_or(d.start_stagger_s),
        accounting: w.accounting.unwrap_or(d.accounting),
    };
    let r = raw.runtime;
    let mut runtime = RuntimeConfig {
        data_dir: r.data_dir.unwrap_or_else(|| "data".into()),
        modules_dir: r.modules_dir.unwrap_or_else(|| "modules".into()),
        enabled: r.enabled.unwrap_or_default(),
        keep_runs: r.keep_runs.unwrap_or(10),
        max_disk_bytes: r.max_disk_mb.unwrap_or(1024) << 20,
        log_max_bytes: r.log_max_kb.unwrap_or(1024) << 10,
        log_keep: r.log_keep.unwrap_or(3),
        crash_keep: r.crash_keep.unwrap_or(200),
        exports: r.exports.unwrap_or(true),
    };
    let mut database = DatabaseConfig {
        url: raw
            .database
            .url
            .unwrap_or_else(|| "sqlite://aivex.sqlite".into()),
        auto_migrate: raw.database.auto_migrate.unwrap_or(false),
    };
    if let Err(msg) = env::apply(getenv, &mut watchdog, &mut runtime, &mut database) {
        problems.push(Problem {
            file: path.to_path_buf(),
            line: None,
            message: msg,
        });
    }
    runtime.data_dir = normalize(&resolve_against(&dir, &runtime.data_dir));
    runtime.modules_dir = normalize(&resolve_against(&dir, &runtime.modules_dir));
    database.url = resolve_sqlite(&database.url, &runtime.data_dir);
    let cluster = super::cluster::build(
        raw.cluster,
        getenv,
        &super::cluster::hostname,
        &database.url,
        path,
        &text,
        &mut problems,
    );

    validate_watchdog(&watchdog, path, &text, &mut problems, &mut warnings);
    let alerts = alerts::parse(raw.alerts, path, &text, &mut problems);
    let mut seen = std::collections::HashSet::new();
    for name in &runtime.enabled {
        if !valid_name(name) {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: line_of(&text, "runtime", "enabled"),
                message: format!("module name {name:?} must be 1-64 of [a-z0-9_-]"),
            });
        } else if !seen.insert(name.clone()) {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: line_of(&text, "runtime", "enabled"),
                message: format!("module {name:?} is enabled twice"),
            });
        }
    }

    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    let sandbox_defaults = SandboxDefaults {
        mode: getenv("AIVEX_SANDBOX_MODE"),
        memory_limit: getenv("AIVEX_SANDBOX_MEMORY_LIMIT"),
        network: getenv("AIVEX_SANDBOX_NETWORK"),
        timeout: getenv("AIVEX_SANDBOX_TIMEOUT"),
    };
    let mut modules = Vec::new();
    // Where each manifest says `depends_on`, for graph problems found after parsing them all.
    let mut depends_lines: Vec<Option<usize>> = Vec::new();
    for name in runtime.enabled.iter().filter(|n| valid_name(n)) {
        let mdir = runtime.modules_dir.join(name);
        let mpath = mdir.join("module.toml");
        if !mdir.is_dir() {
            warnings.push(Problem {
                file: path.to_path_buf(),
                line: line_of(&text, "runtime", "enabled"),
                message: format!(
                    "enabled module `{name}` has no directory {} (skipped)",
                    mdir.display()
                ),
            });
            continue;
        }
        let mtext = match std::fs::read_to_string(&mpath) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(Problem {
                    file: mpath.clone(),
                    line: None,
                    message: format!(
                        "cannot read manifest of enabled module `{name}`: {e} (skipped)"
                    ),
                });
                continue;
            }
        };
        hasher.update(name.as_bytes());
        hasher.update(mtext.as_bytes());
        match manifest::parse(name, &mdir, &mpath, &mtext, &sandbox_defaults) {
            Ok(spec) => {
                if let super::Run::Builtin(b) = &spec.run {
                    if builtins.contains(&b.as_str()) {
                        if let Err(msg) = (registry.check_settings)(b, &spec.settings) {
                            problems.push(Problem {
                                file: mpath.clone(),
                                line: settings_line(&mtext, &msg),
                                message: msg,
                            });
                        }
                    } else {
                        warnings.push(Problem {
                            file: mpath.clone(),
                            line: line_of(&mtext, "", "builtin"),
                            message: format!(
                                "`{b}` is not a built-in module (known: {}); the module will fail with a config error",
                                builtins.join(", ")
                            ),
                        });
                    }
                }
                depends_lines.push(line_of(&mtext, "", "depends_on"));
                modules.push(spec)
            }
            Err(e) => problems.extend(e.problems),
        }
    }
    deps::problems(
        &modules,
        &depends_lines,
        &watchdog,
        &mut problems,
        &mut warnings,
    );
    // A built-in's global table ([eye]) is checked when that built-in runs.
    for owned in registry.tables {
        let enabled = modules
            .iter()
            .any(|m| m.run == super::Run::Builtin(owned.builtin.to_string()));
        if !enabled {
            continue;
        }
        let value = table
            .get(owned.table)
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or(serde_json::Value::Null);
        if let Err(msg) = (owned.check)(&value, getenv) {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: key_line(&text, owned.table, &msg),
                message: msg,
            });
        }
    }
    if runtime.enabled.is_empty() {
        warnings.push(Problem {
            file: path.to_path_buf(),
            line: line_of(&text, "runtime", "enabled"),
            message: "no modules are enabled ([runtime] enabled = [...])".into(),
        });
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(Loaded {
        config: Config {
            path: path.to_path_buf(),
            dir,
            watchdog,
            runtime,
            database,
            cluster,
            alerts,
            modules,
            hash: hex(&hasher.finalize()),
        },
        warnings,
    })
}

/// Removes `.` and `..` components lexically so paths in logs and state read cleanly.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `sqlite://relative.db` lives under the data directory; other URLs pass through.
fn resolve_sqlite(url: &str, data_dir: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(p) if !p.starts_with('/') && !p.is_empty() => {
            format!("sqlite://{}", data_dir.join(p).display())
        }
        _ => url.to_string(),
    }
}

fn validate_watchdog(
    w: &WatchdogConfig,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let mut check = |ok: bool, key: &str, msg: String| {
        if !ok {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: line_of(text, "watchdog", key),
                message: msg,
            });
        }
    };
    let secs = [
        ("backoff_base_s", w.backoff_base_s),
        ("backoff_cap_s", w.backoff_cap_s),
        ("heartbeat_ttl_s", w.heartbeat_ttl_s),
        ("crash_loop_window_s", w.crash_loop_window_s),
        ("stop_grace_s", w.stop_grace_s),
        ("healthy_after_s", w.healthy_after_s),
        ("start_stagger_s", w.start_stagger_s),
    ];
    for (key, v) in secs {
        check(
            v.is_finite() && v >= 0.0,
            key,
            format!("[watchdog] {key} must be a number of seconds >= 0, got {v}"),
        );
    }
    check(
        w.status_interval_s.is_finite() && w.status_interval_s > 0.0,
        "status_interval_s",
        format!(
            "[watchdog] status_interval_s must be > 0, got {}",
            w.status_interval_s
        ),
    );
    check(
        w.crash_loop_count >= 1,
        "crash_loop_count",
        "[watchdog] crash_loop_count must be >= 1".into(),
    );
    check(
        w.backoff_cap_s >= w.backoff_base_s,
        "backoff_cap_s",
        format!(
            "[watchdog] backoff_cap_s ({}) is below backoff_base_s ({})",
            w.backoff_cap_s, w.backoff_base_s
        ),
    );
    if problems.is_empty() && !super::crash_loop_reachable(w) {
        warnings.push(Problem {
            file: path.to_path_buf(),
            line: line_of(text, "watchdog", "crash_loop_window_s"),
            message: format!(
                "backoff ({}s base, {}s cap) spaces {} crashes over more than crash_loop_window_s ({}s): \
                 crash-loop detection can never trigger; only max_restarts ({}) will stop a crashing module",
                w.backoff_base_s, w.backoff_cap_s, w.crash_loop_count, w.crash_loop_window_s, w.max_restarts
            ),
        });
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
