//! The run directory `runs/<run_id>/`: the supervisor's source of truth on disk.
//!
//! Owns the layout (BOOTSTRAP.md, state/runtime_state.json, history.jsonl, errors/, logs/,
//! heartbeats/, exports/), the `runs/current` link and its state writes (atomic, through
//! `aivex_platform::write_atomic`). It decides nothing about modules.

use aivex_platform::write_atomic;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub id: String,
    pub dir: PathBuf,
    history: Option<std::fs::File>,
}

impl RunDir {
    /// Creates `data_dir/runs/<id>/` with its subdirectories and points `runs/current` at it.
    pub fn create(data_dir: &Path) -> std::io::Result<RunDir> {
        let id = format!(
            "{}-{}",
            aivex_platform::time::run_stamp(jiff::Timestamp::now()),
            std::process::id()
        );
        let runs = data_dir.join("runs");
        let dir = runs.join(&id);
        for sub in ["state", "errors/crashes", "logs", "heartbeats", "exports"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        // Replace the link atomically: readers never see it missing.
        let tmp = runs.join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&id, &tmp)?;
        std::fs::rename(&tmp, runs.join("current"))?;
        let history = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("history.jsonl"))
            .ok();
        Ok(RunDir { id, dir, history })
    }

    pub fn heartbeat_file(&self, module: &str) -> PathBuf {
        self.dir.join("heartbeats").join(module)
    }

    pub fn log_file(&self, module: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{module}.log"))
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state").join("runtime_state.json")
    }

    /// Writes the runtime state atomically (temp file + rename in the same directory).
    pub fn write_state(&self, state: &aivex_core::contract::RuntimeState) -> std::io::Result<()> {
        write_atomic(
            &self.state_file(),
            &serde_json::to_vec_pretty(state).unwrap_or_default(),
        )
    }

    /// Appends one event to `history.jsonl`.
    pub fn history(&mut self, event: serde_json::Value) {
        if let Some(f) = self.history.as_mut() {
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            let _ = f.write_all(&line);
        }
    }

    pub fn write_bootstrap(&self, text: &str) -> std::io::Result<()> {
        write_atomic(&self.dir.join("BOOTSTRAP.md"), text.as_bytes())
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
