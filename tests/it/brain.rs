//! The brain module (`aivex module brain --once`) against a real SQLite store seeded with
//! components, and `aivex calibrate`: composition rows, missing components, every governor
//! rule in governor_log, cooldown and window across runs, stale inputs, the halt switch,
//! idempotent re-runs, outcome scoring, calibration numbers and the exports switch.

use crate::harness::*;
use aivex_store::{
    Component, Feedback, GovernorLogRecord, OhlcvRow, SignalFilter, SignalRecord, Store,
};
use serde_json::{json, Value};
use std::time::Duration;

const RULES: [&str; 9] = [
    "HALTED",
    "BLACKLISTED",
    "NOT_ALLOWLISTED",
    "OUTSIDE_HOURS",
    "NEUTRAL",
    "MIN_CONFIDENCE",
    "STALE_INPUT",
    "COOLDOWN_ACTIVE",
    "WINDOW_LIMIT",
];

/// A seeded component: (symbol, kind, value, as_of).
type Seed<'a> = (&'a str, &'a str, f64, i64);
/// A rule case: (name, governor settings, components, expected reason codes).
type RuleCase<'a> = (&'a str, Value, Vec<Seed<'a>>, Vec<&'a str>);
/// A calibration row: (confidence, direction, components, outcome, realized return).
type CalRow<'a> = (f64, i32, Vec<(&'a str, f64)>, &'a str, Option<f64>);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A test directory with a migrated SQLite store at data/aivex.sqlite.
struct Brain {
    env: Env,
}

impl Brain {
    fn new(name: &str) -> Brain {
        let env = Env::new(name);
        std::fs::create_dir_all(env.path("data")).unwrap();
        let b = Brain { env };
        b.store().migrate().unwrap();
        b
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.env.path("data/aivex.sqlite").display())
    }

    fn store(&self) -> Store {
        Store::open(&self.url()).unwrap()
    }

    fn components(&self, rows: &[Seed]) {
        let rows: Vec<Component> = rows
            .iter()
            .map(|(symbol, kind, value, as_of)| Component {
                symbol: symbol.to_string(),
                kind: kind.to_string(),
                value: *value,
                as_of: *as_of,
                computed_at: now(),
                detail: "{}".into(),
            })
            .collect();
        self.store().upsert_components(&rows).unwrap();
    }

    /// `aivex module brain --once` with `settings` (JSON) and extra environment.
    fn run(&self, settings: &Value, extra: &[(&str, &str)]) -> std::process::Output {
        let run_dir = self.env.path("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut c = self.env.cmd(&["module", "brain", "--once"]);
        c.env("AIVEX_SETTINGS", settings.to_string())
            .env("AIVEX_DATABASE_URL", self.url())
            .env("AIVEX_RUN_DIR", &run_dir)
            .env("AIVEX_CONFIG_DIR", &self.env.dir)
            .env("AIVEX_DATA_DIR", self.env.path("data"));
        for (k, v) in extra {
            c.env(k, v);
        }
        let child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_output(child, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0), "brain failed: {:?}", text(&out));
        out
    }

    fn signals(&self, symbol: &str) -> Vec<SignalRecord> {
        let f = SignalFilter {
            symbol: Some(symbol.into()),
            ..Default::default()
        };
        self.store().signals_query(&f).unwrap()
    }

    fn log_for(&self, id: &str) -> Vec<GovernorLogRecord> {
        self.store().governor_log_for(id).unwrap()
    }
}

fn wait_output(mut child: std::process::Child, deadline: Duration) -> std::process::Output {
    let end = std::time::Instant::now() + deadline;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!(
                "brain did not finish within {deadline:?}: {:?}",
                text(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Settings with no once-mode wait (these tests seed exactly what they want) plus `extra`.
fn settings(governor: Value) -> Value {
    json!({ "once_wait_s": 0, "governor": governor })
}

fn reasons(s: &SignalRecord) -> Vec<&str> {
    s.reasons.split(',').filter(|r| !r.is_empty()).collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn composition_rows_missing_components_and_every_rule_logged() {
    let b = Brain::new("brain-compose");
    let t = now() - 60;
    b.components(&[
        ("AAPL", "chart", 0.8, t),
        ("AAPL", "news", 0.6, t),
        ("AAPL", "metrics", 0.4, t),
        ("MSFT", "chart", 0.8, t),
        ("NVDA", "chart", 0.6, t),
        ("NVDA", "metrics", -0.5, t),
    ]);
    let out = b.run(&settings(json!({})), &[]);
    let (_, stderr) = text(&out);

    // AAPL: everything present and agreeing, inputs a minute old: confidence ~1.
    let aapl = b.signals("AAPL");
    assert_eq!(aapl.len(), 1);
    let s = &aapl[0];
    assert!(close(s.score, 0.66, 1e-9), "{s:?}");
    assert_eq!(s.direction, 1);
    assert!(close(s.confidence, 1.0, 1e-3), "{s:?}");
    assert_eq!(s.decision, "allow");
    assert_eq!(s.reasons, "");
    let comps: Value = serde_json::from_str(&s.components_json).unwrap();
    let list = comps["components"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["kind"], "chart");
    assert!(close(list[0]["contribution"].as_f64().unwrap(), 0.4, 1e-9));
    assert!(close(list[0]["weight"].as_f64().unwrap(), 0.5, 1e-12));
    assert!(list[0]["age_s"].as_i64().unwrap() >= 60);
    assert!(comps["factors"]["coverage"].as_f64().is_some());

    // MSFT: only chart (weight 0.5 of 1.0): coverage halves the confidence instead of failing.
    let msft = &b.signals("MSFT")[0];
    assert!(close(msft.score, 0.8, 1e-9));
    assert!(close(msft.confidence, 0.5, 1e-3), "{msft:?}");
    let comps: Value = serde_json::from_str(&msft.components_json).unwrap();
    assert_eq!(comps["components"][1]["present"], false);
    assert!(close(
        comps["factors"]["coverage"].as_f64().unwrap(),
        0.5,
        1e-12
    ));

    // NVDA: worked example B of crates/brain/README.md: news missing, metrics disagrees:
    // confidence 2/7 < 0.3 is denied MIN_CONFIDENCE.
    let nvda = &b.signals("NVDA")[0];
    assert!(close(nvda.score, 2.0 / 7.0, 1e-9));
    assert!(close(nvda.confidence, 2.0 / 7.0, 1e-3), "{nvda:?}");
    assert_eq!(nvda.decision, "deny");
    assert_eq!(reasons(nvda), vec!["MIN_CONFIDENCE"]);

    // Every decision has one governor_log row listing every rule, in order, with its inputs.
    for s in [&aapl[0], msft, nvda] {
        let log = b.log_for(&s.id);
        assert_eq!(log.len(), 1, "{}", s.symbol);
        let g = &log[0];
        assert_eq!(g.decision, s.decision);
        assert_eq!(g.reason_codes, s.reasons);
        assert_eq!(g.config_hash.len(), 64);
        let rules: Value = serde_json::from_str(&g.rules_json).unwrap();
        let codes: Vec<&str> = rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, RULES);
        for r in rules.as_array().unwrap() {
            assert!(r["passed"].is_boolean() && r["inputs"].is_object(), "{r}");
        }
        let mc = &rules[5]["inputs"];
        assert!(
            close(mc["min_confidence"].as_f64().unwrap(), 0.3, 1e-12),
            "{mc}"
        );
    }
    // One structured line per decision.
    assert!(
        stderr.contains("event=signal symbol=NVDA")
            && stderr.contains("decision=deny reasons=MIN_CONFIDENCE"),
        "{stderr}"
    );
}

#[test]
fn each_governor_rule_denies_with_its_code() {
    let t = now() - 60;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .weekday();
    let other_day = match today {
        jiff::civil::Weekday::Monday => "Tue",
        _ => "Mon",
    };
    let fresh = [
        ("AAPL", "chart", 0.8, t),
        ("AAPL", "news", 0.6, t),
        ("AAPL", "metrics", 0.4, t),
    ];
    let table: Vec<RuleCase> = vec![
        ("allowed", json!({}), fresh.to_vec(), vec![]),
        (
            "halted",
            json!({"halted": true}),
            fresh.to_vec(),
            vec!["HALTED"],
        ),
        (
            "blacklisted",
            json!({"blacklist": ["aapl"]}),
            fresh.to_vec(),
            vec!["BLACKLISTED"],
        ),
        (
            "allowlist",
            json!({"allowlist": ["MSFT"]}),
            fresh.to_vec(),
            vec!["NOT_ALLOWLISTED"],
        ),
        (
            "outside hours",
            json!({"trading_hours": {"start": "00:00", "end": "24:00", "timezone": "UTC", "weekdays": [other_day]}}),
            fresh.to_vec(),
            vec!["OUTSIDE_HOURS"],
        ),
        (
            "neutral",
            json!({}),
            vec![("AAPL", "chart", 0.02, t), ("AAPL", "news", -0.02, t)],
            vec!["NEUTRAL", "MIN_CONFIDENCE"],
        ),
        (
            "min confidence",
            json!({"min_confidence": 0.999}),
            vec![("AAPL", "chart", 0.8, t)],
            vec!["MIN_CONFIDENCE"],
        ),
        (
            "stale chart",
            json!({"min_confidence": 0.0}),
            vec![
                ("AAPL", "chart", 0.8, t - 5 * 86_400),
                ("AAPL", "news", 0.6, t),
                ("AAPL", "metrics", 0.4, t),
            ],
            vec!["STALE_INPUT"],
        ),
        (
            "halted and blacklisted",
            json!({"halted": true, "blacklist": ["AAPL"], "min_confidence": 0.999}),
            vec![("AAPL", "chart", 0.8, t)],
            vec!["HALTED", "BLACKLISTED", "MIN_CONFIDENCE"],
        ),
    ];
    for (name, governor, comps, want) in table {
        let b = Brain::new("brain-rules");
        b.components(&comps);
        b.run(&settings(governor), &[]);
        let sigs = b.signals("AAPL");
        assert_eq!(sigs.len(), 1, "{name}");
        assert_eq!(reasons(&sigs[0]), want, "{name}");
        assert_eq!(
            sigs[0].decision,
            if want.is_empty() { "allow" } else { "deny" },
            "{name}"
        );
        let g = &b.log_for(&sigs[0].id)[0];
        let rules: Value = serde_json::from_str(&g.rules_json).unwrap();
        let failed: Vec<&str> = rules
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["passed"] == false)
            .map(|r| r["code"].as_str().unwrap())
            .collect();
        assert_eq!(failed, want, "{name}: {rules}");
        if name == "stale chart" {
            let stale = &rules[6]["inputs"];
            assert_eq!(stale["stale"], json!(["chart"]), "{stale}");
        }
    }
}

#[test]
fn cooldown_window_and_idempotent_reruns_across_cycles() {
    let b = Brain::new("brain-cooldown");
    let t = now() - 60;
    let strong = |v: f64, at: i64| {
        vec![
            ("AAPL", "chart", v, at),
            ("AAPL", "news", 0.6, t),
            ("AAPL", "metrics", 0.4, t),
        ]
    };
    b.components(&strong(0.8, t));
    let s = settings(json!({"cooldown_s": 3600}));
    b.run(&s, &[]);
    // Same inputs again: nothing new, however often it runs.
    b.run(&s, &[]);
    b.run(&s, &[]);
    assert_eq!(b.signals("AAPL").len(), 1);
    assert_eq!(b.store().all_components().unwrap().len(), 3);
    // A new bar: a new signal, denied by the cooldown of the first allow.
    b.components(&strong(0.7, t + 1));
    b.run(&s, &[]);
    let sigs = b.signals("AAPL");
    assert_eq!(sigs.len(), 2);
    // Both may carry the same second, so tell them apart by their inputs, not by order.
    let (first, second) = match sigs[0].components_json.contains("\"value\":0.7,") {
        true => (&sigs[1], &sigs[0]),
        false => (&sigs[0], &sigs[1]),
    };
    assert_eq!(first.decision, "allow");
    assert_eq!(reasons(second), vec!["COOLDOWN_ACTIVE"], "{sigs:?}");
    let g: Value = serde_json::from_str(&b.log_for(&second.id)[0].rules_json).unwrap();
    assert_eq!(g[7]["inputs"]["cooldown_s"], 3600);
    assert_eq!(g[7]["inputs"]["last_allowed_at"], first.created_at);

    // Window: no cooldown, two allows per symbol per window: the third is WINDOW_LIMIT.
    let b = Brain::new("brain-window");
    let s = settings(json!({"cooldown_s": 0, "max_per_symbol_in_window": 2}));
    for (i, v) in [0.8, 0.75, 0.7].into_iter().enumerate() {
        b.components(&strong(v, t + i as i64));
        b.run(&s, &[]);
    }
    let sigs = b.signals("AAPL");
    assert_eq!(sigs.len(), 3);
    for s in &sigs {
        let third = s.components_json.contains("\"value\":0.7,");
        let want: (&str, Vec<&str>) = if third {
            ("deny", vec!["WINDOW_LIMIT"])
        } else {
            ("allow", vec![])
        };
        assert_eq!((s.decision.as_str(), reasons(s)), want, "{s:?}");
    }

    // Global window: one allow for everyone, so the second symbol of the cycle is denied.
    let b = Brain::new("brain-global");
    b.components(&[("AAPL", "chart", 0.8, t), ("MSFT", "chart", 0.8, t)]);
    b.run(
        &settings(json!({"max_global_in_window": 1, "min_confidence": 0.1})),
        &[],
    );
    let (a, m) = (&b.signals("AAPL")[0], &b.signals("MSFT")[0]);
    assert_eq!(
        (a.decision.as_str(), m.decision.as_str()),
        ("allow", "deny")
    );
    assert_eq!(reasons(m), vec!["WINDOW_LIMIT"]);
}

#[test]
fn outcome_scoring_writes_one_auto_row_per_signal() {
    let b = Brain::new("brain-outcome");
    let day = 86_400;
    let t0 = (now() / day - 9) * day;
    let mut store = b.store();
    let signal = |id: &str, direction: i32, created_at: i64| {
        SignalRecord {
        id: id.into(),
        symbol: "AAPL".into(),
        created_at,
        direction,
        score: 0.5 * f64::from(direction),
        confidence: 0.6,
        horizon_s: 5 * day,
        components_json: json!({"components": [], "factors": {"coverage": 1.0, "agreement": 1.0, "freshness": 1.0, "strength": 1.0}}).to_string(),
        decision: "allow".into(),
        reasons: String::new(),
        origin: "live".into(),
        recorded_at: created_at,
        lease: None,
    }
    };
    let log = |id: &str, at: i64| GovernorLogRecord {
        signal_id: id.into(),
        symbol: "AAPL".into(),
        decision: "allow".into(),
        reason_codes: String::new(),
        rules_json: "[]".into(),
        config_hash: "test".into(),
        at,
    };
    // up: +1 and the price rose 10% (hit); down: -1 on the same move (miss); young: horizon
    // not over yet (nothing).
    for (id, dir, at) in [
        ("up", 1, t0 + 3600),
        ("down", -1, t0 + 3600),
        ("young", 1, now() - day),
        // Horizon over, but no bar after its end yet: it waits, and must not hide the older
        // signals of the same symbol from scoring.
        ("waiting", 1, now() - 5 * day - 60),
    ] {
        assert!(store
            .record_decision(&signal(id, dir, at), &log(id, at))
            .unwrap());
    }
    let bars: Vec<OhlcvRow> = (0..=8)
        .map(|i| OhlcvRow {
            symbol: "AAPL".into(),
            interval: "1d".into(),
            ts: t0 + i * day,
            open: 100.0,
            high: 120.0,
            low: 90.0,
            close: if i < 6 { 100.0 } else { 110.0 },
            adj_close: None,
            volume: 1.0,
            source: "test".into(),
        })
        .collect();
    store.upsert_bars(&bars).unwrap();
    let s = settings(json!({}));
    let out = b.run(&s, &[]);
    b.run(&s, &[]);
    let fb: Vec<Feedback> = b.store().feedback_since(None).unwrap();
    let mut got: Vec<(&str, &str, &str, f64)> = fb
        .iter()
        .map(|f| {
            (
                f.signal_id.as_str(),
                f.source.as_str(),
                f.outcome.as_str(),
                f.realized_return.unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(got.len(), 2, "{fb:?}");
    assert_eq!((got[0].0, got[0].1, got[0].2), ("down", "auto", "miss"));
    assert_eq!((got[1].0, got[1].1, got[1].2), ("up", "auto", "hit"));
    assert!(
        close(got[0].3, 0.1, 1e-12) && close(got[1].3, 0.1, 1e-12),
        "{got:?}"
    );
    assert!(text(&out).1.contains("event=outcome symbol=AAPL id=up"));
}

#[test]
fn exports_on_and_off() {
    let t = now() - 60;
    for (value, want) in [(None, true), (Some("false"), false)] {
        let b = Brain::new("brain-exports");
        b.components(&[("AAPL", "chart", 0.8, t), ("MSFT", "chart", -0.8, t)]);
        let extra: Vec<(&str, &str)> = value
            .map(|v| vec![("AIVEX_EXPORTS", v)])
            .unwrap_or_default();
        b.run(&settings(json!({})), &extra);
        let latest = b.env.path("run/exports/latest_signals.json");
        let summary = b.env.path("run/exports/governor_summary.json");
        assert_eq!(latest.exists(), want, "{value:?}");
        assert_eq!(summary.exists(), want, "{value:?}");
        if want {
            let doc: Value = serde_json::from_slice(&std::fs::read(latest).unwrap()).unwrap();
            assert_eq!(doc["schema"], "aivex.latest_signals.v1");
            assert_eq!(doc["count"], 2);
            assert_eq!(doc["signals"][0]["symbol"], "AAPL");
            assert_eq!(doc["signals"][1]["direction"], -1);
            let sum: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
            assert_eq!(sum["total"], 2);
            assert_eq!(
                sum["allowed"].as_u64().unwrap() + sum["denied"].as_u64().unwrap(),
                2
            );
            assert_eq!(sum["config_hash"].as_str().unwrap().len(), 64);
        }
    }
}

/// The hand-computed data set of crates/brain/README.md ("Calibration").
#[test]
fn calibrate_json_matches_the_hand_computed_set() {
    let b = Brain::new("brain-calibrate");
    b.env.config("[runtime]\nenabled = [\"brain\"]\n");
    b.env.module(
        "brain",
        "builtin = \"brain\"\n[settings]\ncalibrate_min_n = 2\n",
    );
    let rows: [CalRow; 5] = [
        (
            0.9,
            1,
            vec![("chart", 0.8), ("news", 0.5), ("metrics", 0.2)],
            "hit",
            Some(0.04),
        ),
        (
            0.7,
            1,
            vec![("chart", 0.6), ("news", -0.4)],
            "miss",
            Some(-0.02),
        ),
        (
            0.3,
            -1,
            vec![("chart", -0.5), ("metrics", 0.4)],
            "hit",
            Some(-0.03),
        ),
        (
            0.1,
            0,
            vec![("chart", 0.05), ("news", -0.05)],
            "flat",
            Some(0.001),
        ),
        (
            0.85,
            -1,
            vec![("chart", -0.9), ("news", -0.6)],
            "miss",
            None,
        ),
    ];
    let weight = |k: &str| match k {
        "chart" => 0.5,
        "news" => 0.3,
        _ => 0.2,
    };
    let mut store = b.store();
    let base = now() - 30 * 86_400;
    for (i, (confidence, direction, comps, outcome, ret)) in rows.iter().enumerate() {
        let id = format!("cal{i}");
        let components: Vec<Value> = comps
            .iter()
            .map(|(k, v)| json!({"kind": k, "value": v, "weight": weight(k), "present": true}))
            .collect();
        let s = SignalRecord {
            id: id.clone(),
            symbol: "AAPL".into(),
            created_at: base + i as i64,
            direction: *direction,
            score: 0.0,
            confidence: *confidence,
            horizon_s: 86_400,
            components_json: json!({"components": components, "factors": {}}).to_string(),
            decision: "allow".into(),
            reasons: String::new(),
            origin: "live".into(),
            recorded_at: base + i as i64,
            lease: None,
        };
        let g = GovernorLogRecord {
            signal_id: id.clone(),
            symbol: "AAPL".into(),
            decision: "allow".into(),
            reason_codes: String::new(),
            rules_json: "[]".into(),
            config_hash: "x".into(),
            at: s.created_at,
        };
        store.record_decision(&s, &g).unwrap();
        let f = Feedback {
            signal_id: id,
            source: "research".into(),
            outcome: outcome.to_string(),
            realized_return: *ret,
            horizon_s: None,
            note: None,
            at: base + 10 * 86_400,
        };
        store.insert_feedback(&f).unwrap();
    }
    let out = b.env.run(
        &["calibrate", "--config", "aivex.toml", "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cal = &doc["calibration"];
    let f = |v: &Value| v.as_f64().unwrap();
    assert_eq!(cal["rows"], 5);
    assert_eq!(cal["min_n"], 2);
    assert!(close(f(&cal["overall"]["hit_rate"]), 0.6, 1e-12));
    assert!(close(f(&cal["overall"]["mean_return"]), 0.0125, 1e-12));
    assert!(close(f(&cal["overall"]["brier"]), 0.5045, 1e-12));
    let comp = |k: &str| {
        cal["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == k)
            .unwrap()
            .clone()
    };
    assert!(close(
        f(&comp("chart")["stats"]["brier"]),
        0.23453125,
        1e-12
    ));
    assert!(close(
        f(&comp("chart")["stats"]["mean_return"]),
        0.01275,
        1e-12
    ));
    for (k, n) in [("chart", 153.0), ("news", 236.0), ("metrics", 60.0)] {
        assert!(
            close(f(&comp(k)["suggested_weight"]), n / 449.0, 1e-12),
            "{k}: {}",
            comp(k)
        );
    }
    let top = cal["buckets"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(top["stats"]["n"], 2);
    assert!(close(f(&top["stats"]["brier"]), 0.36625, 1e-12));

    // The table form says the weights are advice; nothing is written.
    let out = b.env.run(
        &["calibrate", "--config", "aivex.toml"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("unchanged"), "{:?}", text(&out));
    assert_eq!(b.store().feedback_since(None).unwrap().len(), 5);

    // --since after every signal: no rows. A bad --since is a usage error naming the value.
    let out = b.env.run(
        &[
            "calibrate",
            "--config",
            "aivex.toml",
            "--json",
            "--since",
            "2999-01-01",
        ],
        Duration::from_secs(30),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["calibration"]["rows"], 0);
    let out = b.env.run(
        &[
            "calibrate",
            "--config",
            "aivex.toml",
            "--since",
            "last-tuesday",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("\"last-tuesday\""),
        "{:?}",
        text(&out)
    );
}

#[test]
fn once_mode_waits_bounded_for_missing_input_kinds() {
    let b = Brain::new("brain-once-wait");
    b.components(&[("AAPL", "chart", 0.8, now() - 60)]);
    let started = std::time::Instant::now();
    let out = b.run(&json!({"once_wait_s": 1}), &[]);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(
        text(&out)
            .1
            .contains("no news/metrics component yet after waiting 1s"),
        "{:?}",
        text(&out)
    );
    // It still composes with what there is.
    assert_eq!(b.signals("AAPL").len(), 1);
    // With every kind present there is nothing to wait for.
    b.components(&[
        ("AAPL", "news", 0.5, now() - 60),
        ("AAPL", "metrics", 0.5, now() - 60),
    ]);
    let out = b.run(&json!({"once_wait_s": 30}), &[]);
    assert!(!text(&out).1.contains("component yet"), "{:?}", text(&out));
    assert_eq!(b.signals("AAPL").len(), 2);
}

/// In a long-running process, a signal whose exit bar arrives later is scored in a later
/// cycle (it waits in memory; only new signals are read from the store).
#[test]
fn outcome_waiting_for_bars_is_scored_when_they_arrive() {
    let b = Brain::new("brain-outcome-later");
    let day = 86_400;
    let t0 = (now() / day - 9) * day;
    let mut store = b.store();
    let rec = SignalRecord {
        id: "late".into(),
        symbol: "MSFT".into(),
        created_at: t0 + 3600,
        direction: -1,
        score: -0.5,
        confidence: 0.6,
        horizon_s: 5 * day,
        components_json: json!({"components": [], "factors": {}}).to_string(),
        decision: "allow".into(),
        reasons: String::new(),
        origin: "live".into(),
        recorded_at: t0 + 3600,
        lease: None,
    };
    let g = GovernorLogRecord {
        signal_id: "late".into(),
        symbol: "MSFT".into(),
        decision: "allow".into(),
        reason_codes: String::new(),
        rules_json: "[]".into(),
        config_hash: "test".into(),
        at: rec.created_at,
    };
    store.record_decision(&rec, &g).unwrap();
    let bar = |i: i64, close: f64| OhlcvRow {
        symbol: "MSFT".into(),
        interval: "1d".into(),
        ts: t0 + i * day,
        open: close,
        high: close,
        low: close,
        close,
        adj_close: None,
        volume: 1.0,
        source: "test".into(),
    };
    // Only bars before the horizon end: nothing to score yet.
    store
        .upsert_bars(&[bar(0, 100.0), bar(1, 100.0), bar(2, 99.0)])
        .unwrap();
    let run_dir = b.env.path("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let log = std::fs::File::create(b.env.path("brain.log")).unwrap();
    let mut child = Killed(
        b.env
            .cmd(&["module", "brain"])
            .env("AIVEX_SETTINGS", json!({"once_wait_s": 0}).to_string())
            .env("AIVEX_DATABASE_URL", b.url())
            .env("AIVEX_RUN_DIR", &run_dir)
            .env("AIVEX_INTERVAL_S", "0.2")
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("two brain cycles", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(b.env.path("brain.log")).unwrap_or_default();
        (text.matches("event=cycle").count() >= 2).then_some(())
    });
    assert!(b.store().feedback_since(None).unwrap().is_empty());
    store.upsert_bars(&[bar(6, 90.0), bar(7, 95.0)]).unwrap();
    let fb = wait_for("the late outcome", Duration::from_secs(20), || {
        b.store().feedback_since(None).unwrap().into_iter().next()
    });
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < end,
            "brain did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    // Short the stock, which fell 10% from the entry close: a hit.
    assert_eq!(
        (
            fb.signal_id.as_str(),
            fb.source.as_str(),
            fb.outcome.as_str()
        ),
        ("late", "auto", "hit")
    );
    assert!(close(fb.realized_return.unwrap(), -0.1, 1e-12), "{fb:?}");
    assert_eq!(b.store().feedback_since(None).unwrap().len(), 1);
}

/// A child process killed when the test ends early (a failed wait must not leave it running).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
