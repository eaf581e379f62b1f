//! Brain's back-fill: signals as of each past bar close of a symbol that has no signal history
//! yet, composed and governed by the replay engine (the same code as live and as
//! `aivex replay`) and written through the normal store path with origin `backfill`, so a new
//! box has a track record on day one.
//!
//! Planning: a symbol is back-filled once. Its window ends at the earliest of now, its newest
//! bar's close, and its first live signal (back-fill fills only the past before the live
//! record), and starts `backfill_days` before that. Anchoring at the newest close rather than
//! at now keeps the window on the data when the data ends before today (the shipped demo, a
//! store restored from a backup); on live data the newest close is about now, so the two
//! agree. Symbols planned together (one `planned_at`) are replayed together, so the global
//! window limit sees all of their allows.
//!
//! Progress: each batch of signals is written in one transaction with every symbol's new
//! `done_until` (`Store::record_backfill`). After a restart (even a SIGKILL mid-batch) the
//! replay is recomputed from the window start (CPU only) and writing resumes after
//! `done_until`: the governor's replay-time state is rebuilt exactly, nothing is written twice
//! (a repeated signal id is skipped anyway). At most `backfill_batch` new symbol-steps are
//! written per cycle (all of them in once mode), with a heartbeat between transactions.
//!
//! It owns that order of steps and what is logged; it must not compute components or rules
//! (aivex-brain's replay does) or build rows (`plan` does).

use super::fence::Held;
use super::history;
use super::plan;
use super::settings::Settings;
use aivex_brain::replay::{bar_close_steps, Replay, ReplayConfig, Replayed};
use aivex_core::contract::Origin;
use aivex_core::{Ctx, ModuleError};
use aivex_store::{BackfillProgress, GovernorLogRecord, SignalRecord, Store};
use std::collections::HashSet;

/// Signals written per transaction.
const WRITE_CHUNK: usize = 500;
const DAY: i64 = 86_400;

/// The back-fill of one process: the session in progress, if any.
#[derive(Default)]
pub struct Backfill {
    session: Option<Session>,
}

/// Symbols planned together, being replayed.
struct Session {
    replay: Replay,
    steps: Vec<i64>,
    next: usize,
    /// Each replayed symbol's progress row, in the replay's symbol order.
    rows: Vec<BackfillProgress>,
    written: usize,
}

/// What one cycle of back-fill did, for the cycle's summary line.
#[derive(Debug, Default)]
pub struct Done {
    /// New back-filled signals written.
    pub written: usize,
    /// Symbol-steps written this cycle.
    pub symbol_steps: u64,
}

impl Backfill {
    /// Plans new back-fills or resumes the unfinished one, then writes at most
    /// `backfill_batch` symbol-steps of it.
    pub fn run(
        &mut self,
        ctx: &mut Ctx<'_>,
        store: &mut Store,
        settings: &Settings,
        config_hash: &str,
        held: &Held,
        now: i64,
    ) -> Result<Done, ModuleError> {
        let mut done = Done::default();
        // In a cluster a session covers only symbols of shards this node holds; when one of
        // them moved away since, start over with what is held now.
        if let Some(s) = &self.session {
            if s.rows.iter().any(|r| !held.holds(&r.symbol)) {
                log::info!("brain: back-fill session dropped: a shard of it moved to another node");
                self.session = None;
            }
        }
        let Some(interval_s) = settings
            .bar_interval_s
            .filter(|_| settings.backfill_days > 0)
        else {
            return Ok(done);
        };
        if self.session.is_none() {
            self.session = open(store, settings, interval_s, held, now)?;
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(done);
        };
        let budget = if ctx.env.once {
            u64::MAX
        } else {
            settings.backfill_batch
        };
        let mut batch: Vec<(SignalRecord, GovernorLogRecord)> = Vec::new();
        let mut out: Vec<Replayed> = Vec::new();
        while session.next < session.steps.len() {
            if ctx.should_stop() {
                log::info!(
                    "brain: back-fill paused by a stop request; it resumes after the restart"
                );
                break;
            }
            let Some(&t) = session.steps.get(session.next) else {
                break;
            };
            out.clear();
            session.replay.step(t, &mut out);
            session.next += 1;
            // Throttled by the runner; recomputing written steps after a restart spends no
            // budget, so beat here too.
            ctx.beat();
            done.symbol_steps += session
                .rows
                .iter()
                .filter(|r| r.window_from <= t && t <= r.window_to && t > r.done_until)
                .count() as u64;
            for r in out.drain(..) {
                let Some(row) = session.rows.get(r.symbol) else {
                    continue;
                };
                if t <= row.done_until {
                    continue;
                }
                match plan::decision_rows(
                    &r.signal,
                    &r.decision,
                    config_hash,
                    Origin::Backfill,
                    now,
                ) {
                    Ok((mut s, g)) => {
                        s.lease = held.stamp(&s.symbol);
                        batch.push((s, g))
                    }
                    Err(e) => ctx.invalid(e),
                }
            }
            let finished = session.next >= session.steps.len();
            if batch.len() >= WRITE_CHUNK || done.symbol_steps >= budget || finished {
                match commit(ctx, store, session, &mut batch, t, finished, now)? {
                    Some(n) => done.written += n,
                    None => {
                        // Not written: start over from the stored progress next cycle.
                        self.session = None;
                        return Ok(done);
                    }
                }
                ctx.beat();
            }
            if done.symbol_steps >= budget {
                break;
            }
        }
        if session.next >= session.steps.len() {
            if session.steps.is_empty() {
                // Nothing to replay (no bar closes in any window): mark the rows done.
                if commit(ctx, store, session, &mut batch, now, true, now)?.is_none() {
                    self.session = None;
                    return Ok(done);
                }
            }
            log::info!(
                "event=backfill_done symbols={} signals={} window={}..{}",
                session.rows.len(),
                session.written,
                session
                    .rows
                    .iter()
                    .map(|r| r.window_from)
                    .min()
                    .unwrap_or(0),
                session.rows.iter().map(|r| r.window_to).max().unwrap_or(0),
            );
            for e in session.replay.errors() {
                log::warn!("brain: back-fill input skipped: {e}");
            }
            self.session = None;
        }
        Ok(done)
    }
}

/// Before a first back-fill: waits, bounded by `once_wait_s`, until each weighted input kind
/// has stored rows (bars, articles, filings) and the three counts held still for half a
/// second, so that the producers started with brain have ingested what they had. A kind that
/// never arrives (its module is not enabled, a feed is down) costs the wait once; the
/// back-fill then uses what is stored.
pub fn wait_for_history(
    ctx: &mut Ctx<'_>,
    store: &Store,
    settings: &Settings,
) -> Result<(), ModuleError> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs_f64(settings.once_wait_s);
    let weights = &settings.brain.weights;
    let mut last = None;
    loop {
        let counts = (
            store.bar_count()?,
            store.article_count()?,
            store.filing_count()?,
        );
        let missing: Vec<&str> = [
            ("bars", weights.chart, counts.0),
            ("articles", weights.news, counts.1),
            ("filings", weights.metrics, counts.2),
        ]
        .iter()
        .filter(|(_, w, n)| *w > 0.0 && *n == 0)
        .map(|(what, _, _)| *what)
        .collect();
        if missing.is_empty() && last == Some(counts) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline || ctx.should_stop() {
            if !missing.is_empty() {
                log::warn!(
                    "brain: no {} stored after waiting {}s; back-filling with what there is",
                    missing.join("/"),
                    settings.once_wait_s
                );
            }
            return Ok(());
        }
        last = Some(counts);
        ctx.beat();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The session to work on: the oldest unfinished plan, or a new plan for every symbol that
/// has bars and was never planned. None when there is nothing to back-fill.
fn open(
    store: &mut Store,
    settings: &Settings,
    interval_s: i64,
    held: &Held,
    now: i64,
) -> Result<Option<Session>, ModuleError> {
    // In a cluster, only the symbols of shards this node holds (their holders back-fill the
    // rest, resuming the same planned rows).
    let mut all = store.backfill_progress()?;
    all.retain(|r| held.holds(&r.symbol));
    let resume = all.iter().filter(|r| !r.done()).map(|r| r.planned_at).min();
    let rows: Vec<BackfillProgress> = match resume {
        Some(planned_at) => all
            .into_iter()
            .filter(|r| r.planned_at == planned_at)
            .collect(),
        None => {
            let planned: HashSet<&str> = all.iter().map(|r| r.symbol.as_str()).collect();
            let candidates =
                history::default_symbols(store, &settings.symbols, &settings.bar_interval)?;
            let mut new = Vec::new();
            for symbol in candidates
                .iter()
                .filter(|s| !planned.contains(s.as_str()) && held.holds(s))
            {
                let Some(newest) = store.latest_bar_ts(symbol, &settings.bar_interval)? else {
                    continue;
                };
                let mut to = now.min(newest.saturating_add(interval_s));
                if let Some(first_live) = store.first_signal_at(symbol, Origin::Live.as_str())? {
                    to = to.min(first_live.saturating_sub(1));
                }
                let from = to.saturating_sub(settings.backfill_days.saturating_mul(DAY));
                new.push(BackfillProgress {
                    symbol: symbol.clone(),
                    planned_at: now,
                    window_from: from,
                    window_to: to,
                    done_until: from.saturating_sub(1),
                    updated_at: now,
                });
            }
            if new.is_empty() {
                return Ok(None);
            }
            store.plan_backfill(&new)?;
            log::info!(
                "event=backfill_planned symbols={} days={} window_to={}",
                new.iter()
                    .map(|r| r.symbol.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                settings.backfill_days,
                new.iter().map(|r| r.window_to).max().unwrap_or(now)
            );
            new
        }
    };
    let mut histories = Vec::with_capacity(rows.len());
    for r in &rows {
        let h = history::load(store, &r.symbol, &settings.bar_interval)?;
        histories.push((h, (r.window_from, r.window_to)));
    }
    let steps = bar_close_steps(&histories, interval_s);
    let (news_window_s, news_half_life_s) = history::stored_news_params(store)?;
    let cfg = ReplayConfig {
        brain: settings.brain.clone(),
        governor: settings.governor.clone(),
        min_value_change: settings.min_value_change,
        bar_interval_s: interval_s,
        news_window_s,
        news_half_life_s,
        audit: true,
        ids: true,
        // A back-fill runs next to the live pipeline on a small box: one thread.
        threads: 1,
        // Stored back-filled signals are scored by the live outcome scoring.
        score_at: None,
    };
    let replay = Replay::new(histories, cfg)?;
    // The replay's symbol order is by name, like the rows.
    let mut ordered = Vec::with_capacity(rows.len());
    for symbol in replay.symbols() {
        if let Some(r) = rows.iter().find(|r| r.symbol == symbol) {
            ordered.push(r.clone());
        }
    }
    let resumed = ordered
        .iter()
        .filter(|r| r.done_until >= r.window_from)
        .count();
    log::info!(
        "brain: back-fill of {} symbol(s) over {} step(s){}",
        ordered.len(),
        steps.len(),
        if resumed > 0 {
            format!(", resuming {resumed} after their last written batch")
        } else {
            String::new()
        }
    );
    Ok(Some(Session {
        replay,
        steps,
        next: 0,
        rows: ordered,
        written: 0,
    }))
}

/// Writes the batch and every symbol's progress up to step `t` (its window's end when
/// `finished`) in one transaction; returns how many signals were new, or None when a row
/// failed the store's checks (recorded; nothing of the batch was written).
fn commit(
    ctx: &mut Ctx<'_>,
    store: &mut Store,
    session: &mut Session,
    batch: &mut Vec<(SignalRecord, GovernorLogRecord)>,
    t: i64,
    finished: bool,
    now: i64,
) -> Result<Option<usize>, ModuleError> {
    let advanced: Vec<BackfillProgress> = session
        .rows
        .iter()
        .map(|r| {
            let until = if finished {
                r.window_to
            } else {
                t.min(r.window_to)
            };
            BackfillProgress {
                done_until: r.done_until.max(until),
                updated_at: now,
                ..r.clone()
            }
        })
        .filter(|a| {
            session
                .rows
                .iter()
                .any(|r| r.symbol == a.symbol && r.done_until < a.done_until)
        })
        .collect();
    if batch.is_empty() && advanced.is_empty() {
        return Ok(Some(0));
    }
    match store.record_backfill(batch, &advanced) {
        Err(aivex_store::StoreError::LostLease { shard, detail }) => {
            log::warn!(
                "event=lease_lost shard={shard}: back-fill batch of {} signal(s) not written: {detail}",
                batch.len()
            );
            batch.clear();
            Ok(None)
        }
        Ok(n) => {
            batch.clear();
            for a in advanced {
                if let Some(r) = session.rows.iter_mut().find(|r| r.symbol == a.symbol) {
                    r.done_until = a.done_until;
                }
            }
            session.written += n;
            Ok(Some(n))
        }
        Err(e) => {
            let err = ModuleError::from(e);
            if err.exit_code().is_some() {
                log::error!(
                    "event=not_stored back-fill batch of {} signal(s): {err}; it is written again after the restart",
                    batch.len()
                );
                return Err(err);
            }
            ctx.invalid(err.context("back-fill batch"));
            batch.clear();
            Ok(None)
        }
    }
}
