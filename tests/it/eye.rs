//! Eye under a running supervisor: `/health` goes 503 while a module is down and back to 200
//! once it recovers, over real HTTP to the real `aivex run`.

use crate::harness::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// GET `path`; (status, JSON body) or None when Eye is not answering (yet).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, Value)> {
    http(addr, "GET", path, None)
}

fn wait_health(addr: SocketAddr, what: &str, want: u16, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + secs(30.0);
    let mut last = None;
    while Instant::now() < end {
        if let Some((status, body)) = get(addr, "/health") {
            if status == want && f(&body) {
                return body;
            }
            last = Some((status, body));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: /health never answered {want} as expected; last: {last:?}");
}

#[test]
fn health_follows_a_module_crash_and_recovery() {
    let env = Env::new("eye-health");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0.5\nbackoff_cap_s = 1\nstop_grace_s = 2\nstatus_interval_s = 0.5\n\
         heartbeat_ttl_s = 0\nstart_stagger_s = 0\ncrash_loop_count = 1000\ncrash_loop_window_s = 1\nmax_restarts = 1000\n\
         [runtime]\nenabled = [\"eye\", \"flaky\"]\n[eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    // Runs until ../../crash exists; while it exists every start exits 1 at once.
    env.sh_module(
        "flaky",
        "while true; do if [ -e ../../crash ]; then exit 1; fi; sleep 0.1; done",
        "",
    );
    let mut sup = env.start(&[]);
    let body = wait_health(addr, "healthy at start", 200, |b| {
        b["modules"]["flaky"]["state"] == "RUNNING"
    });
    assert_eq!(body["status"], "ok");

    env.write("crash", "");
    let body = wait_health(addr, "degraded while flaky is down", 503, |b| {
        matches!(
            b["modules"]["flaky"]["state"].as_str(),
            Some("CRASHED" | "RESTARTING")
        )
    });
    assert_eq!(body["status"], "degraded");
    assert!(
        body["failing"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c == "modules"),
        "{body}"
    );

    let _ = std::fs::remove_file(env.path("crash"));
    let body = wait_health(addr, "healthy after recovery", 200, |b| {
        b["modules"]["flaky"]["state"] == "RUNNING"
            && b["modules"]["flaky"]["restarts"].as_u64() >= Some(1)
    });
    assert_eq!(body["failing"], serde_json::json!([]));

    let (status, modules) = get(addr, "/modules").unwrap_or((0, Value::Null));
    assert_eq!(status, 200);
    assert_eq!(modules["modules"]["eye"]["state"], "RUNNING");
    assert_eq!(sup.stop(), Some(0));
}
