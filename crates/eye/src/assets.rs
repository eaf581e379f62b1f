//! The dashboard's files, embedded at build time (`build.rs` hashes and gzips `assets/`), and
//! how they are served: the page at `/`, everything else under `/assets/<name>.<hash>.<ext>`.
//!
//! It owns the page's security headers (a strict Content-Security-Policy: scripts, styles,
//! images and connections from this origin only, no inline script or style, no framing, no
//! form submission; `nosniff`; `Referrer-Policy: no-referrer`), caching (hashed names are
//! immutable for a year; the page is revalidated by its ETag every time, so a new binary's
//! assets are picked up at once), and content negotiation (the stored gzip to clients that
//! accept it, inflated per request for the rest). It must not read files at run time nor
//! touch the store.

use crate::error::ApiError;
use crate::http::{Request, Response};
use std::io::Read;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The file's name under `assets/`.
    pub name: &'static str,
    /// The name it is served under (`index.html` for the page).
    pub served: &'static str,
    /// The first 12 hex digits of the SHA-256 of the served bytes.
    pub hash: &'static str,
    pub mime: &'static str,
    /// Length of the served bytes, uncompressed.
    pub len: usize,
    /// The served bytes, gzip-compressed.
    pub gz: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// What the page may load: nothing but this origin's scripts, styles, images and fetches.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self'; connect-src 'self'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page may be kept, but is checked against its ETag before every use.
const REVALIDATE: &str = "no-cache";

/// The embedded file served under `served`.
pub fn find(served: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.served == served)
}

/// True when `accept_encoding` (an `Accept-Encoding` value) takes gzip: listed as `gzip` or
/// `x-gzip`, or covered by `*`, with a q-value above 0.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(v) = accept_encoding else {
        return false;
    };
    let mut star = None;
    for item in v.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f64>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// True when `if_none_match` names `etag` (or is `*`).
fn matches_etag(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
        })
    })
}

/// The bytes of `a` uncompressed.
pub fn inflate(a: &Asset) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(a.len);
    flate2::read::GzDecoder::new(a.gz)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::new(
                500,
                "internal",
                format!("embedded asset {} is damaged: {e}", a.name),
            )
        })?;
    Ok(out)
}

fn respond(a: &Asset, req: &Request, cache: &'static str) -> Result<Response, ApiError> {
    let etag = format!("\"{}\"", a.hash);
    let mut resp = if matches_etag(req.header("if-none-match"), &etag) {
        Response {
            status: 304,
            content_type: a.mime,
            headers: Vec::new(),
            body: Vec::new(),
        }
    } else if accepts_gzip(req.header("accept-encoding")) {
        Response {
            status: 200,
            content_type: a.mime,
            headers: vec![("Content-Encoding", "gzip".to_string())],
            body: a.gz.to_vec(),
        }
    } else {
        Response {
            status: 200,
            content_type: a.mime,
            headers: Vec::new(),
            body: inflate(a)?,
        }
    };
    resp.headers.extend([
        ("Cache-Control", cache.to_string()),
        ("ETag", etag),
        ("Vary", "Accept-Encoding".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Referrer-Policy", "no-referrer".to_string()),
    ]);
    Ok(resp)
}

/// `GET /`: the page, with its security headers.
pub fn page(req: &Request) -> Result<Response, ApiError> {
    let resp = respond(&INDEX, req, REVALIDATE)?
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Frame-Options", "DENY")
        .with_header("Cross-Origin-Opener-Policy", "same-origin");
    Ok(resp)
}

/// `GET /assets/{file}`.
pub fn asset(served: &str, req: &Request) -> Result<Response, ApiError> {
    let a =
        find(served).ok_or_else(|| ApiError::not_found(format!("no asset named {served:?}")))?;
    respond(a, req, IMMUTABLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn accept_encoding_table() {
        let table: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("gzip, deflate, br, zstd"), true),
            (Some("br;q=1.0, GZIP;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("gzip;q=0.0, *"), false),
            (Some("identity"), false),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("x-gzip"), true),
            (Some("deflate"), false),
        ];
        for (v, want) in table {
            assert_eq!(accepts_gzip(*v), *want, "{v:?}");
        }
    }

    #[test]
    fn etag_table() {
        let e = "\"abc\"";
        for (v, want) in [
            (None, false),
            (Some("\"abc\""), true),
            (Some("W/\"abc\""), true),
            (Some("\"x\", \"abc\""), true),
            (Some("*"), true),
            (Some("\"abcd\""), false),
        ] {
            assert_eq!(matches_etag(v, e), want, "{v:?}");
        }
    }

    /// Every embedded file inflates to bytes whose hash is the one in its name, and every
    /// reference in the page and the modules names an embedded file.
    #[test]
    fn embedded_assets_are_whole_and_linked() {
        let all: Vec<&Asset> = std::iter::once(&INDEX).chain(ASSETS.iter()).collect();
        assert!(ASSETS.iter().any(|a| a.name == "app.js"));
        for a in &all {
            let bytes = inflate(a).unwrap_or_default();
            assert_eq!(bytes.len(), a.len, "{}", a.name);
            let hex: String = Sha256::digest(&bytes)
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hex, a.hash, "{}", a.name);
            if let Some((stem, ext)) = a.name.rsplit_once('.').filter(|_| a.name != "index.html") {
                assert_eq!(a.served, format!("{stem}.{hex}.{ext}"));
            }
            let text = String::from_utf8(bytes).unwrap_or_default();
            for b in ASSETS.iter() {
                // No reference is left under a plain (unhashed) name.
                for plain in [format!("'./{}'", b.name), format!("\"/assets/{}\"", b.name)] {
                    assert!(!text.contains(&plain), "{} names {plain}", a.name);
                }
            }
        }
        let page = String::from_utf8(inflate(&INDEX).unwrap_or_default()).unwrap_or_default();
        assert!(page.contains(&format!("/assets/{}", find_by_name("app.js").served)));
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains("style="), "no inline style");
    }

    fn find_by_name(name: &str) -> &'static Asset {
        ASSETS.iter().find(|a| a.name == name).unwrap_or(&INDEX)
    }
}
