//! Finding and parsing a request head in a connection's receive buffer, within the limits.
//!
//! It owns the request-head rules: the request line within `max_request_line_bytes` (414), the
//! header lines within `max_header_bytes` and `max_headers` (431), `Transfer-Encoding` refused
//! (411), `Content-Length` strict and within `max_body_bytes` (400/413), duplicates of the
//! headers that decide routing, auth or framing refused (400), HTTP/1.0 and 1.1 only (505).
//! The grammar itself is `httparse`'s. `HeadScan` is fed the same growing buffer again and
//! again as bytes arrive and looks at each byte once, so a client trickling its head costs
//! linear time; the head is parsed once, when its blank line has arrived (and the request line
//! once before, so a bad one is refused without waiting for the rest). Pure: no socket, no
//! clock; the front stage owns reading and deadlines.

use crate::error::ApiError;
use crate::http::{split_target, Limits};

/// A parsed request head. Header names are lower-cased, values trimmed UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub keep_alive: bool,
    /// Bytes of the head in the buffer, blank line included: the body starts here.
    pub len: usize,
    /// The announced body length (already checked against the limit).
    pub body_len: usize,
    /// The client waits for `100 Continue` before sending the body (HTTP/1.1 only).
    pub expect_continue: bool,
}

/// What the bytes so far give.
#[derive(Debug)]
pub enum Scan {
    /// Not a whole head yet, and no limit exceeded.
    Partial,
    Done(Head),
    /// Unusable: answer with the error and close.
    Bad(ApiError),
}

/// Where the search for the end of the head stands.
#[derive(Debug, Default, Clone)]
pub struct HeadScan {
    /// Empty lines before the request line (RFC 9112 §2.2 allows a few; httparse skips them).
    start: usize,
    /// Just past the request line's LF, once it has arrived.
    line_end: Option<usize>,
    /// Start of the header line being looked for.
    line_start: usize,
    /// Bytes already searched for the current line's LF.
    searched: usize,
    /// Header lines seen so far.
    lines: usize,
}

/// Headers whose duplicates make the request ambiguous (framing, routing, auth, resume).
const SINGLE: &[&str] = &[
    "host",
    "authorization",
    "content-type",
    "expect",
    "transfer-encoding",
    "last-event-id",
];

fn too_long_line(lim: &Limits) -> ApiError {
    ApiError::new(
        414,
        "uri_too_long",
        format!("request line longer than {} bytes", lim.request_line),
    )
}

fn header_bytes_over(lim: &Limits) -> ApiError {
    ApiError::new(
        431,
        "headers_too_large",
        format!("headers larger than {} bytes", lim.header_bytes),
    )
}

fn too_many_headers(lim: &Limits) -> ApiError {
    ApiError::new(
        431,
        "headers_too_large",
        format!("more than {} headers", lim.headers),
    )
}

impl HeadScan {
    /// Looks at the bytes of `buf` not seen yet. `buf` must be the same buffer as before,
    /// grown at its end.
    pub fn scan(&mut self, buf: &[u8], lim: &Limits) -> Scan {
        if self.line_end.is_none() {
            if self.searched == self.start {
                while matches!(buf.get(self.start), Some(b'\r' | b'\n')) {
                    self.start += 1;
                }
                self.searched = self.start;
                if self.start > lim.request_line {
                    return Scan::Bad(too_long_line(lim));
                }
            }
            let Some(lf) = find_lf(buf, self.searched) else {
                self.searched = buf.len().max(self.start);
                // +1: a CR may still come before the LF.
                if buf.len().saturating_sub(self.start) > lim.request_line + 1 {
                    return Scan::Bad(too_long_line(lim));
                }
                return Scan::Partial;
            };
            let line = buf.get(self.start..lf).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > lim.request_line {
                return Scan::Bad(too_long_line(lim));
            }
            // The request line alone: a bad one is refused at once.
            let mut none: [httparse::Header; 0] = [];
            let mut req = httparse::Request::new(&mut none);
            let upto = buf.get(..lf + 1).unwrap_or_default();
            match req.parse(upto) {
                Ok(_) | Err(httparse::Error::TooManyHeaders) => {}
                Err(e) => return Scan::Bad(line_error(e, line)),
            }
            self.line_end = Some(lf + 1);
            self.line_start = lf + 1;
            self.searched = lf + 1;
        }
        let line_end = self.line_end.unwrap_or(0);
        loop {
            let Some(lf) = find_lf(buf, self.searched) else {
                self.searched = buf.len();
                // +2: the blank line's CRLF may still be on its way.
                if buf.len().saturating_sub(line_end) > lim.header_bytes + 2 {
                    return Scan::Bad(header_bytes_over(lim));
                }
                return Scan::Partial;
            };
            let line = buf.get(self.line_start..lf).unwrap_or_default();
            let blank = line.is_empty() || line == b"\r";
            self.line_start = lf + 1;
            self.searched = lf + 1;
            if lf + 1 - line_end > lim.header_bytes + 2 {
                return Scan::Bad(header_bytes_over(lim));
            }
            if blank {
                return match parse(buf.get(..lf + 1).unwrap_or_default(), self.lines, lim) {
                    Ok(h) => Scan::Done(h),
                    Err(e) => Scan::Bad(e),
                };
            }
            self.lines += 1;
            if self.lines > lim.headers {
                return Scan::Bad(too_many_headers(lim));
            }
        }
    }
}

fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// The answer to a request line httparse refused.
fn line_error(e: httparse::Error, line: &[u8]) -> ApiError {
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    let parts = line.split(|&b| b == b' ').count();
    match e {
        httparse::Error::Version if parts == 3 && version.starts_with(b"HTTP/") => ApiError::new(
            505,
            "bad_request",
            format!(
                "unsupported protocol version {:?}",
                String::from_utf8_lossy(version)
            ),
        ),
        _ => ApiError::bad_request("request line is not \"METHOD /path HTTP/1.x\""),
    }
}

/// Parses a whole head (`bytes` ends with its blank line) holding `lines` header lines.
fn parse(bytes: &[u8], lines: usize, lim: &Limits) -> Result<Head, ApiError> {
    let mut slots = vec![httparse::EMPTY_HEADER; lines];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(ApiError::bad_request("the request head is incomplete"))
        }
        Err(httparse::Error::HeaderName) => {
            return Err(ApiError::bad_request("a header name is not an HTTP token"))
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(ApiError::bad_request("a header value holds a control byte"))
        }
        Err(httparse::Error::TooManyHeaders) => return Err(too_many_headers(lim)),
        Err(e) => {
            let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(line_error(e, line.strip_suffix(b"\r").unwrap_or(line)));
        }
    };
    let method = req.method.unwrap_or_default();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("request method is not an HTTP token"));
    }
    let target = req.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(ApiError::bad_request(
            "request target must be an absolute path",
        ));
    }
    let minor = req.version.unwrap_or(1);
    let mut headers: Vec<(String, String)> = Vec::with_capacity(req.headers.len());
    let mut seen = [false; SINGLE.len()];
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| ApiError::bad_request("a header is not valid UTF-8"))?;
        let name = h.name.to_ascii_lowercase();
        if let Some(i) = SINGLE.iter().position(|s| *s == name) {
            if seen.get(i).copied().unwrap_or(false) {
                return Err(ApiError::bad_request(format!(
                    "header {} given more than once",
                    h.name
                )));
            }
            if let Some(s) = seen.get_mut(i) {
                *s = true;
            }
        }
        headers.push((name, value.trim().to_string()));
    }
    let (path, query) = split_target(target)?;
    let has = |name: &str, token: &str| {
        headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let keep_alive = if has("connection", "close") {
        false
    } else {
        minor >= 1 || has("connection", "keep-alive")
    };
    if headers.iter().any(|(k, _)| k == "transfer-encoding") {
        return Err(ApiError::new(
            411,
            "length_required",
            "chunked or encoded request bodies are not accepted: send Content-Length",
        ));
    }
    let body_len = body_length(&headers, lim.body)?;
    // `100 Continue` is an HTTP/1.1 interim response: an HTTP/1.0 client would take it for the
    // answer.
    let expect_continue = minor >= 1 && body_len > 0 && has("expect", "100-continue");
    Ok(Head {
        method: method.to_string(),
        path,
        query,
        headers,
        minor,
        keep_alive,
        len,
        body_len,
        expect_continue,
    })
}

/// The body length a request announces, checked against `max` before a byte of it is read.
pub fn body_length(headers: &[(String, String)], max: usize) -> Result<usize, ApiError> {
    let mut found: Option<usize> = None;
    for (_, v) in headers.iter().filter(|(k, _)| k == "content-length") {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request("Content-Length is not a number"));
        }
        let n = v.parse::<u64>().unwrap_or(u64::MAX);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if found.is_some_and(|f| f != n) {
            return Err(ApiError::bad_request("conflicting Content-Length headers"));
        }
        found = Some(n);
    }
    let n = found.unwrap_or(0);
    if n > max {
        return Err(ApiError::new(
            413,
            "payload_too_large",
            format!("request body of {n} bytes is over the {max} byte limit"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lim() -> Limits {
        Limits {
            request_line: 64,
            header_bytes: 128,
            headers: 4,
            body: 100,
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
        }
    }

    /// Scans `bytes` whole and fed one byte at a time; both must agree.
    fn scan(bytes: &[u8]) -> Result<Option<Head>, u16> {
        let whole = match HeadScan::default().scan(bytes, &lim()) {
            Scan::Partial => Ok(None),
            Scan::Done(h) => Ok(Some(h)),
            Scan::Bad(e) => Err(e.status),
        };
        let mut s = HeadScan::default();
        let mut trickled = Ok(None);
        for n in 1..=bytes.len() {
            match s.scan(bytes.get(..n).unwrap_or_default(), &lim()) {
                Scan::Partial => continue,
                Scan::Done(h) => trickled = Ok(Some(h)),
                Scan::Bad(e) => trickled = Err(e.status),
            }
            break;
        }
        assert_eq!(whole, trickled, "{}", String::from_utf8_lossy(bytes));
        whole
    }

    #[test]
    fn request_head_table() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70));
        let big_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(130));
        let many = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n";
        // (bytes, Ok(None) for "more needed" | Ok(Some((method, path, minor, keep_alive))) | Err(status))
        type Want<'a> = Result<Option<(&'a str, &'a str, u8, bool)>, u16>;
        let table: &[(&[u8], Want)] = &[
            (
                b"GET /health HTTP/1.1\r\n\r\n",
                Ok(Some(("GET", "/health", 1, true))),
            ),
            (
                b"\r\nGET /health HTTP/1.0\n\n",
                Ok(Some(("GET", "/health", 0, false))),
            ),
            (
                b"GET /h HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                Ok(Some(("GET", "/h", 0, true))),
            ),
            (
                b"GET /h HTTP/1.1\r\nConnection: te, close\r\n\r\n",
                Ok(Some(("GET", "/h", 1, false))),
            ),
            (b"GET /health HTTP/1.1\r\nHost: x\r\n", Ok(None)),
            (b"GET /hea", Ok(None)),
            (b"GET /health HTTP/2.0\r\n\r\n", Err(505)),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Err(505)),
            (b"GET /health\r\n\r\n", Err(400)),
            (b"GET  /health HTTP/1.1\r\n\r\n", Err(400)),
            (b"get /health HTTP/1.1\r\n\r\n", Err(400)),
            (b"GET http://x/ HTTP/1.1\r\n\r\n", Err(400)),
            (b"GET /\xff HTTP/1.1\r\n\r\n", Err(400)),
            (b"GET /%ff HTTP/1.1\r\n\r\n", Err(400)),
            (b"\x16\x03\x01\x02\x00\x01\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Err(400)),
            (
                b"GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(411),
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", Err(413)),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Err(400)),
            (long_line.as_bytes(), Err(414)),
            (big_header.as_bytes(), Err(431)),
            (many.as_bytes(), Err(431)),
        ];
        for (bytes, want) in table {
            let got = scan(bytes)
                .map(|h| h.map(|h| (h.method.clone(), h.path.clone(), h.minor, h.keep_alive)));
            let want = want.map(|w| w.map(|(m, p, v, k)| (m.to_string(), p.to_string(), v, k)));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn limits_fire_before_the_whole_head_arrives() {
        // No LF at all: refused once the line is longer than the limit, not at the deadline.
        let mut s = HeadScan::default();
        let line = vec![b'a'; 100];
        assert!(matches!(s.scan(&line, &lim()), Scan::Bad(e) if e.status == 414));
        let mut s = HeadScan::default();
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.extend(vec![b'a'; 200]);
        assert!(matches!(s.scan(&head, &lim()), Scan::Bad(e) if e.status == 431));
        // A flood of empty lines before the request line counts against the line limit.
        let mut s = HeadScan::default();
        assert!(matches!(s.scan(&[b'\n'; 100], &lim()), Scan::Bad(e) if e.status == 414));
    }

    #[test]
    fn head_fields() {
        let bytes = b"POST /signals/feedback?x=a+b HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789NEXT";
        let Ok(Some(h)) = scan(bytes) else {
            panic!("did not parse")
        };
        assert_eq!(h.len, bytes.len() - 14);
        assert_eq!(h.body_len, 10);
        assert!(h.expect_continue);
        assert_eq!(h.query, vec![("x".to_string(), "a b".to_string())]);
        assert_eq!(
            h.headers.first(),
            Some(&("content-type".to_string(), "application/json".to_string()))
        );
        // HTTP/1.0 never gets a 100 Continue.
        let Ok(Some(h)) =
            scan(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
        else {
            panic!("did not parse")
        };
        assert!(!h.expect_continue);
    }

    #[test]
    fn body_length_table() {
        let h = |v: &[&str]| -> Vec<(String, String)> {
            v.iter()
                .map(|x| ("content-length".to_string(), x.to_string()))
                .collect()
        };
        let table: &[(&[&str], Result<usize, u16>)] = &[
            (&[], Ok(0)),
            (&["10"], Ok(10)),
            (&["100"], Ok(100)),
            (&["101"], Err(413)),
            (&["99999999999999999999999"], Err(413)),
            (&["-1"], Err(400)),
            (&["1 0"], Err(400)),
            (&["10", "11"], Err(400)),
            (&["10", "10"], Ok(10)),
        ];
        for (v, want) in table {
            assert_eq!(
                body_length(&h(v), 100).map_err(|e| e.status),
                *want,
                "{v:?}"
            );
        }
    }
}
