//! Eye and the signal history over real HTTP against a real store: every signal carries its
//! `origin`, `recorded_at` and `outcome` (null until brain's automatic scoring stored one),
//! and `origin=` filters `/signals` and `/signals/{symbol}`. On SQLite and on MariaDB
//! (`AIVEX_TEST_MYSQL_URL`; required under CI).

mod common;

use aivex_core::contract::AUTO_FEEDBACK_SOURCE;
use aivex_store::{Feedback, GovernorLogRecord, SignalRecord};
use common::{rfc, Backend, Fixture};
use serde_json::{json, Value};

#[test]
fn origin_filter_and_outcome_sqlite() {
    origin_filter_and_outcome(Backend::Sqlite);
}

#[test]
fn origin_filter_and_outcome_mysql() {
    origin_filter_and_outcome(Backend::Mysql);
}

fn ids(v: &Value) -> Vec<String> {
    v["signals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(String::from))
        .collect()
}

/// Stores a signal as brain's back-fill writes one: origin `backfill`, `created_at` the as-of
/// time, `recorded_at` when it was written.
fn backfilled(f: &mut Fixture, symbol: &str, at: i64, recorded_at: i64) -> String {
    let id = format!("{symbol}-bf-{at}");
    let s = SignalRecord {
        id: id.clone(),
        symbol: symbol.into(),
        created_at: at,
        direction: 1,
        score: 0.4,
        confidence: 0.5,
        horizon_s: 86_400,
        components_json: "{}".into(),
        decision: "allow".into(),
        reasons: String::new(),
        origin: "backfill".into(),
        recorded_at,
        lease: None,
    };
    let g = GovernorLogRecord {
        signal_id: id.clone(),
        symbol: symbol.into(),
        decision: "allow".into(),
        reason_codes: String::new(),
        rules_json: "[]".into(),
        config_hash: "cfg".into(),
        at,
    };
    f.store.record_decision(&s, &g).unwrap();
    id
}

fn origin_filter_and_outcome(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let (a, other) = (f.symbol(0), f.symbol(1));
    // Two back-filled signals (as of past bar closes, written later), then a live one.
    let base = f.base;
    let recorded = base + 5_000;
    let old = backfilled(&mut f, &a, base, recorded);
    let older = backfilled(&mut f, &a, base - 86_400, recorded);
    let live = f.signal(&a, f.base + 100, 2, false);
    let elsewhere = f.signal(&other, f.base + 50, 3, false);
    let scored = Feedback {
        signal_id: old.clone(),
        source: AUTO_FEEDBACK_SOURCE.into(),
        outcome: "hit".into(),
        realized_return: Some(0.0312),
        horizon_s: Some(86_400),
        note: Some("entry bar 1 exit bar 2".into()),
        at: recorded + 60,
    };
    // Feedback from another source is not the automatic outcome.
    let posted = Feedback {
        signal_id: live.clone(),
        source: "broker".into(),
        outcome: "miss".into(),
        ..scored.clone()
    };
    f.store.insert_feedbacks(&[scored, posted]).unwrap();

    let v = f.get(&format!("/signals/{a}"), None).json();
    assert_eq!(ids(&v), vec![live.clone(), old.clone(), older.clone()]);
    let by_id = |id: &str| -> Value {
        v["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let s = by_id(&old);
    assert_eq!(s["origin"], "backfill");
    assert_eq!(s["created_at"], rfc(f.base));
    assert_eq!(s["recorded_at"], rfc(recorded));
    assert_eq!(s["recorded_at_unix"], recorded);
    assert_eq!(
        s["outcome"],
        json!({"kind": "hit", "realized_return": 0.0312, "scored_at": rfc(recorded + 60), "scored_at_unix": recorded + 60})
    );
    assert_eq!(by_id(&older)["outcome"], Value::Null, "not scored yet");
    let l = by_id(&live);
    assert_eq!(
        (l["origin"].as_str(), l["outcome"].clone()),
        (Some("live"), Value::Null)
    );
    assert_eq!(l["recorded_at_unix"], f.base + 100);

    let v = f.get(&format!("/signals/{a}?origin=backfill"), None).json();
    assert_eq!(ids(&v), vec![old.clone(), older.clone()]);
    let v = f.get(&format!("/signals/{a}?origin=live"), None).json();
    assert_eq!(ids(&v), vec![live.clone()]);
    // The latest per symbol among back-filled signals only.
    let v = f.get("/signals?origin=backfill", None).json();
    assert_eq!(ids(&v), vec![old.clone()]);
    let v = f.get("/signals?origin=live", None).json();
    assert_eq!(ids(&v), vec![live, elsewhere]);
    let r = f.get("/signals?origin=replay", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("origin"), "{}", r.body);

    // The OpenAPI document names the filter and the fields.
    let doc = f.get("/openapi.json", None).json();
    let params = &doc["paths"]["/signals/{symbol}"]["get"]["parameters"];
    assert!(params
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == "origin" && p["schema"]["enum"] == json!(["live", "backfill"])));
    let props = &doc["components"]["schemas"]["Signal"]["properties"];
    for field in ["origin", "recorded_at", "outcome"] {
        assert!(
            props.get(field).is_some(),
            "{field} missing from the Signal schema"
        );
    }
}
