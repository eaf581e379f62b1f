//! End-to-end over the shipped demo feeds and user lexicon files: parse, score, extract
//! tickers, build preview lines and the news component, the way the module and
//! `aivex news-preview` will chain them.
//!
//! Reads files from config/demo/news and tests/fixtures only.

use aivex_news::{
    news_component, parse_feed, preview_line, score_item, Lexicon, LexiconError, TickerMatcher,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn repo_file(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn matcher() -> TickerMatcher {
    let mut m = BTreeMap::new();
    for (s, a) in [
        ("AAPL", "Apple"),
        ("MSFT", "Microsoft"),
        ("NVDA", "Nvidia"),
        ("SPY", "S&P 500"),
    ] {
        m.insert(s.to_string(), vec![a.to_string()]);
    }
    TickerMatcher::new(&m)
}

#[test]
fn demo_feeds_parse_clean_with_mixed_sentiment() {
    let lex = Lexicon::builtin();
    let tickers = matcher();
    // (file, items)
    for (file, count) in [
        ("config/demo/news/market-news.xml", 30),
        ("config/demo/news/headlines.json", 10),
    ] {
        let feed = parse_feed(&repo_file(file), file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            (feed.items.len(), feed.errors.len()),
            (count, 0),
            "{file}: {:?}",
            feed.errors
        );
        let (mut pos, mut neg) = (0, 0);
        for item in &feed.items {
            let s = score_item(&item.title, &item.summary, &lex);
            assert_eq!(s.method, "lexicon@1");
            pos += usize::from(s.score > 0.05);
            neg += usize::from(s.score < -0.05);
            let t = tickers.extract(&format!("{} {}", item.title, item.summary));
            assert!(!t.is_empty(), "{file}: no ticker in {:?}", item.title);
            assert!(
                item.url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
                "{item:?}"
            );
            let ts = item.published_at.unwrap_or(0);
            assert!(
                (1_790_812_800..1_795_392_000).contains(&ts),
                "{file}: {ts} not in Oct-Nov 2026"
            );
            let line = preview_line(item, &t, s.score);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            assert_eq!(v.as_object().map(|o| o.len()), Some(6), "{line}");
        }
        assert!(
            pos >= count / 4 && neg >= count / 4,
            "{file}: {pos} positive, {neg} negative"
        );
    }
}

#[test]
fn demo_news_component_per_symbol() {
    let lex = Lexicon::builtin();
    let tickers = matcher();
    let feed = parse_feed(&repo_file("config/demo/news/market-news.xml"), "demo")
        .unwrap_or_else(|e| panic!("{e}"));
    let now = 1_795_392_000; // 2026-11-23T00:00:00Z
    let mut per_symbol: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for item in &feed.items {
        let s = score_item(&item.title, &item.summary, &lex).score;
        for t in tickers.extract(&format!("{} {}", item.title, item.summary)) {
            per_symbol
                .entry(t)
                .or_default()
                .push((item.published_at.unwrap_or(0), s));
        }
    }
    for sym in ["AAPL", "MSFT", "NVDA", "SPY"] {
        let arts = per_symbol.get(sym).map(Vec::as_slice).unwrap_or_default();
        let c = news_component(arts, now, 60 * 86_400, 7 * 86_400);
        let c = c.unwrap_or_else(|| panic!("{sym}: no component"));
        assert!(
            (-1.0..=1.0).contains(&c.value) && c.count >= 5,
            "{sym}: {c:?}"
        );
    }
}

#[test]
fn user_lexicon_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let lex = Lexicon::from_file(&dir.join("user_lexicon.txt")).unwrap_or_else(|e| panic!("{e}"));
    assert!(lex.method().starts_with("lexicon@1+"), "{}", lex.method());
    assert!(score_item("Token goes to the moon", "", &lex).score > 0.5);
    assert!(score_item("Classic rug pull", "", &lex).score < -0.5);
    match Lexicon::from_file(&dir.join("bad_lexicon.txt")) {
        Err(e @ LexiconError::BadLine { line: 2, .. }) => {
            assert!(e.to_string().contains("bad_lexicon.txt line 2"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Lexicon::from_file(&dir.join("missing.txt")),
        Err(LexiconError::Io { .. })
    ));
}
