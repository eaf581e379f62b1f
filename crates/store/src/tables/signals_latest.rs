//! The `signals_latest` table (the latest signal of each symbol) and `signals_version` (the
//! read-model version, one row): what a reader needs to serve "latest per symbol" with one
//! indexed read and to learn cheaply what changed since it last looked.
//!
//! It owns the read-model rules: every transaction that changes what the signal endpoints
//! show (a new signal, an automatic outcome on a stored one) first increments
//! `signals_version` (in MySQL/MariaDB the row lock it takes is held to commit, so versions
//! commit in order) and stamps the symbols it touched with that version; a symbol's row names
//! its newest signal in (created_at, id) order. It also owns the consistent reads built on
//! that (`Store::read_model_changes`, `Store::signal_page`), each one snapshot. The statements
//! are identical in both dialects except the insert-or-stamp clause. It must not open
//! connections or transactions (the backends do) or read the clock.

use crate::db::{column, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::governor_log::{self, GovernorLogRecord};
use crate::tables::signal_feedback::{self, Feedback};
use crate::tables::signals::{self, SignalFilter, SignalRecord};
use crate::Store;

/// A symbol's row of `signals_latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRow {
    pub symbol: String,
    pub signal_id: String,
    pub created_at: i64,
    /// The read-model version at which the symbol's view last changed.
    pub version: i64,
}

impl Decode for LatestRow {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(LatestRow {
            symbol: r.get(0)?,
            signal_id: r.get(1)?,
            created_at: r.get(2)?,
            version: r.get(3)?,
        })
    }
}

/// A stored signal with what the signal endpoints show beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalContext {
    pub signal: SignalRecord,
    /// Its governor log lines, oldest first.
    pub governor: Vec<GovernorLogRecord>,
    /// Its feedback row from the outcome source asked for, if any.
    pub outcome: Option<Feedback>,
}

/// What changed in the read model after a version, read in one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChanges {
    /// The read-model version of the snapshot.
    pub version: i64,
    /// Changed symbols in version order (at most the limit asked for), each with its latest
    /// signal and context.
    pub changed: Vec<(LatestRow, SignalContext)>,
    /// False when more changed rows exist after the last one returned.
    pub complete: bool,
}

/// A page of signals read in one snapshot, with the version it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPage {
    /// For a filter on one symbol, that symbol's version (0 when it has no signal yet);
    /// otherwise the read model's version.
    pub version: i64,
    pub rows: Vec<SignalContext>,
}

const COLS: &str = "symbol, signal_id, created_at, version";

/// The read-model version of a writing transaction that changes what readers see: on its first
/// need (`taken` None) the version is incremented and the new one kept in `taken`; later needs
/// in the same transaction reuse it (one version per transaction, however many rows).
pub(crate) fn bump<D: Db>(db: &mut D, taken: &mut Option<i64>) -> Result<i64> {
    if let Some(v) = *taken {
        return Ok(v);
    }
    db.exec(
        "UPDATE signals_version SET version = version + 1 WHERE id = 1",
        &[],
    )?;
    let v = version(db)?;
    *taken = Some(v);
    Ok(v)
}

fn version<D: Db>(db: &mut D) -> Result<i64> {
    let v: Vec<i64> = column(db, "SELECT version FROM signals_version WHERE id = 1", &[])?;
    Ok(v.first().copied().unwrap_or(0))
}

/// Records a newly inserted signal at `version`: the symbol's row is stamped, and names the
/// signal when it is the newest of its symbol.
pub(crate) fn note_signal<D: Db>(db: &mut D, version: i64, s: &SignalRecord) -> Result<()> {
    let stamp = match D::DIALECT {
        Dialect::Sqlite => "ON CONFLICT (symbol) DO UPDATE SET version = excluded.version",
        Dialect::Mysql => "ON DUPLICATE KEY UPDATE version = VALUES(version)",
    };
    db.exec(
        &format!("INSERT INTO signals_latest ({COLS}) VALUES (?, ?, ?, ?) {stamp}"),
        &[
            (&s.symbol).into(),
            (&s.id).into(),
            s.created_at.into(),
            version.into(),
        ],
    )?;
    db.exec(
        "UPDATE signals_latest SET signal_id = ?, created_at = ? WHERE symbol = ? \
         AND (created_at < ? OR (created_at = ? AND signal_id < ?))",
        &[
            (&s.id).into(),
            s.created_at.into(),
            (&s.symbol).into(),
            s.created_at.into(),
            s.created_at.into(),
            (&s.id).into(),
        ],
    )?;
    Ok(())
}

/// Stamps the symbol of the stored signal `signal_id` with `version` (its outcome changed).
pub(crate) fn touch<D: Db>(db: &mut D, version: i64, signal_id: &str) -> Result<()> {
    db.exec(
        "UPDATE signals_latest SET version = ? \
         WHERE symbol = (SELECT symbol FROM signals WHERE id = ?)",
        &[version.into(), Param::Text(signal_id)],
    )?;
    Ok(())
}

/// Each signal with its governor log lines and its feedback from `outcome_source`.
fn with_context<D: Db>(
    db: &mut D,
    sigs: Vec<SignalRecord>,
    outcome_source: &str,
) -> Result<Vec<SignalContext>> {
    let ids: Vec<&str> = sigs.iter().map(|s| s.id.as_str()).collect();
    let logs = governor_log::logs_of(db, &ids)?;
    let outcomes = signal_feedback::feedback_of(db, &ids, outcome_source)?;
    Ok(sigs
        .into_iter()
        .zip(logs)
        .zip(outcomes)
        .map(|((signal, governor), outcome)| SignalContext {
            signal,
            governor,
            outcome,
        })
        .collect())
}

impl Store {
    /// The read model's version: it grows whenever a new signal or an automatic outcome is
    /// committed.
    pub fn signals_version(&self) -> Result<i64> {
        db_read!(self, |db| version(db))
    }

    /// The latest signal row of every symbol, newest first.
    pub fn signals_latest(&self) -> Result<Vec<LatestRow>> {
        let q =
            format!("SELECT {COLS} FROM signals_latest ORDER BY created_at DESC, signal_id DESC");
        db_read!(self, |db| db.rows(&q, &[]))
    }

    /// In one snapshot: the read-model version, then up to `limit` symbols whose view changed
    /// after `after` (in (version, symbol) order; with `after_symbol`, the walk resumes after
    /// that symbol of version `after`), each with its latest signal, governor log lines and
    /// feedback from `outcome_source`.
    pub fn read_model_changes(
        &self,
        after: i64,
        after_symbol: Option<&str>,
        limit: usize,
        outcome_source: &str,
    ) -> Result<ModelChanges> {
        let limit = limit.max(1);
        let n = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let (cond, mut p) = match after_symbol {
            Some(sym) => (
                "version > ? OR (version = ? AND symbol > ?)",
                vec![after.into(), after.into(), Param::Text(sym)],
            ),
            None => ("version > ?", vec![after.into()]),
        };
        p.push(n.into());
        let q = format!(
            "SELECT {COLS} FROM signals_latest WHERE {cond} ORDER BY version, symbol LIMIT ?"
        );
        db_snapshot!(self, |db| {
            let v = version(db)?;
            let mut rows: Vec<LatestRow> = db.rows(&q, &p)?;
            let complete = rows.len() <= limit;
            rows.truncate(limit);
            let ids: Vec<&str> = rows.iter().map(|r| r.signal_id.as_str()).collect();
            let sigs = signals::by_ids(db, &ids)?;
            let mut ctx = with_context(db, sigs, outcome_source)?;
            // In one snapshot every row's signal exists (both are written in one
            // transaction); a row whose signal is missing would be a damaged store and is
            // left out rather than paired with another signal.
            let changed = rows
                .into_iter()
                .filter_map(|r| {
                    let i = ctx.iter().position(|c| c.signal.id == r.signal_id)?;
                    Some((r, ctx.swap_remove(i)))
                })
                .collect();
            Ok(ModelChanges {
                version: v,
                changed,
                complete,
            })
        })
    }

    /// `signals_query` with every row's governor log lines and feedback from
    /// `outcome_source`, and the version it reflects, all in one snapshot (a page is never
    /// torn by a writer committing in between).
    pub fn signal_page(&self, filter: &SignalFilter, outcome_source: &str) -> Result<SignalPage> {
        db_snapshot!(self, |db| {
            let version = match &filter.symbol {
                Some(sym) => {
                    let v: Vec<i64> = column(
                        db,
                        "SELECT version FROM signals_latest WHERE symbol = ?",
                        &[Param::Text(sym)],
                    )?;
                    v.first().copied().unwrap_or(0)
                }
                None => version(db)?,
            };
            let sigs = signals::query(db, filter)?;
            Ok(SignalPage {
                version,
                rows: with_context(db, sigs, outcome_source)?,
            })
        })
    }
}
