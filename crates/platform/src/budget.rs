//! Disk budget for aivex's run data: `<data_dir>/runs/<run_id>/`, logs and crash records.
//!
//! It owns which files go when the budget is exceeded: whole old runs first (oldest run id
//! first, lexical order of run ids is their age), then inside live runs rotated logs
//! (`*.log.N`) and then crash records (`errors/crashes/*.json`), oldest first. `plan` decides and
//! is pure; `enforce` is the shell that walks `runs/` and deletes. It must never delete a
//! protected path (the live run directory itself, anything `runs/current` points at), never
//! follow symlinks out of `runs/`, and never touch anything outside `runs/` (the database).

use aivex_core::contract::{RunLayout, RunPaths};
use std::cmp::Ordering;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The limits; both must hold after pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Bytes (apparent file sizes) all of `runs/` may use.
    pub max_total_bytes: u64,
    /// Run directories to keep, the live one included.
    pub max_runs: usize,
    /// Paths never deleted, and never deleted around: typically the live run directory.
    pub protect: Vec<PathBuf>,
}

/// What an entry is, which decides whether and when it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A whole `runs/<run_id>/` directory (bytes = everything inside). A protected run is
    /// listed with 0 bytes so it counts towards `max_runs`; its files are listed on their own.
    Run,
    /// A rotated log file (`*.log.N`) inside a protected run.
    RotatedLog,
    /// A crash record (`errors/crashes/*.json`) inside a protected run.
    CrashRecord,
    /// Counted against the budget but never deleted (live logs, state, unknown files).
    Other,
}

/// One item of the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub bytes: u64,
    pub kind: EntryKind,
    /// Sorts oldest first: the run id for runs, a zero-padded mtime for files.
    pub age_key: String,
}

/// What `enforce` did.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub deleted: Vec<PathBuf>,
    pub freed_bytes: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub runs_before: usize,
    pub runs_after: usize,
    /// True when the budget still does not hold (only protected data is left, or a delete
    /// failed): worth a warning, since nothing more can be pruned automatically.
    pub over_budget: bool,
    /// Deletions that failed, with the error text.
    pub failed: Vec<(PathBuf, String)>,
}

/// A path is protected when it is a protected path or contains one (deleting a run directory
/// that holds the live run's files would delete them too). Files *inside* a protected run are
/// not protected by it: those are the rotated logs and crash records pruning may take.
fn is_protected(path: &Path, protect: &[PathBuf]) -> bool {
    protect.iter().any(|p| p.starts_with(path))
}

fn oldest_first(a: &&Entry, b: &&Entry) -> Ordering {
    a.age_key.cmp(&b.age_key).then_with(|| a.path.cmp(&b.path))
}

/// Decides what to delete, in deletion order, so that at most `max_runs` runs remain and the
/// total is within `max_total_bytes`, or as close as unprotected data allows.
pub fn plan(entries: &[Entry], budget: &Budget) -> Vec<PathBuf> {
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut runs = entries.iter().filter(|e| e.kind == EntryKind::Run).count();
    let mut out = Vec::new();

    let candidates = |kind: EntryKind| {
        let mut v: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind == kind && !is_protected(&e.path, &budget.protect))
            .collect();
        v.sort_by(oldest_first);
        v
    };

    for run in candidates(EntryKind::Run) {
        if runs <= budget.max_runs && total <= budget.max_total_bytes {
            break;
        }
        out.push(run.path.clone());
        runs -= 1;
        total = total.saturating_sub(run.bytes);
    }
    // Rotated logs before crash records: a crash record already keeps the last lines of the
    // output that matter, so old bulk log text is the cheaper loss.
    for kind in [EntryKind::RotatedLog, EntryKind::CrashRecord] {
        for e in candidates(kind) {
            if total <= budget.max_total_bytes {
                break;
            }
            // A file inside a run already chosen for deletion goes with the run.
            if out.iter().any(|d| e.path.starts_with(d)) {
                continue;
            }
            out.push(e.path.clone());
            total = total.saturating_sub(e.bytes);
        }
    }
    out
}

/// Run ids start with their UTC start time (`YYYYMMDDTHHMMSSZ-<pid>`); a directory that does not
/// look like one is someone else's and is only counted, never deleted.
pub fn is_run_id(name: &str) -> bool {
    name.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `news.log.3` style: a rotated log.
pub fn is_rotated_log(name: &str) -> bool {
    match name.rsplit_once(".log.") {
        Some((stem, n)) => {
            !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Apparent size of a tree, not following symlinks.
fn tree_bytes(path: &Path) -> io::Result<u64> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| with_path(e, path))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0u64;
    for item in std::fs::read_dir(path).map_err(|e| with_path(e, path))? {
        let item = item.map_err(|e| with_path(e, path))?;
        match tree_bytes(&item.path()) {
            Ok(b) => total = total.saturating_add(b),
            // Files come and go under a live supervisor; a vanished one weighs nothing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

fn mtime_key(meta: &std::fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:030}")
}

/// Lists the files of a protected run, classifying the prunable ones.
fn walk_live_run(run: &Path, dir: &Path, out: &mut Vec<Entry>) -> io::Result<()> {
    for item in std::fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
        let item = item.map_err(|e| with_path(e, dir))?;
        let path = item.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(with_path(e, &path)),
        };
        if meta.is_dir() {
            walk_live_run(run, &path, out)?;
            continue;
        }
        let name = item.file_name();
        let name = name.to_string_lossy();
        let in_crashes = RunPaths::new(run).is_crash_record(&path);
        let kind = if meta.is_file() && is_rotated_log(&name) {
            EntryKind::RotatedLog
        } else if meta.is_file() && in_crashes && name.ends_with(".json") {
            EntryKind::CrashRecord
        } else {
            EntryKind::Other
        };
        out.push(Entry {
            path,
            bytes: meta.len(),
            kind,
            age_key: mtime_key(&meta),
        });
    }
    Ok(())
}

/// Walks `<dir>/runs/` into entries. Protected paths are canonicalised by the caller.
fn scan(runs: &Path, protect: &[PathBuf]) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(runs).map_err(|e| with_path(e, runs))? {
        let item = item.map_err(|e| with_path(e, runs))?;
        let path = item.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(with_path(e, &path)),
        };
        let name = item.file_name().to_string_lossy().into_owned();
        if meta.is_dir() && is_run_id(&name) {
            if protect.iter().any(|p| p.starts_with(&path)) {
                walk_live_run(&path, &path, &mut entries)?;
                entries.push(Entry {
                    path,
                    bytes: 0,
                    kind: EntryKind::Run,
                    age_key: name,
                });
            } else {
                entries.push(Entry {
                    bytes: tree_bytes(&path)?,
                    path,
                    kind: EntryKind::Run,
                    age_key: name,
                });
            }
        } else {
            entries.push(Entry {
                bytes: tree_bytes(&path)?,
                path,
                kind: EntryKind::Other,
                age_key: String::new(),
            });
        }
    }
    Ok(entries)
}

/// Brings `<dir>/runs/` within `budget`. `runs/current` (if it is a symlink) is protected as if
/// listed. A missing `runs/` is an empty one. Errors from the walk abort (nothing was deleted
/// yet); failed deletions are reported in `PruneReport::failed` and the rest go on.
pub fn enforce(dir: &Path, budget: &Budget) -> io::Result<PruneReport> {
    let layout = RunLayout::new(dir);
    let runs = match std::fs::canonicalize(layout.runs_dir()) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PruneReport::default()),
        Err(e) => return Err(with_path(e, &layout.runs_dir())),
    };
    let mut protect: Vec<PathBuf> = budget
        .protect
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    if let Ok(current) = std::fs::canonicalize(runs.join("current")) {
        protect.push(current);
    }

    let entries = scan(&runs, &protect)?;
    let effective = Budget {
        protect,
        ..budget.clone()
    };
    let doomed = plan(&entries, &effective);

    let mut report = PruneReport {
        bytes_before: entries.iter().map(|e| e.bytes).sum(),
        runs_before: entries.iter().filter(|e| e.kind == EntryKind::Run).count(),
        ..PruneReport::default()
    };
    for path in doomed {
        let Some(entry) = entries.iter().find(|e| e.path == path) else {
            continue;
        };
        let res = if entry.kind == EntryKind::Run {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                report.failed.push((path, e.to_string()));
                continue;
            }
        }
        report.freed_bytes = report.freed_bytes.saturating_add(entry.bytes);
        if entry.kind == EntryKind::Run {
            report.runs_after += 1; // counted as removed; turned into "after" below
        }
        report.deleted.push(path);
    }
    let removed_runs = report.runs_after;
    report.runs_after = report.runs_before.saturating_sub(removed_runs);
    report.bytes_after = report.bytes_before.saturating_sub(report.freed_bytes);
    report.over_budget =
        report.bytes_after > budget.max_total_bytes || report.runs_after > budget.max_runs;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn e(path: &str, bytes: u64, kind: EntryKind, age: &str) -> Entry {
        Entry {
            path: PathBuf::from(path),
            bytes,
            kind,
            age_key: age.to_string(),
        }
    }

    fn run(id: &str, bytes: u64) -> Entry {
        e(&format!("/d/runs/{id}"), bytes, EntryKind::Run, id)
    }

    fn budget(max_total_bytes: u64, max_runs: usize, protect: &[&str]) -> Budget {
        Budget {
            max_total_bytes,
            max_runs,
            protect: protect.iter().map(PathBuf::from).collect(),
        }
    }

    const LIVE: &str = "/d/runs/20260103T000000Z-3";

    fn live_files() -> Vec<Entry> {
        use EntryKind::*;
        vec![
            e(LIVE, 0, Run, "20260103T000000Z-3"),
            e(&format!("{LIVE}/state/runtime_state.json"), 10, Other, "5"),
            e(&format!("{LIVE}/logs/news.log"), 100, Other, "9"),
            e(&format!("{LIVE}/logs/news.log.1"), 100, RotatedLog, "4"),
            e(&format!("{LIVE}/logs/news.log.2"), 100, RotatedLog, "2"),
            e(
                &format!("{LIVE}/errors/crashes/b.json"),
                50,
                CrashRecord,
                "3",
            ),
            e(
                &format!("{LIVE}/errors/crashes/a.json"),
                50,
                CrashRecord,
                "1",
            ),
        ]
    }

    #[test]
    fn plan_table() {
        let mut three = vec![
            run("20260102T000000Z-2", 1000),
            run("20260101T000000Z-1", 1000),
        ];
        three.extend(live_files()); // 410 bytes live, 2410 total, 3 runs with the live one
        let all: Vec<&str> = vec![];
        let cases: Vec<(&str, Vec<Entry>, Budget, Vec<String>)> = vec![
            ("empty", vec![], budget(0, 0, &[]), vec![]),
            (
                "within budget",
                three.clone(),
                budget(10_000, 3, &[LIVE]),
                vec![],
            ),
            (
                "count: oldest run goes first",
                three.clone(),
                budget(10_000, 2, &[LIVE]),
                vec!["/d/runs/20260101T000000Z-1".into()],
            ),
            (
                "count: never the protected run",
                three.clone(),
                budget(10_000, 0, &[LIVE]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                ],
            ),
            (
                "bytes: runs until it fits",
                three.clone(),
                budget(1400, 10, &[LIVE]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                ],
            ),
            (
                "bytes: then rotated logs oldest first",
                three.clone(),
                budget(310, 10, &[LIVE]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                    format!("{LIVE}/logs/news.log.2"),
                ],
            ),
            (
                "bytes: then crash records oldest first",
                three.clone(),
                budget(160, 10, &[LIVE]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                    format!("{LIVE}/logs/news.log.2"),
                    format!("{LIVE}/logs/news.log.1"),
                    format!("{LIVE}/errors/crashes/a.json"),
                ],
            ),
            (
                "bytes: unreachable budget stops at what is protected",
                three.clone(),
                budget(0, 10, &[LIVE]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                    format!("{LIVE}/logs/news.log.2"),
                    format!("{LIVE}/logs/news.log.1"),
                    format!("{LIVE}/errors/crashes/a.json"),
                    format!("{LIVE}/errors/crashes/b.json"),
                ],
            ),
            (
                "a protected file inside the live run stays",
                three.clone(),
                budget(0, 10, &[LIVE, &format!("{LIVE}/logs/news.log.2")]),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                    format!("{LIVE}/logs/news.log.1"),
                    format!("{LIVE}/errors/crashes/a.json"),
                    format!("{LIVE}/errors/crashes/b.json"),
                ],
            ),
            (
                "a run holding a protected path is itself protected",
                vec![
                    run("20260101T000000Z-1", 500),
                    run("20260102T000000Z-2", 500),
                ],
                budget(0, 0, &["/d/runs/20260101T000000Z-1/keep.txt"]),
                vec!["/d/runs/20260102T000000Z-2".into()],
            ),
            (
                "both limits: count first, then bytes",
                vec![
                    run("20260103T000000Z-3", 100),
                    run("20260101T000000Z-1", 100),
                    run("20260102T000000Z-2", 900),
                    run("20260104T000000Z-4", 100),
                ],
                budget(300, 3, &all),
                vec![
                    "/d/runs/20260101T000000Z-1".into(),
                    "/d/runs/20260102T000000Z-2".into(),
                ],
            ),
            (
                "lexical run ids, ties by path",
                vec![run("2", 10), run("10", 10), run("1", 10)],
                budget(1000, 1, &all),
                vec!["/d/runs/1".into(), "/d/runs/10".into()],
            ),
            (
                "other entries count but never go",
                vec![
                    e("/d/runs/notes", 5000, EntryKind::Other, ""),
                    run("20260101T000000Z-1", 10),
                ],
                budget(1000, 5, &all),
                vec!["/d/runs/20260101T000000Z-1".into()],
            ),
        ];
        for (name, entries, b, want) in cases {
            let got = plan(&entries, &b);
            let want: Vec<PathBuf> = want.into_iter().map(PathBuf::from).collect();
            assert_eq!(got, want, "case: {name}");
        }
    }

    #[test]
    fn name_rules() {
        let runs = [
            ("20261122T221142Z-4242", true),
            ("20261122T221142Z", true),
            ("current", false),
            ("", false),
            (".hidden", false),
            ("2026 11", false),
            ("lost+found", false),
        ];
        for (name, want) in runs {
            assert_eq!(is_run_id(name), want, "run id {name:?}");
        }
        let logs = [
            ("news.log.1", true),
            ("news.log.12", true),
            ("news.log", false),
            ("news.log.", false),
            (".log.1", false),
            ("news.log.1.gz", false),
            ("news.log.x", false),
        ];
        for (name, want) in logs {
            assert_eq!(is_rotated_log(name), want, "log {name:?}");
        }
    }

    fn write(path: &Path, bytes: usize) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, vec![b'x'; bytes]).expect("write");
    }

    fn set_mtime(path: &Path, secs: u64) {
        let f = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .expect("set mtime");
    }

    #[test]
    fn enforce_on_a_real_tree() {
        let tmp = TempDir::new("budget");
        let runs = tmp.path().join("runs");
        let old1 = runs.join("20260101T000000Z-1");
        let old2 = runs.join("20260102T000000Z-2");
        let live = runs.join("20260103T000000Z-3");
        write(&old1.join("logs/news.log"), 1000);
        write(&old1.join("errors/crashes/x.json"), 200);
        write(&old2.join("logs/news.log"), 1000);
        write(&live.join("state/runtime_state.json"), 100);
        write(&live.join("logs/news.log"), 300);
        write(&live.join("logs/news.log.1"), 300);
        write(&live.join("logs/news.log.2"), 300);
        write(&live.join("errors/crashes/c1.json"), 50);
        write(&live.join("errors/crashes/c2.json"), 50);
        set_mtime(&live.join("logs/news.log.2"), 1_000);
        set_mtime(&live.join("logs/news.log.1"), 2_000);
        set_mtime(&live.join("errors/crashes/c1.json"), 500);
        set_mtime(&live.join("errors/crashes/c2.json"), 600);
        // Data outside runs/ (the SQLite store) is neither counted nor touched.
        write(&tmp.path().join("aivex.db"), 10_000);
        // Not a run id: counted, kept.
        write(&runs.join("README"), 10);
        std::os::unix::fs::symlink(&live, runs.join("current")).expect("symlink");

        // Count budget only: the oldest run goes; `current` protects the live run (not listed).
        let b = Budget {
            max_total_bytes: u64::MAX,
            max_runs: 2,
            protect: vec![],
        };
        let r = enforce(tmp.path(), &b).expect("enforce");
        assert_eq!(r.runs_before, 3);
        assert_eq!(r.runs_after, 2);
        assert_eq!(r.deleted.len(), 1, "{r:?}");
        assert!(!old1.exists() && old2.exists() && live.exists());
        assert_eq!(r.freed_bytes, 1200);
        assert!(!r.over_budget);

        // Byte budget: old2 goes, then the oldest rotated log, and nothing that is live.
        let live_listed = tmp.path().join("runs/./20260103T000000Z-3");
        let b = Budget {
            max_total_bytes: 1000,
            max_runs: 10,
            protect: vec![live_listed],
        };
        let r = enforce(tmp.path(), &b).expect("enforce");
        // before: old2 1000 + live 1100 + README 10 + current link
        assert!(r.bytes_before >= 2110, "{r:?}");
        assert!(!old2.exists());
        assert!(!live.join("logs/news.log.2").exists());
        assert!(live.join("logs/news.log.1").exists());
        assert!(live.join("logs/news.log").exists());
        assert!(live.join("errors/crashes/c1.json").exists());
        assert!(r.bytes_after <= 1000, "{r:?}");
        assert!(!r.over_budget);

        // An impossible budget: everything prunable goes, live state and logs stay.
        let b = Budget {
            max_total_bytes: 0,
            max_runs: 0,
            protect: vec![live.clone()],
        };
        let r = enforce(tmp.path(), &b).expect("enforce");
        assert!(r.over_budget);
        assert!(r.failed.is_empty(), "{r:?}");
        assert!(!live.join("logs/news.log.1").exists());
        assert!(!live.join("errors/crashes/c1.json").exists());
        assert!(!live.join("errors/crashes/c2.json").exists());
        assert!(live.join("logs/news.log").exists());
        assert!(live.join("state/runtime_state.json").exists());
        assert!(runs.join("README").exists());
        assert!(runs.join("current").exists());
        assert!(tmp.path().join("aivex.db").exists());
        assert_eq!(r.runs_after, 1);
    }

    #[test]
    fn enforce_without_runs_dir_is_a_no_op() {
        let tmp = TempDir::new("budget-empty");
        let r = enforce(tmp.path(), &budget(0, 0, &[])).expect("enforce");
        assert!(r.deleted.is_empty());
        assert_eq!(r.bytes_before, 0);
    }

    #[test]
    fn enforce_does_not_follow_symlinks_out_of_runs() {
        let tmp = TempDir::new("budget-link");
        let outside = tmp.path().join("outside");
        write(&outside.join("precious.txt"), 100);
        let runs = tmp.path().join("runs");
        let old = runs.join("20260101T000000Z-1");
        write(&old.join("logs/x.log"), 10);
        std::os::unix::fs::symlink(&outside, old.join("link")).expect("symlink");
        let r = enforce(tmp.path(), &budget(0, 0, &[])).expect("enforce");
        assert_eq!(
            r.deleted,
            vec![std::fs::canonicalize(&runs)
                .expect("c")
                .join("20260101T000000Z-1")]
        );
        assert!(outside.join("precious.txt").exists());
    }
}
