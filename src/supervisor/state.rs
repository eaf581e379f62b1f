//! Rendering supervision state for people and programs: the `runtime_state.json` document and
//! the `[AIVEX] name=STATE(restarts) ...` status line. The renderers are pure functions of a
//! snapshot (`View`); the `impl Supervisor` block takes the snapshot from the loop's slots and
//! writes the state file. The document is the contract type `aivex_core::contract::RuntimeState`
//! (read by Eye and `aivex status`): a new field goes there, not into a JSON literal here.

use super::policy::{Mono, State, Supervised};
use super::{absolute, order, usage, Supervisor, STATE_REFRESH};
use crate::config::Run;
use aivex_core::contract::state::{LastExit, ModuleState, ModuleStatus, RuntimeState};
use aivex_platform::time::now_rfc3339;

/// What the renderer needs to know of one module.
pub struct View<'a> {
    pub name: &'a str,
    pub m: &'a Supervised,
    pub pid: Option<i32>,
    pub kind: &'a str,
    pub heartbeat_ttl_s: Option<f64>,
    pub last_exit_at: Option<&'a str>,
    pub started_at: Option<&'a str>,
    pub waiting_for: Option<&'a str>,
    pub usage: Option<&'a usage::Usage>,
    pub cpu_pct: Option<f64>,
    pub max_rss_mb: Option<u64>,
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The contract's name for a policy state (a module held back by a dependency is WAITING).
pub fn contract_state(s: State, waiting: bool) -> ModuleState {
    if waiting {
        return ModuleState::Waiting;
    }
    match s {
        State::Running => ModuleState::Running,
        State::Crashed => ModuleState::Crashed,
        State::Restarting => ModuleState::Restarting,
        State::Stopped => ModuleState::Stopped,
        State::LoopDetected => ModuleState::LoopDetected,
    }
}

pub fn module_status(v: &View, now: Mono) -> ModuleStatus {
    let m = v.m;
    let u = v.usage;
    ModuleStatus {
        state: contract_state(m.state, v.waiting_for.is_some()),
        reason: (m.state == State::Stopped)
            .then(|| m.stop_reason.map(|r| r.as_str().to_string()))
            .flatten(),
        pid: v.pid,
        kind: v.kind.to_string(),
        restarts: m.restarts,
        consecutive_failures: m.consecutive_failures,
        started_at: v.started_at.map(str::to_string),
        uptime_s: m
            .started_at
            .filter(|_| m.alive)
            .map(|s| round(now.saturating_sub(s).as_secs_f64())),
        last_exit: m.last_exit.as_ref().map(|e| LastExit {
            code: e.exit.code,
            signal: e.exit.signal,
            reason: e.reason.clone(),
            at: v.last_exit_at.map(str::to_string),
        }),
        heartbeat_age_s: m.heartbeat_age(now).map(|d| round(d.as_secs_f64())),
        heartbeat_ttl_s: v.heartbeat_ttl_s,
        next_restart_in_s: m
            .retry_at
            .filter(|_| m.state == State::Restarting)
            .map(|r| round(r.saturating_sub(now).as_secs_f64())),
        stopping: m.stopping.is_some(),
        waiting_for: v.waiting_for.map(str::to_string),
        cpu_s: u.map(|u| round(u.cpu_s)),
        cpu_pct: v.cpu_pct.filter(|_| u.is_some()),
        rss_bytes: u.map(|u| u.rss_bytes),
        pss_bytes: u.map(|u| u.pss_bytes).filter(|p| *p > 0),
        fds: u.map(|u| u.fds).filter(|f| *f > 0),
        threads: u.map(|u| u.threads),
        max_rss_mb: v.max_rss_mb,
    }
}

/// `[AIVEX] news=RUNNING(0) chart=RESTARTING(2) ...`
pub fn status_line(views: &[View]) -> String {
    let mut s = String::from("[AIVEX]");
    for v in views {
        s.push_str(&format!(
            " {}={}({})",
            v.name,
            contract_state(v.m.state, v.waiting_for.is_some()).as_str(),
            v.m.restarts
        ));
    }
    s
}

impl Supervisor {
    pub(super) fn views(&self) -> Vec<View<'_>> {
        self.slots
            .iter()
            .map(|s| View {
                name: &s.spec.name,
                m: &s.m,
                pid: s.pid,
                kind: match s.spec.run {
                    Run::Builtin(_) => "builtin",
                    Run::Command(_) => "command",
                },
                heartbeat_ttl_s: s.limits.heartbeat_ttl.map(|d| d.as_secs_f64()),
                last_exit_at: s.last_exit_at.as_deref(),
                started_at: s.started_at.as_deref(),
                waiting_for: s.waiting_for.as_deref(),
                usage: s.usage.as_ref(),
                cpu_pct: s.cpu_pct,
                max_rss_mb: s.spec.supervision.max_rss_mb,
            })
            .collect()
    }

    pub(super) fn status_line(&self) -> String {
        status_line(&self.views())
    }

    pub(super) fn runtime_state(&self, now: Mono) -> RuntimeState {
        RuntimeState {
            run_id: self.run.id.clone(),
            pid: std::process::id(),
            mode: self.mode.as_str().to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            updated_at: now_rfc3339(),
            updated_at_unix: Some(aivex_platform::time::now_unix() as f64),
            uptime_s: now.as_secs_f64(),
            config_path: absolute(&self.cfg.path).display().to_string(),
            config_hash: self.cfg.hash.clone(),
            data_dir: self.cfg.runtime.data_dir.display().to_string(),
            shutting_down: self.shutting_down,
            node_id: self.node_id.clone(),
            alerts: self.alerts.as_ref().map(|a| a.stats()),
            modules: self
                .views()
                .iter()
                .map(|v| (v.name.to_string(), module_status(v, now)))
                .collect(),
        }
    }

    pub(super) fn write_state(&mut self, now: Mono) {
        let st = self.runtime_state(now);
        self.run.write_state(&st);
        self.dirty = false;
        // On the grid, so the refresh shares its wake-up with the status line and the budget.
        self.next_state_write = order::grid_next(now, STATE_REFRESH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WatchdogConfig;
    use crate::supervisor::policy::{Exit, Input, Limits};
    use std::time::Duration;

    #[test]
    fn status_line_and_json() {
        let l = Limits::new(&WatchdogConfig::default(), None, &[2, 78], false, false);
        let mut a = Supervised::default();
        a.step(Input::Start, Duration::ZERO, &l);
        a.step(Input::Spawned, Duration::ZERO, &l);
        let mut b = a.clone();
        b.step(Input::Exited(Exit::code(1)), Duration::from_secs(1), &l);
        let cost = usage::Usage {
            cpu_s: 1.23456,
            rss_bytes: 3 << 20,
            pss_bytes: 2 << 20,
            fds: 5,
            threads: 2,
            procs: 1,
        };
        let views = [
            View {
                name: "news",
                m: &a,
                pid: Some(10),
                kind: "builtin",
                heartbeat_ttl_s: Some(120.0),
                last_exit_at: None,
                started_at: None,
                waiting_for: None,
                usage: None,
                cpu_pct: None,
                max_rss_mb: None,
            },
            View {
                name: "chart",
                m: &b,
                pid: None,
                kind: "command",
                heartbeat_ttl_s: None,
                last_exit_at: Some("t"),
                started_at: None,
                waiting_for: None,
                usage: Some(&cost),
                cpu_pct: Some(2.5),
                max_rss_mb: Some(64),
            },
            View {
                name: "brain",
                m: &Supervised::default(),
                pid: None,
                kind: "builtin",
                heartbeat_ttl_s: None,
                last_exit_at: None,
                started_at: None,
                waiting_for: Some("chart"),
                usage: None,
                cpu_pct: None,
                max_rss_mb: None,
            },
        ];
        assert_eq!(
            status_line(&views),
            "[AIVEX] news=RUNNING(0) chart=RESTARTING(0) brain=WAITING(0)"
        );
        let j = serde_json::to_value(module_status(&views[1], Duration::from_secs(3))).unwrap();
        assert_eq!(j["state"], "RESTARTING");
        assert_eq!(j["next_restart_in_s"], 8.0);
        assert_eq!(j["last_exit"]["code"], 1);
        assert_eq!(j["consecutive_failures"], 1);
        let j = serde_json::to_value(module_status(&views[0], Duration::from_secs(3))).unwrap();
        assert_eq!(j["heartbeat_age_s"], 3.0);
        assert_eq!(j["reason"], serde_json::Value::Null);
        assert_eq!(j["rss_bytes"], serde_json::Value::Null);
        let j = serde_json::to_value(module_status(&views[1], Duration::from_secs(3))).unwrap();
        assert_eq!(
            (
                j["cpu_s"].as_f64(),
                j["cpu_pct"].as_f64(),
                j["rss_bytes"].as_u64()
            ),
            (Some(1.235), Some(2.5), Some(3 << 20))
        );
        assert_eq!(
            (
                j["pss_bytes"].as_u64(),
                j["fds"].as_u64(),
                j["max_rss_mb"].as_u64()
            ),
            (Some(2 << 20), Some(5), Some(64))
        );
        let j = serde_json::to_value(module_status(&views[2], Duration::from_secs(3))).unwrap();
        assert_eq!(
            (j["state"].as_str(), j["waiting_for"].as_str()),
            (Some("WAITING"), Some("chart"))
        );
    }
}
