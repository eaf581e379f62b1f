//! Hostile feeds and text: every parser of aivex-news is linear in time and bounded in memory
//! on adversarial shapes (deep nesting, entity floods, tag floods, long lines, many bad items,
//! huge values), fed at 1, 2, 4 and 8 MiB (see support/scaling.rs for what is compared), plus
//! the exact outcomes for the shapes that once broke the news module (stack overflow on deep
//! nesting, quadratic entity and script handling, a base copied per element).

#[path = "support/scaling.rs"]
mod scaling;

use aivex_news::{
    canonical_url, clean_html, parse_date, parse_feed, resolve_url, score_item, Lexicon,
    TickerMatcher, MAX_DEPTH,
};
use scaling::{check, repeat, Counting};
use std::collections::BTreeMap;

#[global_allocator]
static ALLOC: Counting = Counting;

const RSS_HEAD: &str = "<rss version=\"2.0\"><channel><link>https://h.example/</link>";
const RSS_TAIL: &str = "</channel></rss>";

/// One item whose description (CDATA HTML) is `unit` repeated.
fn description(unit: &'static str) -> impl Fn(usize) -> Vec<u8> {
    move |n| {
        repeat(
            "<rss><channel><item><title>t</title><description><![CDATA[",
            unit,
            "]]></description></item></channel></rss>",
            n,
        )
    }
}

fn feed(bytes: &[u8]) -> usize {
    match parse_feed(bytes, "https://h.example/feed.xml") {
        Ok(f) => f.items.len() + f.errors.len(),
        Err(_) => 0,
    }
}

#[test]
fn xml_nesting_and_tags_are_linear() {
    // Deep nesting (cut at MAX_DEPTH), nesting up to the cap again and again, unclosed and
    // unmatched tags, and a tag flood inside a field.
    check(
        "xml: 100k-deep nesting",
        8,
        |n| repeat("<rss><channel><item>", "<a>", "", n),
        feed,
    );
    check(
        "xml: nesting to 500, repeated",
        8,
        |n| {
            let unit = format!("{}{}", "<b>".repeat(500), "</b>".repeat(500));
            repeat(
                "<rss><channel><item><title>",
                &unit,
                "</title></item></channel></rss>",
                n,
            )
        },
        feed,
    );
    check(
        "xml: unclosed <p> in a description",
        8,
        |n| {
            repeat(
                "<rss><channel><item><description>",
                "<p>x",
                "</description></item></channel></rss>",
                n,
            )
        },
        feed,
    );
    check(
        "xml: unmatched end tags under 500 open elements",
        8,
        |n| {
            let head = format!("<rss><channel><item><title>{}", "<b>".repeat(500));
            repeat(&head, "</zz>", "", n)
        },
        feed,
    );
    check(
        "xml: tags in a title",
        8,
        |n| {
            repeat(
                "<rss><channel><item><title>",
                "<b>x</b>",
                "</title></item></channel></rss>",
                n,
            )
        },
        feed,
    );
    check(
        "xml: unknown elements in the channel",
        8,
        |n| repeat(RSS_HEAD, "<x a='1'/>", RSS_TAIL, n),
        feed,
    );
    check(
        "xml: attribute flood",
        8,
        |n| repeat("<rss><channel><item ", "a=\"1\" ", "/></channel></rss>", n),
        feed,
    );
    check(
        "xml: namespace declarations",
        8,
        |n| {
            repeat(
                "<rss><channel><item>",
                "<x:a xmlns:x='urn:x'/>",
                "</item></channel></rss>",
                n,
            )
        },
        feed,
    );
    check(
        "xml: comments",
        8,
        |n| repeat(RSS_HEAD, "<!-- c -->", RSS_TAIL, n),
        feed,
    );
}

#[test]
fn xml_items_and_errors_are_linear() {
    check(
        "xml: small items",
        16,
        |n| repeat(RSS_HEAD, "<item><title>x</title></item>", RSS_TAIL, n),
        feed,
    );
    check(
        "xml: empty items (all bad)",
        8,
        |n| repeat(RSS_HEAD, "<item/>", RSS_TAIL, n),
        feed,
    );
    check(
        "xml: bad dates on many lines",
        8,
        |n| {
            repeat(
                RSS_HEAD,
                "<item>\n<title>x</title>\n<pubDate>soon</pubDate>\n</item>\n",
                RSS_TAIL,
                n,
            )
        },
        feed,
    );
    check(
        "xml: links on items",
        16,
        |n| {
            repeat(
                RSS_HEAD,
                "<item><link>/a/../b/./c?utm_source=x&amp;b=2</link></item>",
                RSS_TAIL,
                n,
            )
        },
        feed,
    );
    check(
        "xml: a huge xml:base and empty elements",
        8,
        |n| {
            let head = format!(
                "<rss xml:base=\"https://h.example/{}\"><channel>",
                "a".repeat(n / 2)
            );
            repeat(&head, "<item xml:base='x'/>", RSS_TAIL, n)
        },
        feed,
    );
    check(
        "xml: one huge title",
        8,
        |n| {
            repeat(
                "<rss><channel><item><title>",
                "word ",
                "</title></item></channel></rss>",
                n,
            )
        },
        feed,
    );
    check(
        "xml: windows-1252 bytes",
        16, // every byte becomes a 3-byte UTF-8 character first
        |n| {
            let mut v = repeat(
                "<rss><channel><item><title>",
                "xx",
                "</title></item></channel></rss>",
                n,
            );
            for b in v.iter_mut().filter(|b| **b == b'x') {
                *b = 0x93;
            }
            v
        },
        feed,
    );
    check(
        "atom: entries with xhtml content",
        16,
        |n| {
            repeat(
                "<feed xmlns='http://www.w3.org/2005/Atom'>",
                "<entry><content type='xhtml'><div>a &lt; b</div></content></entry>",
                "</feed>",
                n,
            )
        },
        feed,
    );
}

#[test]
fn html_text_is_linear() {
    let text = |bytes: &[u8]| clean_html(std::str::from_utf8(bytes).unwrap_or(""));
    check("text: & flood", 8, |n| repeat("", "&", "", n), text);
    check("text: &amp; flood", 8, |n| repeat("", "&amp;", "", n), text);
    check("text: &# flood", 8, |n| repeat("", "&#", "", n), text);
    check(
        "text: <script> tags",
        8,
        |n| repeat("", "<script>a</script>", "", n),
        text,
    );
    check(
        "text: unclosed <script> tags",
        8,
        |n| repeat("", "<SCRIPT>", "", n),
        text,
    );
    check(
        "text: tag flood",
        8,
        |n| repeat("", "<b>x</b>", "", n),
        text,
    );
    check(
        "text: unterminated tag",
        8,
        |n| repeat("<a ", "x", "", n),
        text,
    );
    check(
        "text: comment openers",
        8,
        |n| repeat("", "<!--", "", n),
        text,
    );
    check("text: stray <", 8, |n| repeat("", "< ", "", n), text);
    // Through the feed path too: entities in an item's description.
    check("xml: & flood in a description", 8, description("&"), feed);
    check(
        "xml: <script> tags in a description",
        8,
        description("<script>x</script>"),
        feed,
    );
}

#[test]
fn json_feeds_are_linear() {
    check(
        "jsonfeed: small items",
        16,
        |n| repeat("{\"items\":[", "{\"title\":\"x\"},", "{}]}", n),
        feed,
    );
    check(
        "jsonfeed: empty items (all bad)",
        8,
        |n| repeat("{\"items\":[", "{},", "{}]}", n),
        feed,
    );
    check(
        "jsonfeed: numbers as items",
        8,
        |n| repeat("{\"items\":[", "1,", "1]}", n),
        feed,
    );
    check(
        "jsonfeed: keys in one item",
        8,
        |n| repeat("{\"items\":[{", "\"k\":1,", "\"title\":\"x\"}]}", n),
        feed,
    );
    check(
        "jsonfeed: deep arrays",
        8,
        |n| repeat("{\"items\":", "[", "", n),
        feed,
    );
    check(
        "jsonfeed: one huge title",
        8,
        |n| repeat("{\"items\":[{\"title\":\"", "x &amp; y ", "\"}]}", n),
        feed,
    );
    check(
        "jsonfeed: items after a huge home page",
        8,
        |n| {
            let head = format!(
                "{{\"home_page_url\":\"https://h.example/{}\",\"items\":[",
                "a".repeat(n / 2)
            );
            repeat(&head, "{\"url\":\"x\"},", "{}]}", n)
        },
        feed,
    );
    check(
        "alphavantage: tickers",
        8,
        |n| {
            repeat(
                "{\"feed\":[{\"title\":\"x\",\"ticker_sentiment\":[",
                "{\"ticker\":\"A\"},",
                "{}]}]}",
                n,
            )
        },
        feed,
    );
    check(
        "alphavantage: provider note",
        8,
        |n| repeat("{\"Note\":\"", "apikey=X ", "\"}", n),
        feed,
    );
}

#[test]
fn dates_urls_sentiment_and_tickers_are_linear() {
    let date = |bytes: &[u8]| parse_date(std::str::from_utf8(bytes).unwrap_or(""));
    check("date: digits", 8, |n| repeat("", "1", "", n), date);
    check(
        "date: fraction",
        8,
        |n| repeat("2024-11-05T14:30:00.", "1", "Z", n),
        date,
    );
    check(
        "date: zone",
        8,
        |n| repeat("2024-11-05T14:30:00+", "0", "", n),
        date,
    );
    check(
        "date: words",
        8,
        |n| repeat("Tue, 05 Nov 2024 14:30:00 GMT ", "(x) ", "", n),
        date,
    );
    let url = |bytes: &[u8]| {
        let s = std::str::from_utf8(bytes).unwrap_or("");
        (canonical_url(s), resolve_url("https://h.example/a/b", s))
    };
    check(
        "url: query parameters",
        8,
        |n| repeat("https://h.example/?", "utm_a=1&b=2&", "", n),
        url,
    );
    check("url: dot segments", 8, |n| repeat("", "../", "x", n), url);
    let lex = Lexicon::builtin();
    let sentiment = |bytes: &[u8]| {
        let s = std::str::from_utf8(bytes).unwrap_or("");
        score_item(s, s, &lex)
    };
    check(
        "sentiment: negations and boosters",
        32,
        |n| repeat("", "not very good but ", "", n),
        sentiment,
    );
    let mut symbols = BTreeMap::new();
    symbols.insert("AAPL".to_string(), vec!["Apple".to_string()]);
    let matcher = TickerMatcher::new(&symbols);
    let tickers = |bytes: &[u8]| matcher.extract(std::str::from_utf8(bytes).unwrap_or(""));
    check(
        "tickers: cashtags",
        8,
        |n| repeat("", "$AAPL $X ", "", n),
        tickers,
    );
    check(
        "tickers: near-miss aliases",
        8,
        |n| repeat("", "applepie ", "", n),
        tickers,
    );
}

#[test]
fn deep_nesting_is_a_bad_item_not_a_crash() {
    // 100k nested elements in 300 KB overflowed the stack when the element tree was walked or
    // dropped recursively; now the read stops at MAX_DEPTH with the line, keeping the items
    // completed before it.
    let doc = format!(
        "<rss><channel>\n<item><title>Good item</title></item>\n<item><description>{}",
        "<a>".repeat(100_000)
    );
    let feed = parse_feed(doc.as_bytes(), "deep.xml").expect("a feed with one good item");
    assert_eq!(feed.items.len(), 1);
    assert_eq!(feed.items[0].title, "Good item");
    assert_eq!(feed.errors.len(), 1, "{:?}", feed.errors);
    let msg = &feed.errors[0].message;
    assert!(
        msg.contains(&format!("deeper than {MAX_DEPTH} levels at line 3")),
        "{msg}"
    );
    // Unclosed void elements do not count as nesting.
    let doc = format!(
        "<rss><channel><item><title>Br</title><description>a{}b</description></item></channel></rss>",
        "<br>".repeat(5 * MAX_DEPTH)
    );
    let feed = parse_feed(doc.as_bytes(), "br.xml").unwrap();
    assert_eq!(
        (feed.items.len(), feed.errors.len()),
        (1, 0),
        "{:?}",
        feed.errors
    );
    assert_eq!(feed.items[0].summary, "a b");
}

#[test]
fn caps_on_titles_links_bases_and_errors() {
    let long = "x".repeat(3000);
    let doc = format!(
        "<rss xml:base=\"https://h.example/{long}/\"><channel>{}\
         <item><title>{long}</title><link>https://h.example/{long}</link></item></channel></rss>",
        "<item/>".repeat(1500)
    );
    let feed = parse_feed(doc.as_bytes(), "caps.xml").unwrap();
    assert_eq!(feed.items.len(), 1);
    let item = &feed.items[0];
    assert_eq!(item.title.chars().count(), aivex_news::MAX_TITLE_CHARS);
    assert_eq!(item.url, None, "a link over 2048 characters is dropped");
    assert_eq!(feed.errors.len(), aivex_news::MAX_ERRORS);
    assert_eq!(feed.omitted_errors, 1500 - aivex_news::MAX_ERRORS);
    // The latest bad item stays listed (the chart module relies on that for bars).
    assert_eq!(feed.errors.last().map(|e| e.index), Some(1499));
    // A bad value is quoted short in its message.
    let doc = format!(
        "<rss><channel><item><title>t</title><pubDate>{}</pubDate></item></channel></rss>",
        "9".repeat(100_000)
    );
    let feed = parse_feed(doc.as_bytes(), "d.xml").unwrap();
    assert!(
        feed.errors[0].message.len() < 300,
        "{}",
        feed.errors[0].message
    );
}
