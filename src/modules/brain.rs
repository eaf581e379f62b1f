//! The `brain` built-in module: the imperative shell around aivex-brain. Each cycle it reads
//! the latest components from the store, composes a signal per symbol, runs it through the
//! governor with history from the store, writes the signal and its governor_log row in one
//! transaction, scores the outcome of signals whose horizon has passed, and rewrites the
//! dashboard exports.
//!
//! It owns the order of those steps, the clock reading (`now`, once per cycle) and what is
//! logged. It must not compute anything itself: composition, rules, scoring and export shapes
//! are aivex-brain's, store rows are built in `plan`, settings are parsed in `settings`. The
//! database URL may hold a password: only the store's redacted form is ever logged.

mod plan;
mod settings;

use aivex_brain::{Ledger, ScoredSignal};
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_store::{SignalFilter, SignalRecord, Store};
use settings::Settings;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Signals read per page while looking for ones to score, so memory stays flat however long
/// the history is.
const OUTCOME_PAGE: usize = 500;
/// Bars before a signal's creation that outcome scoring loads to find the entry close.
const ENTRY_LOOKBACK_S: i64 = 14 * 86_400;

/// Checks the settings without I/O (`aivex check-config`, reload).
pub fn check(settings: &serde_json::Value) -> Result<(), ModuleError> {
    Settings::parse(settings).map(drop)
}

pub fn construct(env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    let settings = Settings::parse(&env.settings)?;
    let exports = env.exports;
    let store = Store::open(&env.database_url)?;
    store.check_schema()?;
    let config_hash = aivex_brain::config_hash(&settings.governor);
    log::info!(
        "brain: store {} ({}), {} symbol(s){}, governor config {}, exports {}",
        store.backend_name(),
        store.redacted_url(),
        settings.symbols.len(),
        if settings.symbols.is_empty() {
            " (every symbol with components)"
        } else {
            ""
        },
        &config_hash[..12.min(config_hash.len())],
        if exports { "on" } else { "off" },
    );
    Ok(Box::new(Brain {
        settings,
        outcomes: Outcomes::default(),
        store,
        config_hash,
        exports,
        exports_written: false,
    }))
}

/// A stored signal whose horizon has passed and that waits for its outcome.
struct AwaitingOutcome {
    id: String,
    symbol: String,
    scored: ScoredSignal,
}

/// One symbol's bars as outcome scoring needs them within a cycle.
struct SymbolBars {
    /// ts of the newest bar of the configured interval.
    newest: Option<i64>,
    /// (ts, close), loaded only when some waiting signal's horizon end has a bar.
    closes: Option<Vec<(i64, f64)>>,
}

/// Outcome scoring's memory between cycles of one process.
#[derive(Default)]
struct Outcomes {
    /// Signals created before this have been read (None: nothing read yet in this process).
    scanned_until: Option<i64>,
    /// Read, not scored yet: no bar at or after the horizon end so far.
    pending: Vec<AwaitingOutcome>,
}

struct Brain {
    settings: Settings,
    outcomes: Outcomes,
    store: Store,
    config_hash: String,
    exports: bool,
    /// Whether this process has written the export files yet (the first cycle always does).
    exports_written: bool,
}

/// What one cycle did, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    composed: usize,
    unchanged: usize,
    written: usize,
    duplicate: usize,
    allowed: usize,
    scored: usize,
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Module for Brain {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        if ctx.env.once && ctx.cycle == 1 {
            self.wait_for_inputs(ctx)?;
        }
        let started = Instant::now();
        let now = unix_now();
        let mut tally = Tally::default();
        // The newest signal of each symbol composed this cycle, for the change check and the
        // export. Read per symbol: one indexed lookup each is far cheaper than the store's
        // latest-per-symbol query over the whole history (0.7 s at 50,000 signals).
        let mut latest = HashMap::new();
        self.decide(ctx, now, &mut latest, &mut tally)?;
        let decided_ms = started.elapsed().as_millis();
        self.score_outcomes(ctx, now, &mut tally)?;
        let scored_ms = started.elapsed().as_millis();
        if self.exports && (tally.written > 0 || tally.scored > 0 || !self.exports_written) {
            // The exports are derived from rows already stored: failing to write them is worth
            // a warning, not a restart.
            if let Err(e) = self.write_exports(ctx, now, &latest) {
                match e.exit_code() {
                    None => ctx.invalid(e),
                    Some(_) if matches!(e, ModuleError::ExternalService(_)) => return Err(e),
                    Some(_) => log::warn!("brain: exports not written: {e}"),
                }
            }
        }
        log::info!(
            "event=cycle composed={} unchanged={} written={} duplicate={} allowed={} scored={} decide_ms={} \
             outcomes_ms={} took_ms={}",
            tally.composed,
            tally.unchanged,
            tally.written,
            tally.duplicate,
            tally.allowed,
            tally.scored,
            decided_ms,
            scored_ms - decided_ms,
            started.elapsed().as_millis()
        );
        Ok(())
    }
}

impl Brain {
    /// Once mode runs one cycle; the producers may still be writing their components (when
    /// the supervisor starts modules together), so wait, bounded, until every weighted kind
    /// has at least one component.
    fn wait_for_inputs(&self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let deadline = Instant::now() + Duration::from_secs_f64(self.settings.once_wait_s);
        loop {
            let rows = self.store.all_components()?;
            let missing =
                plan::missing_kinds(&rows, &self.settings.symbols, &self.settings.brain.weights);
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline || ctx.should_stop() {
                log::warn!(
                    "brain: no {} component yet after waiting {}s; composing with what there is",
                    missing
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join("/"),
                    self.settings.once_wait_s
                );
                return Ok(());
            }
            ctx.beat();
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The allowed signals the cooldown and window rules can still see at `now`.
    fn ledger(&self, now: i64) -> Result<Ledger, ModuleError> {
        let g = &self.settings.governor;
        let f = SignalFilter {
            decision: Some("allow".into()),
            since: Some(now.saturating_sub(g.window_s.max(g.cooldown_s))),
            ..Default::default()
        };
        let rows = self.store.signals_query(&f)?;
        Ok(Ledger::new(
            rows.into_iter().map(|s| (s.symbol, s.created_at)),
        ))
    }

    fn decide(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: i64,
        latest: &mut HashMap<String, SignalRecord>,
        tally: &mut Tally,
    ) -> Result<(), ModuleError> {
        let rows = self.store.all_components()?;
        let (inputs, bad) = plan::inputs_by_symbol(&rows, &self.settings.symbols);
        drop(rows);
        for err in bad {
            ctx.invalid(err);
        }
        let mut ledger = self.ledger(now)?;
        let symbols: Vec<&String> = inputs.keys().collect();
        for (i, symbol) in symbols.iter().enumerate() {
            if ctx.should_stop() {
                log::info!(
                    "brain: stop requested, {} symbol(s) left for the next cycle",
                    symbols.len() - i
                );
                break;
            }
            ctx.beat();
            let Some(symbol_inputs) = inputs.get(*symbol) else {
                continue;
            };
            let signal =
                match aivex_brain::compose(symbol, symbol_inputs, &self.settings.brain, now) {
                    Ok(Some(s)) => s,
                    Ok(None) => continue,
                    Err(e) => {
                        ctx.invalid(e.into());
                        continue;
                    }
                };
            tally.composed += 1;
            if let Some(rec) = self.store.last_signal_for(symbol)? {
                latest.insert(symbol.to_string(), rec);
            }
            let last = match latest.get(symbol.as_str()).map(plan::stored_signal) {
                Some(Ok(last)) => Some(last),
                Some(Err(e)) => {
                    ctx.invalid(e);
                    None
                }
                None => None,
            };
            let unchanged =
                !aivex_brain::should_emit(last.as_ref(), &signal, self.settings.min_value_change);
            if unchanged {
                tally.unchanged += 1;
                continue;
            }
            let history = ledger.history(symbol, now, self.settings.governor.window_s);
            let decision = aivex_brain::evaluate(&signal, &history, &self.settings.governor, now);
            let (srec, grec) = match plan::decision_rows(&signal, &decision, &self.config_hash, now)
            {
                Ok(r) => r,
                Err(e) => {
                    ctx.invalid(e);
                    continue;
                }
            };
            match self.store.record_decision(&srec, &grec) {
                Ok(true) => {
                    log::info!("{}", plan::decision_line(&signal, &decision));
                    tally.written += 1;
                    if decision.allow {
                        tally.allowed += 1;
                        ledger.record(symbol.as_str(), now);
                    }
                    latest.insert(symbol.to_string(), srec);
                }
                Ok(false) => {
                    // The same inputs were decided on before (the id is a hash of them):
                    // keep that decision, write nothing.
                    log::debug!("brain: signal {} for {symbol} already stored", signal.id);
                    tally.duplicate += 1;
                }
                Err(e) => {
                    let err = ModuleError::from(e);
                    if err.exit_code().is_none() {
                        ctx.invalid(err.context(format!("signal {} for {symbol}", signal.id)));
                        continue;
                    }
                    log::error!(
                        "event=not_stored symbol={symbol} id={} decision={} reasons={}: {err}; \
                         {} symbol(s) not composed this cycle, they are composed again after the restart",
                        signal.id,
                        srec.decision,
                        if srec.reasons.is_empty() { "-" } else { &srec.reasons },
                        symbols.len() - i - 1
                    );
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Scores every signal whose horizon has passed (within the lookback) and that has no
    /// automatic feedback yet, once the bars for it exist.
    ///
    /// The first cycle of a process reads every such signal; later cycles read only the
    /// signals whose horizon ended since the previous cycle and retry the ones still waiting
    /// for bars from memory, so a long history is not re-read every minute.
    fn score_outcomes(
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
            let done: HashSet<String> = match self.outcomes.scanned_until {
                // Only the first scan can meet signals scored by an earlier process.
                None => self
                    .store
                    .feedback_since(Some(floor))?
                    .into_iter()
                    .filter(|f| f.source == plan::AUTO_SOURCE)
                    .map(|f| f.signal_id)
                    .collect(),
                Some(_) => HashSet::new(),
            };
            let mut after = None;
            loop {
                let f = SignalFilter {
                    since: Some(from),
                    until: Some(until),
                    limit: Some(OUTCOME_PAGE),
                    after: after.clone(),
                    ..Default::default()
                };
                let page = self.store.signals_query(&f)?;
                let Some(last) = page.last() else { break };
                after = Some((last.created_at, last.id.clone()));
                let full = page.len() == OUTCOME_PAGE;
                for rec in page.into_iter().filter(|r| !done.contains(&r.id)) {
                    match i8::try_from(rec.direction) {
                        Ok(direction) => self.outcomes.pending.push(AwaitingOutcome {
                            id: rec.id,
                            symbol: rec.symbol,
                            scored: ScoredSignal {
                                direction,
                                created_at: rec.created_at,
                                horizon_s: rec.horizon_s,
                            },
                        }),
                        Err(_) => ctx.invalid(ModuleError::DataValidation(format!(
                            "signals row {} ({}): field direction is {}",
                            rec.id, rec.symbol, rec.direction
                        ))),
                    }
                }
                if !full {
                    break;
                }
            }
            self.outcomes.scanned_until = Some(until);
        }
        let before = self.outcomes.pending.len();
        self.outcomes
            .pending
            .retain(|p| p.scored.created_at >= floor);
        if self.outcomes.pending.len() < before {
            log::info!(
                "brain: gave up scoring {} signal(s): no {} bar {}s after their horizon",
                before - self.outcomes.pending.len(),
                self.settings.bar_interval,
                self.settings.outcome_lookback_s
            );
        }
        let pending = std::mem::take(&mut self.outcomes.pending);
        let mut still = Vec::new();
        let mut bars_cache: HashMap<String, SymbolBars> = HashMap::new();
        let mut result = Ok(());
        for p in pending {
            if result.is_err() || ctx.should_stop() {
                still.push(p);
                continue;
            }
            ctx.beat();
            match self.score_one(ctx, &p, floor, now, &mut bars_cache, tally) {
                Ok(true) => {}
                Ok(false) => still.push(p),
                Err(e) => {
                    still.push(p);
                    result = Err(e);
                }
            }
        }
        self.outcomes.pending = still;
        result
    }

    /// Scores one signal. Ok(false): not yet (no bar at or after its horizon end).
    fn score_one(
        &mut self,
        ctx: &mut Ctx<'_>,
        p: &AwaitingOutcome,
        floor: i64,
        now: i64,
        bars_cache: &mut HashMap<String, SymbolBars>,
        tally: &mut Tally,
    ) -> Result<bool, ModuleError> {
        // Most waiting signals wait for the next bar: one indexed MAX(ts) per symbol tells
        // whether loading the symbol's bars can help at all.
        let cached = match bars_cache.entry(p.symbol.clone()) {
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
            return Ok(false);
        }
        if cached.closes.is_none() {
            let closes = self
                .store
                .bars(
                    &p.symbol,
                    &self.settings.bar_interval,
                    Some(floor.saturating_sub(ENTRY_LOOKBACK_S)),
                    None,
                )?
                .into_iter()
                .map(|b| (b.ts, b.close))
                .collect();
            cached.closes = Some(closes);
        }
        let bars = cached.closes.as_deref().unwrap_or_default();
        let outcome = match aivex_brain::score_outcome(&p.scored, bars, now) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(false),
            Err(e) => {
                ctx.invalid(
                    ModuleError::from(e)
                        .context(format!("outcome of signal {} ({})", p.id, p.symbol)),
                );
                return Ok(true);
            }
        };
        let fb = plan::outcome_feedback(&p.id, p.scored.horizon_s, &outcome, now);
        match self.store.insert_feedback(&fb) {
            Ok((_, created)) => {
                if created {
                    tally.scored += 1;
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
                Ok(true)
            }
            Err(e) => {
                let err = ModuleError::from(e);
                if err.exit_code().is_none() {
                    ctx.invalid(err.context(format!("outcome of signal {}", p.id)));
                    return Ok(true);
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

    /// Rewrites `exports/latest_signals.json` and `exports/governor_summary.json` (temp file +
    /// rename, so a dashboard never reads half a file).
    fn write_exports(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: i64,
        latest: &HashMap<String, SignalRecord>,
    ) -> Result<(), ModuleError> {
        if ctx.env.run_dir.is_none() {
            log::debug!("brain: no run directory (not under a supervisor): exports skipped");
            return Ok(());
        }
        let mut signals = Vec::with_capacity(latest.len());
        for rec in latest.values() {
            match plan::latest_signal(rec) {
                Ok(s) => signals.push(s),
                Err(e) => ctx.invalid(e),
            }
        }
        let window_s = self.settings.governor.window_s;
        let f = SignalFilter {
            since: Some(now.saturating_sub(window_s)),
            ..Default::default()
        };
        let decisions: Vec<_> = self
            .store
            .signals_query(&f)?
            .iter()
            .map(plan::decision_record)
            .collect();
        let docs = [
            (
                "latest_signals.json",
                aivex_brain::latest_signals_export(now, &signals),
            ),
            (
                "governor_summary.json",
                aivex_brain::governor_summary(now, window_s, &self.config_hash, &decisions),
            ),
        ];
        let run = ctx.env.run();
        let dir = run.exports_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            ModuleError::Recoverable(format!("cannot create {}: {e}", dir.display()))
        })?;
        for (name, doc) in docs {
            let path = run.export(name);
            let body = serde_json::to_vec_pretty(&doc)
                .map_err(|e| ModuleError::Recoverable(format!("cannot serialise {name}: {e}")))?;
            aivex_platform::write_atomic(&path, &body).map_err(|e| {
                ModuleError::Recoverable(format!("cannot write {}: {e}", path.display()))
            })?;
        }
        self.exports_written = true;
        Ok(())
    }
}
