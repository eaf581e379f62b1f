//! Reading what a replay needs from the store: one symbol's whole stored history (every bar of
//! the brain's interval, every article mentioning it, every fundamentals filing), and the
//! symbols a replay covers. Shared by brain's back-fill and `aivex replay`, so both replay the
//! same inputs.
//!
//! It owns the mapping of store rows to aivex-brain's replay inputs; it must not decide what
//! is known when (that is `aivex_brain::replay::asof`) or compute anything.

use aivex_brain::replay::{Article, History};
use aivex_store::{Store, StoreError};
use serde_json::Value;

/// Everything stored about `symbol`: bars of `interval` (ascending), articles mentioning it,
/// every fundamentals filing.
pub fn load(store: &Store, symbol: &str, interval: &str) -> Result<History, StoreError> {
    let bars = store.candles(symbol, interval)?;
    let articles = store
        .article_sentiments(symbol)?
        .into_iter()
        .map(|a| Article {
            published_at: a.published_at,
            ingested_at: a.ingested_at,
            sentiment: a.sentiment,
        })
        .collect();
    let filings = store
        .fundamental_filings(symbol)?
        .into_iter()
        .map(crate::modules::metrics::to_market)
        .collect();
    Ok(History {
        symbol: symbol.to_string(),
        bars,
        articles,
        filings,
    })
}

/// The symbols a replay covers when none are named: the brain's `symbols` setting, else every
/// symbol with bars of `interval` (a signal without bars can never be scored).
pub fn default_symbols(
    store: &Store,
    configured: &[String],
    interval: &str,
) -> Result<Vec<String>, StoreError> {
    if configured.is_empty() {
        store.symbols_with_bars(interval)
    } else {
        Ok(configured.to_vec())
    }
}

/// The news component's (window_s, half_life_s) as the live news module used them, read from
/// the detail it stores with each component; the module's defaults when there is none. Brain
/// runs in its own process with only its own settings, and the news component's detail is
/// where the news module records the parameters it computed with.
pub fn stored_news_params(store: &Store) -> Result<(i64, i64), StoreError> {
    use crate::modules::news::{DEFAULT_HALF_LIFE_S, DEFAULT_WINDOW_S};
    for c in store.all_components()? {
        if c.kind != aivex_brain::Kind::News.as_str() {
            continue;
        }
        let detail: Value = serde_json::from_str(&c.detail).unwrap_or(Value::Null);
        let window = detail.get("window_s").and_then(Value::as_i64);
        let half_life = detail.get("half_life_s").and_then(Value::as_i64);
        if let (Some(w), Some(h)) = (window, half_life) {
            if w > 0 && h >= 0 {
                return Ok((w, h));
            }
        }
    }
    Ok((DEFAULT_WINDOW_S, DEFAULT_HALF_LIFE_S))
}
