//! What each module costs, measured from /proc by the real supervisor: a module that really
//! allocates and touches 64 MiB shows it in `rss_bytes` (state file, `aivex status`, Eye's
//! `/modules` and `/metrics`), and `max_rss_mb` stops and restarts it with reason
//! `memory_limit` (last exit, history, an alert).

use crate::harness::*;
use std::net::SocketAddr;

/// A python3 child that allocates 64 MiB, writes every page, says so, then sleeps (with a
/// second thread, so the thread count is known).
const ALLOC_64: &str = "import threading, time\n\
b = bytearray(b'\\x01' * (64 << 20))\n\
threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n\
open('../../allocated', 'a').write('1\\n')\n\
time.sleep(1000)\n";

fn python_module(env: &Env, name: &str, extra: &str) {
    env.write(&format!("modules/{name}/alloc.py"), ALLOC_64);
    env.module(
        name,
        &format!("command = [\"python3\", \"alloc.py\"]\n{extra}"),
    );
}

#[test]
fn a_module_that_allocates_64_mib_shows_it_everywhere() {
    let env = Env::new("cost");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    env.config(&format!(
        "[runtime]\nenabled = [\"hog\", \"eye\"]\n[eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    python_module(&env, "hog", "");
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    let mut sup = env.start(&[]);
    // Looks taken after the allocation is done (and its second thread started).
    wait_for("the allocation", secs(30.0), || {
        env.path("allocated").exists().then_some(())
    });
    let s = env.wait_state("hog's rss over 60 MiB, two threads", secs(30.0), |s| {
        let m = &s["modules"]["hog"];
        m["rss_bytes"].as_u64() >= Some(60 << 20) && m["threads"].as_u64() >= Some(2)
    });
    let m = &s["modules"]["hog"];
    assert!(m["pss_bytes"].as_u64() >= Some(60 << 20), "{m}");
    assert!(m["fds"].as_u64() >= Some(3), "{m}");
    assert!(m["threads"].as_u64() >= Some(2), "{m}");
    assert!(m["cpu_s"].as_f64() > Some(0.0), "{m}");
    assert!(m["cpu_pct"].as_f64().is_some(), "{m}");
    // A module without accounting figures yet is null, never zero.
    let out = env.run(&["status"], secs(10.0));
    let (o, _) = text(&out);
    let line = o.lines().find(|l| l.starts_with("hog")).unwrap_or("");
    assert!(
        line.contains("rss ") && line.contains("MiB") && line.contains("cpu "),
        "{o}"
    );
    // Eye serves the same figures.
    let modules = wait_for("/modules with hog's rss", secs(30.0), || {
        let (st, body) = http(addr, "GET", "/modules", None)?;
        (st == 200 && body["modules"]["hog"]["rss_bytes"].as_u64() >= Some(60 << 20))
            .then_some(body)
    });
    assert!(modules["modules"]["hog"]["cpu_pct"].is_number());
    let metrics = wait_for("/metrics", secs(20.0), || {
        let (st, body) = http(addr, "GET", "/metrics", None)?;
        (st == 200).then(|| body.as_str().unwrap_or("").to_string())
    });
    let rss = metrics
        .lines()
        .find(|l| l.starts_with("aivex_module_rss_bytes{module=\"hog\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no rss line in\n{metrics}"));
    assert!(rss >= (60 << 20) as f64, "{rss}");
    for family in [
        "aivex_module_cpu_percent{module=\"hog\"}",
        "aivex_module_pss_bytes{module=\"hog\"}",
        "aivex_module_open_fds{module=\"hog\"}",
        "aivex_module_threads{module=\"hog\"}",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn max_rss_mb_restarts_a_module_with_reason_memory_limit() {
    let env = Env::new("memlimit");
    // Accounting off: only modules with max_rss_mb are measured, and that is enough.
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0.1\nbackoff_cap_s = 1\nstop_grace_s = 2\nstatus_interval_s = 0.3\n\
         heartbeat_ttl_s = 0\nstart_stagger_s = 0\naccounting = false\n\
         [runtime]\nenabled = [\"hog\", \"idle\"]\n\
         [[alerts.sink]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >> {}; echo >> {0}\"]\n\
         events = [\"module_stopped\"]\n",
        env.path("alerts.jsonl").display()
    ));
    env.sh_module("idle", "exec sleep 1000", "");
    python_module(&env, "hog", "max_rss_mb = 32\n");
    let mut sup = env.start(&[]);
    let s = env.wait_state("a memory_limit restart", secs(40.0), |s| {
        s["modules"]["hog"]["restarts"].as_u64() >= Some(1)
            && s["modules"]["hog"]["last_exit"]["reason"] == "memory_limit"
    });
    assert_eq!(s["modules"]["hog"]["max_rss_mb"], 32);
    // It allocated again after the restart.
    wait_for("a second allocation", secs(20.0), || {
        let n = std::fs::read_to_string(env.path("allocated"))
            .ok()?
            .lines()
            .count();
        (n >= 2).then_some(())
    });
    let history = std::fs::read_to_string(env.run_dir().join("history.jsonl")).unwrap();
    assert!(history.contains("\"event\":\"memory_limit\""), "{history}");
    assert!(history.contains("\"reason\":\"memory_limit\""), "{history}");
    let err = env.stderr();
    assert!(err.contains("above max_rss_mb 32"), "{err}");
    assert!(
        s["modules"]["idle"]["rss_bytes"].is_null(),
        "accounting is off"
    );
    let alert = wait_for("the memory_limit alert", secs(20.0), || {
        let text = std::fs::read_to_string(env.path("alerts.jsonl")).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|a| a["reason"] == "memory_limit")
    });
    assert_eq!(alert["event"], "module_stopped");
    assert_eq!(alert["module"], "hog");
    assert!(
        alert["status"]["rss_bytes"].as_u64() > Some(32 << 20),
        "{alert}"
    );
    assert_eq!(sup.stop(), Some(0));
}
