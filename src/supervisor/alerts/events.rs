//! Which state changes are alerts: one alert per change of a module's (or the box's health's)
//! condition, never one per crash. A module that crashes and restarts is not an alert; one that
//! ends LOOP_DETECTED or STOPPED (config_error, max_restarts, fatal) or is stopped for
//! `memory_limit` is, once, until it runs healthily again (`module_recovered`). Pure: a small
//! state per module and for health, fed what the loop observed.
//!
//! Flapping (down, recovered, down again within a sink's `min_interval_s`) is summarised by
//! the delivery thread's limiter (`limit.rs`), not here.

use crate::config::EventKind;
use crate::supervisor::policy::{State, MEMORY_LIMIT};

/// STOPPED reasons that are alerts (`module_stopped`).
pub const STOP_REASONS: &[&str] = &["config_error", "max_restarts", "fatal"];

/// Why a module is down, as far as alerts are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    Loop,
    Stopped(String),
}

/// One module's alert state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Watch {
    /// The condition the last alert reported; None while the module is fine.
    pub down: Option<Down>,
}

impl Watch {
    /// A transition of the module's policy to `to` with `reason`: the alert it makes, if any.
    pub fn on_transition(&mut self, to: State, reason: &str) -> Option<(EventKind, String)> {
        let (down, kind) = match to {
            State::LoopDetected => (Down::Loop, EventKind::ModuleLoopDetected),
            State::Stopped if STOP_REASONS.contains(&reason) => {
                (Down::Stopped(reason.into()), EventKind::ModuleStopped)
            }
            // The failure that ends a memory-limit stop.
            State::Crashed if reason == MEMORY_LIMIT => {
                (Down::Stopped(reason.into()), EventKind::ModuleStopped)
            }
            _ => return None,
        };
        if self.down.as_ref() == Some(&down) {
            return None;
        }
        self.down = Some(down);
        Some((kind, reason.to_string()))
    }

    /// The module has been running for `healthy_after_s`: `module_recovered` if it was down.
    pub fn on_healthy(&mut self) -> Option<(EventKind, String)> {
        let was = self.down.take()?;
        let reason = match was {
            Down::Loop => "was LOOP_DETECTED".to_string(),
            Down::Stopped(r) => format!("was stopped ({r})"),
        };
        Some((EventKind::ModuleRecovered, reason))
    }
}

/// The box's health as Eye last judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthWatch {
    healthy: bool,
}

impl Default for HealthWatch {
    /// Healthy until Eye says otherwise: a box that starts degraded is an alert.
    fn default() -> Self {
        HealthWatch { healthy: true }
    }
}

impl HealthWatch {
    /// A verdict: `health_degraded` or `health_recovered` when it differs from the last one.
    pub fn on_verdict(&mut self, healthy: bool) -> Option<EventKind> {
        if healthy == self.healthy {
            return None;
        }
        self.healthy = healthy;
        Some(if healthy {
            EventKind::HealthRecovered
        } else {
            EventKind::HealthDegraded
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::*;

    #[test]
    fn one_alert_per_state_change() {
        // A sequence of (what happened, alert expected).
        enum Step {
            T(State, &'static str),
            Healthy,
        }
        use Step::*;
        let rows: &[(Step, Option<(EventKind, &str)>)] = &[
            // Crashes and restarts are no alerts.
            (T(State::Crashed, "exit 1"), None),
            (T(State::Restarting, "retry in 1.0s"), None),
            (T(State::Running, "started"), None),
            (Healthy, None),
            (T(State::Crashed, "exit 1"), None),
            (
                T(State::LoopDetected, "5 failures within 300s"),
                Some((ModuleLoopDetected, "5 failures within 300s")),
            ),
            // Reset and loop again without running healthily: the same condition, no alert.
            (T(State::Running, "started"), None),
            (T(State::LoopDetected, "5 failures within 300s"), None),
            (T(State::Running, "started"), None),
            (Healthy, Some((ModuleRecovered, "was LOOP_DETECTED"))),
            (Healthy, None),
            (T(State::Stopped, "clean_exit"), None),
            (T(State::Stopped, "stopped_by_operator"), None),
            (
                T(State::Stopped, "config_error"),
                Some((ModuleStopped, "config_error")),
            ),
            (T(State::Stopped, "config_error"), None),
            // A different reason is a different condition.
            (T(State::Stopped, "fatal"), Some((ModuleStopped, "fatal"))),
            (T(State::Running, "started"), None),
            (Healthy, Some((ModuleRecovered, "was stopped (fatal)"))),
            (
                T(State::Crashed, MEMORY_LIMIT),
                Some((ModuleStopped, MEMORY_LIMIT)),
            ),
            (T(State::Restarting, "retry in 5.0s"), None),
            (T(State::Crashed, MEMORY_LIMIT), None),
            (
                T(State::Stopped, "max_restarts"),
                Some((ModuleStopped, "max_restarts")),
            ),
        ];
        let mut w = Watch::default();
        for (i, (step, want)) in rows.iter().enumerate() {
            let got = match step {
                T(s, r) => w.on_transition(*s, r),
                Healthy => w.on_healthy(),
            };
            let want = want.map(|(k, r)| (k, r.to_string()));
            assert_eq!(got, want, "step {i}");
        }
    }

    #[test]
    fn health_changes_only() {
        let mut h = HealthWatch::default();
        let rows = [
            (true, None),
            (false, Some(HealthDegraded)),
            (false, None),
            (true, Some(HealthRecovered)),
            (true, None),
        ];
        for (healthy, want) in rows {
            assert_eq!(h.on_verdict(healthy), want, "{healthy}");
        }
    }
}
