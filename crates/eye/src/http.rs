//! The HTTP/1.1 vocabulary of Eye's server: limits, a parsed request, a response and its bytes
//! on the wire, and the decoding of request targets.
//!
//! Why not tiny_http: tiny_http 0.12 reads the request line and header lines byte by byte
//! into an unbounded buffer, keeps an unbounded header list, sets no socket timeout, and
//! spawns one more thread per connection whenever all of its threads are busy
//! (`util/task_pool.rs`), so one client can exhaust memory or threads with a header flood or a
//! slowloris. Bounding those needs control of the socket before the head is parsed, which
//! tiny_http does not give. Eye's own server reads every socket in one poll(2) thread
//! (`front.rs`), finds heads with `head.rs` (httparse's grammar) and hands only complete
//! requests to its workers (`server.rs`).
//!
//! Pure functions of bytes: nothing here touches a socket, routes, auth or JSON bodies.

use crate::error::ApiError;
use std::io::Write;
use std::time::Duration;

/// The bounds a connection is read and written under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_line: usize,
    pub header_bytes: usize,
    pub headers: usize,
    pub body: usize,
    /// The whole head must arrive within this, counted from accept (or, on a kept-alive
    /// connection, from the first byte of the next request).
    pub header_timeout: Duration,
    /// The whole body must arrive within this, counted from the end of the head.
    pub body_timeout: Duration,
    /// A kept-alive connection without a new request is closed after this.
    pub idle_timeout: Duration,
    /// A whole response must be written within this, counted from its first byte.
    pub write_timeout: Duration,
}

/// A parsed request. Header names are lower-cased; `path` is percent-decoded UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write. `content_type` is sent as is.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }
    pub fn error(e: &ApiError) -> Response {
        Response::json(e.status, e.body())
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The same JSON answer gzip-compressed, when the client takes gzip and the body is large
    /// enough to gain (`GZIP_MIN_BYTES`): a symbol page's signals with their full context are
    /// over a megabyte of repetitive JSON, a tenth of that compressed, which matters on a
    /// box's Wi-Fi. The fastest level: the box's CPU is the scarcer resource. Anything else
    /// (another type, an answer that sets its own encoding, a compression failure) is returned
    /// as it was.
    pub fn gzip_json(self, accepts_gzip: bool) -> Response {
        let eligible = accepts_gzip
            && self.content_type == "application/json"
            && self.body.len() >= GZIP_MIN_BYTES
            && !self.headers.iter().any(|(k, _)| *k == "Content-Encoding");
        if !eligible {
            return self;
        }
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(self.body.len() / 4),
            flate2::Compression::fast(),
        );
        match enc.write_all(&self.body).and_then(|_| enc.finish()) {
            Ok(gz) => Response { body: gz, ..self }
                .with_header("Content-Encoding", "gzip")
                .with_header("Vary", "Accept-Encoding"),
            Err(_) => self,
        }
    }
}

/// Smaller JSON answers go out as they are: a few hundred bytes gain nothing from gzip.
pub const GZIP_MIN_BYTES: usize = 1024;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (and `+` as space when `plus` is set) into UTF-8; `what` names the
/// part in the error.
pub fn percent_decode(s: &str, plus: bool, what: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex);
                let lo = b.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => return Err(ApiError::bad_request(format!("{what}: bad percent escape"))),
                }
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("{what} is not valid UTF-8")))
}

/// Splits a request target into its decoded path and decoded query pairs.
pub fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), ApiError> {
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(p, false, "path")?;
    let mut query = Vec::new();
    for pair in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.push((
            percent_decode(k, true, "query")?,
            percent_decode(v, true, "query")?,
        ));
    }
    Ok((path, query))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The bytes of a response: status line, headers and (unless `with_body` is false, for
/// `HEAD`) the body. `Content-Length` is the body's length either way, as for `GET`. A 304
/// has neither body nor content headers. `Cache-Control` is the response's own when it sets
/// one (the dashboard's assets); otherwise a response with an `ETag` may be stored by a
/// client but must be revalidated (`no-cache`), and any other must not be stored.
pub fn response_bytes(resp: &Response, keep_alive: bool, with_body: bool) -> Vec<u8> {
    let mut out = head(resp, keep_alive).into_bytes();
    if with_body && resp.status != 304 {
        out.extend_from_slice(&resp.body);
    }
    out
}

/// `response_bytes` of a response given away: the head goes in front of the body in the
/// body's own buffer (one move of the body within it, no second buffer of its size: a page
/// of signals is tens of KiB, and every large allocation and free is an mmap and munmap
/// with musl's allocator).
pub fn into_bytes(resp: Response, keep_alive: bool, with_body: bool) -> Vec<u8> {
    let head = head(&resp, keep_alive);
    let mut out = resp.body;
    if !with_body || resp.status == 304 {
        out.clear();
    }
    out.splice(0..0, head.into_bytes());
    out
}

fn head(resp: &Response, keep_alive: bool) -> String {
    let tagged = resp.headers.iter().any(|(k, _)| *k == "ETag");
    let own_cache = resp.headers.iter().any(|(k, _)| *k == "Cache-Control");
    let mut h = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if resp.status != 304 {
        h.push_str(&format!(
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            resp.content_type,
            resp.body.len()
        ));
    }
    if !own_cache {
        h.push_str(if tagged {
            "Cache-Control: no-cache\r\n"
        } else {
            "Cache-Control: no-store\r\n"
        });
    }
    h.push_str(&format!(
        "Connection: {}\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    ));
    for (k, v) in &resp.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_json_table() {
        let big = Response::json(200, format!("[{}0]", "1,".repeat(GZIP_MIN_BYTES)));
        let small = Response::json(200, "{\"a\":1}".into());
        let text = Response {
            content_type: "text/plain; version=0.0.4",
            ..big.clone()
        };
        let encoded = big.clone().with_header("Content-Encoding", "gzip");
        for (r, accepts, compressed) in [
            (&big, true, true),
            (&big, false, false),
            (&small, true, false),
            (&text, true, false),
            (&encoded, true, false),
        ] {
            let out = r.clone().gzip_json(accepts);
            let enc = out
                .headers
                .iter()
                .filter(|(k, _)| *k == "Content-Encoding")
                .count();
            if !compressed {
                assert_eq!(&out, r);
                continue;
            }
            assert_eq!(enc, 1);
            assert!(out.headers.contains(&("Vary", "Accept-Encoding".into())));
            assert!(out.body.len() < r.body.len() / 10, "{}", out.body.len());
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(out.body.as_slice())
                .read_to_end(&mut plain)
                .unwrap_or_default();
            assert_eq!(plain, r.body);
        }
    }

    #[test]
    fn target_decoding() {
        let (p, q) =
            split_target("/signals/BRK.B?since=2024-01-01T00%3A00%3A00Z&x=a+b").unwrap_or_default();
        assert_eq!(p, "/signals/BRK.B");
        assert_eq!(
            q,
            vec![
                ("since".into(), "2024-01-01T00:00:00Z".into()),
                ("x".into(), "a b".into())
            ]
        );
        for bad in ["/signals/%FF", "/signals/%G1", "/x?a=%"] {
            assert_eq!(
                split_target(bad).map_err(|e| e.code),
                Err("bad_request"),
                "{bad}"
            );
        }
    }

    #[test]
    fn head_responses_keep_the_length() {
        let r = Response::json(200, "{\"a\":1}".into()).with_header("X-A", "b");
        let get = response_bytes(&r, true, true);
        let head = response_bytes(&r, true, false);
        assert_eq!(into_bytes(r.clone(), true, true), get);
        assert_eq!(into_bytes(r.clone(), true, false), head);
        assert!(get.ends_with(b"\r\n\r\n{\"a\":1}"));
        assert_eq!(head.len(), get.len() - 7);
        let text = String::from_utf8_lossy(&head);
        assert!(text.contains("Content-Length: 7\r\n"), "{text}");
        assert!(text.contains("X-A: b\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        assert!(text.contains("Cache-Control: no-store\r\n"), "{text}");
        let not_modified = Response {
            status: 304,
            content_type: "application/json",
            headers: vec![("ETag", "\"m1\"".into())],
            body: b"ignored".to_vec(),
        };
        assert_eq!(
            into_bytes(not_modified.clone(), true, true),
            response_bytes(&not_modified, true, true)
        );
        let text = String::from_utf8_lossy(&response_bytes(&not_modified, true, true)).to_string();
        assert_eq!(
            text,
            "HTTP/1.1 304 Not Modified\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nETag: \"m1\"\r\n\r\n"
        );
    }
}
