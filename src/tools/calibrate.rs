//! `aivex calibrate [--config PATH] [--since DATE] [--json]`: hit rates, mean realized return,
//! Brier scores and suggested weights from signal feedback (automatic and posted), joined with
//! the signals they are about. The numbers come from aivex-brain's `calibrate`; this file reads
//! the rows and prints.
//!
//! It is advice only: it must never write to the store or change the live weights. It never
//! prints the database URL unredacted.

use super::ToolError;
use crate::config::{Config, Run};
use aivex_brain::{BrainConfig, FeedbackComponent, FeedbackRow, Kind, OutcomeKind};
use aivex_store::{Feedback, SignalRecord};
use std::collections::HashMap;

pub fn calibrate(cfg: &Config, since: Option<&str>, json: bool) -> Result<(), ToolError> {
    let since = since
        .map(parse_since)
        .transpose()
        .map_err(ToolError::Usage)?;
    let (weights, min_n) = brain_settings(cfg)?;
    let store = super::open_store(cfg)?;
    let feedback = store
        .feedback_since(since)
        .map_err(|e| ToolError::Failed(format!("reading feedback: {e}")))?;
    let mut signals: HashMap<String, Option<SignalRecord>> = HashMap::new();
    let mut rows = Vec::with_capacity(feedback.len());
    let mut skipped = 0usize;
    for f in &feedback {
        let signal = match signals.entry(f.signal_id.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(store.signal(&f.signal_id).map_err(|e| {
                    ToolError::Failed(format!("reading signal {}: {e}", f.signal_id))
                })?)
            }
        };
        let Some(signal) = signal.as_ref() else {
            skipped += 1;
            eprintln!(
                "aivex calibrate: feedback ({}, {}) is about an unknown signal: skipped",
                f.signal_id, f.source
            );
            continue;
        };
        if since.is_some_and(|t| signal.created_at < t) {
            continue;
        }
        match feedback_row(signal, f) {
            Ok(row) => rows.push(row),
            Err(why) => {
                skipped += 1;
                eprintln!("aivex calibrate: {why}: skipped");
            }
        }
    }
    let cal = aivex_brain::calibrate(&rows, &weights, min_n)
        .map_err(|e| ToolError::Failed(format!("calibration: {e}")))?;
    if json {
        let doc = serde_json::json!({
            "since": since,
            "skipped": skipped,
            "calibration": cal,
        });
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| ToolError::Failed(format!("calibration JSON: {e}")))?;
        println!("{text}");
    } else {
        if let Some(t) = since {
            println!(
                "feedback on signals created since {}",
                jiff::Timestamp::from_second(t)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            );
        }
        print!("{}", aivex_brain::render_table(&cal));
        if skipped > 0 {
            println!("{skipped} feedback row(s) skipped (see above)");
        }
        println!("Suggested weights are advice: the live weights in modules/brain/module.toml are unchanged.");
    }
    Ok(())
}

/// The brain module's current weights and `calibrate_min_n`, from its manifest's settings
/// (defaults when brain is not enabled).
fn brain_settings(cfg: &Config) -> Result<(aivex_brain::Weights, u32), ToolError> {
    let spec = cfg
        .modules
        .iter()
        .find(|m| matches!(&m.run, Run::Builtin(b) if b == "brain"));
    let Some(spec) = spec else {
        return Ok((
            aivex_brain::Weights::default(),
            aivex_brain::calibrate::DEFAULT_MIN_N,
        ));
    };
    let bad = |why: String| {
        ToolError::Failed(format!(
            "{}: brain settings: {why}",
            spec.manifest.display()
        ))
    };
    let brain = BrainConfig::from_settings(&spec.settings).map_err(|e| bad(e.to_string()))?;
    let min_n = match spec.settings.get("calibrate_min_n") {
        None => aivex_brain::calibrate::DEFAULT_MIN_N,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad(format!("calibrate_min_n must be an integer >= 1, got {v}")))?,
    };
    Ok((brain.weights, min_n))
}

/// `--since`: a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 timestamp, as Unix seconds.
fn parse_since(s: &str) -> Result<i64, String> {
    super::parse_date("--since", s)
}

/// A feedback row joined with its signal. The signal's components JSON is the
/// `{components, factors}` object the brain module writes (src/modules/brain/plan.rs).
fn feedback_row(signal: &SignalRecord, f: &Feedback) -> Result<FeedbackRow, String> {
    let at = format!("feedback ({}, {})", f.signal_id, f.source);
    let outcome = OutcomeKind::parse(&f.outcome).ok_or_else(|| {
        format!(
            "{at}: field outcome is {:?}, expected hit, miss or flat",
            f.outcome
        )
    })?;
    let direction = i8::try_from(signal.direction)
        .map_err(|_| format!("{at}: signal direction {}", signal.direction))?;
    let doc: serde_json::Value = serde_json::from_str(&signal.components_json)
        .map_err(|e| format!("{at}: signal {} field components: {e}", signal.id))?;
    let items = doc
        .get("components")
        .and_then(|c| c.as_array())
        .ok_or_else(|| {
            format!(
                "{at}: signal {} field components has no components list",
                signal.id
            )
        })?;
    let mut components = Vec::with_capacity(items.len());
    for (i, c) in items.iter().enumerate() {
        if c.get("present").and_then(|p| p.as_bool()) == Some(false) {
            continue;
        }
        let kind = c.get("kind").and_then(|k| k.as_str()).and_then(Kind::parse);
        let value = c.get("value").and_then(|v| v.as_f64());
        let weight = c.get("weight").and_then(|v| v.as_f64());
        match (kind, value, weight) {
            (Some(kind), Some(value), Some(weight)) => components.push(FeedbackComponent {
                kind,
                value,
                weight,
            }),
            _ => {
                return Err(format!(
                    "{at}: signal {} components[{i}] lacks kind, value or weight",
                    signal.id
                ))
            }
        }
    }
    Ok(FeedbackRow {
        confidence: signal.confidence,
        direction,
        components,
        outcome,
        realized_return: f.realized_return,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_table() {
        let table = [
            ("2026-01-02", Some(1_767_312_000)),
            ("2026-01-02T00:00:10Z", Some(1_767_312_010)),
            ("2026-01-02T01:00:00+01:00", Some(1_767_312_000)),
            ("yesterday", None),
            ("2026-13-01", None),
            ("", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_since(s).ok(), want, "{s}");
        }
        assert!(parse_since("yesterday")
            .unwrap_err()
            .contains("\"yesterday\""));
    }

    fn signal(components_json: &str) -> SignalRecord {
        SignalRecord {
            id: "s1".into(),
            symbol: "AAPL".into(),
            created_at: 0,
            direction: -1,
            score: -0.4,
            confidence: 0.3,
            horizon_s: 10,
            components_json: components_json.into(),
            decision: "allow".into(),
            reasons: String::new(),
            origin: "live".into(),
            recorded_at: 0,
            lease: None,
        }
    }

    fn fb(outcome: &str) -> Feedback {
        Feedback {
            signal_id: "s1".into(),
            source: "auto".into(),
            outcome: outcome.into(),
            realized_return: Some(-0.03),
            horizon_s: None,
            note: None,
            at: 1,
        }
    }

    #[test]
    fn joins_present_components_and_names_bad_rows() {
        let json = r#"{"components":[{"kind":"chart","value":-0.5,"weight":0.5,"present":true},
            {"kind":"news","value":0,"weight":0.3,"present":false},
            {"kind":"metrics","value":0.4,"weight":0.2,"present":true}],"factors":{}}"#;
        let row = feedback_row(&signal(json), &fb("hit")).unwrap();
        assert_eq!(row.direction, -1);
        assert_eq!(row.outcome, OutcomeKind::Hit);
        assert_eq!(row.components.len(), 2);
        assert_eq!(row.components[1].kind, Kind::Metrics);

        let cases = [
            (json, "win", "field outcome is \"win\""),
            ("not json", "hit", "field components"),
            ("{}", "hit", "no components list"),
            (
                r#"{"components":[{"kind":"vibes","value":1,"weight":1}]}"#,
                "hit",
                "components[0]",
            ),
        ];
        for (text, outcome, want) in cases {
            let err = feedback_row(&signal(text), &fb(outcome)).unwrap_err();
            assert!(
                err.contains("feedback (s1, auto)") && err.contains(want),
                "{err}"
            );
        }
    }
}
