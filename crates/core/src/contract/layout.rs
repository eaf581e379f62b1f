//! The run layout: every path under `data_dir/` that more than one part of aivex knows about.
//!
//! ```text
//! data_dir/
//!   supervisor.lock  control.sock  aivex.sqlite  state/groups.json  cache/
//!   runs/current -> <run_id>
//!   runs/<run_id>/BOOTSTRAP.md  state/runtime_state.json  history.jsonl
//!                 errors/crashes/*.json  errors/<module>.log  logs/<module>.log[.N]
//!                 state/health.json  heartbeats/<module>  exports/*.json
//! ```
//!
//! `RunLayout` spells out the data directory, `RunPaths` one run directory. The supervisor
//! creates them; modules, Eye, the CLI and the disk budget only find things through here. This
//! file computes paths: it must not touch the file system.

use std::path::{Path, PathBuf};

/// The data directory's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    pub data_dir: PathBuf,
}

impl RunLayout {
    pub fn new(data_dir: impl Into<PathBuf>) -> RunLayout {
        RunLayout {
            data_dir: data_dir.into(),
        }
    }

    /// flock'ed by the live supervisor (one per data dir); holds its pid.
    pub fn lock(&self) -> PathBuf {
        self.data_dir.join("supervisor.lock")
    }

    /// The control socket (owner-only).
    pub fn socket(&self) -> PathBuf {
        self.data_dir.join("control.sock")
    }

    /// The embedded store's default file (`sqlite://aivex.sqlite` resolves here).
    pub fn sqlite(&self) -> PathBuf {
        self.data_dir.join("aivex.sqlite")
    }

    /// Supervisor state that outlives a run.
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("state")
    }

    /// Live process groups, for the next supervisor's leftover cleanup.
    pub fn groups(&self) -> PathBuf {
        self.state_dir().join("groups.json")
    }

    /// Modules' caches (rebuildable; never the source of truth).
    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.data_dir.join("runs")
    }

    /// The link to the live run (`runs/current -> <run_id>`).
    pub fn current_link(&self) -> PathBuf {
        self.runs_dir().join("current")
    }

    /// The live run, through the link.
    pub fn current(&self) -> RunPaths {
        RunPaths::new(self.current_link())
    }

    pub fn run(&self, run_id: &str) -> RunPaths {
        RunPaths::new(self.runs_dir().join(run_id))
    }
}

/// One run directory's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: impl Into<PathBuf>) -> RunPaths {
        RunPaths { dir: dir.into() }
    }

    /// The subdirectories a run is created with.
    pub const SUBDIRS: [&'static str; 5] =
        ["state", "errors/crashes", "logs", "heartbeats", "exports"];

    pub fn bootstrap(&self) -> PathBuf {
        self.dir.join("BOOTSTRAP.md")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state").join("runtime_state.json")
    }

    /// Eye's `/health` verdict (`state::HealthVerdict`), for the supervisor's health alerts.
    pub fn health_file(&self) -> PathBuf {
        self.dir.join("state").join("health.json")
    }

    pub fn history(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }

    pub fn crashes_dir(&self) -> PathBuf {
        self.dir.join("errors").join("crashes")
    }

    /// One line per recorded error of `module`.
    pub fn errors_log(&self, module: &str) -> PathBuf {
        self.dir.join("errors").join(format!("{module}.log"))
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// `module`'s captured output (rotated files add `.1`, `.2`, ...).
    pub fn log_file(&self, module: &str) -> PathBuf {
        self.logs_dir().join(format!("{module}.log"))
    }

    pub fn heartbeats_dir(&self) -> PathBuf {
        self.dir.join("heartbeats")
    }

    pub fn heartbeat(&self, module: &str) -> PathBuf {
        self.heartbeats_dir().join(module)
    }

    pub fn exports_dir(&self) -> PathBuf {
        self.dir.join("exports")
    }

    pub fn export(&self, file: &str) -> PathBuf {
        self.exports_dir().join(file)
    }

    /// Whether `path` is a crash record of this run.
    pub fn is_crash_record(&self, path: &Path) -> bool {
        path.parent() == Some(self.crashes_dir().as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_of_the_layout() {
        let l = RunLayout::new("/d");
        assert_eq!(l.lock(), Path::new("/d/supervisor.lock"));
        assert_eq!(l.socket(), Path::new("/d/control.sock"));
        assert_eq!(l.sqlite(), Path::new("/d/aivex.sqlite"));
        assert_eq!(l.groups(), Path::new("/d/state/groups.json"));
        assert_eq!(l.cache_dir(), Path::new("/d/cache"));
        assert_eq!(l.current_link(), Path::new("/d/runs/current"));
        let r = l.run("r1");
        assert_eq!(r.dir, Path::new("/d/runs/r1"));
        assert_eq!(r.bootstrap(), Path::new("/d/runs/r1/BOOTSTRAP.md"));
        assert_eq!(
            r.state_file(),
            Path::new("/d/runs/r1/state/runtime_state.json")
        );
        assert_eq!(r.history(), Path::new("/d/runs/r1/history.jsonl"));
        assert_eq!(r.health_file(), Path::new("/d/runs/r1/state/health.json"));
        assert_eq!(r.crashes_dir(), Path::new("/d/runs/r1/errors/crashes"));
        assert_eq!(
            r.errors_log("news"),
            Path::new("/d/runs/r1/errors/news.log")
        );
        assert_eq!(r.log_file("news"), Path::new("/d/runs/r1/logs/news.log"));
        assert_eq!(r.heartbeat("news"), Path::new("/d/runs/r1/heartbeats/news"));
        assert_eq!(
            r.export("probe.json"),
            Path::new("/d/runs/r1/exports/probe.json")
        );
        assert!(r.is_crash_record(Path::new("/d/runs/r1/errors/crashes/x.json")));
        assert!(!r.is_crash_record(Path::new("/d/runs/r1/errors/news.log")));
        assert_eq!(
            l.current().state_file(),
            Path::new("/d/runs/current/state/runtime_state.json")
        );
        for sub in RunPaths::SUBDIRS {
            assert!(r.dir.join(sub).starts_with(&r.dir));
        }
    }
}
