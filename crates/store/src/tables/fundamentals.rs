//! The `fundamentals` table: one reported fact (metric, period, value) per symbol and source.
//!
//! It owns `Fundamental`, its checks, every statement on `fundamentals` in both dialects side
//! by side, and the `Store` methods that write and read facts. It must not open connections
//! or transactions (the backends do) or read the clock.

use crate::counts::{insert_or_update, row_counts, UpsertCounts};
use crate::db::{placeholders, Cells, Db, Decode, Dialect, Param};
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
/// (symbol, metric, period_end, source).
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
                         ON CONFLICT (symbol, metric, period_end, source) DO NOTHING"
                    ),
                    &args,
                )? == 1;
                let updated = !inserted
                    && db.exec(
                        "UPDATE fundamentals SET value = ?4, unit = ?5, filed = ?6 \
                         WHERE symbol = ?1 AND metric = ?2 AND period_end = ?3 AND source = ?7 \
                         AND (value IS NOT ?4 OR unit IS NOT ?5 OR filed IS NOT ?6)",
                        &args,
                    )? == 1;
                insert_or_update(inserted, updated)
            }
            Dialect::Mysql => row_counts(db.exec(
                &format!(
                    "INSERT INTO fundamentals ({COLS}) VALUES {marks} \
                     ON DUPLICATE KEY UPDATE value = VALUES(value), unit = VALUES(unit), \
                     filed = VALUES(filed)"
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

    /// All fundamentals of a symbol, by metric, period_end, source.
    pub fn fundamentals_for(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        let q = format!(
            "SELECT {COLS} FROM fundamentals WHERE symbol = ? ORDER BY metric, period_end, source"
        );
        db_read!(self, |db| db.rows(&q, &[Param::Text(symbol)]))
    }
}
