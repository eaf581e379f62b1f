//! The run directory `runs/<run_id>/`: the supervisor's source of truth on disk.
//!
//! Owns creating a run (its subdirectories, the `runs/current` link), the history file handle and
//! the state and BOOTSTRAP.md writes (atomic, through `aivex_platform::write_atomic`). The paths
//! themselves are the run layout contract (`aivex_core::contract::RunLayout` / `RunPaths`). A
//! write that fails (a full disk) is logged when the failures start and when they end, never
//! once per write. It decides nothing about modules.

use aivex_core::contract::{RunLayout, RunPaths};
use aivex_platform::{write_atomic, WriteChange, WriteLatch};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub id: String,
    pub dir: PathBuf,
    history: Option<std::fs::File>,
    latches: Latches,
}

/// One latch per kind of write the supervisor makes into its run directory.
#[derive(Default)]
struct Latches {
    state: WriteLatch,
    history: WriteLatch,
    crash: WriteLatch,
}

/// Logs a write result when it changes the condition: the first failure says why, the first
/// success after failures says the condition is over.
fn report<T>(latch: &mut WriteLatch, what: &str, r: &std::io::Result<T>) {
    match (latch.note(r.is_ok(), std::time::Instant::now()), r) {
        (Some(WriteChange::Failing), Err(e)) => log::warn!(
            "cannot write {what}: {e}; its last good version stays, and this is not logged again \
             until a write succeeds"
        ),
        (Some(WriteChange::Recovered), _) => log::info!("{what} can be written again"),
        _ => {}
    }
}

impl RunDir {
    /// Creates `data_dir/runs/<id>/` with its subdirectories and points `runs/current` at it.
    pub fn create(data_dir: &Path) -> std::io::Result<RunDir> {
        let id = format!(
            "{}-{}",
            aivex_platform::time::run_stamp(jiff::Timestamp::now()),
            std::process::id()
        );
        let layout = RunLayout::new(data_dir);
        let paths = layout.run(&id);
        for sub in RunPaths::SUBDIRS {
            std::fs::create_dir_all(paths.dir.join(sub))?;
        }
        // Replace the link atomically: readers never see it missing.
        let tmp = layout
            .runs_dir()
            .join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&id, &tmp)?;
        std::fs::rename(&tmp, layout.current_link())?;
        let history = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.history())
            .ok();
        Ok(RunDir {
            id,
            dir: paths.dir,
            history,
            latches: Latches::default(),
        })
    }

    fn paths(&self) -> RunPaths {
        RunPaths::new(&self.dir)
    }

    pub fn heartbeat_file(&self, module: &str) -> PathBuf {
        self.paths().heartbeat(module)
    }

    pub fn log_file(&self, module: &str) -> PathBuf {
        self.paths().log_file(module)
    }

    pub fn state_file(&self) -> PathBuf {
        self.paths().state_file()
    }

    /// Writes the runtime state atomically (temp file + rename in the same directory).
    /// Rewrites the state file atomically (a failure keeps the last good one, and is logged
    /// once per condition).
    pub fn write_state(&mut self, state: &aivex_core::contract::RuntimeState) {
        let r = write_atomic(
            &self.state_file(),
            &serde_json::to_vec_pretty(state).unwrap_or_default(),
        );
        report(&mut self.latches.state, "the runtime state file", &r);
    }

    /// Appends one event to `history.jsonl`.
    pub fn history(&mut self, event: serde_json::Value) {
        if let Some(f) = self.history.as_mut() {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            let r = f.write_all(&line);
            report(&mut self.latches.history, "history.jsonl", &r);
        }
    }

    /// Logs a crash record write's result, once per condition.
    pub fn crash_written<T>(&mut self, r: &std::io::Result<T>) {
        report(&mut self.latches.crash, "crash records", r);
    }

    pub fn write_bootstrap(&self, text: &str) -> std::io::Result<()> {
        write_atomic(&self.paths().bootstrap(), text.as_bytes())
    }
}

/// BOOTSTRAP.md: YAML front matter a machine can read, then a note for a person.
pub fn bootstrap_text(
    run_id: &str,
    started_at: &str,
    config_path: &Path,
    config_hash: &str,
    mode: &str,
    modules: &[String],
) -> String {
    let list = modules
        .iter()
        .map(|m| format!("  - {m}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "---\nrun_id: {run_id}\nstarted_at: {started_at}\nversion: {}\npid: {}\nmode: {mode}\n\
         config_path: {}\nconfig_hash: {config_hash}\nmodules:\n{list}\n---\n\n\
         # aivex run {run_id}\n\n\
         This directory is the live record of one supervisor run. `state/runtime_state.json` is the\n\
         current state of every module (rewritten atomically on every change), `history.jsonl` the\n\
         starts, exits and restarts in order, `errors/` the crash records, `logs/` each module's\n\
         captured output. `aivex status` reads the same state through the control socket.\n",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        config_path.display(),
    )
}
