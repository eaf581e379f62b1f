//! Per-module limits: the global `[watchdog]` values with a manifest's overrides, as the
//! durations the policy compares against, and how those limits classify an exit. Pure.

use super::exit::{Exit, ExitClass};
use crate::config::{seconds as secs, WatchdogConfig};
use std::time::Duration;

/// Per-module limits: the global `[watchdog]` values plus the manifest's overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_restarts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// None disables heartbeat checks.
    pub heartbeat_ttl: Option<Duration>,
    pub crash_loop_count: u32,
    pub crash_loop_window: Duration,
    pub stop_grace: Duration,
    pub healthy_after: Duration,
    pub no_restart_exit_codes: Vec<i32>,
    pub restart_on_fatal: bool,
    /// Once mode: every exit is final.
    pub once: bool,
}

impl Limits {
    pub fn new(
        w: &WatchdogConfig,
        ttl_override: Option<f64>,
        no_restart: &[i32],
        restart_on_fatal: bool,
        once: bool,
    ) -> Limits {
        let ttl = ttl_override.unwrap_or(w.heartbeat_ttl_s);
        Limits {
            max_restarts: w.max_restarts,
            backoff_base: secs(w.backoff_base_s),
            backoff_cap: secs(w.backoff_cap_s),
            heartbeat_ttl: (ttl > 0.0).then(|| secs(ttl)),
            crash_loop_count: w.crash_loop_count.max(1),
            crash_loop_window: secs(w.crash_loop_window_s),
            stop_grace: secs(w.stop_grace_s),
            healthy_after: secs(w.healthy_after_s),
            no_restart_exit_codes: no_restart.to_vec(),
            restart_on_fatal,
            once,
        }
    }

    pub fn classify(&self, exit: Exit) -> ExitClass {
        match exit.code {
            None => ExitClass::Crash,
            Some(0) => ExitClass::Clean,
            Some(c) if self.no_restart_exit_codes.contains(&c) => ExitClass::Config,
            Some(aivex_core::exit::EXTERNAL_SERVICE) => ExitClass::Transient,
            Some(aivex_core::exit::FATAL) if !self.restart_on_fatal => ExitClass::Fatal,
            Some(_) => ExitClass::Crash,
        }
    }
}
