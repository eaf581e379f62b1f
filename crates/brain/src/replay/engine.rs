//! The replay engine: steps through stored history as it was known at each step time `t` and
//! does at `t` exactly what the live pipeline would have done then, with the live code.
//!
//! At each step, for each symbol (in symbol order, like a live brain cycle): the chart
//! component from the indicator table row of the newest bar closed by `t`
//! (`aivex_market::chart_inputs` and `chart_parts`, what `chart_from_table` computes), the news
//! component of the articles known by `t` (`aivex_news::news_score` at `t`, what
//! `news_component` computes), the metrics component of the facts as known at `t`
//! (`asof::KnownFacts`, `aivex_market::metrics_component`); then `compose`, `should_emit`
//! against the symbol's last emitted signal, and `evaluate` with a ledger of the allows made
//! in replay time. Outcomes are scored with `score_outcome` from the bars closed by the time
//! given. Nothing here reads the clock, the store or files.
//!
//! Speed: the indicator table is computed once per symbol over all its bars, and the chart
//! component of each bar is read from its row. That equals computing it from the bars known
//! at `t` because every indicator is strictly causal (row i depends only on bars[..=i]; the
//! `prefix_tables_equal_the_full_table` test proves it on a random series). The live chart
//! module computes over its newest `window` bars instead, so an EMA-seeded value (EMA, MACD,
//! RSI, ATR) of live and replay can differ in its last digits; see crates/brain/README.md.

use super::asof;
use crate::compose::{compose, compose_unidentified, BrainConfig, ComponentInput, CompositeSignal};
use crate::emit::should_emit;
use crate::error::BrainError;
use crate::governor::{evaluate, verdict, Decision, GovernorConfig, Ledger};
use crate::kind::Kind;
use crate::outcome::{score_outcome, ScoredSignal};
use aivex_core::contract::SignalOutcome;
use aivex_core::Candle;
use aivex_market::Fundamental;

/// An article as a replay needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Article {
    pub published_at: Option<i64>,
    pub ingested_at: i64,
    pub sentiment: f64,
}

/// One symbol's stored history: every bar of the brain's interval (ascending, distinct
/// times), every article mentioning it, every fundamentals filing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub symbol: String,
    pub bars: Vec<Candle>,
    pub articles: Vec<Article>,
    pub filings: Vec<Fundamental>,
}

/// What shapes a replay: the brain's composition and governor settings, its change test, the
/// bar interval, and the news component's window and half-life.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    pub brain: BrainConfig,
    pub governor: GovernorConfig,
    pub min_value_change: f64,
    pub bar_interval_s: i64,
    pub news_window_s: i64,
    pub news_half_life_s: i64,
    /// Keep every rule's inputs in each decision (what a stored governor_log row needs);
    /// without it a decision holds only allow and the reason codes (a report needs no more).
    pub audit: bool,
    /// Give each signal its id (`signal_id`, what a stored signal needs). Without it the
    /// signals carry no id (`compose_unidentified`): the hash is most of a report's cost.
    pub ids: bool,
    /// Threads preparing symbols and computing their components (1: the caller's only).
    pub threads: usize,
    /// Score each signal's outcome with the bars closed by this time (a report: the
    /// replay's end); None leaves `Replayed::outcome` empty (back-fill: the live scoring
    /// scores stored signals).
    pub score_at: Option<i64>,
}

/// A signal the replay emitted at a step, with the governor's decision on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Index of the symbol in `Replay::symbols()`.
    pub symbol: usize,
    pub signal: CompositeSignal,
    pub decision: Decision,
    /// Its outcome with the live rule from the bars closed by `ReplayConfig::score_at`
    /// (None when not asked for or not scorable yet).
    pub outcome: Option<SignalOutcome>,
}

/// One symbol's inputs, prepared for stepping.
struct Series {
    symbol: String,
    /// (bar ts, close), ascending.
    closes: Vec<(i64, f64)>,
    /// The chart component (value, as_of) at each bar, None inside the indicators' lookback.
    chart: Vec<Option<(f64, i64)>>,
    /// (time it counts from, sentiment), ascending.
    news: Vec<(i64, f64)>,
    /// (time it counts from, filing), ascending by that time.
    filings: Vec<(i64, Fundamental)>,
}

/// Where a symbol's replay stands.
struct Cursor {
    /// The symbol is evaluated only at steps in [from, to].
    from: i64,
    to: i64,
    /// Bars closed so far.
    bars: usize,
    /// Filings known so far, the facts they make, and the metrics component of those.
    filings: usize,
    known: asof::KnownFacts,
    metrics: Option<(f64, i64)>,
    /// The last signal emitted (what `should_emit` compares with).
    last: Option<CompositeSignal>,
}

/// A replay in progress. Feed it step times in non-decreasing order.
pub struct Replay {
    cfg: ReplayConfig,
    series: Vec<Series>,
    cursors: Vec<Cursor>,
    ledger: Ledger,
    last_t: Option<i64>,
    errors: Vec<String>,
}

/// At most this many input errors are kept (each names its symbol and time).
const MAX_ERRORS: usize = 100;

/// A signal that passed the change test at a step, waiting for the governor.
struct Candidate {
    /// Index into the block's steps.
    step: usize,
    symbol: usize,
    signal: CompositeSignal,
    outcome: Option<SignalOutcome>,
}

impl Series {
    fn prepare(h: History) -> Series {
        let table = aivex_market::indicator_table(&h.bars);
        // `chart_from_table` without its explanation: the same inputs and formula.
        let chart = (0..table.len())
            .map(|i| {
                let (inputs, ts) = table.get(..=i).and_then(aivex_market::chart_inputs)?;
                aivex_market::chart_parts(&inputs).map(|p| (p.value, ts))
            })
            .collect();
        let mut news: Vec<(i64, f64)> = h
            .articles
            .iter()
            .map(|a| {
                (
                    asof::article_time(a.published_at, a.ingested_at),
                    a.sentiment,
                )
            })
            .collect();
        news.sort_by_key(|(t, _)| *t);
        let mut filings: Vec<(i64, Fundamental)> = h
            .filings
            .into_iter()
            .filter_map(|f| asof::filing_known_from(&f).map(|t| (t, f)))
            .collect();
        filings.sort_by_key(|(t, _)| *t);
        Series {
            symbol: h.symbol,
            closes: h.bars.iter().map(|b| (b.ts, b.close)).collect(),
            chart,
            news,
            filings,
        }
    }
}

impl Replay {
    /// A replay of `histories`, each symbol evaluated at the steps inside its range
    /// `[from, to]` (both inclusive). Symbols are stepped in name order.
    pub fn new(
        mut histories: Vec<(History, (i64, i64))>,
        cfg: ReplayConfig,
    ) -> Result<Replay, BrainError> {
        cfg.brain.validate()?;
        cfg.governor.validate()?;
        for (field, v) in [
            ("bar_interval", cfg.bar_interval_s),
            ("news window_s", cfg.news_window_s),
        ] {
            if v <= 0 {
                return Err(BrainError::config(
                    field,
                    format!("must be > 0 seconds, got {v}"),
                ));
            }
        }
        histories.sort_by(|a, b| a.0.symbol.cmp(&b.0.symbol));
        let cursors = histories
            .iter()
            .map(|(_, (from, to))| Cursor {
                from: *from,
                to: *to,
                bars: 0,
                filings: 0,
                known: asof::KnownFacts::default(),
                metrics: None,
                last: None,
            })
            .collect();
        let histories: Vec<History> = histories.into_iter().map(|(h, _)| h).collect();
        let series = prepare_all(histories, cfg.threads);
        Ok(Replay {
            cfg,
            series,
            cursors,
            ledger: Ledger::default(),
            last_t: None,
            errors: Vec::new(),
        })
    }

    /// The replayed symbols, in step order (what `Replayed::symbol` indexes).
    pub fn symbols(&self) -> Vec<&str> {
        self.series.iter().map(|s| s.symbol.as_str()).collect()
    }

    /// Input errors met so far (a component the composer refused), each naming its symbol
    /// and time; the symbol is skipped at that step.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// How many symbols are evaluated at `t`.
    pub fn active_at(&self, t: i64) -> usize {
        self.cursors
            .iter()
            .filter(|c| c.from <= t && t <= c.to)
            .count()
    }

    /// Runs one step at `t`: appends the signals emitted to `out`, in symbol order. A step
    /// earlier than the previous one is ignored (time only moves forward).
    pub fn step(&mut self, t: i64, out: &mut Vec<Replayed>) {
        self.step_block(std::slice::from_ref(&t), out);
    }

    /// Runs the steps `steps` (non-decreasing; any earlier than the previous step are
    /// ignored) and appends the signals emitted to `out` in (step, symbol) order: exactly
    /// what calling `step` for each would give. The symbols' components, composition and
    /// change test do not depend on each other or on the governor, so they run first, on
    /// `threads` threads over disjoint symbols; the governor then decides every candidate in
    /// time and symbol order with the one ledger.
    pub fn step_block(&mut self, steps: &[i64], out: &mut Vec<Replayed>) {
        let start = match self.last_t {
            Some(last) => steps.partition_point(|t| *t < last),
            None => 0,
        };
        let Some(steps) = steps.get(start..).filter(|s| !s.is_empty()) else {
            return;
        };
        if steps.windows(2).any(|w| w[1] < w[0]) {
            return;
        }
        self.last_t = steps.last().copied();
        let (candidates, errors) = self.candidates(steps);
        for e in errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(e);
            }
        }
        // The candidates come symbol by symbol (symbols in order), each symbol's in step
        // order: distributing them by step keeps symbol order within a step, no sort needed.
        let mut by_step: Vec<Vec<Candidate>> = (0..steps.len()).map(|_| Vec::new()).collect();
        for c in candidates {
            if let Some(bucket) = by_step.get_mut(c.step) {
                bucket.push(c);
            }
        }
        for (step, bucket) in by_step.into_iter().enumerate() {
            let t = steps.get(step).copied().unwrap_or_default();
            self.ledger
                .forget_window_before(t.saturating_sub(self.cfg.governor.window_s));
            self.decide(t, bucket, out);
        }
    }

    /// The governor's decisions on one step's candidates, in symbol order, with the ledger of
    /// the allows made so far in replay time.
    fn decide(&mut self, t: i64, candidates: Vec<Candidate>, out: &mut Vec<Replayed>) {
        for c in candidates {
            let history = self
                .ledger
                .history(&c.signal.symbol, t, self.cfg.governor.window_s);
            let decision = if self.cfg.audit {
                evaluate(&c.signal, &history, &self.cfg.governor, t)
            } else {
                verdict(&c.signal, &history, &self.cfg.governor, t)
            };
            if decision.allow {
                self.ledger.record(c.signal.symbol.as_str(), t);
            }
            out.push(Replayed {
                symbol: c.symbol,
                signal: c.signal,
                decision,
                outcome: c.outcome,
            });
        }
    }

    /// Every symbol's signals at `steps` that pass the change test, and the input errors met.
    fn candidates(&mut self, steps: &[i64]) -> (Vec<Candidate>, Vec<String>) {
        let threads = self.cfg.threads.clamp(1, self.series.len().max(1));
        let cfg = &self.cfg;
        if threads == 1 {
            return candidates(cfg, &self.series, &mut self.cursors, 0, steps);
        }
        let chunk = self.series.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .series
                .chunks(chunk)
                .zip(self.cursors.chunks_mut(chunk))
                .enumerate()
                .map(|(k, (series, cursors))| {
                    scope.spawn(move || candidates(cfg, series, cursors, k * chunk, steps))
                })
                .collect();
            let mut all = (Vec::new(), Vec::new());
            for h in handles {
                match h.join() {
                    Ok((c, e)) => {
                        all.0.extend(c);
                        all.1.extend(e);
                    }
                    // The pure code below has no panic path; if one ever happened, say so
                    // instead of losing its symbols' signals silently.
                    Err(_) => all.1.push("a replay thread failed".to_string()),
                }
            }
            all
        })
    }
}

/// The outcome of a signal of `s` with the live rule (`score_outcome`), from the bars closed by
/// `now`, the symbol having `bars_closed` closed bars at the signal's step; None while it
/// cannot be scored. `scored_at` is when it could first be scored from closed bars: the later
/// of its horizon end and its exit bar's close.
fn outcome(
    s: &Series,
    signal: &CompositeSignal,
    bars_closed: usize,
    interval: i64,
    now: i64,
) -> Result<Option<SignalOutcome>, BrainError> {
    let scored = ScoredSignal {
        direction: signal.direction,
        created_at: signal.created_at,
        horizon_s: signal.horizon_s,
    };
    // The last bar closed at the step is at or before the signal, so the entry bar is at or
    // after it: start there. Of the window, only bars closed by `now` count (they are a
    // prefix of it, as of the whole series).
    let from = bars_closed.saturating_sub(1).min(s.closes.len());
    let window = scoring_window(s.closes.get(from..).unwrap_or_default(), &scored);
    let closed = window.partition_point(|(ts, _)| asof::bar_closed(*ts, interval, now));
    let bars = window.get(..closed).unwrap_or_default();
    let Some(o) = score_outcome(&scored, bars, now)? else {
        return Ok(None);
    };
    let horizon_end = scored.created_at.saturating_add(scored.horizon_s);
    Ok(Some(SignalOutcome {
        kind: o.outcome,
        realized_return: o.realized_return,
        scored_at: horizon_end.max(o.exit_ts.saturating_add(interval)),
    }))
}

/// Prepares every history, on up to `threads` threads, keeping their order.
fn prepare_all(histories: Vec<History>, threads: usize) -> Vec<Series> {
    let threads = threads.clamp(1, histories.len().max(1));
    if threads == 1 {
        return histories.into_iter().map(Series::prepare).collect();
    }
    let chunk = histories.len().div_ceil(threads);
    let mut parts: Vec<Vec<History>> = Vec::new();
    let mut rest = histories;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        parts.push(rest);
        rest = tail;
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(Series::prepare).collect()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| Vec::<Series>::new()))
            .collect()
    })
}

/// The candidates of `series` (whose first index is `base`) at `steps`, symbol by symbol.
fn candidates(
    cfg: &ReplayConfig,
    series: &[Series],
    cursors: &mut [Cursor],
    base: usize,
    steps: &[i64],
) -> (Vec<Candidate>, Vec<String>) {
    let (mut out, mut errors): (Vec<Candidate>, Vec<String>) = (Vec::new(), Vec::new());
    for (k, (s, c)) in series.iter().zip(cursors.iter_mut()).enumerate() {
        // The symbol's last emitted signal: its newest candidate in this block, else the one
        // kept from earlier blocks (kept once per block, not cloned per signal).
        let mut newest: Option<usize> = None;
        let kept = c.last.take();
        for (step, t) in steps.iter().enumerate() {
            let last = match newest {
                Some(i) => out.get(i).map(|c| &c.signal),
                None => kept.as_ref(),
            };
            match candidate(cfg, s, c, last, *t) {
                Ok(Some(signal)) => {
                    // Scored here, on the symbol's thread: it depends on nothing else.
                    let scored = cfg.score_at.map(|now| {
                        outcome(s, &signal, c.bars, cfg.bar_interval_s, now)
                            .map_err(|e| format!("{} at {t}: outcome not scored: {e}", s.symbol))
                    });
                    let outcome = match scored {
                        Some(Ok(o)) => o,
                        Some(Err(e)) => {
                            if errors.len() < MAX_ERRORS {
                                errors.push(e);
                            }
                            None
                        }
                        None => None,
                    };
                    newest = Some(out.len());
                    out.push(Candidate {
                        step,
                        symbol: base + k,
                        signal,
                        outcome,
                    });
                }
                Ok(None) => {}
                Err(e) if errors.len() < MAX_ERRORS => errors.push(e),
                Err(_) => {}
            }
        }
        c.last = match newest {
            Some(i) => out.get(i).map(|c| c.signal.clone()),
            None => kept,
        };
    }
    (out, errors)
}

/// One symbol at `t`: its components from what was known then, the composed signal, and
/// whether it says something new (`should_emit` against the last one it emitted).
fn candidate(
    cfg: &ReplayConfig,
    s: &Series,
    c: &mut Cursor,
    last: Option<&CompositeSignal>,
    t: i64,
) -> Result<Option<CompositeSignal>, String> {
    if t < c.from || t > c.to {
        return Ok(None);
    }
    let interval = cfg.bar_interval_s;
    while s
        .closes
        .get(c.bars)
        .is_some_and(|(ts, _)| asof::bar_closed(*ts, interval, t))
    {
        c.bars += 1;
    }
    let mut inputs = [ComponentInput {
        kind: Kind::Chart,
        value: 0.0,
        as_of: 0,
    }; 3];
    let mut n = 0;
    let mut push = |input: ComponentInput| {
        if let Some(slot) = inputs.get_mut(n) {
            *slot = input;
            n += 1;
        }
    };
    if let Some(Some((value, as_of))) = c.bars.checked_sub(1).and_then(|k| s.chart.get(k)) {
        push(ComponentInput {
            kind: Kind::Chart,
            value: *value,
            as_of: *as_of,
        });
    }
    let lo = s
        .news
        .partition_point(|(at, _)| *at < t.saturating_sub(cfg.news_window_s));
    let hi = s.news.partition_point(|(at, _)| *at <= t);
    // `news_component` without its explanation: the same formula.
    if let Some(n) = s.news.get(lo..hi).and_then(|window| {
        aivex_news::news_score(window, t, cfg.news_window_s, cfg.news_half_life_s)
    }) {
        push(ComponentInput {
            kind: Kind::News,
            value: n.value,
            as_of: n.as_of,
        });
    }
    let mut learnt = false;
    while let Some((_, f)) = s.filings.get(c.filings).filter(|(from, _)| *from <= t) {
        c.known.learn(f);
        c.filings += 1;
        learnt = true;
    }
    if learnt {
        c.metrics =
            aivex_market::metrics_component(c.known.facts(), &s.symbol).map(|m| (m.value, m.as_of));
    }
    if let Some((value, as_of)) = c.metrics {
        push(ComponentInput {
            kind: Kind::Metrics,
            value,
            as_of,
        });
    }
    let inputs = inputs.get(..n).unwrap_or_default();
    let composed = if cfg.ids {
        compose(&s.symbol, inputs, &cfg.brain, t)
    } else {
        compose_unidentified(&s.symbol, inputs, &cfg.brain, t)
    };
    let signal = match composed {
        Ok(Some(sig)) => sig,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("{} at {t}: {e}", s.symbol)),
    };
    if !should_emit(last, &signal, cfg.min_value_change) {
        return Ok(None);
    }
    Ok(Some(signal))
}

/// The part of `bars` (ascending by ts) that `score_outcome` can pick its entry and exit bar
/// from: the last bar at or before the signal (the first bar when none is), through the
/// first bar at or after its horizon end (the end when none is). Scoring this slice gives
/// the same answer as scoring all bars, in time proportional to the horizon, not the history.
pub fn scoring_window<'a>(bars: &'a [(i64, f64)], s: &ScoredSignal) -> &'a [(i64, f64)] {
    let before = gallop(bars, |ts| ts <= s.created_at);
    let start = before.saturating_sub(1);
    let horizon_end = s.created_at.saturating_add(s.horizon_s);
    let exit = start + gallop(bars.get(start..).unwrap_or_default(), |ts| ts < horizon_end);
    let end = (exit + 1).min(bars.len()).max(start);
    bars.get(start..end).unwrap_or_default()
}

/// `partition_point` by bar time, searching outwards from the start (1, 2, 4, ... then a
/// binary search in the last stretch): the answer is usually a few bars in, and a plain
/// binary search over a long history would touch far-away memory first.
fn gallop(bars: &[(i64, f64)], pred: impl Fn(i64) -> bool) -> usize {
    let mut hi = 1;
    while hi < bars.len() && bars.get(hi).is_some_and(|(ts, _)| pred(*ts)) {
        hi *= 2;
    }
    let lo = hi / 2;
    let hi = hi.min(bars.len());
    lo + bars
        .get(lo..hi)
        .unwrap_or_default()
        .partition_point(|(ts, _)| pred(*ts))
}

/// Step times from `from` to `to` (both inclusive) every `step_s` seconds.
pub fn grid(from: i64, to: i64, step_s: i64) -> impl Iterator<Item = i64> {
    let step = step_s.max(1);
    let n = if to < from { 0 } else { (to - from) / step + 1 };
    (0..n).map(move |k| from + k * step)
}

/// Every bar close time of the histories inside their ranges, ascending and distinct: the
/// steps of a back-fill ("as of each past bar close").
pub fn bar_close_steps(histories: &[(History, (i64, i64))], interval_s: i64) -> Vec<i64> {
    let mut steps: Vec<i64> = histories
        .iter()
        .flat_map(|(h, (from, to))| {
            h.bars
                .iter()
                .map(|b| b.ts.saturating_add(interval_s))
                .filter(|t| from <= t && t <= to)
                .collect::<Vec<_>>()
        })
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
