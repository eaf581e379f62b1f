//! What each command does. Thin: every command delegates to its layer and returns an exit
//! code or a `CliError`; printing for people happens here.

use super::args::{Command, ControlVerb, HELP};
use super::CliError;
use crate::config::{self, Loaded};
use crate::control::{self, protocol::Request};
use crate::supervisor::{Mode, Outcome, Supervisor};
use crate::tools::{self, ToolError};
use aivex_core::contract::{ModuleStatus, RuntimeState};
use serde_json::Value;
use std::path::Path;

pub fn dispatch(cmd: Command) -> Result<i32, CliError> {
    match cmd {
        Command::Help => {
            print!("{HELP}");
            Ok(0)
        }
        Command::Version => {
            println!("aivex {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Run { config, mode } => run(&config, mode),
        Command::CheckConfig { config } => check_config(&config),
        Command::Module { name, once } => Ok(crate::runner::main(&name, once)),
        Command::Status { config, json } => status(&config, json),
        Command::Control {
            config,
            verb,
            module,
        } => control_cmd(&config, verb, module),
        Command::Migrate { config } => tool(tools::migrate(&load(&config)?.config)),
        Command::ClusterStatus { config, json } => {
            tool(tools::cluster_status(&load(&config)?.config, json))
        }
        Command::Indicators { file } => tool(tools::indicators(&file)),
        Command::NewsPreview { source, config } => tool(tools::news_preview(&source, &config)),
        Command::Calibrate {
            config,
            since,
            json,
        } => tool(tools::calibrate(
            &load(&config)?.config,
            since.as_deref(),
            json,
        )),
        Command::AlertTest { config } => alert_test(&config),
        Command::Replay { config, args } => tool(tools::replay(&load(&config)?.config, &args)),
    }
}

/// `aivex alert-test`: one test alert per sink, each result on its own line; exit 0 when every
/// sink took it, 1 otherwise, 2 when no sink is configured.
fn alert_test(path: &Path) -> Result<i32, CliError> {
    let loaded = load(path)?;
    let cfg = &loaded.config;
    if cfg.alerts.sinks.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no [[alerts.sink]] is configured: nothing to test",
            cfg.path.display()
        )));
    }
    let node = if cfg.cluster.enabled {
        cfg.cluster.node_id.clone()
    } else {
        config::node_id(&getenv)
    };
    println!(
        "sending a test alert from node {node} to {} sink(s)",
        cfg.alerts.sinks.len()
    );
    let mut failed = 0;
    for (sink, result) in crate::supervisor::alerts::test_all(cfg, node) {
        match result {
            Ok(how) => println!("ok      {sink}: {how}"),
            Err(why) => {
                failed += 1;
                println!("FAILED  {sink}: {why}");
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// A tool that finished exits 0; its error keeps its kind (usage, config, failure).
fn tool(result: Result<(), ToolError>) -> Result<i32, CliError> {
    result.map(|()| 0).map_err(CliError::from)
}

fn getenv(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn load(path: &Path) -> Result<Loaded, CliError> {
    config::load(path, &crate::modules::REGISTRY, &getenv).map_err(CliError::Config)
}

fn init_logging(verbose: bool) {
    let _ = aivex_platform::logging::init(aivex_platform::logging::LogOptions {
        default_level: "info",
        verbose,
    });
}

fn run(path: &Path, mode: Mode) -> Result<i32, CliError> {
    // The start-up code's pages go once every module has started (`Bell::trim_and_sleep` in the
    // loop); dropping them before would only make the start slower.
    init_logging(mode == Mode::Dev);
    let loaded = load(path)?;
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let migration = auto_migrate(&loaded.config);
    let mut sup = Supervisor::new(loaded.config, mode, &crate::modules::REGISTRY)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    sup.migration(migration);
    Ok(match sup.run() {
        Outcome::Stopped | Outcome::OnceOk => 0,
        Outcome::OnceFailed | Outcome::Forced => 1,
    })
}

/// The embedded SQLite store is migrated at start, so that a first run needs no extra step.
/// A shared MySQL store is migrated only when `[database] auto_migrate = true`: on a server
/// other boxes use, schema changes are the operator's call (`aivex migrate`). A failure is
/// logged, not fatal: modules check the schema themselves and say what to do. It runs on a
/// thread of its own while the supervisor starts (creating a fresh SQLite file and its tables
/// takes several fsyncs); the supervisor waits for it before it starts the first built-in.
fn auto_migrate(cfg: &config::Config) -> Option<std::thread::JoinHandle<()>> {
    let wanted = cfg.database.url.starts_with("sqlite://") || cfg.database.auto_migrate;
    if !wanted {
        return None;
    }
    let url = cfg.database.url.clone();
    let job = move || match tools::migrate::apply(&url) {
        Ok(r) if !r.applied.is_empty() => log::info!(
            "migrated the store to schema version {} ({:?})",
            r.version,
            r.applied
        ),
        Ok(_) => {}
        Err(e) => log::warn!("automatic migration of {}: {e}", config::redact_url(&url)),
    };
    match std::thread::Builder::new()
        .name("migrate".into())
        .spawn(job)
    {
        Ok(h) => Some(h),
        Err(e) => {
            log::warn!("automatic migration: cannot start its thread: {e}");
            None
        }
    }
}

fn check_config(path: &Path) -> Result<i32, CliError> {
    let loaded = load(path)?;
    for w in &loaded.warnings {
        println!("warning: {w}");
    }
    let c = &loaded.config;
    println!(
        "{}: ok ({} module(s): {}; data dir {}; database {})",
        c.path.display(),
        c.modules.len(),
        c.modules
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        c.runtime.data_dir.display(),
        config::redact_url(&c.database.url)
    );
    if c.cluster.enabled {
        println!(
            "cluster: node {} of {} shard(s), lease ttl {}s, ingest {}",
            c.cluster.node_id,
            c.cluster.shards,
            c.cluster.lease_ttl_s,
            c.cluster.ingest.as_str()
        );
    }
    Ok(0)
}

/// The control socket: `AIVEX_CONTROL_SOCKET`, else the one in the config's data dir.
fn socket(path: &Path) -> Result<std::path::PathBuf, CliError> {
    if let Some(s) = std::env::var_os("AIVEX_CONTROL_SOCKET") {
        return Ok(s.into());
    }
    Ok(control::socket_path(&load(path)?.config.runtime.data_dir))
}

fn call(path: &Path, req: &Request) -> Result<Value, CliError> {
    let reply = control::client::call(&socket(path)?, req).map_err(CliError::Failed)?;
    if reply["ok"] == Value::Bool(true) {
        Ok(reply)
    } else {
        Err(CliError::Failed(
            reply["error"]
                .as_str()
                .unwrap_or("the supervisor refused the request")
                .to_string(),
        ))
    }
}

fn status(path: &Path, json: bool) -> Result<i32, CliError> {
    let reply = call(path, &Request::Status)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply["state"]).unwrap_or_default()
        );
        return Ok(0);
    }
    let st: RuntimeState = serde_json::from_value(reply["state"].clone())
        .map_err(|e| CliError::Failed(format!("the supervisor's state is not valid: {e}")))?;
    println!(
        "aivex {} run {} (pid {}, mode {}, up {})",
        st.version,
        st.run_id,
        st.pid,
        st.mode,
        duration(Some(st.uptime_s))
    );
    if let Some(a) = &st.alerts {
        println!(
            "alerts from node {}: {} sink(s), sent {}, failed {}, dropped {}, pending {}",
            st.node_id, a.sinks, a.sent, a.failed, a.dropped, a.pending
        );
    }
    for (name, m) in &st.modules {
        println!("{}", module_line(name, m));
    }
    Ok(0)
}

fn duration(s: Option<f64>) -> String {
    let Some(s) = s else { return "-".into() };
    let s = s as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// One self-explaining line per module for `aivex status`.
pub fn module_line(name: &str, m: &ModuleStatus) -> String {
    let mut state = m.state.as_str().to_string();
    if let Some(r) = &m.reason {
        state = format!("{state} ({r})");
    }
    let head = format!("{name:<12} {state:<24}");
    let mut parts = Vec::new();
    if let Some(pid) = m.pid {
        parts.push(format!("pid {pid}"));
    }
    if m.uptime_s.is_some() {
        parts.push(format!("up {}", duration(m.uptime_s)));
    }
    parts.push(format!("restarts {}", m.restarts));
    if let Some(e) = &m.last_exit {
        parts.push(format!(
            "last exit: {} at {}",
            e.reason,
            e.at.as_deref().unwrap_or("?")
        ));
    }
    if let Some(h) = m.heartbeat_age_s {
        parts.push(format!("heartbeat {h:.1}s ago"));
    }
    if let Some(n) = m.next_restart_in_s {
        parts.push(format!("next retry in {n:.1}s"));
    }
    if let Some(w) = &m.waiting_for {
        parts.push(format!("waiting for {w}"));
    }
    parts.extend(cost(m));
    format!("{head} {}", parts.join(", "))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

/// What a module costs, for its status line: `cpu 1.2% (3.4s)`, `rss 12.0 MiB`, ...
fn cost(m: &ModuleStatus) -> Vec<String> {
    let mut v = Vec::new();
    match (m.cpu_pct, m.cpu_s) {
        (Some(p), Some(s)) => v.push(format!("cpu {p:.1}% ({s:.1}s)")),
        (None, Some(s)) => v.push(format!("cpu {s:.1}s")),
        _ => {}
    }
    if let Some(r) = m.rss_bytes {
        let limit = m
            .max_rss_mb
            .map(|l| format!(" of max {l} MiB"))
            .unwrap_or_default();
        v.push(format!("rss {}{limit}", mib(r)));
    }
    if let Some(p) = m.pss_bytes {
        v.push(format!("pss {}", mib(p)));
    }
    if let Some(f) = m.fds {
        v.push(format!("fds {f}"));
    }
    if let Some(t) = m.threads {
        v.push(format!("threads {t}"));
    }
    v
}

fn control_cmd(path: &Path, verb: ControlVerb, module: Option<String>) -> Result<i32, CliError> {
    let m = module.unwrap_or_default();
    let req = match verb {
        ControlVerb::Start => Request::Start { module: m },
        ControlVerb::Stop => Request::Stop { module: m },
        ControlVerb::Restart => Request::Restart { module: m },
        ControlVerb::Reset => Request::Reset { module: m },
        ControlVerb::Reload => Request::Reload,
    };
    let reply = call(path, &req)?;
    if let Some(summary) = reply.get("reload") {
        println!("reloaded: {summary}");
    } else if let (Some(name), Some(st)) = (reply["module"].as_str(), reply.get("status")) {
        if let Ok(st) = serde_json::from_value::<ModuleStatus>(st.clone()) {
            println!("{}", module_line(name, &st));
        }
    }
    Ok(0)
}
