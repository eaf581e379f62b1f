//! The `fundamentals` table: every filing of a reported fact (metric, period, value) per
//! symbol and source. A value restated in a later filing is a row of its own (key
//! `(symbol, metric, period_end, source, filed)`), so what was known at any time can be read
//! back: the latest filing with `filed <= t` of each fact. Live composition reads the latest
//! filing of each.
//!
//! It owns `Fundamental`, its checks, every statement on `fundamentals` in both dialects side
//! by side, and the `Store` methods that write and read facts. It must not open connections
//! or transactions (the backends do) or read the clock.

use crate::counts::{insert_or_update, row_counts, UpsertCounts};
use crate::db::{column, placeholders, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::{at_most, finite, invalid, is_date, non_empty, symbol};
use crate::Store;

/// One fundamentals fact. `period_end` and `filed` are 'YYYY-MM-DD'.
#[derive(Debug, Clone, PartialEq)]
pub struct Fundamental {
    pub symbol: String,
    pub metric: String,
    pub period_end: String,
    pub value: f64,
    pub unit: String,
    pub filed: String,
    pub source: String,
}

/// The columns, in the order of `params` and `Decode for Fundamental`; the key is
/// (symbol, metric, period_end, source, filed).
const COLS: &str = "symbol, metric, period_end, value, unit, filed, source";

fn params(f: &Fundamental) -> [Param<'_>; 7] {
    [
        (&f.symbol).into(),
        (&f.metric).into(),
        (&f.period_end).into(),
        f.value.into(),
        (&f.unit).into(),
        (&f.filed).into(),
        (&f.source).into(),
    ]
}

impl Decode for Fundamental {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(Fundamental {
            symbol: r.get(0)?,
            metric: r.get(1)?,
            period_end: r.get(2)?,
            value: r.get(3)?,
            unit: r.get(4)?,
            filed: r.get(5)?,
            source: r.get(6)?,
        })
    }
}

pub(crate) fn validate(i: usize, f: &Fundamental) -> Result<()> {
    symbol("fundamental", i, &f.symbol)?;
    non_empty("fundamental", i, "metric", &f.metric, 128)?;
    non_empty("fundamental", i, "source", &f.source, 64)?;
    at_most("fundamental", i, "unit", &f.unit, 32)?;
    if !is_date(&f.period_end) {
        return Err(invalid("fundamental", i, "period_end", "is not YYYY-MM-DD"));
    }
    if !is_date(&f.filed) {
        return Err(invalid("fundamental", i, "filed", "is not YYYY-MM-DD"));
    }
    finite("fundamental", i, "value", f.value)
}

fn upsert<D: Db>(db: &mut D, rows: &[Fundamental]) -> Result<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    for f in rows {
        let args = params(f);
        let marks = placeholders(1, args.len());
        counts.add(match D::DIALECT {
            // Insert, else update when something differs.
            Dialect::Sqlite => {
                let inserted = db.exec(
                    &format!(
                        "INSERT INTO fundamentals ({COLS}) VALUES {marks} \
                         ON CONFLICT (symbol, metric, period_end, source, filed) DO NOTHING"
                    ),
                    &args,
                )? == 1;
                // The same filing read again with another value is a correction of that
                // filing (the source fixed a typo), not a restatement: in place.
                let updated = !inserted
                    && db.exec(
                        "UPDATE fundamentals SET value = ?4, unit = ?5 \
                         WHERE symbol = ?1 AND metric = ?2 AND period_end = ?3 AND source = ?7 \
                         AND filed = ?6 AND (value IS NOT ?4 OR unit IS NOT ?5)",
                        &args,
                    )? == 1;
                insert_or_update(inserted, updated)
            }
            Dialect::Mysql => row_counts(db.exec(
                &format!(
                    "INSERT INTO fundamentals ({COLS}) VALUES {marks} \
                     ON DUPLICATE KEY UPDATE value = VALUES(value), unit = VALUES(unit)"
                ),
                &args,
            )?),
        });
    }
    Ok(counts)
}

impl Store {
    pub fn upsert_fundamentals(&mut self, rows: &[Fundamental]) -> Result<UpsertCounts> {
        for (i, f) in rows.iter().enumerate() {
            validate(i, f)?;
        }
        db_write!(self, |db| upsert(db, rows))
    }

    /// The facts of a symbol as known now: the latest filing of each (metric, period_end,
    /// source), by metric, period_end, source.
    pub fn fundamentals_for(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        let q = latest_filings_query(false);
        db_read!(self, |db| db.rows(&q, &[Param::Text(symbol)]))
    }

    /// The facts of a symbol as known on `day` ('YYYY-MM-DD'): of each (metric, period_end,
    /// source), the latest filing with `filed <= day`; a fact first filed later is absent. By
    /// metric, period_end, source.
    pub fn fundamentals_known_at(&self, symbol: &str, day: &str) -> Result<Vec<Fundamental>> {
        let q = latest_filings_query(true);
        db_read!(self, |db| db.rows(
            &q,
            &[Param::Text(symbol), Param::Text(day), Param::Text(day)]
        ))
    }

    /// How many filings are stored (all symbols).
    pub fn filing_count(&self) -> Result<u64> {
        let n: Vec<i64> = db_read!(self, |db| column(
            db,
            "SELECT COUNT(*) FROM fundamentals",
            &[]
        ))?;
        Ok(n.first().map_or(0, |n| u64::try_from(*n).unwrap_or(0)))
    }

    /// Every filing of a symbol, by filed, metric, period_end, source (what a replay reads
    /// once and steps through).
    pub fn fundamental_filings(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        let q = format!(
            "SELECT {COLS} FROM fundamentals WHERE symbol = ? \
             ORDER BY filed, metric, period_end, source"
        );
        db_read!(self, |db| db.rows(&q, &[Param::Text(symbol)]))
    }
}

/// The latest filing of each fact of one symbol (both dialects: a correlated MAX over the
/// unique key's prefix), optionally only among filings with `filed <= ?`. Parameters: symbol,
/// then the day twice when `known_at`.
fn latest_filings_query(known_at: bool) -> String {
    let cutoff = |alias: &str| {
        if known_at {
            format!(" AND {alias}.filed <= ?")
        } else {
            String::new()
        }
    };
    format!(
        "SELECT {} FROM fundamentals f WHERE f.symbol = ?{} AND f.filed = \
         (SELECT MAX(g.filed) FROM fundamentals g WHERE g.symbol = f.symbol \
         AND g.metric = f.metric AND g.period_end = f.period_end AND g.source = f.source{}) \
         ORDER BY f.metric, f.period_end, f.source",
        crate::db::qualified(COLS, "f"),
        cutoff("f"),
        cutoff("g")
    )
}
