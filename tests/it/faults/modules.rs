//! Fault matrix, module rows: a module frozen by SIGSTOP, a module forking until its process
//! limit, a module killed by the OOM killer, a module spewing to stdout. Each time another
//! module keeps beating untouched: one module's fault stays that module's.

use super::*;
use std::time::{Duration, Instant};

fn pid_of(s: &serde_json::Value, m: &str) -> Option<i32> {
    s["modules"][m]["pid"].as_i64().map(|p| p as i32)
}

/// History events of module `m` (parsed lines of `history.jsonl`).
fn history_of(env: &Env, m: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.run_dir().join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["module"] == m)
        .collect()
}

#[test]
fn fault_sigstopped_module_is_killed_and_restarted() {
    let _t = Timed::start("fault_sigstopped_module_is_killed_and_restarted");
    let env = Env::new("f-stop");
    env.config(
        "[watchdog]\nbackoff_base_s = 0.1\nstatus_interval_s = 1\nheartbeat_ttl_s = 1\n\
         stop_grace_s = 1\nstart_stagger_s = 0\n[runtime]\nenabled = [\"frozen\", \"steady\"]\n",
    );
    env.sh_module("frozen", HB_LOOP, "");
    env.sh_module("steady", HB_LOOP, "");
    let mut sup = env.start(&[]);
    let s = env.wait_state("frozen beating", secs(15.0), |s| {
        pid_of(s, "frozen").is_some()
            && s["modules"]["frozen"]["heartbeat_age_s"].as_f64() < Some(0.5)
    });
    let old = pid_of(&s, "frozen").unwrap();
    // The whole group stops: the shell and its `sleep`. SIGTERM cannot move a stopped process,
    // so only the escalation to SIGKILL after the grace ends it.
    // SAFETY: kill(2) on the module's own process group (it leads one).
    assert_eq!(unsafe { libc::kill(-old, libc::SIGSTOP) }, 0);
    let s = env.wait_state("a fresh frozen instance beating", secs(20.0), |s| {
        let m = &s["modules"]["frozen"];
        pid_of(s, "frozen").is_some_and(|p| p != old)
            && m["state"] == "RUNNING"
            && m["heartbeat_age_s"].as_f64() < Some(0.5)
    });
    wait_dead(old, secs(5.0));
    let m = &s["modules"]["frozen"];
    assert!(m["restarts"].as_u64() >= Some(1), "{s}");
    let reason = m["last_exit"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("stale heartbeat"), "{s}");
    let exits: Vec<_> = history_of(&env, "frozen")
        .into_iter()
        .filter(|e| e["event"] == "exit")
        .collect();
    assert_eq!(
        exits[0]["signal"], 9,
        "a stopped module ends by SIGKILL: {exits:?}"
    );
    let recs = crash_records(&env, "frozen");
    assert!(
        recs.iter().any(|r| r["class"] == "StaleHeartbeat"),
        "{recs:?}"
    );
    // The other module never missed a beat.
    assert_eq!(s["modules"]["steady"]["restarts"], 0, "{s}");
    assert!(
        s["modules"]["steady"]["heartbeat_age_s"].as_f64() < Some(0.9),
        "{s}"
    );
    assert_eq!(sup.stop(), Some(0));
}

/// Forks sleepers until fork fails, prints how many it got, exits 1.
const BOMB: &str = r#"import os, sys, time
n = 0
try:
    while n < 5000:
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
        n += 1
except OSError as e:
    print('fork refused after', n, 'children:', e.strerror, flush=True)
time.sleep(0.5)
sys.exit(1)
"#;

/// Processes of a uid (from /proc; a process that vanished mid-walk is skipped).
fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    let l = s.lines().find(|l| l.starts_with("Uid:"))?.to_string();
                    l.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(uid)
                && alive(*pid)
        })
        .collect()
}

#[test]
fn fault_fork_bomb_stops_at_its_process_limit() {
    let _t = Timed::start("fault_fork_bomb_stops_at_its_process_limit");
    // RLIMIT_NPROC counts the processes of a real uid and does not bind root, so the bomb runs
    // as a uid of its own (setpriv), which only a root test can switch to.
    if !is_root() {
        cannot_inject(
            "a fork bomb under RLIMIT_NPROC: the test needs root to run it as a uid of its own",
        );
        return;
    }
    let uid = 61000 + std::process::id() % 4000;
    assert!(processes_of(uid).is_empty(), "uid {uid} is in use");
    let env = Env::new("f-fork");
    env.config("[runtime]\nenabled = [\"bomb\", \"steady\"]\n");
    env.write("modules/bomb/bomb.py", BOMB);
    env.module(
        "bomb",
        &format!(
            "command = [\"setpriv\", \"--reuid={uid}\", \"--regid={uid}\", \"--clear-groups\", \
             \"/usr/bin/python3\", \"bomb.py\"]\n\
             sandbox = \"rlimit\"\nmax_processes = 24\n"
        ),
    );
    env.sh_module("steady", HB_LOOP, "heartbeat_ttl_s = 2\n");
    let mut sup = env.start(&[]);
    // Two rounds: the second gets as far as the first only if every child of the first died
    // with it (the limit counts survivors).
    let log = env.path("data/runs/current/logs/bomb.log");
    let lines = wait_for("two refused forks in the bomb's log", secs(30.0), || {
        let text = std::fs::read_to_string(&log).ok()?;
        let counts: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix("fork refused after "))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        (counts.len() >= 2).then_some(counts)
    });
    for n in &lines[..2] {
        // 24 processes for the uid: the bomb itself and at most 23 children.
        assert!((20..=23).contains(n), "children per round: {lines:?}");
    }
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["bomb"]["last_exit"]["code"], 1, "{s}");
    assert_eq!(s["modules"]["steady"]["restarts"], 0, "{s}");
    assert!(
        s["modules"]["steady"]["heartbeat_age_s"].as_f64() < Some(1.0),
        "{s}"
    );
    // The supervisor still answers and still spawns.
    let out = env.run(&["status"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(sup.stop(), Some(0));
    wait_for("no process of the bomb's uid left", secs(10.0), || {
        processes_of(uid).is_empty().then_some(())
    });
}

/// A memory cgroup (v1 `memory.limit_in_bytes` or v2 `memory.max`) of `bytes`, created for the
/// test and removed on drop. None when this host has no writable memory controller.
struct MemCgroup(std::path::PathBuf);

impl MemCgroup {
    fn create(name: &str, bytes: u64) -> Option<MemCgroup> {
        let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        let (dir, knob) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), "memory.limit_in_bytes")
        } else if std::fs::read_to_string(v2.join("cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"))
        {
            (v2.join(name), "memory.max")
        } else {
            return None;
        };
        std::fs::create_dir(&dir).ok()?;
        let cg = MemCgroup(dir);
        std::fs::write(cg.0.join(knob), bytes.to_string()).ok()?;
        // No swap to escape into (v1 with swap accounting, v2): the OOM killer must act.
        let _ = std::fs::write(cg.0.join("memory.swappiness"), "0");
        let _ = std::fs::write(cg.0.join("memory.swap.max"), "0");
        Some(cg)
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        let end = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.0).is_err() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn fault_module_killed_by_the_oom_killer_is_restarted() {
    let _t = Timed::start("fault_module_killed_by_the_oom_killer_is_restarted");
    let env = Env::new("f-oom");
    env.config("[runtime]\nenabled = [\"greedy\", \"steady\"]\n");
    env.sh_module("steady", HB_LOOP, "heartbeat_ttl_s = 2\n");
    let grab = "exec python3 -c 'import time; x = bytearray(400 * 1024 * 1024); print(\"allocated\", flush=True); time.sleep(1000)'";
    let cg = MemCgroup::create(&format!("aivex-it-oom-{}", std::process::id()), 64 << 20);
    match &cg {
        // The module joins the cgroup itself (a fault of the host, not a feature of aivex):
        // the kernel's OOM killer ends it with SIGKILL.
        Some(cg) => env.sh_module(
            "greedy",
            &format!("echo $$ > {}/cgroup.procs && {grab}", cg.0.display()),
            "",
        ),
        // Without a memory controller, the address-space rlimit: the allocation fails instead.
        None => {
            eprintln!("fault matrix: no writable memory cgroup, using the address-space rlimit");
            env.sh_module(
                "greedy",
                grab,
                "sandbox = \"rlimit\"\nmemory_limit = \"200M\"\n",
            )
        }
    };
    let mut sup = env.start(&[]);
    let s = env.wait_state("greedy restarted twice", secs(30.0), |s| {
        s["modules"]["greedy"]["restarts"].as_u64() >= Some(2)
    });
    let exit = &s["modules"]["greedy"]["last_exit"];
    let log = std::fs::read_to_string(env.run_dir().join("logs/greedy.log")).unwrap_or_default();
    assert!(!log.contains("allocated"), "{log}");
    if cg.is_some() {
        assert_eq!(exit["signal"], 9, "{s}");
    } else {
        assert!(log.contains("MemoryError"), "{log}");
    }
    assert!(!crash_records(&env, "greedy").is_empty());
    assert_eq!(s["modules"]["steady"]["restarts"], 0, "{s}");
    assert_eq!(sup.stop(), Some(0));
    drop(cg);
}

/// Writes `total_mb` MiB to stdout paced at `rate_mb` MiB/s, then `spew done N` and a marker.
const SPEW: &str = r#"import os, sys, time
rate, total = int(sys.argv[1]), int(sys.argv[2])
chunk = (b'x' * 1023 + b'\n') * 1024
t0 = time.monotonic()
for i in range(total):
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    ahead = (i + 1) / rate - (time.monotonic() - t0)
    if ahead > 0: time.sleep(ahead)
took = time.monotonic() - t0
print('spew done', total, 'MiB in', round(took, 2), 's', flush=True)
open('../../spew.done', 'w').write(str(took))
time.sleep(1000)
"#;

#[test]
fn fault_module_spewing_stdout_is_capped_and_isolated() {
    let _t = Timed::start("fault_module_spewing_stdout_is_capped_and_isolated");
    let env = Env::new("f-spew");
    env.config("[runtime]\nenabled = [\"spew\", \"steady\"]\nlog_max_kb = 1024\nlog_keep = 2\n");
    env.write("modules/spew/spew.py", SPEW);
    env.module(
        "spew",
        "command = [\"python3\", \"spew.py\", \"50\", \"250\"]\n",
    );
    // steady also logs a line per beat: the output thread must keep serving it.
    env.sh_module(
        "steady",
        "while true; do echo beat; date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 0.1; done",
        "heartbeat_ttl_s = 2\n",
    );
    let mut sup = env.start(&[]);
    let s = env.wait_state("both running", secs(15.0), |s| {
        pid_of(s, "spew").is_some()
            && s["modules"]["steady"]["heartbeat_age_s"].as_f64() < Some(0.5)
    });
    let _ = s;
    let steady_log = env.run_dir().join("logs/steady.log");
    let beats = || {
        std::fs::read_to_string(&steady_log)
            .map(|t| t.lines().filter(|l| *l == "beat").count())
            .unwrap_or(0)
    };
    let beats_before = beats();
    let base = rss_bytes(sup.pid()).unwrap();
    let (mut peak, mut worst_age) = (base, 0.0f64);
    let done = env.path("spew.done");
    let end = Instant::now() + Duration::from_secs(60);
    while !done.exists() {
        assert!(Instant::now() < end, "the spew did not finish within 60 s");
        peak = peak.max(rss_bytes(sup.pid()).unwrap_or(0));
        if let Some(a) = env
            .state()
            .and_then(|s| s["modules"]["steady"]["heartbeat_age_s"].as_f64())
        {
            worst_age = worst_age.max(a);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took: f64 = std::fs::read_to_string(&done).unwrap().parse().unwrap();
    eprintln!(
        "fault matrix: spew 250 MiB in {took:.2} s ({:.0} MiB/s); supervisor RSS {} -> peak {} KiB; \
         steady's oldest heartbeat {worst_age:.2} s",
        250.0 / took,
        base >> 10,
        peak >> 10
    );
    // Every byte went through the supervisor's pipe, and the log kept the newest.
    let logs = env.run_dir().join("logs");
    wait_for("the done line in spew.log", secs(10.0), || {
        std::fs::read_to_string(logs.join("spew.log"))
            .ok()?
            .contains("spew done 250 MiB")
            .then_some(())
    });
    let total: u64 = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("spew.log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    // log_max_kb × (the live file + log_keep rotated ones).
    assert!(total <= 3 * 1024 * 1024, "spew logs hold {total} bytes");
    assert!(!logs.join("spew.log.3").exists());
    assert!(
        peak - base < 16 << 20,
        "supervisor RSS grew from {base} to {peak} bytes"
    );
    assert!(worst_age < 1.5, "steady's heartbeat went {worst_age} s old");
    // Its lines kept arriving while the spew ran (about 10 a second for 5 s).
    let beats_during = beats() - beats_before;
    assert!(
        beats_during >= 10,
        "steady logged {beats_during} beats during the spew"
    );
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["steady"]["restarts"], 0, "{s}");
    assert_eq!(s["modules"]["spew"]["restarts"], 0, "{s}");
    assert_eq!(sup.stop(), Some(0));
}
