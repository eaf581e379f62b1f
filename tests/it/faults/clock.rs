//! Fault matrix, clock row: the wall clock stepped 1 hour back, then 1 day forward, under a
//! running supervisor. libfaketime is preloaded into the supervisor (and the built-in modules it
//! spawns) only, reading its offset from a file the test rewrites; the monotonic clock stays
//! real, as it does when an operator or NTP steps the clock. Every timer is monotonic, so
//! nothing may notice: no restart, no stale-heartbeat kill, no hang, backoff gaps unchanged.

use super::*;
use std::process::Stdio;
use std::time::Duration;

/// libfaketime's multi-threaded preload library, where Debian's `faketime` package puts it.
fn libfaketime() -> Option<std::path::PathBuf> {
    let dir = std::fs::read_dir("/usr/lib").ok()?;
    dir.filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
}

/// Seconds since boot from /proc/uptime: a clock libfaketime does not touch.
const UPTIME_MARK: &str = "cut -d' ' -f1 /proc/uptime >> ../../starts; exit 1";

fn updated_at(env: &Env) -> Option<i64> {
    let s = env.state()?;
    let t: jiff::Timestamp = s["updated_at"].as_str()?.parse().ok()?;
    Some(t.as_second())
}

/// Waits until the supervisor's state file carries a time at least `min_shift_s` away from
/// `before` in the direction of the shift (it is rewritten at least every 5 s).
fn wait_shift(env: &Env, before: i64, shift_s: i64) -> i64 {
    wait_for(
        &format!("the supervisor's clock to move by {shift_s} s"),
        secs(15.0),
        || {
            let t = updated_at(env)?;
            let moved = t - before;
            (if shift_s < 0 {
                moved < shift_s + 600
            } else {
                moved > shift_s - 600
            })
            .then_some(t)
        },
    )
}

fn starts(env: &Env) -> Vec<f64> {
    std::fs::read_to_string(env.path("starts"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn fault_wall_clock_steps_change_nothing() {
    let _t = Timed::start("fault_wall_clock_steps_change_nothing");
    let Some(lib) = libfaketime() else {
        cannot_inject("a wall-clock step: libfaketime (Debian package faketime) is not installed");
        return;
    };
    let env = Env::new("f-clock");
    env.config(
        "[watchdog]\nbackoff_base_s = 0.1\nbackoff_cap_s = 1\nstop_grace_s = 1\nstatus_interval_s = 0.5\n\
         heartbeat_ttl_s = 1\nstart_stagger_s = 0\ncrash_loop_count = 1000\nmax_restarts = 100000\n\
         [runtime]\nenabled = [\"beater\", \"probe\", \"crasher\"]\n",
    );
    env.sh_module("beater", HB_LOOP, "");
    env.sh_module("crasher", UPTIME_MARK, "heartbeat_ttl_s = 0\n");
    // A built-in: the runner's cycle loop and keeper see the faked clock too.
    env.module(
        "probe",
        "builtin = \"probe\"\ninterval_s = 0.2\n[settings]\ntargets = []\n",
    );
    let spec = env.path("faketime.spec");
    std::fs::write(&spec, "+0\n").unwrap();
    let mut cmd = env.cmd(&["run", "--config", "aivex.toml"]);
    // Whatever clock this test runs under (scripts/test-shifted), the supervisor's offset comes
    // from the file alone.
    cmd.env_remove("FAKETIME")
        .env("LD_PRELOAD", &lib)
        .env("FAKETIME_TIMESTAMP_FILE", &spec)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdin(Stdio::null());
    let mut sup = env.start_cmd(cmd);
    let s0 = env.wait_state(
        "crasher at its backoff cap, beaters beating",
        secs(20.0),
        |s| {
            s["modules"]["crasher"]["restarts"].as_u64() >= Some(5)
                && s["modules"]["beater"]["heartbeat_age_s"].as_f64().is_some()
                && s["modules"]["probe"]["heartbeat_age_s"].as_f64().is_some()
        },
    );
    let pids = |s: &serde_json::Value| {
        (
            s["modules"]["beater"]["pid"].clone(),
            s["modules"]["probe"]["pid"].clone(),
        )
    };
    let before = pids(&s0);
    let t0 = updated_at(&env).unwrap();
    let n0 = starts(&env).len();

    std::fs::write(&spec, "-3600\n").unwrap();
    let t1 = wait_shift(&env, t0, -3600);
    std::thread::sleep(Duration::from_secs(4));
    let out = env.run(&["status"], secs(10.0));
    assert!(
        out.status.success(),
        "no answer after the step back: {:?}",
        text(&out)
    );

    std::fs::write(&spec, "+82800\n").unwrap();
    wait_shift(&env, t1, 86_400);
    std::thread::sleep(Duration::from_secs(4));
    let out = env.run(&["status"], secs(10.0));
    assert!(
        out.status.success(),
        "no answer after the step forward: {:?}",
        text(&out)
    );

    let s = env.state().unwrap();
    assert_eq!(pids(&s), before, "a module was restarted: {s}");
    for m in ["beater", "probe"] {
        assert_eq!(s["modules"][m]["restarts"], 0, "{m}: {s}");
        assert_eq!(s["modules"][m]["state"], "RUNNING", "{m}: {s}");
    }
    assert!(crash_records(&env, "beater").is_empty() && crash_records(&env, "probe").is_empty());
    // The crasher kept restarting at its capped backoff (1 s) through both steps: no gap an
    // hour long (backoff on the wall clock after the step back), none cut short after the
    // step forward.
    let st = starts(&env);
    let gaps: Vec<f64> = st[n0..].windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("fault matrix: crasher restart gaps across the steps: {gaps:.2?}");
    assert!(
        gaps.len() >= 6,
        "too few restarts across the steps: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|g| (0.95..4.0).contains(g)),
        "backoff gaps changed: {gaps:?}"
    );
    assert_eq!(sup.stop(), Some(0));
}
