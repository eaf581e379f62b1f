//! The interface between the module runner and a built-in module.
//!
//! A module is constructed once per process from its `ModuleEnv` and then asked to run one
//! cycle at a time. Through `Ctx` a long cycle can refresh its heartbeat, record a bad record
//! without failing the cycle (DataValidationError), and notice that a stop was requested.
//! This file owns only the interface: no I/O, no clock, no process handling.

use crate::contract::{ChildEnv, RunLayout, RunPaths};
use crate::ModuleError;
use std::path::{Path, PathBuf};

/// What a module process knows about its place in the system: the module's view of the
/// child environment contract (`contract::ChildEnv`, see modules/README.md).
#[derive(Clone, Default)]
pub struct ModuleEnv {
    /// The module's name (`AIVEX_MODULE`).
    pub name: String,
    /// The module's `[settings]` table (`AIVEX_SETTINGS`, JSON).
    pub settings: serde_json::Value,
    /// The global config file (`AIVEX_CONFIG`), if run under a supervisor.
    pub config: Option<PathBuf>,
    /// Directory of `config/aivex.toml` (`AIVEX_CONFIG_DIR`): relative paths in settings
    /// resolve against it.
    pub config_dir: PathBuf,
    /// The data directory (`AIVEX_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The live run's directory (`AIVEX_RUN_DIR`), if run under a supervisor.
    pub run_dir: Option<PathBuf>,
    /// The store URL (`AIVEX_DATABASE_URL`). Holds a password for MySQL: never log it.
    pub database_url: String,
    /// Seconds between cycles (`AIVEX_INTERVAL_S`).
    pub interval_s: f64,
    /// True in once mode (`AIVEX_ONCE=1` or `--once`).
    pub once: bool,
    /// Whether brain writes its export files (`AIVEX_EXPORTS`).
    pub exports: bool,
    /// Eye only: `AIVEX_EYE_ADDR`.
    pub eye_addr: Option<String>,
    /// Eye only: `AIVEX_EYE_TOKEN` (a secret: never log it).
    pub eye_token: Option<String>,
    /// This box's node of a cluster (`AIVEX_CLUSTER_*`), when `[cluster] enabled`.
    pub cluster: Option<crate::contract::ClusterEnv>,
}

impl std::fmt::Debug for ModuleEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleEnv")
            .field("name", &self.name)
            .field("config_dir", &self.config_dir)
            .field("data_dir", &self.data_dir)
            .field("run_dir", &self.run_dir)
            .field("interval_s", &self.interval_s)
            .field("once", &self.once)
            .finish_non_exhaustive()
    }
}

impl ModuleEnv {
    /// The module's view of the environment a supervisor (or a person) gave it.
    pub fn from_child(c: &ChildEnv) -> Result<ModuleEnv, ModuleError> {
        Ok(ModuleEnv {
            name: c.module.clone(),
            settings: c.settings_json()?,
            config: c.config.clone(),
            config_dir: c.config_dir.clone(),
            data_dir: c.data_dir.clone(),
            run_dir: c.run_dir.clone(),
            database_url: c.database_url.clone(),
            interval_s: c.interval_s,
            once: c.once,
            exports: c.exports,
            eye_addr: c.eye_addr.clone(),
            eye_token: c.eye_token.clone(),
            cluster: c.cluster.clone(),
        })
    }

    /// The data directory's layout.
    pub fn layout(&self) -> RunLayout {
        RunLayout::new(&self.data_dir)
    }

    /// The live run's layout: `AIVEX_RUN_DIR`, else `data_dir/runs/current`.
    pub fn run(&self) -> RunPaths {
        match &self.run_dir {
            Some(d) => RunPaths::new(d),
            None => self.layout().current(),
        }
    }

    /// Resolves a path from settings: absolute paths stay, relative ones are taken from the
    /// config directory. URLs are returned unchanged by callers before they get here.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.config_dir.join(path)
        }
    }
}

/// Hooks the runner provides to a running cycle.
pub trait CtxHooks {
    /// Rewrites the heartbeat file now (cheap; call it between steps of a long cycle).
    fn beat(&mut self);
    /// Records a DataValidationError (crash record + module log line) and goes on.
    fn record(&mut self, err: &ModuleError);
    /// True once SIGTERM arrived: finish or abandon the cycle promptly.
    fn should_stop(&self) -> bool;
}

/// The context of one cycle.
pub struct Ctx<'a> {
    pub env: &'a ModuleEnv,
    /// 1-based cycle number in this process.
    pub cycle: u64,
    hooks: &'a mut dyn CtxHooks,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a ModuleEnv, cycle: u64, hooks: &'a mut dyn CtxHooks) -> Self {
        Ctx { env, cycle, hooks }
    }
    pub fn beat(&mut self) {
        self.hooks.beat()
    }
    /// Records a bad record or batch and continues (the error is logged with its class).
    pub fn invalid(&mut self, err: ModuleError) {
        let err = match err {
            ModuleError::DataValidation(_) => err,
            other => ModuleError::DataValidation(other.message().to_string()),
        };
        self.hooks.record(&err)
    }
    pub fn should_stop(&self) -> bool {
        self.hooks.should_stop()
    }
}

/// A built-in module: constructed once per process, then run one cycle at a time.
pub trait Module {
    /// One unit of work. `Err` ends the process with the error's exit code, except
    /// DataValidation, which is recorded and retried next cycle.
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError>;
}

/// A no-op hook set for tests and one-shot CLI commands.
pub struct NoHooks;

impl CtxHooks for NoHooks {
    fn beat(&mut self) {}
    fn record(&mut self, _err: &ModuleError) {}
    fn should_stop(&self) -> bool {
        false
    }
}
