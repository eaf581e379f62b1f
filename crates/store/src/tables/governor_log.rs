//! The `governor_log` table: the governor's log line for each decision, written in the same
//! transaction as its signal (`tables/signals.rs` calls `insert`).
//!
//! It owns `GovernorLogRecord`, its checks, every statement on `governor_log` (identical in
//! both dialects), the `Store` methods that read log lines, and `GovernorFilter`, the
//! decisions over time that Eye's `GET /governor` lists and counts by reason code. It must not
//! open connections or transactions (the backends do) or read the clock.

use crate::db::{placeholders, Cells, Db, Decode, Param};
use crate::error::Result;
use crate::tables::signals::DECISIONS;
use crate::tables::{invalid, non_empty, one_of};
use crate::Store;
use std::collections::HashMap;

/// The governor's log line for one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorLogRecord {
    pub signal_id: String,
    pub symbol: String,
    pub decision: String,
    pub reason_codes: String,
    /// JSON text: every rule evaluated with its inputs.
    pub rules_json: String,
    pub config_hash: String,
    pub at: i64,
}

/// The columns, in the order of `params` and `Decode for GovernorLogRecord` (`rules` holds
/// `rules_json`); `id` is the database's own autoincrement.
const COLS: &str = "signal_id, symbol, decision, reason_codes, rules, config_hash, at";

/// Log lines of up to this many signals per query (well under every dialect's placeholder
/// limit).
const IDS_PER_QUERY: usize = 500;

fn params(g: &GovernorLogRecord) -> [Param<'_>; 7] {
    [
        (&g.signal_id).into(),
        (&g.symbol).into(),
        (&g.decision).into(),
        (&g.reason_codes).into(),
        (&g.rules_json).into(),
        (&g.config_hash).into(),
        g.at.into(),
    ]
}

impl Decode for GovernorLogRecord {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(GovernorLogRecord {
            signal_id: r.get(0)?,
            symbol: r.get(1)?,
            decision: r.get(2)?,
            reason_codes: r.get(3)?,
            rules_json: r.get(4)?,
            config_hash: r.get(5)?,
            at: r.get(6)?,
        })
    }
}

/// Checks the log line of the signal `signal_id` (after the signal's own checks).
pub(crate) fn validate(g: &GovernorLogRecord, signal_id: &str) -> Result<()> {
    if g.signal_id != signal_id {
        return Err(invalid(
            "governor log",
            0,
            "signal_id",
            "differs from the signal's id",
        ));
    }
    one_of("governor log", 0, "decision", &g.decision, &DECISIONS)?;
    non_empty("governor log", 0, "config_hash", &g.config_hash, 128)
}

/// Appends a log line; runs inside the transaction that inserted its signal.
pub(crate) fn insert(db: &mut impl Db, g: &GovernorLogRecord) -> Result<()> {
    let args = params(g);
    let marks = placeholders(1, args.len());
    db.exec(
        &format!("INSERT INTO governor_log ({COLS}) VALUES {marks}"),
        &args,
    )?;
    Ok(())
}

/// `(sql, params)` for the log lines of `ids` (at most `IDS_PER_QUERY`), grouped by signal
/// and oldest first within one.
fn logs_query<'a>(ids: &[&'a str]) -> (String, Vec<Param<'a>>) {
    let marks = vec!["?"; ids.len()].join(", ");
    (
        format!(
            "SELECT {COLS} FROM governor_log WHERE signal_id IN ({marks}) ORDER BY signal_id, id"
        ),
        ids.iter().map(|id| Param::Text(id)).collect(),
    )
}

/// The log lines of each of `ids`, in the order of `ids` (oldest first within one).
pub(crate) fn logs_of<D: Db>(db: &mut D, ids: &[&str]) -> Result<Vec<Vec<GovernorLogRecord>>> {
    let mut by_id: HashMap<String, Vec<GovernorLogRecord>> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let (q, p) = logs_query(chunk);
        for g in db.rows::<GovernorLogRecord>(&q, &p)? {
            by_id.entry(g.signal_id.clone()).or_default().push(g);
        }
    }
    Ok(ids
        .iter()
        .map(|id| by_id.remove(*id).unwrap_or_default())
        .collect())
}

/// Which decisions `Store::governor_decisions` and `Store::governor_counts` look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GovernorFilter {
    pub symbol: Option<String>,
    /// Only decisions carrying this reason code (an exact code of `[A-Z0-9_]`, not a pattern).
    pub reason: Option<String>,
    /// 'allow' or 'deny'.
    pub decision: Option<String>,
    /// at >= since.
    pub since: Option<i64>,
    /// at < until.
    pub until: Option<i64>,
}

/// Decisions of one time bucket with the same decision and reason codes.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorCount {
    /// Start of the bucket (Unix seconds, a multiple of the bucket length).
    pub bucket: i64,
    pub decision: String,
    /// As stored: codes joined by commas, empty for an allow.
    pub reason_codes: String,
    pub n: i64,
}

impl Decode for GovernorCount {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(GovernorCount {
            bucket: r.get(0)?,
            decision: r.get(1)?,
            reason_codes: r.get(2)?,
            n: r.get(3)?,
        })
    }
}

/// The forms a reason code can take in the comma-joined list: alone, first, last, in the
/// middle. `_` is escaped (`!` is the escape character) so that `LIKE` takes it literally.
fn reason_patterns(code: &str) -> [String; 4] {
    let e = code
        .replace('!', "!!")
        .replace('%', "!%")
        .replace('_', "!_");
    [
        code.to_string(),
        format!("{e},%"),
        format!("%,{e}"),
        format!("%,{e},%"),
    ]
}

/// The `WHERE` clause of a `GovernorFilter` (both dialects) with its parameters; a reason
/// code matches only as a whole element of the list.
fn filter_sql<'a>(
    f: &'a GovernorFilter,
    patterns: Option<&'a [String; 4]>,
) -> (String, Vec<Param<'a>>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut p = Vec::new();
    if let Some(s) = &f.symbol {
        sql.push_str(" AND symbol = ?");
        p.push(Param::Text(s));
    }
    if let Some(d) = &f.decision {
        sql.push_str(" AND decision = ?");
        p.push(Param::Text(d));
    }
    if let Some(s) = f.since {
        sql.push_str(" AND at >= ?");
        p.push(Param::Int(s));
    }
    if let Some(u) = f.until {
        sql.push_str(" AND at < ?");
        p.push(Param::Int(u));
    }
    if let Some(pats) = patterns {
        sql.push_str(
            " AND (reason_codes = ? OR reason_codes LIKE ? ESCAPE '!' \
             OR reason_codes LIKE ? ESCAPE '!' OR reason_codes LIKE ? ESCAPE '!')",
        );
        p.extend(pats.iter().map(|x| Param::Text(x)));
    }
    (sql, p)
}

impl Store {
    /// The governor log lines of a signal, oldest first.
    pub fn governor_log_for(&self, signal_id: &str) -> Result<Vec<GovernorLogRecord>> {
        let (q, p) = logs_query(&[signal_id]);
        db_read!(self, |db| db.rows(&q, &p))
    }

    /// The governor log lines of each of `ids`, in the order of `ids` (oldest first within
    /// one), in one query per few hundred ids: what a page of signals needs.
    pub fn governor_logs_for(&self, ids: &[&str]) -> Result<Vec<Vec<GovernorLogRecord>>> {
        db_read!(self, |db| logs_of(db, ids))
    }

    /// Decisions matching `f`, newest first, at most `limit`.
    pub fn governor_decisions(
        &self,
        f: &GovernorFilter,
        limit: usize,
    ) -> Result<Vec<GovernorLogRecord>> {
        let pats = f.reason.as_deref().map(reason_patterns);
        let (filter, mut p) = filter_sql(f, pats.as_ref());
        p.push(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        let q =
            format!("SELECT {COLS} FROM governor_log{filter} ORDER BY at DESC, id DESC LIMIT ?");
        db_read!(self, |db| db.rows(&q, &p))
    }

    /// Decisions matching `f` counted per `bucket_s`-second bucket, decision and stored reason
    /// codes, oldest bucket first: the data of a "decisions over time by reason" chart, one
    /// grouped scan however many decisions there are.
    pub fn governor_counts(&self, f: &GovernorFilter, bucket_s: i64) -> Result<Vec<GovernorCount>> {
        let pats = f.reason.as_deref().map(reason_patterns);
        let (filter, where_params) = filter_sql(f, pats.as_ref());
        let mut p = vec![Param::Int(bucket_s.max(1))];
        p.extend(where_params);
        // `at - at % n` is integer arithmetic in both dialects (MySQL's `/` would not be).
        let q = format!(
            "SELECT at - (at % ?) AS b, decision, reason_codes, COUNT(*) FROM governor_log{filter} \
             GROUP BY b, decision, reason_codes ORDER BY b, decision, reason_codes"
        );
        db_read!(self, |db| db.rows(&q, &p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_count_their_params() {
        let pats = reason_patterns("MIN_CONFIDENCE");
        assert_eq!(pats[1], "MIN!_CONFIDENCE,%");
        assert_eq!(pats[3], "%,MIN!_CONFIDENCE,%");
        let f = GovernorFilter {
            symbol: Some("AAPL".into()),
            reason: Some("MIN_CONFIDENCE".into()),
            decision: Some("deny".into()),
            since: Some(1),
            until: Some(2),
        };
        let (sql, p) = filter_sql(&f, Some(&pats));
        assert_eq!((sql.matches('?').count(), p.len()), (8, 8), "{sql}");
        let none = GovernorFilter::default();
        let (sql, p) = filter_sql(&none, None);
        assert_eq!((sql.as_str(), p.len()), (" WHERE 1 = 1", 0));
    }

    #[test]
    fn logs_query_has_one_mark_per_id() {
        let (sql, params) = logs_query(&["a", "b", "c"]);
        assert!(sql.contains("IN (?, ?, ?)"), "{sql}");
        assert_eq!(params.len(), 3);
        assert_eq!(COLS.split(", ").count(), params_width());
    }

    fn params_width() -> usize {
        let g = GovernorLogRecord {
            signal_id: "s".into(),
            symbol: "A".into(),
            decision: "allow".into(),
            reason_codes: String::new(),
            rules_json: "[]".into(),
            config_hash: "h".into(),
            at: 1,
        };
        params(&g).len()
    }
}
