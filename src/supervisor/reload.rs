//! Reloading the configuration (SIGHUP, `aivex reload`). `plan` decides, per module, what the
//! new configuration changes and why: a pure function of what the supervisor has and the new
//! modules, tested as a table. `Supervisor::reload` loads and validates the new configuration
//! (an invalid one changes nothing: the old one keeps running), then carries the plan out
//! through the policy, so a reload restart is never counted as a failure.
//!
//! It must not start or signal processes itself, and must not move the data directory (a new
//! `data_dir` takes effect at the next start of aivex).

use super::policy::{Input, Mono, StopReason};
use super::{limits_for, Slot, Supervisor};
use crate::config::{self, ModuleSpec};
use aivex_platform::time::now_rfc3339;
use serde_json::{json, Value};

/// What the supervisor has of one module, as far as a reload cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Current<'a> {
    pub name: &'a str,
    /// `ModuleSpec::fingerprint` of the spec it runs with (or will start with).
    pub fingerprint: String,
    /// `ModuleSpec::supervision_fingerprint` of it (depends_on, ready, max_rss_mb).
    pub supervision: String,
    /// A process exists.
    pub alive: bool,
    /// STOPPED(stopped_by_operator): an operator's stop outlasts a reload.
    pub stopped_by_operator: bool,
    /// Its first start (the start-up stagger) is still ahead.
    pub awaiting_start: bool,
    /// An earlier reload removed it and it is still stopping.
    pub removing: bool,
}

/// What a reload does to one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Unchanged: it stays as it is; only the global `[watchdog]` limits are refreshed.
    Keep,
    /// Only how the supervisor orders and watches it changed (`depends_on`, `ready`,
    /// `max_rss_mb`): applied at once, the process keeps running.
    Apply,
    /// Newly enabled: start it now.
    Start,
    /// No longer enabled: stop it, then forget it.
    Stop,
    /// Its manifest or settings changed: stop it if it runs, then start it with the new spec
    /// (counters re-armed; not a failure).
    Restart,
    /// Its manifest or settings changed, or it is enabled again while being removed, but it
    /// stays as it is: the new spec is used at its next start.
    Update,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Keep => "keep",
            Change::Apply => "apply",
            Change::Start => "start",
            Change::Stop => "stop",
            Change::Restart => "restart",
            Change::Update => "update",
        }
    }
}

/// One module's change and the reason for it, in words for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub module: String,
    pub change: Change,
    pub why: &'static str,
}

/// Decides what a reload does: one entry per module the supervisor has (in its order), then one
/// per newly enabled module (in `enabled` order). Pure.
pub fn plan(current: &[Current], config: &[ModuleSpec]) -> Vec<Planned> {
    let mut out = Vec::with_capacity(current.len() + config.len());
    for c in current {
        let (change, why) = match config.iter().find(|s| s.name == c.name) {
            None => (Change::Stop, "no longer enabled"),
            Some(_) if c.removing => (
                Change::Update,
                "enabled again while it was stopping: it stays stopped until `aivex start`",
            ),
            Some(s) if s.fingerprint() == c.fingerprint => {
                if s.supervision_fingerprint() == c.supervision {
                    (Change::Keep, "unchanged")
                } else {
                    (
                        Change::Apply,
                        "depends_on, ready or max_rss_mb changed: applied without a restart",
                    )
                }
            }
            Some(_) if c.alive => (Change::Restart, "module.toml or settings changed"),
            Some(_) if c.stopped_by_operator => (
                Change::Update,
                "changed while stopped by the operator: stays stopped",
            ),
            Some(_) if c.awaiting_start => (
                Change::Update,
                "changed before its first start: starts with the new spec",
            ),
            Some(_) => (
                Change::Restart,
                "changed while not running: starts again with the new spec",
            ),
        };
        out.push(Planned {
            module: c.name.to_string(),
            change,
            why,
        });
    }
    for s in config {
        if !current.iter().any(|c| c.name == s.name) {
            out.push(Planned {
                module: s.name.clone(),
                change: Change::Start,
                why: "newly enabled",
            });
        }
    }
    out
}

impl Supervisor {
    /// Reloads the configuration: restarts only modules whose spec changed, starts added ones,
    /// stops removed ones. On an invalid config nothing changes.
    pub(super) fn reload(&mut self, now: Mono) -> Result<Value, String> {
        self.notifier.reloading();
        let loaded = config::load(&self.cfg.path, self.registry, &|k| std::env::var(k).ok())
            .map_err(|e| e.to_string());
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.notifier.ready();
                return Err(e);
            }
        };
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        let mut new = loaded.config;
        if new.runtime.data_dir != self.cfg.runtime.data_dir {
            log::warn!("reload: data_dir changed; it takes effect at the next start of aivex");
            new.runtime.data_dir = self.cfg.runtime.data_dir.clone();
        }
        // The lease loop and every module's idea of this node run on one [cluster]: a change
        // (another node id, shard count, database) waits for the next start.
        if new.cluster != self.cfg.cluster {
            log::warn!("reload: [cluster] changed; it takes effect at the next start of aivex");
            new.cluster = self.cfg.cluster.clone();
        }
        let current: Vec<Current> = self
            .slots
            .iter()
            .map(|s| Current {
                name: &s.spec.name,
                fingerprint: s.next_spec.as_ref().unwrap_or(&s.spec).fingerprint(),
                supervision: s
                    .next_spec
                    .as_ref()
                    .unwrap_or(&s.spec)
                    .supervision_fingerprint(),
                alive: s.m.alive,
                stopped_by_operator: s.m.stop_reason == Some(StopReason::StoppedByOperator),
                awaiting_start: s.start_at.is_some(),
                removing: s.removing,
            })
            .collect();
        let planned = plan(&current, &new.modules);
        self.cfg = new;
        let (mut changed, mut added, mut removed) = (vec![], vec![], vec![]);
        for p in &planned {
            if p.change != Change::Keep {
                log::info!("reload: {} {} ({})", p.change.as_str(), p.module, p.why);
            }
            match p.change {
                Change::Start => added.push(p.module.clone()),
                Change::Stop => removed.push(p.module.clone()),
                Change::Restart | Change::Update | Change::Apply => changed.push(p.module.clone()),
                Change::Keep => {}
            }
            self.carry_out(p, now);
        }
        self.slots
            .retain(|s| !(s.removing && !s.m.alive && s.pid.is_none()));
        self.dirty = true;
        let summary = json!({"changed": changed, "added": added, "removed": removed, "config_hash": self.cfg.hash});
        log::info!("reloaded configuration: {summary}");
        self.run
            .history(json!({"at": now_rfc3339(), "event": "reload", "summary": summary}));
        self.notifier.ready();
        Ok(summary)
    }

    /// Applies one planned change with the new configuration already in `self.cfg`.
    fn carry_out(&mut self, p: &Planned, now: Mono) {
        let spec = self.cfg.module(&p.module).cloned();
        let slot = self.find(&p.module);
        match (p.change, spec, slot) {
            (Change::Start, Some(spec), None) => {
                let limits = limits_for(&self.cfg, &spec, self.mode);
                let hb = self.run.heartbeat_file(&spec.name);
                self.slots.push(Slot::new(spec, limits, hb, Some(now)));
            }
            (Change::Stop, _, Some(i)) => {
                self.slots[i].removing = true;
                self.slots[i].start_at = None;
                self.input(i, Input::Stop, now);
            }
            (Change::Keep, Some(spec), Some(i)) => {
                // Global watchdog knobs may have changed: new limits, same state.
                self.slots[i].limits = limits_for(&self.cfg, &spec, self.mode);
            }
            (Change::Apply, Some(spec), Some(i)) => {
                self.slots[i].limits = limits_for(&self.cfg, &spec, self.mode);
                if let Some(next) = self.slots[i].next_spec.as_mut() {
                    next.supervision = spec.supervision.clone();
                }
                self.slots[i].spec.supervision = spec.supervision;
                self.slots[i].over_limit = 0;
            }
            (Change::Restart | Change::Update, Some(spec), Some(i)) => {
                let restart = p.change == Change::Restart;
                self.slots[i].removing = false;
                if self.slots[i].m.alive {
                    // The running process keeps its spec until it stops; the next spawn
                    // takes the new one.
                    self.slots[i].next_spec = Some(spec);
                } else {
                    self.slots[i].limits = limits_for(&self.cfg, &spec, self.mode);
                    self.slots[i].spec = spec;
                    self.slots[i].next_spec = None;
                }
                if restart {
                    self.input(i, Input::Restart, now);
                }
            }
            // The plan was made from these very slots and this config: nothing else occurs.
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
