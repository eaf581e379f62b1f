//! `GET /governor?symbol=&reason=&decision=&since=&until=&limit=`: the governor's decisions
//! over time by reason code, and the latest decisions with every rule they evaluated.
//!
//! It owns the time buckets (chosen from the range so a chart has at most `MAX_BUCKETS` bars,
//! aligned to multiples of their length since the epoch, every bucket of the range present)
//! and the counting: `by_reason` counts every code a denial carried (a denial with two codes
//! counts for both), `by_first_reason` only its first code in rule order, so the latter adds
//! up to `deny` and can be stacked. `buckets` and `series` are pure; `serve` reads the store.

use crate::api;
use crate::app::{App, StoreSlot};
use crate::dash::Query;
use crate::error::ApiError;
use crate::http::{Request, Response};
use aivex_core::contract::{ReasonCodes, Verdict};
use aivex_store::{GovernorCount, GovernorFilter};
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

pub const DEFAULT_RANGE_S: i64 = 30 * 86_400;
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
pub const MAX_BUCKETS: i64 = 120;
/// Bucket lengths tried in order: an hour, 4 hours, a day, a week, 30 days.
const STEPS: [i64; 5] = [3_600, 14_400, 86_400, 604_800, 2_592_000];

/// Counts of one bucket (or of the whole range).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub allow: u64,
    pub deny: u64,
    pub by_reason: BTreeMap<String, u64>,
    pub by_first_reason: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket (Unix seconds).
    pub t: i64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The bucket length for a range: the first of `STEPS` that gives at most `MAX_BUCKETS`
/// buckets, else whole days enough for that.
pub fn bucket_for(range_s: i64) -> i64 {
    // Both operands positive (i64::div_ceil is not stable).
    let ceil_div = |a: i64, b: i64| (a + b - 1) / b;
    let range = range_s.clamp(1, i64::MAX / 4);
    STEPS
        .iter()
        .copied()
        .find(|s| ceil_div(range, *s) <= MAX_BUCKETS)
        .unwrap_or_else(|| ceil_div(ceil_div(range, MAX_BUCKETS), 86_400) * 86_400)
}

fn add(c: &mut Counts, row: &GovernorCount) {
    let n = u64::try_from(row.n).unwrap_or(0);
    if Verdict::parse(&row.decision) == Some(Verdict::Allow) {
        c.allow += n;
        return;
    }
    c.deny += n;
    let codes = ReasonCodes::decode(&row.reason_codes);
    for code in &codes {
        *c.by_reason.entry(code.clone()).or_default() += n;
    }
    let first = codes.first().map_or("(none)", String::as_str);
    *c.by_first_reason.entry(first.to_string()).or_default() += n;
}

/// Every bucket from the one holding `since` to the one holding `until - 1`, with the rows'
/// counts, and the totals; no bucket when the range is empty (`until <= since`).
pub fn series(
    rows: &[GovernorCount],
    since: i64,
    until: i64,
    bucket: i64,
) -> (Vec<Bucket>, Counts) {
    let bucket = bucket.max(1);
    let first = since - since.rem_euclid(bucket);
    let last = (until - 1) - (until - 1).rem_euclid(bucket);
    let n = if until <= since {
        0
    } else {
        ((last - first) / bucket + 1).clamp(0, MAX_BUCKETS * 2)
    };
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            t: first + i * bucket,
            counts: Counts::default(),
        })
        .collect();
    let mut total = Counts::default();
    for r in rows {
        add(&mut total, r);
        let i = (r.bucket - first).div_euclid(bucket);
        if let Some(b) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            add(&mut b.counts, r);
        }
    }
    (out, total)
}

#[derive(Serialize)]
struct Out<'a> {
    since: i64,
    until: i64,
    bucket_s: i64,
    totals: Counts,
    series: Vec<Bucket>,
    count: usize,
    decisions: Vec<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

pub fn serve(
    app: &App,
    slot: &mut StoreSlot,
    req: &Request,
    now: i64,
) -> Result<Response, ApiError> {
    let q = Query::parse(
        &req.query,
        &["symbol", "reason", "decision", "since", "until", "limit"],
    )?;
    let symbol = q.symbol("symbol")?;
    let reason = q.get("reason").map(str::to_string);
    if let Some(r) = &reason {
        if !ReasonCodes::valid(r) {
            return Err(ApiError::invalid_query(format!(
                "reason {r:?} is not a reason code (A-Z, 0-9 and _, like MIN_CONFIDENCE)"
            )));
        }
    }
    let decision = match q.get("decision") {
        None => None,
        Some(v) => Some(
            Verdict::parse(v)
                .ok_or_else(|| {
                    ApiError::invalid_query(format!("decision {v:?} must be allow or deny"))
                })?
                .as_str()
                .to_string(),
        ),
    };
    let until = q.time("until")?.unwrap_or(now + 1);
    let since = q.time("since")?.unwrap_or(until - DEFAULT_RANGE_S);
    // since >= until is an empty range (no bucket, no decision), as on /signals: not an error.
    let limit = q.int("limit", 1, MAX_LIMIT, DEFAULT_LIMIT)?;
    let bucket = bucket_for(until - since);
    let f = GovernorFilter {
        symbol,
        reason,
        decision,
        since: Some(since),
        until: Some(until),
    };
    let (counts, latest) = slot.with(&app.db_url, |s| {
        Ok((
            s.governor_counts(&f, bucket)?,
            s.governor_decisions(&f, limit)?,
        ))
    })?;
    let (series, totals) = series(&counts, since, until, bucket);
    let mut decisions = Vec::with_capacity(latest.len());
    for g in &latest {
        let text = api::governor_json(g)?;
        decisions.push(RawValue::from_string(text).map_err(|e| {
            ApiError::new(500, "internal", format!("cannot render a decision: {e}"))
        })?);
    }
    let body = serde_json::to_string(&Out {
        since,
        until,
        bucket_s: bucket,
        totals,
        series,
        count: decisions.len(),
        decisions,
        symbol: f.symbol.as_deref(),
        reason: f.reason.as_deref(),
    })
    .map_err(|e| ApiError::new(500, "internal", format!("cannot render: {e}")))?;
    Ok(Response::json(200, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_table() {
        for (range, want) in [
            (1, 3_600),
            (120 * 3_600, 3_600),
            (120 * 3_600 + 1, 14_400),
            (30 * 86_400, 86_400),
            (365 * 86_400, 604_800),
            (5 * 365 * 86_400, 2_592_000),
            // 40 years: 120 buckets of 122 days.
            (40 * 365 * 86_400, 122 * 86_400),
        ] {
            assert_eq!(bucket_for(range), want, "{range}");
        }
    }

    fn c(bucket: i64, decision: &str, codes: &str, n: i64) -> GovernorCount {
        GovernorCount {
            bucket,
            decision: decision.into(),
            reason_codes: codes.into(),
            n,
        }
    }

    #[test]
    fn series_fills_every_bucket_and_counts_codes() {
        let day = 86_400;
        let since = 10 * day + 5;
        let until = 13 * day + 1;
        let rows = vec![
            c(10 * day, "allow", "", 2),
            c(10 * day, "deny", "MIN_CONFIDENCE,STALE_INPUT", 3),
            c(12 * day, "deny", "STALE_INPUT", 1),
            c(13 * day, "deny", "HALTED", 4),
        ];
        let (s, total) = series(&rows, since, until, day);
        assert_eq!(
            s.iter().map(|b| b.t).collect::<Vec<_>>(),
            vec![10 * day, 11 * day, 12 * day, 13 * day]
        );
        assert_eq!((s[0].counts.allow, s[0].counts.deny), (2, 3));
        assert_eq!(s[0].counts.by_reason["STALE_INPUT"], 3);
        assert_eq!(s[0].counts.by_first_reason["MIN_CONFIDENCE"], 3);
        assert!(!s[0].counts.by_first_reason.contains_key("STALE_INPUT"));
        assert_eq!(s[1].counts, Counts::default());
        assert_eq!(s[3].counts.by_first_reason["HALTED"], 4);
        assert_eq!((total.allow, total.deny), (2, 8));
        assert_eq!(total.by_reason["STALE_INPUT"], 4);
        assert_eq!(total.by_first_reason.values().sum::<u64>(), total.deny);
        for (since, until) in [(since, since), (since + 10, since)] {
            let (s, total) = series(&[], since, until, day);
            assert!(s.is_empty(), "{since}..{until}: {s:?}");
            assert_eq!(total, Counts::default());
        }
    }
}
