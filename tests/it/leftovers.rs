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

/// Makes a session S of its own (its leader stays, asleep), and in it two process groups:
/// A, whose leader exits at once leaving a sleeper without a run id (a daemon's child group),
/// and C, a sleeper leading its own group with the run id given as the first argument. Prints
/// `A <leader> <sleeper>` and `C <pid>`.
const SESSION: &str = r#"
use POSIX ();
my $run = $ARGV[0];
delete $ENV{AIVEX_RUN_ID};
sub sleeper { open STDOUT, '>', '/dev/null'; open STDIN, '<', '/dev/null'; exec 'sleep', '1000'; POSIX::_exit(127) }
my $lead = fork // die "fork: $!";
if ($lead == 0) {
    POSIX::setpgid(0, 0);
    my $s = fork // die "fork: $!";
    if ($s == 0) { sleeper() }
    syswrite STDOUT, "A $$ $s\n";
    POSIX::_exit(0);
}
POSIX::setpgid($lead, $lead);
waitpid($lead, 0);
my $c = fork // die "fork: $!";
if ($c == 0) { POSIX::setpgid(0, 0); $ENV{AIVEX_RUN_ID} = $run; sleeper() }
POSIX::setpgid($c, $c);
syswrite STDOUT, "C $c\n";
sleeper();
"#;

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
    // Each module leads a session of its own: the recorded session is the module's pid, even
    // where the test's own session leader lies outside the pid namespace (reads as 0).
    assert_eq!(
        record["groups"][0]["sid"].as_i64(),
        Some(m as i64),
        "{record}"
    );

    // The session the record is pointed at, with groups A and C in it.
    let mut reaper = Reaper::default();
    let mut perl = Command::new("perl");
    perl.args(["-e", SESSION, &run_id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .env_remove("AIVEX_RUN_ID");
    // SAFETY: setsid(2) is async-signal-safe and the closure allocates nothing.
    unsafe {
        perl.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut leader = perl.spawn().unwrap();
    let session = leader.id() as i32;
    let out = leader.stdout.take().unwrap();
    reaper.child(leader);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = || {
        rx.recv_timeout(secs(10.0))
            .expect("the session script to report")
    };
    let a_line = line();
    let c_line = line();
    let a: Vec<i32> = a_line
        .split(' ')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    let c: i32 = c_line.strip_prefix("C ").unwrap().parse().unwrap();
    let (a_pgid, a) = (a[0], a[1]);
    reaper.pids.extend([a, c]);
    // The sleepers are announced at fork; C carries the run id only once it has exec'd sleep
    // (its initial environment), which a loaded box can delay past the next supervisor's start.
    for pid in [a, c] {
        wait_for(&format!("{pid} to exec sleep"), secs(10.0), || {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            cmd.starts_with(b"sleep\0").then_some(())
        });
    }

    // A: the hole. A group of its own whose leader has exited, in the recorded session, not
    // started by the run: the leader check cannot tell it from ours.
    assert!(!alive(a_pgid), "the group's leader must be gone");
    let (a_sid, a_start) = sid_and_start(a);
    assert_eq!(a_sid, session, "A runs in the recorded session");

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
    let (c_sid, c_start) = sid_and_start(c);
    assert_eq!(c_sid, session, "C runs in the recorded session");

    let group = |pgid: i32, start: u64| serde_json::json!({"module": "m", "pgid": pgid, "starttime": start, "sid": session});
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
    // The log lines follow the kills: wait for them (C's death alone does not order them).
    let said = || {
        let err = env.stderr();
        err.contains("left alone 2 process(es)") && err.contains("killed 1 leftover")
    };
    let end = std::time::Instant::now() + secs(10.0);
    while !said() && std::time::Instant::now() < end {
        std::thread::sleep(secs(0.02));
    }
    assert!(said(), "{}", env.stderr());
    assert_eq!(sup2.stop(), Some(0));
}
