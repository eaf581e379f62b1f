//! The `signals` table: each composite signal and the governor's decision on it.
//!
//! It owns `SignalRecord`, `SignalFilter`, the checks a decision must pass, every statement on
//! `signals` in both dialects side by side (including how each finds the latest signal per
//! symbol, and which signals still wait for a feedback row of a source), and the `Store`
//! methods that record and query signals. A decision is written with its governor log line in
//! one transaction (`tables/governor_log.rs`); a back-fill batch with its progress
//! (`tables/backfill_progress.rs`). It must not open connections or transactions (the backends
//! do) or read the clock.

use crate::db::{column, placeholders, qualified, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::cluster::{check_fence, LeaseStamp};
use crate::tables::governor_log::{self, GovernorLogRecord};
use crate::tables::signals_latest;
use crate::tables::{finite, invalid, non_empty, one_of, symbol};
use crate::Store;
use aivex_core::contract::Origin;

/// A composite signal and the governor's decision on it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// Chosen by the caller, at most 64 characters.
    pub id: String,
    pub symbol: String,
    pub created_at: i64,
    /// -1, 0 or 1.
    pub direction: i32,
    pub score: f64,
    pub confidence: f64,
    pub horizon_s: i64,
    /// JSON text: each component's value, weight and input freshness.
    pub components_json: String,
    /// 'allow' or 'deny'.
    pub decision: String,
    pub reasons: String,
    /// 'live' or 'backfill' (`aivex_core::contract::Origin`). A back-filled signal's
    /// `created_at` is the as-of time it was composed at.
    pub origin: String,
    /// When the row was written (for a live signal, its `created_at`).
    pub recorded_at: i64,
    /// In a cluster: the node that decided it, under which shard lease (`node_id`, `shard`,
    /// `epoch` columns). A write with a stamp is fenced: refused unless the node still holds
    /// that shard at that epoch. None outside a cluster.
    pub lease: Option<LeaseStamp>,
}

/// Which signals `Store::signals_query` returns, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalFilter {
    pub symbol: Option<String>,
    /// created_at >= since.
    pub since: Option<i64>,
    /// created_at < until.
    pub until: Option<i64>,
    /// 'allow' or 'deny'.
    pub decision: Option<String>,
    pub min_confidence: Option<f64>,
    /// 'live' or 'backfill'.
    pub origin: Option<String>,
    /// Only signals without a `signal_feedback` row from this source (e.g. not scored yet).
    pub without_feedback_from: Option<String>,
    /// Only the newest matching signal of each symbol.
    pub latest_per_symbol: bool,
    pub limit: Option<usize>,
    /// Keyset cursor: only rows strictly older than this (created_at, id), in the
    /// (created_at DESC, id DESC) order.
    pub after: Option<(i64, String)>,
}

/// The decisions the schema's CHECK constraints allow (here and in `governor_log`).
pub(crate) const DECISIONS: [&str; 2] = ["allow", "deny"];

/// The columns, in the order of `params` and `Decode for SignalRecord` (`components` holds
/// `components_json`).
const COLS: &str = "id, symbol, created_at, direction, score, confidence, horizon_s, components, \
                    decision, reasons, origin, recorded_at, node_id, shard, epoch";

fn params(s: &SignalRecord) -> [Param<'_>; 15] {
    [
        (&s.id).into(),
        (&s.symbol).into(),
        s.created_at.into(),
        s.direction.into(),
        s.score.into(),
        s.confidence.into(),
        s.horizon_s.into(),
        (&s.components_json).into(),
        (&s.decision).into(),
        (&s.reasons).into(),
        (&s.origin).into(),
        s.recorded_at.into(),
        s.lease.as_ref().map(|l| &l.node_id).into(),
        s.lease.as_ref().map(|l| l.shard).into(),
        s.lease.as_ref().map(|l| l.epoch).into(),
    ]
}

impl Decode for SignalRecord {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(SignalRecord {
            id: r.get(0)?,
            symbol: r.get(1)?,
            created_at: r.get(2)?,
            direction: r.get(3)?,
            score: r.get(4)?,
            confidence: r.get(5)?,
            horizon_s: r.get(6)?,
            components_json: r.get(7)?,
            decision: r.get(8)?,
            reasons: r.get(9)?,
            origin: r.get(10)?,
            recorded_at: r.get(11)?,
            lease: {
                let node: Option<String> = r.get(12)?;
                let shard: Option<u32> = r.get(13)?;
                let epoch: Option<i64> = r.get(14)?;
                match (node, shard, epoch) {
                    (Some(node_id), Some(shard), Some(epoch)) => Some(LeaseStamp {
                        shard,
                        epoch,
                        node_id,
                    }),
                    _ => None,
                }
            },
        })
    }
}

/// Checks a signal and then its governor log line.
pub(crate) fn validate(s: &SignalRecord, g: &GovernorLogRecord) -> Result<()> {
    non_empty("signal", 0, "id", &s.id, 64)?;
    symbol("signal", 0, &s.symbol)?;
    one_of("signal", 0, "decision", &s.decision, &DECISIONS)?;
    finite("signal", 0, "score", s.score)?;
    finite("signal", 0, "confidence", s.confidence)?;
    if Origin::parse(&s.origin).is_none() {
        return Err(invalid(
            "signal",
            0,
            "origin",
            &format!("is {:?}, expected live or backfill", s.origin),
        ));
    }
    governor_log::validate(g, &s.id)
}

/// Inserts the signal unless its id exists; its log line, a new read-model version and the
/// symbol's `signals_latest` row only when it was inserted. `version` is the transaction's
/// read-model version, taken on first need (one per transaction, however many signals).
pub(crate) fn record_decision<D: Db>(
    db: &mut D,
    s: &SignalRecord,
    g: &GovernorLogRecord,
    version: &mut Option<i64>,
) -> Result<bool> {
    let on_repeat = match D::DIALECT {
        Dialect::Sqlite => "ON CONFLICT (id) DO NOTHING",
        // `id = id` makes a repeat a no-op with 0 affected rows instead of an error.
        Dialect::Mysql => "ON DUPLICATE KEY UPDATE id = id",
    };
    let args = params(s);
    let marks = placeholders(1, args.len());
    let inserted = db.exec(
        &format!("INSERT INTO signals ({COLS}) VALUES {marks} {on_repeat}"),
        &args,
    )? == 1;
    if inserted {
        governor_log::insert(db, g)?;
        let v = signals_latest::bump(db, version)?;
        signals_latest::note_signal(db, v, s)?;
    }
    Ok(inserted)
}

/// Signals with these ids (those that exist), in no particular order.
pub(crate) fn by_ids<D: Db>(db: &mut D, ids: &[&str]) -> Result<Vec<SignalRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let q = format!("SELECT {COLS} FROM signals WHERE id IN ({marks})");
        let p: Vec<Param<'_>> = chunk.iter().map(|id| Param::Text(id)).collect();
        out.extend(db.rows::<SignalRecord>(&q, &p)?);
    }
    Ok(out)
}

/// Which of these ids are stored signals.
pub(crate) fn existing_ids<D: Db>(db: &mut D, ids: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let q = format!("SELECT id FROM signals WHERE id IN ({marks})");
        let p: Vec<Param<'_>> = chunk.iter().map(|id| Param::Text(id)).collect();
        out.extend(column::<String>(db, &q, &p)?);
    }
    Ok(out)
}

/// Signals matching `filter`, newest first (what `Store::signals_query` runs).
pub(crate) fn query<D: Db>(db: &mut D, filter: &SignalFilter) -> Result<Vec<SignalRecord>> {
    let (q, p) = signals_query(filter, Latest::of(D::DIALECT, filter));
    db.rows(&q, &p)
}

/// Signals of up to this many ids per query (well under every dialect's placeholder limit).
const IDS_PER_QUERY: usize = 500;

/// How a query finds the latest signal per symbol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Latest {
    /// Through `signals_latest` (one indexed read, both dialects): when no filter other than
    /// the symbol, the cursor and the limit is given, the latest matching signal of a symbol
    /// is its latest signal.
    Table,
    /// One indexed lookup per distinct symbol (SQLite: a correlated subquery per row made
    /// `/signals` scan the whole history there).
    PerSymbol,
    /// A correlated subquery per row (MySQL/MariaDB: MariaDB rejects the outer reference of
    /// the per-symbol form with "Unknown column 'd.symbol'", and its optimizer handles this
    /// one well).
    PerRow,
}

impl Latest {
    fn of(dialect: Dialect, f: &SignalFilter) -> Latest {
        let plain = f.since.is_none()
            && f.until.is_none()
            && f.decision.is_none()
            && f.min_confidence.is_none()
            && f.origin.is_none()
            && f.without_feedback_from.is_none();
        match dialect {
            _ if plain => Latest::Table,
            Dialect::Sqlite => Latest::PerSymbol,
            Dialect::Mysql => Latest::PerRow,
        }
    }
}

/// `(sql, params)` of a `latest_per_symbol` query through `signals_latest` (only the symbol,
/// the cursor and the limit of `f` apply).
fn latest_query(f: &SignalFilter) -> (String, Vec<Param<'_>>) {
    let mut sql = format!(
        "SELECT {} FROM signals_latest l JOIN signals s ON s.id = l.signal_id WHERE 1 = 1",
        qualified(COLS, "s")
    );
    let mut params = Vec::new();
    if let Some(s) = &f.symbol {
        sql.push_str(" AND l.symbol = ?");
        params.push(Param::Text(s));
    }
    if let Some((at, id)) = &f.after {
        sql.push_str(" AND (l.created_at < ? OR (l.created_at = ? AND l.signal_id < ?))");
        params.push(Param::Int(*at));
        params.push(Param::Int(*at));
        params.push(Param::Text(id));
    }
    sql.push_str(" ORDER BY l.created_at DESC, l.signal_id DESC");
    if let Some(n) = f.limit {
        sql.push_str(" LIMIT ?");
        params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

/// The filters of a `SignalFilter` except the cursor, on table alias `alias`.
fn signal_filters<'a>(f: &'a SignalFilter, alias: &str, sql: &mut String, p: &mut Vec<Param<'a>>) {
    if let Some(s) = &f.symbol {
        sql.push_str(&format!(" AND {alias}.symbol = ?"));
        p.push(Param::Text(s));
    }
    if let Some(s) = f.since {
        sql.push_str(&format!(" AND {alias}.created_at >= ?"));
        p.push(Param::Int(s));
    }
    if let Some(u) = f.until {
        sql.push_str(&format!(" AND {alias}.created_at < ?"));
        p.push(Param::Int(u));
    }
    if let Some(d) = &f.decision {
        sql.push_str(&format!(" AND {alias}.decision = ?"));
        p.push(Param::Text(d));
    }
    if let Some(c) = f.min_confidence {
        sql.push_str(&format!(" AND {alias}.confidence >= ?"));
        p.push(Param::Real(c));
    }
    if let Some(o) = &f.origin {
        sql.push_str(&format!(" AND {alias}.origin = ?"));
        p.push(Param::Text(o));
    }
    if let Some(src) = &f.without_feedback_from {
        // The (signal_id, source) unique key makes this one index probe per row.
        sql.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM signal_feedback f \
             WHERE f.signal_id = {alias}.id AND f.source = ?)"
        ));
        p.push(Param::Text(src));
    }
}

/// `(sql, params)` for `Store::signals_query`: newest first by (created_at, id). With
/// `latest_per_symbol`, a signal is kept only when no other signal of its symbol matching
/// the same filters is newer; the cursor and limit apply after that.
fn signals_query(f: &SignalFilter, latest: Latest) -> (String, Vec<Param<'_>>) {
    if f.latest_per_symbol && latest == Latest::Table {
        return latest_query(f);
    }
    let mut sql = format!("SELECT {} FROM signals s WHERE 1 = 1", qualified(COLS, "s"));
    let mut params = Vec::new();
    signal_filters(f, "s", &mut sql, &mut params);
    if f.latest_per_symbol {
        match latest {
            Latest::PerSymbol => {
                sql.push_str(
                    " AND s.id IN (SELECT (SELECT s2.id FROM signals s2 WHERE s2.symbol = d.symbol",
                );
                signal_filters(f, "s2", &mut sql, &mut params);
                sql.push_str(
                    " ORDER BY s2.created_at DESC, s2.id DESC LIMIT 1) FROM (SELECT DISTINCT symbol FROM signals) d)",
                );
            }
            // Answered by `latest_query` above.
            Latest::Table => {}
            Latest::PerRow => {
                sql.push_str(
                    " AND s.id = (SELECT s2.id FROM signals s2 WHERE s2.symbol = s.symbol",
                );
                signal_filters(f, "s2", &mut sql, &mut params);
                sql.push_str(" ORDER BY s2.created_at DESC, s2.id DESC LIMIT 1)");
            }
        }
    }
    if let Some((at, id)) = &f.after {
        sql.push_str(" AND (s.created_at < ? OR (s.created_at = ? AND s.id < ?))");
        params.push(Param::Int(*at));
        params.push(Param::Int(*at));
        params.push(Param::Text(id));
    }
    sql.push_str(" ORDER BY s.created_at DESC, s.id DESC");
    if let Some(n) = f.limit {
        sql.push_str(" LIMIT ?");
        params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

impl Store {
    /// Writes a signal and its governor log line in one transaction. Idempotent on the
    /// signal id: returns false and writes nothing when the id already exists. A signal with a
    /// lease stamp is fenced: the transaction first locks its shard's lease row and checks this
    /// node still holds it at that epoch, else it writes nothing (`StoreError::LostLease`).
    pub fn record_decision(&mut self, s: &SignalRecord, g: &GovernorLogRecord) -> Result<bool> {
        validate(s, g)?;
        let stamps: Vec<&LeaseStamp> = s.lease.iter().collect();
        db_write!(self, |db| {
            check_fence(db, &stamps)?;
            record_decision(db, s, g, &mut None)
        })
    }

    /// Allowed signals created at or after `since`, for one symbol or all.
    pub fn allowed_count_since(&self, symbol: Option<&str>, since: i64) -> Result<u64> {
        let n: Vec<i64> = match symbol {
            Some(sym) => db_read!(self, |db| column(
                db,
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND symbol = ? \
                 AND created_at >= ?",
                &[Param::Text(sym), Param::Int(since)]
            )),
            None => db_read!(self, |db| column(
                db,
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND created_at >= ?",
                &[Param::Int(since)]
            )),
        }?;
        Ok(n.first()
            .copied()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0))
    }

    /// created_at of the newest allowed signal of `symbol`.
    pub fn last_allowed_at(&self, symbol: &str) -> Result<Option<i64>> {
        let max: Vec<Option<i64>> = db_read!(self, |db| column(
            db,
            "SELECT MAX(created_at) FROM signals WHERE decision = 'allow' AND symbol = ?",
            &[Param::Text(symbol)]
        ))?;
        Ok(max.into_iter().next().flatten())
    }

    /// created_at of the oldest signal of `symbol` with `origin` ('live' or 'backfill').
    pub fn first_signal_at(&self, symbol: &str, origin: &str) -> Result<Option<i64>> {
        let min: Vec<Option<i64>> = db_read!(self, |db| column(
            db,
            "SELECT MIN(created_at) FROM signals WHERE symbol = ? AND origin = ?",
            &[Param::Text(symbol), Param::Text(origin)]
        ))?;
        Ok(min.into_iter().next().flatten())
    }

    /// The newest signal of `symbol`, allowed or denied.
    pub fn last_signal_for(&self, symbol: &str) -> Result<Option<SignalRecord>> {
        let f = SignalFilter {
            symbol: Some(symbol.to_string()),
            limit: Some(1),
            ..Default::default()
        };
        Ok(self.signals_query(&f)?.into_iter().next())
    }

    /// Signals matching `filter`, newest first (keyset paging with `after`).
    pub fn signals_query(&self, filter: &SignalFilter) -> Result<Vec<SignalRecord>> {
        db_read!(self, |db| query(db, filter))
    }

    pub fn signal(&self, id: &str) -> Result<Option<SignalRecord>> {
        let q = format!("SELECT {COLS} FROM signals WHERE id = ?");
        let rows: Vec<SignalRecord> = db_read!(self, |db| db.rows(&q, &[Param::Text(id)]))?;
        Ok(rows.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_query_table() {
        let table = [
            (SignalFilter::default(), 0, "WHERE 1 = 1 ORDER BY s.created_at DESC, s.id DESC"),
            (
                SignalFilter {
                    symbol: Some("AAPL".into()),
                    limit: Some(5),
                    ..Default::default()
                },
                2,
                "AND s.symbol = ? ORDER BY s.created_at DESC, s.id DESC LIMIT ?",
            ),
            (
                SignalFilter {
                    decision: Some("allow".into()),
                    latest_per_symbol: true,
                    after: Some((10, "x".into())),
                    ..Default::default()
                },
                5,
                "s2.decision = ? ORDER BY s2.created_at DESC, s2.id DESC LIMIT 1) FROM (SELECT DISTINCT symbol FROM signals) d) AND (s.created_at < ?",
            ),
        ];
        for (f, n, fragment) in table {
            let (sql, params) = signals_query(&f, Latest::PerSymbol);
            assert_eq!(params.len(), n, "{sql}");
            assert_eq!(sql.matches('?').count(), n, "{sql}");
            assert!(sql.contains(fragment), "{sql}");
        }
    }

    #[test]
    fn per_row_latest_for_mysql() {
        let f = SignalFilter {
            latest_per_symbol: true,
            decision: Some("allow".into()),
            ..Default::default()
        };
        let (sql, _) = signals_query(&f, Latest::of(Dialect::Mysql, &f));
        assert!(sql.contains("s.id = (SELECT s2.id FROM signals s2 WHERE s2.symbol = s.symbol"));
        let (sql, _) = signals_query(&f, Latest::of(Dialect::Sqlite, &f));
        assert!(sql.contains("FROM (SELECT DISTINCT symbol FROM signals) d"));
    }

    #[test]
    fn plain_latest_reads_the_latest_table_in_both_dialects() {
        let f = SignalFilter {
            latest_per_symbol: true,
            symbol: Some("AAPL".into()),
            after: Some((10, "x".into())),
            limit: Some(50),
            ..Default::default()
        };
        for d in [Dialect::Sqlite, Dialect::Mysql] {
            let (sql, params) = signals_query(&f, Latest::of(d, &f));
            assert!(sql.contains("FROM signals_latest l JOIN signals s ON s.id = l.signal_id"));
            assert!(sql.ends_with("ORDER BY l.created_at DESC, l.signal_id DESC LIMIT ?"));
            assert_eq!((params.len(), sql.matches('?').count()), (5, 5), "{sql}");
        }
        // Without latest_per_symbol the history query is unchanged.
        let h = SignalFilter {
            symbol: Some("AAPL".into()),
            ..Default::default()
        };
        let (sql, _) = signals_query(&h, Latest::of(Dialect::Sqlite, &h));
        assert!(sql.starts_with("SELECT s.id"), "{sql}");
        assert!(!sql.contains("signals_latest"), "{sql}");
    }
}
