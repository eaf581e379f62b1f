//! The supervision policy: a pure state machine `(module, input, now) -> actions`.
//!
//! It owns every decision the watchdog makes about one module: how an exit is classified,
//! backoff, crash-loop detection, max restarts, heartbeat staleness, stop escalation and the
//! reset of consecutive failures after healthy uptime. It never reads a clock (time arrives as
//! `now`, a monotonic offset), never spawns, signals or writes: the supervisor loop executes the
//! returned actions. Every state change goes through `transition`, which checks it against the
//! table of legal transitions.

mod exit;
mod limits;
mod states;

use exit::supervisor_records;
pub use exit::{describe, Exit, ExitClass};
pub use limits::Limits;
pub use states::{legal, LastExit, State, StopReason, StopWhy, Stopping, MEMORY_LIMIT};

use crate::config::backoff;
use std::collections::VecDeque;
use std::time::Duration;

/// Monotonic time since the supervisor started. Wall-clock time never enters the policy.
pub type Mono = Duration;

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
    /// Its memory stayed above `max_rss_mb` (the shell's looks decided): stop it gracefully and
    /// restart it as after a failure.
    MemoryLimit,
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
    /// A state change the table forbids was asked for and ignored: a policy bug to log.
    IllegalTransition {
        from: State,
        to: State,
        reason: String,
    },
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

    /// Moves to `to` when the table allows it. An illegal move would be a bug in this file; it
    /// is ignored (the state stays) and reported as `Action::IllegalTransition` for the shell to
    /// log, in every build: a release supervisor keeps supervising instead of panicking or
    /// entering a state nothing else expects. `table_tests.rs` walks every state and input to
    /// show that it does not happen.
    fn transition(&mut self, to: State, reason: impl Into<String>, out: &mut Vec<Action>) {
        let from = self.state;
        let reason = reason.into();
        if !legal(from, to) {
            out.push(Action::IllegalTransition { from, to, reason });
            return;
        }
        self.state = to;
        out.push(Action::Transition { from, to, reason });
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
                if why.strength() > s.why.strength() {
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
        // The shell reports an exit only for a live process, and a spawn's outcome only after
        // a Spawn it was asked for (never while a process is alive). Anything else would be a
        // shell bug; it changes nothing rather than corrupting the counters or the state.
        match (&input, self.alive) {
            (Input::Exited(_), false) | (Input::Spawned | Input::SpawnFailed { .. }, true) => {
                return out
            }
            _ => {}
        }
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
                    Some(StopWhy::MemoryLimit) => {
                        if let Some(le) = self.last_exit.as_mut() {
                            le.reason = MEMORY_LIMIT.to_string();
                        }
                        self.fail(MEMORY_LIMIT.to_string(), now, l, &mut out)
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
            Input::MemoryLimit => {
                if self.alive {
                    self.begin_stop(StopWhy::MemoryLimit, now, l, &mut out);
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
mod table_tests;
#[cfg(test)]
mod tests;
