//! The config loader (src/config/, in the binary crate, included here by path): `aivex.toml`
//! text, optionally followed by a line `#--module--` and a module manifest written as
//! modules/fuzz/module.toml, loaded with a registry that knows the built-ins' names and checks
//! `[eye]` with Eye's own check (the built-ins' settings checks live in src/modules, which is
//! not included: any settings pass). Must not panic; errors name a file.
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "../../src/config/mod.rs"]
mod config;

use config::{Getenv, OwnedTable, Registry};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn any_settings(_: &str, _: &Value) -> Result<(), String> {
    Ok(())
}

fn eye_table(table: &Value, getenv: Getenv) -> Result<(), String> {
    aivex_eye::EyeConfig::from_parts(table, getenv("AIVEX_EYE_ADDR").as_deref(), None).map(drop)
}

static REGISTRY: Registry = Registry {
    names: &["chart", "news", "metrics", "brain", "eye", "probe"],
    check_settings: any_settings,
    tables: &[OwnedTable {
        table: "eye",
        builtin: "eye",
        check: eye_table,
    }],
};
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("aivex-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(d.join("modules/fuzz")).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (global, module) = match text.split_once("\n#--module--\n") {
        Some((g, m)) => (g, Some(m)),
        None => (text.as_ref(), None),
    };
    let d = dir();
    let path = d.join("aivex.toml");
    std::fs::write(&path, global).expect("write aivex.toml");
    let manifest = d.join("modules/fuzz/module.toml");
    match module {
        Some(m) => std::fs::write(&manifest, m).expect("write module.toml"),
        None => {
            let _ = std::fs::remove_file(&manifest);
        }
    }
    if let Err(e) = config::load(&path, &REGISTRY, &|_| None) {
        assert!(!e.to_string().is_empty());
    }
});
