//! Process exit codes: the contract between a module process and the supervisor.
//!
//! This is the one place that names them. The supervisor's policy reads them, the module
//! runner and the CLI produce them; nobody else writes a literal exit code.

/// Clean exit: the supervisor leaves the module STOPPED (clean_exit).
pub const OK: i32 = 0;
/// RecoverableError, a panic, or any generic failure: restart after backoff.
pub const RECOVERABLE: i32 = 1;
/// ConfigError: never restarted until the configuration is fixed.
pub const CONFIG: i32 = 2;
/// FatalError: stopped or restarted according to the module's `restart_on_fatal`.
pub const FATAL: i32 = 3;
/// ExternalServiceError (sysexits EX_TEMPFAIL): restart after a short backoff.
pub const EXTERNAL_SERVICE: i32 = 75;
/// sysexits EX_CONFIG, accepted as a config error for external modules.
pub const CONFIG_SYSEXITS: i32 = 78;
