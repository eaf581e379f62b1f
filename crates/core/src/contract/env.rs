//! The child environment: the name of every `AIVEX_*` (and `WATCHDOG_*`) variable aivex sets
//! for a module or reads itself, and `ChildEnv`, the typed set a module process receives.
//!
//! The supervisor builds a `ChildEnv` and turns it into variables with `to_vars`; the module
//! runner (and any built-in) reads it back with `from_vars`. modules/README.md documents the same
//! list for external modules. This file owns names and encodings only: it must not read the
//! process environment itself (callers pass a lookup), so the round trip is testable.

use crate::ModuleError;
use std::ffi::OsString;
use std::path::PathBuf;

/// Variables the supervisor sets for every module (the contract of modules/README.md).
pub mod var {
    pub const MODULE: &str = "AIVEX_MODULE";
    pub const RUN_DIR: &str = "AIVEX_RUN_DIR";
    pub const RUN_ID: &str = "AIVEX_RUN_ID";
    pub const DATA_DIR: &str = "AIVEX_DATA_DIR";
    pub const CONFIG: &str = "AIVEX_CONFIG";
    pub const CONFIG_DIR: &str = "AIVEX_CONFIG_DIR";
    pub const MODULE_DIR: &str = "AIVEX_MODULE_DIR";
    pub const HEARTBEAT_FILE: &str = "AIVEX_HEARTBEAT_FILE";
    pub const HEARTBEAT_TTL_S: &str = "AIVEX_HEARTBEAT_TTL_S";
    pub const INTERVAL_S: &str = "AIVEX_INTERVAL_S";
    pub const SETTINGS: &str = "AIVEX_SETTINGS";
    pub const DATABASE_URL: &str = "AIVEX_DATABASE_URL";
    pub const SUPERVISOR_PID: &str = "AIVEX_SUPERVISOR_PID";
    pub const EXPORTS: &str = "AIVEX_EXPORTS";
    pub const REQUIRED_ENV: &str = "AIVEX_REQUIRED_ENV";
    pub const STOP_GRACE_S: &str = "AIVEX_STOP_GRACE_S";
    pub const CRASH_KEEP: &str = "AIVEX_CRASH_KEEP";
    pub const CYCLE_TIMEOUT_S: &str = "AIVEX_CYCLE_TIMEOUT_S";
    pub const ONCE: &str = "AIVEX_ONCE";
    /// The log filter (also read by aivex itself); set for modules in dev mode.
    pub const LOG: &str = "AIVEX_LOG";
    /// Set only when `[cluster] enabled`: this box's node id, the number of symbol shards, the
    /// lease ttl in seconds, and `all`/`shard` (which symbols ingest modules fetch).
    pub const CLUSTER_NODE_ID: &str = "AIVEX_CLUSTER_NODE_ID";
    pub const CLUSTER_SHARDS: &str = "AIVEX_CLUSTER_SHARDS";
    pub const CLUSTER_LEASE_TTL_S: &str = "AIVEX_CLUSTER_LEASE_TTL_S";
    pub const CLUSTER_INGEST: &str = "AIVEX_CLUSTER_INGEST";
    /// Eye only: its listen address and bearer tokens (a secret: no other module gets it).
    pub const EYE_ADDR: &str = "AIVEX_EYE_ADDR";
    pub const EYE_TOKEN: &str = "AIVEX_EYE_TOKEN";
}

/// Variables aivex reads from its own environment (configuration overrides and switches).
pub mod read {
    pub const CONFIG: &str = super::var::CONFIG;
    pub const CONTROL_SOCKET: &str = "AIVEX_CONTROL_SOCKET";
    pub const DATA_DIR: &str = super::var::DATA_DIR;
    pub const MODULES_DIR: &str = "AIVEX_MODULES_DIR";
    pub const ENABLED: &str = "AIVEX_ENABLED";
    pub const EXPORTS: &str = super::var::EXPORTS;
    pub const DATABASE_URL: &str = super::var::DATABASE_URL;
    pub const EYE_ADDR: &str = super::var::EYE_ADDR;
    pub const EYE_TOKEN: &str = super::var::EYE_TOKEN;
    pub const SANDBOX_MODE: &str = "AIVEX_SANDBOX_MODE";
    pub const SANDBOX_MEMORY_LIMIT: &str = "AIVEX_SANDBOX_MEMORY_LIMIT";
    pub const SANDBOX_NETWORK: &str = "AIVEX_SANDBOX_NETWORK";
    pub const SANDBOX_TIMEOUT: &str = "AIVEX_SANDBOX_TIMEOUT";
    pub const BUILTIN_LAUNCHER: &str = "AIVEX_BUILTIN_LAUNCHER";
    pub const LOG: &str = super::var::LOG;
    pub const LOG_FORMAT: &str = "AIVEX_LOG_FORMAT";
    pub const NODE_ID: &str = "AIVEX_NODE_ID";
    pub const WATCHDOG_MAX_RESTARTS: &str = "WATCHDOG_MAX_RESTARTS";
    pub const WATCHDOG_BACKOFF: &str = "WATCHDOG_BACKOFF";
    pub const WATCHDOG_HEARTBEAT_TTL: &str = "WATCHDOG_HEARTBEAT_TTL";
}

/// Variables that belong to the supervisor's own service manager: never passed to a module.
pub const SUPERVISOR_ONLY: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// What any program needs to run (find programs, a home, a locale, a time zone, temp files):
/// the only variables an external module inherits from the supervisor besides the ones its
/// manifest names (plus the locale's `LC_*`).
pub const PASS_THROUGH: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
];

/// How aivex's own logging is chosen: built-in modules keep these.
pub const LOGGING: &[&str] = &[read::LOG, read::LOG_FORMAT];

/// True for the basics every module keeps (`PASS_THROUGH` and `LC_*`).
pub fn passes_through(name: &str) -> bool {
    PASS_THROUGH.contains(&name) || name.starts_with("LC_")
}

/// Whether a module inherits the supervisor's variable `name`. The supervisor's environment
/// may hold secrets no module needs (the Eye token, alert keys, cloud credentials), so:
/// - variables of the supervisor's service manager never pass;
/// - a variable the manifest names (`env`, `required_env`) always passes;
/// - an external module gets only the basics (`passes_through`) besides those;
/// - a built-in (aivex's own code) keeps the rest of the environment (the dynamic loader's
///   settings, `RUST_LOG`, ...) except aivex's own `AIVEX_*`/`WATCHDOG_*` settings, which it
///   receives through the contract only (`ChildEnv`: the Eye token reaches only Eye), and its
///   logging choice.
pub fn inherits(name: &str, builtin: bool, named: &[&str]) -> bool {
    if SUPERVISOR_ONLY.contains(&name) {
        return false;
    }
    if named.contains(&name) {
        return true;
    }
    if !builtin {
        return passes_through(name);
    }
    if name.starts_with("AIVEX_") || name.starts_with("WATCHDOG_") {
        return LOGGING.contains(&name);
    }
    true
}

/// Everything a module process receives from the supervisor. `Default` is what a module run
/// by hand (no supervisor) assumes.
#[derive(Clone, PartialEq)]
pub struct ChildEnv {
    pub module: String,
    pub run_dir: Option<PathBuf>,
    pub run_id: Option<String>,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub config_dir: PathBuf,
    pub module_dir: Option<PathBuf>,
    pub heartbeat_file: Option<PathBuf>,
    /// Seconds; 0 means heartbeats are not checked.
    pub heartbeat_ttl_s: f64,
    pub interval_s: f64,
    /// The module's `[settings]` table as JSON text.
    pub settings: String,
    /// The store URL. Holds a password for MySQL: never log it (Debug hides it).
    pub database_url: String,
    pub supervisor_pid: Option<u32>,
    pub exports: bool,
    pub required_env: Vec<String>,
    pub stop_grace_s: f64,
    pub crash_keep: usize,
    pub cycle_timeout_s: Option<f64>,
    pub once: bool,
    /// The log filter the supervisor chose for the module (dev mode), if any.
    pub log: Option<String>,
    /// Eye only.
    pub eye_addr: Option<String>,
    /// Eye only; a secret (Debug hides it).
    pub eye_token: Option<String>,
    /// Set when this box is one node of a cluster (`[cluster] enabled`).
    pub cluster: Option<ClusterEnv>,
}

/// What a module needs to know of the cluster this box belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterEnv {
    pub node_id: String,
    pub shards: u32,
    pub lease_ttl_s: f64,
    /// `[cluster] ingest = "shard"`: ingest modules fetch only the symbols of held shards.
    pub ingest_shard: bool,
}

impl Default for ChildEnv {
    fn default() -> Self {
        let data_dir = PathBuf::from("data");
        ChildEnv {
            module: String::new(),
            run_dir: None,
            run_id: None,
            database_url: default_database_url(&data_dir),
            data_dir,
            config: None,
            config_dir: PathBuf::from("config"),
            module_dir: None,
            heartbeat_file: None,
            heartbeat_ttl_s: 0.0,
            interval_s: 60.0,
            settings: "{}".into(),
            supervisor_pid: None,
            exports: true,
            required_env: Vec::new(),
            stop_grace_s: 10.0,
            crash_keep: 200,
            cycle_timeout_s: None,
            once: false,
            log: None,
            eye_addr: None,
            eye_token: None,
            cluster: None,
        }
    }
}

impl std::fmt::Debug for ChildEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "<set>" } else { "<unset>" };
        f.debug_struct("ChildEnv")
            .field("module", &self.module)
            .field("run_dir", &self.run_dir)
            .field("run_id", &self.run_id)
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .field("config_dir", &self.config_dir)
            .field("module_dir", &self.module_dir)
            .field("heartbeat_file", &self.heartbeat_file)
            .field("heartbeat_ttl_s", &self.heartbeat_ttl_s)
            .field("interval_s", &self.interval_s)
            .field("settings", &self.settings)
            .field("database_url", &hidden(!self.database_url.is_empty()))
            .field("supervisor_pid", &self.supervisor_pid)
            .field("exports", &self.exports)
            .field("required_env", &self.required_env)
            .field("stop_grace_s", &self.stop_grace_s)
            .field("crash_keep", &self.crash_keep)
            .field("cycle_timeout_s", &self.cycle_timeout_s)
            .field("once", &self.once)
            .field("log", &self.log)
            .field("eye_addr", &self.eye_addr)
            .field("eye_token", &hidden(self.eye_token.is_some()))
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// The embedded store under `data_dir` (what a module run by hand uses).
pub fn default_database_url(data_dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}",
        super::layout::RunLayout::new(data_dir).sqlite().display()
    )
}

impl ChildEnv {
    /// The variables to set, in a stable order. Optional fields that are unset are left out.
    pub fn to_vars(&self) -> Vec<(&'static str, OsString)> {
        let mut v: Vec<(&'static str, OsString)> = vec![
            (var::MODULE, self.module.clone().into()),
            (var::DATA_DIR, self.data_dir.clone().into()),
            (var::CONFIG_DIR, self.config_dir.clone().into()),
            (
                var::HEARTBEAT_TTL_S,
                self.heartbeat_ttl_s.to_string().into(),
            ),
            (var::INTERVAL_S, self.interval_s.to_string().into()),
            (var::SETTINGS, self.settings.clone().into()),
            (var::DATABASE_URL, self.database_url.clone().into()),
            (var::EXPORTS, self.exports.to_string().into()),
            (var::REQUIRED_ENV, self.required_env.join(",").into()),
            (var::STOP_GRACE_S, self.stop_grace_s.to_string().into()),
            (var::CRASH_KEEP, self.crash_keep.to_string().into()),
        ];
        let mut opt = |k: &'static str, val: Option<OsString>| {
            if let Some(val) = val {
                v.push((k, val));
            }
        };
        opt(var::RUN_DIR, self.run_dir.clone().map(Into::into));
        opt(var::RUN_ID, self.run_id.clone().map(Into::into));
        opt(var::CONFIG, self.config.clone().map(Into::into));
        opt(var::MODULE_DIR, self.module_dir.clone().map(Into::into));
        opt(
            var::HEARTBEAT_FILE,
            self.heartbeat_file.clone().map(Into::into),
        );
        opt(
            var::SUPERVISOR_PID,
            self.supervisor_pid.map(|p| p.to_string().into()),
        );
        opt(
            var::CYCLE_TIMEOUT_S,
            self.cycle_timeout_s.map(|t| t.to_string().into()),
        );
        opt(var::ONCE, self.once.then(|| "1".into()));
        opt(var::LOG, self.log.clone().map(Into::into));
        opt(var::EYE_ADDR, self.eye_addr.clone().map(Into::into));
        opt(var::EYE_TOKEN, self.eye_token.clone().map(Into::into));
        if let Some(c) = &self.cluster {
            v.push((var::CLUSTER_NODE_ID, c.node_id.clone().into()));
            v.push((var::CLUSTER_SHARDS, c.shards.to_string().into()));
            v.push((var::CLUSTER_LEASE_TTL_S, c.lease_ttl_s.to_string().into()));
            let ingest = if c.ingest_shard { "shard" } else { "all" };
            v.push((var::CLUSTER_INGEST, ingest.into()));
        }
        v
    }

    /// Reads the contract back through `get` (empty values count as unset). `name` is the module
    /// name to assume when `AIVEX_MODULE` is unset (a module run by hand). A value that does not
    /// parse is a ConfigError naming the variable.
    pub fn from_vars(
        name: &str,
        get: impl Fn(&str) -> Option<OsString>,
    ) -> Result<ChildEnv, ModuleError> {
        let text = |k: &str| -> Option<String> {
            get(k)
                .map(|v| v.to_string_lossy().into_owned())
                .filter(|v| !v.is_empty())
        };
        let path =
            |k: &str| -> Option<PathBuf> { get(k).filter(|v| !v.is_empty()).map(Into::into) };
        let secs = |k: &str| -> Result<Option<f64>, ModuleError> {
            match text(k) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .map(Some)
                    .ok_or_else(|| {
                        ModuleError::Config(format!("{k}={v:?} is not a number of seconds"))
                    }),
            }
        };
        let d = ChildEnv::default();
        let data_dir = path(var::DATA_DIR).unwrap_or(d.data_dir);
        let exports = match text(var::EXPORTS) {
            None => true,
            Some(v) => parse_bool(&v).ok_or_else(|| {
                ModuleError::Config(format!("{}={v:?} is not true or false", var::EXPORTS))
            })?,
        };
        let crash_keep = match text(var::CRASH_KEEP) {
            None => d.crash_keep,
            Some(v) => v.trim().parse().map_err(|_| {
                ModuleError::Config(format!("{}={v:?} is not a count", var::CRASH_KEEP))
            })?,
        };
        let supervisor_pid = match text(var::SUPERVISOR_PID) {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                ModuleError::Config(format!("{}={v:?} is not a pid", var::SUPERVISOR_PID))
            })?),
        };
        let cluster = match text(var::CLUSTER_NODE_ID) {
            None => None,
            Some(node_id) => {
                let shards = text(var::CLUSTER_SHARDS)
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ModuleError::Config(format!(
                            "{} is not a shard count above 0",
                            var::CLUSTER_SHARDS
                        ))
                    })?;
                let lease_ttl_s = secs(var::CLUSTER_LEASE_TTL_S)?
                    .filter(|t| *t > 0.0)
                    .ok_or_else(|| {
                        ModuleError::Config(format!(
                            "{} is not a ttl in seconds",
                            var::CLUSTER_LEASE_TTL_S
                        ))
                    })?;
                let ingest_shard = match text(var::CLUSTER_INGEST).as_deref() {
                    None | Some("all") => false,
                    Some("shard") => true,
                    Some(v) => {
                        return Err(ModuleError::Config(format!(
                            "{}={v:?} is not all or shard",
                            var::CLUSTER_INGEST
                        )))
                    }
                };
                Some(ClusterEnv {
                    node_id,
                    shards,
                    lease_ttl_s,
                    ingest_shard,
                })
            }
        };
        Ok(ChildEnv {
            cluster,
            module: text(var::MODULE).unwrap_or_else(|| name.to_string()),
            run_dir: path(var::RUN_DIR),
            run_id: text(var::RUN_ID),
            database_url: text(var::DATABASE_URL)
                .unwrap_or_else(|| default_database_url(&data_dir)),
            data_dir,
            config: path(var::CONFIG),
            config_dir: path(var::CONFIG_DIR).unwrap_or(d.config_dir),
            module_dir: path(var::MODULE_DIR),
            heartbeat_file: path(var::HEARTBEAT_FILE),
            heartbeat_ttl_s: secs(var::HEARTBEAT_TTL_S)?.unwrap_or(0.0),
            interval_s: secs(var::INTERVAL_S)?.unwrap_or(d.interval_s),
            settings: text(var::SETTINGS).unwrap_or(d.settings),
            supervisor_pid,
            exports,
            required_env: text(var::REQUIRED_ENV)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            stop_grace_s: secs(var::STOP_GRACE_S)?.unwrap_or(d.stop_grace_s),
            crash_keep,
            cycle_timeout_s: secs(var::CYCLE_TIMEOUT_S)?.filter(|t| *t > 0.0),
            once: text(var::ONCE).is_some_and(|v| parse_bool(&v) == Some(true)),
            log: text(var::LOG),
            eye_addr: text(var::EYE_ADDR),
            eye_token: text(var::EYE_TOKEN),
        })
    }

    /// The module's `[settings]` as JSON; text that is not JSON is a ConfigError.
    pub fn settings_json(&self) -> Result<serde_json::Value, ModuleError> {
        serde_json::from_str(&self.settings)
            .map_err(|e| ModuleError::Config(format!("{} is not valid JSON: {e}", var::SETTINGS)))
    }
}

/// `true/1/yes/on` and `false/0/no/off`, any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup<'a>(vars: &'a [(&'static str, OsString)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        let map: HashMap<&str, &OsString> = vars.iter().map(|(k, v)| (*k, v)).collect();
        move |k| map.get(k).map(|v| (*v).clone())
    }

    #[test]
    fn round_trip_full_and_minimal() {
        let full = ChildEnv {
            module: "brain".into(),
            run_dir: Some("/d/runs/r1".into()),
            run_id: Some("r1".into()),
            data_dir: "/d".into(),
            config: Some("/c/aivex.toml".into()),
            config_dir: "/c".into(),
            module_dir: Some("/m/brain".into()),
            heartbeat_file: Some("/d/runs/r1/heartbeats/brain".into()),
            heartbeat_ttl_s: 120.0,
            interval_s: 0.5,
            settings: r#"{"a":[1,2]}"#.into(),
            database_url: "mysql://u:pw@h/db".into(),
            supervisor_pid: Some(42),
            exports: false,
            required_env: vec!["A".into(), "B".into()],
            stop_grace_s: 2.5,
            crash_keep: 7,
            cycle_timeout_s: Some(30.0),
            once: true,
            log: Some("debug".into()),
            eye_addr: Some("127.0.0.1:0".into()),
            eye_token: Some("t1,t2".into()),
            cluster: Some(ClusterEnv {
                node_id: "box-2".into(),
                shards: 16,
                lease_ttl_s: 4.5,
                ingest_shard: true,
            }),
        };
        let vars = full.to_vars();
        assert_eq!(ChildEnv::from_vars("x", lookup(&vars)).unwrap(), full);
        let minimal = ChildEnv {
            module: "chart".into(),
            ..ChildEnv::default()
        };
        let vars = minimal.to_vars();
        assert_eq!(ChildEnv::from_vars("x", lookup(&vars)).unwrap(), minimal);
    }

    #[test]
    fn by_hand_defaults_and_bad_values() {
        let e = ChildEnv::from_vars("news", |_| None).unwrap();
        assert_eq!(e.module, "news");
        assert_eq!(e.database_url, "sqlite://data/aivex.sqlite");
        assert_eq!(e.settings_json().unwrap(), serde_json::json!({}));
        for (k, v, msg) in [
            (
                var::INTERVAL_S,
                "soon",
                "AIVEX_INTERVAL_S=\"soon\" is not a number of seconds",
            ),
            (
                var::EXPORTS,
                "maybe",
                "AIVEX_EXPORTS=\"maybe\" is not true or false",
            ),
            (
                var::CRASH_KEEP,
                "-1",
                "AIVEX_CRASH_KEEP=\"-1\" is not a count",
            ),
        ] {
            let err = ChildEnv::from_vars("x", |q| (q == k).then(|| v.into())).unwrap_err();
            assert_eq!(err, ModuleError::Config(msg.into()));
        }
    }

    #[test]
    fn exports_switch_table() {
        for (value, want) in [
            (None, Some(true)),
            (Some("true"), Some(true)),
            (Some(" TRUE "), Some(true)),
            (Some("1"), Some(true)),
            (Some("false"), Some(false)),
            (Some("off"), Some(false)),
            (Some("0"), Some(false)),
            (Some("maybe"), None),
        ] {
            let got = ChildEnv::from_vars("brain", |k| {
                (k == var::EXPORTS)
                    .then_some(value)
                    .flatten()
                    .map(Into::into)
            });
            assert_eq!(got.ok().map(|e| e.exports), want, "{value:?}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let e = ChildEnv {
            database_url: "mysql://u:hunter2@h/db".into(),
            eye_token: Some("tok-secret".into()),
            ..ChildEnv::default()
        };
        let d = format!("{e:?}");
        assert!(!d.contains("hunter2") && !d.contains("tok-secret"), "{d}");
    }

    #[test]
    fn inheritance_table() {
        let named = ["FEED_KEY"];
        // (variable, kept by a built-in, kept by an external module)
        for (k, builtin, external) in [
            ("PATH", true, true),
            ("LC_TIME", true, true),
            ("TZ", true, true),
            ("FEED_KEY", true, true),
            ("AWS_SECRET_ACCESS_KEY", true, false),
            ("LD_PRELOAD", true, false),
            ("RUST_LOG", true, false),
            ("AIVEX_LOG", true, false),
            ("AIVEX_LOG_FORMAT", true, false),
            ("AIVEX_EYE_TOKEN", false, false),
            ("AIVEX_DATABASE_URL", false, false),
            ("AIVEX_BUILTIN_LAUNCHER", false, false),
            ("WATCHDOG_BACKOFF", false, false),
            ("NOTIFY_SOCKET", false, false),
            ("LISTEN_FDS", false, false),
        ] {
            assert_eq!(inherits(k, true, &named), builtin, "{k} built-in");
            assert_eq!(inherits(k, false, &named), external, "{k} external");
        }
        assert!(
            inherits("AIVEX_EYE_TOKEN", false, &["AIVEX_EYE_TOKEN"]),
            "named wins"
        );
        assert!(
            !inherits("NOTIFY_SOCKET", true, &["NOTIFY_SOCKET"]),
            "never the manager's"
        );
    }
}
