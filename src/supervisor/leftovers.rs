//! Leftover processes of a supervisor that was SIGKILLed.
//!
//! Module processes die with the supervisor (parent-death signal), but their own children may
//! survive. The supervisor records every live module process group in
//! `data_dir/state/groups.json` (pgid, the leader's start time, the session id, and the run id);
//! the next supervisor on the same data dir kills what remains of those groups before it starts
//! anything. A process is only touched when it is provably ours:
//! - the same boot, and the group's leader either gone or with the recorded start time;
//! - the process started no earlier than the group;
//! - it is in the recorded session (modules never leave the supervisor's session, a daemon's
//!   child that reused the id lives in its daemon's);
//! - its environment (`/proc/PID/environ`) carries the recorded run's `AIVEX_RUN_ID`.
//!
//! The last two close the case where a recorded group died out, its id went to an unrelated
//! group whose leader then exited too: start times alone cannot tell those apart. A record
//! without a session or run id (written by an older aivex) is not acted on. `plan` is pure; this
//! file must not kill anything `plan` did not choose.
//!
//! A process in no recorded group is killed when its environment carries the recorded run's
//! `AIVEX_RUN_ID`: a module forked in the moment between fork and its group's record (the
//! supervisor SIGKILLed right then), and anything it started. A run id names one supervisor of
//! one boot.

use super::child::parse_stat;
use aivex_core::contract::RunLayout;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub module: String,
    pub pgid: i32,
    pub starttime: u64,
    /// Session id of the group (0: not recorded, by an older aivex).
    #[serde(default)]
    pub sid: i32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    boot_id: String,
    supervisor_pid: u32,
    /// The run whose modules these groups are: their `AIVEX_RUN_ID` ("" from an older aivex).
    #[serde(default)]
    run_id: String,
    groups: Vec<Group>,
}

/// The variable every module process (and what it starts) inherits from its run.
const RUN_ID_VAR: &[u8] = b"AIVEX_RUN_ID=";

/// Largest `/proc/PID/environ` read; the kernel caps a process's initial environment near this.
const MAX_ENVIRON: u64 = 4 << 20;

pub fn path(data_dir: &Path) -> PathBuf {
    RunLayout::new(data_dir).groups()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Rewrites the record of live groups of run `run_id`.
pub fn save(data_dir: &Path, run_id: &str, groups: &[Group]) {
    let f = File {
        boot_id: boot_id(),
        supervisor_pid: std::process::id(),
        run_id: run_id.to_string(),
        groups: groups.to_vec(),
    };
    let _ = std::fs::create_dir_all(RunLayout::new(data_dir).state_dir());
    let _ =
        aivex_platform::write_atomic(&path(data_dir), &serde_json::to_vec(&f).unwrap_or_default());
}

/// A process seen in /proc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proc {
    pub pid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub starttime: u64,
}

/// What to do with the processes found in recorded groups.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Provably ours: kill.
    pub kill: Vec<i32>,
    /// In a recorded group id but not ours (another session, or not from the recorded run):
    /// leave alone.
    pub spare: Vec<i32>,
}

/// Decides which processes of recorded groups to kill. Pure: `run_id_of(pid)` is the
/// `AIVEX_RUN_ID` in a process's environment, read by the caller (None: absent or unreadable).
pub fn plan(
    run_id: &str,
    groups: &[Group],
    procs: &[Proc],
    me: i32,
    run_id_of: &dyn Fn(i32) -> Option<String>,
) -> Plan {
    let mut out = Plan::default();
    for g in groups {
        let members = procs.iter().filter(|p| p.pgid == g.pgid && p.pid != me);
        let leader = procs.iter().find(|p| p.pid == g.pgid);
        let group_ours =
            !run_id.is_empty() && g.sid > 0 && leader.is_none_or(|l| l.starttime == g.starttime);
        for p in members {
            let ours = group_ours
                && p.starttime >= g.starttime
                && p.sid == g.sid
                && run_id_of(p.pid).as_deref() == Some(run_id);
            if ours {
                out.kill.push(p.pid);
            } else {
                out.spare.push(p.pid);
            }
        }
    }
    // A module forked in the moment before its group was recorded (the supervisor SIGKILLed
    // between fork and the record) is in no recorded group, but it and whatever it started
    // carry the recorded run's id in their initial environment: a run id names one supervisor
    // of one boot, so nothing else has it.
    if !run_id.is_empty() {
        for p in procs {
            let grouped = groups.iter().any(|g| g.pgid == p.pgid);
            if !grouped && p.pid != me && run_id_of(p.pid).as_deref() == Some(run_id) {
                out.kill.push(p.pid);
            }
        }
    }
    for v in [&mut out.kill, &mut out.spare] {
        v.sort_unstable();
        v.dedup();
    }
    out.spare.retain(|p| !out.kill.contains(p));
    out
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
                sid: s.sid,
                starttime: s.starttime,
            })
        })
        .collect()
}

/// `AIVEX_RUN_ID` from a NUL-separated environment block. Pure.
pub fn run_id_in(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(RUN_ID_VAR))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The `AIVEX_RUN_ID` a process was started with (its initial environment).
fn environ_run_id(pid: i32) -> Option<String> {
    let mut buf = Vec::new();
    std::fs::File::open(format!("/proc/{pid}/environ"))
        .ok()?
        .take(MAX_ENVIRON)
        .read_to_end(&mut buf)
        .ok()?;
    run_id_in(&buf)
}

/// Kills leftovers recorded by an earlier supervisor on this data dir; returns how many.
pub fn reap_previous(data_dir: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path(data_dir)) else {
        return 0;
    };
    let Ok(f) = serde_json::from_slice::<File>(&bytes) else {
        return 0;
    };
    if f.boot_id != boot_id() || (f.groups.is_empty() && f.run_id.is_empty()) {
        return 0;
    }
    if f.run_id.is_empty() || f.groups.iter().any(|g| g.sid <= 0) {
        log::warn!(
            "{} has no session or run id (written by an older aivex): its process groups {:?} are \
             not checked for leftovers",
            path(data_dir).display(),
            f.groups.iter().map(|g| g.pgid).collect::<Vec<_>>()
        );
    }
    let p = plan(
        &f.run_id,
        &f.groups,
        &list_procs(),
        std::process::id() as i32,
        &environ_run_id,
    );
    for &pid in &p.kill {
        // SAFETY: kill(2) on a pid that plan() proved belongs to one of our old groups.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    if !p.spare.is_empty() {
        log::warn!(
            "left alone {} process(es) {:?} that now use a recorded process group id but are not \
             from run {} (another session or no matching AIVEX_RUN_ID)",
            p.spare.len(),
            p.spare,
            f.run_id
        );
    }
    if !p.kill.is_empty() {
        log::warn!(
            "killed {} leftover process(es) of a previous supervisor (pid {}) in groups {:?}",
            p.kill.len(),
            f.supervisor_pid,
            f.groups
                .iter()
                .map(|g| format!("{}:{}", g.module, g.pgid))
                .collect::<Vec<_>>()
        );
    }
    p.kill.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "20260101T000000Z-42";
    const SID: i32 = 7;

    fn g(pgid: i32, st: u64) -> Group {
        Group {
            module: "m".into(),
            pgid,
            starttime: st,
            sid: SID,
        }
    }
    fn p(pid: i32, pgid: i32, st: u64) -> Proc {
        Proc {
            pid,
            pgid,
            sid: SID,
            starttime: st,
        }
    }
    /// Every process carries the recorded run id except those listed.
    fn env_without(strangers: &'static [i32]) -> impl Fn(i32) -> Option<String> {
        move |pid| (!strangers.contains(&pid)).then(|| RUN.to_string())
    }
    fn kill(groups: &[Group], procs: &[Proc], me: i32, strangers: &'static [i32]) -> Vec<i32> {
        plan(RUN, groups, procs, me, &env_without(strangers)).kill
    }

    #[test]
    fn plan_only_hits_provably_ours() {
        // Leader gone, grandchild left in the group: killed; a stranger elsewhere is not.
        assert_eq!(
            kill(&[g(100, 50)], &[p(101, 100, 60), p(5, 5, 1)], 1, &[5]),
            vec![101]
        );
        // Leader alive with the recorded start time (supervisor died, leader somehow alive).
        assert_eq!(
            kill(&[g(100, 50)], &[p(100, 100, 50), p(101, 100, 60)], 1, &[]),
            vec![100, 101]
        );
        // The pgid was reused by an unrelated new group: its leader's start time differs.
        let reused = plan(
            RUN,
            &[g(100, 50)],
            &[p(100, 100, 900), p(101, 100, 901)],
            1,
            &env_without(&[]),
        );
        assert_eq!(
            reused,
            Plan {
                kill: vec![],
                spare: vec![100, 101]
            }
        );
        // Never ourselves, never a process older than the group.
        assert_eq!(
            kill(&[g(100, 50)], &[p(7, 100, 60), p(8, 100, 10)], 7, &[]),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn a_reused_group_whose_leader_is_gone_is_spared() {
        // The recorded group died out; its id went to a daemon's child group whose leader
        // exited too. Start times cannot tell: the session and the run id do.
        let other_session = Proc {
            sid: 999,
            ..p(101, 100, 60)
        };
        let got = plan(
            RUN,
            &[g(100, 50)],
            &[other_session, p(102, 100, 61), p(103, 100, 62)],
            1,
            &env_without(&[102]),
        );
        assert_eq!(
            got,
            Plan {
                kill: vec![103],
                spare: vec![101, 102]
            }
        );
    }

    #[test]
    fn a_module_forked_before_its_record_goes_by_its_run_id() {
        // Group 200 was spawned, the supervisor died before recording it: its processes carry
        // the run id and go; a stranger in no recorded group, and ourselves, stay.
        let procs = [p(201, 200, 70), p(202, 200, 71), p(300, 300, 5), p(7, 7, 1)];
        let got = plan(RUN, &[g(100, 50)], &procs, 7, &env_without(&[300]));
        assert_eq!(
            got,
            Plan {
                kill: vec![201, 202],
                spare: vec![]
            }
        );
        // Without a run id in the record, nothing outside the groups is touched.
        assert!(plan("", &[], &procs, 7, &|_| Some(String::new()))
            .kill
            .is_empty());
    }

    #[test]
    fn records_without_session_or_run_id_kill_nothing() {
        let procs = [p(101, 100, 60)];
        let no_sid = Group {
            sid: 0,
            ..g(100, 50)
        };
        assert!(plan(RUN, &[no_sid], &procs, 1, &env_without(&[]))
            .kill
            .is_empty());
        assert!(plan("", &[g(100, 50)], &procs, 1, &|_| Some(String::new()))
            .kill
            .is_empty());
        // An old file (no sid, no run_id fields) still parses.
        let old = r#"{"boot_id":"b","supervisor_pid":3,"groups":[{"module":"m","pgid":9,"starttime":1}]}"#;
        let f: File = serde_json::from_str(old).unwrap();
        assert_eq!((f.run_id.as_str(), f.groups[0].sid), ("", 0));
    }

    #[test]
    fn run_id_is_read_from_an_environment_block() {
        let block = b"PATH=/bin\0AIVEX_RUN_ID=r-1\0AIVEX_RUN_IDX=no\0";
        assert_eq!(run_id_in(block).as_deref(), Some("r-1"));
        assert_eq!(run_id_in(b"X_AIVEX_RUN_ID=r\0PATH=/bin"), None);
        assert_eq!(run_id_in(b""), None);
        // Our own environment, read through /proc like any other process's.
        let me = std::process::id() as i32;
        assert_eq!(
            environ_run_id(me),
            std::env::var("AIVEX_RUN_ID").ok(),
            "our own /proc environ"
        );
    }
}
