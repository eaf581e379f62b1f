//! Brain's outcome scoring: finds stored signals whose horizon has passed and that have no
//! automatic outcome yet, live and back-filled alike, scores each with the live rule
//! (`aivex_brain::score_outcome`) once its bars exist, and writes one `signal_feedback` row of
//! source `auto` per signal.
//!
//! It owns which signals are read when (so a long history is not re-read every cycle) and
//! which bars are loaded for them; it must not compute an outcome itself.

use super::{plan, Brain, Tally};
use aivex_brain::replay::scoring_window;
use aivex_brain::ScoredSignal;
use aivex_core::contract::Origin;
use aivex_core::{Ctx, ModuleError};
use aivex_store::{SignalFilter, SignalRecord};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Signals read per page while looking for ones to score, so memory stays flat however long
/// the history is.
const OUTCOME_PAGE: usize = 500;
/// Bars before a signal's creation that outcome scoring loads to find the entry close.
const ENTRY_LOOKBACK_S: i64 = 14 * 86_400;

/// A stored signal whose horizon has passed and that waits for its outcome.
pub(super) struct AwaitingOutcome {
    id: String,
    symbol: String,
    origin: Origin,
    scored: ScoredSignal,
}

/// One symbol's bars as outcome scoring needs them within a cycle.
struct SymbolBars {
    /// ts of the newest bar of the configured interval.
    newest: Option<i64>,
    /// (ts, close) ascending, loaded only when some waiting signal's horizon end has a bar.
    closes: Option<Vec<(i64, f64)>>,
}

/// Outcome scoring's memory between cycles of one process.
#[derive(Default)]
pub(super) struct Outcomes {
    /// Signals created before this have been read (None: nothing read yet in this process).
    scanned_until: Option<i64>,
    /// Read, not scored yet: no bar at or after the horizon end so far.
    pending: Vec<AwaitingOutcome>,
    /// The ids in `pending`.
    pending_ids: HashSet<String>,
    /// Back-filled signals were written (or this process has not looked yet): look for
    /// back-filled signals without an outcome, whatever their age.
    pub(super) rescan_backfill: bool,
}

impl Outcomes {
    pub(super) fn new() -> Outcomes {
        Outcomes {
            rescan_backfill: true,
            ..Outcomes::default()
        }
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, rec: SignalRecord) {
        if self.pending_ids.contains(&rec.id) {
            return;
        }
        let Ok(direction) = i8::try_from(rec.direction) else {
            ctx.invalid(ModuleError::DataValidation(format!(
                "signals row {} ({}): field direction is {}",
                rec.id, rec.symbol, rec.direction
            )));
            return;
        };
        self.pending_ids.insert(rec.id.clone());
        self.pending.push(AwaitingOutcome {
            origin: Origin::parse(&rec.origin).unwrap_or_default(),
            id: rec.id,
            symbol: rec.symbol,
            scored: ScoredSignal {
                direction,
                created_at: rec.created_at,
                horizon_s: rec.horizon_s,
            },
        });
    }
}

impl Brain {
    /// Scores every signal whose horizon has passed and that has no automatic feedback yet,
    /// once the bars for it exist: live signals within the lookback, back-filled ones of any
    /// age.
    ///
    /// The first cycle of a process reads every such signal; later cycles read only the live
    /// signals whose horizon ended since the previous cycle (and back-filled ones after a
    /// back-fill batch) and retry the ones still waiting for bars from memory, so a long
    /// history is not re-read every minute. A signal still without bars once its horizon
    /// ended more than `outcome_lookback_s` ago is given up (after one try).
    pub(super) fn score_outcomes(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: i64,
        tally: &mut Tally,
    ) -> Result<(), ModuleError> {
        let horizon = self.settings.brain.horizon_s;
        let floor = now
            .saturating_sub(horizon)
            .saturating_sub(self.settings.outcome_lookback_s);
        let until = now.saturating_sub(horizon).saturating_add(1);
        let from = self.outcomes.scanned_until.map_or(floor, |t| t.max(floor));
        if from < until {
            let first = self.outcomes.scanned_until.is_none();
            let f = SignalFilter {
                since: Some(from),
                until: Some(until),
                // Only the first scan can meet signals scored by an earlier process.
                without_feedback_from: first.then(|| plan::AUTO_SOURCE.to_string()),
                ..Default::default()
            };
            self.scan(ctx, f)?;
            self.outcomes.scanned_until = Some(until);
        }
        if self.outcomes.rescan_backfill {
            let f = SignalFilter {
                until: Some(until),
                origin: Some(Origin::Backfill.as_str().into()),
                without_feedback_from: Some(plan::AUTO_SOURCE.to_string()),
                ..Default::default()
            };
            self.scan(ctx, f)?;
            self.outcomes.rescan_backfill = false;
        }
        let pending = std::mem::take(&mut self.outcomes.pending);
        let mut still = Vec::new();
        let mut bars: HashMap<String, SymbolBars> = HashMap::new();
        let mut earliest: HashMap<&str, i64> = HashMap::new();
        for p in &pending {
            let e = earliest
                .entry(p.symbol.as_str())
                .or_insert(p.scored.created_at);
            *e = (*e).min(p.scored.created_at);
        }
        let earliest: HashMap<String, i64> = earliest
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let (mut result, mut backfilled, mut gave_up) = (Ok(()), 0usize, 0usize);
        for p in pending {
            if result.is_err() || ctx.should_stop() {
                still.push(p);
                continue;
            }
            ctx.beat();
            let since = earliest
                .get(&p.symbol)
                .copied()
                .unwrap_or(p.scored.created_at)
                .saturating_sub(ENTRY_LOOKBACK_S);
            match self.score_one(ctx, &p, since, now, &mut bars) {
                Ok(Some(true)) => {
                    tally.scored += 1;
                    backfilled += usize::from(p.origin == Origin::Backfill);
                    self.outcomes.pending_ids.remove(&p.id);
                }
                Ok(Some(false)) => {
                    self.outcomes.pending_ids.remove(&p.id);
                }
                Ok(None) if p.scored.created_at < floor => {
                    gave_up += 1;
                    self.outcomes.pending_ids.remove(&p.id);
                }
                Ok(None) => still.push(p),
                Err(e) => {
                    still.push(p);
                    result = Err(e);
                }
            }
        }
        if gave_up > 0 {
            log::info!(
                "brain: gave up scoring {gave_up} signal(s): no {} bar {}s after their horizon",
                self.settings.bar_interval,
                self.settings.outcome_lookback_s
            );
        }
        if backfilled > 0 {
            log::info!("event=outcomes origin=backfill scored={backfilled}");
        }
        self.outcomes.pending = still;
        result
    }

    /// Reads every signal matching `f` (in pages) into the waiting list.
    fn scan(&mut self, ctx: &mut Ctx<'_>, mut f: SignalFilter) -> Result<(), ModuleError> {
        f.limit = Some(OUTCOME_PAGE);
        loop {
            let page = self.store.signals_query(&f)?;
            let Some(last) = page.last() else { break };
            f.after = Some((last.created_at, last.id.clone()));
            let full = page.len() == OUTCOME_PAGE;
            for rec in page {
                self.outcomes.push(ctx, rec);
            }
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Scores one signal. Ok(None): not yet (no bar at or after its horizon end); Ok(Some(
    /// created)): done, `created` false when an earlier process had stored it or the signal
    /// could not be scored (recorded).
    fn score_one(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: &AwaitingOutcome,
        since: i64,
        now: i64,
        cache: &mut HashMap<String, SymbolBars>,
    ) -> Result<Option<bool>, ModuleError> {
        // Most waiting signals wait for the next bar: one indexed MAX(ts) per symbol tells
        // whether loading the symbol's bars can help at all.
        let cached = match cache.entry(p.symbol.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(SymbolBars {
                newest: self
                    .store
                    .latest_bar_ts(&p.symbol, &self.settings.bar_interval)?,
                closes: None,
            }),
        };
        let horizon_end = p.scored.created_at.saturating_add(p.scored.horizon_s);
        if cached.newest.is_none_or(|ts| ts < horizon_end) {
            return Ok(None);
        }
        if cached.closes.is_none() {
            let closes = self
                .store
                .bars(&p.symbol, &self.settings.bar_interval, Some(since), None)?
                .into_iter()
                .map(|b| (b.ts, b.close))
                .collect();
            cached.closes = Some(closes);
        }
        let bars = cached.closes.as_deref().unwrap_or_default();
        let outcome =
            match aivex_brain::score_outcome(&p.scored, scoring_window(bars, &p.scored), now) {
                Ok(Some(o)) => o,
                Ok(None) => return Ok(None),
                Err(e) => {
                    ctx.invalid(
                        ModuleError::from(e)
                            .context(format!("outcome of signal {} ({})", p.id, p.symbol)),
                    );
                    return Ok(Some(false));
                }
            };
        let fb = plan::outcome_feedback(&p.id, p.scored.horizon_s, &outcome, now);
        match self.store.insert_feedback(&fb) {
            Ok((_, created)) => {
                if created && p.origin == Origin::Live {
                    log::info!(
                        "event=outcome symbol={} id={} direction={} outcome={} realized_return={:.6} \
                         entry_ts={} exit_ts={}",
                        p.symbol,
                        p.id,
                        p.scored.direction,
                        fb.outcome,
                        outcome.realized_return,
                        outcome.entry_ts,
                        outcome.exit_ts
                    );
                }
                Ok(Some(created))
            }
            Err(e) => {
                let err = ModuleError::from(e);
                if err.exit_code().is_none() {
                    ctx.invalid(err.context(format!("outcome of signal {}", p.id)));
                    return Ok(Some(false));
                }
                log::error!(
                    "event=not_stored outcome of signal {} ({}) = {} {:.6}: {err}; scored again after the restart",
                    p.id,
                    p.symbol,
                    fb.outcome,
                    outcome.realized_return
                );
                Err(err)
            }
        }
    }
}
