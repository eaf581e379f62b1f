//! The `news` built-in module: ingests RSS/Atom/JSON Feed/Alpha Vantage news from files and
//! http(s) URLs into `news_articles` (deduped by article id, updated in place), with lexicon
//! sentiment and tickers, then stores the recency-weighted news component of every configured
//! symbol.
//!
//! This file is the shell (settings, fetching, the store, the clock); parsing, identity,
//! sentiment, ticker matching and the component formula are aivex-news's pure functions and
//! must not be reimplemented here. Failure policy: see `chart::ingest`.

use super::chart::ingest::{self, Deferred, Source, Summary};
use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use aivex_news::{Item, Lexicon, TickerMatcher};
use aivex_source::FetchOptions;
use aivex_store::{Article, Component, Store};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const MODULE: &str = "news";
const DAY: i64 = 86_400;

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

/// What the news module and `aivex news-preview` both need to turn an item into an article.
pub struct Scorer {
    pub lexicon: Lexicon,
    matcher: TickerMatcher,
    symbols: BTreeSet<String>,
    keep_unknown: bool,
}

impl Scorer {
    /// Builds from the `[settings]` of a news module (only `symbols`, `lexicon_path` and
    /// `keep_unknown_cashtags` are read); relative paths resolve through `resolve`.
    pub fn from_settings(
        settings: &serde_json::Value,
        resolve: &dyn Fn(&str) -> std::path::PathBuf,
    ) -> Result<Scorer, ModuleError> {
        let s: Settings = serde_json::from_value(settings.clone())
            .map_err(|e| ModuleError::Config(format!("{MODULE} settings: {e}")))?;
        Scorer::new(&s, resolve)
    }

    fn new(
        s: &Settings,
        resolve: &dyn Fn(&str) -> std::path::PathBuf,
    ) -> Result<Scorer, ModuleError> {
        let mut symbols = BTreeMap::new();
        for (sym, aliases) in &s.symbols {
            let up = sym.trim().to_ascii_uppercase();
            if !ingest::valid_symbol(&up) {
                return Err(ModuleError::Config(format!(
                    "{MODULE} settings: symbols: {sym:?} is not a usable symbol"
                )));
            }
            symbols.insert(up, aliases.clone());
        }
        let lexicon = match &s.lexicon_path {
            None => Lexicon::builtin(),
            Some(p) => Lexicon::from_file(&resolve(p)).map_err(|e| {
                ModuleError::Config(format!("{MODULE} settings: lexicon_path: {e}"))
            })?,
        };
        Ok(Scorer {
            lexicon,
            matcher: TickerMatcher::new(&symbols),
            // Without a symbol list the cashtags are all there is, so they are kept.
            keep_unknown: s.keep_unknown_cashtags.unwrap_or(symbols.is_empty()),
            symbols: symbols.into_keys().collect(),
        })
    }

    /// The cashtag-only scorer (`aivex news-preview` without a configuration).
    pub fn cashtags_only() -> Scorer {
        Scorer {
            lexicon: Lexicon::builtin(),
            matcher: TickerMatcher::new(&BTreeMap::new()),
            symbols: BTreeSet::new(),
            keep_unknown: true,
        }
    }

    /// Tickers of an item: extracted from title and summary plus the provider's, sorted,
    /// unique; unconfigured ones only with `keep_unknown_cashtags`.
    pub fn tickers(&self, item: &Item) -> Vec<String> {
        let text = format!("{}\n{}", item.title, item.summary);
        let mut all: BTreeSet<String> = self.matcher.extract(&text).into_iter().collect();
        all.extend(
            item.tickers
                .iter()
                .map(|t| t.trim().to_ascii_uppercase())
                .filter(|t| ingest::valid_symbol(t)),
        );
        all.into_iter()
            .filter(|t| self.keep_unknown || self.symbols.contains(t))
            .collect()
    }

    /// The article stored for an item.
    pub fn article(&self, item: &Item, source: &str, now: i64) -> Article {
        let s = aivex_news::score_item(&item.title, &item.summary, &self.lexicon);
        Article {
            id: aivex_news::article_id(item),
            source: source.to_string(),
            url: item.url.clone().unwrap_or_default(),
            title: item.title.clone(),
            summary: item.summary.clone(),
            published_at: item.published_at,
            ingested_at: now,
            sentiment: s.score,
            sentiment_method: s.method,
            tickers: self.tickers(item),
        }
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

impl News {
    pub fn new(env: &ModuleEnv) -> Result<News, ModuleError> {
        let s: Settings = ingest::settings(MODULE, env)?;
        let window_s = s.window_s.unwrap_or(7 * DAY);
        let half_life_s = s.half_life_s.unwrap_or(DAY);
        if window_s <= 0 || half_life_s < 0 {
            return Err(ModuleError::Config(format!(
                "{MODULE} settings: window_s must be > 0 and half_life_s >= 0 (0: no decay), got {window_s} and {half_life_s}"
            )));
        }
        let scorer = Scorer::new(&s, &|p| env.resolve_path(p))?;
        let opts = ingest::fetch_options(
            MODULE,
            s.user_agent.as_deref(),
            s.timeout_s,
            s.max_bytes,
            s.allow_private_redirects,
        )?;
        let sources = ingest::parse_sources(MODULE, s.sources.as_ref())?;
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
            .map(|it| self.scorer.article(it, &column, now))
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

    fn item(title: &str, tickers: &[&str]) -> Item {
        Item {
            id: String::new(),
            guid: Some(title.into()),
            title: title.into(),
            url: Some("https://example.com/a?utm_source=x".into()),
            summary: String::new(),
            published_at: Some(100),
            source: "s".into(),
            tickers: tickers.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn tickers_follow_keep_unknown() {
        let resolve = |p: &str| std::path::PathBuf::from(p);
        // (settings, title, provider tickers, expected)
        let table = [
            (
                json!({"symbols": {"AAPL": ["Apple"]}}),
                "Apple and $TSLA rally",
                vec!["MSFT"],
                vec!["AAPL"],
            ),
            (
                json!({"symbols": {"AAPL": ["Apple"]}, "keep_unknown_cashtags": true}),
                "Apple and $TSLA rally",
                vec!["msft"],
                vec!["AAPL", "MSFT", "TSLA"],
            ),
            (json!({}), "Apple and $TSLA rally", vec![], vec!["TSLA"]),
            (
                json!({"symbols": {"aapl": []}}),
                "$AAPL up",
                vec!["bad ticker"],
                vec!["AAPL"],
            ),
        ];
        for (settings, title, prov, want) in table {
            let sc = Scorer::from_settings(&settings, &resolve).unwrap();
            assert_eq!(sc.tickers(&item(title, &prov)), want, "{settings} {title}");
        }
    }

    #[test]
    fn article_has_id_sentiment_and_method() {
        let sc = Scorer::cashtags_only();
        let a = sc.article(
            &item("$AAPL shares surge on record profit", &[]),
            "feed.xml",
            5,
        );
        assert!(a.id.starts_with("g:"), "{}", a.id);
        assert!(a.sentiment > 0.0, "{}", a.sentiment);
        assert_eq!(
            (
                a.sentiment_method.as_str(),
                a.ingested_at,
                a.tickers.clone()
            ),
            ("lexicon@1", 5, vec!["AAPL".to_string()])
        );
    }

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
                    Scorer::from_settings(&s, &resolve),
                    Err(ModuleError::Config(_))
                ),
                "{s}"
            );
        }
    }
}
