//! Fixture-driven tests of `parse_feed`: every accepted format, the messy cases real feeds
//! produce, provider error bodies, broken documents, and a no-panic sweep over truncations
//! and corruptions of every fixture.
//!
//! Reads fixtures from tests/fixtures only; no network.

use aivex_news::{parse_feed, FeedError, FeedFormat, Item, ParsedFeed};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str) -> ParsedFeed {
    parse_feed(&fixture(name), name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn by_title<'a>(feed: &'a ParsedFeed, needle: &str) -> &'a Item {
    feed.items
        .iter()
        .find(|i| i.title.contains(needle))
        .unwrap_or_else(|| panic!("no item titled {needle:?} in {:#?}", feed.items))
}

const T: i64 = 1_730_817_000; // 2024-11-05T14:30:00Z

#[test]
fn formats_counts_and_errors() {
    // (fixture, format, items, item errors)
    let table = [
        ("rss_yahoo.xml", FeedFormat::Rss, 3, 0),
        ("rss_reuters.xml", FeedFormat::Rss, 3, 0),
        ("rss_nasdaq.xml", FeedFormat::Rss, 2, 0),
        ("atom_github.xml", FeedFormat::Atom, 2, 0),
        ("atom_sec_edgar.xml", FeedFormat::Atom, 2, 0),
        ("jsonfeed.json", FeedFormat::JsonFeed, 3, 1),
        ("alphavantage.json", FeedFormat::AlphaVantage, 2, 1),
        ("nasty_cdata_html.xml", FeedFormat::Rss, 2, 1),
        ("nasty_cp1252.xml", FeedFormat::Rss, 1, 0),
        ("nasty_missing_dates.xml", FeedFormat::Rss, 4, 1),
        ("nasty_relative_links.xml", FeedFormat::Rss, 4, 0),
        ("rdf_rss10.xml", FeedFormat::Rdf, 2, 0),
        ("broken_truncated.xml", FeedFormat::Rss, 2, 1),
        ("broken_syntax.xml", FeedFormat::Rss, 1, 1),
    ];
    for (name, format, items, errors) in table {
        let feed = parse(name);
        assert_eq!(feed.format, format, "{name}");
        assert_eq!(feed.items.len(), items, "{name}: {:#?}", feed.items);
        assert_eq!(feed.errors.len(), errors, "{name}: {:?}", feed.errors);
        for item in &feed.items {
            assert_eq!(item.source, name);
            assert!(item.id.len() == 34, "{name}: id {}", item.id);
            assert!(
                !item.title.contains('<') && !item.summary.contains("<p>"),
                "{name}: {item:?}"
            );
        }
    }
}

#[test]
fn rss_fields() {
    let feed = parse("rss_yahoo.xml");
    let a = by_title(&feed, "Apple services");
    assert_eq!(a.published_at, Some(T));
    assert_eq!(
        a.guid.as_deref(),
        Some("3f0a1c2e-6b1d-3c9b-a0e2-7d4b1e9c5a11")
    );
    assert!(a.summary.contains("company's services"), "{}", a.summary);
    assert!(a.id.starts_with("g:"));
    let m = by_title(&feed, "Microsoft");
    assert!(m.summary.starts_with("Microsoft’s cloud"), "{}", m.summary);

    let feed = parse("rss_reuters.xml");
    let b = by_title(&feed, "lenders sue");
    assert_eq!(b.title, "Bankrupt retailer's lenders sue over asset sale");
    assert_eq!(b.published_at, Some(T));
    assert_eq!(b.summary, "Lenders to the bankrupt retailer filed a lawsuit on Tuesday, saying the asset sale undervalued the company.");
    let fed = by_title(&feed, "Fed holds");
    assert_eq!(fed.published_at, Some(T + 4 * 3600 + 1800));
    assert_eq!(
        fed.summary,
        "The Federal Reserve held interest rates steady on Tuesday. Markets were little changed."
    );
    assert!(fed.guid.is_none() && fed.id.starts_with("u:"));
    let oil = by_title(&feed, "Oil");
    assert_eq!(oil.published_at, Some(1_730_767_500)); // 2024-11-05T00:45:00Z

    let feed = parse("rss_nasdaq.xml");
    let n = by_title(&feed, "Nvidia");
    assert_eq!(
        n.summary,
        "Nvidia (NVDA) has outperformed the market this year…"
    );
    assert_eq!(n.published_at, Some(1_730_811_600));
    let sp = by_title(&feed, "S&P 500");
    assert_eq!(sp.title, "Is the S&P 500 Overvalued? What History Says");
}

#[test]
fn atom_fields() {
    let feed = parse("atom_github.xml");
    let v2 = by_title(&feed, "v2.0.0");
    assert_eq!(v2.title, "v2.0.0 – breaking changes");
    assert_eq!(
        v2.url.as_deref(),
        Some("https://github.com/example/marketdata/releases/tag/v2.0.0")
    );
    assert_eq!(v2.summary, "Dropped Python 2 support.");
    let v21 = by_title(&feed, "v2.1.0");
    assert_eq!(v21.summary, "What's Changed Faster parsing by @dev");
    assert_eq!(v21.published_at, Some(T));

    let feed = parse("atom_sec_edgar.xml");
    let apple = by_title(&feed, "Apple Inc.");
    assert_eq!(apple.published_at, Some(1_730_842_212));
    assert!(
        apple.summary.starts_with("Filed: 2024-11-05 AccNo:"),
        "{}",
        apple.summary
    );
    let msft = by_title(&feed, "Microsoft");
    // Relative href and relative feed link: no absolute base, so the link stays as written.
    assert_eq!(
        msft.url.as_deref(),
        Some("/Archives/edgar/data/789019/000095017024118967/0000950170-24-118967-index.htm")
    );
    // With the document's URL as the source name, it resolves.
    let feed = parse_feed(
        &fixture("atom_sec_edgar.xml"),
        "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&output=atom",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let msft = by_title(&feed, "Microsoft");
    assert_eq!(
        msft.url.as_deref(),
        Some("https://www.sec.gov/Archives/edgar/data/789019/000095017024118967/0000950170-24-118967-index.htm")
    );
}

#[test]
fn json_fields() {
    let feed = parse("jsonfeed.json");
    let a = by_title(&feed, "Apple beats");
    assert_eq!(a.published_at, Some(T + 5 * 3600));
    assert_eq!(
        a.summary,
        "Apple beat expectations as services revenue hit a record."
    );
    let chips = by_title(&feed, "Chipmakers");
    assert_eq!(
        chips.url.as_deref(),
        Some("https://marketwire.example.com/2024/11/05/chipmakers-slide")
    );
    let ms = by_title(&feed, "AI bet");
    assert_eq!(ms.title, "Microsoft’s AI bet: not without risk");
    assert_eq!(ms.guid.as_deref(), Some("3"));
    assert_eq!(
        ms.url.as_deref(),
        Some("https://other.example.org/analysis/microsoft-ai")
    );
    assert_eq!(ms.published_at, None);
    assert_eq!(feed.errors[0].index, 3);

    let feed = parse("alphavantage.json");
    let a = by_title(&feed, "Apple Stock");
    assert_eq!(a.published_at, Some(T));
    assert_eq!(a.tickers, ["AAPL", "MSFT"]);
    let n = by_title(&feed, "Nvidia");
    assert_eq!(n.tickers, ["CRYPTO:BTC", "NVDA"]);
    assert_eq!(feed.errors[0].index, 2);
    assert!(
        feed.errors[0].message.contains("time_published"),
        "{}",
        feed.errors[0].message
    );
}

#[test]
fn provider_errors_and_non_feeds() {
    let kind = |e: &FeedError| match e {
        FeedError::ProviderError(_) => "provider",
        FeedError::NotAFeed(_) => "not-a-feed",
        FeedError::Malformed(_) => "malformed",
    };
    let table = [
        ("alphavantage_note.json", "provider", "5 calls per minute"),
        ("alphavantage_information.json", "provider", "premium"),
        ("alphavantage_error.json", "provider", "Invalid API call"),
        ("not_a_feed.html", "not-a-feed", "<html>"),
        ("not_a_feed.json", "not-a-feed", "neither"),
        ("truncated.json", "malformed", "line"),
    ];
    for (name, want_kind, needle) in table {
        match parse_feed(&fixture(name), name) {
            Err(e) => {
                assert_eq!(kind(&e), want_kind, "{name}: {e:?}");
                assert!(e.to_string().contains(needle), "{name}: {e}");
                assert!(
                    !e.to_string().contains("SECRETKEY123"),
                    "{name} leaks the key: {e}"
                );
            }
            Ok(f) => panic!("{name} parsed: {f:?}"),
        }
    }
    let ext = parse_feed(&fixture("alphavantage_note.json"), "av")
        .err()
        .map(|e| e.to_module_error("av"));
    assert_eq!(ext.map(|e| e.class()), Some("ExternalServiceError"));
    for (bytes, needle) in [
        (&b""[..], "empty"),
        (b"hello world", "expected XML or JSON"),
        (b"<?xml version=\"1.0\"?>", "no root"),
    ] {
        let e = parse_feed(bytes, "x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(needle), "{bytes:?}: {e}");
    }
}

#[test]
fn messy_feeds() {
    let feed = parse("nasty_cdata_html.xml");
    let a = by_title(&feed, "iPhone");
    assert_eq!(a.title, "Apple’s iPhone sales & margins beat estimates");
    assert_eq!(
        a.summary,
        "Apple’s quarter was strong. Analysts cheered – again."
    );
    let ev = by_title(&feed, "Tesla");
    assert_eq!(ev.title, "Tesla & Ford: EV price war — who wins?");
    assert_eq!(
        ev.summary,
        "Unescaped HTML with an unclosed br inside the description © 2024"
    );
    assert!(
        feed.errors[0].message.contains("no title"),
        "{:?}",
        feed.errors
    );

    let feed = parse("nasty_cp1252.xml");
    let sg = &feed.items[0];
    assert_eq!(
        sg.title,
        "“Record” quarter for Société Générale – shares up 5 %"
    );
    assert_eq!(sg.summary, "Profit €1.2bn — analysts’ estimates beaten.");
    assert_eq!(sg.published_at, Some(T - 6 * 3600 - 1800 - 3600));

    let feed = parse("nasty_missing_dates.xml");
    assert_eq!(by_title(&feed, "No date").published_at, None);
    assert!(by_title(&feed, "No date").id.starts_with("u:"));
    assert_eq!(by_title(&feed, "Two-digit").published_at, Some(T));
    assert_eq!(by_title(&feed, "without zone").published_at, Some(T));
    assert_eq!(by_title(&feed, "Empty date").published_at, None);
    let err = &feed.errors[0];
    assert_eq!(err.index, 3);
    assert!(
        err.message.contains("the fifth of November")
            && err.message.contains("pubDate")
            && err.message.contains("line"),
        "{err}"
    );

    let feed = parse("nasty_relative_links.xml");
    let urls: Vec<&str> = feed.items.iter().filter_map(|i| i.url.as_deref()).collect();
    assert_eq!(
        urls,
        [
            "https://news.example.com/story/1",
            "https://news.example.com/markets/story/2",
            "https://cdn.example.net/story/3",
            "https://news.example.com/story/4",
        ]
    );

    let feed = parse("rdf_rss10.xml");
    let m = by_title(&feed, "Microsoft");
    assert_eq!(
        (m.published_at, m.guid.as_deref()),
        (Some(T), Some("https://rdf.example.com/1"))
    );
    assert_eq!(
        by_title(&feed, "Second").url.as_deref(),
        Some("https://rdf.example.com/2")
    );
}

#[test]
fn broken_documents_keep_items_before_the_break() {
    let feed = parse("broken_truncated.xml");
    let titles: Vec<&str> = feed.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["First complete item", "Second complete item"]);
    assert_eq!(feed.errors[0].index, 2);
    assert!(
        feed.errors[0].message.contains("truncated"),
        "{}",
        feed.errors[0]
    );

    let feed = parse("broken_syntax.xml");
    assert_eq!(feed.items[0].title, "Good item before the break");
    assert!(
        feed.errors[0].message.contains("XML error at line"),
        "{}",
        feed.errors[0]
    );
}

/// A small deterministic generator so the sweep is reproducible without a dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn never_panics_on_truncations_and_garbage() {
    let names = [
        "rss_yahoo.xml",
        "rss_reuters.xml",
        "rss_nasdaq.xml",
        "atom_github.xml",
        "atom_sec_edgar.xml",
        "jsonfeed.json",
        "alphavantage.json",
        "nasty_cdata_html.xml",
        "nasty_cp1252.xml",
        "nasty_missing_dates.xml",
        "nasty_relative_links.xml",
        "rdf_rss10.xml",
        "broken_syntax.xml",
    ];
    let mut rng = Lcg(42);
    let mut runs = 0;
    for name in names {
        let doc = fixture(name);
        // Every truncation point (step keeps the sweep fast on the larger fixtures).
        let step = (doc.len() / 400).max(1);
        for cut in (0..doc.len()).step_by(step) {
            let _ = parse_feed(&doc[..cut], name);
            runs += 1;
        }
        // Random byte corruption, insertion of markup characters, and deletions.
        for _ in 0..300 {
            let mut d = doc.clone();
            for _ in 0..(1 + rng.next() % 8) {
                let at = (rng.next() as usize) % d.len().max(1);
                match rng.next() % 4 {
                    0 => {
                        let i = at.min(d.len() - 1);
                        d[i] = rng.next() as u8;
                    }
                    1 => d.insert(at, b"<>&;\"'/]$!"[(rng.next() % 10) as usize]),
                    2 => {
                        if at < d.len() {
                            d.remove(at);
                        }
                    }
                    _ => {
                        let end = (at + (rng.next() % 64) as usize).min(d.len());
                        d.drain(at..end);
                    }
                }
                if d.is_empty() {
                    break;
                }
            }
            if let Ok(feed) = parse_feed(&d, name) {
                for item in feed.items {
                    assert!(!item.id.is_empty());
                }
            }
            runs += 1;
        }
    }
    assert!(runs > 5000, "{runs}");
}

fn doc(xml: &str) -> ParsedFeed {
    parse_feed(xml.as_bytes(), "https://src.example/feed").unwrap_or_else(|e| panic!("{e}: {xml}"))
}

#[test]
fn xml_reader_rules() {
    // A prefix bound inside an item holds only there; the next item's `x:title` is unknown.
    let f = doc(r#"<rss><channel>
        <item xmlns:x="http://purl.org/dc/elements/1.1/"><x:title>Scoped</x:title></item>
        <item><x:title>Unbound</x:title><link>/2</link></item></channel></rss>"#);
    assert_eq!(f.items[0].title, "Scoped");
    assert_eq!(f.items[1].title, "");
    // An end tag closes back to its element: the item is complete, its fields kept.
    let f = doc(
        "<rss><channel><item><title>Closed by channel</title><description>a<b>b</channel></rss>",
    );
    assert_eq!((f.items.len(), f.errors.len()), (1, 0), "{:?}", f.errors);
    assert_eq!(f.items[0].summary, "ab");
    // xml:base chains root -> channel -> item; the channel link is the fallback.
    let f = doc(
        r#"<rss xml:base="https://a.example/r/"><channel xml:base="c/">
        <link>https://chan.example/</link>
        <item xml:base="i/"><title>t</title><link>x</link></item>
        <item><title>u</title><link>y</link></item></channel></rss>"#,
    );
    let urls: Vec<_> = f.items.iter().filter_map(|i| i.url.as_deref()).collect();
    assert_eq!(
        urls,
        ["https://a.example/r/c/i/x", "https://a.example/r/c/y"]
    );
    // Atom text constructs follow their type; the first non-empty summary-like element wins.
    let f = doc(r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry>
        <title type="text">AT&amp;T &lt;b&gt;up&lt;/b&gt;</title>
        <summary type="html">  </summary>
        <content type="html">&lt;p&gt;Body &amp;amp; more&lt;/p&gt;</content>
        <link rel="self" href="/self"/><link rel="alternate" type="text/html" href="/page"/>
        </entry></feed>"#);
    let e = &f.items[0];
    assert_eq!(e.title, "AT&T <b>up</b>");
    assert_eq!(e.summary, "Body & more");
    assert_eq!(e.url.as_deref(), Some("https://src.example/page"));
    // RSS 1.0 items beside the channel, dc:date, rdf:about as the guid.
    let f = doc(
        r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
        xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
        <channel rdf:about="https://r.example/"><link>https://r.example/</link></channel>
        <item rdf:about="https://r.example/1"><title>One</title><dc:date>2024-11-05T14:30:00Z</dc:date></item>
        </rdf:RDF>"#,
    );
    assert_eq!(f.items[0].guid.as_deref(), Some("https://r.example/1"));
    assert_eq!(f.items[0].published_at, Some(T));
    // Feeds hide their text in other elements too (feedparser's precedence).
    let f = doc(r#"<rss xmlns:media="http://search.yahoo.com/mrss/"
        xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
        <item><media:group><media:title>Grouped</media:title><media:description>G desc</media:description></media:group></item>
        <item><itunes:summary>Podcast summary</itunes:summary><media:title>Direct</media:title></item>
        <item><body xmlns="http://www.w3.org/1999/xhtml"><p>5 &lt; 6</p></body></item>
        </channel></rss>"#);
    let got: Vec<(&str, &str)> = f
        .items
        .iter()
        .map(|i| (i.title.as_str(), i.summary.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Grouped", "G desc"),
            ("Direct", "Podcast summary"),
            ("", "5 < 6")
        ]
    );
    // XML character references are resolved in XML (`&#38;` is an ampersand), HTML ones later.
    let f = doc("<rss><channel><item><title>&#38;amp; &#146;q&#x2019; &amp;nbsp;x</title></item></channel></rss>");
    assert_eq!(f.items[0].title, "& ’q’ x");
}
