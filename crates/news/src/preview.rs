//! The `aivex news-preview` line: one JSON object per item with exactly the keys `id`,
//! `title`, `url`, `published_at` (RFC 3339 or null), `tickers` and `sentiment`.
//!
//! Pure formatting; printing is the CLI's job.

use crate::feed::Item;
use serde_json::{json, Value};

/// One preview line (no trailing newline). Sentiment is rounded to 4 decimals for reading.
pub fn preview_line(item: &Item, tickers: &[String], sentiment: f64) -> String {
    let published = item
        .published_at
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map_or(Value::Null, |t| Value::String(t.to_string()));
    let sentiment = if sentiment.is_finite() {
        (sentiment * 10_000.0).round() / 10_000.0
    } else {
        0.0
    };
    json!({
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "published_at": published,
        "tickers": tickers,
        "sentiment": sentiment,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_has_exactly_the_keys() {
        let mut item = Item {
            id: "g:0123".into(),
            guid: Some("x".into()),
            title: "Apple beats".into(),
            url: Some("https://example.com/a".into()),
            summary: "s".into(),
            published_at: Some(1_730_817_000),
            source: "demo".into(),
            tickers: vec![],
        };
        let line = preview_line(&item, &["AAPL".to_string()], 0.123456);
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let mut keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["id", "published_at", "sentiment", "tickers", "title", "url"]
        );
        assert_eq!(v["published_at"], "2024-11-05T14:30:00Z");
        assert_eq!(v["sentiment"], 0.1235);
        assert_eq!(v["tickers"], json!(["AAPL"]));
        assert!(!line.contains('\n'));
        item.published_at = None;
        item.url = None;
        let v: Value =
            serde_json::from_str(&preview_line(&item, &[], f64::NAN)).unwrap_or(Value::Null);
        assert_eq!(
            (
                v["published_at"].is_null(),
                v["url"].is_null(),
                v["sentiment"].as_f64()
            ),
            (true, true, Some(0.0))
        );
    }
}
