//! The watchdog supervisor: the imperative shell around `policy`.
//!
//! One loop on the main thread owns all supervision state. It waits on one channel of `Event`s
//! (signals from signal-hook, control requests from the socket thread) with a timeout that is the
//! earliest timer any module has, reads the monotonic clock once per turn, feeds the policy and
//! executes the actions it returns: spawn, signal, record, write state. Child exits are reaped
//! with waitpid(-1) when SIGCHLD wakes the loop. The loop runs on the main thread on purpose:
//! the parent-death signal of a child fires when the thread that forked it exits.
//!
//! This file is the loop alone: the event turn, reaping, feeding inputs and executing actions.
//! Its helpers live next to it, each in its own room: `timers.rs` (what is due when: starts
//! held back by dependencies, heartbeat looks, the status line with the cost accounting, the
//! state file; the loop's timeout), `host.rs` (lock, subreaper, fd limit, signal thread, disk
//! budget, `Supervisor::new`), `spawn.rs` (the child environment and spawning), `crash.rs` (the
//! supervisor's crash records), `requests.rs` (control requests), `reload.rs` (the reload plan
//! and carrying it out), `state.rs` (status line and state file), `alerts/` (raising alerts
//! and the thread that delivers them). Decisions are the policy's (`policy/`), readiness and
//! stop order `order.rs`'s, the memory limit `usage.rs`'s; this file must not make any.

pub mod alerts;
pub mod child;
mod cluster;
mod crash;
mod heartbeat;
mod host;
mod launch;
pub mod leftovers;
mod order;
mod output;
pub mod policy;
mod raw;
mod reload;
mod requests;
pub mod rundir;
mod spawn;
mod state;
mod timers;
mod usage;
mod wake;

use host::enforce_budget;

use crate::config::{Config, EventKind, ModuleSpec};
use crate::control::{self, server::Envelope};
use aivex_platform::time::now_rfc3339;
use crossbeam_channel::Receiver;
use policy::{Action, Exit, Input, Limits, Mono, State, StopReason};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the supervisor runs its modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Continuous,
    Once,
    Dev,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "continuous" => Some(Mode::Continuous),
            "once" => Some(Mode::Once),
            "dev" => Some(Mode::Dev),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Continuous => "continuous",
            Mode::Once => "once",
            Mode::Dev => "dev",
        }
    }
}

/// Everything that can wake the loop. Timers are not events: they are the loop's timeout.
pub enum Event {
    Signal(i32),
    Control(Envelope),
}

/// How a supervisor run ended; the CLI turns it into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by SIGTERM/SIGINT after every module stopped.
    Stopped,
    /// Once mode: every module exited 0.
    OnceOk,
    /// Once mode: at least one module failed.
    OnceFailed,
    /// A second stop signal: modules were killed without waiting.
    Forced,
}

/// Why the supervisor could not run at all.
#[derive(Debug)]
pub enum SupervisorError {
    /// Another supervisor holds the data directory.
    Busy(String),
    Io(String),
}

impl std::fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SupervisorError::Busy(m) | SupervisorError::Io(m) => f.write_str(m),
        }
    }
}

/// How often the state file is rewritten even when nothing changed, so that readers (Eye's
/// health check, 15 s by default) can tell a live supervisor from a dead one by `updated_at`.
/// Periodic work runs on a grid of this period (`order::grid_next`), so an idle supervisor
/// wakes once per period at most.
const STATE_REFRESH: Duration = Duration::from_secs(10);

/// How often the disk budget of the data directory is enforced.
const BUDGET_EVERY: Duration = Duration::from_secs(60);

struct Slot {
    spec: ModuleSpec,
    limits: Limits,
    m: policy::Supervised,
    pid: Option<i32>,
    starttime: u64,
    /// The process's session id, recorded in groups.json with its start time.
    sid: i32,
    hb_path: PathBuf,
    hb_sig: Option<heartbeat::Sig>,
    /// When the initial start is due (startup stagger).
    start_at: Option<Mono>,
    /// Removed from the config by a reload: forget the slot once it has stopped.
    removing: bool,
    /// A reload changed the spec while the process ran: use it for the next spawn.
    next_spec: Option<ModuleSpec>,
    last_exit_at: Option<String>,
    started_at: Option<String>,
    /// Its heartbeat changed since the current process started (readiness).
    beaten: bool,
    /// When its heartbeat file (or ready file) is looked at next; None: not looked at.
    next_look: Option<Mono>,
    /// WAITING: the dependencies it waits for before its first start.
    waiting_for: Option<String>,
    /// Shutdown: told to stop (dependants first, so not all at once).
    shutdown_sent: bool,
    /// The cost figures of the last look, and the CPU sample they were computed from.
    usage: Option<usage::Usage>,
    cpu_pct: Option<f64>,
    cpu_prev: Option<usage::CpuSample>,
    /// Consecutive looks above `max_rss_mb`.
    over_limit: u8,
    /// What the last alert said about it.
    watch: alerts::events::Watch,
}

impl Slot {
    /// A module the loop has not started yet; its first start is due at `start_at`.
    fn new(spec: ModuleSpec, limits: Limits, hb_path: PathBuf, start_at: Option<Mono>) -> Slot {
        Slot {
            spec,
            limits,
            m: policy::Supervised::default(),
            pid: None,
            starttime: 0,
            sid: 0,
            hb_path,
            hb_sig: None,
            start_at,
            removing: false,
            next_spec: None,
            last_exit_at: None,
            started_at: None,
            beaten: false,
            next_look: None,
            waiting_for: None,
            shutdown_sent: false,
            usage: None,
            cpu_pct: None,
            cpu_prev: None,
            over_limit: 0,
            watch: Default::default(),
        }
    }
}

pub struct Supervisor {
    cfg: Config,
    mode: Mode,
    run: rundir::RunDir,
    slots: Vec<Slot>,
    hub: output::Hub,
    self_exe: PathBuf,
    epoch: Instant,
    rx: Receiver<Event>,
    shutting_down: bool,
    dirty: bool,
    next_status: Mono,
    next_state_write: Mono,
    next_budget: Mono,
    alerts: Option<alerts::Alerts>,
    /// Eye's health verdict as last read (identity of its file) and judged.
    health_sig: Option<heartbeat::Sig>,
    health: alerts::events::HealthWatch,
    node_id: String,
    registry: &'static crate::config::Registry,
    notifier: aivex_platform::notify::Notifier,
    all_started_notified: bool,
    loop_passes: u64,
    last_watchdog: Option<Instant>,
    /// The lease loop of `[cluster]` (its own thread; see `cluster.rs`).
    leases: Option<cluster::LeaseLoop>,
    /// The store's automatic migration, while it runs (built-ins start after it).
    migration: Option<std::thread::JoinHandle<()>>,
    /// groups.json: when it was last written, and whether it is behind.
    groups_saved: Option<Instant>,
    groups_dirty: bool,
    /// Drop the code pages before the next sleep (start-up done, or periodic work done).
    trim_due: bool,
    /// Rung by every event sender: lets the loop trim its code and sleep in one step.
    bell: wake::Bell,
    _lock: std::fs::File,
}

fn limits_for(cfg: &Config, spec: &ModuleSpec, mode: Mode) -> Limits {
    Limits::new(
        &cfg.watchdog,
        spec.heartbeat_ttl_s,
        &spec.no_restart_exit_codes,
        spec.restart_on_fatal,
        mode == Mode::Once,
    )
}

impl Supervisor {
    fn now(&self) -> Mono {
        self.epoch.elapsed()
    }

    /// Runs until stopped (continuous/dev) or until every module finished (once).
    pub fn run(mut self) -> Outcome {
        if self.cfg.cluster.enabled {
            match cluster::LeaseLoop::start(self.cfg.cluster.clone(), self.cfg.database.url.clone())
            {
                Ok(l) => self.leases = Some(l),
                // Without the loop this node holds no lease, so brain composes nothing: the
                // other nodes carry the load.
                Err(e) => log::error!("cluster: cannot start the lease loop thread: {e}"),
            }
        }
        self.raise_supervisor(EventKind::SupervisorStarted);
        let outcome = loop {
            let now = self.now();
            let timeout = self.next_wakeup(now).saturating_sub(now);
            let event = self.next_event(timeout);
            let now = self.now();
            if let Some(e) = event {
                if let Some(out) = self.handle(e, now) {
                    break out;
                }
            }
            // Drain whatever else arrived, so a burst of signals is one turn.
            while let Ok(e) = self.rx.try_recv() {
                if let Some(out) = self.handle(e, now) {
                    return self.finish(out);
                }
            }
            self.timers(now);
            if self.groups_dirty {
                self.save_groups();
            }
            if let Some(out) = self.finished() {
                break out;
            }
            self.loop_passes += 1;
            self.notify_watchdog();
            #[cfg(debug_assertions)]
            debug_wedge();
        };
        self.finish(outcome)
    }

    /// Waits up to `timeout` for the next event. After start-up or periodic work the wait drops
    /// the code pages and sleeps with nothing in between (wake.rs says why); the bell is cleared
    /// before the channel is looked at, so an event sent after that rings it again.
    fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        if !std::mem::take(&mut self.trim_due) {
            return self.rx.recv_timeout(timeout).ok();
        }
        self.bell.clear();
        if let Ok(e) = self.rx.try_recv() {
            return Some(e);
        }
        self.bell.trim_and_sleep(timeout);
        self.rx.try_recv().ok()
    }

    /// Hands over the store's automatic migration, running on its own thread: the first
    /// built-in module starts only once it is done (external modules need not wait).
    pub fn migration(&mut self, m: Option<std::thread::JoinHandle<()>>) {
        self.migration = m;
    }

    fn wait_migration(&mut self) {
        if let Some(h) = self.migration.take() {
            let _ = h.join();
        }
    }

    fn finish(mut self, outcome: Outcome) -> Outcome {
        // Modules are down: hand this node's shards over now rather than after a ttl.
        if let Some(l) = self.leases.take() {
            l.stop();
        }
        self.wait_migration();
        self.write_state(self.now());
        leftovers::save(&self.cfg.runtime.data_dir, &self.run.id, &[]);
        if let Some(a) = self.alerts.as_mut() {
            a.finish();
        }
        let _ = std::fs::remove_file(control::socket_path(&self.cfg.runtime.data_dir));
        let line = self.status_line();
        println!("{line}");
        log::info!("supervisor exiting: {outcome:?}");
        outcome
    }

    fn finished(&self) -> Option<Outcome> {
        let all_down = self.slots.iter().all(|s| !s.m.alive && s.pid.is_none());
        if self.shutting_down && all_down {
            return Some(Outcome::Stopped);
        }
        if self.mode == Mode::Once
            && all_down
            && self.slots.iter().all(|s| {
                s.start_at.is_none()
                    && s.m.state == State::Stopped
                    && s.m.stop_reason != Some(StopReason::NotStarted)
            })
        {
            let ok = self
                .slots
                .iter()
                .all(|s| s.m.stop_reason == Some(StopReason::CleanExit));
            return Some(if ok {
                Outcome::OnceOk
            } else {
                Outcome::OnceFailed
            });
        }
        None
    }

    /// Handles one event; `Some` ends the run.
    fn handle(&mut self, e: Event, now: Mono) -> Option<Outcome> {
        match e {
            Event::Signal(libc::SIGCHLD) => self.reap(now),
            Event::Signal(libc::SIGTERM) | Event::Signal(libc::SIGINT) => {
                if self.shutting_down {
                    log::warn!("second stop signal: killing every module now");
                    for s in &self.slots {
                        if let Some(pid) = s.pid {
                            child::signal_group(pid, libc::SIGKILL);
                        }
                    }
                    self.reap_blocking(Duration::from_secs(2));
                    return Some(Outcome::Forced);
                }
                self.shutdown(now);
            }
            Event::Signal(libc::SIGHUP) => {
                if let Err(e) = self.reload(now) {
                    log::error!(
                        "reload refused, still running on the previous configuration:\n{e}"
                    );
                }
            }
            Event::Signal(_) => {}
            Event::Control(env) => {
                let reply = self.control(env.request, now);
                let _ = env.reply.send(reply);
            }
        }
        None
    }

    fn shutdown(&mut self, now: Mono) {
        log::info!(
            "stopping: sending SIGTERM to every module, dependants first (grace {:.1}s)",
            self.cfg.watchdog.stop_grace_s
        );
        self.shutting_down = true;
        self.notifier.stopping();
        self.raise_supervisor(EventKind::SupervisorStopping);
        for s in &mut self.slots {
            s.start_at = None;
            s.waiting_for = None;
        }
        self.stop_in_order(now);
    }

    /// Reaps every exited child; module leaders become Exited inputs, grandchildren re-parented
    /// to us (we are a subreaper) are just collected.
    fn reap(&mut self, now: Mono) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let exit = if libc::WIFEXITED(status) {
                Exit::code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Exit::signal(libc::WTERMSIG(status))
            } else {
                continue;
            };
            if let Some(i) = self.slots.iter().position(|s| s.pid == Some(pid)) {
                self.on_exit(i, exit, now);
            } else if let Some(a) = &self.alerts {
                // Not a module: perhaps an alert command the alert thread waits for.
                a.exits.reaped(pid, status);
            }
        }
    }

    fn reap_blocking(&mut self, deadline: Duration) {
        let end = Instant::now() + deadline;
        while self.slots.iter().any(|s| s.pid.is_some()) && Instant::now() < end {
            let now = self.now();
            self.reap(now);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn on_exit(&mut self, i: usize, exit: Exit, now: Mono) {
        let name = self.slots[i].spec.name.clone();
        // Whatever the module started dies with it: no orphan outlives its module.
        if let Some(pid) = self.slots[i].pid.take() {
            child::signal_group(pid, libc::SIGKILL);
        }
        self.slots[i].next_look = None;
        self.hub.drain(&name, Duration::from_millis(200));
        self.slots[i].last_exit_at = Some(now_rfc3339());
        log::info!("module {name} exited: {}", policy::describe(exit));
        self.run
            .history(json!({"at": now_rfc3339(), "module": name, "event": "exit",
            "code": exit.code, "signal": exit.signal}));
        self.input(i, Input::Exited(exit), now);
        self.save_groups_soon();
        if self.slots[i].removing && !self.slots[i].m.alive {
            self.slots.remove(i);
            self.dirty = true;
        }
    }

    /// Feeds one input to a module's policy and executes the resulting actions.
    fn input(&mut self, i: usize, input: Input, now: Mono) {
        let actions = {
            let s = &mut self.slots[i];
            s.m.step(input, now, &s.limits)
        };
        for a in actions {
            self.act(i, a, now);
        }
    }

    fn act(&mut self, i: usize, a: Action, now: Mono) {
        let name = self.slots[i].spec.name.clone();
        match a {
            Action::Spawn => self.spawn(i, now),
            Action::Term => {
                if let Some(pid) = self.slots[i].pid {
                    child::signal_group(pid, libc::SIGTERM);
                }
            }
            Action::Kill => {
                if let Some(pid) = self.slots[i].pid {
                    log::warn!(
                        "module {name} did not stop within {:.1}s: SIGKILL",
                        self.cfg.watchdog.stop_grace_s
                    );
                    child::signal_group(pid, libc::SIGKILL);
                }
            }
            Action::RecordCrash { reason } => self.record_crash(i, &reason),
            Action::IllegalTransition { from, to, reason } => log::error!(
                "module {name}: the policy asked for the illegal transition {} -> {} ({reason}); \
                 ignored, the module stays {} (a bug: please report it)",
                from.as_str(),
                to.as_str(),
                from.as_str()
            ),
            Action::Transition { from, to, reason } => {
                self.dirty = true;
                self.raise_transition(i, to, &reason, now);
                let level = if matches!(to, State::Crashed | State::LoopDetected) {
                    log::Level::Warn
                } else {
                    log::Level::Info
                };
                log::log!(
                    level,
                    "module {name}: {} -> {} ({reason})",
                    from.as_str(),
                    to.as_str()
                );
                self.run.history(
                    json!({"at": now_rfc3339(), "module": name, "event": "transition",
                    "from": from.as_str(), "to": to.as_str(), "reason": reason,
                    "restarts": self.slots[i].m.restarts}),
                );
            }
        }
    }

    fn notify_watchdog(&mut self) {
        // A ping only after a full pass of the loop: a wedged loop stops pinging and systemd
        // restarts us.
        if let Some(iv) = self.notifier.watchdog_interval() {
            let due = self.last_watchdog.is_none_or(|t| t.elapsed() >= iv);
            if due {
                self.notifier.watchdog();
                self.last_watchdog = Some(Instant::now());
            }
        }
    }

    fn find(&self, module: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == module)
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Test hook (debug builds only): while the file named by `AIVEX_DEBUG_WEDGE_FILE` exists the
/// loop hangs, so a test can prove that a wedged loop stops the systemd watchdog pings.
#[cfg(debug_assertions)]
fn debug_wedge() {
    if let Some(f) = std::env::var_os("AIVEX_DEBUG_WEDGE_FILE") {
        while Path::new(&f).exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
