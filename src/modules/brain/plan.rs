//! The pure half of the brain module's glue: turning store rows into aivex-brain inputs and
//! aivex-brain results back into store rows, log lines and export inputs.
//!
//! It owns the mapping between aivex-brain's results and store rows, through the stored-signal
//! contract (`aivex_core::contract::signal`: components JSON, verdict, reason codes), and the
//! automatic outcome row. Every function is a pure function of its arguments (an explicit `now`
//! where time matters): no store, clock, file or log access here.

use aivex_brain::{
    ComponentInput, CompositeSignal, Decision, DecisionRecord, Kind, LatestSignal, Outcome,
};
use aivex_core::contract::{Origin, ReasonCodes, StoredComponents, Verdict, AUTO_FEEDBACK_SOURCE};
use aivex_core::ModuleError;
use aivex_store::{Component, Feedback, GovernorLogRecord, SignalRecord};
use std::collections::BTreeMap;

/// The feedback source of outcomes brain scores itself (the stored-signal contract's).
pub const AUTO_SOURCE: &str = AUTO_FEEDBACK_SOURCE;

/// Groups component rows into per-symbol inputs, keeping only `symbols` when it is not empty.
/// A row of an unknown kind is returned as a DataValidationError naming it and is left out.
pub fn inputs_by_symbol(
    rows: &[Component],
    symbols: &[String],
) -> (BTreeMap<String, Vec<ComponentInput>>, Vec<ModuleError>) {
    let mut out: BTreeMap<String, Vec<ComponentInput>> = BTreeMap::new();
    let mut errors = Vec::new();
    for s in symbols {
        out.entry(s.clone()).or_default();
    }
    for row in rows {
        if !symbols.is_empty() && !out.contains_key(&row.symbol) {
            continue;
        }
        match Kind::parse(&row.kind) {
            Some(kind) => out
                .entry(row.symbol.clone())
                .or_default()
                .push(ComponentInput {
                    kind,
                    value: row.value,
                    as_of: row.as_of,
                }),
            None => errors.push(ModuleError::DataValidation(format!(
                "components row ({}, {:?}): field kind is not one of chart, news, metrics",
                row.symbol, row.kind
            ))),
        }
    }
    (out, errors)
}

/// The kinds with a positive weight that no considered symbol has a component of yet.
pub fn missing_kinds(
    rows: &[Component],
    symbols: &[String],
    weights: &aivex_brain::Weights,
) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| weights.get(*k) > 0.0)
        .filter(|k| {
            !rows.iter().any(|r| {
                r.kind == k.as_str() && (symbols.is_empty() || symbols.contains(&r.symbol))
            })
        })
        .collect()
}

/// The signal row and its governor log row for one decision. A live decision is made and
/// written at `recorded_at` (its `created_at`); a back-filled one is made as of the signal's
/// `created_at` (a past bar close, also the log line's `at`) and written at `recorded_at`.
pub fn decision_rows(
    signal: &CompositeSignal,
    decision: &Decision,
    config_hash: &str,
    origin: Origin,
    recorded_at: i64,
) -> Result<(SignalRecord, GovernorLogRecord), ModuleError> {
    let stored = StoredComponents {
        components: signal.components.clone(),
        factors: signal.factors,
    };
    let components_json = stored.encode();
    let rules_json = serde_json::to_string(&decision.rules).map_err(|e| {
        ModuleError::DataValidation(format!(
            "signal {} ({}): rules: {e}",
            signal.id, signal.symbol
        ))
    })?;
    let reasons = ReasonCodes::encode(&decision.reason_codes);
    let verdict = Verdict::from_allow(decision.allow).as_str();
    Ok((
        SignalRecord {
            id: signal.id.clone(),
            symbol: signal.symbol.clone(),
            created_at: signal.created_at,
            direction: i32::from(signal.direction),
            score: signal.score,
            confidence: signal.confidence,
            horizon_s: signal.horizon_s,
            components_json,
            decision: verdict.to_string(),
            reasons: reasons.clone(),
            origin: origin.as_str().to_string(),
            recorded_at,
            lease: None,
        },
        GovernorLogRecord {
            signal_id: signal.id.clone(),
            symbol: signal.symbol.clone(),
            decision: verdict.to_string(),
            reason_codes: reasons,
            rules_json,
            config_hash: config_hash.to_string(),
            at: signal.created_at,
        },
    ))
}

/// A stored signal read back into the composite signal it was written from.
pub fn stored_signal(rec: &SignalRecord) -> Result<CompositeSignal, ModuleError> {
    let bad = |why: String| {
        ModuleError::DataValidation(format!("signals row {} ({}): {why}", rec.id, rec.symbol))
    };
    let stored = StoredComponents::decode(&rec.components_json)
        .map_err(|e| bad(format!("field components: {e}")))?;
    let direction = i8::try_from(rec.direction)
        .ok()
        .filter(|d| (-1..=1).contains(d))
        .ok_or_else(|| {
            bad(format!(
                "field direction is {}, expected -1, 0 or 1",
                rec.direction
            ))
        })?;
    Ok(CompositeSignal {
        id: rec.id.clone(),
        symbol: rec.symbol.clone(),
        score: rec.score,
        direction,
        confidence: rec.confidence,
        factors: stored.factors,
        horizon_s: rec.horizon_s,
        created_at: rec.created_at,
        components: stored.components,
    })
}

/// A stored signal with its decision, for `latest_signals.json`.
pub fn latest_signal(rec: &SignalRecord) -> Result<LatestSignal, ModuleError> {
    Ok(LatestSignal {
        signal: stored_signal(rec)?,
        allowed: Some(Verdict::parse(&rec.decision) == Some(Verdict::Allow)),
        reason_codes: ReasonCodes::decode(&rec.reasons),
    })
}

/// A stored signal's decision, for `governor_summary.json` (the signal row records it, and
/// there is exactly one governor_log row per signal).
pub fn decision_record(rec: &SignalRecord) -> DecisionRecord {
    DecisionRecord {
        symbol: rec.symbol.clone(),
        at: rec.created_at,
        allow: Verdict::parse(&rec.decision) == Some(Verdict::Allow),
        reason_codes: ReasonCodes::decode(&rec.reasons),
    }
}

/// The automatic feedback row for a scored signal.
pub fn outcome_feedback(signal_id: &str, horizon_s: i64, outcome: &Outcome, now: i64) -> Feedback {
    Feedback {
        signal_id: signal_id.to_string(),
        source: AUTO_SOURCE.to_string(),
        outcome: outcome.outcome.as_str().to_string(),
        realized_return: Some(outcome.realized_return),
        horizon_s: Some(horizon_s),
        note: Some(format!(
            "entry bar {} exit bar {}",
            outcome.entry_ts, outcome.exit_ts
        )),
        at: now,
    }
}

/// The structured log line of one decision.
pub fn decision_line(signal: &CompositeSignal, decision: &Decision) -> String {
    let inputs: Vec<String> = signal
        .components
        .iter()
        .filter(|c| c.present)
        .map(|c| format!("{}:{:.4}@{}", c.kind, c.value, c.age_s.unwrap_or(0)))
        .collect();
    format!(
        "event=signal symbol={} id={} direction={} score={:.4} confidence={:.4} decision={} reasons={} inputs={}",
        signal.symbol,
        signal.id,
        signal.direction,
        signal.score,
        signal.confidence,
        Verdict::from_allow(decision.allow).as_str(),
        if decision.reason_codes.is_empty() { "-".to_string() } else { ReasonCodes::encode(&decision.reason_codes) },
        if inputs.is_empty() { "-".to_string() } else { inputs.join(",") },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivex_brain::{compose, evaluate, BrainConfig, GovernorConfig, GovernorHistory};

    fn comp(symbol: &str, kind: &str, value: f64, as_of: i64) -> Component {
        Component {
            symbol: symbol.into(),
            kind: kind.into(),
            value,
            as_of,
            computed_at: as_of,
            detail: "{}".into(),
        }
    }

    #[test]
    fn grouping_filters_symbols_and_reports_bad_kinds() {
        let rows = vec![
            comp("AAPL", "chart", 0.5, 10),
            comp("AAPL", "news", -0.2, 11),
            comp("MSFT", "metrics", 0.1, 12),
            comp("NVDA", "vibes", 0.9, 13),
        ];
        let (all, errors) = inputs_by_symbol(&rows, &[]);
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["AAPL", "MSFT"]);
        assert_eq!(all["AAPL"].len(), 2);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message().contains("NVDA") && errors[0].message().contains("vibes"));

        let (some, errors) = inputs_by_symbol(&rows, &["MSFT".to_string(), "TSLA".to_string()]);
        assert_eq!(some.keys().collect::<Vec<_>>(), vec!["MSFT", "TSLA"]);
        assert!(some["TSLA"].is_empty());
        assert!(errors.is_empty());
    }

    #[test]
    fn missing_kinds_table() {
        let w = aivex_brain::Weights {
            chart: 0.5,
            news: 0.5,
            metrics: 0.0,
        };
        let rows = vec![
            comp("AAPL", "chart", 0.5, 10),
            comp("MSFT", "news", 0.1, 10),
        ];
        let table: Vec<(Vec<String>, Vec<Kind>)> = vec![
            (vec![], vec![]),
            (vec!["AAPL".into()], vec![Kind::News]),
            (vec!["TSLA".into()], vec![Kind::Chart, Kind::News]),
        ];
        for (symbols, want) in table {
            assert_eq!(missing_kinds(&rows, &symbols, &w), want, "{symbols:?}");
        }
        assert_eq!(missing_kinds(&[], &[], &w), vec![Kind::Chart, Kind::News]);
    }

    #[test]
    fn rows_round_trip() {
        let inputs = [
            ComponentInput {
                kind: Kind::Chart,
                value: 0.6,
                as_of: 900,
            },
            ComponentInput {
                kind: Kind::Metrics,
                value: -0.5,
                as_of: 1000,
            },
        ];
        let sig = compose("AAPL", &inputs, &BrainConfig::default(), 1000)
            .unwrap()
            .unwrap();
        let cfg = GovernorConfig {
            min_confidence: 0.9,
            ..Default::default()
        };
        let decision = evaluate(&sig, &GovernorHistory::default(), &cfg, 1000);
        let (s, g) = decision_rows(&sig, &decision, "abc", Origin::Live, 1000).unwrap();
        assert_eq!(
            (s.origin.as_str(), s.recorded_at, g.at),
            ("live", 1000, 1000)
        );
        assert_eq!(s.decision, "deny");
        assert_eq!(s.reasons, "MIN_CONFIDENCE");
        assert_eq!(g.reason_codes, s.reasons);
        assert_eq!(g.signal_id, sig.id);
        let rules: serde_json::Value = serde_json::from_str(&g.rules_json).unwrap();
        assert_eq!(rules.as_array().unwrap().len(), 9);
        let back = stored_signal(&s).unwrap();
        // serde_json's default float parser may be one ULP off for derived numbers, so the
        // glue compares ids (exact text) before values; the inputs themselves are checked here.
        assert_eq!(
            (back.id.as_str(), back.direction, back.created_at),
            (sig.id.as_str(), sig.direction, sig.created_at)
        );
        for (b, c) in back.components.iter().zip(&sig.components) {
            assert_eq!((b.kind, b.present, b.as_of), (c.kind, c.present, c.as_of));
            assert!((b.value - c.value).abs() < 1e-12 && (b.freshness - c.freshness).abs() < 1e-12);
        }
        assert!((back.factors.freshness - sig.factors.freshness).abs() < 1e-12);
        assert!(!aivex_brain::inputs_changed(
            Some(&back.components),
            &sig.components
        ));
        let latest = latest_signal(&s).unwrap();
        assert_eq!(latest.allowed, Some(false));
        assert_eq!(latest.reason_codes, vec!["MIN_CONFIDENCE"]);
        let d = decision_record(&s);
        assert_eq!((d.symbol.as_str(), d.at, d.allow), ("AAPL", 1000, false));
        let line = decision_line(&sig, &decision);
        assert!(
            line.contains("symbol=AAPL")
                && line.contains("decision=deny")
                && line.contains("reasons=MIN_CONFIDENCE")
        );
    }

    #[test]
    fn bad_stored_rows_name_the_row() {
        let base = SignalRecord {
            id: "s1".into(),
            symbol: "AAPL".into(),
            created_at: 1,
            direction: 1,
            score: 0.5,
            confidence: 0.5,
            horizon_s: 10,
            components_json: "{}".into(),
            decision: "allow".into(),
            reasons: String::new(),
            origin: "live".into(),
            recorded_at: 1,
            lease: None,
        };
        let err = stored_signal(&base).unwrap_err();
        assert!(
            err.message()
                .contains("signals row s1 (AAPL): field components"),
            "{err}"
        );
        let good = serde_json::to_string(&StoredComponents {
            components: vec![],
            factors: aivex_core::contract::ConfidenceFactors {
                coverage: 1.0,
                agreement: 1.0,
                freshness: 1.0,
                strength: 1.0,
            },
        })
        .unwrap();
        let err = stored_signal(&SignalRecord {
            components_json: good,
            direction: 7,
            ..base
        })
        .unwrap_err();
        assert!(err.message().contains("field direction is 7"), "{err}");
    }
}
