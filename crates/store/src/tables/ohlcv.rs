//! The `ohlcv` table: OHLCV bars keyed by (symbol, interval, ts).
//!
//! It owns `OhlcvRow` (a stored bar with its key strings), `OhlcvRef` (the same, borrowed, as
//! the write path binds it), the checks a bar must pass, every statement on `ohlcv` in both
//! dialects side by side, and the `Store` methods that write and read bars. The write path is
//! the store's hot path (the chart module writes millions of rows): multi-row statements, no
//! allocation per row beyond the driver's own. It must not open connections or transactions
//! (the backends do) or read the clock.

use crate::counts::{split_counts, UpsertCounts};
use crate::db::{column, placeholders, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::{finite, non_empty, symbol};
use crate::Store;
use std::collections::HashMap;

/// The numbers of one stored bar, without its key strings: what `Store::recent_candles`
/// returns and `Store::upsert_series` takes (the type every layer shares, from aivex-core).
pub use aivex_core::Candle;

/// One stored OHLCV bar, a row of `ohlcv`. `ts` is the bar's open time in Unix seconds UTC.
/// (The parsed bar of `aivex_market` is `Candle`; this is the row with its key strings.)
#[derive(Debug, Clone, PartialEq)]
pub struct OhlcvRow {
    pub symbol: String,
    pub interval: String,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: f64,
    pub source: String,
}

/// One bar as the write path binds it: an `OhlcvRow` or a series' `Candle` with borrowed key
/// strings, so a batch costs no allocation per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OhlcvRef<'a> {
    pub symbol: &'a str,
    pub interval: &'a str,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: f64,
    pub source: &'a str,
}

/// The columns, in the order of `OhlcvRef::bind` and `Decode for OhlcvRow`.
const COLS: &str = "symbol, `interval`, ts, open, high, low, close, adj_close, volume, source";
const WIDTH: usize = 10;
/// Bars per multi-row statement. SQLite: 10 parameters each stays far below its 32766
/// limit. MySQL/MariaDB: well under the 65535 placeholder limit, about 100 kB per round trip.
const SQLITE_CHUNK: usize = 500;
const MYSQL_CHUNK: usize = 1000;

impl<'a> OhlcvRef<'a> {
    pub(crate) fn of(b: &'a OhlcvRow) -> OhlcvRef<'a> {
        OhlcvRef {
            symbol: &b.symbol,
            interval: &b.interval,
            ts: b.ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            adj_close: b.adj_close,
            volume: b.volume,
            source: &b.source,
        }
    }

    pub(crate) fn series(symbol: &'a str, interval: &'a str, source: &'a str, c: &Candle) -> Self {
        OhlcvRef {
            symbol,
            interval,
            ts: c.ts,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            adj_close: c.adj_close,
            volume: c.volume,
            source,
        }
    }

    /// Appends the `WIDTH` parameters of this bar, in `COLS` order.
    fn bind(&self, out: &mut Vec<Param<'a>>) {
        out.extend([
            Param::Text(self.symbol),
            Param::Text(self.interval),
            Param::Int(self.ts),
            Param::Real(self.open),
            Param::Real(self.high),
            Param::Real(self.low),
            Param::Real(self.close),
            self.adj_close.into(),
            Param::Real(self.volume),
            Param::Text(self.source),
        ]);
    }
}

impl Decode for OhlcvRow {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(OhlcvRow {
            symbol: r.get(0)?,
            interval: r.get(1)?,
            ts: r.get(2)?,
            open: r.get(3)?,
            high: r.get(4)?,
            low: r.get(5)?,
            close: r.get(6)?,
            adj_close: r.get(7)?,
            volume: r.get(8)?,
            source: r.get(9)?,
        })
    }
}

/// Columns of `CANDLES`.
impl Decode for Candle {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(Candle {
            ts: r.get(0)?,
            open: r.get(1)?,
            high: r.get(2)?,
            low: r.get(3)?,
            close: r.get(4)?,
            adj_close: r.get(5)?,
            volume: r.get(6)?,
        })
    }
}

/// Checks a bar; `i` is its position in the batch (for the error message).
pub(crate) fn validate(i: usize, b: &OhlcvRef<'_>) -> Result<()> {
    symbol("bar", i, b.symbol)?;
    non_empty("bar", i, "interval", b.interval, 16)?;
    non_empty("bar", i, "source", b.source, 64)?;
    for (field, v) in [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
        ("volume", b.volume),
    ] {
        finite("bar", i, field, v)?;
    }
    if let Some(a) = b.adj_close {
        finite("bar", i, "adj_close", a)?;
    }
    Ok(())
}

/// Keeps the last occurrence of each (symbol, interval, ts) so one statement never touches
/// a key twice; returns the kept bars in input order and how many were superseded.
pub(crate) fn dedupe<'a, 'b>(bars: &'b [OhlcvRef<'a>]) -> (Vec<&'b OhlcvRef<'a>>, u64) {
    let mut last: HashMap<(&str, &str, i64), usize> = HashMap::with_capacity(bars.len());
    for (i, b) in bars.iter().enumerate() {
        last.insert((b.symbol, b.interval, b.ts), i);
    }
    let kept: Vec<&OhlcvRef<'a>> = bars
        .iter()
        .enumerate()
        .filter(|(i, b)| last.get(&(b.symbol, b.interval, b.ts)) == Some(i))
        .map(|(_, b)| b)
        .collect();
    let superseded = (bars.len() - kept.len()) as u64;
    (kept, superseded)
}

/// Writes deduplicated bars in multi-row chunks; runs inside the caller's transaction.
fn upsert<D: Db>(db: &mut D, kept: &[&OhlcvRef<'_>], superseded: u64) -> Result<UpsertCounts> {
    // Counted from scratch on every call: a retried transaction calls this again.
    let mut counts = UpsertCounts {
        unchanged: superseded,
        ..Default::default()
    };
    let chunk_len = match D::DIALECT {
        Dialect::Sqlite => SQLITE_CHUNK,
        Dialect::Mysql => MYSQL_CHUNK,
    };
    let mut args: Vec<Param<'_>> = Vec::with_capacity(kept.len().min(chunk_len) * WIDTH);
    for chunk in kept.chunks(chunk_len) {
        args.clear();
        for b in chunk {
            b.bind(&mut args);
        }
        let values = placeholders(chunk.len(), WIDTH);
        let n = chunk.len() as u64;
        counts.add(match D::DIALECT {
            Dialect::Sqlite => sqlite_upsert_chunk(db, n, &values, &args)?,
            Dialect::Mysql => mysql_upsert_chunk(db, n, &values, &args)?,
        });
    }
    Ok(counts)
}

/// SQLite: insert the new rows, then update in place the existing ones that differ.
fn sqlite_upsert_chunk(
    db: &mut impl Db,
    n: u64,
    values: &str,
    args: &[Param<'_>],
) -> Result<UpsertCounts> {
    let inserted = db.exec(
        &format!(
            "INSERT INTO ohlcv ({COLS}) VALUES {values} \
             ON CONFLICT (symbol, `interval`, ts) DO NOTHING"
        ),
        args,
    )?;
    // Rows just inserted equal their input, so the update only touches rows that existed
    // before and differ; skip it when every row was new.
    let mut updated = 0;
    if inserted < n {
        updated = db.exec(
            &format!(
                "UPDATE ohlcv SET open = v.column4, high = v.column5, low = v.column6, \
                 close = v.column7, adj_close = v.column8, volume = v.column9, \
                 source = v.column10 FROM (VALUES {values}) AS v \
                 WHERE ohlcv.symbol = v.column1 AND ohlcv.`interval` = v.column2 \
                 AND ohlcv.ts = v.column3 AND (ohlcv.open IS NOT v.column4 \
                 OR ohlcv.high IS NOT v.column5 OR ohlcv.low IS NOT v.column6 \
                 OR ohlcv.close IS NOT v.column7 OR ohlcv.adj_close IS NOT v.column8 \
                 OR ohlcv.volume IS NOT v.column9 OR ohlcv.source IS NOT v.column10)"
            ),
            args,
        )?;
    }
    Ok(UpsertCounts {
        inserted,
        updated,
        unchanged: n.saturating_sub(inserted + updated),
    })
}

/// MySQL/MariaDB: one `ON DUPLICATE KEY UPDATE`; the counts come from the server's answer.
fn mysql_upsert_chunk(
    db: &mut impl Db,
    n: u64,
    values: &str,
    args: &[Param<'_>],
) -> Result<UpsertCounts> {
    let (affected, info) = db.exec_info(
        &format!(
            "INSERT INTO ohlcv ({COLS}) VALUES {values} ON DUPLICATE KEY UPDATE \
             open = VALUES(open), high = VALUES(high), low = VALUES(low), \
             close = VALUES(close), adj_close = VALUES(adj_close), \
             volume = VALUES(volume), source = VALUES(source)"
        ),
        args,
    )?;
    split_counts(n, affected, &info)
}

/// `(sql, params)` for `Store::bars` (both dialects): with a limit, the newest `limit` bars,
/// returned in ascending time order either way.
fn bars_query<'a>(
    symbol: &'a str,
    interval: &'a str,
    since: Option<i64>,
    limit: Option<usize>,
) -> (String, Vec<Param<'a>>) {
    let mut params = vec![Param::Text(symbol), Param::Text(interval)];
    let mut filter = String::from("symbol = ? AND `interval` = ?");
    if let Some(s) = since {
        filter.push_str(" AND ts >= ?");
        params.push(Param::Int(s));
    }
    let sql = match limit {
        Some(n) => {
            params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            format!(
                "SELECT {COLS} FROM (SELECT {COLS} FROM ohlcv WHERE {filter} \
                 ORDER BY ts DESC LIMIT ?) AS newest ORDER BY ts ASC"
            )
        }
        None => format!("SELECT {COLS} FROM ohlcv WHERE {filter} ORDER BY ts ASC"),
    };
    (sql, params)
}

/// The newest bars of one symbol and interval, newest first (both dialects): a plain
/// descending index range, no derived table, so both stop after `limit` rows.
const CANDLES: &str = "SELECT ts, open, high, low, close, adj_close, volume \
                       FROM ohlcv WHERE symbol = ? AND `interval` = ? ORDER BY ts DESC LIMIT ?";
/// Every bar of one symbol and interval, oldest first (both dialects).
const ALL_CANDLES: &str = "SELECT ts, open, high, low, close, adj_close, volume \
                           FROM ohlcv WHERE symbol = ? AND `interval` = ? ORDER BY ts ASC";
const LATEST_TS: &str = "SELECT MAX(ts) FROM ohlcv WHERE symbol = ? AND `interval` = ?";
const SYMBOLS: &str = "SELECT DISTINCT symbol FROM ohlcv WHERE `interval` = ? ORDER BY symbol";

impl Store {
    /// Inserts new bars and updates changed ones in place, in one transaction (all or
    /// nothing), in multi-row chunks. When a batch holds the same key twice the last one
    /// wins and the earlier one counts as unchanged.
    pub fn upsert_bars(&mut self, bars: &[OhlcvRow]) -> Result<UpsertCounts> {
        let rows: Vec<OhlcvRef<'_>> = bars.iter().map(OhlcvRef::of).collect();
        self.upsert_bar_refs(&rows)
    }

    /// `upsert_bars` for bars of one series (symbol, interval, source): the same transaction
    /// and counts, without a copy of the three key strings per bar.
    pub fn upsert_series(
        &mut self,
        symbol: &str,
        interval: &str,
        source: &str,
        candles: &[Candle],
    ) -> Result<UpsertCounts> {
        let rows: Vec<OhlcvRef<'_>> = candles
            .iter()
            .map(|c| OhlcvRef::series(symbol, interval, source, c))
            .collect();
        self.upsert_bar_refs(&rows)
    }

    fn upsert_bar_refs(&mut self, rows: &[OhlcvRef<'_>]) -> Result<UpsertCounts> {
        for (i, b) in rows.iter().enumerate() {
            validate(i, b)?;
        }
        let (kept, superseded) = dedupe(rows);
        db_write!(self, |db| upsert(db, &kept, superseded))
    }

    /// Bars of one symbol and interval at or after `since`, ascending by ts. With `limit`,
    /// the newest `limit` of them (still ascending).
    pub fn bars(
        &self,
        symbol: &str,
        interval: &str,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<OhlcvRow>> {
        let (q, p) = bars_query(symbol, interval, since, limit);
        db_read!(self, |db| db.rows(&q, &p))
    }

    /// The newest `limit` bars of one symbol and interval as numbers only, ascending by ts.
    pub fn recent_candles(
        &self,
        symbol: &str,
        interval: &str,
        limit: usize,
    ) -> Result<Vec<Candle>> {
        let p = [
            Param::Text(symbol),
            Param::Text(interval),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        let mut newest_first: Vec<Candle> = db_read!(self, |db| db.rows(CANDLES, &p))?;
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Every bar of one symbol and interval as numbers only, ascending by ts.
    pub fn candles(&self, symbol: &str, interval: &str) -> Result<Vec<Candle>> {
        let p = [Param::Text(symbol), Param::Text(interval)];
        db_read!(self, |db| db.rows(ALL_CANDLES, &p))
    }

    pub fn latest_bar_ts(&self, symbol: &str, interval: &str) -> Result<Option<i64>> {
        let p = [Param::Text(symbol), Param::Text(interval)];
        let max: Vec<Option<i64>> = db_read!(self, |db| column(db, LATEST_TS, &p))?;
        Ok(max.into_iter().next().flatten())
    }

    /// How many bars are stored (all symbols and intervals).
    pub fn bar_count(&self) -> Result<u64> {
        let n: Vec<i64> = db_read!(self, |db| column(db, "SELECT COUNT(*) FROM ohlcv", &[]))?;
        Ok(n.first().map_or(0, |n| u64::try_from(*n).unwrap_or(0)))
    }

    /// Distinct symbols with at least one bar of `interval`, sorted.
    pub fn symbols_with_bars(&self, interval: &str) -> Result<Vec<String>> {
        db_read!(self, |db| column(db, SYMBOLS, &[Param::Text(interval)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar() -> OhlcvRow {
        OhlcvRow {
            symbol: "AAPL".into(),
            interval: "1d".into(),
            ts: 1,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            adj_close: None,
            volume: 10.0,
            source: "test".into(),
        }
    }

    #[test]
    fn bar_validation_table() {
        let cases: Vec<(OhlcvRow, Option<&str>)> = vec![
            (bar(), None),
            (
                OhlcvRow {
                    symbol: String::new(),
                    ..bar()
                },
                Some("bar #3: field symbol is empty"),
            ),
            (
                OhlcvRow {
                    close: f64::NAN,
                    ..bar()
                },
                Some("bar #3: field close is not a finite number (NaN)"),
            ),
            (
                OhlcvRow {
                    adj_close: Some(f64::INFINITY),
                    ..bar()
                },
                Some("bar #3: field adj_close is not a finite number (inf)"),
            ),
            (
                OhlcvRow {
                    interval: "x".repeat(17),
                    ..bar()
                },
                Some("bar #3: field interval is longer than 16 characters"),
            ),
        ];
        for (b, want) in cases {
            let got = validate(3, &OhlcvRef::of(&b)).err().map(|e| e.to_string());
            assert_eq!(got, want.map(|w| format!("invalid value: {w}")), "{b:?}");
        }
    }

    #[test]
    fn bind_follows_the_column_list() {
        let b = bar();
        let mut args = Vec::new();
        OhlcvRef::of(&b).bind(&mut args);
        assert_eq!(args.len(), WIDTH);
        assert_eq!(COLS.split(", ").count(), WIDTH);
        assert_eq!(args[0], Param::Text("AAPL"));
        assert_eq!(args[7], Param::Null);
        assert_eq!(args[9], Param::Text("test"));
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
    fn dedupe_keeps_last() {
        let b = |ts: i64, close: f64| OhlcvRef {
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
        let (kept, dropped) = dedupe(&bars);
        assert_eq!(dropped, 1);
        assert_eq!(
            kept.iter().map(|b| (b.ts, b.close)).collect::<Vec<_>>(),
            vec![(2, 1.0), (1, 2.0)]
        );
    }
}
