//! JSON Feed 1.0/1.1 and Alpha Vantage NEWS_SENTIMENT payloads, including Alpha Vantage's
//! HTTP-200 error bodies (`Note`, `Information`, `Error Message`).
//!
//! Pure; no I/O. A body that does not parse as JSON is `Malformed` (JSON cannot be resumed
//! after a break the way XML can); an item of the wrong shape is one `ItemError`.

use crate::feed::{
    finish_item, source_base, FeedError, FeedFormat, ItemError, ParsedFeed, RawItem,
};
use crate::url::resolve;
use serde_json::{Map, Value};

/// A string field, accepting numbers too (some feeds write numeric ids).
fn str_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Provider messages can echo the request; never let an API key through into logs.
fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.to_ascii_lowercase().find("apikey=") {
        out.push_str(&rest[..i + 7]);
        out.push_str("***");
        let tail = &rest[i + 7..];
        let end = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn parse_json(text: &str, source: &str) -> Result<ParsedFeed, FeedError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        FeedError::Malformed(format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(obj) = value else {
        return Err(FeedError::NotAFeed(
            "JSON document is not an object".to_string(),
        ));
    };
    if let Some(feed) = obj.get("feed") {
        let Value::Array(items) = feed else {
            return Err(FeedError::NotAFeed(
                "Alpha Vantage `feed` is not an array".to_string(),
            ));
        };
        return Ok(alpha_vantage(items, source));
    }
    for key in ["Error Message", "Note", "Information"] {
        if let Some(v) = obj.get(key) {
            let msg = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(FeedError::ProviderError(format!("{key}: {}", redact(&msg))));
        }
    }
    let is_json_feed = obj
        .get("version")
        .and_then(Value::as_str)
        .is_some_and(|v| v.contains("jsonfeed.org"));
    match obj.get("items") {
        Some(Value::Array(items)) => Ok(json_feed(&obj, items, source)),
        Some(_) => Err(FeedError::NotAFeed(
            "JSON Feed `items` is not an array".to_string(),
        )),
        None if is_json_feed => Ok(ParsedFeed {
            format: FeedFormat::JsonFeed,
            items: Vec::new(),
            errors: Vec::new(),
        }),
        None => {
            let keys: Vec<&str> = obj.keys().take(8).map(String::as_str).collect();
            Err(FeedError::NotAFeed(format!(
                "JSON object has neither `items` (JSON Feed) nor `feed` (Alpha Vantage); keys: {keys:?}"
            )))
        }
    }
}

fn json_feed(obj: &Map<String, Value>, items: &[Value], source: &str) -> ParsedFeed {
    let src_base = source_base(source);
    let home = str_field(obj, "home_page_url")
        .or_else(|| str_field(obj, "feed_url"))
        .map(|h| match src_base {
            Some(s) => resolve(s, &h),
            None => h,
        });
    let mut feed = ParsedFeed {
        format: FeedFormat::JsonFeed,
        items: Vec::new(),
        errors: Vec::new(),
    };
    for (index, v) in items.iter().enumerate() {
        let Value::Object(it) = v else {
            feed.errors.push(ItemError {
                index,
                message: format!("item is not a JSON object but {}", kind(v)),
            });
            continue;
        };
        let summary = str_field(it, "summary")
            .or_else(|| str_field(it, "content_text"))
            .or_else(|| str_field(it, "content_html"));
        let date = str_field(it, "date_published")
            .map(|d| (d, "date_published"))
            .or_else(|| str_field(it, "date_modified").map(|d| (d, "date_modified")));
        let raw = RawItem {
            guid: str_field(it, "id"),
            title: str_field(it, "title"),
            link: str_field(it, "url").or_else(|| str_field(it, "external_url")),
            summary,
            date,
            tickers: Vec::new(),
        };
        match finish_item(raw, source, &[home.as_deref(), src_base]) {
            Ok(item) => feed.items.push(item),
            Err(message) => feed.errors.push(ItemError { index, message }),
        }
    }
    feed
}

fn alpha_vantage(items: &[Value], source: &str) -> ParsedFeed {
    let mut feed = ParsedFeed {
        format: FeedFormat::AlphaVantage,
        items: Vec::new(),
        errors: Vec::new(),
    };
    for (index, v) in items.iter().enumerate() {
        let Value::Object(it) = v else {
            feed.errors.push(ItemError {
                index,
                message: format!("feed entry is not a JSON object but {}", kind(v)),
            });
            continue;
        };
        let tickers = match it.get("ticker_sentiment") {
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(|t| t.get("ticker").and_then(Value::as_str))
                .map(|t| t.trim().to_ascii_uppercase())
                .filter(|t| !t.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        let raw = RawItem {
            guid: None,
            title: str_field(it, "title"),
            link: str_field(it, "url"),
            summary: str_field(it, "summary"),
            date: str_field(it, "time_published").map(|d| (d, "time_published")),
            tickers,
        };
        match finish_item(raw, source, &[]) {
            Ok(item) => feed.items.push(item),
            Err(message) => feed.errors.push(ItemError { index, message }),
        }
    }
    feed
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_api_keys() {
        assert_eq!(redact("bad apikey=ABC123 here"), "bad apikey=*** here");
        assert_eq!(redact("no key"), "no key");
        assert_eq!(redact("APIKEY=x&apikey=y"), "APIKEY=***&apikey=***");
    }
}
