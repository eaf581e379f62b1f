//! The states an operator sees, why a module is STOPPED, the table of legal transitions
//! between states, and the records of a stop in progress and of the last exit. Pure data; the
//! policy (`mod.rs`) checks every state change against `legal`.

use super::{Exit, Mono};
use serde::Serialize;

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
/// Every entry is used (`table_tests.rs` walks the whole table); RUNNING -> RUNNING and
/// RESTARTING -> RESTARTING are absent because no input can ask for them since the policy
/// ignores an exit of a process that is not alive and a second `Spawned`.
pub fn legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Stopped, Running)
            | (Stopped, Stopped)
            | (Stopped, Crashed)
            | (LoopDetected, Crashed)
            | (Running, Stopped)
            | (Running, Crashed)
            | (Running, Restarting)
            | (Crashed, Restarting)
            | (Crashed, LoopDetected)
            | (Crashed, Stopped)
            | (Restarting, Running)
            | (Restarting, Stopped)
            | (Restarting, Crashed)
            | (LoopDetected, Running)
            | (LoopDetected, Stopped)
    )
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
    /// Its memory stayed above `max_rss_mb`: a failure (`memory_limit`).
    MemoryLimit,
}

impl StopWhy {
    /// Which reason wins when a second one arrives while a stop is under way: the stronger one
    /// replaces the weaker, never the other way round.
    pub fn strength(self) -> u8 {
        match self {
            StopWhy::Restart => 0,
            StopWhy::StaleHeartbeat | StopWhy::MemoryLimit => 1,
            StopWhy::Operator => 2,
            StopWhy::Shutdown => 3,
        }
    }
}

/// `last_exit.reason` (and the transition reason) of a module stopped for its memory.
pub const MEMORY_LIMIT: &str = "memory_limit";

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
