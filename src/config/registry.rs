//! What the config layer needs to know of the built-in modules, handed in by the caller (the
//! `modules` room owns the built-ins; `config` must not import it): their names, a pure check
//! of each built-in's `[settings]`, and the global tables a built-in owns (`[eye]`) with a pure
//! check each. So `aivex check-config` and a SIGHUP reload catch a bad setting with its file and
//! line instead of a module stopping with a config error at run time.

use serde_json::Value;

/// Reads an environment override (`AIVEX_EYE_ADDR`, ...): the caller decides where from.
pub type Getenv<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The registry of built-in modules as the config layer sees it.
pub struct Registry {
    /// Every name `builtin = "..."` may use.
    pub names: &'static [&'static str],
    /// Checks the `[settings]` of a built-in (by its builtin name): Err says what is wrong,
    /// naming the key.
    pub check_settings: fn(builtin: &str, settings: &Value) -> Result<(), String>,
    /// Global tables a built-in reads (`[eye]`), with their check; checked when that built-in
    /// is enabled.
    pub tables: &'static [OwnedTable],
}

/// A global table owned by a built-in.
pub struct OwnedTable {
    pub table: &'static str,
    pub builtin: &'static str,
    pub check: fn(table: &Value, getenv: Getenv) -> Result<(), String>,
}

impl Registry {
    /// A registry that knows names only and accepts any settings (tests of the loader).
    #[cfg(test)]
    pub const fn names_only(names: &'static [&'static str]) -> Registry {
        fn accept(_: &str, _: &Value) -> Result<(), String> {
            Ok(())
        }
        Registry {
            names,
            check_settings: accept,
            tables: &[],
        }
    }
}
