//! SQL text shared by both dialects and the neutral parameter type the backends bind.
//!
//! It owns the read queries that are identical in SQLite and MySQL/MariaDB (both accept `?`
//! placeholders and backtick-quoted identifiers) and the builder for the signal query with
//! its optional filters and keyset cursor. Pure string building: no connection here, and
//! every value travels as a bound parameter, never spliced into the text.

use crate::model::{BarRef, SignalFilter};

/// A bound parameter value, converted to the driver's type by each backend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Real(f64),
    Text(String),
}

pub(crate) const BAR_COLS: &str =
    "symbol, `interval`, ts, open, high, low, close, adj_close, volume, source";
pub(crate) const ARTICLE_COLS: &str = "a.id, a.source, a.url, a.title, a.summary, a.published_at, a.ingested_at, a.sentiment, a.sentiment_method, a.tickers";
pub(crate) const FUNDAMENTAL_COLS: &str = "symbol, metric, period_end, value, unit, filed, source";
pub(crate) const COMPONENT_COLS: &str = "symbol, kind, value, as_of, computed_at, detail";
pub(crate) const SIGNAL_COLS: &str =
    "id, symbol, created_at, direction, score, confidence, horizon_s, components, decision, reasons";
pub(crate) const GOVLOG_COLS: &str =
    "signal_id, symbol, decision, reason_codes, rules, config_hash, at";
pub(crate) const FEEDBACK_COLS: &str =
    "signal_id, source, outcome, realized_return, horizon_s, note, at";

/// `(sql, params)` for `Store::bars`: with a limit, the newest `limit` bars, returned in
/// ascending time order either way.
pub(crate) fn bars_query(
    symbol: &str,
    interval: &str,
    since: Option<i64>,
    limit: Option<usize>,
) -> (String, Vec<Param>) {
    let mut params = vec![Param::Text(symbol.into()), Param::Text(interval.into())];
    let mut filter = String::from("symbol = ? AND `interval` = ?");
    if let Some(s) = since {
        filter.push_str(" AND ts >= ?");
        params.push(Param::Int(s));
    }
    let sql = match limit {
        Some(n) => {
            params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            format!(
                "SELECT {BAR_COLS} FROM (SELECT {BAR_COLS} FROM ohlcv WHERE {filter} \
                 ORDER BY ts DESC LIMIT ?) AS newest ORDER BY ts ASC"
            )
        }
        None => format!("SELECT {BAR_COLS} FROM ohlcv WHERE {filter} ORDER BY ts ASC"),
    };
    (sql, params)
}

/// `(sql, params)` for the newest `limit` bars of one symbol and interval, newest first
/// (callers reverse them): a plain descending index range, no derived table, so both dialects
/// stop after `limit` rows. Columns: ts, open, high, low, close, adj_close, volume.
pub(crate) fn candles_query(
    symbol: &str,
    interval: &str,
    limit: i64,
) -> (&'static str, Vec<Param>) {
    (
        "SELECT ts, open, high, low, close, adj_close, volume \
         FROM ohlcv WHERE symbol = ? AND `interval` = ? ORDER BY ts DESC LIMIT ?",
        vec![
            Param::Text(symbol.into()),
            Param::Text(interval.into()),
            Param::Int(limit),
        ],
    )
}

/// Governor log lines of up to this many signals per query (well under every dialect's
/// placeholder limit).
pub(crate) const GOVLOG_IDS_PER_QUERY: usize = 500;

/// `(sql, params)` for the governor log lines of `ids` (at most `GOVLOG_IDS_PER_QUERY`),
/// grouped by signal and oldest first within one.
pub(crate) fn govlog_query(ids: &[&str]) -> (String, Vec<Param>) {
    let marks = vec!["?"; ids.len()].join(", ");
    (
        format!("SELECT {GOVLOG_COLS} FROM governor_log WHERE signal_id IN ({marks}) ORDER BY signal_id, id"),
        ids.iter().map(|id| Param::Text((*id).into())).collect(),
    )
}

/// `(sql, params)` for `Store::articles_for`, oldest first by publication (or ingest) time.
pub(crate) fn articles_query(ticker: &str, since: Option<i64>) -> (String, Vec<Param>) {
    let mut params = vec![Param::Text(ticker.into())];
    let mut sql = format!(
        "SELECT {ARTICLE_COLS} FROM news_tickers t JOIN news_articles a ON a.id = t.article_id \
         WHERE t.ticker = ?"
    );
    if let Some(s) = since {
        sql.push_str(" AND COALESCE(a.published_at, a.ingested_at) >= ?");
        params.push(Param::Int(s));
    }
    sql.push_str(" ORDER BY COALESCE(a.published_at, a.ingested_at) ASC, a.id ASC");
    (sql, params)
}

/// The filters of a `SignalFilter` except the cursor, on table alias `alias`.
fn signal_filters(f: &SignalFilter, alias: &str, sql: &mut String, params: &mut Vec<Param>) {
    if let Some(s) = &f.symbol {
        sql.push_str(&format!(" AND {alias}.symbol = ?"));
        params.push(Param::Text(s.clone()));
    }
    if let Some(s) = f.since {
        sql.push_str(&format!(" AND {alias}.created_at >= ?"));
        params.push(Param::Int(s));
    }
    if let Some(u) = f.until {
        sql.push_str(&format!(" AND {alias}.created_at < ?"));
        params.push(Param::Int(u));
    }
    if let Some(d) = &f.decision {
        sql.push_str(&format!(" AND {alias}.decision = ?"));
        params.push(Param::Text(d.clone()));
    }
    if let Some(c) = f.min_confidence {
        sql.push_str(&format!(" AND {alias}.confidence >= ?"));
        params.push(Param::Real(c));
    }
}

/// How a dialect finds the latest signal per symbol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Latest {
    /// One indexed lookup per distinct symbol (SQLite: a correlated subquery per row made
    /// `/signals` scan the whole history there).
    PerSymbol,
    /// A correlated subquery per row (MySQL/MariaDB: MariaDB rejects the outer reference of
    /// the per-symbol form with "Unknown column 'd.symbol'", and its optimizer handles this
    /// one well).
    PerRow,
}

/// `(sql, params)` for `Store::signals_query`: newest first by (created_at, id). With
/// `latest_per_symbol`, a signal is kept only when no other signal of its symbol matching
/// the same filters is newer; the cursor and limit apply after that.
pub(crate) fn signals_query(f: &SignalFilter, latest: Latest) -> (String, Vec<Param>) {
    let cols = SIGNAL_COLS
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!("SELECT {cols} FROM signals s WHERE 1 = 1");
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
        params.push(Param::Text(id.clone()));
    }
    sql.push_str(" ORDER BY s.created_at DESC, s.id DESC");
    if let Some(n) = f.limit {
        sql.push_str(" LIMIT ?");
        params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    (sql, params)
}

/// `VALUES` rows of `width` placeholders each, e.g. `(?,?),(?,?)`.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(","));
    vec![row; rows].join(",")
}

/// Keeps the last occurrence of each (symbol, interval, ts) so one statement never touches
/// a key twice; returns the kept bars in input order and how many were superseded.
pub(crate) fn dedupe_bars<'a, 'b>(bars: &'b [BarRef<'a>]) -> (Vec<&'b BarRef<'a>>, u64) {
    use std::collections::HashMap;
    let mut last: HashMap<(&str, &str, i64), usize> = HashMap::with_capacity(bars.len());
    for (i, b) in bars.iter().enumerate() {
        last.insert((b.symbol, b.interval, b.ts), i);
    }
    let kept: Vec<&BarRef<'a>> = bars
        .iter()
        .enumerate()
        .filter(|(i, b)| last.get(&(b.symbol, b.interval, b.ts)) == Some(i))
        .map(|(_, b)| b)
        .collect();
    let superseded = (bars.len() - kept.len()) as u64;
    (kept, superseded)
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
    fn bars_query_counts_params() {
        for (since, limit, n) in [(None, None, 2), (Some(1), None, 3), (Some(1), Some(5), 4)] {
            let (sql, params) = bars_query("A", "1d", since, limit);
            assert_eq!(params.len(), n);
            assert_eq!(sql.matches('?').count(), n, "{sql}");
        }
    }

    #[test]
    fn placeholders_shape() {
        assert_eq!(placeholders(2, 3), "(?,?,?),(?,?,?)");
    }

    #[test]
    fn dedupe_keeps_last() {
        let b = |ts: i64, close: f64| BarRef {
            symbol: "A",
            interval: "1d",
            ts,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close,
            adj_close: None,
            volume: 1.0,
            source: "t",
        };
        let bars = vec![b(1, 1.0), b(2, 1.0), b(1, 2.0)];
        let (kept, dropped) = dedupe_bars(&bars);
        assert_eq!(dropped, 1);
        assert_eq!(
            kept.iter().map(|b| (b.ts, b.close)).collect::<Vec<_>>(),
            vec![(2, 1.0), (1, 2.0)]
        );
    }
}
