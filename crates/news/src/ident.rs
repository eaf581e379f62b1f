//! Article identity for dedupe: guid/id when the feed gives one, else the canonical URL, else
//! (rarely) the source, title and date. Pure.
//!
//! Must not depend on fields that change when a publisher edits an article (summary,
//! sentiment), or an update would become a new article instead of updating in place.

use crate::feed::Item;
use crate::url::canonical_url;
use sha2::{Digest, Sha256};

/// First 32 hex digits (128 bits) of SHA-256: short enough for a key column, far beyond any
/// collision risk for a news archive.
fn hash32(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The stable id of an article: `g:` + hash of the guid, `u:` + hash of the canonical URL, or
/// `t:` + hash of source, title and date for items that have neither.
pub fn article_id(item: &Item) -> String {
    if let Some(g) = item
        .guid
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        return format!("g:{}", hash32(g));
    }
    if let Some(u) = item.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        return format!("u:{}", hash32(&canonical_url(u)));
    }
    let date = item.published_at.map(|t| t.to_string()).unwrap_or_default();
    format!(
        "t:{}",
        hash32(&format!("{}\n{}\n{}", item.source, item.title, date))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(guid: Option<&str>, url: Option<&str>, title: &str) -> Item {
        Item {
            id: String::new(),
            guid: guid.map(String::from),
            title: title.to_string(),
            url: url.map(String::from),
            summary: String::new(),
            published_at: None,
            source: "test".to_string(),
            tickers: Vec::new(),
        }
    }

    #[test]
    fn id_table() {
        let a = "https://Example.com/story?id=1&utm_source=rss#top";
        let b = "https://example.com:443/story?id=1&fbclid=x";
        // (left, right, same id?)
        let table = [
            (
                item(Some("abc"), None, "x"),
                item(Some(" abc "), Some(a), "y"),
                true,
            ),
            (
                item(Some("abc"), None, "x"),
                item(Some("abd"), None, "x"),
                false,
            ),
            (
                item(None, Some(a), "x"),
                item(None, Some(b), "other title"),
                true,
            ),
            (
                item(None, Some(a), "x"),
                item(None, Some("https://example.com/story?id=2"), "x"),
                false,
            ),
            (item(Some(""), Some(a), "x"), item(None, Some(b), "x"), true),
            (item(None, None, "same"), item(None, None, "same"), true),
            (item(None, None, "one"), item(None, None, "two"), false),
        ];
        for (i, (l, r, same)) in table.iter().enumerate() {
            assert_eq!(
                article_id(l) == article_id(r),
                *same,
                "row {i}: {} vs {}",
                article_id(l),
                article_id(r)
            );
        }
        let g = article_id(&item(Some("abc"), None, ""));
        assert!(g.starts_with("g:") && g.len() == 34, "{g}");
        assert!(article_id(&item(None, Some(a), "")).starts_with("u:"));
        assert!(article_id(&item(None, None, "t")).starts_with("t:"));
    }
}
