//! aivex-platform: the host integration: sd_notify, log setup for terminals/journald/JSON, disk
//! budgets, atomic file writes and wall-clock timestamps.
//!
//! It owns how aivex talks to the box it runs on: the systemd notify protocol (`notify`), where
//! and in which shape log lines go (`logging`), keeping `runs/` under its disk budget
//! (`budget`), replacing files atomically (`fs`) and the timestamp formats every file uses
//! (`time`). It must not know about modules, the store or the supervisor's state machine: the
//! supervisor calls in here, never the other way round. Rules live in pure functions; the thin
//! shells around them are the only code that reads the environment, the clock or the disk.

pub mod budget;
pub mod error;
pub mod fs;
pub mod logging;
pub mod notify;
pub mod time;

pub use budget::{enforce, plan, Budget, Entry, EntryKind, PruneReport};
pub use error::PlatformError;
pub use fs::{write_atomic, WriteChange, WriteLatch};
pub use logging::{init, LogFormat, LogOptions};
pub use notify::{watchdog_due, Notifier, WatchdogGate};

#[cfg(test)]
pub(crate) mod testutil;
