//! What is due when, in the loop: first starts (held back while a dependency is not ready),
//! heartbeat and readiness looks, policy ticks, shutdown in reverse dependency order, the status
//! line with the cost accounting, the disk budget, the state file, Eye's health verdict, READY;
//! and the loop's timeout, the earliest of all of them.
//!
//! The loop wakes only for what is due. Periodic work (state refresh, status line, budget,
//! heartbeat looks) sits on grids counted from the supervisor's start, so work of several kinds
//! due at the same moment costs one wake-up; heartbeat looks happen once per `ttl / 4` per
//! module and not at all for modules whose heartbeats are off. Decisions are elsewhere: the
//! policy's, `order.rs`'s (readiness, stop order) and `usage.rs`'s (the memory limit).

use super::order::{self, Facts};
use super::policy::{Input, Mono};
use super::BUDGET_EVERY;
use super::{enforce_budget, heartbeat, usage, Mode, Supervisor};
use crate::config::Ready;
use aivex_platform::time::now_rfc3339;
use serde_json::json;
use std::time::{Duration, Instant};

impl Supervisor {
    /// Runs every timer that is due.
    pub(super) fn timers(&mut self, now: Mono) {
        // Periodic work is due in this pass (rather than an event's follow-up).
        let periodic =
            now >= self.next_status || now >= self.next_state_write || now >= self.next_budget;
        self.looks(now);
        for i in 0..self.slots.len() {
            self.input(i, Input::Tick, now);
        }
        self.raise_recoveries(now);
        if self.shutting_down {
            self.stop_in_order(now);
        } else {
            self.starts(now);
        }
        let status_due = now >= self.next_status;
        if status_due || now >= self.next_state_write {
            // Eye's verdict, at the status line or the state refresh, whichever comes first.
            self.raise_health();
        }
        if status_due {
            // Not in the very first pass: nothing has run long enough to cost anything yet.
            if self.loop_passes > 0 {
                self.account(now);
            }
            let line = self.status_line();
            println!("{line}");
            self.notifier.status(&line);
            let every = Duration::from_secs_f64(self.cfg.watchdog.status_interval_s.max(0.1));
            self.next_status = order::grid_next(now, every);
        }
        if now >= self.next_budget {
            enforce_budget(&self.cfg, &self.run.dir);
            self.next_budget = order::grid_next(now, BUDGET_EVERY);
        }
        if self.dirty || now >= self.next_state_write {
            self.write_state(now);
        }
        // READY once every enabled module has been started (and the state file says so).
        if !self.all_started_notified && self.slots.iter().all(|s| s.start_at.is_none()) {
            self.all_started_notified = true;
            self.notifier.ready();
            // Start-up code (config parsing, the store's migration, spawning) is done: its
            // pages go at the end of this pass.
            self.wait_migration();
            self.trim_due = true;
        } else if periodic && self.all_started_notified {
            // And the periodic work's, until it is due again.
            self.trim_due = true;
        }
    }

    /// When the loop must wake next: the earliest thing that is due.
    pub(super) fn next_wakeup(&self, now: Mono) -> Mono {
        let mut t = now + Duration::from_secs(60);
        t = t
            .min(self.next_status)
            .min(self.next_state_write)
            .min(self.next_budget);
        let any_alive = self.slots.iter().any(|s| s.m.alive);
        for s in &self.slots {
            if let Some(a) = s.start_at {
                // A start that waits is retried when a dependency changes (a look, an exit),
                // and once mode starts the next module when the running one exits.
                let blocked =
                    (a <= now && s.waiting_for.is_some()) || (self.mode == Mode::Once && any_alive);
                if !blocked {
                    t = t.min(a);
                }
            }
            if let Some(d) = s.m.next_deadline(&s.limits) {
                t = t.min(d);
            }
            if let Some(l) = s.next_look {
                t = t.min(l);
            }
        }
        if let Some(r) = self.next_recovery() {
            t = t.min(r);
        }
        if let (Some(iv), Some(last)) = (self.notifier.watchdog_interval(), self.last_watchdog) {
            let due = last + iv;
            let in_ = due.saturating_duration_since(Instant::now());
            t = t.min(now + in_);
        }
        t.max(now)
    }

    /// First starts that are due. Continuous and dev: each module once its dependencies are
    /// ready (else it is WAITING); once: one module at a time, in dependency order.
    fn starts(&mut self, now: Mono) {
        if self.mode == Mode::Once {
            // A pipeline run: each module sees what the ones before it stored.
            if self.slots.iter().any(|s| s.m.alive) {
                return;
            }
            let order = self.cfg.start_order();
            let mut by_order: Vec<usize> = order
                .iter()
                .filter_map(|&k| self.find(&self.cfg.modules[k].name))
                .collect();
            let rest: Vec<usize> = (0..self.slots.len())
                .filter(|i| !by_order.contains(i))
                .collect();
            by_order.extend(rest);
            if let Some(i) = by_order
                .into_iter()
                .find(|&i| self.slots[i].start_at.is_some())
            {
                if self.slots[i].start_at.is_some_and(|t| t <= now) {
                    self.slots[i].start_at = None;
                    self.input(i, Input::Start, now);
                }
            }
            return;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].start_at.is_none_or(|t| t > now) {
                continue;
            }
            let waiting = if self.slots[i].m.alive {
                None
            } else {
                order::waiting_for(&self.slots[i].spec.supervision.depends_on, |d| {
                    self.dep_ready(d)
                })
            };
            if waiting != self.slots[i].waiting_for {
                if let Some(w) = &waiting {
                    log::info!("module {}: waiting for {w}", self.slots[i].spec.name);
                }
                self.slots[i].waiting_for = waiting.clone();
                self.dirty = true;
                // Its dependencies are looked at for readiness from now on.
                for d in self.slots[i].spec.supervision.depends_on.clone() {
                    if let Some(j) = self.find(&d) {
                        self.schedule_look(j, now);
                    }
                }
            }
            if waiting.is_some() {
                continue;
            }
            self.slots[i].start_at = None;
            self.input(i, Input::Start, now);
        }
    }

    /// Whether the module `name` is ready for its dependants now. A name the supervisor does
    /// not have (a reload removed it) holds nobody back.
    fn dep_ready(&self, name: &str) -> bool {
        let Some(s) = self.slots.iter().find(|s| s.spec.name == name) else {
            return true;
        };
        let mut f = Facts::of(s.m.state, s.m.alive, s.m.stop_reason, s.beaten);
        if let Ready::File(p) = &s.spec.supervision.ready {
            f.file_exists = crate::config::resolve_against(&s.spec.dir, p).exists();
        }
        order::ready(&s.spec.supervision.ready, f)
    }

    /// Heartbeat (and ready-file) looks that are due.
    fn looks(&mut self, now: Mono) {
        for i in 0..self.slots.len() {
            if !self.slots[i].m.alive {
                self.slots[i].next_look = None;
                continue;
            }
            if self.slots[i].next_look.is_none_or(|t| t > now) {
                continue;
            }
            let sig = heartbeat::look(&self.slots[i].hb_path);
            if heartbeat::changed(self.slots[i].hb_sig, sig) {
                self.slots[i].hb_sig = sig;
                if !self.slots[i].beaten {
                    self.slots[i].beaten = true;
                    self.dirty = true;
                }
                self.input(i, Input::Heartbeat, now);
            }
            self.schedule_look(i, now);
        }
    }

    /// When to look at module `i`'s heartbeat next: on the grid of `ttl / 4` when its heartbeats
    /// are checked, and more often (`order::next_readiness_look`) while a module waits for it
    /// to become ready; never when neither applies.
    pub(super) fn schedule_look(&mut self, i: usize, now: Mono) {
        let s = &self.slots[i];
        if !s.m.alive {
            self.slots[i].next_look = None;
            return;
        }
        let mut next = s
            .limits
            .heartbeat_ttl
            .map(|ttl| order::grid_next(now, (ttl / 4).max(Duration::from_millis(1))));
        let name = s.spec.name.as_str();
        let waited_for = self.slots.iter().any(|o| {
            o.start_at.is_some() && o.spec.supervision.depends_on.iter().any(|d| d == name)
        });
        if waited_for && !self.dep_ready(name) {
            let r = order::next_readiness_look(now, s.m.started_at.unwrap_or(now));
            next = Some(next.map_or(r, |n| n.min(r)));
        }
        self.slots[i].next_look = next;
    }

    /// Shutdown: tells every module none of whose dependants is alive any more to stop.
    pub(super) fn stop_in_order(&mut self, now: Mono) {
        let due: Vec<usize> = {
            let view: Vec<(&str, &[String], bool)> = self
                .slots
                .iter()
                .map(|s| {
                    (
                        s.spec.name.as_str(),
                        s.spec.supervision.depends_on.as_slice(),
                        s.m.alive,
                    )
                })
                .collect();
            (0..self.slots.len())
                .filter(|&i| !self.slots[i].shutdown_sent && order::may_stop(view[i].0, &view))
                .collect()
        };
        for i in due {
            self.slots[i].shutdown_sent = true;
            self.input(i, Input::Shutdown, now);
        }
    }

    /// The cost accounting, on the status-line timer: one pass over /proc for every live
    /// module (or only those with `max_rss_mb` when `[watchdog] accounting = false`), the
    /// figures into the slots, and the memory limit.
    fn account(&mut self, now: Mono) {
        let detail = self.cfg.watchdog.accounting;
        let pgids: Vec<i32> = self
            .slots
            .iter()
            .filter(|s| detail || s.spec.supervision.max_rss_mb.is_some())
            .filter_map(|s| s.pid)
            .collect();
        let figures = usage::scan(&pgids, detail);
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if s.m.stopping.is_some() && s.usage.is_some() {
                // Being stopped: its last figures (the ones that stopped it, for a memory
                // limit) stand until it is gone.
                continue;
            }
            let Some(u) = s.pid.and_then(|p| figures.get(&p).copied()) else {
                s.usage = None;
                s.cpu_pct = None;
                s.over_limit = 0;
                continue;
            };
            let pid = s.pid.unwrap_or(0);
            s.cpu_pct =
                usage::cpu_pct(s.cpu_prev, pid, u.cpu_s, now, s.m.started_at.unwrap_or(now));
            s.cpu_prev = Some(usage::CpuSample {
                pgid: pid,
                cpu_s: u.cpu_s,
                at: now,
            });
            s.usage = Some(u);
            self.dirty = true;
            let limit = s.spec.supervision.max_rss_mb;
            let (streak, stop) = usage::over_limit(u.rss_bytes, limit, s.over_limit);
            s.over_limit = streak;
            if stop {
                let name = s.spec.name.clone();
                let mb = limit.unwrap_or(0);
                log::warn!(
                    "module {name}: resident memory {:.1} MiB above max_rss_mb {mb} for {} looks: stopping it to restart (memory_limit)",
                    u.rss_bytes as f64 / 1048576.0,
                    usage::OVER_LIMIT_LOOKS
                );
                self.run.history(
                    json!({"at": now_rfc3339(), "module": name, "event": "memory_limit",
                    "rss_bytes": u.rss_bytes, "max_rss_mb": mb}),
                );
                self.input(i, Input::MemoryLimit, now);
            }
        }
    }
}
