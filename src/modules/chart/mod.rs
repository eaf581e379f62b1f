//! The `chart` built-in module: ingests OHLCV bars from files and http(s) URLs (Stooq/Yahoo
//! CSV, Binance klines JSON) into `ohlcv`, then recomputes the TA-Lib indicators and the chart
//! component (`chart@1`, crates/market/README.md) of every symbol whose bars changed.
//!
//! This file is the imperative shell: settings, fetching, the store and the clock. Parsing,
//! indicators and the score are aivex-market's pure functions; it must not compute any of them
//! itself. `ingest` holds the pieces the news and metrics modules share; `seen` keeps
//! incremental cycles cheap (only bars that can have changed are written).
//!
//! A cycle is a pipeline: this thread fetches and parses one symbol's sources while store
//! workers (`aivex_store::Workers`, one connection each: 1 for SQLite, 2 for MySQL/MariaDB by
//! default) write the previous symbols' bars and read back their newest `window` bars; the
//! component is computed here when a symbol's job lands. One job per symbol, so two sources of
//! the same symbol never race each other, and each source's bars are one transaction.

mod cache;

use super::ingest::{self, Deferred, Source, Summary};
use super::shard_filter::{fetches, ShardFilter};
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_market::incremental as seen;
use aivex_source::FetchOptions;
use aivex_store::{Candle, Component, Store, StoreError, UpsertCounts, Workers};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

const MODULE: &str = "chart";
/// Bars read back per symbol for the indicators: SMA50 needs 50, and EMA/RSI/ATR/MACD seed
/// from their first values, so a few hundred bars make the newest values settle to well
/// under 1e-6 of the full-history ones while keeping an incremental cycle cheap.
const DEFAULT_WINDOW: usize = 400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    sources: Option<serde_json::Value>,
    #[serde(default = "default_interval")]
    interval: String,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    /// Follow redirects from a public source to loopback/private addresses.
    #[serde(default)]
    allow_private_redirects: Option<bool>,
    /// Bars per symbol the indicators are computed from.
    #[serde(default)]
    window: Option<usize>,
    /// Store connections writing bars in parallel with parsing (default 1 on SQLite, whose
    /// writers serialise anyway, and 2 on MySQL/MariaDB).
    #[serde(default)]
    writers: Option<usize>,
}

/// Upper bound of `writers`: more connections than this only add lock contention.
const MAX_WRITERS: usize = 8;

fn default_interval() -> String {
    "1d".into()
}

/// One source with the symbol its bars are stored under.
struct BarSource {
    source: Source,
    symbol: String,
}

pub struct Chart {
    sources: Vec<BarSource>,
    /// Source indexes grouped by symbol, in order of first appearance: one store job each.
    groups: Vec<(String, Vec<usize>)>,
    interval: String,
    window: usize,
    opts: FetchOptions,
    store: Store,
    workers: Workers<Written>,
    /// Symbols that have a chart component (so unchanged symbols are not recomputed).
    has_component: HashSet<String>,
    seen: seen::SeenMap,
    seen_file: PathBuf,
}

/// One source's parsed bars on their way to the store, and what to remember when they land.
struct InFlight {
    summary: Summary,
    key: String,
    next: Option<seen::Seen>,
    rows: usize,
}

/// One source's bars for a store worker: `rows` go into the series (symbol, interval, column).
struct Batch {
    source: usize,
    column: String,
    rows: Vec<Candle>,
}

/// What a store worker did for one symbol: each source's write, then (when a write changed
/// something or the symbol has no component yet) its newest `window` bars.
struct Written {
    symbol: String,
    writes: Vec<(usize, Result<UpsertCounts, StoreError>)>,
    candles: Option<Result<Vec<Candle>, StoreError>>,
}

/// The job a store worker runs for one symbol. Each source's bars are their own transaction.
fn write_symbol(
    store: &mut Store,
    symbol: String,
    interval: &str,
    window: usize,
    batches: Vec<Batch>,
    needs_component: bool,
) -> Written {
    let mut changed = false;
    let mut writes = Vec::with_capacity(batches.len());
    for Batch {
        source,
        column,
        rows,
    } in batches
    {
        let r = store.upsert_series(&symbol, interval, &column, &rows);
        if let Ok(c) = &r {
            changed |= c.inserted + c.updated > 0;
        }
        writes.push((source, r));
    }
    let candles =
        (changed || needs_component).then(|| store.recent_candles(&symbol, interval, window));
    Written {
        symbol,
        writes,
        candles,
    }
}

pub fn construct(env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(Chart::new(env)?))
}

/// The chart module's `[settings]`, checked: what `Chart::new` needs before any I/O.
pub struct ChartConfig {
    sources: Vec<BarSource>,
    /// Sources grouped by symbol, in configured order.
    groups: Vec<(String, Vec<usize>)>,
    interval: String,
    window: usize,
    writers: Option<usize>,
    opts: FetchOptions,
}

/// Parses and checks the settings (pure: `aivex check-config` and reload call it too).
pub fn config(settings: &serde_json::Value) -> Result<ChartConfig, ModuleError> {
    let s: Settings = ingest::settings(MODULE, settings)?;
    let interval = s.interval.trim().to_string();
    if interval.is_empty() || interval.chars().count() > 16 {
        return Err(ModuleError::Config(format!(
            "{MODULE} settings: interval must be 1-16 characters (e.g. \"1d\", \"1h\"), got {:?}",
            s.interval
        )));
    }
    let window = s.window.unwrap_or(DEFAULT_WINDOW);
    if window < 50 {
        return Err(ModuleError::Config(format!(
            "{MODULE} settings: window must be at least 50 bars (SMA 50), got {window}"
        )));
    }
    if let Some(w) = s.writers {
        if !(1..=MAX_WRITERS).contains(&w) {
            return Err(ModuleError::Config(format!(
                "{MODULE} settings: writers must be 1-{MAX_WRITERS}, got {w}"
            )));
        }
    }
    let opts = ingest::fetch_options(
        MODULE,
        s.user_agent.as_deref(),
        s.timeout_s,
        s.max_bytes,
        s.allow_private_redirects,
    )?;
    let mut sources = Vec::new();
    for (i, source) in ingest::parse_sources(MODULE, s.sources.as_ref())?
        .into_iter()
        .enumerate()
    {
        let Some(symbol) = source.symbol_or_stem() else {
            return Err(ModuleError::Config(format!(
                "{MODULE} settings: sources[{i}] ({}): cannot take a symbol from its name; \
                 write it as {{ symbol = \"...\", url = \"...\" }}",
                source.name
            )));
        };
        sources.push(BarSource { source, symbol });
    }
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, b) in sources.iter().enumerate() {
        match groups.iter_mut().find(|(symbol, _)| *symbol == b.symbol) {
            Some((_, members)) => members.push(i),
            None => groups.push((b.symbol.clone(), vec![i])),
        }
    }
    Ok(ChartConfig {
        sources,
        groups,
        interval,
        window,
        writers: s.writers,
        opts,
    })
}

impl Chart {
    pub fn new(env: &ModuleEnv) -> Result<Chart, ModuleError> {
        let ChartConfig {
            sources,
            groups,
            interval,
            window,
            writers,
            opts,
        } = config(&env.settings)?;
        if sources.is_empty() {
            log::warn!("{MODULE}: no sources configured; cycles will do nothing");
        }
        let store = ingest::open_store(MODULE, &env.database_url)?;
        let writers = writers.unwrap_or(if store.backend_name() == "sqlite" {
            1
        } else {
            2
        });
        let workers = Workers::open(&env.database_url, writers).map_err(|e| {
            ModuleError::from(e).context(format!("{MODULE}: store {}", store.redacted_url()))
        })?;
        let has_component = ingest::symbols_with_component(&store, MODULE)?;
        let seen_file = cache::file(&env.data_dir, store.redacted_url());
        Ok(Chart {
            sources,
            groups,
            interval,
            window,
            opts,
            store,
            workers,
            has_component,
            seen: cache::load(&seen_file),
            seen_file,
        })
    }

    /// Fetches and parses one source and plans its write: the rows to store (none when
    /// nothing can have changed) and what to remember once they are stored. A source that
    /// fails is logged and routed here and yields `None`; only a store failure is an error.
    fn prepare(
        &mut self,
        ctx: &mut Ctx<'_>,
        deferred: &mut Deferred,
        i: usize,
    ) -> Result<Option<(InFlight, Batch)>, ModuleError> {
        let Some(BarSource { source, symbol }) = self.sources.get(i) else {
            return Ok(None);
        };
        let mut summary = Summary::new(&format!("{} ({symbol})", source.name));
        let Some(bytes) = ingest::fetch(ctx, deferred, &mut summary, source, &self.opts) else {
            log::info!("{}", summary.line(MODULE));
            return Ok(None);
        };
        let key = seen::key(symbol, &self.interval, &source.name);
        let stored_last = match self.store.latest_bar_ts(symbol, &self.interval) {
            Ok(t) => t,
            Err(e) => {
                let lost = format!("{} byte(s) of bars of {symbol}", bytes.len());
                ingest::store_failure(ctx, &mut summary, MODULE, &lost, e)?;
                None
            }
        };
        let prev = self.seen.get(&key).cloned();
        let (reuse, marks) = seen::reuse(prev.as_ref(), &bytes, stored_last);
        // Only the header and the lines from the last remembered one on, when the bytes
        // before it are unchanged: an incremental cycle then parses a few lines per file.
        let (parsed, known) = match seen::parse_planned(&bytes, &reuse, &source.name) {
            Ok(p) => p,
            Err(e) => {
                ingest::route(ctx, deferred, &mut summary, ModuleError::from(e));
                log::info!("{}", summary.line(MODULE));
                return Ok(None);
            }
        };
        summary.parsed = parsed.bars.len();
        let total = known + parsed.bars.len();
        let marks = marks.map(|mut m| {
            let last_line_bad = parsed
                .errors
                .iter()
                .any(|e| e.at == aivex_market::Position::Line(m.cut_line));
            m.bars_before_cut = total.saturating_sub(usize::from(!last_line_bad));
            m
        });
        ingest::record_bad(
            ctx,
            &mut summary,
            &source.name,
            parsed.errors.iter().map(|e| e.to_string()).collect(),
            parsed.omitted_errors,
        );
        let plan = if known == 0 {
            let mut p = seen::plan(prev.as_ref(), &parsed.bars, stored_last);
            if let Some(n) = &mut p.next {
                n.text = marks;
            }
            p
        } else {
            // The bar digest of the whole history is unknown after a tail parse: an empty one
            // never matches, so a later fetch that is not an append writes every bar.
            let last_ts = parsed
                .bars
                .last()
                .map_or(stored_last.unwrap_or(0), |b| b.ts);
            let next = seen::Seen {
                count: total,
                prefix: String::new(),
                last_ts,
                text: marks,
            };
            seen::Plan {
                start: 0,
                next: Some(next),
            }
        };
        summary.unchanged += known as u64;
        let rows: Vec<Candle> = parsed.bars.get(plan.start..).unwrap_or_default().to_vec();
        summary.unchanged += plan.start as u64;
        if rows.is_empty() {
            log::info!("{}", summary.line(MODULE));
            return Ok(None);
        }
        let pending = InFlight {
            summary,
            key,
            next: plan.next,
            rows: rows.len(),
        };
        let batch = Batch {
            source: i,
            column: source.column(),
            rows,
        };
        Ok(Some((pending, batch)))
    }

    /// Books one symbol's landed job: the seen cache, each source's summary line, store
    /// failures (the first one that ends the cycle is kept in `fatal`), and the component.
    fn landed(
        &mut self,
        ctx: &mut Ctx<'_>,
        w: Written,
        waiting: &mut HashMap<usize, InFlight>,
        components: &mut Vec<Component>,
        fatal: &mut Option<ModuleError>,
        now: i64,
    ) {
        for (i, r) in w.writes {
            let Some(mut p) = waiting.remove(&i) else {
                continue;
            };
            match r {
                Ok(c) => {
                    p.summary.add(c);
                    match p.next {
                        Some(next) => self.seen.insert(p.key, next),
                        None => self.seen.remove(&p.key),
                    };
                    log::info!("{}", p.summary.line(MODULE));
                }
                Err(e) => {
                    self.seen.remove(&p.key);
                    let lost = format!("{} bar(s) of {}", p.rows, w.symbol);
                    match ingest::store_failure(ctx, &mut p.summary, MODULE, &lost, e) {
                        Ok(()) => log::info!("{}", p.summary.line(MODULE)),
                        Err(err) => {
                            fatal.get_or_insert(err);
                        }
                    }
                }
            }
        }
        match w.candles {
            None => {}
            Some(Ok(candles)) => {
                if let Some(c) = self.component(&w.symbol, &candles, now) {
                    components.push(c);
                }
            }
            Some(Err(e)) => {
                // Its bars may have landed: the next cycle must compute the component anyway.
                self.has_component.remove(&w.symbol);
                fatal.get_or_insert_with(|| {
                    ModuleError::from(e)
                        .context(format!("{MODULE}: reading the bars of {}", w.symbol))
                });
            }
        }
    }

    /// The chart component of `symbol` from its newest stored bars.
    fn component(&self, symbol: &str, bars: &[Candle], now: i64) -> Option<Component> {
        let Some(c) = aivex_market::chart_component(bars) else {
            log::info!(
                "{MODULE}: {symbol}: {} bar(s) stored, the chart component needs at least 50",
                bars.len()
            );
            return None;
        };
        let mut detail = c.detail;
        if let Some(o) = detail.as_object_mut() {
            o.insert("interval".into(), self.interval.clone().into());
            o.insert("bars_used".into(), bars.len().into());
        }
        Some(Component {
            symbol: symbol.to_string(),
            kind: MODULE.into(),
            value: c.value,
            as_of: c.as_of,
            computed_at: now,
            detail: detail.to_string(),
        })
    }

    fn submit_error(&self, e: StoreError) -> ModuleError {
        ModuleError::from(e).context(format!("{MODULE}: store {}", self.store.redacted_url()))
    }
}

impl Module for Chart {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let mut deferred = Deferred::default();
        let mut waiting: HashMap<usize, InFlight> = HashMap::new();
        let mut components = Vec::new();
        let mut fatal: Option<ModuleError> = None;
        let now = ingest::now();
        // `[cluster] ingest = "shard"`: only the symbols of shards this node holds.
        let shards = ShardFilter::read(ctx.env.cluster.as_ref(), &self.store)?;
        for g in 0..self.groups.len() {
            if ctx.should_stop() || fatal.is_some() {
                break;
            }
            let Some((symbol, members)) = self.groups.get(g).cloned() else {
                break;
            };
            if !fetches(shards.as_ref(), Some(&symbol)) {
                continue;
            }
            let mut batches = Vec::new();
            for i in members {
                match self.prepare(ctx, &mut deferred, i) {
                    Ok(Some((pending, batch))) => {
                        waiting.insert(i, pending);
                        batches.push(batch);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        fatal.get_or_insert(e);
                        break;
                    }
                }
            }
            let needs_component = !self.has_component.contains(&symbol);
            if fatal.is_none() && (!batches.is_empty() || needs_component) {
                let (interval, window) = (self.interval.clone(), self.window);
                let job = move |store: &mut Store| {
                    write_symbol(store, symbol, &interval, window, batches, needs_component)
                };
                if let Err(e) = self.workers.submit(job) {
                    fatal.get_or_insert(self.submit_error(e));
                }
            }
            ctx.beat();
            loop {
                match self.workers.try_recv() {
                    Ok(Some(w)) => {
                        self.landed(ctx, w, &mut waiting, &mut components, &mut fatal, now)
                    }
                    Ok(None) => break,
                    Err(e) => {
                        fatal.get_or_insert(self.submit_error(e));
                        break;
                    }
                }
            }
        }
        // Every submitted job lands before the cycle ends, also when it ends early: a
        // worker must not still be writing while the next cycle (or a stop) begins.
        while self.workers.pending() > 0 {
            match self.workers.recv_timeout(Duration::from_millis(250)) {
                Ok(Some(w)) => self.landed(ctx, w, &mut waiting, &mut components, &mut fatal, now),
                Ok(None) => {}
                Err(e) => {
                    fatal.get_or_insert(self.submit_error(e));
                    break;
                }
            }
            ctx.beat();
        }
        self.save_seen();
        for (_, mut p) in waiting {
            p.summary
                .fail("not stored: the cycle ended on a store error");
            log::error!(
                "{MODULE}: NOT STORED: {} bar(s) from {}",
                p.rows,
                p.summary.source
            );
            log::info!("{}", p.summary.line(MODULE));
        }
        // Components of the symbols whose bars did land are stored even when the cycle ends
        // on a store error: their bars will not count as changed again, so a component left
        // out now would stay stale until their next new bar. One that cannot be stored is
        // forgotten in `has_component`, so the next cycle computes it again.
        if !components.is_empty() {
            match self.store.upsert_components(&components) {
                Ok(counts) => {
                    for c in &components {
                        self.has_component.insert(c.symbol.clone());
                    }
                    ingest::log_components(MODULE, components.len(), &counts);
                }
                Err(e) => {
                    log::error!(
                        "{MODULE}: NOT STORED: chart components of {} symbol(s)",
                        components.len()
                    );
                    for c in &components {
                        self.has_component.remove(&c.symbol);
                    }
                    fatal.get_or_insert(ModuleError::from(e));
                }
            }
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        deferred.finish()
    }
}

impl Chart {
    fn save_seen(&self) {
        if let Err(e) = cache::save(&self.seen_file, &self.seen) {
            log::warn!(
                "{MODULE}: cannot write {} ({e}); the next cycle writes every bar",
                self.seen_file.display()
            );
        }
    }
}
