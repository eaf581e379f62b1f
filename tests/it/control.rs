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
