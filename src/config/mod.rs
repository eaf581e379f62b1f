//! Configuration: `config/aivex.toml` (global settings) and `modules/<name>/module.toml` (one
//! manifest per module), plus environment overrides.
//!
//! This layer owns parsing, defaults, path resolution and validation, and reports every problem
//! with the file and line it came from. It must not start processes or touch the run directory;
//! the supervisor receives a finished, validated `Config`.

mod alerts;
mod cluster;
mod deps;
mod env;
mod load;
mod locate;
mod manifest;
mod registry;
mod sandbox;
mod watchdog;

pub use alerts::{AlertsConfig, EventKind, SinkKind, SinkSpec};
pub use cluster::{ClusterConfig, Ingest};
pub use deps::start_order;
pub use load::{load, Loaded};
pub use manifest::{ModuleSpec, Ready, Run};
pub use registry::{Getenv, OwnedTable, Registry};
pub use sandbox::{NetworkMode, SandboxMode, SandboxSpec};
pub use watchdog::{backoff, crash_loop_reachable, seconds, WatchdogConfig};

use std::fmt;
use std::path::{Path, PathBuf};

/// Default location of the global config, relative to the working directory.
pub const DEFAULT_CONFIG: &str = "config/aivex.toml";

/// The `[runtime]` table: where things live and which modules run.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub data_dir: PathBuf,
    pub modules_dir: PathBuf,
    pub enabled: Vec<String>,
    /// How many run directories to keep under `runs/` (the live one always stays).
    pub keep_runs: usize,
    /// Total bytes the data dir's runs may use before the oldest runs and rotated logs go.
    pub max_disk_bytes: u64,
    /// Size at which a module's captured output log rotates.
    pub log_max_bytes: u64,
    /// Rotated output logs kept per module.
    pub log_keep: u32,
    /// Crash records kept per run.
    pub crash_keep: usize,
    /// Whether brain writes `exports/*.json` for static dashboards.
    pub exports: bool,
}

/// The `[database]` table.
#[derive(Clone, PartialEq)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `mysql://user:pass@host:port/db`. May hold a password: never print it.
    pub url: String,
    /// Migrate a MySQL store at `aivex run` too (SQLite always is).
    pub auto_migrate: bool,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// A fully loaded and validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The global config file, as given.
    pub path: PathBuf,
    /// Its directory: relative paths resolve against it.
    pub dir: PathBuf,
    pub watchdog: WatchdogConfig,
    pub runtime: RuntimeConfig,
    pub database: DatabaseConfig,
    /// `[cluster]`: several boxes on one MySQL/MariaDB store.
    pub cluster: ClusterConfig,
    pub alerts: AlertsConfig,
    /// Enabled modules that have a valid manifest, in `enabled` order.
    pub modules: Vec<ModuleSpec>,
    /// sha256 over the global file and every manifest read.
    pub hash: String,
}

impl Config {
    pub fn module(&self, name: &str) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Indexes of `modules` in the order once mode runs them: after their dependencies,
    /// otherwise in `enabled` order.
    pub fn start_order(&self) -> Vec<usize> {
        let graph: Vec<(&str, &[String])> = self
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m.supervision.depends_on.as_slice()))
            .collect();
        start_order(&graph)
    }
}

/// The box's node id, as alerts (and, later, `[cluster]`) name it: `AIVEX_NODE_ID`, else the
/// host name (`/proc/sys/kernel/hostname`), else `unknown`.
pub fn node_id(getenv: Getenv) -> String {
    let hostname = || {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
    };
    getenv(aivex_core::contract::env::read::NODE_ID)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(hostname)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn resolve_against(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// One problem found in configuration, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The config layer's error: every problem that makes the configuration unusable.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn one(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                file: file.to_path_buf(),
                line,
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Replaces the password of a `scheme://user:pass@host/...` URL with `***`.
pub fn redact_url(url: &str) -> String {
    aivex_store::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::{node_id, redact_url};

    #[test]
    fn node_id_prefers_the_variable() {
        assert_eq!(
            node_id(&|k| (k == "AIVEX_NODE_ID").then(|| " box-7 ".into())),
            "box-7"
        );
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(node_id(&|_| None), host.trim());
        assert_eq!(node_id(&|_| Some(String::new())), host.trim());
    }

    #[test]
    fn redacts_passwords_only() {
        let table = [
            (
                "mysql://aivex:s3cret@db:3306/aivex",
                "mysql://aivex:***@db:3306/aivex",
            ),
            ("mysql://aivex@db/aivex", "mysql://aivex@db/aivex"),
            ("sqlite://data/aivex.sqlite", "sqlite://data/aivex.sqlite"),
            ("mysql://u:p@ss@h/d", "mysql://u:***@h/d"),
            ("not a url", "***"),
            ("mysql://u:pa?ss@h/d", "mysql://***"),
        ];
        for (input, want) in table {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }
}
