//! The supervision policy: a pure state machine `(module, input, now) -> actions`.
//!
//! It owns every decision the watchdog makes about one module: how an exit is classified,
//! backoff, crash-loop detection, max restarts, heartbeat staleness, stop escalation and the
//! reset of consecutive failures after healthy uptime. It never reads a clock (time arrives as
//! `now`, a monotonic offset), never spawns, signals or writes: the supervisor loop executes the
//! returned actions. Every state change goes through `transition`, which checks it against the
//! table of legal transitions.

use crate::config::{backoff, seconds as secs, WatchdogConfig};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;

/// Monotonic time since the supervisor started. Wall-clock time never enters the policy.
pub type Mono = Duration;

/// The states an operator sees (SPEC: RUNNING, CRASHED, RESTARTING, STOPPED, LOOP_DETECTED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Running,
    Crashed,
    Restarting,
    Stopped,
    LoopDetected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "RUNNING",
            State::Crashed => "CRASHED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
            State::LoopDetected => "LOOP_DETECTED",
        }
    }
}

/// Why a module is STOPPED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Not started yet (waiting for its start slot).
    NotStarted,
    CleanExit,
    ConfigError,
    MaxRestarts,
    Fatal,
    StoppedByOperator,
    /// The supervisor is shutting down.
    Shutdown,
    /// Once mode: the module's single cycle failed.
    Failed,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::NotStarted => "not_started",
            StopReason::CleanExit => "clean_exit",
            StopReason::ConfigError => "config_error",
            StopReason::MaxRestarts => "max_restarts",
            StopReason::Fatal => "fatal",
            StopReason::StoppedByOperator => "stopped_by_operator",
            StopReason::Shutdown => "shutdown",
            StopReason::Failed => "failed",
        }
    }
}

/// Legal transitions. CRASHED is the transient state between a failure and the decision.
pub fn legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Stopped, Running)
            | (Stopped, Stopped)
            | (Stopped, Crashed)
            | (LoopDetected, Crashed)
            | (Running, Running)
            | (Running, Stopped)
            | (Running, Crashed)
            | (Running, Restarting)
            | (Crashed, Restarting)
            | (Crashed, LoopDetected)
            | (Crashed, Stopped)
            | (Restarting, Running)
            | (Restarting, Stopped)
            | (Restarting, Crashed)
            | (Restarting, Restarting)
            | (LoopDetected, Running)
            | (LoopDetected, Stopped)
    )
}

/// How a process ended, as waitpid reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn code(c: i32) -> Exit {
        Exit {
            code: Some(c),
            signal: None,
        }
    }
    pub fn signal(s: i32) -> Exit {
        Exit {
            code: None,
            signal: Some(s),
        }
    }
}

/// The policy's reading of an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    Clean,
    /// Exit 1, other codes, or a signal: restart with exponential backoff.
    Crash,
    /// Exit 75: restart after a short backoff; not a crash for loop detection.
    Transient,
    /// A code in `no_restart_exit_codes` (default 2 and 78).
    Config,
    /// Exit 3 when the module's policy does not restart fatal errors.
    Fatal,
}

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

/// Why the supervisor is stopping a live process; decides what its exit means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopWhy {
    Operator,
    Shutdown,
    /// Operator restart or a config change: start again at once, not a failure.
    Restart,
    /// The heartbeat went stale: a failure.
    StaleHeartbeat,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stopping {
    pub why: StopWhy,
    pub kill_at: Mono,
    pub killed: bool,
}

/// What the policy knows about the last exit.
#[derive(Debug, Clone, PartialEq)]
pub struct LastExit {
    pub exit: Exit,
    pub reason: String,
    pub at: Mono,
}

/// One supervised module's state: what the policy knows and decides about one module (named
/// apart from `aivex_core::Module`, the trait a module's code implements).
#[derive(Debug, Clone, PartialEq)]
pub struct Supervised {
    pub state: State,
    pub stop_reason: Option<StopReason>,
    /// A process exists (between Spawned and Exited).
    pub alive: bool,
    /// Automatic restarts performed (shown as `STATE(restarts)`).
    pub restarts: u32,
    /// Restarts after real failures: what `max_restarts` limits (transient exits excluded).
    pub failure_restarts: u32,
    pub consecutive_failures: u32,
    /// Failure times inside the crash-loop window.
    pub crashes: VecDeque<Mono>,
    pub started_at: Option<Mono>,
    pub last_beat: Option<Mono>,
    pub retry_at: Option<Mono>,
    /// What the next spawn counts as (an automatic restart after a failure, after a transient
    /// exit, or neither: an operator start or restart).
    next_spawn: SpawnCause,
    pub stopping: Option<Stopping>,
    pub last_exit: Option<LastExit>,
}

impl Default for Supervised {
    fn default() -> Self {
        Supervised {
            state: State::Stopped,
            stop_reason: Some(StopReason::NotStarted),
            alive: false,
            restarts: 0,
            failure_restarts: 0,
            consecutive_failures: 0,
            crashes: VecDeque::new(),
            started_at: None,
            last_beat: None,
            retry_at: None,
            next_spawn: SpawnCause::Manual,
            stopping: None,
            last_exit: None,
        }
    }
}

/// Why the next spawn happens, which decides which counters it bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpawnCause {
    Manual,
    Failure,
    Transient,
}

/// Inputs to the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Start now (initial start, `aivex start`).
    Start,
    /// The shell started the process.
    Spawned,
    /// The shell could not start it; `config` when the cause is configuration (missing
    /// required environment, a sandbox the host cannot provide).
    SpawnFailed {
        config: bool,
        message: String,
    },
    Exited(Exit),
    /// The heartbeat file changed.
    Heartbeat,
    Stop,
    Restart,
    /// Re-arm after LOOP_DETECTED or max_restarts; clears the counters.
    Reset,
    Shutdown,
    /// Time passed: timers may be due.
    Tick,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Spawn,
    /// SIGTERM to the module's process group.
    Term,
    /// SIGKILL to the module's process group.
    Kill,
    /// Write a supervisor crash record with this reason.
    RecordCrash {
        reason: String,
    },
    /// A state change, for the history file and the state file.
    Transition {
        from: State,
        to: State,
        reason: String,
    },
}

/// Exits the supervisor writes a crash record for: deaths by signal and exit codes outside the
/// runner's contract. A module that exits 1, 2, 3, 75 or 78 recorded its own error already.
fn supervisor_records(exit: Exit) -> bool {
    use aivex_core::exit::*;
    match exit.code {
        None => true,
        Some(c) => ![
            OK,
            RECOVERABLE,
            CONFIG,
            FATAL,
            EXTERNAL_SERVICE,
            CONFIG_SYSEXITS,
        ]
        .contains(&c),
    }
}

/// Why an exit happened, in words for `last_exit.reason`.
pub fn describe(exit: Exit) -> String {
    match (exit.code, exit.signal) {
        (Some(c), _) => match c {
            0 => "exit 0 (clean)".into(),
            aivex_core::exit::CONFIG | aivex_core::exit::CONFIG_SYSEXITS => {
                format!("exit {c} (config error)")
            }
            aivex_core::exit::FATAL => format!("exit {c} (fatal error)"),
            aivex_core::exit::EXTERNAL_SERVICE => {
                format!("exit {c} (external service unavailable)")
            }
            _ => format!("exit {c}"),
        },
        (None, Some(s)) => format!("killed by signal {s} ({})", signal_name(s)),
        (None, None) => "unknown exit".into(),
    }
}

pub fn signal_name(s: i32) -> &'static str {
    match s {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "signal",
    }
}

impl Supervised {
    /// Heartbeat age at `now`, when the module is alive.
    pub fn heartbeat_age(&self, now: Mono) -> Option<Duration> {
        if self.alive {
            self.last_beat.map(|b| now.saturating_sub(b))
        } else {
            None
        }
    }

    /// The earliest time at which a Tick could change something.
    pub fn next_deadline(&self, l: &Limits) -> Option<Mono> {
        let mut d: Option<Mono> = None;
        let mut consider = |t: Mono| d = Some(d.map_or(t, |x| x.min(t)));
        if let Some(s) = &self.stopping {
            if !s.killed {
                consider(s.kill_at);
            }
        }
        if self.state == State::Restarting {
            if let Some(r) = self.retry_at {
                consider(r);
            }
        }
        if self.alive && self.stopping.is_none() {
            if let (Some(ttl), Some(b)) = (l.heartbeat_ttl, self.last_beat) {
                consider(b + ttl);
            }
            if self.consecutive_failures > 0 {
                if let Some(s) = self.started_at {
                    consider(s + l.healthy_after);
                }
            }
        }
        d
    }

    fn transition(&mut self, to: State, reason: impl Into<String>, out: &mut Vec<Action>) {
        let from = self.state;
        debug_assert!(legal(from, to), "illegal transition {from:?} -> {to:?}");
        self.state = to;
        out.push(Action::Transition {
            from,
            to,
            reason: reason.into(),
        });
    }

    fn stop_as(&mut self, reason: StopReason, out: &mut Vec<Action>) {
        self.retry_at = None;
        self.stop_reason = Some(reason);
        self.transition(State::Stopped, reason.as_str(), out);
    }

    fn begin_stop(&mut self, why: StopWhy, now: Mono, l: &Limits, out: &mut Vec<Action>) {
        match self.stopping.as_mut() {
            // Already stopping: a stronger reason (shutdown, operator) replaces a weaker one
            // but never extends the kill deadline.
            Some(s) => {
                if why != StopWhy::Restart {
                    s.why = why;
                }
            }
            None => {
                self.stopping = Some(Stopping {
                    why,
                    kill_at: now + l.stop_grace,
                    killed: false,
                });
                out.push(Action::Term);
            }
        }
    }

    fn spawn(&mut self, out: &mut Vec<Action>) {
        self.retry_at = None;
        self.next_spawn = SpawnCause::Manual;
        out.push(Action::Spawn);
    }

    fn rearm(&mut self) {
        self.restarts = 0;
        self.failure_restarts = 0;
        self.consecutive_failures = 0;
        self.crashes.clear();
    }

    /// Applies one input at `now` and returns what the shell must do, in order.
    pub fn step(&mut self, input: Input, now: Mono, l: &Limits) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Start => {
                if !self.alive && self.state != State::Running {
                    if self.state == State::LoopDetected
                        || self.stop_reason == Some(StopReason::MaxRestarts)
                    {
                        self.rearm();
                    }
                    self.spawn(&mut out);
                }
            }
            Input::Spawned => {
                match self.next_spawn {
                    SpawnCause::Failure => {
                        self.restarts += 1;
                        self.failure_restarts += 1;
                    }
                    SpawnCause::Transient => self.restarts += 1,
                    SpawnCause::Manual => {}
                }
                self.next_spawn = SpawnCause::Manual;
                self.alive = true;
                self.started_at = Some(now);
                self.last_beat = Some(now);
                self.stopping = None;
                self.stop_reason = None;
                self.transition(State::Running, "started", &mut out);
            }
            Input::SpawnFailed { config, message } => {
                self.last_exit = Some(LastExit {
                    exit: Exit {
                        code: None,
                        signal: None,
                    },
                    reason: message.clone(),
                    at: now,
                });
                if config || l.once {
                    let reason = if config {
                        StopReason::ConfigError
                    } else {
                        StopReason::Failed
                    };
                    self.stop_as(reason, &mut out);
                } else {
                    self.fail(message, now, l, &mut out);
                }
            }
            Input::Exited(exit) => {
                self.alive = false;
                let stopping = self.stopping.take();
                let reason = describe(exit);
                self.last_exit = Some(LastExit {
                    exit,
                    reason: reason.clone(),
                    at: now,
                });
                if self.consecutive_failures > 0 && self.ran_healthy(now, l) {
                    self.consecutive_failures = 0;
                }
                match stopping.map(|s| s.why) {
                    Some(StopWhy::Operator) => {
                        self.stop_as(StopReason::StoppedByOperator, &mut out)
                    }
                    Some(StopWhy::Shutdown) => self.stop_as(StopReason::Shutdown, &mut out),
                    Some(StopWhy::Restart) => {
                        self.transition(State::Restarting, "restart requested", &mut out);
                        self.spawn(&mut out);
                    }
                    Some(StopWhy::StaleHeartbeat) => {
                        let why = format!("stale heartbeat; {reason}");
                        if let Some(le) = self.last_exit.as_mut() {
                            le.reason = why.clone();
                        }
                        self.fail(why, now, l, &mut out)
                    }
                    None => self.on_exit(exit, reason, now, l, &mut out),
                }
            }
            Input::Heartbeat => {
                if self.alive {
                    self.last_beat = Some(now);
                }
            }
            Input::Stop => {
                if self.alive {
                    self.begin_stop(StopWhy::Operator, now, l, &mut out);
                } else if self.state != State::Stopped
                    || self.stop_reason == Some(StopReason::NotStarted)
                {
                    self.stop_as(StopReason::StoppedByOperator, &mut out);
                }
            }
            Input::Restart => {
                self.rearm();
                if self.alive {
                    self.begin_stop(StopWhy::Restart, now, l, &mut out);
                } else {
                    self.spawn(&mut out);
                }
            }
            Input::Reset => {
                self.rearm();
                if !self.alive
                    && matches!(
                        self.state,
                        State::LoopDetected | State::Stopped | State::Restarting
                    )
                {
                    self.spawn(&mut out);
                }
            }
            Input::Shutdown => {
                if self.alive {
                    self.begin_stop(StopWhy::Shutdown, now, l, &mut out);
                } else if self.state != State::Stopped {
                    self.stop_as(StopReason::Shutdown, &mut out);
                }
            }
            Input::Tick => self.tick(now, l, &mut out),
        }
        out
    }

    fn ran_healthy(&self, now: Mono, l: &Limits) -> bool {
        self.started_at
            .is_some_and(|s| now.saturating_sub(s) >= l.healthy_after)
    }

    fn tick(&mut self, now: Mono, l: &Limits, out: &mut Vec<Action>) {
        if let Some(s) = self.stopping.as_mut() {
            if !s.killed && now >= s.kill_at {
                s.killed = true;
                out.push(Action::Kill);
            }
        }
        if self.state == State::Restarting && !self.alive {
            if let Some(at) = self.retry_at {
                if now >= at {
                    self.retry_at = None;
                    out.push(Action::Spawn);
                }
            }
        }
        if self.alive && self.stopping.is_none() {
            if let (Some(ttl), Some(beat)) = (l.heartbeat_ttl, self.last_beat) {
                let age = now.saturating_sub(beat);
                if age >= ttl {
                    out.push(Action::RecordCrash {
                        reason: format!(
                            "stale heartbeat: unchanged for {:.1}s (ttl {:.1}s)",
                            age.as_secs_f64(),
                            ttl.as_secs_f64()
                        ),
                    });
                    self.begin_stop(StopWhy::StaleHeartbeat, now, l, out);
                }
            }
            if self.consecutive_failures > 0 && self.ran_healthy(now, l) {
                self.consecutive_failures = 0;
            }
        }
        self.prune(now, l);
    }

    fn prune(&mut self, now: Mono, l: &Limits) {
        while let Some(&t) = self.crashes.front() {
            if now.saturating_sub(t) >= l.crash_loop_window {
                self.crashes.pop_front();
            } else {
                break;
            }
        }
    }

    fn on_exit(
        &mut self,
        exit: Exit,
        reason: String,
        now: Mono,
        l: &Limits,
        out: &mut Vec<Action>,
    ) {
        let class = l.classify(exit);
        if l.once {
            let r = match class {
                ExitClass::Clean => StopReason::CleanExit,
                ExitClass::Config => StopReason::ConfigError,
                ExitClass::Fatal => StopReason::Fatal,
                ExitClass::Crash | ExitClass::Transient => {
                    if supervisor_records(exit) {
                        out.push(Action::RecordCrash {
                            reason: reason.clone(),
                        });
                    }
                    StopReason::Failed
                }
            };
            self.stop_as(r, out);
            return;
        }
        match class {
            ExitClass::Clean => self.stop_as(StopReason::CleanExit, out),
            ExitClass::Config => self.stop_as(StopReason::ConfigError, out),
            ExitClass::Fatal => self.stop_as(StopReason::Fatal, out),
            ExitClass::Transient => {
                // A transient outage (database, HTTP source) is not a crash: it must not trip
                // crash-loop detection or max_restarts, or a long outage would strand the box.
                self.transition(State::Restarting, reason, out);
                self.retry_at = Some(now + l.backoff_base.min(l.backoff_cap));
                self.next_spawn = SpawnCause::Transient;
            }
            ExitClass::Crash => {
                if supervisor_records(exit) {
                    out.push(Action::RecordCrash {
                        reason: reason.clone(),
                    });
                }
                self.fail(reason, now, l, out)
            }
        }
    }

    /// A failure: count it, then LOOP_DETECTED, STOPPED(max_restarts) or RESTARTING.
    fn fail(&mut self, reason: String, now: Mono, l: &Limits, out: &mut Vec<Action>) {
        self.prune(now, l);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.crashes.push_back(now);
        if self.state != State::Crashed {
            self.transition(State::Crashed, reason.clone(), out);
        }
        if self.crashes.len() as u32 >= l.crash_loop_count {
            self.retry_at = None;
            self.transition(
                State::LoopDetected,
                format!(
                    "{} failures within {:.0}s",
                    self.crashes.len(),
                    l.crash_loop_window.as_secs_f64()
                ),
                out,
            );
        } else if self.failure_restarts >= l.max_restarts {
            self.stop_as(StopReason::MaxRestarts, out);
        } else {
            let delay = backoff(l.backoff_base, l.backoff_cap, self.consecutive_failures);
            self.retry_at = Some(now + delay);
            self.next_spawn = SpawnCause::Failure;
            self.transition(
                State::Restarting,
                format!("retry in {:.1}s", delay.as_secs_f64()),
                out,
            );
        }
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
