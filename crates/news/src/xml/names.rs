//! The XML vocabulary the feed reader knows: namespaces (by URI, with the usual prefixes as a
//! fallback), the attributes it reads, HTML void elements, and the root elements of RSS, RDF
//! and Atom.
//!
//! Pure lookups; must not hold reader state.

use crate::feed::{quote, FeedError, FeedFormat};

/// The vocabularies the reader knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    None,
    Atom,
    Rss1,
    Rdf,
    Dc,
    Content,
    Itunes,
    Media,
    Xhtml,
    Other,
}

pub(crate) fn ns_from_uri(uri: &str) -> Ns {
    // iTunes documents its URI with capitals, feeds use both; compare case-insensitively.
    match uri.trim().to_ascii_lowercase().as_str() {
        "http://www.w3.org/2005/atom" | "http://purl.org/atom/ns#" => Ns::Atom,
        "http://purl.org/rss/1.0/" | "http://my.netscape.com/rdf/simple/0.9/" => Ns::Rss1,
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Ns::Rdf,
        "http://purl.org/dc/elements/1.1/" | "http://purl.org/dc/terms/" => Ns::Dc,
        "http://purl.org/rss/1.0/modules/content/" => Ns::Content,
        "http://www.itunes.com/dtds/podcast-1.0.dtd" => Ns::Itunes,
        "http://search.yahoo.com/mrss/" | "http://search.yahoo.com/mrss" => Ns::Media,
        "http://www.w3.org/1999/xhtml" => Ns::Xhtml,
        // RSS 2.0 has no namespace, but some generators declare the Userland one.
        "http://backend.userland.com/rss2" | "http://blogs.law.harvard.edu/tech/rss" => Ns::None,
        _ => Ns::Other,
    }
}

pub(crate) fn ns_from_prefix(prefix: &str) -> Ns {
    match prefix {
        "" => Ns::None,
        "atom" | "a10" => Ns::Atom,
        "rdf" => Ns::Rdf,
        "dc" | "dcterms" => Ns::Dc,
        "content" => Ns::Content,
        "itunes" => Ns::Itunes,
        "media" => Ns::Media,
        "xhtml" => Ns::Xhtml,
        _ => Ns::Other,
    }
}

/// The attributes the reader uses, entity-decoded.
#[derive(Debug, Default)]
pub(crate) struct Attrs {
    pub base: Option<String>,
    pub kind: Option<String>,
    pub mode: Option<String>,
    pub href: Option<String>,
    pub rel: Option<String>,
    pub about: Option<String>,
    pub permalink: Option<String>,
}

/// HTML elements that never have content: inside a field they do not nest, so unclosed
/// `<br>`s in an unescaped description cannot pile up depth.
pub(crate) fn is_void(local: &str) -> bool {
    const VOID: [&str; 14] = [
        "br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "param",
        "source", "track", "wbr",
    ];
    VOID.iter().any(|v| local.eq_ignore_ascii_case(v))
}

/// Decodes an attribute value: XML/HTML entities.
pub(crate) fn attr_value(raw: &[u8]) -> String {
    crate::text::decode_entities(&String::from_utf8_lossy(raw))
}

pub(crate) fn root_format(local: &str, ns: Ns, qname: &str) -> Result<FeedFormat, FeedError> {
    match (local, ns) {
        ("rss", _) => Ok(FeedFormat::Rss),
        ("RDF", _) => Ok(FeedFormat::Rdf),
        ("feed", Ns::Atom | Ns::None) => Ok(FeedFormat::Atom),
        _ => {
            let hint = if local.eq_ignore_ascii_case("html") {
                " (an HTML page?)"
            } else {
                ""
            };
            Err(FeedError::NotAFeed(format!(
                "root element is <{}>, expected <rss>, <feed> (Atom) or <rdf:RDF>{hint}",
                quote(qname).trim_matches('"')
            )))
        }
    }
}
