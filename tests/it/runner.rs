//! The module runner (`aivex module <name>`): exit codes per error class, crash records and
//! their caps, heartbeats during long cycles, SIGTERM handling, and the example external module.

use crate::harness::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn probe(env: &Env, settings: &str, extra: &[(&str, &str)]) -> std::process::Output {
    let run_dir = env.path("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut c = env.cmd(&["module", "probe", "--once"]);
    c.env("AIVEX_SETTINGS", settings)
        .env("AIVEX_RUN_DIR", &run_dir)
        .env("AIVEX_CONFIG_DIR", &env.dir);
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn records(env: &Env) -> Vec<serde_json::Value> {
    let Ok(rd) = std::fs::read_dir(env.path("run/errors/crashes")) else {
        return vec![];
    };
    let mut v: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[test]
fn exit_code_per_error_class() {
    let rows = [
        ("recoverable", 1, "RecoverableError"),
        ("fatal", 3, "FatalError"),
        ("config", 2, "ConfigError"),
        ("external", 75, "ExternalServiceError"),
        ("invalid", 0, "DataValidationError"),
    ];
    for (on_fail, code, class) in rows {
        let env = Env::new("classes");
        let settings = format!(
            r#"{{"targets":[{{"kind":"file","path":"missing.txt","on_fail":"{on_fail}"}}]}}"#
        );
        let out = probe(&env, &settings, &[]);
        assert_eq!(out.status.code(), Some(code), "{on_fail}: {:?}", text(&out));
        let recs = records(&env);
        assert_eq!(recs.len(), 1, "{on_fail}");
        assert_eq!(recs[0]["class"], class);
        assert_eq!(recs[0]["module"], "probe");
        assert_eq!(recs[0]["source"], "module");
        assert!(recs[0]["message"].as_str().unwrap().contains("missing.txt"));
        assert!(recs[0]["settings_hash"].is_string());
        let line = std::fs::read_to_string(env.path("run/errors/probe.log")).unwrap();
        assert!(line.contains(class), "{line}");
    }
    // A healthy target: exit 0, no record.
    let env = Env::new("classes-ok");
    env.write("present.txt", "x");
    let out = probe(
        &env,
        r#"{"targets":[{"kind":"file","path":"present.txt"}]}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(records(&env).is_empty());
}

#[test]
fn unknown_builtin_bad_settings_and_missing_env_are_config_errors() {
    let env = Env::new("cfgerr");
    let out = env.cmd(&["module", "no-such", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("unknown built-in module"),
        "{:?}",
        text(&out)
    );
    let out = probe(&env, "{not json", &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = probe(
        &env,
        "{}",
        &[("AIVEX_REQUIRED_ENV", "AIVEX_TEST_SURELY_UNSET")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("AIVEX_TEST_SURELY_UNSET"));
}

#[test]
fn crash_records_are_capped() {
    let env = Env::new("cap");
    for _ in 0..6 {
        let out = probe(
            &env,
            r#"{"targets":[{"kind":"file","path":"nope","on_fail":"recoverable"}]}"#,
            &[("AIVEX_CRASH_KEEP", "3")],
        );
        assert_eq!(out.status.code(), Some(1));
    }
    assert_eq!(records(&env).len(), 3);
    let log = std::fs::read_to_string(env.path("run/errors/probe.log")).unwrap();
    assert_eq!(
        log.lines().count(),
        6,
        "the text log keeps every line (size-capped)"
    );
}

/// A loopback HTTP server that answers after `delay`.
fn slow_server(delay: Duration) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            std::thread::sleep(delay);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, h)
}

#[test]
fn heartbeat_keeps_beating_during_a_long_cycle() {
    let env = Env::new("longcycle");
    let (url, server) = slow_server(secs(3.0));
    env.config("[watchdog]\nheartbeat_ttl_s = 1\nstop_grace_s = 1\nstatus_interval_s = 5\nstart_stagger_s = 0\n\
                [runtime]\nenabled = [\"p\"]\n");
    env.module(
        "p",
        &format!("builtin = \"probe\"\ninterval_s = 600\n[settings]\ntargets = [{{kind = \"http\", url = \"{url}\", timeout_s = 10}}]\n"),
    );
    let mut sup = env.start(&[]);
    env.wait_module("p", "RUNNING", secs(10.0));
    let t = Instant::now();
    server.join().unwrap();
    // The 3 s cycle is three TTLs long: without beats during it the module would be killed.
    assert!(t.elapsed() < secs(10.0));
    std::thread::sleep(secs(1.5));
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["p"]["restarts"], 0, "{s}");
    assert_eq!(s["modules"]["p"]["state"], "RUNNING");
    let report = std::fs::read_to_string(env.run_dir().join("exports/probe.json")).unwrap();
    assert!(report.contains("\"ok\":true"), "{report}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn sigterm_between_and_during_cycles_exits_0_promptly() {
    let env = Env::new("term");
    // Between cycles: a long interval, SIGTERM right after the first cycle.
    let mut c = env.cmd(&["module", "probe"]);
    c.env("AIVEX_SETTINGS", "{}").env("AIVEX_INTERVAL_S", "600");
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(secs(0.5));
    let t = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(t.elapsed() < secs(2.0), "took {:?}", t.elapsed());

    // During a cycle that will not finish: out within the grace (2 s here).
    let (url, _server) = slow_server(secs(30.0));
    let settings = format!(r#"{{"targets":[{{"kind":"http","url":"{url}","timeout_s":60}}]}}"#);
    let mut c = env.cmd(&["module", "probe"]);
    c.env("AIVEX_SETTINGS", settings)
        .env("AIVEX_STOP_GRACE_S", "2");
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(secs(0.5));
    let t = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(t.elapsed() < secs(2.0), "took {:?}", t.elapsed());
}

#[test]
fn a_cycle_past_its_timeout_is_recorded_and_exits_1() {
    let env = Env::new("cycletimeout");
    let (url, _server) = slow_server(secs(30.0));
    let settings = format!(r#"{{"targets":[{{"kind":"http","url":"{url}","timeout_s":60}}]}}"#);
    let run_dir = env.path("run");
    let out = env
        .cmd(&["module", "probe", "--once"])
        .env("AIVEX_SETTINGS", settings)
        .env("AIVEX_CYCLE_TIMEOUT_S", "0.5")
        .env("AIVEX_RUN_DIR", &run_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&env);
    assert!(
        recs[0]["message"]
            .as_str()
            .unwrap()
            .contains("exceeded its timeout"),
        "{recs:?}"
    );
}

#[test]
fn the_example_external_module_runs_under_the_supervisor() {
    let env = Env::new("example");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = repo.join("modules/example");
    env.config(&format!(
        "[watchdog]\nheartbeat_ttl_s = 2\nstatus_interval_s = 5\nstart_stagger_s = 0\nbackoff_base_s = 0.1\n\
         [runtime]\nmodules_dir = \"{}\"\nenabled = [\"example\"]\ndata_dir = \"{}\"\n",
        repo.join("modules").display(),
        env.path("data").display()
    ));
    assert!(example.join("module.toml").exists());
    let mut sup = env.start(&[]);
    // It beats within its TTL for several TTLs: no stale restarts.
    env.wait_state("example heartbeating", secs(10.0), |s| {
        s["modules"]["example"]["heartbeat_age_s"].as_f64() < Some(2.0)
    });
    std::thread::sleep(secs(4.5));
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["example"]["state"], "RUNNING", "{s}");
    assert_eq!(s["modules"]["example"]["restarts"], 0, "{s}");
    let log = std::fs::read_to_string(env.run_dir().join("logs/example.log")).unwrap();
    assert!(log.contains("cycle"), "{log}");
    assert_eq!(sup.stop(), Some(0));
    let s = env.state().unwrap();
    assert_eq!(
        s["modules"]["example"]["last_exit"]["code"], 0,
        "the example exits 0 on SIGTERM: {s}"
    );
}
