//! A small, bounded HTTP/1.1 reader and writer: request line, headers, `Content-Length`
//! bodies, keep-alive, `Expect: 100-continue`.
//!
//! Why not tiny_http: tiny_http 0.12 reads the request line and header lines byte by byte
//! into an unbounded buffer, keeps an unbounded header list, sets no socket timeout, and
//! spawns one more thread per connection whenever all of its threads are busy
//! (`util/task_pool.rs`), so one client can exhaust memory or threads with a header flood or a
//! slowloris. Bounding those needs control of the socket before the head is parsed, which
//! tiny_http does not give. This file owns exactly those limits: every read has a deadline
//! (the whole head within `header_timeout`, the whole body within `body_timeout`, an idle
//! keep-alive connection closed after `idle_timeout`), and every length is capped.
//!
//! It knows nothing of routes, auth or JSON bodies; parsing helpers are pure functions of
//! bytes, and only `DeadlineReader` and `write_response` touch the socket.

use crate::error::ApiError;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The bounds one connection is read under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_line: usize,
    pub header_bytes: usize,
    pub headers: usize,
    pub body: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
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

/// What reading the next request from a connection gave.
#[derive(Debug)]
pub enum Next {
    Request(Request),
    /// The client closed, or stayed idle past the keep-alive timeout, before sending a byte.
    Closed,
    /// The request is unusable; answer with the error and close (the stream position is lost).
    Bad(ApiError),
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
}

/// Reads from a socket with one absolute deadline for a group of reads: each read gets the
/// time left, so a client trickling one byte at a time cannot extend it.
pub struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineReader {
    pub fn new(stream: TcpStream) -> DeadlineReader {
        DeadlineReader {
            stream,
            deadline: Instant::now(),
        }
    }
    pub fn set_deadline(&mut self, d: Instant) {
        self.deadline = d;
    }
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        // set_read_timeout rejects a zero duration; `left` is non-zero here.
        self.stream.set_read_timeout(Some(left))?;
        match self.stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
            }
            other => other,
        }
    }
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
}

/// Reads one line ending in LF (a CR before it is dropped), refusing to buffer more than
/// `max` bytes of it.
fn read_line<R: BufRead>(r: &mut R, max: usize) -> io::Result<Line> {
    let mut out = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if out.len() + chunk.len() > max {
            return Ok(Line::TooLong);
        }
        out.extend_from_slice(chunk);
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            return Ok(Line::Text(out));
        }
    }
}

fn timeout_or_close(e: &io::Error) -> Option<ApiError> {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Some(ApiError::new(
            408,
            "request_timeout",
            "the request was not received in time",
        )),
        _ => None,
    }
}

/// Splits a request line into (method, target, minor version).
pub fn parse_request_line(line: &[u8]) -> Result<(String, String, u8), ApiError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| ApiError::bad_request("request line is not valid UTF-8"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::bad_request(
            "request line is not \"METHOD TARGET HTTP/1.x\"",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::bad_request("request method is not an HTTP token"));
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => {
            return Err(ApiError::new(
                505,
                "bad_request",
                format!("unsupported protocol version {version:?}"),
            ))
        }
    };
    if !target.starts_with('/') {
        return Err(ApiError::bad_request(
            "request target must be an absolute path",
        ));
    }
    Ok((method.to_string(), target.to_string(), minor))
}

/// Splits `name: value` into a lower-cased name and a trimmed value.
pub fn parse_header_line(line: &[u8]) -> Result<(String, String), ApiError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| ApiError::bad_request("a header is not valid UTF-8"))?;
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| ApiError::bad_request("a header line has no ':'"))?;
    let ok_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok_name {
        return Err(ApiError::bad_request("a header name is not an HTTP token"));
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_string()))
}

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

/// How often an idle keep-alive connection asks whether it should give way.
const IDLE_SLICE: Duration = Duration::from_millis(100);

/// Reads the next request. `first` tells whether this is the connection's first request; a
/// later one waits at most `idle_timeout` for its first byte, and gives up earlier as soon as
/// `yield_now()` says other connections are waiting for this worker.
pub fn read_request(
    r: &mut BufReader<DeadlineReader>,
    limits: &Limits,
    first: bool,
    yield_now: &dyn Fn() -> bool,
) -> Next {
    let wait = if first {
        limits.header_timeout
    } else {
        limits.idle_timeout
    };
    let end = Instant::now() + wait;
    loop {
        let slice = if first {
            end
        } else {
            end.min(Instant::now() + IDLE_SLICE)
        };
        r.get_mut().set_deadline(slice);
        match r.fill_buf() {
            Ok([]) => return Next::Closed,
            Ok(_) => break,
            Err(e) => match timeout_or_close(&e) {
                Some(_) if !first && Instant::now() < end && !yield_now() => continue,
                Some(err) if first => return Next::Bad(err),
                _ => return Next::Closed,
            },
        }
    }
    r.get_mut()
        .set_deadline(Instant::now() + limits.header_timeout);
    let line = match read_line(r, limits.request_line) {
        Ok(Line::Text(l)) => l,
        Ok(Line::TooLong) => {
            return Next::Bad(ApiError::new(
                414,
                "uri_too_long",
                format!("request line longer than {} bytes", limits.request_line),
            ))
        }
        Ok(Line::Eof) => return Next::Closed,
        Err(e) => return timeout_or_close(&e).map_or(Next::Closed, Next::Bad),
    };
    let (method, target, minor) = match parse_request_line(&line) {
        Ok(x) => x,
        Err(e) => return Next::Bad(e),
    };
    let mut headers = Vec::new();
    let mut header_bytes = 0usize;
    loop {
        let left = limits.header_bytes.saturating_sub(header_bytes);
        let line = match read_line(r, left) {
            Ok(Line::Text(l)) => l,
            Ok(Line::TooLong) => {
                return Next::Bad(ApiError::new(
                    431,
                    "headers_too_large",
                    format!("headers larger than {} bytes", limits.header_bytes),
                ))
            }
            Ok(Line::Eof) => return Next::Closed,
            Err(e) => return timeout_or_close(&e).map_or(Next::Closed, Next::Bad),
        };
        if line.is_empty() {
            break;
        }
        header_bytes += line.len() + 2;
        if headers.len() >= limits.headers {
            return Next::Bad(ApiError::new(
                431,
                "headers_too_large",
                format!("more than {} headers", limits.headers),
            ));
        }
        match parse_header_line(&line) {
            Ok(h) => headers.push(h),
            Err(e) => return Next::Bad(e),
        }
    }
    let (path, query) = match split_target(&target) {
        Ok(x) => x,
        Err(e) => return Next::Bad(e),
    };
    let conn = headers
        .iter()
        .find(|(k, _)| k == "connection")
        .map(|(_, v)| v.to_ascii_lowercase());
    let keep_alive = match (minor, conn.as_deref()) {
        (_, Some(c)) if c.contains("close") => false,
        (0, Some(c)) => c.contains("keep-alive"),
        (0, None) => false,
        _ => true,
    };
    let mut req = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
        keep_alive,
    };
    if req.header("transfer-encoding").is_some() {
        return Next::Bad(ApiError::new(
            411,
            "length_required",
            "chunked or encoded request bodies are not accepted: send Content-Length",
        ));
    }
    let len = match body_length(&req.headers, limits.body) {
        Ok(n) => n,
        Err(e) => return Next::Bad(e),
    };
    if len > 0 {
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            let mut s = r.get_ref().stream();
            if s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return Next::Closed;
            }
        }
        r.get_mut()
            .set_deadline(Instant::now() + limits.body_timeout);
        let mut body = Vec::with_capacity(len.min(64 * 1024));
        // take(len) after the length was checked against the limit: never more than the limit.
        match r.by_ref().take(len as u64).read_to_end(&mut body) {
            Ok(n) if n == len => req.body = body,
            Ok(_) => return Next::Closed,
            Err(e) => return timeout_or_close(&e).map_or(Next::Closed, Next::Bad),
        }
    }
    Next::Request(req)
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

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The status line and headers of a response.
pub fn head_bytes(resp: &Response, keep_alive: bool) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in &resp.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Writes a whole response (the socket's write timeout bounds a client that does not read).
pub fn write_response(mut w: &TcpStream, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut out = head_bytes(resp, keep_alive);
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_table() {
        type Case<'a> = (&'a [u8], Result<(&'a str, &'a str, u8), u16>);
        let table: &[Case] = &[
            (b"GET /health HTTP/1.1", Ok(("GET", "/health", 1))),
            (
                b"POST /signals/feedback HTTP/1.0",
                Ok(("POST", "/signals/feedback", 0)),
            ),
            (b"GET /health HTTP/2.0", Err(505)),
            (b"GET /health", Err(400)),
            (b"GET  /health HTTP/1.1", Err(400)),
            (b"get /health HTTP/1.1", Err(400)),
            (b"GET http://x/ HTTP/1.1", Err(400)),
            (b"GET /\xff HTTP/1.1", Err(400)),
        ];
        for (line, want) in table {
            let got = parse_request_line(line).map_err(|e| e.status);
            let want = (*want).map(|(m, t, v)| (m.to_string(), t.to_string(), v));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn target_and_headers() {
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
        assert_eq!(
            parse_header_line(b"Content-Type:  application/json ").ok(),
            Some(("content-type".into(), "application/json".into()))
        );
        assert!(parse_header_line(b"no colon").is_err());
        assert!(parse_header_line(b"bad name: x").is_err());
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

    #[test]
    fn read_line_is_bounded() {
        let mut r = io::BufReader::with_capacity(4, &b"abcdefgh\r\nxy\n"[..]);
        assert!(matches!(read_line(&mut r, 5), Ok(Line::TooLong)));
        let mut r = io::BufReader::with_capacity(4, &b"abcdefgh\r\nxy\n"[..]);
        assert!(matches!(read_line(&mut r, 10), Ok(Line::Text(l)) if l == b"abcdefgh"));
        assert!(matches!(read_line(&mut r, 10), Ok(Line::Text(l)) if l == b"xy"));
        assert!(matches!(read_line(&mut r, 10), Ok(Line::Eof)));
    }
}
