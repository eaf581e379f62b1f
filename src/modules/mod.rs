//! The registry of built-in modules: the names `builtin = "..."` may use, how to construct
//! each one from its `ModuleEnv`, and the pure check of each one's settings (and of the global
//! table a built-in owns, `[eye]`) that `aivex check-config` and a reload run before anything
//! starts. Adding a built-in means one entry in each list below. Nothing else lives here: a
//! module's work lives in its own file or crate.

pub(crate) mod brain;
mod chart;
pub(crate) mod ingest;
mod metrics;
pub(crate) mod news;
mod probe;
mod shard_filter;

use crate::config::{Getenv, OwnedTable, Registry};
use aivex_core::contract::env::read;
use aivex_core::{Module, ModuleEnv, ModuleError};
use serde_json::Value;

/// Every built-in module name, for the startup registry check.
pub const BUILTINS: &[&str] = &["chart", "news", "metrics", "brain", "probe", "eye"];

/// The registry as the config layer sees it.
pub static REGISTRY: Registry = Registry {
    names: BUILTINS,
    check_settings,
    tables: &[OwnedTable {
        table: "eye",
        builtin: "eye",
        check: check_eye_table,
    }],
};

/// Builds a built-in module; an unknown name is a ConfigError (exit 2: never restarted).
pub fn construct(name: &str, env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    match name {
        "chart" => chart::construct(env),
        "news" => news::construct(env),
        "metrics" => metrics::construct(env),
        "brain" => brain::construct(env),
        "probe" => Ok(Box::new(probe::Probe::new(env)?)),
        "eye" => {
            let table = match &env.config {
                Some(p) => aivex_eye::eye_table_from_config(p)?,
                None => Value::Null,
            };
            Ok(Box::new(aivex_eye::Eye::new(env, &table)?))
        }
        other => Err(unknown(other)),
    }
}

fn unknown(name: &str) -> ModuleError {
    ModuleError::Config(format!(
        "unknown built-in module {name:?} (built-ins: {})",
        BUILTINS.join(", ")
    ))
}

/// The pure settings check of each built-in: the same parsing its constructor does, without
/// opening the store, a file or a socket.
fn check_settings(name: &str, settings: &Value) -> Result<(), String> {
    let checked = match name {
        "chart" => chart::config(settings).map(drop),
        "news" => news::check(settings),
        "metrics" => metrics::config(settings).map(drop),
        "brain" => brain::check(settings),
        "probe" => probe::check(settings),
        // Eye's settings are the global `[eye]` table (check_eye_table).
        "eye" => Ok(()),
        other => Err(unknown(other)),
    };
    checked.map_err(|e| e.message().to_string())
}

/// `[eye]` with the environment overrides Eye itself applies.
fn check_eye_table(table: &Value, getenv: Getenv) -> Result<(), String> {
    aivex_eye::EyeConfig::from_parts(
        table,
        getenv(read::EYE_ADDR).as_deref(),
        getenv(read::EYE_TOKEN).as_deref(),
    )
    .map(drop)
}
