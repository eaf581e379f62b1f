//! Heartbeat observation: a module proves it is alive by rewriting its heartbeat file.
//!
//! The supervisor never compares file times with the clock: it only notices that the file's
//! identity (mtime, size, inode) differs from the last look, and stamps that observation with
//! the monotonic clock. A wall-clock jump, or a module on a box with a wrong clock, therefore
//! cannot make a heartbeat look stale or fresh. No decisions here: the policy decides staleness.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the supervisor remembers of a heartbeat file between looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig {
    mtime_ns: i128,
    size: u64,
    ino: u64,
}

pub fn look(path: &Path) -> Option<Sig> {
    let m = std::fs::metadata(path).ok()?;
    Some(Sig {
        mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        size: m.size(),
        ino: m.ino(),
    })
}

/// True when the file appeared or changed since `prev`.
pub fn changed(prev: Option<Sig>, now: Option<Sig>) -> bool {
    now.is_some() && now != prev
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn changes_are_identity_not_time() {
        let dir = std::env::temp_dir().join(format!("aivex-hb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("hb");
        assert!(!changed(None, look(&f)), "a missing file is no beat");
        std::fs::write(&f, "1").unwrap();
        let a = look(&f);
        assert!(changed(None, a));
        assert!(!changed(a, look(&f)), "an untouched file is no beat");
        // A file stamped an hour in the past (as after a wall-clock jump) still counts as a
        // beat: only the change matters.
        Command::new("touch")
            .arg("-d")
            .arg("1 hour ago")
            .arg(&f)
            .status()
            .unwrap();
        let b = look(&f);
        assert!(changed(a, b));
        Command::new("touch")
            .arg("-d")
            .arg("next year")
            .arg(&f)
            .status()
            .unwrap();
        assert!(changed(b, look(&f)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
