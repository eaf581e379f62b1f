//! The supervisor's own crash records: deaths it saw from outside (a signal, an exit code
//! outside the runner's contract, a stale heartbeat), with the tail of the module's output.
//!
//! The record format, its caps and pruning are `crate::records` (shared with the module
//! runner); this file only fills one in. It must never put settings or environment values in
//! a record.

use super::{output, Supervisor};
use crate::records::{self, CrashRecord};
use aivex_platform::time::now_rfc3339;
use std::time::Duration;

impl Supervisor {
    pub(super) fn record_crash(&mut self, i: usize, reason: &str) {
        let s = &self.slots[i];
        self.hub.drain(&s.spec.name, Duration::from_millis(200));
        let last = s.m.last_exit.as_ref();
        let stale = reason.starts_with("stale heartbeat");
        let rec = CrashRecord {
            module: s.spec.name.clone(),
            class: if stale {
                "StaleHeartbeat"
            } else if last.is_some_and(|e| e.exit.signal.is_some()) {
                "Signal"
            } else {
                "Exit"
            }
            .into(),
            message: reason.to_string(),
            exit_code: if stale {
                None
            } else {
                last.and_then(|e| e.exit.code)
            },
            signal: if stale {
                None
            } else {
                last.and_then(|e| e.exit.signal)
            },
            cycle: None,
            at: now_rfc3339(),
            pid: s.pid.map(|p| p as u32).unwrap_or(0),
            settings_hash: None,
            source: "supervisor",
            output_tail: output::tail(&self.run.log_file(&s.spec.name), 20, 8192),
        };
        let r = records::write(&self.run.dir, &rec, self.cfg.runtime.crash_keep);
        self.run.crash_written(&r);
    }
}
