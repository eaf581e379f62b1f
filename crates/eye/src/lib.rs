//! aivex-eye: Eye, the REST API of an aivex box, run as the built-in module `eye`.
//!
//! It owns the HTTP surface (`/health`, `/signals`, `/signals/{symbol}`,
//! `/signals/feedback`, `/modules`, `/metrics`, `/events`, `/openapi.json`, and the
//! dashboard: the page at `/` with its embedded assets, `/auth`, `/candles/{symbol}`,
//! `/governor`, `/quality`, `/modules/{name}/log`), its limits and its auth. `Eye::new` binds
//! the listener and starts the workers; each module cycle does the housekeeping (store probe,
//! new-signal poll, supervisor history tail) and returns. It must not write SQL (the store
//! does), must not change supervisor files (it only reads them; the one file it writes in the
//! run directory is its own `/health` verdict), and must never log or answer with a token or
//! the database URL.
//!
//! The `[eye]` keys are documented on [`EyeConfig`].

// The OpenAPI document is one `json!` literal, deeper than serde_json's default macro recursion.
#![recursion_limit = "256"]

mod api;
mod app;
mod assets;
mod auth;
mod cluster;
mod config;
mod conn;
mod dash;
mod error;
mod events;
mod front;
mod head;
mod health;
mod housekeeping;
mod http;
mod metrics;
mod model;
mod openapi;
mod server;
mod stream;

pub use config::{EyeConfig, CHECKS};
pub use error::{ApiError, CODES};
pub use openapi::ROUTES;

use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use app::App;
use housekeeping::Housekeeping;
use server::Server;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

/// The Eye module: a running HTTP server plus its housekeeping state.
pub struct Eye {
    app: Arc<App>,
    server: Server,
    housekeeping: Housekeeping,
}

impl Eye {
    /// Validates the `[eye]` table (with the `AIVEX_EYE_ADDR` / `AIVEX_EYE_TOKEN` overrides),
    /// binds the listener and starts serving. A bad key or an address that cannot be bound is
    /// a ConfigError naming it.
    pub fn new(env: &ModuleEnv, eye_table: &serde_json::Value) -> Result<Eye, ModuleError> {
        let cfg =
            EyeConfig::from_parts(eye_table, env.eye_addr.as_deref(), env.eye_token.as_deref())
                .map_err(ModuleError::Config)?;
        Eye::with_config(env, cfg)
    }

    /// `new` without the environment: for callers (and tests) that built the config.
    pub fn with_config(env: &ModuleEnv, cfg: EyeConfig) -> Result<Eye, ModuleError> {
        limit_malloc_arenas();
        let listener = TcpListener::bind(&cfg.listen).map_err(|e| {
            ModuleError::Config(format!("[eye] listen {:?}: cannot bind: {e}", cfg.listen))
        })?;
        let run = env.run();
        let start_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        let app = Arc::new(App {
            events: events::EventHub::new(cfg.event_buffer, start_ms.saturating_mul(1000)),
            db_url: env.database_url.clone(),
            state_file: run.state_file(),
            data_dir: env.data_dir.clone(),
            model: model::ReadModel::default(),
            run: run.clone(),
            metrics: metrics::Metrics::default(),
            probe: Mutex::new(None),
            states: app::StateCache::default(),
            probe_stale_after_s: (env.interval_s * 3.0).max(10.0),
            streams: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            version: env!("CARGO_PKG_VERSION"),
            cluster: env.cluster.clone(),
            cfg,
        });
        let server = Server::start(listener, app.clone()).map_err(|e| {
            ModuleError::Recoverable(format!("eye: cannot start server threads: {e}"))
        })?;
        log::info!(
            "eye listening on {} ({} workers, auth {})",
            server.local_addr(),
            app.cfg.workers,
            if app.cfg.tokens.is_empty() {
                "off".to_string()
            } else {
                format!("on, {} token(s)", app.cfg.tokens.len())
            }
        );
        Ok(Eye {
            housekeeping: Housekeeping::new(run.history(), run.health_file()),
            app,
            server,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// One housekeeping round, without a runner context.
    pub fn housekeep(&mut self) {
        self.housekeeping.run(&self.app, app::now_unix());
    }
}

impl Module for Eye {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        if !self.server.running() {
            // A dead accept loop or worker cannot be revived in place; a restart can.
            return Err(ModuleError::Recoverable(
                "eye: a server thread ended unexpectedly".into(),
            ));
        }
        if ctx.should_stop() {
            return Ok(());
        }
        self.housekeep();
        Ok(())
    }
}

/// glibc gives every thread that allocates its own malloc arena and keeps freed memory in
/// each; with a worker pool that roughly doubled Eye's peak RSS under load (41 MiB vs 25 MiB
/// measured with `scripts/bench-eye`). Eye runs in its own module process, so capping the
/// arenas here affects only Eye. musl (the shipped static build) has no arenas.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The `[eye]` table of the global config file at `path`, as JSON (`Null` when the file has
/// none). A file that cannot be read or parsed is a ConfigError naming it.
pub fn eye_table_from_config(path: &Path) -> Result<serde_json::Value, ModuleError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModuleError::Config(format!("{}: cannot read: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| ModuleError::Config(format!("{}: {e}", path.display())))?;
    match table.get("eye") {
        None => Ok(serde_json::Value::Null),
        Some(v) => serde_json::to_value(v)
            .map_err(|e| ModuleError::Config(format!("{}: [eye]: {e}", path.display()))),
    }
}
