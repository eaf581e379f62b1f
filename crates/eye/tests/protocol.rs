//! HTTP details over real sockets: `100 Continue` only for HTTP/1.1, `HEAD` answered like
//! `GET` without the body, pipelined requests all answered before a close (no reset), the
//! `Host` check when auth is off (DNS rebinding), and tokens of any length compared alike.

mod common;

use common::{connect, raw, read_head, read_one, read_to_close, Backend, Fixture};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn fixture(tweak: impl FnOnce(&mut aivex_eye::EyeConfig)) -> Fixture {
    Fixture::new(Backend::Sqlite, tweak).unwrap_or_else(|| panic!("sqlite fixture"))
}

#[test]
fn http_1_0_gets_no_100_continue() {
    let mut f = fixture(|_| {});
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    let body = format!("{{\"signal_id\":\"{id}\",\"outcome\":\"hit\",\"source\":\"h10\"}}");
    let mut s = connect(f.addr);
    let _ = s.write_all(format!("POST /signals/feedback HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    // An HTTP/1.0 client would take a 100 for the answer: nothing may come before the body.
    let _ = s.set_read_timeout(Some(Duration::from_millis(400)));
    let mut b = [0u8; 64];
    let early = s.read(&mut b);
    assert!(
        early.as_ref().is_err(),
        "sent before the body: {:?}",
        early.map(|n| String::from_utf8_lossy(b.get(..n).unwrap_or_default()).into_owned())
    );
    let _ = s.set_read_timeout(Some(common::DEADLINE));
    let _ = s.write_all(body.as_bytes());
    let r = read_to_close(&mut s);
    assert_eq!((r.status, r.header("connection")), (201, Some("close")));
}

#[test]
fn head_is_get_without_the_body() {
    let mut f = fixture(|c| c.tokens = vec!["head-token-1".into()]);
    f.signal(&f.symbol(0), f.base, 0, false);
    let auth = "Authorization: Bearer head-token-1\r\n";
    for path in [
        "/health",
        "/openapi.json",
        "/signals?limit=5",
        "/modules",
        "/metrics",
    ] {
        let mut s = connect(f.addr);
        let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes());
        let get = read_one(&mut s);
        let _ = s.write_all(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes());
        let head = read_head(&mut s);
        // Nothing after the head: the next bytes on the connection are the next response.
        let _ = s.write_all(
            format!("GET /openapi.json HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        );
        let next = read_to_close(&mut s);
        assert_eq!(
            next.status, 200,
            "{path}: a body followed the HEAD response"
        );
        assert_eq!(head.status, get.status, "{path}");
        for h in [
            "content-type",
            "content-length",
            "cache-control",
            "connection",
        ] {
            if path == "/metrics" && h == "content-length" {
                continue; // counters move between the two requests
            }
            assert_eq!(head.header(h), get.header(h), "{path}: {h}");
        }
        assert!(head.header("content-length").is_some(), "{path}");
    }
    // HEAD needs the same token as GET.
    let mut s = connect(f.addr);
    let _ = s.write_all(b"HEAD /signals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(read_head(&mut s).status, 401);
    // HEAD /events: the stream's head and nothing else.
    let mut s = connect(f.addr);
    let _ = s.write_all(format!("HEAD /events HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes());
    let h = read_head(&mut s);
    assert_eq!(
        (h.status, h.header("content-type")),
        (200, Some("text/event-stream"))
    );
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn pipelined_requests_are_all_answered_before_the_close() {
    let f = fixture(|_| {});
    for _ in 0..5 {
        let mut s = connect(f.addr);
        // Two requests, the second asking to close, then input the server will never read as
        // a request: closing with it unread would reset the connection and could destroy the
        // second answer in our receive buffer.
        let mut req = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec();
        req.extend(std::iter::repeat_n(b'z', 200_000));
        let writer = {
            let mut w = s.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
            std::thread::spawn(move || {
                let _ = w.write_all(&req);
            })
        };
        let first = read_one(&mut s);
        assert_eq!(first.status, 200);
        let start = Instant::now();
        let mut rest = Vec::new();
        let mut b = [0u8; 8192];
        let end = loop {
            match s.read(&mut b) {
                Ok(0) => break Ok(()),
                Ok(n) => rest.extend_from_slice(b.get(..n).unwrap_or_default()),
                Err(e) => break Err(e),
            }
            assert!(start.elapsed() < common::DEADLINE);
        };
        let _ = writer.join();
        let second = common::parse(&rest).unwrap_or_else(|| {
            panic!(
                "second answer lost ({end:?}): {:?}",
                String::from_utf8_lossy(&rest)
            )
        });
        assert!(matches!(second.status, 200 | 503), "{}", second.body);
        assert_eq!(second.header("connection"), Some("close"));
        assert!(end.is_ok(), "ended with {end:?} instead of a clean close");
    }
}

#[test]
fn host_is_checked_when_auth_is_off() {
    let f = fixture(|_| {});
    let port = f.addr.port();
    let ask = |host: &str| {
        raw(
            f.addr,
            format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "x".to_string(),
    ] {
        let r = ask(&ok);
        assert!(
            matches!(r.status, 200 | 503),
            "{ok}: {} {}",
            r.status,
            r.body
        );
    }
    for bad in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let r = ask(&bad);
        assert_eq!(
            (r.status, r.code().as_str(), r.header("content-type")),
            (421, "misdirected_request", Some("application/json")),
            "{bad}"
        );
        assert!(aivex_eye::CODES.contains(&"misdirected_request"));
    }
    // Without a Host at all (HTTP/1.0 scripts) the request is served.
    let r = raw(f.addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert!(matches!(r.status, 200 | 503));
    // With auth on, the token decides and any Host passes.
    let g = fixture(|c| {
        c.tokens = vec!["host-token-1".into()];
        c.hosts.clear();
    });
    let r = raw(g.addr, b"GET /signals HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer host-token-1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn tokens_of_any_length_are_refused_alike() {
    let f = fixture(|c| c.tokens = vec!["the-right-token".into()]);
    for presented in [
        "",
        "t",
        "the-right-toke",
        "the-right-tokenX",
        &"x".repeat(8000),
    ] {
        let r = raw(
            f.addr,
            format!("GET /signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {presented}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "unauthorized"),
            "{}",
            presented.len()
        );
    }
    let r = f.get("/signals", Some("the-right-token"));
    assert_eq!(r.status, 200);
}
