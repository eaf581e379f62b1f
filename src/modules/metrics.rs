//! The `metrics` built-in module: ingests fundamentals (the `symbol,metric,period_end,value`
//! CSV and SEC companyfacts JSON) from files and http(s) URLs into `fundamentals`, then stores
//! the metrics component (`metrics@1`, crates/market/README.md) of every symbol whose facts
//! changed or that has none yet.
//!
//! This file is the shell (settings, fetching, the store, the clock); parsing, the concept
//! fallback and the score are aivex-market's pure functions and must not be reimplemented
//! here. Failure policy: see `modules::ingest`.

use super::ingest::{self, Deferred, Source, Summary};
use super::shard_filter::{fetches, ShardFilter};
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_source::FetchOptions;
use aivex_store::{Component, Store};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

const MODULE: &str = "metrics";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    sources: Option<serde_json::Value>,
    /// Metric -> companyfacts concepts to try in order; replaces that metric's default list.
    #[serde(default)]
    concepts: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    /// Follow redirects from a public source to loopback/private addresses.
    #[serde(default)]
    allow_private_redirects: Option<bool>,
}

/// The defaults with each configured metric's list replacing its default one.
fn merged_concepts(
    overrides: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, ModuleError> {
    let mut all = aivex_market::default_concepts();
    for (metric, list) in overrides {
        if metric.trim().is_empty() || list.is_empty() || list.iter().any(|c| c.trim().is_empty()) {
            return Err(ModuleError::Config(format!(
                "{MODULE} settings: concepts.{metric:?} must be a non-empty list of concept names"
            )));
        }
        all.insert(metric.clone(), list.clone());
    }
    Ok(all)
}

/// A market-layer fact as the store keeps it. A fact without a filing date is stored as
/// filed on its period end (the store's column is a date), which is also what the metrics
/// component falls back to for `as_of`.
fn to_store(f: &aivex_market::Fundamental, source: &str) -> aivex_store::Fundamental {
    aivex_store::Fundamental {
        symbol: f.symbol.clone(),
        metric: f.metric.clone(),
        period_end: f.period_end.clone(),
        value: f.value,
        unit: f.unit.clone(),
        filed: f.filed.clone().unwrap_or_else(|| f.period_end.clone()),
        source: source.to_string(),
    }
}

/// A stored fact as the market layer reads it (also what a replay reads filings as).
pub(crate) fn to_market(f: aivex_store::Fundamental) -> aivex_market::Fundamental {
    aivex_market::Fundamental {
        symbol: f.symbol,
        metric: f.metric,
        period_end: f.period_end,
        value: f.value,
        unit: f.unit,
        filed: Some(f.filed),
        source: f.source,
    }
}

pub struct Metrics {
    sources: Vec<Source>,
    concepts: BTreeMap<String, Vec<String>>,
    opts: FetchOptions,
    store: Store,
    has_component: HashSet<String>,
}

pub fn construct(env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(Metrics::new(env)?))
}

/// The checked settings: sources, concept aliases, fetch bounds.
type MetricsConfig = (Vec<Source>, BTreeMap<String, Vec<String>>, FetchOptions);

/// Parses and checks the settings (pure: `aivex check-config` and reload call it too).
pub fn config(settings: &serde_json::Value) -> Result<MetricsConfig, ModuleError> {
    let s: Settings = ingest::settings(MODULE, settings)?;
    let concepts = merged_concepts(&s.concepts)?;
    let opts = ingest::fetch_options(
        MODULE,
        s.user_agent.as_deref(),
        s.timeout_s,
        s.max_bytes,
        s.allow_private_redirects,
    )?;
    let sources = ingest::parse_sources(MODULE, s.sources.as_ref())?;
    Ok((sources, concepts, opts))
}

impl Metrics {
    pub fn new(env: &ModuleEnv) -> Result<Metrics, ModuleError> {
        let (sources, concepts, opts) = config(&env.settings)?;
        if sources.is_empty() {
            log::warn!("{MODULE}: no sources configured; cycles will do nothing");
        }
        let store = ingest::open_store(MODULE, &env.database_url)?;
        let has_component = ingest::symbols_with_component(&store, MODULE)?;
        Ok(Metrics {
            sources,
            concepts,
            opts,
            store,
            has_component,
        })
    }

    /// Fetches, parses and stores one source; returns the symbols it held and whether any of
    /// their facts changed.
    fn ingest(
        &mut self,
        ctx: &mut Ctx<'_>,
        deferred: &mut Deferred,
        i: usize,
    ) -> Result<Vec<(String, bool)>, ModuleError> {
        let Some(source) = self.sources.get(i) else {
            return Ok(Vec::new());
        };
        let mut summary = Summary::new(&source.name);
        let Some(bytes) = ingest::fetch(ctx, deferred, &mut summary, source, &self.opts) else {
            log::info!("{}", summary.line(MODULE));
            return Ok(Vec::new());
        };
        let is_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let parsed = if is_json {
            let Some(symbol) = &source.symbol else {
                let e = ModuleError::Config(format!(
                    "{MODULE} settings: source {} is companyfacts JSON, which names no ticker: \
                     write it as {{ symbol = \"...\", path = \"...\" }}",
                    source.name
                ));
                ingest::route(ctx, deferred, &mut summary, e);
                log::info!("{}", summary.line(MODULE));
                return Ok(Vec::new());
            };
            // Every filing, not only the latest of each period: the store keeps what was
            // known when (a replay reads a quarter from its first filing on).
            aivex_market::parse_companyfacts_filings(&bytes, &source.name, symbol, &self.concepts)
        } else {
            aivex_market::parse_fundamentals_csv(&bytes, &source.name)
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                ingest::route(ctx, deferred, &mut summary, ModuleError::from(e));
                log::info!("{}", summary.line(MODULE));
                return Ok(Vec::new());
            }
        };
        summary.parsed = parsed.records.len();
        ingest::record_bad(
            ctx,
            &mut summary,
            &source.name,
            parsed.errors.iter().map(|e| e.to_string()).collect(),
            parsed.omitted_errors,
        );
        let column = source.column();
        let symbols: BTreeSet<String> = parsed.records.iter().map(|f| f.symbol.clone()).collect();
        let mut out = Vec::new();
        // One batch per symbol, so a change is attributed to the symbols it touched.
        for symbol in symbols {
            let rows: Vec<_> = parsed
                .records
                .iter()
                .filter(|f| f.symbol == symbol)
                .map(|f| to_store(f, &column))
                .collect();
            match self.store.upsert_fundamentals(&rows) {
                Ok(c) => {
                    summary.add(c);
                    out.push((symbol, c.inserted + c.updated > 0));
                }
                Err(e) => {
                    let lost = format!("{} fact(s) of {symbol}", rows.len());
                    ingest::store_failure(ctx, &mut summary, MODULE, &lost, e)?;
                }
            }
        }
        log::info!("{}", summary.line(MODULE));
        Ok(out)
    }
}

impl Module for Metrics {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let mut deferred = Deferred::default();
        let mut dirty = BTreeSet::new();
        // `[cluster] ingest = "shard"`: only sources of symbols of shards this node holds.
        let shards = ShardFilter::read(ctx.env.cluster.as_ref(), &self.store)?;
        for i in 0..self.sources.len() {
            if ctx.should_stop() {
                break;
            }
            let symbol = self.sources.get(i).and_then(|s| s.symbol.as_deref());
            if !fetches(shards.as_ref(), symbol) {
                continue;
            }
            for (symbol, changed) in self.ingest(ctx, &mut deferred, i)? {
                if changed || !self.has_component.contains(&symbol) {
                    dirty.insert(symbol);
                }
            }
            ctx.beat();
        }
        let now = ingest::now();
        let mut rows = Vec::new();
        for symbol in &dirty {
            let facts: Vec<_> = self
                .store
                .fundamentals_for(symbol)?
                .into_iter()
                .map(to_market)
                .collect();
            match aivex_market::metrics_component(&facts, symbol) {
                Some(c) => rows.push(Component {
                    symbol: symbol.clone(),
                    kind: MODULE.into(),
                    value: c.value,
                    as_of: c.as_of,
                    computed_at: now,
                    detail: c.detail.to_string(),
                }),
                None => log::info!(
                    "{MODULE}: {symbol}: {} fact(s), not enough for any sub-score",
                    facts.len()
                ),
            }
        }
        if !rows.is_empty() {
            let c = self.store.upsert_components(&rows)?;
            for r in &rows {
                self.has_component.insert(r.symbol.clone());
            }
            ingest::log_components(MODULE, rows.len(), &c);
        }
        deferred.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concept_overrides_replace_per_metric() {
        let mut o = BTreeMap::new();
        o.insert("revenue".to_string(), vec!["Custom".to_string()]);
        let m = merged_concepts(&o).unwrap();
        assert_eq!(m.get("revenue"), Some(&vec!["Custom".to_string()]));
        assert_eq!(
            m.get("net_income"),
            aivex_market::default_concepts().get("net_income")
        );
        for bad in [vec![], vec![" ".to_string()]] {
            let mut o = BTreeMap::new();
            o.insert("revenue".to_string(), bad);
            assert!(merged_concepts(&o).is_err());
        }
    }

    #[test]
    fn unfiled_fact_is_stored_as_filed_on_its_period_end() {
        let f = aivex_market::Fundamental {
            symbol: "A".into(),
            metric: "revenue".into(),
            period_end: "2024-03-31".into(),
            value: 1.0,
            unit: "USD".into(),
            filed: None,
            source: "x".into(),
        };
        let s = to_store(&f, "src");
        assert_eq!((s.filed.as_str(), s.source.as_str()), ("2024-03-31", "src"));
        assert_eq!(to_market(s).filed.as_deref(), Some("2024-03-31"));
    }
}
