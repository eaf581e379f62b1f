//! Atomic file replacement: the one way aivex rewrites a file that another process may read at
//! any moment (the runtime state, crash records, BOOTSTRAP.md, groups.json, exports).
//!
//! It owns writing a sibling temporary file and renaming it over the target, so a reader sees
//! either the old or the new content, never a torn one. It must not decide what is written or
//! where: callers own their paths and bytes.

use std::path::Path;

/// Writes `bytes` to `.<name>.tmp` next to `path`, then renames it over `path` (same directory,
/// so the rename is atomic on one filesystem).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let d = TempDir::new("atomic");
        let p = d.path().join("state.json");
        write_atomic(&p, b"first, longer content").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.json".to_string()]);
        // A missing directory is an error, not a panic.
        assert!(write_atomic(&d.path().join("nope/x.json"), b"x").is_err());
    }
}
