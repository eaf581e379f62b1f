//! Leftover processes of a supervisor that was SIGKILLed.
//!
//! Module processes die with the supervisor (parent-death signal), but their own children may
//! survive. The supervisor records every live module process group in
//! `data_dir/state/groups.json`; the next supervisor on the same data dir kills what remains of
//! those groups before it starts anything. A group is only touched when it is provably ours:
//! the same boot, and either its leader is gone (Linux never hands out a pid that is still in use
//! as a process group id) or the leader's start time matches the record.

use super::child::parse_stat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub module: String,
    pub pgid: i32,
    pub starttime: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    boot_id: String,
    supervisor_pid: u32,
    groups: Vec<Group>,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("groups.json")
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Rewrites the record of live groups.
pub fn save(data_dir: &Path, groups: &[Group]) {
    let f = File {
        boot_id: boot_id(),
        supervisor_pid: std::process::id(),
        groups: groups.to_vec(),
    };
    let _ = std::fs::create_dir_all(data_dir.join("state"));
    let _ =
        aivex_platform::write_atomic(&path(data_dir), &serde_json::to_vec(&f).unwrap_or_default());
}

/// A process seen in /proc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proc {
    pub pid: i32,
    pub pgid: i32,
    pub starttime: u64,
}

/// Which pids to kill: members of recorded groups whose identity checks out. Pure.
pub fn plan(groups: &[Group], procs: &[Proc], me: i32) -> Vec<i32> {
    let mut victims = Vec::new();
    for g in groups {
        let leader = procs.iter().find(|p| p.pid == g.pgid);
        let ours = match leader {
            None => true,
            Some(l) => l.starttime == g.starttime,
        };
        if !ours {
            continue;
        }
        for p in procs {
            if p.pgid == g.pgid && p.pid != me && p.starttime >= g.starttime {
                victims.push(p.pid);
            }
        }
    }
    victims.sort_unstable();
    victims.dedup();
    victims
}

fn list_procs() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let s = parse_stat(&stat)?;
            Some(Proc {
                pid,
                pgid: s.pgid,
                starttime: s.starttime,
            })
        })
        .collect()
}

/// Kills leftovers recorded by an earlier supervisor on this data dir; returns how many.
pub fn reap_previous(data_dir: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path(data_dir)) else {
        return 0;
    };
    let Ok(f) = serde_json::from_slice::<File>(&bytes) else {
        return 0;
    };
    if f.boot_id != boot_id() || f.groups.is_empty() {
        return 0;
    }
    let victims = plan(&f.groups, &list_procs(), std::process::id() as i32);
    for &pid in &victims {
        // SAFETY: kill(2) on a pid that plan() proved belongs to one of our old groups.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    if !victims.is_empty() {
        log::warn!(
            "killed {} leftover process(es) of a previous supervisor (pid {}) in groups {:?}",
            victims.len(),
            f.supervisor_pid,
            f.groups
                .iter()
                .map(|g| format!("{}:{}", g.module, g.pgid))
                .collect::<Vec<_>>()
        );
    }
    victims.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pgid: i32, st: u64) -> Group {
        Group {
            module: "m".into(),
            pgid,
            starttime: st,
        }
    }
    fn p(pid: i32, pgid: i32, st: u64) -> Proc {
        Proc {
            pid,
            pgid,
            starttime: st,
        }
    }

    #[test]
    fn plan_only_hits_provably_ours() {
        // Leader gone, grandchild left in the group: killed.
        assert_eq!(
            plan(&[g(100, 50)], &[p(101, 100, 60), p(5, 5, 1)], 1),
            vec![101]
        );
        // Leader alive with the recorded start time (supervisor died, leader somehow alive).
        assert_eq!(
            plan(&[g(100, 50)], &[p(100, 100, 50), p(101, 100, 60)], 1),
            vec![100, 101]
        );
        // The pgid was reused by an unrelated new group: its leader's start time differs.
        assert_eq!(
            plan(&[g(100, 50)], &[p(100, 100, 900), p(101, 100, 901)], 1),
            Vec::<i32>::new()
        );
        // Never ourselves, never a process older than the group.
        assert_eq!(
            plan(&[g(100, 50)], &[p(7, 100, 60), p(8, 100, 10)], 7),
            Vec::<i32>::new()
        );
    }
}
