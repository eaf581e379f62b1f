//! The `brain` built-in module: the imperative shell around aivex-brain. Each cycle it
//! back-fills a batch of past signals for symbols without a history (`backfill`), reads the
//! latest components from the store, composes a signal per symbol, runs it through the
//! governor with the live allows from the store (back-filled allows never count), writes the
//! signal and its governor_log row in one transaction, scores the outcome of signals whose
//! horizon has passed (live and back-filled alike), and rewrites the dashboard exports.
//!
//! It owns the order of those steps, the clock reading (`now`, once per cycle) and what is
//! logged. It must not compute anything itself: composition, rules, scoring and export shapes
//! are aivex-brain's, store rows are built in `plan`, settings are parsed in `settings`. The
//! database URL may hold a password: only the store's redacted form is ever logged.

mod backfill;
mod fence;
pub(crate) mod history;
mod outcomes;
mod plan;
pub(crate) mod settings;

use aivex_brain::Ledger;
use aivex_core::contract::Origin;
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_store::{SignalFilter, SignalRecord, Store};
use settings::Settings;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    if let Some(c) = &env.cluster {
        log::info!(
            "brain: cluster node {} ({} shards, lease ttl {}s): composing only the shards this node holds",
            c.node_id,
            c.shards,
            c.lease_ttl_s
        );
    }
    Ok(Box::new(Brain {
        cluster: env.cluster.clone(),
        settings,
        backfill: backfill::Backfill::default(),
        outcomes: outcomes::Outcomes::new(),
        store,
        config_hash,
        exports,
        exports_written: false,
    }))
}

struct Brain {
    /// Set when this box is one node of a cluster: brain then composes only held shards.
    cluster: Option<aivex_core::contract::ClusterEnv>,
    settings: Settings,
    backfill: backfill::Backfill,
    outcomes: outcomes::Outcomes,
    store: Store,
    config_hash: String,
    exports: bool,
    /// Whether this process has written the export files yet (the first cycle always does).
    exports_written: bool,
}

/// What one cycle did, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    backfilled: usize,
    composed: usize,
    unchanged: usize,
    written: usize,
    duplicate: usize,
    allowed: usize,
    scored: usize,
    /// Writes refused because the lease had moved.
    fenced: usize,
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Module for Brain {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        if ctx.cycle == 1 {
            if ctx.env.once {
                self.wait_for_inputs(ctx)?;
            }
            if self.settings.backfill_days > 0 {
                backfill::wait_for_history(ctx, &self.store, &self.settings)?;
            }
        }
        let started = Instant::now();
        let now = unix_now();
        let mut tally = Tally::default();
        // Which shards this node composes this cycle (everything on a single box).
        let mut held = fence::Held::read(self.cluster.as_ref(), &self.store)?;
        // Back-fill first: a symbol planned now has no live signal yet, so its window reaches
        // its newest bar close.
        let filled = self.backfill.run(
            ctx,
            &mut self.store,
            &self.settings,
            &self.config_hash,
            &held,
            now,
        )?;
        tally.backfilled = filled.written;
        if filled.written > 0 {
            self.outcomes.rescan_backfill = true;
        }
        let backfill_ms = started.elapsed().as_millis();
        // The newest signal of each symbol composed this cycle, for the change check and the
        // export. Read per symbol: one indexed lookup each is far cheaper than the store's
        // latest-per-symbol query over the whole history (0.7 s at 50,000 signals).
        let mut latest = HashMap::new();
        self.decide(ctx, now, &mut held, &mut latest, &mut tally)?;
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
            "event=cycle backfilled={} composed={} unchanged={} written={} duplicate={} allowed={} scored={} \
             {}backfill_ms={} decide_ms={} outcomes_ms={} took_ms={}",
            tally.backfilled,
            tally.composed,
            tally.unchanged,
            tally.written,
            tally.duplicate,
            tally.allowed,
            tally.scored,
            match held.count() {
                Some(n) => format!("shards={n} fenced={} ", tally.fenced),
                None => String::new(),
            },
            backfill_ms,
            decided_ms - backfill_ms,
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

    /// The live allows the cooldown and window rules can still see at `now`. Back-filled
    /// allows were never acted on live, so they never count toward a live cooldown or window.
    fn ledger(&self, now: i64) -> Result<Ledger, ModuleError> {
        let g = &self.settings.governor;
        let f = SignalFilter {
            decision: Some("allow".into()),
            origin: Some(Origin::Live.as_str().into()),
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
        held: &mut fence::Held,
        latest: &mut HashMap<String, SignalRecord>,
        tally: &mut Tally,
    ) -> Result<(), ModuleError> {
        let rows = self.store.all_components()?;
        let (mut inputs, bad) = plan::inputs_by_symbol(&rows, &self.settings.symbols);
        // In a cluster, only the symbols of the shards this node holds.
        inputs.retain(|symbol, _| held.holds(symbol));
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
            // A write refused earlier this cycle dropped the shard.
            if !held.holds(symbol) {
                continue;
            }
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
            let (mut srec, grec) =
                match plan::decision_rows(&signal, &decision, &self.config_hash, Origin::Live, now)
                {
                    Ok(r) => r,
                    Err(e) => {
                        ctx.invalid(e);
                        continue;
                    }
                };
            srec.lease = held.stamp(symbol);
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
                Err(aivex_store::StoreError::LostLease { shard, detail }) => {
                    // Another node holds the shard now: nothing was written, and this node
                    // composes none of the shard's symbols until it holds it again.
                    log::warn!(
                        "event=lease_lost shard={shard} symbol={symbol} id={}: {detail}; not written",
                        signal.id
                    );
                    held.lose(shard);
                    tally.fenced += 1;
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
        // The governor's live decisions in the window (a back-filled one was decided as of a
        // past bar close, not in this window).
        let f = SignalFilter {
            since: Some(now.saturating_sub(window_s)),
            origin: Some(Origin::Live.as_str().into()),
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
