//! The records the store reads and writes, and the pure checks a record must pass before any
//! SQL runs.
//!
//! It owns the shape of every row type in the public API and the validation rules that give
//! both backends the same answer for bad input (a non-finite price, an empty key). It must
//! not do I/O: backends call `validate_*` and turn the error into `StoreError::InvalidValue`.

use crate::error::{Result, StoreError};

/// One OHLCV bar. `ts` is the bar's open time in Unix seconds UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub symbol: String,
    pub interval: String,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: f64,
    pub source: String,
}

/// The numbers of one stored bar, without its key strings: what `Store::recent_candles`
/// returns and `Store::upsert_series` takes (the type every layer shares, from aivex-core).
pub use aivex_core::Candle;

/// One bar as the backends write it: `Bar` or a series' `Candle` with borrowed key strings,
/// so a batch costs no allocation per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarRef<'a> {
    pub symbol: &'a str,
    pub interval: &'a str,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: f64,
    pub source: &'a str,
}

impl<'a> BarRef<'a> {
    pub(crate) fn of(b: &'a Bar) -> BarRef<'a> {
        BarRef {
            symbol: &b.symbol,
            interval: &b.interval,
            ts: b.ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            adj_close: b.adj_close,
            volume: b.volume,
            source: &b.source,
        }
    }

    pub(crate) fn series(symbol: &'a str, interval: &'a str, source: &'a str, c: &Candle) -> Self {
        BarRef {
            symbol,
            interval,
            ts: c.ts,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            adj_close: c.adj_close,
            volume: c.volume,
            source,
        }
    }
}

/// A news article with its NLP outputs. `id` is chosen by the caller (guid or a hash of the
/// canonical URL). `ingested_at` is kept from the first ingest: re-ingesting an unchanged
/// article changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: String,
    pub source: String,
    pub url: String,
    pub title: String,
    pub summary: String,
    pub published_at: Option<i64>,
    pub ingested_at: i64,
    pub sentiment: f64,
    /// `method@version`, e.g. `lexicon@1`.
    pub sentiment_method: String,
    pub tickers: Vec<String>,
}

/// One fundamentals fact. `period_end` and `filed` are 'YYYY-MM-DD'.
#[derive(Debug, Clone, PartialEq)]
pub struct Fundamental {
    pub symbol: String,
    pub metric: String,
    pub period_end: String,
    pub value: f64,
    pub unit: String,
    pub filed: String,
    pub source: String,
}

/// A per-symbol component score, one row per (symbol, kind), updated in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub symbol: String,
    /// 'chart', 'news' or 'metrics'.
    pub kind: String,
    pub value: f64,
    /// Timestamp of the newest input the value was computed from.
    pub as_of: i64,
    pub computed_at: i64,
    /// JSON text.
    pub detail: String,
}

/// A composite signal and the governor's decision on it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// Chosen by the caller, at most 64 characters.
    pub id: String,
    pub symbol: String,
    pub created_at: i64,
    /// -1, 0 or 1.
    pub direction: i32,
    pub score: f64,
    pub confidence: f64,
    pub horizon_s: i64,
    /// JSON text: each component's value, weight and input freshness.
    pub components_json: String,
    /// 'allow' or 'deny'.
    pub decision: String,
    pub reasons: String,
}

/// The governor's log line for one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorLogRecord {
    pub signal_id: String,
    pub symbol: String,
    pub decision: String,
    pub reason_codes: String,
    /// JSON text: every rule evaluated with its inputs.
    pub rules_json: String,
    pub config_hash: String,
    pub at: i64,
}

/// Feedback on a signal from one source; unique per (signal_id, source).
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub signal_id: String,
    pub source: String,
    pub outcome: String,
    pub realized_return: Option<f64>,
    pub horizon_s: Option<i64>,
    pub note: Option<String>,
    pub at: i64,
}

/// What an upsert batch did. `inserted + updated + unchanged` equals the batch length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl UpsertCounts {
    pub fn add(&mut self, other: UpsertCounts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Which signals `Store::signals_query` returns, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalFilter {
    pub symbol: Option<String>,
    /// created_at >= since.
    pub since: Option<i64>,
    /// created_at < until.
    pub until: Option<i64>,
    /// 'allow' or 'deny'.
    pub decision: Option<String>,
    pub min_confidence: Option<f64>,
    /// Only the newest matching signal of each symbol.
    pub latest_per_symbol: bool,
    pub limit: Option<usize>,
    /// Keyset cursor: only rows strictly older than this (created_at, id), in the
    /// (created_at DESC, id DESC) order.
    pub after: Option<(i64, String)>,
}

/// What `Store::migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this run, in order.
    pub applied: Vec<u32>,
    /// The schema version after the run.
    pub version: u32,
}

pub(crate) const COMPONENT_KINDS: [&str; 3] = ["chart", "news", "metrics"];
pub(crate) const DECISIONS: [&str; 2] = ["allow", "deny"];

fn invalid(what: &str, index: usize, field: &str, why: &str) -> StoreError {
    StoreError::InvalidValue(format!("{what} #{index}: field {field} {why}"))
}

fn non_empty(what: &str, i: usize, field: &str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() {
        return Err(invalid(what, i, field, "is empty"));
    }
    if v.chars().count() > max {
        return Err(invalid(
            what,
            i,
            field,
            &format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

fn finite(what: &str, i: usize, field: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(
            what,
            i,
            field,
            &format!("is not a finite number ({v})"),
        ))
    }
}

fn one_of(what: &str, i: usize, field: &str, v: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(invalid(
            what,
            i,
            field,
            &format!("is {v:?}, expected one of {allowed:?}"),
        ))
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Checks a bar; `i` is its position in the batch (for the error message).
pub(crate) fn validate_bar(i: usize, b: &BarRef<'_>) -> Result<()> {
    non_empty("bar", i, "symbol", b.symbol, 32)?;
    non_empty("bar", i, "interval", b.interval, 16)?;
    non_empty("bar", i, "source", b.source, 64)?;
    for (field, v) in [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
        ("volume", b.volume),
    ] {
        finite("bar", i, field, v)?;
    }
    if let Some(a) = b.adj_close {
        finite("bar", i, "adj_close", a)?;
    }
    Ok(())
}

pub(crate) fn validate_article(i: usize, a: &Article) -> Result<()> {
    non_empty("article", i, "id", &a.id, 128)?;
    non_empty("article", i, "source", &a.source, 128)?;
    non_empty("article", i, "sentiment_method", &a.sentiment_method, 64)?;
    if a.url.chars().count() > 2048 {
        return Err(invalid(
            "article",
            i,
            "url",
            "is longer than 2048 characters",
        ));
    }
    finite("article", i, "sentiment", a.sentiment)?;
    for t in &a.tickers {
        non_empty("article", i, "tickers", t, 32)?;
        if t.contains(',') {
            return Err(invalid(
                "article",
                i,
                "tickers",
                "holds a ticker with a comma",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_fundamental(i: usize, f: &Fundamental) -> Result<()> {
    non_empty("fundamental", i, "symbol", &f.symbol, 32)?;
    non_empty("fundamental", i, "metric", &f.metric, 128)?;
    non_empty("fundamental", i, "source", &f.source, 64)?;
    if f.unit.chars().count() > 32 {
        return Err(invalid(
            "fundamental",
            i,
            "unit",
            "is longer than 32 characters",
        ));
    }
    if !is_date(&f.period_end) {
        return Err(invalid("fundamental", i, "period_end", "is not YYYY-MM-DD"));
    }
    if !is_date(&f.filed) {
        return Err(invalid("fundamental", i, "filed", "is not YYYY-MM-DD"));
    }
    finite("fundamental", i, "value", f.value)
}

pub(crate) fn validate_component(i: usize, c: &Component) -> Result<()> {
    non_empty("component", i, "symbol", &c.symbol, 32)?;
    one_of("component", i, "kind", &c.kind, &COMPONENT_KINDS)?;
    finite("component", i, "value", c.value)
}

pub(crate) fn validate_signal(s: &SignalRecord, g: &GovernorLogRecord) -> Result<()> {
    non_empty("signal", 0, "id", &s.id, 64)?;
    non_empty("signal", 0, "symbol", &s.symbol, 32)?;
    one_of("signal", 0, "decision", &s.decision, &DECISIONS)?;
    finite("signal", 0, "score", s.score)?;
    finite("signal", 0, "confidence", s.confidence)?;
    if g.signal_id != s.id {
        return Err(invalid(
            "governor log",
            0,
            "signal_id",
            "differs from the signal's id",
        ));
    }
    one_of("governor log", 0, "decision", &g.decision, &DECISIONS)?;
    non_empty("governor log", 0, "config_hash", &g.config_hash, 128)
}

pub(crate) fn validate_feedback(f: &Feedback) -> Result<()> {
    non_empty("feedback", 0, "signal_id", &f.signal_id, 64)?;
    non_empty("feedback", 0, "source", &f.source, 64)?;
    non_empty("feedback", 0, "outcome", &f.outcome, 64)?;
    if let Some(r) = f.realized_return {
        finite("feedback", 0, "realized_return", r)?;
    }
    Ok(())
}

/// Tickers as stored in `news_articles.tickers`: comma-separated, in the caller's order.
pub(crate) fn join_tickers(t: &[String]) -> String {
    t.join(",")
}

pub(crate) fn split_tickers(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The distinct tickers of an article, for the `news_tickers` join table.
pub(crate) fn distinct_tickers(t: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = t.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar() -> Bar {
        Bar {
            symbol: "AAPL".into(),
            interval: "1d".into(),
            ts: 1,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            adj_close: None,
            volume: 10.0,
            source: "test".into(),
        }
    }

    #[test]
    fn bar_validation_table() {
        let cases: Vec<(Bar, Option<&str>)> = vec![
            (bar(), None),
            (
                Bar {
                    symbol: String::new(),
                    ..bar()
                },
                Some("bar #3: field symbol is empty"),
            ),
            (
                Bar {
                    close: f64::NAN,
                    ..bar()
                },
                Some("bar #3: field close is not a finite number (NaN)"),
            ),
            (
                Bar {
                    adj_close: Some(f64::INFINITY),
                    ..bar()
                },
                Some("bar #3: field adj_close is not a finite number (inf)"),
            ),
            (
                Bar {
                    interval: "x".repeat(17),
                    ..bar()
                },
                Some("bar #3: field interval is longer than 16 characters"),
            ),
        ];
        for (b, want) in cases {
            let got = validate_bar(3, &BarRef::of(&b))
                .err()
                .map(|e| e.to_string());
            assert_eq!(got, want.map(|w| format!("invalid value: {w}")), "{b:?}");
        }
    }

    #[test]
    fn date_table() {
        for (d, ok) in [
            ("2024-03-31", true),
            ("2024-3-31", false),
            ("2024/03/31", false),
            ("", false),
        ] {
            assert_eq!(is_date(d), ok, "{d}");
        }
    }

    #[test]
    fn tickers_round_trip() {
        let t = vec!["AAPL".to_string(), "MSFT".to_string(), "AAPL".to_string()];
        assert_eq!(split_tickers(&join_tickers(&t)), t);
        assert_eq!(distinct_tickers(&t), vec!["AAPL", "MSFT"]);
        assert!(split_tickers("").is_empty());
    }
}
