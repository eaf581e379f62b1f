//! Spawning a module: the environment contract a child receives (`child_env`, moved here
//! unchanged from the loop), the checks before a spawn (required environment, a reachable
//! Docker engine), the output pipe, and recording the new process group for leftover cleanup.
//!
//! How the process itself is created (process group, PDEATHSIG, rlimits, namespaces, docker
//! argv) is `child.rs`; this file decides nothing about restarts: it reports `Spawned` or
//! `SpawnFailed` to the policy.

use super::policy::{Input, Limits, Mono};
use super::{absolute, child, heartbeat, leftovers, limits_for, Mode, Supervisor};
use crate::config::{self, ModuleSpec, Run};
use aivex_platform::time::now_rfc3339;
use serde_json::json;
use std::ffi::OsString;

impl Supervisor {
    fn child_env(&self, spec: &ModuleSpec, limits: &Limits) -> child::ChildEnv {
        let mut vars: Vec<(String, OsString)> = vec![
            ("AIVEX_MODULE".into(), spec.name.clone().into()),
            ("AIVEX_RUN_DIR".into(), self.run.dir.clone().into()),
            ("AIVEX_RUN_ID".into(), self.run.id.clone().into()),
            (
                "AIVEX_DATA_DIR".into(),
                self.cfg.runtime.data_dir.clone().into(),
            ),
            ("AIVEX_CONFIG".into(), absolute(&self.cfg.path).into()),
            ("AIVEX_CONFIG_DIR".into(), absolute(&self.cfg.dir).into()),
            ("AIVEX_MODULE_DIR".into(), spec.dir.clone().into()),
            (
                "AIVEX_HEARTBEAT_FILE".into(),
                self.run.heartbeat_file(&spec.name).into(),
            ),
            (
                "AIVEX_HEARTBEAT_TTL_S".into(),
                limits
                    .heartbeat_ttl
                    .map_or(0.0, |d| d.as_secs_f64())
                    .to_string()
                    .into(),
            ),
            (
                "AIVEX_INTERVAL_S".into(),
                spec.interval_s.to_string().into(),
            ),
            ("AIVEX_SETTINGS".into(), spec.settings.to_string().into()),
            (
                "AIVEX_DATABASE_URL".into(),
                self.cfg.database.url.clone().into(),
            ),
            (
                "AIVEX_SUPERVISOR_PID".into(),
                std::process::id().to_string().into(),
            ),
            (
                "AIVEX_EXPORTS".into(),
                self.cfg.runtime.exports.to_string().into(),
            ),
            (
                "AIVEX_REQUIRED_ENV".into(),
                spec.required_env.join(",").into(),
            ),
            (
                "AIVEX_STOP_GRACE_S".into(),
                self.cfg.watchdog.stop_grace_s.to_string().into(),
            ),
            (
                "AIVEX_CRASH_KEEP".into(),
                self.cfg.runtime.crash_keep.to_string().into(),
            ),
        ];
        if let Some(t) = spec.sandbox.cycle_timeout_s {
            vars.push(("AIVEX_CYCLE_TIMEOUT_S".into(), t.to_string().into()));
        }
        if self.mode == Mode::Once {
            vars.push(("AIVEX_ONCE".into(), "1".into()));
        }
        if self.mode == Mode::Dev
            && std::env::var_os("AIVEX_LOG").is_none()
            && std::env::var_os("RUST_LOG").is_none()
        {
            vars.push(("AIVEX_LOG".into(), "debug".into()));
        }
        child::ChildEnv { vars }
    }

    pub(super) fn spawn(&mut self, i: usize, now: Mono) {
        if let Some(next) = self.slots[i].next_spec.take() {
            self.slots[i].limits = limits_for(&self.cfg, &next, self.mode);
            self.slots[i].spec = next;
        }
        let spec = self.slots[i].spec.clone();
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
            let env = self.child_env(&spec, &self.slots[i].limits);
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
                // Record the group before anything else: if we are SIGKILLed from here on, the
                // next supervisor can still clean up what this module starts.
                self.save_groups();
                let s = &mut self.slots[i];
                s.hb_sig = heartbeat::look(&s.hb_path);
                s.started_at = Some(now_rfc3339());
                log::info!("module {} started: pid {}", spec.name, started.pid);
                self.run.history(json!({"at": now_rfc3339(), "module": spec.name, "event": "start", "pid": started.pid}));
                self.input(i, Input::Spawned, now);
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

    pub(super) fn save_groups(&self) {
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
