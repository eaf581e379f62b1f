//! The one error type of the platform layer.
//!
//! It owns the ways host integration can be misconfigured (an environment variable systemd or
//! the operator set to something unusable) and the logger failing to install. It must not carry
//! secrets: values quoted here come from NOTIFY_SOCKET, WATCHDOG_* and log settings only.
//! Disk-budget I/O keeps `std::io::Error` (with the path in its message) as its callers expect.

use std::fmt;

#[derive(Debug)]
pub enum PlatformError {
    /// An environment variable holds a value that cannot be used.
    BadEnv {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A logger was already installed in this process.
    LoggerInstalled,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::BadEnv { var, value, reason } => {
                write!(f, "environment variable {var}={value:?}: {reason}")
            }
            PlatformError::LoggerInstalled => write!(f, "a logger is already installed"),
        }
    }
}

impl std::error::Error for PlatformError {}
