//! Leftover cleanup after a supervisor SIGKILL must never touch an unrelated process that now
//! uses a recorded process group id: a real supervisor records its groups, is SIGKILLed, and
//! the record is then pointed at process groups this test started itself (the reuse a busy
//! box produces by chance). Only the group that is provably the run's is killed.

use crate::harness::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// (session id, start time) of a process, from /proc/PID/stat.
fn sid_and_start(pid: i32) -> (i32, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    (f[3].parse().unwrap(), f[19].parse().unwrap())
}

fn sleeper() -> Command {
    let mut c = Command::new("sleep");
    c.arg("1000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("AIVEX_RUN_ID");
    c
}

/// Kills (and reaps) what the test started, whatever happens.
#[derive(Default)]
struct Reaper {
    pids: Vec<i32>,
    children: Vec<Child>,
}

impl Reaper {
    fn child(&mut self, c: Child) -> i32 {
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in &self.pids {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn cleanup_spares_an_unrelated_group_that_reuses_a_recorded_pgid() {
    let env = Env::new("reuse");
    env.config("[runtime]\nenabled = [\"m\"]\n");
    env.sh_module("m", "echo $$ > ../../m.pid; exec sleep 1000", "");
    let mut sup = env.start(&[]);
    let m = env.read_pid("m.pid", secs(10.0));
    let groups_path = env.path("data/state/groups.json");
    wait_for("the group to be recorded", secs(5.0), || {
        let text = std::fs::read_to_string(&groups_path).ok()?;
        text.contains(&format!("\"pgid\":{m}")).then_some(())
    });
    sup.signal(libc::SIGKILL);
    sup.wait(secs(5.0));
    wait_dead(m, secs(5.0));
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&groups_path).unwrap()).unwrap();
    let run_id = record["run_id"].as_str().unwrap().to_string();
    let recorded_sid = record["groups"][0]["sid"].as_i64().unwrap() as i32;
    assert!(recorded_sid > 0, "{record}");

    // A: the hole. A group of its own whose leader has exited (a daemon's child group), in the
    // recorded session, not started by the run: the leader check cannot tell it from ours.
    let mut sh = Command::new("sh");
    sh.args(["-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"])
        .stdout(Stdio::piped())
        .env_remove("AIVEX_RUN_ID")
        .process_group(0);
    let sh = sh.spawn().unwrap();
    let a_pgid = sh.id() as i32;
    let out = sh.wait_with_output().unwrap();
    let a: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let mut reaper = Reaper::default();
    reaper.pids.push(a);
    assert!(!alive(a_pgid), "the group's leader must be gone");
    let (a_sid, a_start) = sid_and_start(a);
    assert_eq!(a_sid, recorded_sid, "A runs in the recorded session");

    // B: the run's id in its environment and the recorded start time, but a session (and so a
    // group) of its own, as a daemon makes with setsid.
    let mut setsid = Command::new("setsid");
    setsid
        .args(["sleep", "1000"])
        .stdin(Stdio::null())
        .env("AIVEX_RUN_ID", &run_id);
    let b = reaper.child(setsid.spawn().unwrap());
    wait_for("setsid to make its session", secs(5.0), || {
        (sid_and_start(b).0 == b).then_some(())
    });
    let (_, b_start) = sid_and_start(b);

    // C: provably the run's (recorded session, its run id, its own group): must still go.
    let c = reaper.child(
        sleeper()
            .env("AIVEX_RUN_ID", &run_id)
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let (_, c_start) = sid_and_start(c);

    let group = |pgid: i32, start: u64| serde_json::json!({"module": "m", "pgid": pgid, "starttime": start, "sid": recorded_sid});
    record["groups"] =
        serde_json::json!([group(a_pgid, a_start), group(b, b_start), group(c, c_start)]);
    std::fs::write(&groups_path, record.to_string()).unwrap();

    let mut sup2 = env.start(&[]);
    wait_dead(c, secs(10.0));
    env.wait_module("m", "RUNNING", secs(10.0));
    assert!(
        alive(a),
        "the unrelated process in a reused group was killed"
    );
    assert!(alive(b), "the process in another session was killed");
    let err = env.stderr();
    assert!(
        err.contains("left alone 2 process(es)") && err.contains("killed 1 leftover"),
        "{err}"
    );
    assert_eq!(sup2.stop(), Some(0));
}
