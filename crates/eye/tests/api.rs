//! Eye over real HTTP against a real store: every endpoint, auth on and off, paging and
//! filters, idempotent feedback, health verdicts, SSE resume, and the OpenAPI/route check.
//! Each scenario runs on SQLite and on MariaDB (`AIVEX_TEST_MYSQL_URL`; required under CI).

mod common;

use common::{rfc, Backend, Fixture};
use serde_json::{json, Value};
use std::collections::BTreeSet;

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $mysql:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(Backend::Sqlite);
        }
        #[test]
        fn $mysql() {
            $scenario(Backend::Mysql);
        }
    };
}

both!(
    paging_and_filters,
    paging_and_filters_sqlite,
    paging_and_filters_mysql
);
both!(
    feedback_is_idempotent,
    feedback_is_idempotent_sqlite,
    feedback_is_idempotent_mysql
);
both!(auth_on, auth_on_sqlite, auth_on_mysql);
both!(feedback_burst, feedback_burst_sqlite, feedback_burst_mysql);
both!(
    openapi_matches_routes,
    openapi_matches_routes_sqlite,
    openapi_matches_routes_mysql
);
both!(events_resume, events_resume_sqlite, events_resume_mysql);
both!(
    health_modules_metrics,
    health_modules_metrics_sqlite,
    health_modules_metrics_mysql
);

fn ids(v: &Value) -> Vec<String> {
    v["signals"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn paging_and_filters(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let mut want = Vec::new();
    for i in 0..25 {
        want.push(f.signal(&sym, f.base + i as i64, i, i % 5 == 0));
    }
    want.reverse();
    // History of one symbol, 10 at a time, newest first.
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let r = f.get(&format!("/signals/{sym}?limit=10{q}"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        got.extend(ids(&v));
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(got, want);

    // Full context on each signal.
    let v = f.get(&format!("/signals/{sym}?limit=1"), None).json();
    let s = &v["signals"][0];
    assert_eq!(s["components"]["chart"]["weight"], 0.6);
    assert_eq!(s["components"]["news"]["input_age_s"], 600);
    assert_eq!(s["governor"]["rules"][0]["rule"], "MIN_CONFIDENCE");
    assert_eq!(s["governor"]["config_hash"], "cfg");
    assert_eq!(s["created_at"], rfc(f.base + 24));

    // Filters on the history.
    let v = f.get(&format!("/signals/{sym}?decision=deny"), None).json();
    assert_eq!(v["count"], 5);
    assert!(v["signals"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|s| s["decision"] == "deny"
            && s["reason_codes"] == json!(["MIN_CONFIDENCE", "COOLDOWN_ACTIVE"])));
    let v = f
        .get(&format!("/signals/{sym}?min_confidence=0.5"), None)
        .json();
    assert_eq!(v["count"], 20);
    let v = f
        .get(
            &format!(
                "/signals/{sym}?since={}&until={}",
                rfc(f.base + 10),
                rfc(f.base + 12)
            ),
            None,
        )
        .json();
    assert_eq!(ids(&v), vec![want[13].clone(), want[14].clone()]);

    // Latest per symbol over 12 symbols, 5 per page, inside this fixture's window.
    for i in 1..=12 {
        let s = f.symbol(i);
        f.signal(&s, f.base + 100, 0, false);
        f.signal(&s, f.base + 200 + i as i64, 1, false);
    }
    let window = format!("since={}&until={}", rfc(f.base + 50), rfc(f.base + 1000));
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let v = f.get(&format!("/signals?limit=5&{window}{q}"), None).json();
        got.extend(ids(&v));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let want: Vec<String> = (1..=12)
        .rev()
        .map(|i| format!("{}-{}-1", f.symbol(i), f.base + 200 + i as i64))
        .collect();
    assert_eq!(got, want);
    let v = f
        .get(&format!("/signals?symbol={}&{window}", f.symbol(3)), None)
        .json();
    assert_eq!(v["count"], 1);

    // Bad parameters are 400 invalid_query naming the parameter.
    for q in [
        "limit=0",
        "limit=abc",
        "since=yesterday",
        "decision=maybe",
        "cursor=zz",
        "bogus=1",
        "min_confidence=2",
    ] {
        let r = f.get(&format!("/signals?{q}"), None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{q}: {}",
            r.body
        );
    }
    for (bad, status, code) in [
        ("/signals/a%20b", 400, "invalid_query"),
        ("/signals/%3Cscript%3E", 400, "invalid_query"),
        ("/signals/..%2Fetc", 400, "invalid_query"),
        ("/signals/%00", 400, "invalid_query"),
    ] {
        let r = f.get(bad, None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{bad}: {}",
            r.body
        );
    }
    let r = f.get(&format!("/signals/{}NOPE", f.prefix), None);
    assert_eq!((r.status, r.json()["count"].clone()), (200, json!(0)));
}

fn feedback_is_idempotent(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let id = f.signal(&sym, f.base, 0, false);
    let body = json!({"signal_id": id, "outcome": "hit", "realized_return": 0.031, "horizon": "1d", "source": "backtest", "note": "first"}).to_string();
    let r = f.post_json("/signals/feedback", &body, None);
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["created"], true);
    assert_eq!(v["feedback"]["horizon_s"], 86_400);
    // A repeat (even with other values) returns the stored row and writes nothing.
    let again = json!({"signal_id": id, "outcome": "miss", "source": "backtest", "note": "second"})
        .to_string();
    let r = f.post_json("/signals/feedback", &again, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v2 = r.json();
    assert_eq!(v2["created"], false);
    assert_eq!(v2["feedback"]["outcome"], "hit");
    assert_eq!(v2["feedback"]["note"], "first");
    let stored: Vec<_> = f
        .store
        .feedback_since(None)
        .unwrap_or_default()
        .into_iter()
        .filter(|x| x.signal_id == id)
        .collect();
    assert_eq!(stored.len(), 1);
    // Another source is another row.
    let other = json!({"signal_id": id, "outcome": "flat", "source": "analyst"}).to_string();
    assert_eq!(f.post_json("/signals/feedback", &other, None).status, 201);

    let unknown =
        json!({"signal_id": format!("{}-nope", f.prefix), "outcome": "hit", "source": "x"})
            .to_string();
    let r = f.post_json("/signals/feedback", &unknown, None);
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "not_found"),
        "{}",
        r.body
    );
    let table = [
        (
            json!({"signal_id": id, "outcome": "win", "source": "x"}),
            "outcome",
        ),
        (json!({"signal_id": id, "outcome": "hit"}), "source"),
        (
            json!({"signal_id": id, "outcome": "hit", "source": "x", "realized_return": "big"}),
            "realized_return",
        ),
        (
            json!({"signal_id": id, "outcome": "hit", "source": "x", "horizon": "soon"}),
            "horizon",
        ),
        (
            json!({"signal_id": id, "outcome": "hit", "source": "x", "colour": "red"}),
            "colour",
        ),
        (json!({"outcome": "hit", "source": "x"}), "signal_id"),
    ];
    for (body, field) in table {
        let r = f.post_json("/signals/feedback", &body.to_string(), None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "invalid_field"),
            "{body}: {}",
            r.body
        );
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(msg.starts_with(&format!("field {field}:")), "{body}: {msg}");
    }
}

const TOKENS: [&str; 2] = ["old-token-aaaa1111", "new-token-bbbb2222"];

fn auth_on(b: Backend) {
    let Some(mut f) = Fixture::new(b, |c| {
        c.tokens = TOKENS.iter().map(|t| t.to_string()).collect()
    }) else {
        return;
    };
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    f.eye.housekeep();
    // /health stays public.
    assert_eq!(f.get("/health", None).status, 200);
    for path in [
        "/signals",
        "/modules",
        "/metrics",
        "/openapi.json",
        "/events",
    ] {
        let r = f.get(path, None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "unauthorized"),
            "{path}"
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"aivex\""),
            "{path}"
        );
        assert!(!r.body.contains("token-"), "{path}: {}", r.body);
        let r = f.get(path, Some("new-token-bbbb222"));
        assert_eq!(r.status, 401, "{path}: prefix of a token");
    }
    // Both tokens work (rotation).
    for t in TOKENS {
        assert_eq!(f.get("/signals", Some(t)).status, 200);
    }
    // A token in the query string is never accepted.
    let r = f.get(&format!("/signals?access_token={}", TOKENS[0]), None);
    assert_eq!(r.status, 401);
    let body = json!({"signal_id": id, "outcome": "hit", "source": "x"}).to_string();
    assert_eq!(f.post_json("/signals/feedback", &body, None).status, 401);
    assert_eq!(
        f.post_json("/signals/feedback", &body, Some(TOKENS[1]))
            .status,
        201
    );
}

fn openapi_matches_routes(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let id = f.signal(&sym, f.base, 0, false);
    f.eye.housekeep();
    let doc = f.get("/openapi.json", None).json();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, _) in ops.as_object().into_iter().flatten() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = aivex_eye::ROUTES
        .iter()
        .map(|r| (r.0.to_string(), r.1.to_string()))
        .collect();
    assert_eq!(documented, routed, "documented vs routed");
    // Every documented operation answers (not 404/405) over HTTP. An asset is named by the
    // page; a module log by a module of the run.
    let page = f.get("/", None).body;
    let asset = page
        .split("\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page names no asset: {page}"))
        .to_string();
    for (method, path) in &documented {
        let concrete = path
            .replace("{symbol}", &sym)
            .replace("{name}", "news")
            .replace("{file}", &asset);
        let status = match (method.as_str(), concrete.as_str()) {
            ("GET", "/events") => common::open_stream(f.addr, "").1,
            ("GET", p) => f.get(p, None).status,
            ("POST", p) => {
                f.post_json(
                    p,
                    &json!({"signal_id": id, "outcome": "hit", "source": "openapi"}).to_string(),
                    None,
                )
                .status
            }
            other => panic!("unexpected operation {other:?}"),
        };
        assert!(
            matches!(status, 200 | 201 | 503),
            "{method} {path}: {status}"
        );
    }
    // Every route that is not documented is a JSON 404 or 405.
    let r = f.get("/nope", None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = common::raw(
        f.addr,
        b"DELETE /signals HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.code().as_str(), r.header("allow")),
        (405, "method_not_allowed", Some("GET"))
    );
    let r = f.get("/signals/feedback", None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
}

fn events_resume(b: Backend) {
    let Some(mut f) = Fixture::new(b, |c| c.max_streams = 1) else {
        return;
    };
    let now = common::now();
    f.eye.housekeep();
    let (mut s, status, mut buf) = common::open_stream(f.addr, "");
    assert_eq!(status, 200);
    // A second concurrent stream is refused (max_streams = 1).
    let r = common::raw(f.addr, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.code().as_str()), (503, "too_many_streams"));

    let sym = f.symbol(0);
    let a = f.signal(&sym, now, 0, true);
    f.append_history(&json!({"at": rfc(now), "module": "news", "event": "transition", "from": "RUNNING", "to": "CRASHED", "reason": "exit 1", "restarts": 1}));
    f.eye.housekeep();
    let evs = common::read_events(&mut s, 3, &mut buf);
    let kinds: Vec<&str> = evs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(kinds, vec!["signal", "decision", "module"], "{evs:?}");
    assert_eq!(evs[0].2["id"], a.as_str());
    assert_eq!(
        evs[0].2["governor"]["reason_codes"],
        json!(["MIN_CONFIDENCE", "COOLDOWN_ACTIVE"])
    );
    assert_eq!(evs[1].2["decision"], "deny");
    assert_eq!(evs[2].2["to"], "CRASHED");
    assert!(
        evs.windows(2).all(|w| w[0].0 < w[1].0),
        "ids increase: {evs:?}"
    );
    // Keep-alive comments arrive on an idle stream (keepalive is 0.5 s here).
    let mut idle = Vec::new();
    let t0 = std::time::Instant::now();
    while !String::from_utf8_lossy(&idle).contains(": keep-alive")
        && t0.elapsed() < common::DEADLINE
    {
        let mut chunk = [0u8; 256];
        if let Ok(n) = std::io::Read::read(&mut s, &mut chunk) {
            idle.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        }
    }
    assert!(String::from_utf8_lossy(&idle).contains(": keep-alive"));
    let last = evs[2].0;
    drop(s);

    // Events published while disconnected are delivered on resume, and only those.
    let c = f.signal(&sym, now + 1, 1, false);
    f.eye.housekeep();
    let mut s = None;
    for _ in 0..50 {
        // The old stream's slot is freed once its thread notices the closed socket.
        let (mut t, status, mut head) =
            common::open_stream(f.addr, &format!("Last-Event-ID: {last}\r\n"));
        if status == 200 {
            s = Some(common::read_events(&mut t, 2, &mut head));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let evs = s.unwrap_or_else(|| panic!("could not reconnect to /events"));
    let kinds: Vec<(&str, Value)> = evs
        .iter()
        .map(|e| (e.1.as_str(), e.2["id"].clone()))
        .collect();
    assert_eq!(kinds.first(), Some(&("signal", json!(c))), "{evs:?}");
    assert!(evs.iter().all(|e| e.0 > last));

    // A Last-Event-ID from before this process reports the gap.
    for _ in 0..50 {
        let (mut t, status, mut head) = common::open_stream(f.addr, "Last-Event-ID: 5\r\n");
        if status == 200 {
            let evs = common::read_events(&mut t, 1, &mut head);
            assert_eq!(evs.first().map(|e| e.1.as_str()), Some("resync"), "{evs:?}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("could not reconnect to /events for the gap check");
}

fn health_modules_metrics(b: Backend) {
    let Some(mut f) = Fixture::new(b, |c| {
        c.freshness.insert("news".into(), 3600.0);
    }) else {
        return;
    };
    // Stored before Eye's first look: counted by the metrics backfill, not announced.
    f.signal(&f.symbol(1), f.base, 0, true);
    // Before any housekeeping the store has not been probed: degraded.
    let r = f.get("/health", None);
    assert_eq!(r.status, 503);
    assert!(r.json()["failing"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|x| x == "store"));
    // No news input yet in a fresh database: freshness fails. (A shared MariaDB database may
    // hold news rows from earlier runs, so only the SQLite variant can check this.)
    f.eye.housekeep();
    if b == Backend::Sqlite {
        let v = f.get("/health", None).json();
        assert_eq!(v["failing"], json!(["freshness"]), "{v}");
    }
    let now = common::now();
    f.store
        .upsert_components(&[aivex_store::Component {
            symbol: f.symbol(0),
            kind: "news".into(),
            value: 0.1,
            as_of: now,
            computed_at: now,
            detail: "{}".into(),
        }])
        .unwrap_or_else(|e| panic!("{e}"));
    f.eye.housekeep();
    let r = f.get("/health", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["modules"]["news"]["state"], "RUNNING");
    assert_eq!(v["checks"].as_array().map(|a| a.len()), Some(7));
    // Not part of a cluster: the cluster check passes and says so.
    let cluster = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "cluster"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(cluster["ok"], true, "{cluster}");

    let running = json!({"state": "RUNNING", "restarts": 0, "heartbeat_age_s": 1.0, "heartbeat_ttl_s": 60.0, "last_exit": null});
    let table = [
        (
            vec![("news", json!({"state": "LOOP_DETECTED", "restarts": 5}))],
            0.0,
            "modules",
        ),
        (
            vec![(
                "news",
                json!({"state": "STOPPED", "reason": "config_error", "last_exit": {"code": 2}}),
            )],
            0.0,
            "modules",
        ),
        (
            vec![(
                "news",
                json!({"state": "RUNNING", "heartbeat_age_s": 90.0, "heartbeat_ttl_s": 60.0}),
            )],
            0.0,
            "heartbeats",
        ),
        (vec![("news", running.clone())], 60.0, "supervisor"),
    ];
    for (mods, age, failing) in table {
        f.write_state(&mods, age);
        let r = f.get("/health", None);
        assert_eq!(r.status, 503, "{failing}: {}", r.body);
        assert_eq!(r.json()["failing"], json!([failing]), "{}", r.body);
    }
    f.write_state(&[("news", running.clone()), ("eye", running)], 0.0);
    assert_eq!(f.get("/health", None).status, 200);

    let v = f.get("/modules", None).json();
    assert_eq!(v["run_id"], "test-run");
    assert_eq!(v["modules"]["eye"]["state"], "RUNNING");

    let r = f.get("/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    for want in [
        "aivex_module_state{module=\"news\",state=\"RUNNING\"} 1",
        "aivex_module_restarts_total{module=\"eye\"} 0",
        "aivex_input_components{kind=\"news\"}",
        "aivex_eye_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}",
        "aivex_eye_request_duration_seconds_bucket{route=\"/modules\",le=\"+Inf\"} 1",
        "aivex_decision_reasons_total{decision=\"deny\",reason=\"MIN_CONFIDENCE\"}",
    ] {
        assert!(
            r.body.lines().any(|l| l.starts_with(want)),
            "missing {want}\n{}",
            r.body
        );
    }

    // No state file at all: the supervisor is gone.
    let _ = std::fs::remove_file(f.run_dir.join("state").join("runtime_state.json"));
    let r = f.get("/health", None);
    assert_eq!(r.status, 503);
    let r = f.get("/modules", None);
    assert_eq!((r.status, r.code().as_str()), (503, "state_unavailable"));
}

/// A burst of concurrent feedback POSTs (stored in shared transactions): every one gets its
/// own answer: created, a repeat of a pair from the same burst (one 201, the others 200 with
/// the first row), an unknown signal 404, a bad body 422; exactly the created rows are stored.
fn feedback_burst(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let id = f.signal(&sym, f.base, 0, false);
    let addr = f.addr;
    let post = move |body: String| {
        let req = format!(
            "POST /signals/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        common::raw(addr, req.as_bytes())
    };
    let mut bodies: Vec<(String, u16)> = (0..24)
        .map(|i| {
            (
                json!({"signal_id": id, "outcome": "hit", "source": format!("burst-{i}")})
                    .to_string(),
                201,
            )
        })
        .collect();
    for _ in 0..4 {
        bodies.push((
            json!({"signal_id": id, "outcome": "miss", "source": "same"}).to_string(),
            0,
        ));
    }
    bodies.push((
        json!({"signal_id": "nope", "outcome": "hit", "source": "x"}).to_string(),
        404,
    ));
    bodies.push((
        json!({"signal_id": id, "outcome": "win", "source": "x"}).to_string(),
        422,
    ));
    let handles: Vec<_> = bodies
        .iter()
        .map(|(body, _)| {
            let body = body.clone();
            std::thread::spawn(move || post(body))
        })
        .collect();
    let got: Vec<common::Resp> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| panic!("a poster panicked")))
        .collect();
    let mut same = Vec::new();
    for ((body, want), r) in bodies.iter().zip(&got) {
        if *want == 0 {
            same.push(r.status);
            assert_eq!(r.json()["feedback"]["source"], "same", "{}", r.body);
        } else {
            assert_eq!(r.status, *want, "{body}: {}", r.body);
        }
    }
    same.sort();
    assert_eq!(
        same,
        vec![200, 200, 200, 201],
        "one of the repeated pair is created"
    );
    let stored = f
        .store
        .feedback_since(None)
        .unwrap_or_else(|e| panic!("feedback: {e}"));
    assert_eq!(stored.len(), 25);
}
