//! The feed model (`Item`, `ParsedFeed`, errors) and `parse_feed`, which detects the format
//! and hands the document to the XML or JSON reader. Also the one place that turns a
//! format's raw fields into an `Item` (cleaning, date parsing, link resolution, id), so every
//! format applies the same rules.
//!
//! Pure: bytes in, values out. It must not log, fetch or store; the module reports
//! `ItemError`s as DataValidationErrors and maps `FeedError` at its boundary.

use crate::date::parse_date;
use crate::encoding::decode_document;
use crate::ident::article_id;
use crate::url::{is_absolute, resolve};
use aivex_core::ModuleError;
use std::fmt;

/// Summaries are capped so one full-text `content:encoded` cannot bloat the store or
/// dominate sentiment; titles carry most of the signal anyway.
pub const MAX_SUMMARY_CHARS: usize = 4000;

/// Titles are capped too: a hostile feed's megabyte "title" would otherwise be stored,
/// scored and logged whole (and MySQL's TEXT column refuses more than 64 KiB).
pub const MAX_TITLE_CHARS: usize = 1000;

/// Longer links are dropped (the item is kept by its title): the store refuses URLs over 2048
/// characters, and a link or base that long is never a real article address.
pub const MAX_URL_CHARS: usize = 2048;

/// Bad items listed one by one per document; beyond that only the first `MAX_ERRORS - 1` and
/// the latest are kept and the rest counted in `ParsedFeed::omitted_errors`, so a feed of a
/// million empty items costs a counter, not a million messages.
pub const MAX_ERRORS: usize = 1000;

/// Items read from one document; the rest are reported as one `ItemError`. Ten thousand is
/// far beyond any news feed and keeps a hostile document of tiny items from costing more
/// memory than a few megabytes of `Item`s.
pub const MAX_ITEMS: usize = 10_000;

/// Characters of a bad value quoted in an error message.
const QUOTE_CHARS: usize = 80;

/// Which format a document was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    Rss,
    /// RSS 0.90 / 1.0 (RDF).
    Rdf,
    Atom,
    JsonFeed,
    AlphaVantage,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Rss => "rss",
            FeedFormat::Rdf => "rdf",
            FeedFormat::Atom => "atom",
            FeedFormat::JsonFeed => "jsonfeed",
            FeedFormat::AlphaVantage => "alphavantage",
        }
    }
}

/// One article as the news module ingests it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `article_id` of this item (dedupe key).
    pub id: String,
    pub guid: Option<String>,
    /// Plain text (tags stripped, entities decoded, whitespace collapsed).
    pub title: String,
    /// Absolute where the feed gave enough to resolve it.
    pub url: Option<String>,
    /// Plain text, at most `MAX_SUMMARY_CHARS` characters.
    pub summary: String,
    /// Unix seconds; `None` when the feed gave no date.
    pub published_at: Option<i64>,
    /// The `source_name` the feed was parsed under.
    pub source: String,
    /// Tickers the provider attached (Alpha Vantage `ticker_sentiment`), upper-case; empty for
    /// plain feeds. The module merges these with the ones it extracts from the text.
    pub tickers: Vec<String>,
}

/// A bad item (or the point where a broken document stopped being readable). The other items
/// of the same document are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// 0-based position of the item in the document.
    pub index: usize,
    pub message: String,
}

impl ItemError {
    /// The DataValidationError the module records for this item.
    pub fn to_module_error(&self, source: &str) -> ModuleError {
        ModuleError::DataValidation(format!("{source}: {self}"))
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {}: {}", self.index + 1, self.message)
    }
}

/// The result of reading one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    pub format: FeedFormat,
    pub items: Vec<Item>,
    /// At most `MAX_ERRORS`: the first ones and the latest.
    pub errors: Vec<ItemError>,
    /// Bad items beyond `MAX_ERRORS` that were counted but not listed.
    pub omitted_errors: usize,
}

impl ParsedFeed {
    pub(crate) fn new(format: FeedFormat) -> ParsedFeed {
        ParsedFeed {
            format,
            items: Vec::new(),
            errors: Vec::new(),
            omitted_errors: 0,
        }
    }

    /// Records a bad item within the `MAX_ERRORS` bound (the latest error always stays listed).
    pub(crate) fn push_error(&mut self, e: ItemError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        } else if let Some(last) = self.errors.last_mut() {
            *last = e;
            self.omitted_errors += 1;
        }
    }

    /// Keeps an item; false (and the item dropped) once `MAX_ITEMS` are kept.
    pub(crate) fn push_item(&mut self, item: Item) -> bool {
        if self.items.len() >= MAX_ITEMS {
            return false;
        }
        self.items.push(item);
        true
    }

    /// The error for the items beyond `MAX_ITEMS`, from the one at `index` on.
    pub(crate) fn too_many(&mut self, index: usize) {
        self.push_error(ItemError {
            index,
            message: format!(
                "the document has more than {MAX_ITEMS} items; items from here on were not read"
            ),
        });
    }

    /// Items read so far, good or bad: the index of the next one.
    pub(crate) fn seen(&self) -> usize {
        self.items.len() + self.errors.len() + self.omitted_errors
    }
}

/// A document that yielded no feed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedError {
    /// Not RSS, Atom, JSON Feed or Alpha Vantage (an HTML page, some other JSON, plain text).
    NotAFeed(String),
    /// The provider answered with an error body (Alpha Vantage `Note`, `Information`,
    /// `Error Message`): an ExternalServiceError, not bad data.
    ProviderError(String),
    /// A JSON document that does not parse (truncated, invalid), or bytes in an unsupported
    /// encoding.
    Malformed(String),
}

impl FeedError {
    /// ProviderError is an ExternalServiceError (retry later); anything else is bad data.
    pub fn to_module_error(&self, source: &str) -> ModuleError {
        match self {
            FeedError::ProviderError(_) => {
                ModuleError::ExternalService(format!("{source}: {self}"))
            }
            FeedError::NotAFeed(_) | FeedError::Malformed(_) => {
                ModuleError::DataValidation(format!("{source}: {self}"))
            }
        }
    }
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::NotAFeed(m) => write!(f, "not a feed: {m}"),
            FeedError::ProviderError(m) => write!(f, "provider error: {m}"),
            FeedError::Malformed(m) => write!(f, "malformed feed: {m}"),
        }
    }
}

impl std::error::Error for FeedError {}

/// Parses a feed document. `source_name` is stored on every item and, when it is an http(s)
/// URL, is the last-resort base for relative links.
pub fn parse_feed(bytes: &[u8], source_name: &str) -> Result<ParsedFeed, FeedError> {
    let text = decode_document(bytes).map_err(FeedError::Malformed)?;
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    match trimmed.chars().next() {
        Some('<') => crate::xml::parse_xml(trimmed, source_name),
        Some('{') | Some('[') => crate::json::parse_json(trimmed, source_name),
        Some(_) => Err(FeedError::NotAFeed(format!(
            "document starts with {:?}, expected XML or JSON",
            trimmed.chars().take(40).collect::<String>()
        ))),
        None => Err(FeedError::NotAFeed("document is empty".to_string())),
    }
}

/// The fields a format reader collects for one item. Title and summary are already plain text
/// (each reader knows whether its text is HTML, escaped text or base64).
#[derive(Debug, Default)]
pub(crate) struct RawItem {
    pub guid: Option<String>,
    /// Plain title text (`clean_html` applied).
    pub title: Option<String>,
    /// Link as written (maybe relative).
    pub link: Option<String>,
    /// Plain summary text (`clean_html` applied).
    pub summary: Option<String>,
    /// The date text and the field it came from (for error messages).
    pub date: Option<(String, &'static str)>,
    pub tickers: Vec<String>,
}

/// Turns raw fields into an `Item`, or says what is wrong with them. `bases` are tried in
/// order for relative links; the first absolute one wins.
pub(crate) fn finish_item(
    raw: RawItem,
    source: &str,
    bases: &[Option<&str>],
) -> Result<Item, String> {
    let title = truncate_chars(raw.title.unwrap_or_default(), MAX_TITLE_CHARS);
    let summary = truncate_chars(raw.summary.unwrap_or_default(), MAX_SUMMARY_CHARS);
    let url = raw
        .link
        .map(|l| crate::text::decode_entities(l.trim()))
        .filter(|l| !l.is_empty() && l.len() <= MAX_URL_CHARS * 4)
        .map(|l| match bases.iter().flatten().find(|b| is_absolute(b)) {
            Some(base) => resolve(base, &l),
            None => l,
        })
        .filter(|l| l.chars().count() <= MAX_URL_CHARS);
    let guid = raw
        .guid
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty());
    if title.is_empty() && summary.is_empty() && url.is_none() {
        return Err("item has no title, summary or link".to_string());
    }
    let published_at = match raw.date {
        Some((d, field)) if !d.trim().is_empty() => Some(
            parse_date(&d)
                .ok_or_else(|| format!("unrecognised date {} in <{field}>", quote(d.trim())))?,
        ),
        _ => None,
    };
    let mut tickers = raw.tickers;
    tickers.sort();
    tickers.dedup();
    let mut item = Item {
        id: String::new(),
        guid,
        title,
        url,
        summary,
        published_at,
        source: source.to_string(),
        tickers,
    };
    item.id = article_id(&item);
    Ok(item)
}

/// `s` cut to at most `max` characters.
pub(crate) fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
    }
    s
}

/// A value as quoted in an error message: Debug-escaped and cut to `QUOTE_CHARS` characters,
/// so one huge bad field cannot turn into a huge log line or crash record.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
        None => format!("{s:?}"),
    }
}

/// `source` when it is an absolute http(s) URL (the document's own address).
pub(crate) fn source_base(source: &str) -> Option<&str> {
    let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(source)
}
