//! The bad-input suite over real sockets: oversized bodies, malformed JSON, wrong content type,
//! invalid UTF-8 in the path, header floods, huge request lines, slow clients, overload, and
//! protocol garbage. Every answer must be a JSON error with a stable code, and the server must
//! keep serving afterwards.

mod common;

use common::{connect, raw, read_to_close, Backend, Fixture};
use std::io::Write;
use std::time::{Duration, Instant};

fn fixture(tweak: impl FnOnce(&mut aivex_eye::EyeConfig)) -> Fixture {
    Fixture::new(Backend::Sqlite, tweak).unwrap_or_else(|| panic!("sqlite fixture"))
}

/// Sends `req` ignoring write errors (the server may close early on purpose), then reads.
fn send(f: &Fixture, req: &[u8]) -> common::Resp {
    let mut s = connect(f.addr);
    let _ = s.write_all(req);
    read_to_close(&mut s)
}

#[test]
fn error_table() {
    let mut f = fixture(|c| c.max_body_bytes = 1024);
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    let fb = |ct: &str, body: &str| {
        format!("POST /signals/feedback HTTP/1.1\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
    };
    let many_headers: String = (0..10_000).map(|i| format!("X-{i}: y\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("declared body over the limit", b"POST /signals/feedback HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1025\r\n\r\n".to_vec(), 413, "payload_too_large"),
        ("body over the limit sent in full", [fb("application/json", &"x".repeat(200_000))].concat(), 413, "payload_too_large"),
        ("malformed JSON", fb("application/json", "{\"signal_id\": "), 400, "malformed_json"),
        ("JSON that is not an object", fb("application/json", "[1,2]"), 422, "invalid_field"),
        ("wrong content type", fb("text/plain", &format!("{{\"signal_id\":\"{id}\"}}")), 415, "unsupported_media_type"),
        ("form content type", fb("application/x-www-form-urlencoded", "a=b"), 415, "unsupported_media_type"),
        ("raw invalid UTF-8 in the path", b"GET /signals/\xff\xfe HTTP/1.1\r\n\r\n".to_vec(), 400, "bad_request"),
        ("escaped invalid UTF-8 in the path", b"GET /signals/%ff%fe HTTP/1.1\r\n\r\n".to_vec(), 400, "bad_request"),
        ("invalid UTF-8 in the query", b"GET /signals?symbol=%c3%28 HTTP/1.1\r\n\r\n".to_vec(), 400, "bad_request"),
        ("header flood", format!("GET /health HTTP/1.1\r\n{many_headers}\r\n").into_bytes(), 431, "headers_too_large"),
        ("one huge header", format!("GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000)).into_bytes(), 431, "headers_too_large"),
        ("huge request line", format!("GET /signals?{} HTTP/1.1\r\n\r\n", "a".repeat(100_000)).into_bytes(), 414, "uri_too_long"),
        ("chunked body", b"POST /signals/feedback HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), 411, "length_required"),
        ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(), 400, "bad_request"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 505, "bad_request"),
        ("bad Content-Length", b"POST /signals/feedback HTTP/1.1\r\nContent-Length: -5\r\n\r\n".to_vec(), 400, "bad_request"),
        ("header without colon", b"GET /health HTTP/1.1\r\nnonsense\r\n\r\n".to_vec(), 400, "bad_request"),
        ("unknown route", b"GET /admin HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(), 404, "not_found"),
        ("wrong method", b"PUT /health HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(), 405, "method_not_allowed"),
    ];
    for (name, req, status, code) in cases {
        let r = send(&f, &req);
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{name}: {}",
            r.body
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        assert!(
            aivex_eye::CODES.contains(&code),
            "{name}: {code} is not a listed code"
        );
    }
    // Still serving, and keep-alive works for two requests on one connection.
    let mut s = connect(f.addr);
    let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    let first = read_to_close(&mut s);
    assert_eq!(
        (first.status, first.header("connection")),
        (200, Some("keep-alive"))
    );
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let second = read_to_close(&mut s);
    assert!(matches!(second.status, 200 | 503), "{}", second.body);
    f.eye.housekeep();
}

#[test]
fn expect_continue_gets_100_then_the_answer() {
    let mut f = fixture(|_| {});
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    let body = format!("{{\"signal_id\":\"{id}\",\"outcome\":\"hit\",\"source\":\"curl\"}}");
    let mut s = connect(f.addr);
    let _ = s.write_all(format!("POST /signals/feedback HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    assert!(buf
        .get(..n)
        .unwrap_or(&[])
        .starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    let _ = s.write_all(body.as_bytes());
    assert_eq!(read_to_close(&mut s).status, 201);
}

#[test]
fn slow_clients_are_cut_off_by_a_total_deadline() {
    // One worker: a slow client holding it forever would starve everyone.
    let f = fixture(|c| {
        c.workers = 1;
        c.header_timeout_s = 1.0;
        c.body_timeout_s = 1.0;
    });
    // Trickles one header byte every 200 ms: each read succeeds, only a total deadline stops it.
    let t0 = Instant::now();
    let mut s = connect(f.addr);
    let _ = s.write_all(b"GET /health HTTP/1.1\r\n");
    let mut cut = false;
    for _ in 0..50 {
        if s.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if t0.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let r = read_to_close(&mut s);
    assert_eq!(
        (r.status, r.code().as_str()),
        (408, "request_timeout"),
        "cut={cut}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t0.elapsed()
    );
    // A body that stops halfway.
    let mut s = connect(f.addr);
    let _ = s.write_all(b"POST /signals/feedback HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sig");
    let r = read_to_close(&mut s);
    assert_eq!((r.status, r.code().as_str()), (408, "request_timeout"));
    // The worker is free again.
    assert!(matches!(f.get("/health", None).status, 200 | 503));
    // An idle keep-alive connection is closed after idle_timeout and does not hold the worker.
    let mut idle = connect(f.addr);
    let _ = idle.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_to_close(&mut idle).status, 200);
    let t1 = Instant::now();
    let mut b = [0u8; 16];
    let n = std::io::Read::read(&mut idle, &mut b).unwrap_or(0);
    assert_eq!(n, 0, "server closes the idle connection");
    assert!(t1.elapsed() < Duration::from_secs(5));
}

#[test]
fn overload_is_a_503_not_a_hang() {
    let mut f = fixture(|c| {
        c.workers = 1;
        c.queue = 1;
    });
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    // A holds the only worker (its feedback waits for the store's write lock), B waits in the
    // queue, C finds the queue full. (A request still arriving holds nothing: only complete
    // requests reach the queue.)
    let lock = common::FeedbackLock::take(&f);
    let mut a = common::send_feedback(f.addr, &id, "overload-a");
    std::thread::sleep(Duration::from_millis(300));
    let mut b = common::send_feedback(f.addr, &id, "overload-b");
    std::thread::sleep(Duration::from_millis(200));
    let c = raw(
        f.addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (c.status, c.code().as_str(), c.header("retry-after")),
        (503, "overloaded", Some("1"))
    );
    lock.release();
    assert_eq!(common::read_one(&mut a).status, 201);
    assert_eq!(common::read_one(&mut b).status, 201);
}

#[test]
fn an_idle_keep_alive_connection_does_not_delay_a_waiting_one() {
    let f = fixture(|c| {
        c.workers = 1;
        c.idle_timeout_s = 30.0;
    });
    let mut a = connect(f.addr);
    let _ = a.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(common::read_one(&mut a).status, 200);
    // A now idles with the only worker free; B must not wait the 30 s idle timeout.
    let t0 = Instant::now();
    let b = raw(
        f.addr,
        b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(b.status, 200);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "waited {:?}",
        t0.elapsed()
    );
    // And A was not closed to make room: it is served again on the same connection.
    let _ = a.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    let again = common::read_one(&mut a);
    assert_eq!(
        (again.status, again.header("connection")),
        (200, Some("keep-alive"))
    );
}
