//! `GET /quality?symbol=&since=&until=`: the track record of stored signals from their
//! automatic outcomes (back-filled and live alike): hit rates, IC, Brier and the reliability
//! diagram's buckets, overall, and the same numbers per symbol.
//!
//! The numbers are those of `aivex replay`'s quality report (`aivex_brain::replay::report`,
//! defined in crates/brain/README.md, "Quality report"): the same rows give the same figures
//! whether a replay or the store produced them. This file only pages through the store, newest
//! first, `PAGE` signals at a time, feeding the report's builder, so memory holds one page plus
//! a (score, return) pair per scored signal. At most `MAX_ROWS` signals are read (the newest);
//! `truncated` says when there were more. It must not compute a statistic itself.

use crate::app::{App, StoreSlot};
use crate::dash::Query;
use crate::error::ApiError;
use crate::http::{Request, Response};
use aivex_brain::governor::rules::RULES;
use aivex_brain::replay::{ReplayedRow, ReportBuilder, ReportHead};
use aivex_core::contract::{ReasonCodes, SignalOutcome, Verdict, AUTO_FEEDBACK_SOURCE};
use aivex_store::{OutcomeFilter, OutcomeRow};
use serde_json::json;

const PAGE: usize = 5_000;
pub const MAX_ROWS: usize = 1_000_000;

/// The governor's own spelling of each stored reason code (the report counts codes by their
/// `&'static str`). A code no rule of this build has (written by a newer brain) is left out
/// of `by_reason`; the signal itself still counts.
fn codes(stored: &str) -> Vec<&'static str> {
    ReasonCodes::decode(stored)
        .iter()
        .filter_map(|c| RULES.iter().map(|r| r.code).find(|code| code == c))
        .collect()
}

/// Feeds one stored row to the report.
fn add(b: &mut ReportBuilder, s: &OutcomeRow) {
    let reason_codes = codes(&s.reasons);
    // An outcome this reader does not know (or one without a return) counts as not scored.
    let outcome = match (&s.outcome, s.scored_at) {
        (Some(o), Some(at)) => SignalOutcome::from_feedback(o, s.realized_return, at),
        _ => None,
    };
    b.add(&ReplayedRow {
        symbol: &s.symbol,
        at: s.created_at,
        id: &s.id,
        direction: s.direction.clamp(-1, 1) as i8,
        score: s.score,
        confidence: s.confidence,
        decision: Verdict::parse(&s.decision).unwrap_or(Verdict::Deny),
        reason_codes: &reason_codes,
        outcome,
    });
}

pub fn serve(app: &App, slot: &mut StoreSlot, req: &Request) -> Result<Response, ApiError> {
    let q = Query::parse(&req.query, &["symbol", "since", "until"])?;
    let symbol = q.symbol("symbol")?;
    let since = q.time("since")?;
    let until = q.time("until")?;
    // since >= until selects no signal (an empty report), as on /signals: not an error.
    let mut f = OutcomeFilter {
        source: AUTO_FEEDBACK_SOURCE.to_string(),
        symbol,
        since,
        until,
        before: None,
        limit: PAGE,
    };
    // Only the report's numbers are used: the head describes a replay's run, not a store.
    let mut builder = ReportBuilder::new(ReportHead {
        from: since.unwrap_or(0),
        to: until.unwrap_or(0),
        step_s: 0,
        symbols: Vec::new(),
        config_hash: String::new(),
        steps: 0,
        symbol_steps: 0,
    });
    let mut rows = 0usize;
    let mut truncated = false;
    loop {
        let page = slot.with(&app.db_url, |s| s.signal_outcomes(&f))?;
        for s in &page {
            add(&mut builder, s);
        }
        rows += page.len();
        if page.len() < f.limit {
            break;
        }
        if rows >= MAX_ROWS {
            truncated = true;
            break;
        }
        f.before = page.last().map(|s| (s.created_at, s.id.clone()));
    }
    let report = builder.finish();
    let mut body = serde_json::to_value(&report.totals)
        .map_err(|e| ApiError::new(500, "internal", format!("cannot render: {e}")))?;
    if let Some(m) = body.as_object_mut() {
        m.insert("buckets".into(), json!(report.buckets));
        m.insert("per_symbol".into(), json!(report.per_symbol));
        m.insert("source".into(), json!(AUTO_FEEDBACK_SOURCE));
        m.insert("symbol".into(), json!(f.symbol));
        m.insert("since".into(), json!(since));
        m.insert("until".into(), json!(until));
        m.insert("truncated".into(), json!(truncated));
    }
    Ok(Response::json(200, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aivex_core::contract::OutcomeKind;

    fn stored(outcome: Option<&str>, decision: &str, reasons: &str) -> OutcomeRow {
        OutcomeRow {
            id: "a".into(),
            symbol: "AAPL".into(),
            created_at: 1,
            direction: -1,
            score: -0.4,
            confidence: 0.7,
            decision: decision.into(),
            reasons: reasons.into(),
            outcome: outcome.map(str::to_string),
            realized_return: Some(-0.01),
            scored_at: Some(5),
        }
    }

    #[test]
    fn stored_rows_feed_the_replay_report() {
        let mut b = ReportBuilder::new(ReportHead {
            from: 0,
            to: 0,
            step_s: 0,
            symbols: Vec::new(),
            config_hash: String::new(),
            steps: 0,
            symbol_steps: 0,
        });
        add(
            &mut b,
            &stored(Some("hit"), "deny", "MIN_CONFIDENCE,FROM_THE_FUTURE"),
        );
        add(&mut b, &stored(Some("maybe"), "allow", ""));
        add(&mut b, &stored(None, "allow", ""));
        let r = b.finish();
        let t = &r.totals;
        assert_eq!((t.signals, t.allowed, t.denied, t.scored), (3, 2, 1, 1));
        assert_eq!((t.hit_rate, t.hit_rate_all), (None, Some(1.0)));
        assert_eq!(t.by_reason.get("MIN_CONFIDENCE"), Some(&1));
        assert_eq!(t.by_reason.len(), 1, "an unknown code is left out");
        let filled: Vec<(f64, u64)> = r
            .buckets
            .iter()
            .filter(|b| b.n > 0)
            .map(|b| (b.lo, b.n))
            .collect();
        assert_eq!(filled, vec![(0.7, 1)]);
        assert_eq!(r.per_symbol.get("AAPL").map(|s| s.signals), Some(3));
        assert_eq!(
            SignalOutcome::from_feedback("hit", Some(0.1), 1).map(|o| o.kind),
            Some(OutcomeKind::Hit)
        );
    }
}
