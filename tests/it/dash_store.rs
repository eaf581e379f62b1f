//! Signals for the dashboard's browser tests and its benchmark (`examples/bench_dash.rs`
//! includes this file): composed and judged by aivex-brain's own functions and written
//! through the store with their governor line, as brain writes them. It must not know the
//! page.

use aivex_brain::{
    compose, evaluate, BrainConfig, ComponentInput, GovernorConfig, GovernorHistory, Kind,
};
use aivex_core::contract::{Origin, ReasonCodes, StoredComponents, Verdict};
use aivex_store::{GovernorLogRecord, SignalRecord, Store};

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Composes a signal of `symbol` at `at` with aivex-brain and stores it with its governor
/// decision, the way brain does: allowed (min_confidence 0) or denied by the halt switch. A
/// signal dated before now is stored as brain's back-fill stores it (origin `backfill`,
/// recorded now); one at now as a live one.
pub fn record(store: &mut Store, symbol: &str, at: i64, value: f64, allow: bool) -> String {
    let recorded_at = now();
    let origin = if at < recorded_at - 60 {
        Origin::Backfill
    } else {
        Origin::Live
    };
    let inputs = [
        ComponentInput {
            kind: Kind::Chart,
            value,
            as_of: at - 3_600,
        },
        ComponentInput {
            kind: Kind::News,
            value: value * 0.5,
            as_of: at - 7_200,
        },
        ComponentInput {
            kind: Kind::Metrics,
            value: 0.2,
            as_of: at - 20 * 86_400,
        },
    ];
    let sig = compose(symbol, &inputs, &BrainConfig::default(), at)
        .unwrap_or_else(|e| panic!("compose: {e}"))
        .unwrap_or_else(|| panic!("no signal composed"));
    let cfg = GovernorConfig {
        halted: !allow,
        min_confidence: 0.0,
        ..GovernorConfig::default()
    };
    let d = evaluate(&sig, &GovernorHistory::default(), &cfg, at);
    let verdict = Verdict::from_allow(d.allow).as_str().to_string();
    let reasons = ReasonCodes::encode(&d.reason_codes);
    let s = SignalRecord {
        id: sig.id.clone(),
        symbol: symbol.into(),
        created_at: at,
        direction: i32::from(sig.direction),
        score: sig.score,
        confidence: sig.confidence,
        horizon_s: sig.horizon_s,
        components_json: StoredComponents {
            components: sig.components.clone(),
            factors: sig.factors,
        }
        .encode(),
        decision: verdict.clone(),
        reasons: reasons.clone(),
        origin: origin.as_str().to_string(),
        recorded_at: recorded_at.max(at),
        lease: None,
    };
    let g = GovernorLogRecord {
        signal_id: sig.id.clone(),
        symbol: symbol.into(),
        decision: verdict,
        reason_codes: reasons,
        rules_json: serde_json::to_string(&d.rules).unwrap_or_default(),
        config_hash: "dashboard-test".into(),
        at,
    };
    store
        .record_decision(&s, &g)
        .unwrap_or_else(|e| panic!("record_decision: {e}"));
    sig.id
}
