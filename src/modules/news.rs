//! The `news` built-in module: ingests RSS/Atom/JSON Feed/Alpha Vantage news from files and
//! http(s) URLs into `news_articles` (deduped by article id, updated in place), with lexicon
//! sentiment and tickers, then stores the recency-weighted news component of every configured
//! symbol.
//!
//! This file is the shell (settings, fetching, the store, the clock); parsing, identity,
//! sentiment, ticker matching and the component formula are aivex-news's pure functions and
//! must not be reimplemented here. Failure policy: see `modules::ingest`.

use super::ingest::{self, Deferred, Source, Summary};
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_news::{Lexicon, ScoredItem, Scorer};
use aivex_source::FetchOptions;
use aivex_store::{Article, Component, Store};
use serde::Deserialize;
use std::collections::BTreeMap;

const MODULE: &str = "news";
const DAY: i64 = 86_400;
/// The news component's window and half-life when the settings do not give them.
pub const DEFAULT_WINDOW_S: i64 = 7 * DAY;
pub const DEFAULT_HALF_LIFE_S: i64 = DAY;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    sources: Option<serde_json::Value>,
    /// Symbol -> company-name aliases.
    #[serde(default)]
    symbols: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    lexicon_path: Option<String>,
    #[serde(default)]
    window_s: Option<i64>,
    #[serde(default)]
    half_life_s: Option<i64>,
    #[serde(default)]
    keep_unknown_cashtags: Option<bool>,
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

/// The scorer of a news module's `[settings]` (only `symbols`, `lexicon_path` and
/// `keep_unknown_cashtags` are read); relative paths resolve through `resolve`. Shared with
/// `aivex news-preview`.
pub fn scorer_from_settings(
    settings: &serde_json::Value,
    resolve: &dyn Fn(&str) -> std::path::PathBuf,
) -> Result<Scorer, ModuleError> {
    let s: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))?;
    scorer(&s, resolve)
}

/// The news component's `(window_s, half_life_s)` of a news module's `[settings]`, checked.
/// Shared with `aivex replay`, which computes the component at past times with them.
pub fn component_params(settings: &serde_json::Value) -> Result<(i64, i64), ModuleError> {
    let s: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))?;
    params(&s)
}

fn params(s: &Settings) -> Result<(i64, i64), ModuleError> {
    let window_s = s.window_s.unwrap_or(DEFAULT_WINDOW_S);
    let half_life_s = s.half_life_s.unwrap_or(DEFAULT_HALF_LIFE_S);
    if window_s <= 0 || half_life_s < 0 {
        return Err(ModuleError::Config(format!(
            "{MODULE} settings: window_s must be > 0 and half_life_s >= 0 (0: no decay), got {window_s} and {half_life_s}"
        )));
    }
    Ok((window_s, half_life_s))
}

fn scorer(
    s: &Settings,
    resolve: &dyn Fn(&str) -> std::path::PathBuf,
) -> Result<Scorer, ModuleError> {
    let lexicon = match &s.lexicon_path {
        None => Lexicon::builtin(),
        Some(p) => Lexicon::from_file(&resolve(p))
            .map_err(|e| ModuleError::Config(format!("{MODULE} settings: lexicon_path: {e}")))?,
    };
    Scorer::new(&s.symbols, lexicon, s.keep_unknown_cashtags)
        .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))
}

/// The stored article of a scored item.
fn article(item: ScoredItem, source: &str, now: i64) -> Article {
    Article {
        id: item.id,
        source: source.to_string(),
        url: item.url,
        title: item.title,
        summary: item.summary,
        published_at: item.published_at,
        ingested_at: now,
        sentiment: item.sentiment,
        sentiment_method: item.sentiment_method,
        tickers: item.tickers,
    }
}

pub struct News {
    sources: Vec<Source>,
    scorer: Scorer,
    window_s: i64,
    half_life_s: i64,
    opts: FetchOptions,
    store: Store,
}

pub fn construct(env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(News::new(env)?))
}

/// The checked settings that need no I/O.
struct NewsConfig {
    settings: Settings,
    window_s: i64,
    half_life_s: i64,
    opts: FetchOptions,
    sources: Vec<Source>,
}

fn config(settings: &serde_json::Value) -> Result<NewsConfig, ModuleError> {
    let s: Settings = ingest::settings(MODULE, settings)?;
    let (window_s, half_life_s) = params(&s)?;
    let opts = ingest::fetch_options(
        MODULE,
        s.user_agent.as_deref(),
        s.timeout_s,
        s.max_bytes,
        s.allow_private_redirects,
    )?;
    let sources = ingest::parse_sources(MODULE, s.sources.as_ref())?;
    Ok(NewsConfig {
        settings: s,
        window_s,
        half_life_s,
        opts,
        sources,
    })
}

/// Checks the settings without I/O (`aivex check-config`, reload): everything but reading a
/// configured lexicon file, which the module does when it starts.
pub fn check(settings: &serde_json::Value) -> Result<(), ModuleError> {
    let c = config(settings)?;
    Scorer::new(&c.settings.symbols, Lexicon::builtin(), None)
        .map(drop)
        .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))
}

impl News {
    pub fn new(env: &ModuleEnv) -> Result<News, ModuleError> {
        let NewsConfig {
            settings: s,
            window_s,
            half_life_s,
            opts,
            sources,
        } = config(&env.settings)?;
        let scorer = scorer(&s, &|p| env.resolve_path(p))?;
        if sources.is_empty() {
            log::warn!("{MODULE}: no sources configured; cycles only refresh the components");
        }
        if scorer.symbols.is_empty() {
            log::warn!("{MODULE}: no `symbols` configured; no news component will be computed");
        }
        let store = ingest::open_store(MODULE, &env.database_url)?;
        Ok(News {
            sources,
            scorer,
            window_s,
            half_life_s,
            opts,
            store,
        })
    }

    fn ingest(
        &mut self,
        ctx: &mut Ctx<'_>,
        deferred: &mut Deferred,
        i: usize,
        now: i64,
    ) -> Result<(), ModuleError> {
        let Some(source) = self.sources.get(i) else {
            return Ok(());
        };
        let mut summary = Summary::new(&source.name);
        let Some(bytes) = ingest::fetch(ctx, deferred, &mut summary, source, &self.opts) else {
            log::info!("{}", summary.line(MODULE));
            return Ok(());
        };
        // The configured location is the base for relative links; it is only stored redacted.
        let parsed = match aivex_news::parse_feed(&bytes, &source.location) {
            Ok(p) => p,
            Err(e) => {
                ingest::route(ctx, deferred, &mut summary, e.to_module_error(&source.name));
                log::info!("{}", summary.line(MODULE));
                return Ok(());
            }
        };
        summary.parsed = parsed.items.len();
        let bad = parsed
            .errors
            .iter()
            .map(|e| e.to_module_error(&source.name).message().to_string())
            .collect();
        ingest::record_bad(ctx, &mut summary, &source.name, bad, parsed.omitted_errors);
        let column = source.name.chars().take(128).collect::<String>();
        let articles: Vec<Article> = parsed
            .items
            .iter()
            .map(|it| article(self.scorer.score(it), &column, now))
            .collect();
        if !articles.is_empty() {
            match self.store.upsert_articles(&articles) {
                Ok(c) => summary.add(c),
                Err(e) => {
                    let lost = format!("{} article(s)", articles.len());
                    ingest::store_failure(ctx, &mut summary, MODULE, &lost, e)?;
                }
            }
        }
        log::info!("{}", summary.line(MODULE));
        Ok(())
    }

    fn components(&self, now: i64) -> Result<Vec<Component>, ModuleError> {
        let mut out = Vec::new();
        for symbol in &self.scorer.symbols {
            let articles = self.store.articles_for(symbol, Some(now - self.window_s))?;
            // Undated articles count from when they were first seen.
            let pairs: Vec<(i64, f64)> = articles
                .iter()
                .map(|a| (a.published_at.unwrap_or(a.ingested_at), a.sentiment))
                .collect();
            let Some(c) = aivex_news::news_component(&pairs, now, self.window_s, self.half_life_s)
            else {
                log::info!(
                    "{MODULE}: {symbol}: no article in the last {}s; component left as it was",
                    self.window_s
                );
                continue;
            };
            let mut detail = c.detail;
            if let Some(o) = detail.as_object_mut() {
                o.insert("method".into(), self.scorer.lexicon.method().into());
            }
            out.push(Component {
                symbol: symbol.clone(),
                kind: MODULE.into(),
                value: c.value,
                as_of: c.as_of,
                computed_at: now,
                detail: detail.to_string(),
            });
        }
        Ok(out)
    }
}

impl Module for News {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let mut deferred = Deferred::default();
        let now = ingest::now();
        for i in 0..self.sources.len() {
            if ctx.should_stop() {
                break;
            }
            self.ingest(ctx, &mut deferred, i, now)?;
            ctx.beat();
        }
        let rows = self.components(now)?;
        if !rows.is_empty() {
            let c = self.store.upsert_components(&rows)?;
            ingest::log_components(MODULE, rows.len(), &c);
        }
        deferred.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_settings_are_config_errors() {
        let resolve = |p: &str| std::path::PathBuf::from(p);
        for s in [
            json!({"symbols": {"bad sym": []}}),
            json!({"lexicon_path": "/surely/missing.txt"}),
            json!({"bogus": 1}),
        ] {
            assert!(
                matches!(
                    scorer_from_settings(&s, &resolve),
                    Err(ModuleError::Config(_))
                ),
                "{s}"
            );
        }
    }
}
