//! Dashboard exports: the JSON documents brain rewrites under runs/<run_id>/exports/
//! (`latest_signals.json`, `governor_summary.json`) for static dashboards.
//!
//! Pure builders only: they shape rows the glue has already read into JSON values. Writing the
//! files (atomically) and honouring `[runtime] exports = false` is the glue's job; nothing here
//! touches files or the clock.

use crate::compose::CompositeSignal;
use crate::governor::Decision;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A stored signal with the governor's decision on it (`None` before the governor ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestSignal {
    pub signal: CompositeSignal,
    pub allowed: Option<bool>,
    pub reason_codes: Vec<String>,
}

impl LatestSignal {
    pub fn new(signal: CompositeSignal, decision: &Decision) -> LatestSignal {
        LatestSignal {
            signal,
            allowed: Some(decision.allow),
            reason_codes: decision
                .reason_codes
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }
    }
}

/// One governor_log row, as far as the summary needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub symbol: String,
    pub at: i64,
    pub allow: bool,
    pub reason_codes: Vec<String>,
}

/// `latest_signals.json`: the newest signal per symbol (by created_at; ties go to the larger
/// id so the choice never depends on row order), sorted by symbol.
pub fn latest_signals_export(generated_at: i64, signals: &[LatestSignal]) -> Value {
    let mut latest: HashMap<&str, &LatestSignal> = HashMap::new();
    for s in signals {
        let key = (s.signal.created_at, &s.signal.id);
        latest
            .entry(s.signal.symbol.as_str())
            .and_modify(|cur| {
                if key > (cur.signal.created_at, &cur.signal.id) {
                    *cur = s;
                }
            })
            .or_insert(s);
    }
    let mut rows: Vec<&LatestSignal> = latest.into_values().collect();
    rows.sort_by(|a, b| a.signal.symbol.cmp(&b.signal.symbol));
    let items: Vec<Value> = rows
        .into_iter()
        .map(|s| {
            let sig = &s.signal;
            let decision = match s.allowed {
                Some(true) => "allow",
                Some(false) => "deny",
                None => "pending",
            };
            json!({
                "symbol": sig.symbol,
                "id": sig.id,
                "created_at": sig.created_at,
                "score": sig.score,
                "direction": sig.direction,
                "confidence": sig.confidence,
                "horizon_s": sig.horizon_s,
                "decision": decision,
                "reason_codes": s.reason_codes,
                "components": sig.components.iter().map(|c| json!({
                    "kind": c.kind,
                    "present": c.present,
                    "value": c.value,
                    "weight": c.weight,
                    "effective_weight": c.effective_weight,
                    "contribution": c.contribution,
                    "age_s": c.age_s,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "schema": "aivex.latest_signals.v1",
        "generated_at": generated_at,
        "count": items.len(),
        "signals": items,
    })
}

/// `governor_summary.json`: allow/deny counts, deny counts per reason code and per-symbol
/// counts over the window `(generated_at - window_s, generated_at]`.
pub fn governor_summary(
    generated_at: i64,
    window_s: i64,
    config_hash: &str,
    decisions: &[DecisionRecord],
) -> Value {
    let from = generated_at.saturating_sub(window_s);
    let mut allowed = 0u64;
    let mut denied = 0u64;
    let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_symbol: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for d in decisions
        .iter()
        .filter(|d| d.at > from && d.at <= generated_at)
    {
        let entry = by_symbol.entry(d.symbol.as_str()).or_default();
        if d.allow {
            allowed += 1;
            entry.0 += 1;
        } else {
            denied += 1;
            entry.1 += 1;
        }
        for code in &d.reason_codes {
            *by_reason.entry(code.as_str()).or_default() += 1;
        }
    }
    let by_symbol: BTreeMap<&str, Value> = by_symbol
        .into_iter()
        .map(|(s, (a, d))| (s, json!({ "allowed": a, "denied": d })))
        .collect();
    json!({
        "schema": "aivex.governor_summary.v1",
        "generated_at": generated_at,
        "window_s": window_s,
        "from": from,
        "config_hash": config_hash,
        "total": allowed + denied,
        "allowed": allowed,
        "denied": denied,
        "by_reason": by_reason,
        "by_symbol": by_symbol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{compose, BrainConfig, ComponentInput};
    use crate::governor::{evaluate, GovernorConfig, GovernorHistory};
    use crate::kind::Kind;

    fn stored(symbol: &str, value: f64, at: i64, halted: bool) -> LatestSignal {
        let input = ComponentInput {
            kind: Kind::Chart,
            value,
            as_of: at,
        };
        let sig = compose(symbol, &[input], &BrainConfig::default(), at)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{symbol} composes"));
        let cfg = GovernorConfig {
            halted,
            ..GovernorConfig::default()
        };
        let d = evaluate(&sig, &GovernorHistory::default(), &cfg, at);
        LatestSignal::new(sig, &d)
    }

    #[test]
    fn latest_per_symbol_sorted_with_decisions() {
        let rows = vec![
            stored("MSFT", 0.9, 200, true),
            stored("AAPL", 0.9, 100, false),
            stored("AAPL", -0.9, 300, true),
            stored("AAPL", 0.8, 250, false),
        ];
        let v = latest_signals_export(1000, &rows);
        assert_eq!(v["count"], 2);
        assert_eq!(v["generated_at"], 1000);
        let table = [
            (0, "AAPL", 300, -1, "deny", vec!["HALTED"]),
            (1, "MSFT", 200, 1, "deny", vec!["HALTED"]),
        ];
        for (i, symbol, created, direction, decision, reasons) in table {
            let s = &v["signals"][i];
            assert_eq!(s["symbol"], symbol);
            assert_eq!(s["created_at"], created);
            assert_eq!(s["direction"], direction);
            assert_eq!(s["decision"], decision);
            assert_eq!(s["reason_codes"], json!(reasons));
            assert_eq!(s["components"].as_array().map(Vec::len), Some(3));
        }
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(latest_signals_export(1000, &reversed), v);
        let allowed = stored("NVDA", 0.9, 100, false);
        let v = latest_signals_export(1000, &[allowed]);
        assert_eq!(v["signals"][0]["decision"], "allow");
        let pending = LatestSignal {
            allowed: None,
            reason_codes: vec![],
            ..stored("X", 0.9, 1, false)
        };
        assert_eq!(
            latest_signals_export(0, &[pending])["signals"][0]["decision"],
            "pending"
        );
    }

    #[test]
    fn summary_counts_the_window_only() {
        let rec = |symbol: &str, at, allow, codes: &[&str]| DecisionRecord {
            symbol: symbol.into(),
            at,
            allow,
            reason_codes: codes.iter().map(|c| c.to_string()).collect(),
        };
        let rows = vec![
            rec("AAPL", 100, false, &["HALTED"]), // exactly window_s old: outside
            rec("AAPL", 101, true, &[]),
            rec("AAPL", 500, false, &["COOLDOWN_ACTIVE", "WINDOW_LIMIT"]),
            rec("MSFT", 900, false, &["MIN_CONFIDENCE", "COOLDOWN_ACTIVE"]),
            rec("MSFT", 1000, true, &[]),
            rec("MSFT", 1001, true, &[]), // in the future: outside
        ];
        let v = governor_summary(1000, 900, "abc", &rows);
        assert_eq!(v["from"], 100);
        assert_eq!(v["config_hash"], "abc");
        assert_eq!(
            (
                v["total"].clone(),
                v["allowed"].clone(),
                v["denied"].clone()
            ),
            (json!(4), json!(2), json!(2))
        );
        assert_eq!(
            v["by_reason"],
            json!({"COOLDOWN_ACTIVE": 2, "MIN_CONFIDENCE": 1, "WINDOW_LIMIT": 1})
        );
        assert_eq!(
            v["by_symbol"],
            json!({"AAPL": {"allowed": 1, "denied": 1}, "MSFT": {"allowed": 1, "denied": 1}})
        );
    }
}
