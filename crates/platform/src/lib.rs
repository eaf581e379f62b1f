//! aivex-platform: the host integration: sd_notify, log setup for terminals/journald/JSON, disk
//! budgets.
//!
//! It owns how aivex talks to the box it runs on: the systemd notify protocol (`notify`), where
//! and in which shape log lines go (`logging`), and keeping `runs/` under its disk budget
//! (`budget`). It must not know about modules, the store or the supervisor's state machine: the
//! supervisor calls in here, never the other way round. Rules live in pure functions; the thin
//! shells around them are the only code that reads the environment, the clock or the disk.

pub mod budget;
pub mod error;
pub mod logging;
pub mod notify;

pub use budget::{enforce, plan, Budget, Entry, EntryKind, PruneReport};
pub use error::PlatformError;
pub use logging::{init, LogFormat, LogOptions};
pub use notify::{watchdog_due, Notifier, WatchdogGate};

#[cfg(test)]
pub(crate) mod testutil;
