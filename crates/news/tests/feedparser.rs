//! aivex against Python's feedparser on feedparser's own well-formed test feeds: wherever
//! feedparser finds an entry with visible text, aivex must find that item too, with the same
//! title and summary (compared without whitespace; aivex's summary may be a capped prefix).
//!
//! The feeds and feedparser's answers are committed under tests/feedparser/ (see its
//! NOTICE.md; `scripts/feedparser-oracle` regenerates them). No network, no Python here.

use aivex_news::{parse_feed, ParsedFeed};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Feeds where aivex need not find feedparser's item, and why.
const NO_ITEM: &[(&str, &str)] = &[(
    "rss/item_category_image.xml",
    "the only text is the <title> of an <image> nested in a <category>, which feedparser \
     takes as the item's title; it is the category's picture caption, not item text",
)];

/// Feeds whose item aivex finds with different text, and why.
const OTHER_TEXT: &[(&str, &str)] = &[
    ("sanitize/entry_content_crazy.xml", SCRIPT),
    ("sanitize/entry_summary_crazy.xml", SCRIPT),
    ("sanitize/entry_title_crazy.xml", SCRIPT),
    ("sanitize/item_content_encoded_crazy.xml", SCRIPT),
    ("sanitize/item_description_crazy.xml", SCRIPT),
    ("sanitize/item_fullitem_crazy.xml", SCRIPT),
    (
        "sanitize/item_content_encoded_script_nested_cdata.xml",
        "a CDATA section nested in CDATA: both readers leave different debris of it",
    ),
];

const SCRIPT: &str = "feedparser's sanitizer keeps part of a <script> body (`function \
                      executeMe() { /*`) as text; aivex drops script bodies whole";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/feedparser")
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// aivex's result per entry index: the item's (title, summary), or None for a bad item.
fn by_index(feed: &ParsedFeed) -> Vec<Option<(String, String)>> {
    let bad: BTreeSet<usize> = feed.errors.iter().map(|e| e.index).collect();
    let mut items = feed.items.iter();
    let total = feed.items.len() + feed.errors.len();
    (0..total)
        .map(|i| {
            if bad.contains(&i) {
                None
            } else {
                items
                    .next()
                    .map(|it| (it.title.clone(), it.summary.clone()))
            }
        })
        .collect()
}

#[test]
fn finds_every_item_feedparser_finds_with_text() {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let files = expected["files"].as_object().unwrap();
    assert!(files.len() > 400, "{} feeds", files.len());
    let (mut items, mut failures) = (0, Vec::new());
    for (rel, entries) in files {
        let bytes = std::fs::read(dir().join("wellformed").join(rel)).unwrap();
        let feed = match parse_feed(&bytes, "http://example.org/feed.xml") {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{rel}: {e}"));
                continue;
            }
        };
        let got = by_index(&feed);
        for (i, want) in entries.as_array().unwrap().iter().enumerate() {
            let (title, summary) = (
                want["title"].as_str().unwrap(),
                want["summary"].as_str().unwrap(),
            );
            if title.is_empty() && summary.is_empty() {
                continue;
            }
            items += 1;
            let Some((t, s)) = got.get(i).cloned().flatten() else {
                if !NO_ITEM.iter().any(|(f, _)| f == rel) {
                    failures.push(format!(
                        "{rel}: no item {i} ({title:?} / {summary:?}): {:?}",
                        feed.errors
                    ));
                }
                continue;
            };
            if OTHER_TEXT.iter().any(|(f, _)| f == rel) {
                continue;
            }
            if !title.is_empty() && squash(&t) != squash(title) {
                failures.push(format!("{rel}: item {i} title {t:?}, feedparser {title:?}"));
            }
            if !summary.is_empty() && (s.is_empty() || !squash(summary).starts_with(&squash(&s))) {
                failures.push(format!(
                    "{rel}: item {i} summary {s:?}, feedparser {summary:?}"
                ));
            }
        }
    }
    assert!(items > 450, "{items} items compared");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The exceptions above must stay true: a listed feed that starts to agree is taken off.
#[test]
fn exceptions_are_still_needed() {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    for (rel, why) in NO_ITEM.iter().chain(OTHER_TEXT) {
        assert!(!why.is_empty());
        let want = &expected["files"][rel];
        assert!(want.is_array(), "{rel} is not in the corpus");
        let bytes = std::fs::read(dir().join("wellformed").join(rel)).unwrap();
        let feed = parse_feed(&bytes, "x").unwrap();
        let got = by_index(&feed);
        let first = got.first().cloned().flatten();
        let agrees = match first {
            None => false,
            Some((t, s)) => {
                squash(&t) == squash(want[0]["title"].as_str().unwrap())
                    && squash(&s) == squash(want[0]["summary"].as_str().unwrap())
            }
        };
        assert!(
            !agrees,
            "{rel} now agrees with feedparser: drop it from the exceptions"
        );
    }
}
