//! Where `aivex replay` writes: the report (an aligned table, or one JSON object with
//! `--json`; `--out FILE` also writes the JSON there), the `--signals FILE` lines (one JSON
//! object per replayed signal, in time order), and the progress line on stderr when stderr is
//! a terminal (symbol-steps done, rate, ETA).
//!
//! Output files are created before the replay starts, so a path that cannot be written is a
//! usage error (exit 2) at once, not after minutes of work. It must not compute anything.

use super::ToolError;
use aivex_brain::replay::{render_table, ReplayedRow, Report};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Outputs {
    json: bool,
    out: Option<(PathBuf, File)>,
    signals: Option<(PathBuf, BufWriter<File>)>,
}

fn create(flag: &str, path: &Path) -> Result<File, ToolError> {
    File::create(path)
        .map_err(|e| ToolError::Usage(format!("cannot write {flag} {}: {e}", path.display())))
}

fn failed(path: &Path, e: impl std::fmt::Display) -> ToolError {
    ToolError::Failed(format!("cannot write {}: {e}", path.display()))
}

impl Outputs {
    pub fn open(
        out: Option<&Path>,
        signals: Option<&Path>,
        json: bool,
    ) -> Result<Outputs, ToolError> {
        Ok(Outputs {
            json,
            out: out
                .map(|p| create("--out", p).map(|f| (p.to_path_buf(), f)))
                .transpose()?,
            signals: signals
                .map(|p| create("--signals", p).map(|f| (p.to_path_buf(), BufWriter::new(f))))
                .transpose()?,
        })
    }

    /// One `--signals` line.
    pub fn signal(&mut self, row: &ReplayedRow<'_>) -> Result<(), ToolError> {
        if let Some((path, w)) = &mut self.signals {
            serde_json::to_writer(&mut *w, row).map_err(|e| failed(path, e))?;
            w.write_all(b"\n").map_err(|e| failed(path, e))?;
        }
        Ok(())
    }

    /// The report: JSON on stdout with `--json`, the table otherwise; JSON in `--out`.
    pub fn report(mut self, report: &Report) -> Result<(), ToolError> {
        if let Some((path, w)) = &mut self.signals {
            w.flush().map_err(|e| failed(path, e))?;
        }
        let json = serde_json::to_string_pretty(report)
            .map_err(|e| ToolError::Failed(format!("the report as JSON: {e}")))?;
        if let Some((path, f)) = &mut self.out {
            f.write_all(json.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .map_err(|e| failed(path, e))?;
        }
        let text = if self.json {
            json + "\n"
        } else {
            render_table(report)
        };
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(text.as_bytes())
            .and_then(|()| lock.flush())
            .map_err(|e| ToolError::Failed(format!("cannot write the report: {e}")))
    }
}

/// The progress line: shown only when stderr is a terminal, at most every quarter second.
pub struct Progress {
    total: u64,
    started: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            started: Instant::now(),
            last: None,
            shown: std::io::stderr().is_terminal(),
        }
    }

    pub fn done(&mut self, done: u64) {
        if !self.shown
            || self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.last = Some(Instant::now());
        eprint!("\r{}", line(done, self.total, self.started.elapsed()));
    }

    pub fn finish(&mut self) {
        if self.shown && self.last.is_some() {
            eprintln!("\r{}", line(self.total, self.total, self.started.elapsed()));
        }
    }
}

/// `replay: 1200/5000 symbol-steps (24%), 8000/s, ETA 0.5s`.
fn line(done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let rate = done as f64 / secs;
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let eta = if rate > 0.0 {
        format!("{:.1}s", total.saturating_sub(done) as f64 / rate)
    } else {
        "-".into()
    };
    format!("replay: {done}/{total} symbol-steps ({pct}%), {rate:.0}/s, ETA {eta}   ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line() {
        assert_eq!(
            line(1200, 5000, Duration::from_millis(150)),
            "replay: 1200/5000 symbol-steps (24%), 8000/s, ETA 0.5s   "
        );
        assert!(line(0, 0, Duration::ZERO).contains("(100%)"));
    }
}
