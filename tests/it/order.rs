//! Start order with readiness (`depends_on`, `ready`) and stop order, under real processes: who
//! started when (each module stamps its start), a dependant held back by a crash-looping
//! dependency, `exit0` and `file:` readiness, reverse stop order, once mode's order, cycles and
//! unknown dependencies as config errors, and the shipped config's order.

use crate::harness::*;

/// Appends `<name> <start|stop|ready> <unix time>` to `../../events` (the test directory).
fn stamp(name: &str, what: &str) -> String {
    format!("echo \"{name} {what} $(date +%s.%N)\" >> ../../events")
}

/// The events file as (module, what, time) in file order.
fn events(env: &Env) -> Vec<(String, String, f64)> {
    std::fs::read_to_string(env.path("events"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_string(),
                f.next()?.to_string(),
                f.next()?.parse().ok()?,
            ))
        })
        .collect()
}

fn time_of(ev: &[(String, String, f64)], name: &str, what: &str) -> f64 {
    ev.iter()
        .find(|(n, w, _)| n == name && w == what)
        .map(|e| e.2)
        .unwrap_or_else(|| panic!("no `{name} {what}` in {ev:?}"))
}

fn wait_events(env: &Env, what: &str, n: usize) -> Vec<(String, String, f64)> {
    wait_for(what, secs(20.0), || {
        let ev = events(env);
        (ev.len() >= n).then_some(ev)
    })
}

#[test]
fn dependants_start_after_their_dependencies_are_ready_and_stop_before_them() {
    let env = Env::new("order");
    // Enabled in the wrong order on purpose: the graph decides, not the list.
    env.config("[runtime]\nenabled = [\"web\", \"api\", \"db\"]\n");
    // db is ready only after its first heartbeat, 0.6 s after it started.
    let beat = "while true; do date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 0.2; done";
    let on_term = |n: &str| format!("trap '{}; exit 0' TERM", stamp(n, "stop"));
    env.sh_module(
        "db",
        &format!(
            "{}; {}; sleep 0.6; {}; {beat}",
            on_term("db"),
            stamp("db", "start"),
            stamp("db", "ready")
        ),
        "",
    );
    env.sh_module(
        "api",
        &format!(
            "{}; {}; sleep 0.3; {}; {beat}",
            on_term("api"),
            stamp("api", "start"),
            stamp("api", "ready")
        ),
        "depends_on = [\"db\"]\n",
    );
    env.sh_module(
        "web",
        &format!("{}; {}; {beat}", on_term("web"), stamp("web", "start")),
        "depends_on = [\"api\", \"db\"]\n",
    );
    let mut sup = env.start(&[]);
    // While db is not ready, api and web wait and say for what.
    let s = env.wait_state("api waiting for db", secs(10.0), |s| {
        s["modules"]["api"]["state"] == "WAITING"
    });
    assert_eq!(s["modules"]["api"]["waiting_for"], "db");
    assert!(
        ["api", "api, db"].contains(&s["modules"]["web"]["waiting_for"].as_str().unwrap_or("")),
        "{}",
        s["modules"]["web"]
    );
    let ev = wait_events(&env, "three starts", 5);
    let ev = if ev.iter().any(|e| e.0 == "web") {
        ev
    } else {
        wait_events(&env, "web's start", 6)
    };
    let db_ready = time_of(&ev, "db", "ready");
    let api_start = time_of(&ev, "api", "start");
    let api_ready = time_of(&ev, "api", "ready");
    let web_start = time_of(&ev, "web", "start");
    assert!(
        api_start >= db_ready,
        "api started before db was ready: {ev:?}"
    );
    assert!(
        web_start >= api_ready,
        "web started before api was ready: {ev:?}"
    );
    // Prompt: readiness is looked for often while someone waits (not every ttl/4).
    assert!(api_start - db_ready < 2.0, "{ev:?}");
    let s = env.wait_module("web", "RUNNING", secs(10.0));
    assert!(s["modules"]["web"]["waiting_for"].is_null());
    // Stop: web first, then api, then db.
    assert_eq!(sup.stop(), Some(0));
    let ev = events(&env);
    let (w, a, d) = (
        time_of(&ev, "web", "stop"),
        time_of(&ev, "api", "stop"),
        time_of(&ev, "db", "stop"),
    );
    assert!(w <= a && a <= d, "stop order web {w}, api {a}, db {d}");
}

#[test]
fn a_crash_looping_dependency_holds_dependants_back_and_never_restarts_them() {
    let env = Env::new("holdback");
    env.config(
        "[watchdog]\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\ncrash_loop_count = 4\n\
         crash_loop_window_s = 60\nstatus_interval_s = 1\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\n\
         [runtime]\nenabled = [\"chart\", \"brain\", \"feed\", \"reader\"]\n",
    );
    // chart never gets ready: it crashes at once, every time.
    env.sh_module("chart", &format!("{}; exit 1", stamp("chart", "start")), "");
    env.sh_module(
        "brain",
        &format!("{}; exec sleep 1000", stamp("brain", "start")),
        "depends_on = [\"chart\"]\n",
    );
    // feed is ready once (beats, lives 1 s), then crash-loops; reader started meanwhile.
    env.sh_module(
        "feed",
        "if [ ! -f ../../feed.once ]; then touch ../../feed.once; date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 1; fi; exit 1",
        "",
    );
    env.sh_module(
        "reader",
        "echo $$ > ../../reader.pid; exec sleep 1000",
        "depends_on = [\"feed\"]\n",
    );
    let mut sup = env.start(&[]);
    let reader = env.read_pid("reader.pid", secs(10.0));
    let s = env.wait_state("both dependencies loop-detected", secs(20.0), |s| {
        s["modules"]["chart"]["state"] == "LOOP_DETECTED"
            && s["modules"]["feed"]["state"] == "LOOP_DETECTED"
    });
    let b = &s["modules"]["brain"];
    assert_eq!(b["state"], "WAITING", "{b}");
    assert_eq!(b["waiting_for"], "chart");
    assert_eq!(b["restarts"], 0);
    assert!(b["pid"].is_null());
    // The reader that started while feed was ready runs on, untouched.
    let r = &s["modules"]["reader"];
    assert_eq!(
        (r["state"].as_str(), r["restarts"].as_u64()),
        (Some("RUNNING"), Some(0))
    );
    assert_eq!(r["pid"], reader);
    std::thread::sleep(secs(1.0));
    assert!(alive(reader));
    assert!(
        !events(&env).iter().any(|e| e.0 == "brain"),
        "brain must not start"
    );
    // The status output says why too.
    let out = env.run(&["status"], secs(10.0));
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("WAITING") && stdout.contains("waiting for chart"),
        "{stdout}"
    );
    // Once chart is fixed (a reload restarts it with its new manifest), brain starts.
    env.sh_module(
        "chart",
        "date > \"$AIVEX_HEARTBEAT_FILE\"; exec sleep 1000",
        "",
    );
    let out = env.run(&["reload"], secs(10.0));
    assert!(out.status.success(), "{:?}", text(&out));
    env.wait_module("brain", "RUNNING", secs(10.0));
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn exit0_and_file_readiness() {
    let env = Env::new("readykinds");
    env.config("[runtime]\nenabled = [\"app\", \"migrate\", \"cache\"]\n");
    env.sh_module(
        "migrate",
        &format!(
            "{}; sleep 0.3; {}; exit 0",
            stamp("migrate", "start"),
            stamp("migrate", "ready")
        ),
        "ready = \"exit0\"\n",
    );
    env.sh_module(
        "cache",
        &format!(
            "rm -f ready.flag; {}; sleep 0.3; {}; touch ready.flag; exec sleep 1000",
            stamp("cache", "start"),
            stamp("cache", "ready")
        ),
        "ready = \"file:ready.flag\"\n",
    );
    env.sh_module(
        "app",
        &format!("{}; exec sleep 1000", stamp("app", "start")),
        "depends_on = [\"migrate\", \"cache\"]\n",
    );
    let mut sup = env.start(&[]);
    env.wait_module("app", "RUNNING", secs(15.0));
    let ev = wait_events(&env, "five events", 5);
    let app = time_of(&ev, "app", "start");
    assert!(app >= time_of(&ev, "migrate", "ready"), "{ev:?}");
    assert!(app >= time_of(&ev, "cache", "ready"), "{ev:?}");
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["migrate"]["reason"], "clean_exit");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn once_mode_runs_dependencies_first() {
    let env = Env::new("onceorder");
    env.config("[runtime]\nenabled = [\"report\", \"fetch\", \"other\"]\n");
    env.sh_module(
        "report",
        &format!("{}; exit 0", stamp("report", "start")),
        "depends_on = [\"fetch\"]\n",
    );
    env.sh_module(
        "fetch",
        &format!("{}; sleep 0.2; exit 0", stamp("fetch", "start")),
        "",
    );
    env.sh_module("other", &format!("{}; exit 0", stamp("other", "start")), "");
    let out = env.run(
        &["run", "--config", "aivex.toml", "--mode", "once"],
        secs(30.0),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let order: Vec<String> = events(&env).into_iter().map(|e| e.0).collect();
    assert_eq!(order, ["fetch", "report", "other"]);
}

#[test]
fn cycles_and_unknown_dependencies_are_config_errors_naming_file_and_line() {
    let env = Env::new("cycle");
    env.config("[runtime]\nenabled = [\"a\", \"b\", \"c\"]\n");
    env.sh_module("a", "exit 0", "depends_on = [\"b\"]\n");
    env.sh_module("b", "exit 0", "\ndepends_on = [\"c\"]\n");
    env.sh_module("c", "exit 0", "depends_on = [\"a\"]\n");
    let a = path_str(&env.path("modules/a/module.toml"));
    for args in [vec!["check-config"], vec!["run", "--config", "aivex.toml"]] {
        let out = env.run(&args, secs(20.0));
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {o}{e}");
        assert!(
            e.contains(&format!(
                "{a}:2: depends_on: dependency cycle a -> b -> c -> a"
            )),
            "{args:?}: {e}"
        );
    }
    env.sh_module("c", "exit 0", "depends_on = [\"ghost\"]\n");
    let out = env.run(&["check-config"], secs(20.0));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    let c = path_str(&env.path("modules/c/module.toml"));
    assert!(
        e.contains(&format!(
            "{c}:2: depends_on: `ghost` is not an enabled module"
        )),
        "{e}"
    );
    env.sh_module("c", "exit 0", "ready = \"whenever\"\n");
    let out = env.run(&["check-config"], secs(20.0));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains(&format!("{c}:2: ready must be")), "{e}");
}

#[test]
fn the_shipped_config_starts_brain_after_its_inputs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let brain = std::fs::read_to_string(root.join("modules/brain/module.toml")).unwrap();
    let eye = std::fs::read_to_string(root.join("modules/eye/module.toml")).unwrap();
    assert!(
        brain.contains("depends_on = [\"chart\", \"news\", \"metrics\"]"),
        "{brain}"
    );
    assert!(!eye.contains("depends_on"), "eye is independent");
    // And the shipped configuration checks out with it.
    let env = Env::new("shipped");
    let out = env.run(
        &[
            "check-config",
            "--config",
            &path_str(&root.join("config/aivex.toml")),
        ],
        secs(30.0),
    );
    assert!(out.status.success(), "{:?}", text(&out));
}
