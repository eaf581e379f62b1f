//! aivex-news: the pure half of the news module: feed parsing (RSS 2.0, RSS 1.0/RDF, Atom,
//! JSON Feed, Alpha Vantage NEWS_SENTIMENT), article identity, lexicon sentiment, ticker
//! extraction, the recency-weighted news component and the `news-preview` line format.
//!
//! Everything here is a function of its inputs: no network, no database, no clock (callers
//! pass `now`). Fetching is aivex-source's job, storing is aivex-store's, and the module glue
//! that maps these errors to `ModuleError` at the boundary lives with the module.

#![forbid(unsafe_code)]

mod component;
mod date;
mod encoding;
mod feed;
mod ident;
mod json;
mod preview;
mod scorer;
mod sentiment;
mod text;
mod tickers;
mod url;
mod xml;

pub use component::{news_component, news_score, NewsComponent, NewsScore};
pub use date::parse_date;
pub use feed::{
    parse_feed, FeedError, FeedFormat, Item, ItemError, ParsedFeed, MAX_ERRORS, MAX_ITEMS,
    MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, MAX_URL_CHARS,
};
pub use ident::article_id;
pub use preview::preview_line;
pub use scorer::{ScoredItem, Scorer};
pub use sentiment::{score, score_item, Lexicon, LexiconError, Sentiment, METHOD_VERSION};
pub use text::clean_html;
pub use tickers::TickerMatcher;
pub use url::{canonical_url, resolve as resolve_url};
pub use xml::MAX_DEPTH;
