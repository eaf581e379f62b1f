//! The `chart` built-in module: ingests OHLCV bars from files and http(s) URLs (Stooq/Yahoo
//! CSV, Binance klines JSON) into `ohlcv`, then recomputes the TA-Lib indicators and the chart
//! component (`chart@1`, crates/market/README.md) of every symbol whose bars changed.
//!
//! This file is the imperative shell: settings, fetching, the store and the clock. Parsing,
//! indicators and the score are aivex-market's pure functions; it must not compute any of them
//! itself. `ingest` holds the pieces the news and metrics modules share; `seen` keeps
//! incremental cycles cheap (only bars that can have changed are written).

pub(crate) mod ingest;
mod seen;

use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_source::FetchOptions;
use aivex_store::{Component, Store};
use ingest::{Deferred, Source, Summary};
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

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
    /// Bars per symbol the indicators are computed from.
    #[serde(default)]
    window: Option<usize>,
}

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
    interval: String,
    window: usize,
    opts: FetchOptions,
    store: Store,
    /// Symbols that have a chart component (so unchanged symbols are not recomputed).
    has_component: HashSet<String>,
    seen: seen::SeenMap,
    seen_file: PathBuf,
}

pub fn construct(env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(Chart::new(env)?))
}

impl Chart {
    pub fn new(env: &ModuleEnv) -> Result<Chart, ModuleError> {
        let s: Settings = serde_json::from_value(env.settings.clone())
            .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))?;
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
        let opts =
            ingest::fetch_options(MODULE, s.user_agent.as_deref(), s.timeout_s, s.max_bytes)?;
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
        if sources.is_empty() {
            log::warn!("{MODULE}: no sources configured; cycles will do nothing");
        }
        let store = ingest::open_store(MODULE, &env.database_url)?;
        let has_component = ingest::symbols_with_component(&store, MODULE)?;
        let seen_file = seen::file(&env.data_dir, store.redacted_url());
        Ok(Chart {
            sources,
            interval,
            window,
            opts,
            store,
            has_component,
            seen: seen::load(&seen_file),
            seen_file,
        })
    }

    /// Fetches, parses and stores one source; returns whether its symbol's bars changed.
    fn ingest(
        &mut self,
        ctx: &mut Ctx<'_>,
        deferred: &mut Deferred,
        i: usize,
    ) -> Result<bool, ModuleError> {
        let Some(BarSource { source, symbol }) = self.sources.get(i) else {
            return Ok(false);
        };
        let mut summary = Summary::new(&format!("{} ({symbol})", source.name));
        let Some(bytes) = ingest::fetch(ctx, deferred, &mut summary, source, &self.opts) else {
            log::info!("{}", summary.line(MODULE));
            return Ok(false);
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
        let (doc, line_offset, known) = match reuse {
            seen::Reuse::Whole => (std::borrow::Cow::Borrowed(&bytes[..]), 0, 0),
            seen::Reuse::Tail {
                head_len,
                cut,
                line_offset,
                known_bars,
            } => {
                let mut d = bytes.get(..head_len).unwrap_or_default().to_vec();
                d.extend_from_slice(bytes.get(cut..).unwrap_or_default());
                (std::borrow::Cow::Owned(d), line_offset, known_bars)
            }
        };
        let mut parsed = match aivex_market::parse_bars(&doc, &source.name) {
            Ok(p) => p,
            Err(e) => {
                ingest::route(ctx, deferred, &mut summary, ModuleError::from(e));
                log::info!("{}", summary.line(MODULE));
                return Ok(false);
            }
        };
        for e in &mut parsed.errors {
            if let aivex_market::Position::Line(n) = &mut e.at {
                if *n >= 2 {
                    *n += line_offset;
                }
            }
        }
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
        let column = source.column();
        let rows: Vec<aivex_store::Bar> = parsed
            .bars
            .get(plan.start..)
            .unwrap_or_default()
            .iter()
            .map(|b| aivex_store::Bar {
                symbol: symbol.clone(),
                interval: self.interval.clone(),
                ts: b.ts,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                adj_close: b.adj_close,
                volume: b.volume,
                source: column.clone(),
            })
            .collect();
        summary.unchanged += plan.start as u64;
        let mut changed = false;
        if !rows.is_empty() {
            match self.store.upsert_bars(&rows) {
                Ok(c) => {
                    changed = c.inserted + c.updated > 0;
                    summary.add(c);
                    match plan.next {
                        Some(next) => self.seen.insert(key, next),
                        None => self.seen.remove(&key),
                    };
                }
                Err(e) => {
                    self.seen.remove(&key);
                    let lost = format!("{} bar(s) of {symbol}", rows.len());
                    ingest::store_failure(ctx, &mut summary, MODULE, &lost, e)?;
                }
            }
        }
        log::info!("{}", summary.line(MODULE));
        Ok(changed)
    }

    /// The chart component of `symbol` from its newest `window` stored bars.
    fn component(&self, symbol: &str, now: i64) -> Result<Option<Component>, ModuleError> {
        let stored = self
            .store
            .bars(symbol, &self.interval, None, Some(self.window))?;
        let bars: Vec<aivex_market::Bar> = stored
            .iter()
            .map(|b| aivex_market::Bar {
                ts: b.ts,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                adj_close: b.adj_close,
                volume: b.volume,
            })
            .collect();
        let Some(c) = aivex_market::chart_component(&bars) else {
            log::info!(
                "{MODULE}: {symbol}: {} bar(s) stored, the chart component needs at least 50",
                bars.len()
            );
            return Ok(None);
        };
        let mut detail = c.detail;
        if let Some(o) = detail.as_object_mut() {
            o.insert("interval".into(), self.interval.clone().into());
            o.insert("bars_used".into(), bars.len().into());
        }
        Ok(Some(Component {
            symbol: symbol.to_string(),
            kind: MODULE.into(),
            value: c.value,
            as_of: c.as_of,
            computed_at: now,
            detail: detail.to_string(),
        }))
    }
}

impl Module for Chart {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let mut deferred = Deferred::default();
        let mut dirty = BTreeSet::new();
        for i in 0..self.sources.len() {
            if ctx.should_stop() {
                break;
            }
            let result = self.ingest(ctx, &mut deferred, i);
            ctx.beat();
            let changed = match result {
                Ok(c) => c,
                Err(e) => {
                    self.save_seen();
                    return Err(e);
                }
            };
            if let Some(s) = self.sources.get(i) {
                if changed || !self.has_component.contains(&s.symbol) {
                    dirty.insert(s.symbol.clone());
                }
            }
        }
        self.save_seen();
        let now = ingest::now();
        let mut rows = Vec::new();
        for (n, symbol) in dirty.iter().enumerate() {
            if ctx.should_stop() {
                break;
            }
            if let Some(c) = self.component(symbol, now)? {
                rows.push(c);
            }
            if n % 50 == 49 {
                ctx.beat();
            }
        }
        if !rows.is_empty() {
            let counts = self.store.upsert_components(&rows).map_err(|e| {
                log::error!(
                    "{MODULE}: NOT STORED: chart components of {} symbol(s)",
                    rows.len()
                );
                ModuleError::from(e)
            })?;
            for c in &rows {
                self.has_component.insert(c.symbol.clone());
            }
            ingest::log_components(MODULE, rows.len(), &counts);
        }
        deferred.finish()
    }
}

impl Chart {
    fn save_seen(&self) {
        if let Err(e) = seen::save(&self.seen_file, &self.seen) {
            log::warn!(
                "{MODULE}: cannot write {} ({e}); the next cycle writes every bar",
                self.seen_file.display()
            );
        }
    }
}
