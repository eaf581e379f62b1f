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
/// condition starts and once when it ends, never once per write. A disk at the edge of full
/// lets some writes through (another process frees a page, the next takes it): the condition
/// ends only with a success `QUIET` after the last failure, so such flapping stays one
/// condition. Pure: the caller passes the monotonic `now`.
#[derive(Debug, Default)]
pub struct WriteLatch {
    last_failure: Option<std::time::Instant>,
}

impl WriteLatch {
    /// How long writes must have stopped failing before the condition counts as over.
    pub const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

    /// Records one write's outcome at `now`; returns the change worth logging, if any.
    pub fn note(&mut self, ok: bool, now: std::time::Instant) -> Option<WriteChange> {
        match (self.last_failure, ok) {
            (None, false) => {
                self.last_failure = Some(now);
                Some(WriteChange::Failing)
            }
            (Some(_), false) => {
                self.last_failure = Some(now);
                None
            }
            (Some(t), true) if now.saturating_duration_since(t) >= Self::QUIET => {
                self.last_failure = None;
                Some(WriteChange::Recovered)
            }
            _ => None,
        }
    }

    pub fn failing(&self) -> bool {
        self.last_failure.is_some()
    }
}

#[cfg(test)]
mod latch_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_latch_speaks_once_per_condition() {
        use WriteChange::*;
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut l = WriteLatch::default();
        // (seconds, write ok, what is worth a log line)
        let table = [
            (0, true, None),
            (1, false, Some(Failing)),
            (2, false, None),
            // a write slips through at the edge of full: still the same condition
            (3, true, None),
            (4, false, None),
            (13, true, None),
            // ten quiet seconds after the last failure: over
            (14, true, Some(Recovered)),
            (15, true, None),
            (16, false, Some(Failing)),
            (30, true, Some(Recovered)),
        ];
        for (s, ok, want) in table {
            assert_eq!(l.note(ok, at(s)), want, "at {s} s, ok {ok}");
        }
        assert!(!l.failing());
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
