//! Atomic file replacement: the one way aivex rewrites a file that another process may read at
//! any moment (the runtime state, crash records, BOOTSTRAP.md, groups.json, exports); and
//! `WriteLatch`, which turns a stream of write results into the two moments worth a log line.
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
    if let Err(e) = std::fs::write(&tmp, bytes) {
        // A full disk leaves a partial temporary file: give its space back.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

/// What a write result changed about a condition (see `WriteLatch::note`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteChange {
    /// Writes started failing: say why, once.
    Failing,
    /// Writes succeed again after failing: say so, once.
    Recovered,
}

/// Remembers whether a kind of write is failing, so a full disk is logged once when the
/// condition starts and once when it ends, never once per write. Pure.
#[derive(Debug, Default)]
pub struct WriteLatch {
    failing: bool,
}

impl WriteLatch {
    /// Records one write's outcome; returns the change worth logging, if any.
    pub fn note(&mut self, ok: bool) -> Option<WriteChange> {
        let was = std::mem::replace(&mut self.failing, !ok);
        match (was, ok) {
            (false, false) => Some(WriteChange::Failing),
            (true, true) => Some(WriteChange::Recovered),
            _ => None,
        }
    }

    pub fn failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod latch_tests {
    use super::*;

    #[test]
    fn a_latch_speaks_once_per_condition() {
        let mut l = WriteLatch::default();
        let seen: Vec<_> = [true, false, false, false, true, true, false, true]
            .iter()
            .map(|&ok| l.note(ok))
            .collect();
        use WriteChange::*;
        assert_eq!(
            seen,
            [
                None,
                Some(Failing),
                None,
                None,
                Some(Recovered),
                None,
                Some(Failing),
                Some(Recovered)
            ]
        );
    }
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
