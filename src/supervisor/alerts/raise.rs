//! The loop's side of alerts: which policy transitions, recoveries, health verdicts and
//! supervisor events become alerts (through `events.rs`), and what each one carries (the
//! module's status, its last exit, where its output is). Building an alert is cheap and never
//! waits: the output tail is read, and everything is sent, by the alert thread.
//!
//! It must not decide supervision: it only watches what the policy did.

use super::events::STOP_REASONS;
use super::Alert;
use crate::config::EventKind;
use crate::supervisor::policy::{Mono, State};
use crate::supervisor::{heartbeat, state, Supervisor};
use aivex_core::contract::{HealthVerdict, RunPaths};
use aivex_platform::time::now_rfc3339;
use serde_json::json;

/// A verdict older than this was written by an Eye that is gone: not the box's health now.
const VERDICT_STALE_S: f64 = 180.0;

impl Supervisor {
    /// A module's policy moved to `to`.
    pub(in crate::supervisor) fn raise_transition(
        &mut self,
        i: usize,
        to: State,
        reason: &str,
        now: Mono,
    ) {
        if self.alerts.is_none() {
            return;
        }
        // Only the states that can be alerts reach the watch (cheap for the rest).
        let candidate = matches!(to, State::LoopDetected | State::Crashed)
            || (to == State::Stopped && STOP_REASONS.contains(&reason));
        if !candidate {
            return;
        }
        if let Some((kind, why)) = self.slots[i].watch.on_transition(to, reason) {
            self.raise_module(i, kind, &why, now);
        }
    }

    /// Modules that were down and have now run `healthy_after_s`: `module_recovered`.
    pub(in crate::supervisor) fn raise_recoveries(&mut self, now: Mono) {
        if self.alerts.is_none() {
            return;
        }
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let healthy = s.watch.down.is_some()
                && s.m.alive
                && s.m.state == State::Running
                && s.m
                    .started_at
                    .is_some_and(|t| now.saturating_sub(t) >= s.limits.healthy_after);
            if healthy {
                if let Some((kind, why)) = self.slots[i].watch.on_healthy() {
                    self.raise_module(i, kind, &why, now);
                }
            }
        }
    }

    /// When the next recovery could be due (for the loop's timeout).
    pub(in crate::supervisor) fn next_recovery(&self) -> Option<Mono> {
        self.alerts.as_ref()?;
        self.slots
            .iter()
            .filter(|s| s.watch.down.is_some() && s.m.alive)
            .filter_map(|s| s.m.started_at.map(|t| t + s.limits.healthy_after))
            .min()
    }

    fn raise_module(&mut self, i: usize, kind: EventKind, reason: &str, now: Mono) {
        let Some(seq) = self.alerts.as_ref().map(|a| a.next_seq()) else {
            return;
        };
        let views = self.views();
        let v = &views[i];
        let status = state::module_status(v, now);
        let name = v.name.to_string();
        let last = status
            .last_exit
            .as_ref()
            .map(|e| format!(", last exit: {}", e.reason))
            .unwrap_or_default();
        let headline = match kind {
            EventKind::ModuleRecovered => {
                format!("{name} is running healthily again ({reason})")
            }
            _ => format!(
                "{name} is {} ({reason}), restarts {}{last}",
                status.state.as_str(),
                status.restarts
            ),
        };
        let mut fields = serde_json::Map::new();
        fields.insert("module".into(), json!(name));
        fields.insert("state".into(), json!(status.state.as_str()));
        fields.insert("reason".into(), json!(reason));
        fields.insert("restarts".into(), json!(status.restarts));
        fields.insert("last_exit".into(), json!(status.last_exit));
        fields.insert("status".into(), json!(status));
        let alert = Alert {
            event: kind,
            subject: name.clone(),
            seq,
            at: now_rfc3339(),
            fields,
            log: Some(self.run.log_file(&name)),
            headline,
        };
        drop(views);
        log::info!("alert {} {name}: {reason}", kind.as_str());
        if let Some(a) = self.alerts.as_mut() {
            a.send(alert);
        }
    }

    /// `supervisor_started` / `supervisor_stopping`.
    pub(in crate::supervisor) fn raise_supervisor(&mut self, kind: EventKind) {
        let Some(a) = self.alerts.as_mut() else {
            return;
        };
        let mut fields = serde_json::Map::new();
        fields.insert("pid".into(), json!(std::process::id()));
        fields.insert("mode".into(), json!(self.mode.as_str()));
        fields.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        fields.insert(
            "modules".into(),
            json!(self
                .slots
                .iter()
                .map(|s| s.spec.name.as_str())
                .collect::<Vec<_>>()),
        );
        let what = match kind {
            EventKind::SupervisorStarted => "started",
            _ => "stopping",
        };
        let alert = Alert {
            event: kind,
            subject: "supervisor".into(),
            seq: a.next_seq(),
            at: now_rfc3339(),
            fields,
            log: None,
            headline: format!(
                "aivex supervisor {what} (run {}, {} module(s))",
                self.run.id,
                self.slots.len()
            ),
        };
        a.send(alert);
    }

    /// Eye's `/health` verdict, when its file changed: `health_degraded` / `health_recovered`.
    pub(in crate::supervisor) fn raise_health(&mut self) {
        if !self.alerts.as_ref().is_some_and(|a| a.wants_health) {
            return;
        }
        let path = RunPaths::new(&self.run.dir).health_file();
        let sig = heartbeat::look(&path);
        if !heartbeat::changed(self.health_sig, sig) {
            return;
        }
        self.health_sig = sig;
        let Some(v) = std::fs::read(&path)
            .ok()
            .and_then(|b| HealthVerdict::parse(&b).ok())
        else {
            return;
        };
        let age = aivex_platform::time::now_unix() as f64 - v.at_unix;
        if age > VERDICT_STALE_S {
            return;
        }
        let Some(kind) = self.health.on_verdict(v.healthy) else {
            return;
        };
        let Some(a) = self.alerts.as_mut() else {
            return;
        };
        let mut fields = serde_json::Map::new();
        fields.insert("healthy".into(), json!(v.healthy));
        fields.insert("failing".into(), json!(v.failing));
        fields.insert("details".into(), json!(v.details));
        let headline = if v.healthy {
            "health recovered: every check passes".to_string()
        } else {
            format!("health degraded: {}", v.details.join("; "))
        };
        log::info!("alert {}: {headline}", kind.as_str());
        let alert = Alert {
            event: kind,
            subject: "health".into(),
            seq: a.next_seq(),
            at: now_rfc3339(),
            fields,
            log: None,
            headline,
        };
        a.send(alert);
    }
}
