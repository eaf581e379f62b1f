//! The control socket against a running supervisor: status, start/stop/restart/reset, reload,
//! and the errors an operator can hit.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

fn sock(env: &Env) -> std::path::PathBuf {
    env.path("data/control.sock")
}

#[test]
fn every_control_command() {
    let env = Env::new("ctl");
    env.config("[runtime]\nenabled = [\"a\", \"b\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    env.sh_module("b", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    env.wait_state("both running", secs(10.0), |s| {
        s["modules"]["a"]["state"] == "RUNNING" && s["modules"]["b"]["state"] == "RUNNING"
    });
    let mode = std::fs::metadata(sock(&env)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let out = env.run(&["status"], secs(10.0));
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains("a ") && stdout.contains("RUNNING") && stdout.contains("pid "),
        "{stdout}"
    );
    let out = env.run(&["status", "--json"], secs(10.0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid_a = v["modules"]["a"]["pid"].as_i64().unwrap();

    assert!(env.run(&["stop", "a"], secs(10.0)).status.success());
    let s = env.wait_module("a", "STOPPED", secs(10.0));
    assert_eq!(s["modules"]["a"]["reason"], "stopped_by_operator");
    assert!(!alive(pid_a as i32));
    let out = env.run(&["status"], secs(10.0));
    assert!(
        text(&out).0.contains("stopped_by_operator"),
        "{:?}",
        text(&out)
    );

    assert!(env.run(&["start", "a"], secs(10.0)).status.success());
    env.wait_module("a", "RUNNING", secs(10.0));
    let pid_b = env.state().unwrap()["modules"]["b"]["pid"].clone();
    assert!(env.run(&["restart", "b"], secs(10.0)).status.success());
    env.wait_state("b restarted", secs(10.0), |s| {
        s["modules"]["b"]["pid"].is_number() && s["modules"]["b"]["pid"] != pid_b
    });
    assert!(env.run(&["reset", "b"], secs(10.0)).status.success());

    let out = env.run(&["reload"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("reloaded"), "{:?}", text(&out));

    let out = env.run(&["stop", "nope"], secs(10.0));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("unknown module \"nope\""),
        "{:?}",
        text(&out)
    );
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn malformed_requests_do_not_hurt_the_supervisor() {
    let env = Env::new("ctlbad");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    env.wait_module("a", "RUNNING", secs(10.0));
    let ask = |bytes: &[u8]| -> String {
        let mut s = UnixStream::connect(sock(&env)).unwrap();
        s.set_read_timeout(Some(secs(10.0))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(ask(b"this is not json\n").contains("malformed request"));
    assert!(ask(b"{\"cmd\":\"detonate\"}\n").contains("\"ok\":false"));
    assert!(ask(&vec![b'x'; 100_000]).contains("too large"));
    assert!(ask(b"\xff\xfe\n").contains("\"ok\":false"));
    // A client that connects and says nothing is dropped after its deadline; meanwhile
    // others are served.
    let _silent = UnixStream::connect(sock(&env)).unwrap();
    assert!(ask(b"{\"cmd\":\"status\"}\n").contains("\"ok\":true"));
    assert_eq!(env.state().unwrap()["modules"]["a"]["state"], "RUNNING");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn no_supervisor_running_is_a_clear_error() {
    let env = Env::new("ctlnone");
    env.config("[runtime]\nenabled = []\n");
    let out = env.run(&["status"], secs(10.0));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("no supervisor is running"),
        "{:?}",
        text(&out)
    );
    let out = env
        .cmd(&["status"])
        .env("AIVEX_CONTROL_SOCKET", env.path("nowhere.sock"))
        .output()
        .unwrap();
    assert!(text(&out).1.contains("nowhere.sock"), "{:?}", text(&out));
}

/// Runs `cmd` to completion within `deadline` (killed and reported otherwise).
fn output_within(
    mut cmd: std::process::Command,
    deadline: std::time::Duration,
) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
    }
}

/// Whether this test process can run a client under another uid (it needs root).
fn can_switch_uid() -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but the tests do not run as root: the control socket's uid check needs a second uid");
    }
    eprintln!("notice: not root, the control socket's foreign-uid test not run");
    false
}

/// `aivex ARGS` as the user nobody (uid 65534), talking to `socket`.
fn as_nobody(env: &Env, socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .current_dir(&env.dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AIVEX_CONTROL_SOCKET", socket);
    output_within(c, secs(10.0))
}

#[test]
fn a_foreign_uid_is_refused_even_when_the_socket_file_lets_it_in() {
    if !can_switch_uid() {
        return;
    }
    let env = Env::new("ctluid");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    let st = env.wait_module("a", "RUNNING", secs(10.0));
    let pid_a = st["modules"]["a"]["pid"].clone();
    let socket = sock(&env);
    // The file mode keeps other users out...
    let out = as_nobody(&env, &socket, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("permission denied on the control socket"),
        "{:?}",
        text(&out)
    );
    // ...and when it does not (an operator's chmod, or the moment between creating and
    // chmod-ing the socket that older versions had), the peer's uid does.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    for args in [&["status"][..], &["stop", "a"]] {
        let out = as_nobody(&env, &socket, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {:?}", text(&out));
        let err = text(&out).1;
        assert!(
            err.contains("permission denied: this supervisor answers only root and uid 0")
                && err.contains("uid 65534"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(env.state().unwrap()["modules"]["a"]["pid"], pid_a);
    assert_eq!(env.state().unwrap()["modules"]["a"]["state"], "RUNNING");
    wait_for("the refusal in the log", secs(5.0), || {
        env.stderr()
            .contains("refused a connection from uid 65534")
            .then_some(())
    });
    // One line for the burst of refusals, not one per connection.
    assert_eq!(
        env.stderr()
            .matches("refused a connection from uid 65534")
            .count(),
        1,
        "{}",
        env.stderr()
    );
    // The owner is still served.
    let out = env.run(&["status"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(sup.stop(), Some(0));
}

/// CPU time (user + system, all threads) of a process in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Sets the open-files limit of another process (prlimit(2)); returns the previous one.
fn set_nofile(pid: i32, new: Option<libc::rlimit>) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let new_ptr = new
        .as_ref()
        .map_or(std::ptr::null(), |n| n as *const libc::rlimit);
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, new_ptr, &mut old) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    old
}

#[test]
fn out_of_file_descriptors_the_control_socket_backs_off_instead_of_spinning() {
    let env = Env::new("ctlemfile");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    env.wait_module("a", "RUNNING", secs(10.0));
    let pid = sup.pid();
    // prlimit(2) on the live supervisor, as an operator (or systemd's LimitNOFILE) could: with
    // a soft limit of 0 every new descriptor fails with EMFILE, so accept(2) does too.
    let original = set_nofile(pid, None);
    let exhausted = libc::rlimit {
        rlim_cur: 0,
        rlim_max: original.rlim_max,
    };
    set_nofile(pid, Some(exhausted));
    let clients: Vec<UnixStream> = (0..20)
        .map(|_| UnixStream::connect(sock(&env)).unwrap())
        .collect();
    wait_for("the accept failure in the log", secs(10.0), || {
        env.stderr()
            .contains("control socket: cannot accept connections")
            .then_some(())
    });
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (t0, c0) = (std::time::Instant::now(), cpu_ticks(pid));
    std::thread::sleep(secs(4.0));
    let (t1, c1) = (std::time::Instant::now(), cpu_ticks(pid));
    let share = (c1 - c0) as f64 / hz / (t1 - t0).as_secs_f64();
    assert!(
        share < 0.10,
        "the supervisor used {:.0} % of a core while out of descriptors",
        share * 100.0
    );
    let err = env.stderr();
    assert_eq!(
        err.matches("cannot accept connections").count(),
        1,
        "logged once per condition, not per failure:\n{err}"
    );
    set_nofile(pid, Some(original));
    wait_for("the recovery in the log", secs(10.0), || {
        env.stderr()
            .contains("control socket: accepting connections again")
            .then_some(())
    });
    drop(clients);
    // The 20 clients were accepted on recovery and count against the connection cap until the
    // supervisor sees them hang up: `status` gets through once it has.
    wait_for(
        "status to answer after the clients left",
        secs(10.0),
        || {
            env.run(&["status"], secs(10.0))
                .status
                .success()
                .then_some(())
        },
    );
    assert_eq!(env.state().unwrap()["modules"]["a"]["state"], "RUNNING");
    assert_eq!(sup.stop(), Some(0));
}
