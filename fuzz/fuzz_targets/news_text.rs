//! The text functions feed fields go through: HTML cleaning, dates, URL resolution and
//! canonical form, sentiment and tickers. Must not panic; cleaned text has no control
//! characters and no leading or trailing whitespace; sentiment stays in [-1, 1].
#![no_main]

use aivex_news::{
    canonical_url, clean_html, parse_date, resolve_url, score, Lexicon, TickerMatcher,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let clean = clean_html(&text);
    assert!(!clean.chars().any(char::is_control), "{clean:?}");
    assert_eq!(clean.trim(), clean);
    let _ = parse_date(&text);
    let _ = canonical_url(&text);
    let _ = resolve_url("https://fuzz.example/a/b?c", &text);
    static LEX: OnceLock<Lexicon> = OnceLock::new();
    let s = score(&text, LEX.get_or_init(Lexicon::builtin)).score;
    assert!((-1.0..=1.0).contains(&s), "{s}");
    static MATCHER: OnceLock<TickerMatcher> = OnceLock::new();
    let m = MATCHER.get_or_init(|| {
        TickerMatcher::new(&BTreeMap::from([(
            "AAPL".to_string(),
            vec!["Apple".to_string()],
        )]))
    });
    let _ = m.extract(&text);
});
