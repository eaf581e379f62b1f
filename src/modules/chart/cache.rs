//! The chart module's memory between cycles on disk: one file per store
//! (`<data_dir>/cache/chart-seen-<store hash>.json`, so pointing the module at another database
//! never skips its bars) holding `aivex_market::incremental::SeenMap`. What to remember and how
//! to use it is decided in `aivex_market::incremental`; this file only reads and writes it.

use aivex_market::incremental::{hex, SeenMap};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub fn file(data_dir: &Path, redacted_db_url: &str) -> PathBuf {
    let d = Sha256::digest(redacted_db_url.as_bytes());
    aivex_core::contract::RunLayout::new(data_dir)
        .cache_dir()
        .join(format!(
            "chart-seen-{}.json",
            hex(d.get(..4).unwrap_or_default())
        ))
}

/// Reads the memory; a missing or unreadable file is an empty memory (a full cycle).
pub fn load(path: &Path) -> SeenMap {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            log::warn!(
                "chart: ignoring unreadable cache {} ({e}); this cycle writes every bar",
                path.display()
            );
            SeenMap::new()
        }),
        Err(_) => SeenMap::new(),
    }
}

/// Writes the memory atomically (a torn file would only cost a full cycle, but why pay it).
pub fn save(path: &Path, map: &SeenMap) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(map).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivex_market::incremental::{key, Seen};

    #[test]
    fn cache_file_round_trip_and_garbage() {
        let dir = std::env::temp_dir().join(format!("aivex-seen-{}", std::process::id()));
        let path = file(&dir, "sqlite:///x");
        assert_ne!(path, file(&dir, "mysql://u:***@h/db"));
        let mut m = SeenMap::new();
        m.insert(
            key("AAPL", "1d", "a.csv"),
            Seen {
                count: 2,
                prefix: "ab".into(),
                last_ts: 5,
                text: None,
            },
        );
        save(&path, &m).unwrap();
        assert_eq!(load(&path), m);
        std::fs::write(&path, b"{garbage").unwrap();
        assert!(load(&path).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
