//! How a module process ended and what that means in words: `Exit` (as waitpid reported it),
//! `ExitClass` (the policy's reading, decided by `Limits::classify` in `policy.rs`), the
//! `last_exit.reason` text, signal names, and which exits the supervisor records a crash for.
//!
//! Pure functions of an exit; no I/O. It must not decide what happens next: that is the
//! policy's job.

use serde::Serialize;

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

/// Exits the supervisor writes a crash record for: deaths by signal and exit codes outside the
/// runner's contract. A module that exits 1, 2, 3, 75 or 78 recorded its own error already.
pub fn supervisor_records(exit: Exit) -> bool {
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
