//! The scorer: what turns a parsed feed item into an article ready to store (its id, its
//! lexicon sentiment, its tickers among the configured symbols), shared by the news module and
//! `aivex news-preview` so the preview cannot drift from what is stored.
//!
//! It owns the ticker policy (extracted from title and summary plus the provider's, configured
//! symbols only unless unknown cashtags are kept). It must not read files or the clock: the
//! caller loads the lexicon and passes `now` where it stores.

use crate::{article_id, score_item, Item, Lexicon, TickerMatcher};
use aivex_core::contract::Symbol;
use std::collections::{BTreeMap, BTreeSet};

pub struct Scorer {
    pub lexicon: Lexicon,
    matcher: TickerMatcher,
    /// The configured symbols, upper-case.
    pub symbols: BTreeSet<String>,
    keep_unknown: bool,
}

/// An item scored: every field of a stored article but where and when it was ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredItem {
    pub id: String,
    pub url: String,
    pub title: String,
    pub summary: String,
    pub published_at: Option<i64>,
    pub sentiment: f64,
    pub sentiment_method: String,
    pub tickers: Vec<String>,
}

impl Scorer {
    /// `symbols`: symbol → company-name aliases (symbols are upper-cased and must be valid).
    /// `keep_unknown_cashtags` defaults to true only without symbols (then the cashtags are all
    /// there is). An invalid symbol is an error naming it.
    pub fn new(
        symbols: &BTreeMap<String, Vec<String>>,
        lexicon: Lexicon,
        keep_unknown_cashtags: Option<bool>,
    ) -> Result<Scorer, String> {
        let mut upper = BTreeMap::new();
        for (sym, aliases) in symbols {
            let up = sym.trim().to_ascii_uppercase();
            if let Err(e) = Symbol::parse(&up) {
                return Err(format!(
                    "symbols: {sym:?} is not a usable symbol ({})",
                    e.why
                ));
            }
            upper.insert(up, aliases.clone());
        }
        Ok(Scorer {
            lexicon,
            matcher: TickerMatcher::new(&upper),
            keep_unknown: keep_unknown_cashtags.unwrap_or(upper.is_empty()),
            symbols: upper.into_keys().collect(),
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
    /// unique; unconfigured ones only when unknown cashtags are kept.
    pub fn tickers(&self, item: &Item) -> Vec<String> {
        let text = format!("{}\n{}", item.title, item.summary);
        let mut all: BTreeSet<String> = self.matcher.extract(&text).into_iter().collect();
        all.extend(
            item.tickers
                .iter()
                .map(|t| t.trim().to_ascii_uppercase())
                .filter(|t| Symbol::is_valid(t)),
        );
        all.into_iter()
            .filter(|t| self.keep_unknown || self.symbols.contains(t))
            .collect()
    }

    pub fn score(&self, item: &Item) -> ScoredItem {
        let s = score_item(&item.title, &item.summary, &self.lexicon);
        ScoredItem {
            id: article_id(item),
            url: item.url.clone().unwrap_or_default(),
            title: item.title.clone(),
            summary: item.summary.clone(),
            published_at: item.published_at,
            sentiment: s.score,
            sentiment_method: s.method,
            tickers: self.tickers(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn symbols(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(s, a)| (s.to_string(), a.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    #[test]
    fn tickers_follow_keep_unknown() {
        // (symbols, keep_unknown_cashtags, title, provider tickers, expected)
        type Case<'a> = (
            &'a [(&'a str, &'a [&'a str])],
            Option<bool>,
            &'a str,
            Vec<&'a str>,
            Vec<&'a str>,
        );
        let table: [Case; 4] = [
            (
                &[("AAPL", &["Apple"])],
                None,
                "Apple and $TSLA rally",
                vec!["MSFT"],
                vec!["AAPL"],
            ),
            (
                &[("AAPL", &["Apple"])],
                Some(true),
                "Apple and $TSLA rally",
                vec!["msft"],
                vec!["AAPL", "MSFT", "TSLA"],
            ),
            (&[], None, "Apple and $TSLA rally", vec![], vec!["TSLA"]),
            (
                &[("aapl", &[])],
                None,
                "$AAPL up",
                vec!["bad ticker"],
                vec!["AAPL"],
            ),
        ];
        for (syms, keep, title, prov, want) in table {
            let sc = Scorer::new(&symbols(syms), Lexicon::builtin(), keep).unwrap();
            assert_eq!(sc.tickers(&item(title, &prov)), want, "{syms:?} {title}");
        }
        let err = Scorer::new(&symbols(&[("bad sym", &[])]), Lexicon::builtin(), None);
        assert!(err.err().unwrap().contains("\"bad sym\""));
    }

    #[test]
    fn scored_item_has_id_sentiment_and_method() {
        let a = Scorer::cashtags_only().score(&item("$AAPL shares surge on record profit", &[]));
        assert!(a.id.starts_with("g:"), "{}", a.id);
        assert!(a.sentiment > 0.0, "{}", a.sentiment);
        assert_eq!(
            (a.sentiment_method.as_str(), a.tickers.clone()),
            ("lexicon@1", vec!["AAPL".to_string()])
        );
    }
}
