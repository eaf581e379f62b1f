//! The `components` table: the latest score of each signal module per symbol, one row per
//! (symbol, kind), updated in place.
//!
//! It owns `Component`, the closed list of kinds, its checks, every statement on `components`
//! in both dialects side by side, and the `Store` methods that write and read components. It
//! must not open connections or transactions (the backends do) or read the clock.

use crate::counts::{insert_or_update, row_counts, UpsertCounts};
use crate::db::{placeholders, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::{finite, one_of, symbol};
use crate::Store;

/// A per-symbol component score, one row per (symbol, kind), updated in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub symbol: String,
    /// 'chart', 'news' or 'metrics'.
    pub kind: String,
    pub value: f64,
    /// Timestamp of the newest input the value was computed from.
    pub as_of: i64,
    pub computed_at: i64,
    /// JSON text.
    pub detail: String,
}

/// The kinds the schema's CHECK constraint allows.
const KINDS: [&str; 3] = ["chart", "news", "metrics"];

/// The columns, in the order of `params` and `Decode for Component`; the key is
/// (symbol, kind).
const COLS: &str = "symbol, kind, value, as_of, computed_at, detail";

fn params(c: &Component) -> [Param<'_>; 6] {
    [
        (&c.symbol).into(),
        (&c.kind).into(),
        c.value.into(),
        c.as_of.into(),
        c.computed_at.into(),
        (&c.detail).into(),
    ]
}

impl Decode for Component {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(Component {
            symbol: r.get(0)?,
            kind: r.get(1)?,
            value: r.get(2)?,
            as_of: r.get(3)?,
            computed_at: r.get(4)?,
            detail: r.get(5)?,
        })
    }
}

pub(crate) fn validate(i: usize, c: &Component) -> Result<()> {
    symbol("component", i, &c.symbol)?;
    one_of("component", i, "kind", &c.kind, &KINDS)?;
    finite("component", i, "value", c.value)
}

fn upsert<D: Db>(db: &mut D, rows: &[Component]) -> Result<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    for c in rows {
        let args = params(c);
        let marks = placeholders(1, args.len());
        counts.add(match D::DIALECT {
            // Insert, else update when something differs.
            Dialect::Sqlite => {
                let inserted = db.exec(
                    &format!(
                        "INSERT INTO components ({COLS}) VALUES {marks} \
                         ON CONFLICT (symbol, kind) DO NOTHING"
                    ),
                    &args,
                )? == 1;
                let updated = !inserted
                    && db.exec(
                        "UPDATE components SET value = ?3, as_of = ?4, computed_at = ?5, \
                         detail = ?6 WHERE symbol = ?1 AND kind = ?2 AND (value IS NOT ?3 \
                         OR as_of IS NOT ?4 OR computed_at IS NOT ?5 OR detail IS NOT ?6)",
                        &args,
                    )? == 1;
                insert_or_update(inserted, updated)
            }
            Dialect::Mysql => row_counts(db.exec(
                &format!(
                    "INSERT INTO components ({COLS}) VALUES {marks} \
                     ON DUPLICATE KEY UPDATE value = VALUES(value), as_of = VALUES(as_of), \
                     computed_at = VALUES(computed_at), detail = VALUES(detail)"
                ),
                &args,
            )?),
        });
    }
    Ok(counts)
}

impl Store {
    pub fn upsert_components(&mut self, rows: &[Component]) -> Result<UpsertCounts> {
        for (i, c) in rows.iter().enumerate() {
            validate(i, c)?;
        }
        db_write!(self, |db| upsert(db, rows))
    }

    /// Components of one symbol, by kind.
    pub fn components_for(&self, symbol: &str) -> Result<Vec<Component>> {
        let q = format!("SELECT {COLS} FROM components WHERE symbol = ? ORDER BY kind");
        db_read!(self, |db| db.rows(&q, &[Param::Text(symbol)]))
    }

    /// Every component, by symbol then kind.
    pub fn all_components(&self) -> Result<Vec<Component>> {
        let q = format!("SELECT {COLS} FROM components ORDER BY symbol, kind");
        db_read!(self, |db| db.rows(&q, &[]))
    }
}
