//! `GET /quality?symbol=&since=&until=`: the track record of stored signals from their
//! automatic outcomes (back-filled and live alike): hit rates, IC, Brier and the reliability
//! diagram's buckets, overall and per symbol.
//!
//! The numbers are `aivex_brain::quality`'s (the definitions a replay reports too); this file
//! only pages through the store, newest first, `PAGE` signals at a time, feeding the
//! accumulator, so memory holds one page plus the (score, return) pairs. At most `MAX_ROWS`
//! signals are read (the newest); `truncated` says when there were more. It must not compute a
//! statistic itself.

use crate::app::{App, StoreSlot};
use crate::dash::{ordered, Query};
use crate::error::ApiError;
use crate::http::{Request, Response};
use aivex_brain::{OutcomeKind, QualityAcc, QualityRow};
use aivex_core::contract::signal::OUTCOME_SOURCE;
use aivex_core::contract::{ReasonCodes, Verdict};
use aivex_store::{OutcomeFilter, SignalOutcome};
use serde_json::{json, Value};

const PAGE: usize = 5_000;
pub const MAX_ROWS: usize = 1_000_000;

fn row(s: &SignalOutcome) -> QualityRow {
    QualityRow {
        symbol: s.symbol.clone(),
        direction: s.direction.clamp(-1, 1) as i8,
        score: s.score,
        confidence: s.confidence,
        allowed: Verdict::parse(&s.decision) == Some(Verdict::Allow),
        reason_codes: ReasonCodes::decode(&s.reasons),
        // An outcome this reader does not know counts as not scored.
        outcome: s.outcome.as_deref().and_then(OutcomeKind::parse),
        realized_return: s.realized_return,
    }
}

pub fn serve(app: &App, slot: &mut StoreSlot, req: &Request) -> Result<Response, ApiError> {
    let q = Query::parse(&req.query, &["symbol", "since", "until"])?;
    let symbol = q.symbol("symbol")?;
    let since = q.time("since")?;
    let until = q.time("until")?;
    ordered(since, until)?;
    let mut f = OutcomeFilter {
        source: OUTCOME_SOURCE.to_string(),
        symbol,
        since,
        until,
        before: None,
        limit: PAGE,
    };
    let mut acc = QualityAcc::default();
    let mut rows = 0usize;
    let mut truncated = false;
    loop {
        let page = slot.with(&app.db_url, |s| s.signal_outcomes(&f))?;
        for s in &page {
            acc.add(&row(s));
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
    let mut body = serde_json::to_value(acc.finish())
        .map_err(|e| ApiError::new(500, "internal", format!("cannot render: {e}")))?;
    if let Value::Object(m) = &mut body {
        m.insert("source".into(), json!(OUTCOME_SOURCE));
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

    #[test]
    fn stored_rows_become_quality_rows() {
        let s = SignalOutcome {
            id: "a".into(),
            symbol: "AAPL".into(),
            created_at: 1,
            direction: -1,
            score: -0.4,
            confidence: 0.7,
            decision: "deny".into(),
            reasons: "MIN_CONFIDENCE,STALE_INPUT".into(),
            outcome: Some("hit".into()),
            realized_return: Some(-0.01),
        };
        let r = row(&s);
        assert_eq!(
            (r.direction, r.allowed, r.outcome),
            (-1, false, Some(OutcomeKind::Hit))
        );
        assert_eq!(r.reason_codes, vec!["MIN_CONFIDENCE", "STALE_INPUT"]);
        let unknown = row(&SignalOutcome {
            outcome: Some("maybe".into()),
            decision: "allow".into(),
            ..s
        });
        assert_eq!((unknown.outcome, unknown.allowed), (None, true));
    }
}
