//! Spawning a module: the environment contract a child receives (`child_env`, filling
//! `aivex_core::contract::ChildEnv`), the checks before a spawn (required environment, a reachable
//! Docker engine), the output pipe, and recording the new process group for leftover cleanup.
//!
//! How the process itself is created (process group, PDEATHSIG, rlimits, namespaces, docker
//! argv) is `child.rs`; this file decides nothing about restarts: it reports `Spawned` or
//! `SpawnFailed` to the policy.

use super::policy::{Input, Limits, Mono};
use super::{absolute, child, leftovers, limits_for, Mode, Supervisor};
use crate::config::{self, ModuleSpec, Run};
use aivex_core::contract::env::{read, var};
use aivex_core::contract::{ChildEnv, ClusterEnv};
use aivex_platform::time::now_rfc3339;
use serde_json::json;
use std::time::{Duration, Instant};

/// During a burst of starts (200 modules in one pass), groups.json is rewritten at most this
/// often, not once per start: each rewrite holds every group.
const GROUPS_EVERY: Duration = Duration::from_millis(20);

impl Supervisor {
    /// The contract a module receives (`aivex_core::contract::ChildEnv`).
    fn child_env(&self, spec: &ModuleSpec, limits: &Limits) -> ChildEnv {
        let own = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let eye = spec.run == Run::Builtin("eye".into());
        ChildEnv {
            module: spec.name.clone(),
            run_dir: Some(self.run.dir.clone()),
            run_id: Some(self.run.id.clone()),
            data_dir: self.cfg.runtime.data_dir.clone(),
            config: Some(absolute(&self.cfg.path)),
            config_dir: absolute(&self.cfg.dir),
            module_dir: Some(spec.dir.clone()),
            heartbeat_file: Some(self.run.heartbeat_file(&spec.name)),
            heartbeat_ttl_s: limits.heartbeat_ttl.map_or(0.0, |d| d.as_secs_f64()),
            interval_s: spec.interval_s,
            settings: spec.settings.to_string(),
            database_url: self.cfg.database.url.clone(),
            supervisor_pid: Some(std::process::id()),
            exports: self.cfg.runtime.exports,
            required_env: spec.required_env.clone(),
            stop_grace_s: self.cfg.watchdog.stop_grace_s,
            crash_keep: self.cfg.runtime.crash_keep,
            cycle_timeout_s: spec.sandbox.cycle_timeout_s,
            once: self.mode == Mode::Once,
            log: (self.mode == Mode::Dev && own(var::LOG).is_none() && own("RUST_LOG").is_none())
                .then(|| "debug".to_string()),
            // The Eye token is a secret: only Eye gets it (and the address it serves on).
            eye_addr: eye.then(|| own(read::EYE_ADDR)).flatten(),
            eye_token: eye.then(|| own(read::EYE_TOKEN)).flatten(),
            cluster: self.cfg.cluster.enabled.then(|| ClusterEnv {
                node_id: self.cfg.cluster.node_id.clone(),
                shards: self.cfg.cluster.shards,
                lease_ttl_s: self.cfg.cluster.lease_ttl_s,
                ingest_shard: self.cfg.cluster.ingest == config::Ingest::Shard,
            }),
        }
    }

    pub(super) fn spawn(&mut self, i: usize, now: Mono) {
        if let Some(next) = self.slots[i].next_spec.take() {
            self.slots[i].limits = limits_for(&self.cfg, &next, self.mode);
            self.slots[i].spec = next;
        }
        let spec = self.slots[i].spec.clone();
        if let Run::Builtin(_) = spec.run {
            // Built-ins use the store: its schema first.
            self.wait_migration();
        }
        let missing: Vec<&str> = spec
            .required_env
            .iter()
            .filter(|v| std::env::var_os(v).is_none())
            .map(String::as_str)
            .collect();
        let result = if !missing.is_empty() {
            Err(child::SpawnError {
                config: true,
                message: format!(
                    "missing required environment variable(s): {}",
                    missing.join(", ")
                ),
            })
        } else if spec.sandbox.mode == config::SandboxMode::Docker {
            child::docker_reachable().map_err(|m| child::SpawnError {
                config: true,
                message: m,
            })
        } else {
            Ok(())
        }
        .and_then(|()| {
            // A new process starts without a heartbeat: any file that appears from now on is
            // its beat (one left by the previous process could hide the first one).
            let _ = std::fs::remove_file(&self.slots[i].hb_path);
            let contract = self.child_env(&spec, &self.slots[i].limits);
            let env = child::ProcessEnv::new(&spec, &contract, std::env::vars_os());
            let log = self.run.log_file(&spec.name);
            let pipe = self
                .hub
                .pipe_for(
                    &spec.name,
                    log,
                    self.cfg.runtime.log_max_bytes,
                    self.cfg.runtime.log_keep,
                )
                .map_err(|e| child::SpawnError {
                    config: false,
                    message: format!("cannot create output pipe: {e}"),
                })?;
            if spec.sandbox.mode == config::SandboxMode::None {
                if let Run::Command(_) = spec.run {
                    warn_unsandboxed_once(&spec.name);
                }
            }
            child::spawn(&spec, &self.self_exe, &env, pipe, &self.run.dir)
        });
        match result {
            Ok(started) => {
                let s = &mut self.slots[i];
                s.pid = Some(started.pid);
                s.starttime = started.starttime;
                s.sid = started.sid;
                // Record the group right away (if we are SIGKILLed from here on, the next
                // supervisor can still clean up what this module starts), but at most every
                // few milliseconds during a burst of starts: the file holds every group.
                self.save_groups_soon();
                let s = &mut self.slots[i];
                s.hb_sig = None;
                s.beaten = false;
                s.waiting_for = None;
                s.usage = None;
                s.cpu_pct = None;
                s.over_limit = 0;
                s.started_at = Some(now_rfc3339());
                log::info!("module {} started: pid {}", spec.name, started.pid);
                self.run.history(json!({"at": now_rfc3339(), "module": spec.name, "event": "start", "pid": started.pid}));
                self.input(i, Input::Spawned, now);
                self.schedule_look(i, now);
            }
            Err(e) => {
                log::error!("module {}: {}", spec.name, e.message);
                self.input(
                    i,
                    Input::SpawnFailed {
                        config: e.config,
                        message: e.message,
                    },
                    now,
                );
            }
        }
    }

    /// Saves the groups unless that was done in the last `GROUPS_EVERY`; the loop saves what is
    /// left at the end of its pass.
    pub(super) fn save_groups_soon(&mut self) {
        let now = Instant::now();
        if self
            .groups_saved
            .is_some_and(|t| now.duration_since(t) < GROUPS_EVERY)
        {
            self.groups_dirty = true;
            return;
        }
        self.save_groups();
    }

    pub(super) fn save_groups(&mut self) {
        self.groups_dirty = false;
        self.groups_saved = Some(Instant::now());
        let groups: Vec<leftovers::Group> = self
            .slots
            .iter()
            .filter_map(|s| {
                Some(leftovers::Group {
                    module: s.spec.name.clone(),
                    pgid: s.pid?,
                    starttime: s.starttime,
                    sid: s.sid,
                })
            })
            .collect();
        leftovers::save(&self.cfg.runtime.data_dir, &self.run.id, &groups);
    }
}

fn warn_unsandboxed_once(module: &str) {
    use std::sync::Mutex;
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if let Ok(mut w) = WARNED.lock() {
        if !w.iter().any(|m| m == module) {
            w.push(module.to_string());
            log::warn!(
                "module {module} is an external command running without isolation (sandbox = \"none\"); \
                 set sandbox = \"rlimit\" or \"docker\" in its module.toml to limit it"
            );
        }
    }
}
