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

/// Everything under `dir`, as text (the logs, crash records and state a run leaves).
fn files_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&files_text(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push_str(&format!(
                "== {}\n{}\n",
                p.display(),
                String::from_utf8_lossy(&b)
            ));
        }
    }
    out
}

#[test]
fn a_non_loopback_listen_needs_a_token_or_allow_anonymous() {
    let env = Env::new("eye-anon");
    let port = free_port();
    let config = |extra: &str| {
        format!("[runtime]\nenabled = [\"eye\"]\n[eye]\nlisten = \"0.0.0.0:{port}\"\n{extra}")
    };
    env.config(&config(""));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    // The [eye] table is checked with the config: `run` and `check-config` refuse it with its
    // file and line (exit 2) before anything starts.
    for args in [
        &["run", "--config", "aivex.toml"][..],
        &["check-config", "--config", "aivex.toml"],
    ] {
        let out = env.run(args, secs(20.0));
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("aivex.toml:")
                && err.contains("[eye] listen \"0.0.0.0:")
                && err.contains("allow_anonymous"),
            "{args:?}: {err}"
        );
    }

    // Said explicitly, it serves (on every address, so on loopback too).
    let env = Env::new("eye-anon-ok");
    env.config(&config("allow_anonymous = true\n"));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    let mut sup = env.start(&[]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_health(addr, "eye serving anonymously", 200, |_| true);
    assert_eq!(sup.stop(), Some(0));
}

/// Ugly database URLs: no piece of the password may appear in `/health`, `/modules`, the logs
/// and records of the run, `aivex status` or `aivex check-config`. Every password is `Zq9x` +
/// something awkward + `Kv3w`; the host is unreachable or the URL unparseable, so the store
/// fails in Eye, brain and the supervisor's automatic migration, and its error is everywhere.
#[test]
fn database_passwords_never_leak_whatever_the_url() {
    let urls = [
        ("raw ?", "mysql://u:Zq9x?Kv3w@127.0.0.1:1/aivex"),
        ("raw #", "mysql://u:Zq9x#Kv3w@127.0.0.1:1/aivex"),
        ("@ in the password", "mysql://u:Zq9x@Kv3w@127.0.0.1:1/aivex"),
        ("missing //", "mysql:u:Zq9xKv3w@127.0.0.1:1/aivex"),
        ("typo'd scheme", "mysql//u:Zq9xKv3w@127.0.0.1:1/aivex"),
        ("percent-encoded", "mysql://u:Zq9x%3FKv3w@127.0.0.1:1/aivex"),
        ("IPv6 host", "mysql://u:Zq9xKv3w@[::1]:1/aivex"),
        ("no user", "mysql://:Zq9xKv3w@127.0.0.1:1/aivex"),
        ("empty password", "mysql://u:@127.0.0.1:1/aivex"),
        ("unicode", "mysql://u:Zq9xé密码Kv3w@127.0.0.1:1/aivex"),
    ];
    let runs: Vec<_> = urls
        .iter()
        .map(|&(what, url)| std::thread::spawn(move || (what, leak_check(what, url))))
        .collect();
    for r in runs {
        let (what, seen) = r.join().unwrap_or_else(|_| ("?", "a run panicked".into()));
        for piece in ["Zq9x", "Kv3w", "é密码", "%3F"] {
            assert!(!seen.contains(piece), "{what}: {piece:?} shown in:\n{seen}");
        }
        assert!(
            seen.contains("***"),
            "{what}: nothing was redacted:\n{seen}"
        );
    }
}

/// Runs a box with `url` as its database and returns everything it showed.
fn leak_check(what: &str, url: &str) -> String {
    let env = Env::new("eye-redact");
    let port = free_port();
    env.config(&format!(
        "[runtime]\nenabled = [\"eye\", \"brain\"]\n[database]\nurl = \"{url}\"\nauto_migrate = true\n\
         [eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    env.module("brain", "builtin = \"brain\"\ninterval_s = 1\n");
    let mut seen = String::new();
    let (o, e) = text(&env.run(&["check-config"], secs(20.0)));
    seen.push_str(&format!("check-config: {o}{e}\n"));
    let mut sup = env.start(&[]);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let health = wait_health(addr, what, 503, |b| {
        b["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == "store" && c["detail"] != "store not probed yet")
    });
    seen.push_str(&format!("/health: {health}\n"));
    let (_, modules) = get(addr, "/modules").unwrap_or((0, Value::Null));
    seen.push_str(&format!("/modules: {modules}\n"));
    // brain fails on the store too: wait until it has exited at least once.
    env.wait_state("brain to fail on the store", secs(20.0), |s| {
        !s["modules"]["brain"]["last_exit"].is_null()
    });
    for args in [&["status"][..], &["status", "--json"][..]] {
        let (o, e) = text(&env.run(args, secs(20.0)));
        seen.push_str(&format!("{args:?}: {o}{e}\n"));
    }
    assert_eq!(sup.stop(), Some(0), "{what}");
    seen.push_str(&format!(
        "supervisor: {}{}\n",
        sup_out(&env),
        files_text(&env.path("data"))
    ));
    seen
}

fn sup_out(env: &Env) -> String {
    format!("{}{}", env.stdout(), env.stderr())
}
