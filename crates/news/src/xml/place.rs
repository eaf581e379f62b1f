//! Where things are: the line of a byte offset (one counter that only moves forward, so
//! numbering the bad items of a document is linear) and the base an item's relative links
//! resolve against (`xml:base` inherited from the root and channel, ignored past
//! `MAX_URL_CHARS` so no element can make every item copy a huge base).
//!
//! Pure; must not read the document's events.

use crate::feed::MAX_URL_CHARS;
use crate::url::{is_absolute, resolve};

/// 1-based line of a byte offset, counting forward from the last offset asked about.
pub(crate) struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a [u8]) -> Lines<'a> {
        Lines {
            text,
            pos: 0,
            line: 1,
        }
    }
}

impl Lines<'_> {
    pub fn at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.text.len());
        if pos < self.pos {
            // Offsets arrive in document order; this only guards against a surprise.
            self.pos = 0;
            self.line = 1;
        }
        let seg = self.text.get(self.pos..pos).unwrap_or_default();
        self.line += seg.iter().filter(|&&b| b == b'\n').count();
        self.pos = pos;
        self.line
    }
}

/// An `xml:base` inherited through `parent` and set by `own`; None past `MAX_URL_CHARS`.
pub(crate) fn inherit(parent: Option<&str>, own: Option<&str>) -> Option<String> {
    match own {
        Some(b) => {
            let joined = match parent {
                Some(pb) => resolve(pb, b),
                None => b.trim().to_string(),
            };
            if joined.len() <= MAX_URL_CHARS {
                Some(joined)
            } else {
                parent.map(str::to_string)
            }
        }
        None => parent.map(str::to_string),
    }
}

/// The base for an element's links: its (absolute) xml:base, else the fallback.
pub(crate) fn effective_base(base: Option<&str>, fallback: Option<&str>) -> Option<String> {
    match base {
        Some(b) if is_absolute(b) => Some(b.to_string()),
        Some(b) => fallback.map(|f| resolve(f, b)),
        None => fallback.map(str::to_string),
    }
}
