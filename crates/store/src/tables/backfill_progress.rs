//! The `backfill_progress` table: how far brain's back-fill of each symbol got, one row per
//! symbol, and the transaction that writes a back-fill batch (its signals, their governor log
//! lines and the advanced progress) all at once.
//!
//! It owns `BackfillProgress`, its checks, every statement on `backfill_progress` (identical
//! in both dialects except the insert-unless-present clause) and the `Store` methods that plan,
//! read and advance a back-fill. A batch's signals go through `signals::record_decision`, so
//! a repeated batch (after a crash) writes no duplicate. It must not open connections or
//! transactions (the backends do) or read the clock.

use crate::db::{placeholders, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::governor_log::GovernorLogRecord;
use crate::tables::signals::{self, SignalRecord};
use crate::tables::{invalid, symbol};
use crate::Store;

/// One symbol's back-fill: its window (fixed when it was planned) and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillProgress {
    pub symbol: String,
    /// When the back-fill was planned; symbols planned together share it (one replay).
    pub planned_at: i64,
    /// The first as-of time back-filled (inclusive).
    pub window_from: i64,
    /// The last as-of time back-filled (inclusive).
    pub window_to: i64,
    /// Every step at or before this is written; `window_to` or later means done.
    pub done_until: i64,
    pub updated_at: i64,
}

impl BackfillProgress {
    pub fn done(&self) -> bool {
        self.done_until >= self.window_to
    }
}

/// The columns, in the order of `params` and `Decode for BackfillProgress`; the key is symbol.
const COLS: &str = "symbol, planned_at, window_from, window_to, done_until, updated_at";

fn params(p: &BackfillProgress) -> [Param<'_>; 6] {
    [
        (&p.symbol).into(),
        p.planned_at.into(),
        p.window_from.into(),
        p.window_to.into(),
        p.done_until.into(),
        p.updated_at.into(),
    ]
}

impl Decode for BackfillProgress {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(BackfillProgress {
            symbol: r.get(0)?,
            planned_at: r.get(1)?,
            window_from: r.get(2)?,
            window_to: r.get(3)?,
            done_until: r.get(4)?,
            updated_at: r.get(5)?,
        })
    }
}

pub(crate) fn validate(i: usize, p: &BackfillProgress) -> Result<()> {
    symbol("backfill progress", i, &p.symbol)?;
    if p.window_from > p.window_to {
        return Err(invalid(
            "backfill progress",
            i,
            "window_from",
            "is after window_to",
        ));
    }
    Ok(())
}

/// Inserts each row unless its symbol has one already (planning is once per symbol).
fn plan<D: Db>(db: &mut D, rows: &[BackfillProgress]) -> Result<usize> {
    let on_repeat = match D::DIALECT {
        Dialect::Sqlite => "ON CONFLICT (symbol) DO NOTHING",
        Dialect::Mysql => "ON DUPLICATE KEY UPDATE symbol = symbol",
    };
    let mut planned = 0;
    for p in rows {
        let args = params(p);
        let marks = placeholders(1, args.len());
        let q = format!("INSERT INTO backfill_progress ({COLS}) VALUES {marks} {on_repeat}");
        if db.exec(&q, &args)? == 1 {
            planned += 1;
        }
    }
    Ok(planned)
}

/// Writes a batch: each signal unless its id exists (with its log line), then each symbol's
/// new `done_until`. Returns how many signals were new.
fn record<D: Db>(
    db: &mut D,
    decisions: &[(SignalRecord, GovernorLogRecord)],
    progress: &[BackfillProgress],
) -> Result<usize> {
    let mut written = 0;
    let mut version = None;
    for (s, g) in decisions {
        if signals::record_decision(db, s, g, &mut version)? {
            written += 1;
        }
    }
    for p in progress {
        db.exec(
            "UPDATE backfill_progress SET done_until = ?, updated_at = ? WHERE symbol = ?",
            &[p.done_until.into(), p.updated_at.into(), (&p.symbol).into()],
        )?;
    }
    Ok(written)
}

impl Store {
    /// Every symbol's back-fill progress, by symbol.
    pub fn backfill_progress(&self) -> Result<Vec<BackfillProgress>> {
        let q = format!("SELECT {COLS} FROM backfill_progress ORDER BY symbol");
        db_read!(self, |db| db.rows(&q, &[]))
    }

    /// Records the planned back-fill of symbols that have none yet, in one transaction;
    /// returns how many were new (a symbol is back-filled at most once).
    pub fn plan_backfill(&mut self, rows: &[BackfillProgress]) -> Result<usize> {
        for (i, p) in rows.iter().enumerate() {
            validate(i, p)?;
        }
        db_write!(self, |db| plan(db, rows))
    }

    /// Writes one back-fill batch in one transaction: the signals with their governor log
    /// lines (a signal whose id exists is skipped, so a batch repeated after a crash adds
    /// nothing) and the symbols' advanced progress. All or nothing: a crash leaves the
    /// progress and the signals consistent. Returns how many signals were new.
    pub fn record_backfill(
        &mut self,
        decisions: &[(SignalRecord, GovernorLogRecord)],
        progress: &[BackfillProgress],
    ) -> Result<usize> {
        for (s, g) in decisions {
            signals::validate(s, g)?;
        }
        for (i, p) in progress.iter().enumerate() {
            validate(i, p)?;
        }
        // Fenced like a live decision: every shard the batch's signals were composed under is
        // checked (and its lease row locked) before anything is written.
        let stamps: Vec<&crate::tables::cluster::LeaseStamp> = decisions
            .iter()
            .filter_map(|(s, _)| s.lease.as_ref())
            .collect();
        db_write!(self, |db| {
            crate::tables::cluster::check_fence(db, &stamps)?;
            record(db, decisions, progress)
        })
    }
}
