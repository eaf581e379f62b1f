//! Crash records: `runs/<id>/errors/crashes/*.json` (one JSON document per recorded error) and
//! `runs/<id>/errors/<module>.log` (one text line each).
//!
//! Written by the supervisor (deaths by signal, stale heartbeats) and by the module runner
//! (errors a module raised). Both are capped in count and size so that a crash loop cannot fill
//! a disk. Records never hold settings or environment values (only a hash of the settings):
//! secrets must not reach disk through them.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest message and output tail kept in one record.
const MAX_MESSAGE: usize = 4096;
const MAX_TAIL_BYTES: usize = 8192;
/// `errors/<module>.log` rotates to `.1` past this size.
const MAX_TEXT_LOG: u64 = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct CrashRecord {
    pub module: String,
    /// RecoverableError, FatalError, ConfigError, ExternalServiceError, DataValidationError,
    /// or `Signal` / `StaleHeartbeat` / `Exit` for what the supervisor saw from outside.
    pub class: String,
    pub message: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cycle: Option<u64>,
    pub at: String,
    pub pid: u32,
    pub settings_hash: Option<String>,
    /// "module" (the module reported it) or "supervisor".
    pub source: &'static str,
    pub output_tail: Vec<String>,
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &s[..end], s.len() - end)
}

/// Writes one record and its log line, then prunes the oldest records beyond `keep`.
pub fn write(run_dir: &Path, rec: &CrashRecord, keep: usize) -> std::io::Result<PathBuf> {
    let run = aivex_core::contract::RunPaths::new(run_dir);
    let dir = run.crashes_dir();
    std::fs::create_dir_all(&dir)?;
    let mut rec = rec.clone();
    rec.message = clip(&rec.message, MAX_MESSAGE);
    let mut tail_bytes = 0;
    let mut kept: Vec<String> = Vec::new();
    for line in rec.output_tail.iter().rev() {
        tail_bytes += line.len();
        if tail_bytes > MAX_TAIL_BYTES {
            break;
        }
        kept.push(clip(line, 1024));
    }
    kept.reverse();
    rec.output_tail = kept;
    let stamp = aivex_platform::time::record_stamp(jiff::Timestamp::now());
    let name = format!("{stamp}-{}-{}.json", rec.module, rec.pid);
    let path = dir.join(&name);
    aivex_platform::write_atomic(&path, &serde_json::to_vec_pretty(&rec).unwrap_or_default())?;

    let log = run.errors_log(&rec.module);
    if std::fs::metadata(&log).map_or(0, |m| m.len()) > MAX_TEXT_LOG {
        let _ = std::fs::rename(&log, log.with_extension("log.1"));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let first_line = rec.message.lines().next().unwrap_or("");
    writeln!(
        f,
        "{} {} {} [{}] {}",
        rec.at, rec.module, rec.class, rec.source, first_line
    )?;
    prune(&dir, keep);
    Ok(path)
}

/// Keeps the newest `keep` records (names start with a UTC timestamp, so they sort by age).
pub fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    if names.len() <= keep {
        return;
    }
    names.sort();
    for n in &names[..names.len() - keep] {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivex_platform::time::now_rfc3339;

    fn rec(msg: &str) -> CrashRecord {
        CrashRecord {
            module: "m".into(),
            class: "RecoverableError".into(),
            message: msg.into(),
            exit_code: Some(1),
            signal: None,
            cycle: Some(3),
            at: now_rfc3339(),
            pid: 7,
            settings_hash: None,
            source: "module",
            output_tail: vec!["x".repeat(5000); 5],
        }
    }

    #[test]
    fn records_are_capped_in_count_and_size() {
        let dir = std::env::temp_dir().join(format!("aivex-rec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for i in 0..12 {
            write(&dir, &rec(&format!("boom {i} {}", "y".repeat(10_000))), 5).unwrap();
        }
        let crashes: Vec<_> = std::fs::read_dir(dir.join("errors/crashes"))
            .unwrap()
            .collect();
        assert_eq!(crashes.len(), 5);
        for e in crashes {
            let len = e.unwrap().metadata().unwrap().len();
            assert!(len < 16 * 1024, "record of {len} bytes");
        }
        let log = std::fs::read_to_string(dir.join("errors/m.log")).unwrap();
        assert_eq!(log.lines().count(), 12);
        assert!(log
            .lines()
            .last()
            .unwrap()
            .contains("RecoverableError [module] boom 11"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
