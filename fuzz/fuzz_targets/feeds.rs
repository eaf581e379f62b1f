//! RSS, RDF, Atom, JSON Feed and Alpha Vantage documents (`aivex_news::parse_feed`): must not
//! panic, and what it returns keeps the documented bounds.
#![no_main]

use aivex_news::{parse_feed, MAX_ERRORS, MAX_ITEMS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(feed) = parse_feed(data, "https://fuzz.example/feed.xml") else {
        return;
    };
    assert!(feed.items.len() <= MAX_ITEMS);
    assert!(feed.errors.len() <= MAX_ERRORS);
    for item in &feed.items {
        assert!(!item.id.is_empty());
        assert!(item.title.chars().count() <= MAX_TITLE_CHARS);
        assert!(item.summary.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(!item.title.is_empty() || !item.summary.is_empty() || item.url.is_some());
    }
});
