//! Hostile bar and fundamentals documents: every parser of aivex-market (CSV bars, Binance
//! klines, fundamentals CSV, SEC companyfacts) is linear in time and bounded in memory on
//! adversarial shapes (many tiny or bad rows, long lines, wide headers, huge numbers, deep
//! JSON, junk items), fed at 1, 2, 4 and 8 MiB (see the news crate's tests/support/scaling.rs,
//! shared here, for what is compared), plus the exact outcomes of the error cap.

#[path = "../../news/tests/support/scaling.rs"]
mod scaling;

use aivex_market::{
    default_concepts, parse_bars, parse_companyfacts, parse_fundamentals_csv, Position, MAX_ERRORS,
};
use scaling::{check, repeat, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

fn bars(bytes: &[u8]) -> usize {
    parse_bars(bytes, "hostile.csv").map_or(0, |p| p.bars.len() + p.errors.len())
}

fn fundamentals(bytes: &[u8]) -> usize {
    parse_fundamentals_csv(bytes, "f.csv").map_or(0, |p| p.records.len() + p.errors.len())
}

fn facts(bytes: &[u8]) -> usize {
    parse_companyfacts(bytes, "cf.json", "X", &default_concepts())
        .map_or(0, |p| p.records.len() + p.errors.len())
}

/// `Date,Open,High,Low,Close,Volume` rows with distinct unix times, ascending or descending.
fn distinct_rows(n: usize, descending: bool) -> Vec<u8> {
    let mut s = String::from("Date,Open,High,Low,Close,Volume\n");
    let count = n / 28;
    for i in 0..count {
        let t = if descending { count - i } else { i };
        s.push_str(&format!("{},1.5,2.5,1,2,500\n", 1_600_000_000 + t));
    }
    s.into_bytes()
}

const CSV_HEAD: &str = "Date,Open,High,Low,Close,Volume\n";

#[test]
fn csv_bars_are_linear() {
    // The shortest bars there are: 64-byte bars from 10-byte rows.
    check(
        "csv: tiny rows, one timestamp",
        16,
        |n| repeat("Date,Open,High,Low,Close\n", "1,1,1,1,1\n", "", n),
        bars,
    );
    check("csv: sorted bars", 8, |n| distinct_rows(n, false), bars);
    check(
        "csv: bars in reverse order",
        8,
        |n| distinct_rows(n, true),
        bars,
    );
    check("csv: bad rows", 8, |n| repeat(CSV_HEAD, "x\n", "", n), bars);
    check(
        "csv: bad numbers",
        8,
        |n| repeat(CSV_HEAD, "1,a,b,c,d,e\n", "", n),
        bars,
    );
    check(
        "csv: blank lines",
        8,
        |n| repeat(CSV_HEAD, "\n", "1,1,1,1,1,1\n", n),
        bars,
    );
    check(
        "csv: one long field",
        8,
        |n| repeat(CSV_HEAD, "9", ",1,1,1,1,1\n", n),
        bars,
    );
    check(
        "csv: wide header",
        8,
        |n| repeat("Date,Open,High,Low,Close", ",x", "\n", n),
        bars,
    );
    check(
        "csv: huge numbers",
        8,
        |n| {
            let unit = format!("1,{0},{0},1,1,1\n", "9".repeat(2000));
            repeat(CSV_HEAD, &unit, "", n)
        },
        bars,
    );
    check(
        "csv: an unclosed quote",
        8,
        |n| repeat(CSV_HEAD, "\"a,", "", n),
        bars,
    );
}

#[test]
fn klines_are_linear() {
    check(
        "klines: same open time",
        16,
        |n| {
            repeat(
                "[",
                "[0,\"1\",\"2\",\"1\",\"2\",\"5\"],",
                "[0,1,1,1,1,1]]",
                n,
            )
        },
        bars,
    );
    check(
        "klines: junk items",
        8,
        |n| repeat("[", "1,", "1]", n),
        bars,
    );
    check(
        "klines: objects as items",
        8,
        |n| repeat("[", "{\"a\":[1]},", "1]", n),
        bars,
    );
    check(
        "klines: short klines",
        8,
        |n| repeat("[", "[0,1],", "[]]", n),
        bars,
    );
    check(
        "klines: one long kline",
        8,
        |n| repeat("[[0,1,1,1,1,1", ",0", "]]", n),
        bars,
    );
    check("klines: deep arrays", 8, |n| repeat("", "[", "", n), bars);
    check(
        "klines: huge number strings",
        8,
        |n| repeat("[[0,\"", "1", "\",1,1,1,1]]", n),
        bars,
    );
    check(
        "klines: huge provider message",
        8,
        |n| repeat("{\"code\":1,\"msg\":\"", "x", "\"}", n),
        bars,
    );
}

#[test]
fn fundamentals_are_linear() {
    const HEAD: &str = "symbol,metric,period_end,value\n";
    // Each record holds six strings for a 17-byte row.
    check(
        "fundamentals csv: tiny rows",
        24,
        |n| repeat(HEAD, "A,m,2024-01-01,1\n", "", n),
        fundamentals,
    );
    check(
        "fundamentals csv: bad rows",
        8,
        |n| repeat(HEAD, "A,m,x,1\n", "", n),
        fundamentals,
    );
    check(
        "fundamentals csv: one long value",
        8,
        |n| repeat(HEAD, "1", "\n", n),
        fundamentals,
    );
    let gaap =
        |inner: &'static str| move |n| repeat("{\"facts\":{\"us-gaap\":{", inner, "\"Z\":{}}}}", n);
    check(
        "companyfacts: facts of one period",
        8,
        |n| {
            repeat(
                "{\"facts\":{\"us-gaap\":{\"Revenues\":{\"units\":{\"USD\":[",
                "{\"end\":\"2024-01-01\",\"val\":1,\"filed\":\"2024-02-01\"},",
                "{}]}}}}}",
                n,
            )
        },
        facts,
    );
    check(
        "companyfacts: bad facts",
        8,
        |n| {
            repeat(
                "{\"facts\":{\"us-gaap\":{\"Revenues\":{\"units\":{\"USD\":[",
                "{\"end\":\"x\"},",
                "{}]}}}}}",
                n,
            )
        },
        facts,
    );
    check(
        "companyfacts: unwanted concepts",
        8,
        gaap("\"Other\":{\"units\":{\"USD\":[1]}},"),
        facts,
    );
    check(
        "companyfacts: many units",
        8,
        |n| {
            repeat(
                "{\"facts\":{\"us-gaap\":{\"Revenues\":{\"units\":{",
                "\"ZZ\":[1],",
                "\"USD\":[]}}}}}",
                n,
            )
        },
        facts,
    );
    check(
        "companyfacts: deep arrays",
        8,
        |n| repeat("{\"facts\":", "[", "", n),
        facts,
    );
}

#[test]
fn errors_are_capped_and_the_last_bad_line_stays_listed() {
    let mut doc = String::from(CSV_HEAD);
    for _ in 0..2500 {
        doc.push_str("x\n");
    }
    doc.push_str("2024-01-02,1,2,1,2,5\nlast,bad\n");
    let p = parse_bars(doc.as_bytes(), "cap.csv").unwrap();
    assert_eq!(p.bars.len(), 1);
    assert_eq!(p.errors.len(), MAX_ERRORS);
    assert_eq!(p.omitted_errors, 2501 - MAX_ERRORS);
    assert_eq!(
        p.errors.first().map(|e| e.at.clone()),
        Some(Position::Line(2))
    );
    // The chart module checks whether a document's last line was bad.
    assert_eq!(
        p.errors.last().map(|e| e.at.clone()),
        Some(Position::Line(2503))
    );
    // A bad value is quoted short in its message.
    let doc = format!("{CSV_HEAD}2024-01-02,1,2,1,{},5\n", "9x".repeat(50_000));
    let p = parse_bars(doc.as_bytes(), "q.csv").unwrap();
    assert!(p.errors[0].message.len() < 200, "{}", p.errors[0].message);
    let facts = format!(
        "{{\"facts\":{{\"us-gaap\":{{\"Revenues\":{{\"units\":{{\"USD\":[{}{{}}]}}}}}}}}}}",
        "{\"end\":\"x\"},".repeat(1500)
    );
    let p = parse_companyfacts(facts.as_bytes(), "cf.json", "X", &default_concepts()).unwrap();
    assert_eq!(
        (p.errors.len(), p.omitted_errors),
        (MAX_ERRORS, 1501 - MAX_ERRORS)
    );
}
