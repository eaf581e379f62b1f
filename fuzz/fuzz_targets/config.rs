//! The config loader (src/config/, in the binary crate, included here by path together with
//! the one policy function it calls): `aivex.toml` text, optionally followed by a line
//! `#--module--` and a module manifest written as modules/fuzz/module.toml. Must not panic;
//! errors name a file.
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "../../src/config/mod.rs"]
mod config;

#[path = "../../src/supervisor/policy.rs"]
pub mod policy;

/// Where config/load.rs finds `crate::supervisor::policy`.
mod supervisor {
    pub use super::policy;
}

use libfuzzer_sys::fuzz_target;
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
    let builtins = ["chart", "news", "metrics", "brain", "eye", "probe"];
    if let Err(e) = config::load(&path, &builtins, &|_| None) {
        assert!(!e.to_string().is_empty());
    }
});
