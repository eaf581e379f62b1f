//! What each module costs, from `/proc`: CPU time, resident and proportional memory, open file
//! descriptors and threads, summed over the module's process group (its children included),
//! read on the status-line timer by one pass over `/proc` (no process of its own, no thread, no
//! timer of its own). The CPU share over the last interval and the `max_rss_mb` decision (two
//! consecutive looks above the limit) are pure functions of the samples and `now`.
//!
//! It must not signal or stop anything: the loop feeds `Input::MemoryLimit` to the policy.

use super::policy::Mono;
use std::collections::HashMap;
use std::io::Read;

/// The fields of `/proc/PID/stat` accounting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pgid: i32,
    /// utime + stime + cutime + cstime: its own CPU time and that of the children it reaped.
    pub cpu_ticks: u64,
    pub threads: u32,
    pub rss_pages: u64,
}

/// Parses `/proc/PID/stat` (fields counted from the last `)`: the command may hold anything).
pub fn parse_stat(stat: &str) -> Option<ProcStat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(ProcStat {
        pgid: f.get(2)?.parse().ok()?,
        cpu_ticks: num(11)? + num(12)? + num(13)? + num(14)?,
        threads: u32::try_from(num(17)?).ok()?,
        rss_pages: num(21)?,
    })
}

/// The `Pss:` line of `/proc/PID/smaps_rollup`, in bytes.
pub fn parse_pss(rollup: &str) -> Option<u64> {
    rollup.lines().find_map(|l| {
        let kb = l.strip_prefix("Pss:")?.trim().strip_suffix("kB")?.trim();
        kb.parse::<u64>().ok().map(|k| k * 1024)
    })
}

/// One process group's figures at a look.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub cpu_s: f64,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub fds: u32,
    pub threads: u32,
    /// Processes in the group.
    pub procs: u32,
}

fn sysconf(name: libc::c_int, fallback: u64) -> u64 {
    // SAFETY: sysconf reads a constant of the running system.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(fallback)
}

/// Reads a small /proc file into `buf` (reused between calls so a look allocates little).
fn read_into(path: &str, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .is_ok()
}

/// One pass over `/proc`: the figures of every process group in `pgids`. Processes that exit
/// during the pass are skipped. With `detail` false only CPU, RSS and threads are read (enough
/// for `max_rss_mb`; no smaps or fd directory per process).
pub fn scan(pgids: &[i32], detail: bool) -> HashMap<i32, Usage> {
    let mut out: HashMap<i32, Usage> = pgids.iter().map(|p| (*p, Usage::default())).collect();
    if pgids.is_empty() {
        return out;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let tick = sysconf(libc::_SC_CLK_TCK, 100) as f64;
    let page = sysconf(libc::_SC_PAGESIZE, 4096);
    let mut buf = Vec::with_capacity(1024);
    let mut path = String::with_capacity(32);
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        path.clear();
        path.push_str("/proc/");
        path.push_str(pid);
        let base = path.len();
        path.push_str("/stat");
        if !read_into(&path, &mut buf) {
            continue;
        }
        let Some(st) = std::str::from_utf8(&buf).ok().and_then(parse_stat) else {
            continue;
        };
        let Some(u) = out.get_mut(&st.pgid) else {
            continue;
        };
        u.procs += 1;
        u.cpu_s += st.cpu_ticks as f64 / tick;
        u.rss_bytes += st.rss_pages * page;
        u.threads += st.threads;
        if !detail {
            continue;
        }
        path.truncate(base);
        path.push_str("/smaps_rollup");
        if read_into(&path, &mut buf) {
            u.pss_bytes += std::str::from_utf8(&buf)
                .ok()
                .and_then(parse_pss)
                .unwrap_or(0);
        }
        path.truncate(base);
        path.push_str("/fd");
        if let Ok(fds) = std::fs::read_dir(&path) {
            u.fds += fds.count() as u32;
        }
    }
    out
}

/// The previous CPU sample of a module, for its share over the interval since.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSample {
    /// The process group (leader pid) it was taken of.
    pub pgid: i32,
    pub cpu_s: f64,
    pub at: Mono,
}

/// CPU use in % of one core since the previous sample of the same process group, or since the
/// group started when it is new. None when no time has passed.
pub fn cpu_pct(
    prev: Option<CpuSample>,
    pgid: i32,
    cpu_s: f64,
    now: Mono,
    started_at: Mono,
) -> Option<f64> {
    let (base_cpu, since) = match prev {
        Some(p) if p.pgid == pgid => (p.cpu_s, p.at),
        _ => (0.0, started_at),
    };
    let dt = now.saturating_sub(since).as_secs_f64();
    (dt > 0.0).then(|| ((cpu_s - base_cpu).max(0.0) / dt * 100.0 * 100.0).round() / 100.0)
}

/// Looks in a row above `max_rss_mb` before the module is stopped.
pub const OVER_LIMIT_LOOKS: u8 = 2;

/// The `max_rss_mb` rule: the new count of consecutive looks above the limit, and whether this
/// look is the one that stops the module.
pub fn over_limit(rss_bytes: u64, max_rss_mb: Option<u64>, streak: u8) -> (u8, bool) {
    match max_rss_mb {
        Some(mb) if rss_bytes > mb.saturating_mul(1 << 20) => {
            let n = streak.saturating_add(1);
            (n, n == OVER_LIMIT_LOOKS)
        }
        _ => (0, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_proc_files() {
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 7 3 20 0 4 0 987654 10000000 2560";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pgid: 4242,
                cpu_ticks: 210,
                threads: 4,
                rss_pages: 2560
            })
        );
        assert_eq!(parse_stat("1 (x) S 1"), None);
        let rollup = "55d0-7ff r 0 0:0 0 [rollup]\nRss:                1440 kB\nPss:                 512 kB\nPss_Anon: 100 kB\n";
        assert_eq!(parse_pss(rollup), Some(512 * 1024));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
    }

    #[test]
    fn scans_a_real_process_group() {
        // This test process's own group: at least itself, with memory, threads and fds.
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() };
        let got = scan(&[pgid], true)[&pgid];
        assert!(got.procs >= 1, "{got:?}");
        assert!(got.rss_bytes > 1 << 20, "{got:?}");
        assert!(
            got.pss_bytes > 0 && got.fds >= 3 && got.threads >= 1,
            "{got:?}"
        );
        let lean = scan(&[pgid], false)[&pgid];
        assert_eq!((lean.pss_bytes, lean.fds), (0, 0));
        assert_eq!(scan(&[], true).len(), 0);
        // A group nobody is in reads as empty.
        assert_eq!(scan(&[i32::MAX], true)[&i32::MAX], Usage::default());
    }

    #[test]
    fn cpu_share_table() {
        let s = Duration::from_secs;
        let prev = Some(CpuSample {
            pgid: 10,
            cpu_s: 2.0,
            at: s(100),
        });
        // (prev, pgid, cpu_s, now, started_at) -> pct
        let rows = [
            (prev, 10, 5.0, s(130), s(0), Some(10.0)),
            (prev, 10, 2.0, s(130), s(0), Some(0.0)),
            // A new process group: its whole life since it started.
            (prev, 11, 1.0, s(130), s(120), Some(10.0)),
            (None, 10, 3.0, s(130), s(100), Some(10.0)),
            // Children that exited unreaped take their time with them: never negative.
            (prev, 10, 1.0, s(130), s(0), Some(0.0)),
            (prev, 10, 1.0, s(100), s(0), None),
        ];
        for (prev, pgid, cpu, now, started, want) in rows {
            assert_eq!(
                cpu_pct(prev, pgid, cpu, now, started),
                want,
                "{prev:?} {pgid}"
            );
        }
    }

    #[test]
    fn memory_limit_table() {
        let mb = 1u64 << 20;
        // (rss, limit, streak) -> (streak, stop now)
        let rows = [
            (10 * mb, None, 0, (0, false)),
            (10 * mb, Some(20), 1, (0, false)),
            (20 * mb, Some(20), 0, (0, false)),
            (21 * mb, Some(20), 0, (1, false)),
            (21 * mb, Some(20), 1, (2, true)),
            // Still above after the stop was asked for: no second stop.
            (21 * mb, Some(20), 2, (3, false)),
            (5 * mb, Some(20), 2, (0, false)),
        ];
        for (rss, limit, streak, want) in rows {
            assert_eq!(
                over_limit(rss, limit, streak),
                want,
                "{rss} {limit:?} {streak}"
            );
        }
    }
}
