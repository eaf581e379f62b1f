//! Reads the module environment contract (`aivex_core::contract::ChildEnv`, set by the
//! supervisor) into a `RunnerEnv`. Missing required variables and unparsable values are
//! ConfigErrors naming the variable. A module may also be run by hand, without a supervisor:
//! then the contract's defaults apply.

use super::RunnerEnv;
use aivex_core::contract::ChildEnv;
use aivex_core::{ModuleEnv, ModuleError};
use std::time::Duration;

pub fn read(name: &str, once_flag: bool) -> Result<RunnerEnv, ModuleError> {
    let child = ChildEnv::from_vars(name, |k| std::env::var_os(k))?;
    let missing: Vec<&str> = child
        .required_env
        .iter()
        .map(String::as_str)
        .filter(|k| std::env::var_os(k).is_none_or(|v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(ModuleError::Config(format!(
            "missing required environment variable(s): {}",
            missing.join(", ")
        )));
    }
    from_child(&child, once_flag)
}

/// The runner's settings from the contract (`--once` adds to `AIVEX_ONCE`).
pub fn from_child(child: &ChildEnv, once_flag: bool) -> Result<RunnerEnv, ModuleError> {
    let mut module = ModuleEnv::from_child(child)?;
    module.once |= once_flag;
    let secs = |s: f64| Duration::from_secs_f64(s);
    Ok(RunnerEnv {
        module,
        heartbeat_file: child.heartbeat_file.clone(),
        heartbeat_ttl: (child.heartbeat_ttl_s > 0.0).then(|| secs(child.heartbeat_ttl_s)),
        stop_grace: secs(child.stop_grace_s),
        cycle_timeout: child.cycle_timeout_s.map(secs),
        crash_keep: child.crash_keep,
    })
}
