//! Benchmark: articles per second parsed, scored and ticker-extracted from a generated
//! 10,000-item RSS 2.0 feed (HTML descriptions, entities, CDATA, mixed date formats).
//!
//! Run: `cargo run --release -p aivex-news --example bench_parse [items] [runs]`.
//! Prints the median of several runs per stage. Measures only; asserts nothing.

use aivex_news::{parse_feed, score_item, Lexicon, TickerMatcher};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const HEADLINES: &[&str] = &[
    "Apple shares climb as iPhone preorders beat expectations",
    "Nvidia slips after report of delayed data-center shipments",
    "Microsoft wins multibillion-dollar cloud contract",
    "S&amp;P 500 ends lower as bond yields jump",
    "Analyst upgrades $AAPL to buy, citing services momentum",
    "Regulators open antitrust probe into chip bundling",
    "Stocks rally as inflation cools more than expected",
    "Company files for bankruptcy after lenders reject rescue plan",
];

fn generate(items: usize) -> String {
    let mut doc = String::with_capacity(items * 700);
    doc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n<title>Bench</title>\n<link>https://bench.example.com/</link>\n");
    for i in 0..items {
        let title = HEADLINES[i % HEADLINES.len()];
        let day = 1 + i % 28;
        let date = if i % 3 == 0 {
            format!(
                "<pubDate>Tue, {day:02} Oct 2026 14:{:02}:00 EST</pubDate>",
                i % 60
            )
        } else {
            format!(
                "<dc:date>2026-10-{day:02}T14:{:02}:00+00:00</dc:date>",
                i % 60
            )
        };
        doc.push_str(&format!(
            "<item>\n<title>{title} ({i})</title>\n<link>/news/2026/10/{day:02}/story-{i}?utm_source=rss&amp;id={i}</link>\n<guid isPermaLink=\"false\">bench-{i}</guid>\n{date}\n<description><![CDATA[<p>Shares of <b>Microsoft</b> and Nvidia&nbsp;moved after the report &#8212; analysts said results were <em>not bad</em> but guidance was cut. Apple&#8217;s outlook remains strong.</p>]]></description>\n</item>\n"
        ));
    }
    doc.push_str("</channel>\n</rss>\n");
    doc
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7).max(1);
    let doc = generate(items);
    let lex = Lexicon::builtin();
    let mut symbols = BTreeMap::new();
    for (s, a) in [
        ("AAPL", "Apple"),
        ("MSFT", "Microsoft"),
        ("NVDA", "Nvidia"),
        ("SPY", "S&P 500"),
    ] {
        symbols.insert(s.to_string(), vec![a.to_string()]);
    }
    let matcher = TickerMatcher::new(&symbols);

    let (mut parse_t, mut score_t, mut ticker_t, mut total_t) = (vec![], vec![], vec![], vec![]);
    let mut checksum = 0.0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let feed = match parse_feed(doc.as_bytes(), "bench") {
            Ok(f) => f,
            Err(e) => {
                eprintln!("bench feed did not parse: {e}");
                std::process::exit(1);
            }
        };
        let t1 = Instant::now();
        for item in &feed.items {
            checksum += score_item(&item.title, &item.summary, &lex).score;
        }
        let t2 = Instant::now();
        for item in &feed.items {
            checksum += matcher.extract(&item.title).len() as f64
                + matcher.extract(&item.summary).len() as f64;
        }
        let t3 = Instant::now();
        if feed.items.len() != items || !feed.errors.is_empty() {
            eprintln!(
                "expected {items} items, got {} and {} errors",
                feed.items.len(),
                feed.errors.len()
            );
            std::process::exit(1);
        }
        parse_t.push(t1 - t0);
        score_t.push(t2 - t1);
        ticker_t.push(t3 - t2);
        total_t.push(t3 - t0);
    }
    let rate = |d: Duration| items as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "items={items} runs={runs} feed_bytes={} (checksum {checksum:.1})",
        doc.len()
    );
    for (name, v) in [
        ("parse", parse_t),
        ("score", score_t),
        ("tickers", ticker_t),
        ("total", total_t),
    ] {
        let m = median(v);
        println!(
            "{name:8} median {:8.1} ms  {:10.0} articles/s",
            m.as_secs_f64() * 1000.0,
            rate(m)
        );
    }
}
