//! Alerts under a real supervisor, to a real HTTP receiver on loopback (webhook and ntfy shapes)
//! and to real commands: one alert per state change with the output tail (secrets redacted),
//! the node id and a stable event id; a dead or hanging sink never holds restarts back, is
//! logged once per outage, and drops are counted; flapping is summarised; health alerts follow
//! Eye's `/health`; allowed signals are announced; `aivex alert-test` reports every sink.

use crate::harness::*;
use crate::receiver::{Answer, Got, Receiver};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

const LOOPING: &str = "[watchdog]\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\ncrash_loop_count = 4\n\
    crash_loop_window_s = 60\nstatus_interval_s = 0.5\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\nstop_grace_s = 2\n";

#[test]
fn a_crash_loop_sends_exactly_one_webhook_and_one_ntfy_alert_with_the_output_tail() {
    let env = Env::new("alert-loop");
    let rx = Receiver::start(Answer::Ok);
    env.config(&format!(
        "{LOOPING}[runtime]\nenabled = [\"flappy\"]\n\
         [[alerts.sink]]\nkind = \"webhook\"\nurl = \"{}\"\nevents = [\"module_loop_detected\"]\n\
         [[alerts.sink]]\nkind = \"ntfy\"\nurl = \"{}\"\nevents = [\"module_loop_detected\"]\n\
         headers = {{ Authorization = \"Bearer NTFYTOKEN1\" }}\n",
        rx.url("/hook/WEBHOOKKEY1"),
        rx.url("/topicsecret1"),
    ));
    env.sh_module(
        "flappy",
        "for i in $(seq 1 25); do echo \"line $i\"; done; \
         echo 'connecting to mysql://aivex:hunter22@db:3306/aivex'; echo 'api password=pa55word'; exit 1",
        "",
    );
    let mut sup = env.start_with(&[], &[("AIVEX_NODE_ID", "box-test-7")]);
    env.wait_module("flappy", "LOOP_DETECTED", secs(15.0));
    let got = rx.wait("two alert requests", secs(15.0), |r| r.len() >= 2);
    // Nothing more comes: one alert per state change, not one per crash.
    std::thread::sleep(secs(1.5));
    let got_after = rx.requests();
    assert_eq!(got_after.len(), 2, "{got_after:#?}");
    let hook = got
        .iter()
        .find(|g| g.path == "/hook/WEBHOOKKEY1")
        .expect("webhook");
    let ntfy = got
        .iter()
        .find(|g| g.path == "/topicsecret1")
        .expect("ntfy");

    assert_eq!(hook.header("content-type"), Some("application/json"));
    let a = hook.json();
    assert_eq!(a["event"], "module_loop_detected");
    assert_eq!(a["module"], "flappy");
    assert_eq!(a["state"], "LOOP_DETECTED");
    assert_eq!(a["node"], "box-test-7");
    assert_eq!(a["restarts"], 3);
    assert_eq!(a["last_exit"]["code"], 1);
    assert!(a["reason"].as_str().unwrap().contains("4 failures"), "{a}");
    let id = a["event_id"].as_str().unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let tail: Vec<&str> = a["output_tail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(tail.len(), 20, "{tail:?}");
    assert_eq!(tail[19], "api password=***");
    assert_eq!(tail[18], "connecting to mysql://***@db:3306/aivex");
    assert_eq!(tail[17], "line 25");
    assert!(!hook.body.contains("hunter22") && !hook.body.contains("pa55word"));

    // ntfy: text body, Title/Priority/Tags headers, the configured Authorization.
    assert_eq!(
        ntfy.header("title"),
        Some("aivex box-test-7: module_loop_detected")
    );
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert!(ntfy
        .header("tags")
        .unwrap()
        .contains("module_loop_detected"));
    assert_eq!(ntfy.header("authorization"), Some("Bearer NTFYTOKEN1"));
    assert!(ntfy
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        ntfy.body.contains("flappy is LOOP_DETECTED"),
        "{}",
        ntfy.body
    );
    assert!(ntfy.body.contains(id), "the same event id: {}", ntfy.body);
    assert!(ntfy.body.contains("line 25") && !ntfy.body.contains("hunter22"));

    let s = env.wait_state("two alerts counted as sent", secs(10.0), |s| {
        s["alerts"]["sent"] == 2
    });
    assert_eq!(s["node_id"], "box-test-7");
    assert_eq!(s["alerts"]["dropped"], 0);
    assert_eq!(sup.stop(), Some(0));
    // The sinks' secrets never reach the log.
    let err = env.stderr();
    for secret in ["WEBHOOKKEY1", "topicsecret1", "NTFYTOKEN1"] {
        assert!(!err.contains(secret), "{secret} in the log:\n{err}");
    }
}

#[test]
fn a_hanging_or_dead_sink_holds_nothing_back_is_logged_once_and_drops_are_counted() {
    let env = Env::new("alert-dead");
    let port = free_port();
    let eye_port = free_port();
    let eye: SocketAddr = ([127, 0, 0, 1], eye_port).into();
    let hang = Receiver::start(Answer::Hang);
    // Five modules go LOOP_DETECTED at once: six alerts with supervisor_started, for a queue of
    // two, while the hanging sink holds the alert thread for 5 s per attempt.
    let loopers = ["l1", "l2", "l3", "l4", "l5"];
    env.config(&format!(
        "{LOOPING}[runtime]\nenabled = [\"eye\", \"crasher\", {}]\n[eye]\nlisten = \"127.0.0.1:{eye_port}\"\n\
         [alerts]\nqueue = 2\nretry_for_s = 60\n\
         [[alerts.sink]]\nkind = \"webhook\"\nname = \"hanging\"\nurl = \"{}\"\ntimeout_s = 5\n\
         [[alerts.sink]]\nkind = \"webhook\"\nname = \"dead\"\nurl = \"http://127.0.0.1:{port}/gone\"\nmin_interval_s = 0\n",
        loopers.map(|l| format!("\"{l}\"")).join(", "),
        hang.url("/slow"),
    ));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    for l in loopers {
        env.sh_module(l, "exit 1", "");
    }
    // crasher exits 75 (transient): restarted after backoff_base_s, forever, never a loop. It
    // must keep restarting whatever the sinks do.
    env.sh_module("crasher", "echo x >> ../../crasher.starts; exit 75", "");
    let mut sup = env.start(&[]);
    let t0 = Instant::now();
    let count = || {
        std::fs::read_to_string(env.path("crasher.starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    wait_for("30 restarts of crasher", secs(20.0), || {
        (count() >= 30).then_some(())
    });
    assert!(
        t0.elapsed() < secs(15.0),
        "30 restarts took {:?}",
        t0.elapsed()
    );
    let s = env.wait_state("alerts dropped", secs(15.0), |s| {
        s["alerts"]["dropped"].as_u64() >= Some(1)
    });
    assert!(loopers
        .iter()
        .all(|l| s["modules"][l]["state"] == "LOOP_DETECTED"));
    // /metrics counts the drops.
    let metrics = wait_for("alert counters in /metrics", secs(20.0), || {
        let (st, body) = http(eye, "GET", "/metrics", None)?;
        let text = body.as_str()?.to_string();
        (st == 200 && text.contains("aivex_alerts_total{outcome=\"dropped\"}")).then_some(text)
    });
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("aivex_alerts_total{outcome=\"dropped\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap();
    assert!(dropped >= 1, "{metrics}");
    // The dead sink failed several times (1 s, 2 s, ... backoff) and is logged down once.
    std::thread::sleep(secs(4.0));
    let err = env.stderr();
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("alert sink dead") && l.contains("is down"))
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("alerts: the queue is full"), "{err}");
    // The dead sink comes back: logged once, and what it missed is delivered.
    let back = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), Answer::Ok);
    let got = back.wait("the dead sink's backlog", secs(30.0), |r| !r.is_empty());
    assert!(got.iter().all(|g| g.path == "/gone"));
    wait_for("the recovery line", secs(10.0), || {
        env.stderr()
            .lines()
            .any(|l| l.contains("alert sink dead") && l.contains("is back"))
            .then_some(())
    });
    // Restarts went on all along.
    let before = count();
    std::thread::sleep(secs(1.0));
    assert!(count() > before + 5, "crasher stopped restarting");
    assert_eq!(sup.stop(), Some(0));
    assert!(!hang.requests().is_empty(), "the hanging sink was tried");
}

#[test]
fn a_dead_sink_does_not_hold_the_supervisors_exit() {
    let env = Env::new("alert-dead-exit");
    let port = free_port();
    env.config(&format!(
        "[runtime]\nenabled = [\"idle\"]\n\
         [[alerts.sink]]\nkind = \"webhook\"\nname = \"dead\"\nurl = \"http://127.0.0.1:{port}/gone\"\n"
    ));
    env.sh_module("idle", "exec sleep 1000", "");
    let mut sup = env.start(&[]);
    env.wait_module("idle", "RUNNING", secs(10.0));
    // supervisor_started failed once: the sink is down, its retry is a second away.
    wait_for("the sink logged down", secs(10.0), || {
        env.stderr()
            .lines()
            .any(|l| l.contains("alert sink dead") && l.contains("is down"))
            .then_some(())
    });
    let t0 = Instant::now();
    assert_eq!(sup.stop(), Some(0));
    // The flush at exit may take up to 5 s; a sink that refuses gets one more try, not 5 s.
    let took = t0.elapsed();
    assert!(took < secs(3.5), "stop took {took:?}");
    let err = env.stderr();
    assert!(err.contains("supervisor exiting"), "{err}");
}

#[test]
fn command_sinks_recoveries_and_flapping_summaries() {
    let env = Env::new("alert-cmd");
    let got = env.path("alerts.jsonl");
    let rx = Receiver::start(Answer::Ok);
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0.05\nstatus_interval_s = 0.5\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\n\
         healthy_after_s = 0.5\n[runtime]\nenabled = [\"worker\"]\n\
         [[alerts.sink]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >> {0}; echo >> {0}\"]\n\
         events = [\"module_stopped\", \"module_recovered\"]\nmin_interval_s = 0\n\
         [[alerts.sink]]\nkind = \"command\"\nname = \"broken\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n\
         [[alerts.sink]]\nkind = \"webhook\"\nurl = \"{1}\"\nevents = [\"module_stopped\", \"module_recovered\"]\nmin_interval_s = 3\n",
        got.display(),
        rx.url("/flap"),
    ));
    let broken = "echo 'bad setting' >&2; exit 2";
    let fine = "exec sleep 1000";
    env.sh_module("worker", broken, "");
    let mut sup = env.start(&[]);
    let lines = |n: usize| -> Vec<Value> {
        wait_for(
            &format!("{n} alert(s) from the command sink"),
            secs(20.0),
            || {
                let text = std::fs::read_to_string(&got).ok()?;
                let v: Vec<Value> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                (v.len() >= n).then_some(v)
            },
        )
    };
    let a = lines(1);
    assert_eq!(a[0]["event"], "module_stopped");
    assert_eq!(a[0]["reason"], "config_error");
    assert_eq!(a[0]["output_tail"][0], "bad setting");
    // Fixed and reloaded: it runs healthily for healthy_after_s, then module_recovered.
    env.sh_module("worker", fine, "");
    assert!(env.run(&["reload"], secs(10.0)).status.success());
    let a = lines(2);
    assert_eq!(a[1]["event"], "module_recovered");
    assert_eq!(a[1]["module"], "worker");
    assert_ne!(a[0]["event_id"], a[1]["event_id"]);
    // Broken again, then fixed again, within the webhook's 3 s: it got the first alert at once
    // and gets the rest as one summary when the interval is over.
    env.sh_module("worker", broken, "");
    assert!(env.run(&["reload"], secs(10.0)).status.success());
    lines(3);
    env.sh_module("worker", fine, "");
    assert!(env.run(&["reload"], secs(10.0)).status.success());
    let a = lines(4);
    assert_eq!(a[3]["event"], "module_recovered");
    let flap = rx.wait("the summary", secs(15.0), |r| r.len() >= 2);
    assert_eq!(flap[0].json()["event"], "module_stopped");
    let summary = flap[1].json();
    assert!(
        summary["summary"]["changes"].as_u64() >= Some(2),
        "{summary}"
    );
    assert_eq!(
        summary["event"], "module_recovered",
        "the latest state wins"
    );
    std::thread::sleep(secs(1.0));
    assert_eq!(rx.requests().len(), 2, "{:#?}", rx.requests());
    // The failing command sink is down, logged once.
    let err = env.stderr();
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("alert sink broken") && l.contains("is down"))
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("exit 3"), "{err}");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn health_alerts_follow_eye_and_allowed_signals_are_announced() {
    let env = Env::new("alert-health");
    let rx = Receiver::start(Answer::Ok);
    let port = free_port();
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0.5\nbackoff_cap_s = 1\nstatus_interval_s = 0.5\nheartbeat_ttl_s = 0\n\
         start_stagger_s = 0\ncrash_loop_count = 1000\ncrash_loop_window_s = 1\nmax_restarts = 1000\n\
         [runtime]\nenabled = [\"eye\", \"flaky\"]\n[eye]\nlisten = \"127.0.0.1:{port}\"\n\
         health.fail_on = [\"modules\"]\n\
         [[alerts.sink]]\nkind = \"webhook\"\nurl = \"{}\"\nmin_interval_s = 0\n\
         events = [\"health_degraded\", \"health_recovered\", \"signal_allowed\", \"supervisor_started\", \"supervisor_stopping\"]\n",
        rx.url("/h"),
    ));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    env.sh_module(
        "flaky",
        "while true; do if [ -e ../../crash ]; then exit 1; fi; sleep 0.1; done",
        "",
    );
    let mut sup = env.start(&[]);
    let events = |r: &[Got]| -> Vec<String> {
        r.iter()
            .map(|g| g.json()["event"].as_str().unwrap_or("").to_string())
            .collect()
    };
    rx.wait("supervisor_started", secs(10.0), |r| {
        events(r).contains(&"supervisor_started".to_string())
    });
    env.wait_module("eye", "RUNNING", secs(20.0));
    std::thread::sleep(secs(2.0));
    env.write("crash", "");
    let r = rx.wait("health_degraded", secs(30.0), |r| {
        events(r).contains(&"health_degraded".to_string())
    });
    let d = r
        .iter()
        .map(Got::json)
        .find(|j| j["event"] == "health_degraded")
        .unwrap();
    assert_eq!(d["failing"], serde_json::json!(["modules"]), "{d}");
    let _ = std::fs::remove_file(env.path("crash"));
    rx.wait("health_recovered", secs(30.0), |r| {
        events(r).contains(&"health_recovered".to_string())
    });
    // An allowed signal stored by anyone (here: the test, as brain would) is announced once.
    let url = format!("sqlite://{}", env.path("data/aivex.sqlite").display());
    let mut store = aivex_store::Store::open(&url).unwrap();
    let now = jiff::Timestamp::now().as_second();
    // A back-filled allow (brain's history) is not announced.
    for (id, decision, origin) in [
        ("sig-allow-1", "allow", "live"),
        ("sig-deny-1", "deny", "live"),
        ("sig-backfill-1", "allow", "backfill"),
    ] {
        let s = aivex_store::SignalRecord {
            id: id.into(),
            symbol: "AAPL".into(),
            created_at: now,
            direction: 1,
            score: 0.42,
            confidence: 0.8,
            horizon_s: 86_400,
            components_json: "{}".into(),
            decision: decision.into(),
            reasons: if decision == "deny" {
                "COOLDOWN_ACTIVE".into()
            } else {
                String::new()
            },
            origin: origin.into(),
            recorded_at: now,
            lease: None,
        };
        let g = aivex_store::GovernorLogRecord {
            signal_id: id.into(),
            symbol: "AAPL".into(),
            decision: decision.into(),
            reason_codes: s.reasons.clone(),
            rules_json: "[]".into(),
            config_hash: "t".into(),
            at: now,
        };
        store.record_decision(&s, &g).unwrap();
    }
    let r = rx.wait("signal_allowed", secs(30.0), |r| {
        events(r).contains(&"signal_allowed".to_string())
    });
    let sig = r
        .iter()
        .map(Got::json)
        .find(|j| j["event"] == "signal_allowed")
        .unwrap();
    assert_eq!(
        (
            sig["symbol"].as_str(),
            sig["direction"].as_i64(),
            sig["confidence"].as_f64()
        ),
        (Some("AAPL"), Some(1), Some(0.8))
    );
    assert_eq!(sig["signal_id"], "sig-allow-1");
    assert!(sig["reasons"].is_array());
    std::thread::sleep(secs(6.0));
    let n = events(&rx.requests())
        .iter()
        .filter(|e| *e == "signal_allowed")
        .count();
    assert_eq!(
        n, 1,
        "announced once, never the denied or the back-filled one"
    );
    assert_eq!(sup.stop(), Some(0));
    // supervisor_stopping went out before the supervisor exited.
    assert!(events(&rx.requests()).contains(&"supervisor_stopping".to_string()));
}

#[test]
fn alert_test_reports_every_sink() {
    let env = Env::new("alert-test");
    let ok = Receiver::start(Answer::Ok);
    let closed = free_port();
    env.config(&format!(
        "[runtime]\nenabled = []\n\
         [[alerts.sink]]\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[alerts.sink]]\nkind = \"ntfy\"\nname = \"phone\"\nurl = \"http://127.0.0.1:{closed}/topicKEY9\"\ntimeout_s = 2\n\
         [[alerts.sink]]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat > {}\"]\n\
         [[alerts.sink]]\nkind = \"command\"\nname = \"nope\"\ncommand = [\"sh\", \"-c\", \"exit 5\"]\n",
        ok.url("/hook/KEY8"),
        env.path("test.json").display(),
    ));
    let out = env.run(&["alert-test"], secs(30.0));
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert!(
        lines[1].starts_with("ok      webhook#1 (webhook http://127.0.0.1:"),
        "{o}"
    );
    assert!(
        lines[2].starts_with("FAILED  phone (ntfy http://127.0.0.1:"),
        "{o}"
    );
    assert!(
        lines[3].starts_with("ok      command#3 (command sh)"),
        "{o}"
    );
    assert!(
        lines[4].starts_with("FAILED  nope (command sh)") && lines[4].contains("exit 5"),
        "{o}"
    );
    assert!(
        !o.contains("KEY8") && !o.contains("KEY9") && !e.contains("KEY"),
        "{o}{e}"
    );
    let sent = ok.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["event"], "alert_test");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("test.json")).unwrap()).unwrap();
    assert_eq!(file["event"], "alert_test");
    assert_eq!(file["event_id"].as_str().map(str::len), Some(16));
    // All sinks fine: exit 0. None configured: a usage error.
    env.config(&format!(
        "[runtime]\nenabled = []\n[[alerts.sink]]\nkind = \"webhook\"\nurl = \"{}\"\n",
        ok.url("/x")
    ));
    assert_eq!(env.run(&["alert-test"], secs(30.0)).status.code(), Some(0));
    env.config("[runtime]\nenabled = []\n");
    let out = env.run(&["alert-test"], secs(30.0));
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    // A bad sink is a config error with its line.
    env.config("[runtime]\nenabled = []\n[[alerts.sink]]\nkind = \"webhook\"\nurl = \"nope\"\n");
    let out = env.run(&["check-config"], secs(30.0));
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("aivex.toml:") && e.contains("needs url"), "{e}");
}
