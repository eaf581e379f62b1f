//! The watchdog under real child processes: exit-code policy, backoff, crash loops, stale
//! heartbeats, stop escalation, process groups, SIGHUP reload, once mode, status output.

use crate::harness::*;

const HB_LOOP: &str = "while true; do date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 0.1; done";

#[test]
fn crash_restarts_with_growing_backoff() {
    let env = Env::new("backoff");
    env.config("[runtime]\nenabled = [\"crasher\"]\n");
    env.sh_module("crasher", "date +%s.%N >> ../../starts; exit 1", "");
    let mut sup = env.start(&[]);
    let st = env.wait_state("3 restarts", secs(20.0), |s| {
        s["modules"]["crasher"]["restarts"].as_u64() >= Some(3)
    });
    let m = &st["modules"]["crasher"];
    assert_eq!(m["last_exit"]["code"], 1);
    assert!(m["consecutive_failures"].as_u64() >= Some(3));
    // The state counts a restart when the process is spawned; its line may come a moment later.
    let starts: Vec<f64> = wait_for("4 start lines", secs(10.0), || {
        let text = std::fs::read_to_string(env.path("starts")).ok()?;
        let v: Vec<f64> = text.lines().filter_map(|l| l.parse().ok()).collect();
        (v.len() >= 4).then_some(v)
    });
    // base 0.1 s: the delays are 0.2, 0.4, 0.8 s: each gap is at least its backoff.
    assert!(starts.len() >= 4, "{starts:?}");
    assert!(starts[1] - starts[0] >= 0.19, "{starts:?}");
    assert!(starts[2] - starts[1] >= 0.39, "{starts:?}");
    assert!(starts[3] - starts[2] >= 0.79, "{starts:?}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn exit_0_stays_stopped_and_exit_2_never_restarts() {
    let env = Env::new("exits");
    env.config("[runtime]\nenabled = [\"clean\", \"badconf\", \"fatal\"]\n");
    env.sh_module("clean", "exit 0", "");
    env.sh_module("badconf", "echo 'missing key' >&2; exit 2", "");
    env.sh_module("fatal", "exit 3", "");
    let mut sup = env.start(&[]);
    env.wait_state("all stopped", secs(10.0), |s| {
        ["clean", "badconf", "fatal"].iter().all(|m| {
            s["modules"][m]["state"] == "STOPPED" && s["modules"][m]["reason"] != "not_started"
        })
    });
    std::thread::sleep(secs(1.0));
    let s = env.state().unwrap();
    for (m, reason) in [
        ("clean", "clean_exit"),
        ("badconf", "config_error"),
        ("fatal", "fatal"),
    ] {
        assert_eq!(s["modules"][m]["state"], "STOPPED", "{m}");
        assert_eq!(s["modules"][m]["reason"], reason, "{m}");
        assert_eq!(s["modules"][m]["restarts"], 0, "{m}");
    }
    let log = std::fs::read_to_string(env.run_dir().join("logs/badconf.log")).unwrap();
    assert!(log.contains("missing key"), "captured output: {log:?}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn crash_loop_is_detected_and_reset_rearms() {
    let env = Env::new("loop");
    env.config(
        "[watchdog]\nbackoff_base_s = 0\nstatus_interval_s = 1\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\n\
         crash_loop_count = 5\ncrash_loop_window_s = 60\n[runtime]\nenabled = [\"flappy\"]\n",
    );
    env.sh_module("flappy", "exit 1", "");
    let mut sup = env.start(&[]);
    let s = env.wait_module("flappy", "LOOP_DETECTED", secs(10.0));
    assert_eq!(s["modules"]["flappy"]["restarts"], 4);
    std::thread::sleep(secs(0.5));
    assert_eq!(
        env.state().unwrap()["modules"]["flappy"]["state"],
        "LOOP_DETECTED"
    );
    let out = env.run(&["reset", "flappy"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    // The reset re-arms it: it runs again, and five failures later it is a loop again.
    let history = env.run_dir().join("history.jsonl");
    wait_for("a second LOOP_DETECTED after the reset", secs(10.0), || {
        let h = std::fs::read_to_string(&history).ok()?;
        (h.matches("\"to\":\"LOOP_DETECTED\"").count() == 2).then_some(())
    });
    let s = env.wait_module("flappy", "LOOP_DETECTED", secs(5.0));
    assert_eq!(s["modules"]["flappy"]["restarts"], 4);
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("\"event\":\"reset\""), "{h}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn max_restarts_stops_the_module() {
    let env = Env::new("maxr");
    env.config("[runtime]\nenabled = [\"m\"]\n");
    env.sh_module("m", "exit 1", "");
    // WATCHDOG_MAX_RESTARTS and WATCHDOG_BACKOFF win over the file.
    let mut c = env.cmd(&["run", "--config", "aivex.toml"]);
    c.env("WATCHDOG_MAX_RESTARTS", "2")
        .env("WATCHDOG_BACKOFF", "0");
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let s = env.wait_state("max_restarts", secs(10.0), |s| {
        s["modules"]["m"]["reason"] == "max_restarts"
    });
    assert_eq!(s["modules"]["m"]["restarts"], 2);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn stale_heartbeat_is_killed_restarted_and_recorded() {
    let env = Env::new("stale");
    env.config(
        "[watchdog]\nbackoff_base_s = 0.1\nstatus_interval_s = 1\nheartbeat_ttl_s = 1\nstop_grace_s = 1\n\
         start_stagger_s = 0\n[runtime]\nenabled = [\"hung\", \"healthy\"]\n",
    );
    env.sh_module("hung", "echo started; exec sleep 1000", "");
    env.sh_module("healthy", HB_LOOP, "");
    let mut sup = env.start(&[]);
    let s = env.wait_state("a stale restart", secs(15.0), |s| {
        s["modules"]["hung"]["restarts"].as_u64() >= Some(1)
    });
    let reason = s["modules"]["hung"]["last_exit"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("stale heartbeat"), "{reason}");
    assert_eq!(
        s["modules"]["healthy"]["restarts"], 0,
        "a module that beats is left alone"
    );
    assert!(s["modules"]["healthy"]["heartbeat_age_s"].as_f64().unwrap() < 1.0);
    let crashes = std::fs::read_dir(env.run_dir().join("errors/crashes")).unwrap();
    let rec: serde_json::Value = crashes
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).ok()?).ok())
        .find(|r: &serde_json::Value| r["module"] == "hung")
        .expect("a crash record for the hung module");
    assert_eq!(rec["class"], "StaleHeartbeat");
    assert_eq!(rec["output_tail"][0], "started");
    let line = std::fs::read_to_string(env.run_dir().join("errors/hung.log")).unwrap();
    assert!(line.contains("StaleHeartbeat"), "{line}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn a_module_ignoring_sigterm_is_killed_after_the_grace() {
    let env = Env::new("stubborn");
    env.config(
        "[watchdog]\nstop_grace_s = 1\nstatus_interval_s = 5\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\n\
         [runtime]\nenabled = [\"stubborn\"]\n",
    );
    env.sh_module(
        "stubborn",
        "trap '' TERM; echo $$ > ../../stubborn.pid; while true; do sleep 0.1; done",
        "",
    );
    let mut sup = env.start(&[]);
    let pid = env.read_pid("stubborn.pid", secs(10.0));
    let t = std::time::Instant::now();
    assert_eq!(sup.stop(), Some(0));
    let took = t.elapsed();
    assert!(took >= secs(0.9), "stopped before the grace: {took:?}");
    assert!(!alive(pid));
    let history = std::fs::read_to_string(env.path("data/runs/current/history.jsonl")).unwrap();
    assert!(history.contains("\"signal\":9"), "{history}");
}

#[test]
fn grandchildren_die_with_their_module_and_the_supervisor() {
    let env = Env::new("tree");
    env.config("[runtime]\nenabled = [\"parent\"]\n");
    env.sh_module(
        "parent",
        "sleep 1000 & echo $! > ../../gc.pid; echo $$ > ../../parent.pid; wait",
        "",
    );
    let mut sup = env.start(&[]);
    env.wait_module("parent", "RUNNING", secs(10.0));
    let gc = env.read_pid("gc.pid", secs(10.0));
    assert!(alive(gc));
    // Operator stop of the module: its whole group goes.
    let out = env.run(&["stop", "parent"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    env.wait_module("parent", "STOPPED", secs(10.0));
    wait_dead(gc, secs(5.0));
    // Start again, then stop the supervisor: nothing is left either.
    std::fs::remove_file(env.path("gc.pid")).unwrap();
    assert!(env.run(&["start", "parent"], secs(10.0)).status.success());
    let gc = env.read_pid("gc.pid", secs(10.0));
    assert_eq!(sup.stop(), Some(0));
    wait_dead(gc, secs(5.0));
}

#[test]
fn after_a_supervisor_sigkill_modules_die_and_leftovers_go_at_next_start() {
    let env = Env::new("sigkill");
    env.config("[runtime]\nenabled = [\"parent\"]\n");
    env.sh_module(
        "parent",
        "sleep 1000 & echo $! > ../../gc.pid; echo $$ > ../../parent.pid; wait",
        "",
    );
    let mut sup = env.start(&[]);
    let parent = env.read_pid("parent.pid", secs(10.0));
    let gc = env.read_pid("gc.pid", secs(10.0));
    // The supervisor records the group right after the fork; make sure that moment has passed.
    wait_for("the group to be recorded", secs(5.0), || {
        let groups = std::fs::read_to_string(env.path("data/state/groups.json")).ok()?;
        groups.contains(&format!("\"pgid\":{parent}")).then_some(())
    });
    sup.signal(libc::SIGKILL);
    sup.wait(secs(5.0));
    // The module process dies with the supervisor (parent-death signal)...
    wait_dead(parent, secs(2.0));
    // ...its own child survives until aivex starts again on the same data dir.
    assert!(
        alive(gc),
        "the grandchild should still be there before the restart"
    );
    let mut sup2 = env.start(&[]);
    wait_dead(gc, secs(5.0));
    assert!(sup2.stderr_contains(&env, "leftover"));
    assert_eq!(sup2.stop(), Some(0));
}

trait StderrExt {
    fn stderr_contains(&self, env: &Env, needle: &str) -> bool;
}

impl StderrExt for Supervisor {
    fn stderr_contains(&self, env: &Env, needle: &str) -> bool {
        wait_for(&format!("{needle:?} in stderr"), secs(5.0), || {
            env.stderr().contains(needle).then_some(())
        });
        true
    }
}

#[test]
fn sighup_restarts_only_the_changed_module() {
    let env = Env::new("hup");
    env.config("[runtime]\nenabled = [\"a\", \"b\"]\n");
    env.sh_module("a", "exec sleep 1000", "[settings]\nv = 1\n");
    env.sh_module("b", "exec sleep 1000", "[settings]\nv = 1\n");
    let mut sup = env.start(&[]);
    let s = env.wait_state("both running", secs(10.0), |s| {
        s["modules"]["a"]["pid"].is_number() && s["modules"]["b"]["pid"].is_number()
    });
    let (a, b) = (
        s["modules"]["a"]["pid"].clone(),
        s["modules"]["b"]["pid"].clone(),
    );
    env.sh_module("b", "exec sleep 1000", "[settings]\nv = 2\n");
    // A module added by the same reload starts.
    env.sh_module("c", "exec sleep 1000", "");
    env.config("[runtime]\nenabled = [\"a\", \"b\", \"c\"]\n");
    sup.signal(libc::SIGHUP);
    let s = env.wait_state("b restarted and c started", secs(10.0), |s| {
        s["modules"]["b"]["pid"].is_number()
            && s["modules"]["b"]["pid"] != b
            && s["modules"]["c"]["state"] == "RUNNING"
    });
    assert_eq!(
        s["modules"]["a"]["pid"], a,
        "a did not change and must keep running"
    );
    assert_eq!(
        s["modules"]["b"]["restarts"], 0,
        "a reload restart is not a failure"
    );
    // The log says what the reload did to each module, and why.
    let err = env.stderr();
    assert!(
        err.contains("reload: restart b (module.toml or settings changed)")
            && err.contains("reload: start c (newly enabled)")
            && !err.contains("reload: restart a"),
        "{err}"
    );
    // An invalid config is refused and everything keeps running.
    env.write("aivex.toml", "[runtime\nenabled = ");
    sup.signal(libc::SIGHUP);
    wait_for("the refusal in the log", secs(5.0), || {
        env.stderr().contains("reload refused").then_some(())
    });
    let s2 = env.state().unwrap();
    assert_eq!(s2["modules"]["a"]["pid"], a);
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn once_mode_exit_status() {
    let env = Env::new("once");
    env.config("[runtime]\nenabled = [\"a\", \"b\"]\n");
    env.sh_module("a", "test \"$AIVEX_ONCE\" = 1 && exit 0; exit 9", "");
    env.sh_module("b", "exit 0", "");
    let out = env.run(
        &["run", "--config", "aivex.toml", "--mode", "once"],
        secs(20.0),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    env.sh_module("b", "exit 1", "");
    let out = env.run(
        &["run", "--config", "aivex.toml", "--mode", "once"],
        secs(20.0),
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("b=STOPPED(0)"), "{stdout}");
}

#[test]
fn status_line_and_runtime_state_contract() {
    let env = Env::new("status");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", HB_LOOP, "heartbeat_ttl_s = 5\n");
    let mut sup = env.start(&[]);
    let s = env.wait_state("heartbeat seen", secs(10.0), |s| {
        s["modules"]["a"]["heartbeat_age_s"].as_f64() < Some(1.0)
    });
    for key in ["run_id", "pid", "mode", "updated_at"] {
        assert!(!s[key].is_null(), "{key} missing");
    }
    let m = &s["modules"]["a"];
    for key in [
        "state",
        "pid",
        "restarts",
        "consecutive_failures",
        "last_exit",
        "heartbeat_age_s",
        "next_restart_in_s",
    ] {
        assert!(m.get(key).is_some(), "modules.a.{key} missing: {m}");
    }
    wait_for("a status line", secs(5.0), || {
        env.stdout().contains("[AIVEX] a=RUNNING(0)").then_some(())
    });
    let boot = std::fs::read_to_string(env.run_dir().join("BOOTSTRAP.md")).unwrap();
    assert!(boot.starts_with("---\nrun_id: "), "{boot}");
    assert!(
        boot.contains("config_hash: ") && boot.contains("  - a\n"),
        "{boot}"
    );
    assert_eq!(sup.stop(), Some(0));
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["a"]["state"], "STOPPED");
}

#[test]
fn missing_required_env_is_a_config_error() {
    let env = Env::new("reqenv");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module(
        "a",
        "exec sleep 1000",
        "required_env = [\"AIVEX_TEST_NOT_SET_ANYWHERE\"]\n",
    );
    let mut sup = env.start(&[]);
    let s = env.wait_state("config error", secs(10.0), |s| {
        s["modules"]["a"]["reason"] == "config_error"
    });
    assert!(s["modules"]["a"]["last_exit"]["reason"]
        .as_str()
        .unwrap()
        .contains("AIVEX_TEST_NOT_SET_ANYWHERE"));
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn a_second_supervisor_on_the_same_data_dir_is_refused() {
    let env = Env::new("lock");
    env.config("[runtime]\nenabled = [\"a\"]\n");
    env.sh_module("a", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    env.wait_module("a", "RUNNING", secs(10.0));
    let out = env.run(&["run", "--config", "aivex.toml"], secs(10.0));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("already running"), "{:?}", text(&out));
    assert_eq!(sup.stop(), Some(0));
}
