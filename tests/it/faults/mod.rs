//! The fault matrix (README.md, "Fault matrix"): one real fault injected per test into the real
//! `aivex` binary and its real children (a frozen, forking, starving or spewing module, a locked
//! SQLite store, a stepped wall clock, a SIGKILLed supervisor, a SIGKILLed MariaDB server, a full
//! data filesystem), and what the promise "nobody watching" requires afterwards.
//!
//! It owns injecting the faults and the checks; the shared helpers of every feature stay in
//! `harness`. Every wait has a deadline; a fault this host cannot inject (no root for a mount)
//! fails under `CI` and is reported and skipped otherwise.

mod clock;
mod disk_full;
mod mariadb_kill;
mod modules;
mod sigkill;
mod sqlite_lock;

use crate::harness::*;

/// A module loop that rewrites its heartbeat file every 100 ms.
pub const HB_LOOP: &str = "while true; do date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 0.1; done";

/// The resident set of a process in bytes, from `/proc/PID/status`.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether this test process runs as root (mounts, cgroups, other uids).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A fault this host cannot inject: under `CI` the test fails saying why; elsewhere it says why
/// on stderr and the caller returns.
pub fn cannot_inject(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("fault matrix: cannot inject {what} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("fault matrix: skipped, cannot inject {what}");
}

/// Crash records of module `m` in the live run.
pub fn crash_records(env: &Env, m: &str) -> Vec<serde_json::Value> {
    let Ok(dir) = std::fs::read_dir(env.run_dir().join("errors/crashes")) else {
        return vec![];
    };
    dir.filter_map(|e| serde_json::from_slice(&std::fs::read(e.ok()?.path()).ok()?).ok())
        .filter(|r: &serde_json::Value| r["module"] == m)
        .collect()
}

/// Logs the wall time a fault test took, for the README's table.
pub struct Timed(&'static str, std::time::Instant);

impl Timed {
    pub fn start(name: &'static str) -> Timed {
        Timed(name, std::time::Instant::now())
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        eprintln!(
            "fault matrix: {} took {:.1} s",
            self.0,
            self.1.elapsed().as_secs_f64()
        );
    }
}

/// A bar CSV (Yahoo columns, unix-second times from 2020-01-01 UTC, `step_s` apart) of the bars
/// numbered `range`: bar `i` is always the same bar, so a longer range extends a shorter one.
pub fn bars_csv(range: std::ops::Range<usize>, step_s: i64) -> String {
    let mut s = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
    for i in range {
        let c = 100.0 + (i as f64 * 0.7).sin() * 5.0 + (i % 1000) as f64 * 0.01;
        s.push_str(&format!(
            "{},{:.4},{:.4},{:.4},{c:.4},{c:.4},{}\n",
            1_577_836_800 + i as i64 * step_s,
            c - 0.5,
            c + 1.0,
            c - 1.0,
            1_000_000 + (i % 5000) * 1000
        ));
    }
    s
}
