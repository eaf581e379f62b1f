//! JSON Feed 1.0/1.1 and Alpha Vantage NEWS_SENTIMENT payloads, including Alpha Vantage's
//! HTTP-200 error bodies (`Note`, `Information`, `Error Message`).
//!
//! Read with serde visitors, never as a `serde_json::Value` tree (which costs 10-30 bytes of
//! memory per byte of small values): a first pass reads the top-level keys (provider messages,
//! version, home page) and only looks at the type of `items`/`feed`; a second pass reads the
//! items one at a time straight into `RawItem`s. Both passes are linear; nesting is bounded by
//! serde_json's recursion limit.
//!
//! Pure; no I/O. A body that does not parse as JSON is `Malformed` (JSON cannot be resumed
//! after a break the way XML can); an item of the wrong shape is one `ItemError`.

use crate::feed::{
    finish_item, source_base, truncate_chars, FeedError, FeedFormat, ItemError, ParsedFeed,
    RawItem, MAX_ITEMS, MAX_URL_CHARS,
};
use crate::text::clean_html;
use crate::url::resolve;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use values::{scalars_are, Kind, Skim, Text, Tickers};

mod values;
use std::fmt;

/// Characters of a provider message kept.
const MAX_PROVIDER_MESSAGE: usize = 500;

/// Provider messages can echo the request; never let an API key through into logs.
fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = find_ignore_case(rest, "apikey=") {
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

/// Byte offset of `needle` (ASCII) in `hay`, ignoring ASCII case; linear in `hay`.
fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = *n.first()?;
    h.iter().enumerate().position(|(i, b)| {
        b.eq_ignore_ascii_case(&first)
            && h.get(i..i + n.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

/// What the first pass learns from the top-level object.
#[derive(Debug, Default)]
struct Head {
    feed: Option<Kind>,
    items: Option<Kind>,
    /// `Error Message`, `Note`, `Information`, in that order of precedence.
    provider: [Option<String>; 3],
    version: Option<String>,
    home: Option<String>,
    feed_url: Option<String>,
    keys: Vec<String>,
}

const PROVIDER_KEYS: [&str; 3] = ["Error Message", "Note", "Information"];

/// The top level: None when it is not an object.
struct HeadVisitor;

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = Option<Head>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut h = Head::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if h.keys.len() < 8 {
                h.keys.push(key.to_string());
            }
            if let Some(i) = PROVIDER_KEYS.iter().position(|k| *k == key) {
                let raw: &RawValue = map.next_value()?;
                let msg = match serde_json::from_str::<String>(raw.get()) {
                    Ok(s) => s,
                    Err(_) => raw.get().to_string(),
                };
                if let Some(slot) = h.provider.get_mut(i) {
                    *slot = Some(truncate_chars(redact(&msg), MAX_PROVIDER_MESSAGE));
                }
                continue;
            }
            match key.as_ref() {
                "feed" if h.feed.is_none() => h.feed = Some(map.next_value_seed(Skim)?),
                "items" if h.items.is_none() => h.items = Some(map.next_value_seed(Skim)?),
                "version" => h.version = map.next_value_seed(Text)?,
                "home_page_url" => h.home = map.next_value_seed(Text)?,
                "feed_url" => h.feed_url = map.next_value_seed(Text)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(h))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skim.visit_seq(seq).map(|_| None)
    }
    scalars_are!(None);
}

fn malformed(e: &serde_json::Error) -> FeedError {
    FeedError::Malformed(format!(
        "invalid JSON at line {} column {}: {e}",
        e.line(),
        e.column()
    ))
}

pub(crate) fn parse_json(text: &str, source: &str) -> Result<ParsedFeed, FeedError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let head = de.deserialize_any(HeadVisitor).map_err(|e| malformed(&e))?;
    de.end().map_err(|e| malformed(&e))?;
    let Some(head) = head else {
        return Err(FeedError::NotAFeed(
            "JSON document is not an object".to_string(),
        ));
    };
    if let Some(kind) = head.feed {
        if kind != Kind::Array {
            return Err(FeedError::NotAFeed(
                "Alpha Vantage `feed` is not an array".to_string(),
            ));
        }
        return read_items(text, source, "feed", FeedFormat::AlphaVantage, None);
    }
    if let Some((key, msg)) = PROVIDER_KEYS
        .iter()
        .zip(&head.provider)
        .find_map(|(k, m)| m.as_ref().map(|m| (k, m)))
    {
        return Err(FeedError::ProviderError(format!("{key}: {msg}")));
    }
    let is_json_feed = head
        .version
        .as_deref()
        .is_some_and(|v| v.contains("jsonfeed.org"));
    match head.items {
        Some(Kind::Array) => {
            let src_base = source_base(source);
            // The base of every item's link: a value longer than a URL can be is ignored, or
            // each item would copy it.
            let home = head
                .home
                .or(head.feed_url)
                .filter(|h| h.len() <= MAX_URL_CHARS);
            let home = home.map(|h| match src_base {
                Some(s) => resolve(s, &h),
                None => h,
            });
            read_items(text, source, "items", FeedFormat::JsonFeed, home)
        }
        Some(_) => Err(FeedError::NotAFeed(
            "JSON Feed `items` is not an array".to_string(),
        )),
        None if is_json_feed => Ok(ParsedFeed::new(FeedFormat::JsonFeed)),
        None => Err(FeedError::NotAFeed(format!(
            "JSON object has neither `items` (JSON Feed) nor `feed` (Alpha Vantage); keys: {:?}",
            head.keys
        ))),
    }
}

/// The second pass: the array under `key`, item by item.
fn read_items(
    text: &str,
    source: &str,
    key: &'static str,
    format: FeedFormat,
    home: Option<String>,
) -> Result<ParsedFeed, FeedError> {
    let mut feed = ParsedFeed::new(format);
    let mut reader = Items {
        key,
        feed: &mut feed,
        source,
        home: home.as_deref(),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(&mut reader).map_err(|e| malformed(&e))?;
    Ok(feed)
}

struct Items<'a> {
    key: &'static str,
    feed: &'a mut ParsedFeed,
    source: &'a str,
    home: Option<&'a str>,
}

impl<'de> Visitor<'de> for &mut Items<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut done = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.key && !done {
                done = true;
                map.next_value_seed(&mut *self)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(fields) = seq.next_element_seed(ItemSeed)? {
            if self.feed.items.len() >= MAX_ITEMS {
                // Past the cap: the rest is only read through, for the syntax.
                self.feed.too_many(index);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            let result = match fields {
                Ok(f) => {
                    // Alpha Vantage links are absolute; JSON Feed ones resolve like HTML's.
                    let bases = match self.feed.format {
                        FeedFormat::AlphaVantage => [None, None],
                        _ => [self.home, source_base(self.source)],
                    };
                    finish_item(f.into_raw(self.feed.format), self.source, &bases)
                }
                Err(kind) => Err(match self.feed.format {
                    FeedFormat::AlphaVantage => {
                        format!("feed entry is not a JSON object but {}", kind.name())
                    }
                    _ => format!("item is not a JSON object but {}", kind.name()),
                }),
            };
            match result {
                Ok(item) => {
                    self.feed.push_item(item);
                }
                Err(message) => self.feed.push_error(ItemError { index, message }),
            }
            index += 1;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut Items<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// The fields of one JSON Feed or Alpha Vantage item that are used.
#[derive(Debug, Default)]
struct Fields {
    id: Option<String>,
    title: Option<String>,
    url: Option<String>,
    external_url: Option<String>,
    summary: Option<String>,
    content_text: Option<String>,
    content_html: Option<String>,
    date_published: Option<String>,
    date_modified: Option<String>,
    time_published: Option<String>,
    tickers: Vec<String>,
}

impl Fields {
    fn into_raw(self, format: FeedFormat) -> RawItem {
        let plain = |s: Option<String>| s.map(|s| clean_html(&s));
        if format == FeedFormat::AlphaVantage {
            return RawItem {
                guid: None,
                title: plain(self.title),
                link: self.url,
                summary: plain(self.summary),
                date: self.time_published.map(|d| (d, "time_published")),
                tickers: self.tickers,
            };
        }
        let date = match (self.date_published, self.date_modified) {
            (Some(d), _) => Some((d, "date_published")),
            (None, Some(d)) => Some((d, "date_modified")),
            (None, None) => None,
        };
        RawItem {
            guid: self.id,
            title: plain(self.title),
            link: self.url.or(self.external_url),
            summary: plain(self.summary.or(self.content_text).or(self.content_html)),
            date,
            tickers: Vec::new(),
        }
    }
}

/// One item: its fields, or the kind of value it was when it is not an object.
struct ItemSeed;

impl<'de> Visitor<'de> for ItemSeed {
    type Value = Result<Fields, Kind>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "id" => &mut f.id,
                "title" => &mut f.title,
                "url" => &mut f.url,
                "external_url" => &mut f.external_url,
                "summary" => &mut f.summary,
                "content_text" => &mut f.content_text,
                "content_html" => &mut f.content_html,
                "date_published" => &mut f.date_published,
                "date_modified" => &mut f.date_modified,
                "time_published" => &mut f.time_published,
                "ticker_sentiment" => {
                    f.tickers = map.next_value_seed(Tickers)?;
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // A repeated key: the last one counts, as in a JSON object read whole.
            *slot = map.next_value_seed(Text)?;
        }
        Ok(Ok(f))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skim.visit_seq(seq).map(Err)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(Kind::Str))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(Kind::Number))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(Kind::Number))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(Kind::Number))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(Kind::Bool))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(Kind::Null))
    }
}

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Result<Fields, Kind>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
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
