//! systemd integration of the real supervisor: sd_notify messages and their order, watchdog
//! pings that stop when the loop is wedged, journald log prefixes, the disk budget.

use crate::harness::*;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn recv_all(sock: &UnixDatagram, for_: Duration) -> Vec<String> {
    let end = Instant::now() + for_;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

fn recv_until(sock: &UnixDatagram, deadline: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + deadline;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = pred(&m);
            out.push(m);
            if done {
                return out;
            }
        }
    }
    panic!("no matching notify message within {deadline:?}; got {out:?}");
}

#[test]
fn sd_notify_ready_status_watchdog_reload_stopping() {
    let env = Env::new("notify");
    env.config("[runtime]\nenabled = [\"a\", \"b\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    env.sh_module("b", "exec sleep 1000", "");
    let sock_path = env.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let wedge = env.path("wedge");
    let mut child = env
        .cmd(&["run", "--config", "aivex.toml"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .env("AIVEX_DEBUG_WEDGE_FILE", &wedge)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(env.path("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let first = recv_until(&sock, secs(10.0), |m| m.contains("READY=1"));
    // READY comes once every module has started: both are running by then.
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["a"]["state"], "RUNNING");
    assert_eq!(s["modules"]["b"]["state"], "RUNNING");
    let more = recv_all(&sock, secs(1.5));
    let all: Vec<&String> = first.iter().chain(more.iter()).collect();
    assert!(
        all.iter().any(|m| m.starts_with("STATUS=[AIVEX] a=")),
        "{all:?}"
    );
    let pings = more.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(
        pings >= 3,
        "expected a ping every 0.2 s, got {pings}: {more:?}"
    );

    // A wedged loop stops pinging; when it recovers the pings come back.
    std::fs::write(&wedge, "").unwrap();
    // At most one pass can still be under way; drop what it sent before the loop hung.
    std::thread::sleep(secs(0.5));
    recv_all(&sock, secs(0.1));
    let during = recv_all(&sock, secs(1.2));
    assert_eq!(
        during.iter().filter(|m| m.contains("WATCHDOG=1")).count(),
        0,
        "{during:?}"
    );
    std::fs::remove_file(&wedge).unwrap();
    recv_until(&sock, secs(5.0), |m| m.contains("WATCHDOG=1"));

    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let msgs = recv_until(&sock, secs(5.0), |m| m.contains("READY=1"));
    let reloading = msgs
        .iter()
        .position(|m| m.contains("RELOADING=1"))
        .expect("RELOADING=1");
    assert!(msgs[reloading].contains("MONOTONIC_USEC="), "{msgs:?}");

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    recv_until(&sock, secs(5.0), |m| m.contains("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn journald_gets_priority_prefixes_and_no_timestamps() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("journald");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", "exit 0", "");
    let err = std::fs::File::create(env.path("stderr.txt")).unwrap();
    let meta = err.metadata().unwrap();
    let out = env
        .cmd(&["run", "--config", "aivex.toml", "--mode", "once"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .status()
        .unwrap();
    assert!(out.success());
    let log = env.stderr();
    assert!(log.lines().count() > 2, "{log}");
    for line in log.lines() {
        assert!(
            line.starts_with("<6>")
                || line.starts_with("<4>")
                || line.starts_with("<3>")
                || line.starts_with("<7>"),
            "{line}"
        );
        assert!(
            !line.contains("T2") || !line[3..].starts_with("20"),
            "timestamp in {line}"
        );
    }
    // JSON lines on request.
    let out = env
        .cmd(&["run", "--config", "aivex.toml", "--mode", "once"])
        .env("AIVEX_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let v: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(v["level"], "INFO");
}

#[test]
fn old_runs_are_pruned_to_the_budget() {
    let env = Env::new("budget");
    env.config("[runtime]\nenabled = [\"a\"]\nkeep_runs = 2\n");
    env.sh_module("a", "exit 0", "");
    for _ in 0..4 {
        let out = env.run(
            &["run", "--config", "aivex.toml", "--mode", "once"],
            secs(20.0),
        );
        assert!(out.status.success());
        std::thread::sleep(secs(1.1)); // run ids have one-second resolution
    }
    let runs: Vec<String> = std::fs::read_dir(env.path("data/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "current" && !n.starts_with('.'))
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
}
