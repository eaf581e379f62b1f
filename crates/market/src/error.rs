//! The market layer's errors: a whole-document failure (`MarketError`) and a per-record
//! failure (`RowError`) that leaves the other records usable.
//!
//! Both name the source and, for records, the line or item, so a log line alone tells the
//! operator what to fix. Mapping onto module error classes happens here and nowhere else.

use aivex_core::ModuleError;
use std::fmt;

/// A document that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketError {
    /// Neither a recognised CSV header nor a recognised JSON shape.
    UnknownFormat { source: String, detail: String },
    /// JSON that does not parse (truncated, malformed).
    BadJson { source: String, detail: String },
    /// A CSV whose header lacks required columns.
    MissingColumns {
        source: String,
        missing: Vec<&'static str>,
    },
    /// A provider answered with an error document instead of data.
    ProviderError { source: String, detail: String },
}

impl fmt::Display for MarketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarketError::UnknownFormat { source, detail } => {
                write!(f, "{source}: unrecognised document: {detail}")
            }
            MarketError::BadJson { source, detail } => {
                write!(f, "{source}: invalid JSON: {detail}")
            }
            MarketError::MissingColumns { source, missing } => {
                write!(f, "{source}: header lacks column(s) {}", missing.join(", "))
            }
            MarketError::ProviderError { source, detail } => {
                write!(f, "{source}: provider returned an error: {detail}")
            }
        }
    }
}

impl std::error::Error for MarketError {}

impl From<MarketError> for ModuleError {
    fn from(e: MarketError) -> Self {
        match e {
            // The service, not the document, failed: retry after backoff like any outage.
            MarketError::ProviderError { .. } => ModuleError::ExternalService(e.to_string()),
            _ => ModuleError::DataValidation(e.to_string()),
        }
    }
}

/// Where in a document a bad record sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// 1-based line of a CSV record.
    Line(u64),
    /// Path of a JSON item, e.g. `3` or `us-gaap.Revenues.units.USD[3]`.
    Item(String),
}

/// One bad record; the rest of its document is still used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub source: String,
    pub at: Position,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Position::Line(n) => write!(f, "{} line {n}: {}", self.source, self.message),
            Position::Item(p) => write!(f, "{} item {p}: {}", self.source, self.message),
        }
    }
}

/// Bad records listed per document: beyond it only the first `MAX_ERRORS - 1` and the latest
/// are kept (the chart module looks for the error of a document's last line) and the rest are
/// counted, so a file of a million bad lines costs a counter, not a million messages.
pub const MAX_ERRORS: usize = 1000;

/// Adds `e` to `errors` within `MAX_ERRORS`, counting what is not listed in `omitted`.
pub(crate) fn push_error(errors: &mut Vec<RowError>, omitted: &mut usize, e: RowError) {
    if errors.len() < MAX_ERRORS {
        errors.push(e);
    } else if let Some(last) = errors.last_mut() {
        *last = e;
        *omitted += 1;
    }
}

/// Characters of a bad value quoted in a message.
const QUOTE_CHARS: usize = 64;

/// A bad value as quoted in a message: cut to `QUOTE_CHARS` characters, so one huge field
/// cannot become a huge log line or crash record.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("'{}...' ({} bytes)", &s[..cut], s.len()),
        None => format!("'{s}'"),
    }
}

impl From<&RowError> for ModuleError {
    fn from(e: &RowError) -> Self {
        ModuleError::DataValidation(e.to_string())
    }
}
