//! The registry of built-in modules: the names `builtin = "..."` may use and how to construct
//! each one from its `ModuleEnv`. Adding a built-in means one line in each list below. Nothing
//! else lives here: a module's work lives in its own file or crate.

pub(crate) mod brain;
mod chart;
pub(crate) mod ingest;
mod metrics;
pub(crate) mod news;
mod probe;

use aivex_core::{Module, ModuleEnv, ModuleError};

/// Every built-in module name, for the startup registry check.
pub const BUILTINS: &[&str] = &["chart", "news", "metrics", "brain", "probe", "eye"];

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
                None => serde_json::Value::Null,
            };
            Ok(Box::new(aivex_eye::Eye::new(env, &table)?))
        }
        other => Err(ModuleError::Config(format!(
            "unknown built-in module {other:?} (built-ins: {})",
            BUILTINS.join(", ")
        ))),
    }
}
