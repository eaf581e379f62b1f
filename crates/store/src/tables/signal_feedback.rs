//! The `signal_feedback` table: what a source (a person, a replay) says became of a signal,
//! one row per (signal_id, source), never overwritten.
//!
//! It owns `Feedback`, its checks, every statement on `signal_feedback` in both dialects side
//! by side, the `Store` methods that write and read feedback, and `OutcomeRow`: signals
//! joined with the feedback of one source (brain's automatic outcomes), the rows Eye's
//! `/quality` computes the track record from. It must not open connections or transactions
//! (the backends do) or read the clock.

use crate::db::{placeholders, Cells, Db, Decode, Dialect, Param};
use crate::error::{Result, StoreError};
use crate::tables::{finite, non_empty, signals, signals_latest};
use crate::Store;
use aivex_core::contract::AUTO_FEEDBACK_SOURCE;
use std::collections::HashMap;

/// Feedback rows of up to this many signals per query (well under every dialect's placeholder
/// limit).
const IDS_PER_QUERY: usize = 500;

/// Feedback on a signal from one source; unique per (signal_id, source).
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub signal_id: String,
    pub source: String,
    pub outcome: String,
    pub realized_return: Option<f64>,
    pub horizon_s: Option<i64>,
    pub note: Option<String>,
    pub at: i64,
}

/// The columns, in the order of `params` and `Decode for Feedback`; `id` is the database's
/// own autoincrement.
const COLS: &str = "signal_id, source, outcome, realized_return, horizon_s, note, at";

fn params(f: &Feedback) -> [Param<'_>; 7] {
    [
        (&f.signal_id).into(),
        (&f.source).into(),
        (&f.outcome).into(),
        f.realized_return.into(),
        f.horizon_s.into(),
        f.note.as_deref().into(),
        f.at.into(),
    ]
}

impl Decode for Feedback {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(Feedback {
            signal_id: r.get(0)?,
            source: r.get(1)?,
            outcome: r.get(2)?,
            realized_return: r.get(3)?,
            horizon_s: r.get(4)?,
            note: r.get(5)?,
            at: r.get(6)?,
        })
    }
}

pub(crate) fn validate(f: &Feedback) -> Result<()> {
    non_empty("feedback", 0, "signal_id", &f.signal_id, 64)?;
    non_empty("feedback", 0, "source", &f.source, 64)?;
    non_empty("feedback", 0, "outcome", &f.outcome, 64)?;
    if let Some(r) = f.realized_return {
        finite("feedback", 0, "realized_return", r)?;
    }
    Ok(())
}

/// Inserts unless (signal_id, source) exists; a repeat reads back the row stored first. A new automatic
/// outcome (`AUTO_FEEDBACK_SOURCE`, which the signal endpoints show) stamps its symbol with
/// a read-model version: `version` holds the transaction's, taken on first need.
fn insert<D: Db>(db: &mut D, f: &Feedback, version: &mut Option<i64>) -> Result<(Feedback, bool)> {
    let on_repeat = match D::DIALECT {
        Dialect::Sqlite => "ON CONFLICT (signal_id, source) DO NOTHING",
        // `id = id` makes a repeat a no-op with 0 affected rows instead of an error.
        Dialect::Mysql => "ON DUPLICATE KEY UPDATE id = id",
    };
    let args = params(f);
    let marks = placeholders(1, args.len());
    let created = db.exec(
        &format!("INSERT INTO signal_feedback ({COLS}) VALUES {marks} {on_repeat}"),
        &args,
    )? == 1;
    if created && f.source == AUTO_FEEDBACK_SOURCE {
        let v = signals_latest::bump(db, version)?;
        signals_latest::touch(db, v, &f.signal_id)?;
    }
    if created {
        // What was just inserted is what is stored: no read back (a round trip per POST).
        return Ok((f.clone(), true));
    }
    let stored = db
        .rows::<Feedback>(
            &format!("SELECT {COLS} FROM signal_feedback WHERE signal_id = ? AND source = ?"),
            &[(&f.signal_id).into(), (&f.source).into()],
        )?
        .into_iter()
        .next()
        .ok_or_else(|| {
            StoreError::Unavailable(format!(
                "feedback ({}, {}) vanished right after its insert",
                f.signal_id, f.source
            ))
        })?;
    Ok((stored, created))
}

/// What `Store::record_feedbacks` did with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedbackWrite {
    /// Stored now (the row is what was given).
    Created(Feedback),
    /// Feedback from that source on that signal existed: the row stored first.
    Exists(Feedback),
    /// No signal has that id: nothing stored.
    UnknownSignal,
}

/// The feedback row from `source` of each of `ids`, in the order of `ids`.
pub(crate) fn feedback_of<D: Db>(
    db: &mut D,
    ids: &[&str],
    source: &str,
) -> Result<Vec<Option<Feedback>>> {
    let mut by_id: HashMap<String, Feedback> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let q = format!(
            "SELECT {COLS} FROM signal_feedback WHERE source = ? AND signal_id IN ({marks})"
        );
        let mut p = vec![Param::Text(source)];
        p.extend(chunk.iter().map(|id| Param::Text(id)));
        for f in db.rows::<Feedback>(&q, &p)? {
            by_id.insert(f.signal_id.clone(), f);
        }
    }
    Ok(ids.iter().map(|id| by_id.remove(*id)).collect())
}

/// A signal with the outcome one feedback source gave it (None while it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRow {
    pub id: String,
    pub symbol: String,
    pub created_at: i64,
    pub direction: i32,
    pub score: f64,
    pub confidence: f64,
    pub decision: String,
    pub reasons: String,
    pub outcome: Option<String>,
    pub realized_return: Option<f64>,
    /// When the outcome was given (the feedback row's `at`).
    pub scored_at: Option<i64>,
}

impl Decode for OutcomeRow {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(OutcomeRow {
            id: r.get(0)?,
            symbol: r.get(1)?,
            created_at: r.get(2)?,
            direction: r.get(3)?,
            score: r.get(4)?,
            confidence: r.get(5)?,
            decision: r.get(6)?,
            reasons: r.get(7)?,
            outcome: r.get(8)?,
            realized_return: r.get(9)?,
            scored_at: r.get(10)?,
        })
    }
}

/// Which signals `Store::signal_outcomes` returns: newest first by (created_at, id), before
/// the keyset cursor `before`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeFilter {
    /// The feedback source whose outcome is joined (brain's: `contract::AUTO_FEEDBACK_SOURCE`).
    pub source: String,
    pub symbol: Option<String>,
    /// created_at >= since.
    pub since: Option<i64>,
    /// created_at < until.
    pub until: Option<i64>,
    /// Only rows strictly older than this (created_at, id).
    pub before: Option<(i64, String)>,
    pub limit: usize,
}

/// `(sql, params)` for `Store::signal_outcomes` (both dialects).
fn outcomes_query(f: &OutcomeFilter) -> (String, Vec<Param<'_>>) {
    let mut sql = String::from(
        "SELECT s.id, s.symbol, s.created_at, s.direction, s.score, s.confidence, s.decision, \
         s.reasons, f.outcome, f.realized_return, f.at FROM signals s \
         LEFT JOIN signal_feedback f ON f.signal_id = s.id AND f.source = ? WHERE 1 = 1",
    );
    let mut p = vec![Param::Text(&f.source)];
    if let Some(s) = &f.symbol {
        sql.push_str(" AND s.symbol = ?");
        p.push(Param::Text(s));
    }
    if let Some(s) = f.since {
        sql.push_str(" AND s.created_at >= ?");
        p.push(Param::Int(s));
    }
    if let Some(u) = f.until {
        sql.push_str(" AND s.created_at < ?");
        p.push(Param::Int(u));
    }
    if let Some((at, id)) = &f.before {
        sql.push_str(" AND (s.created_at < ? OR (s.created_at = ? AND s.id < ?))");
        p.extend([Param::Int(*at), Param::Int(*at), Param::Text(id)]);
    }
    sql.push_str(" ORDER BY s.created_at DESC, s.id DESC LIMIT ?");
    p.push(Param::Int(i64::try_from(f.limit).unwrap_or(i64::MAX)));
    (sql, p)
}

impl Store {
    /// A page of signals with their outcome from `f.source` (a signal has at most one row
    /// per source), newest first; page on with `before` = the last row's (created_at, id).
    pub fn signal_outcomes(&self, f: &OutcomeFilter) -> Result<Vec<OutcomeRow>> {
        let (q, p) = outcomes_query(f);
        db_read!(self, |db| db.rows(&q, &p))
    }

    /// Stores feedback unless feedback from the same source for the same signal exists;
    /// returns the stored row and whether this call created it. Feedback on an unknown
    /// signal is a constraint error (DataValidation).
    pub fn insert_feedback(&mut self, f: &Feedback) -> Result<(Feedback, bool)> {
        validate(f)?;
        db_write!(self, |db| insert(db, f, &mut None))
    }

    /// Stores a batch of feedback rows in one transaction, each unless feedback from the same
    /// source for the same signal exists; returns how many it created. One bad row (or one
    /// about an unknown signal) fails the whole batch and writes nothing.
    pub fn insert_feedbacks(&mut self, rows: &[Feedback]) -> Result<usize> {
        for f in rows {
            validate(f)?;
        }
        db_write!(self, |db| {
            let mut created = 0;
            let mut version = None;
            for f in rows {
                if insert(db, f, &mut version)?.1 {
                    created += 1;
                }
            }
            Ok(created)
        })
    }

    /// Stores each row (as `insert_feedback` does) in one transaction, so concurrent
    /// submissions share one commit; a row about an unknown signal is reported as such
    /// instead of failing the others. Returns what happened to each row, in order.
    pub fn record_feedbacks(&mut self, rows: &[Feedback]) -> Result<Vec<FeedbackWrite>> {
        for f in rows {
            validate(f)?;
        }
        db_write!(self, |db| {
            let ids: Vec<&str> = rows.iter().map(|f| f.signal_id.as_str()).collect();
            let known: std::collections::HashSet<String> =
                signals::existing_ids(db, &ids)?.into_iter().collect();
            let mut version = None;
            let mut out = Vec::with_capacity(rows.len());
            for f in rows {
                out.push(if !known.contains(&f.signal_id) {
                    FeedbackWrite::UnknownSignal
                } else {
                    match insert(db, f, &mut version)? {
                        (row, true) => FeedbackWrite::Created(row),
                        (row, false) => FeedbackWrite::Exists(row),
                    }
                });
            }
            Ok(out)
        })
    }

    /// The feedback row from `source` of each of `ids`, in the order of `ids` (None where
    /// there is none), in one query per few hundred ids: what a page of signals needs to show
    /// its automatic outcome.
    pub fn feedback_of(&self, ids: &[&str], source: &str) -> Result<Vec<Option<Feedback>>> {
        db_read!(self, |db| feedback_of(db, ids, source))
    }

    /// Feedback at or after `since` (all without it), oldest first.
    pub fn feedback_since(&self, since: Option<i64>) -> Result<Vec<Feedback>> {
        let q = format!("SELECT {COLS} FROM signal_feedback WHERE at >= ? ORDER BY at, id");
        db_read!(self, |db| db
            .rows(&q, &[Param::Int(since.unwrap_or(i64::MIN))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_query_counts_params() {
        let mut f = OutcomeFilter {
            source: "auto".into(),
            limit: 10,
            ..Default::default()
        };
        let (sql, p) = outcomes_query(&f);
        assert_eq!((sql.matches('?').count(), p.len()), (2, 2), "{sql}");
        f.symbol = Some("AAPL".into());
        f.since = Some(1);
        f.until = Some(2);
        f.before = Some((1, "x".into()));
        let (sql, p) = outcomes_query(&f);
        assert_eq!((sql.matches('?').count(), p.len()), (8, 8), "{sql}");
        assert!(
            sql.ends_with("ORDER BY s.created_at DESC, s.id DESC LIMIT ?"),
            "{sql}"
        );
    }
}
