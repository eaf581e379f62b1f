//! Fetches through real HTTP (ureq over loopback) from a hand-written HTTP/1.1 server, and
//! from files, checking each outcome's error class. Must not reach beyond 127.0.0.1.

use aivex_core::ModuleError;
use aivex_source::{fetch, FetchOptions, SourceError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What the test server does with one connection.
#[derive(Clone)]
enum Reply {
    /// Writes these bytes verbatim and closes.
    Raw(Vec<u8>),
    /// Sends headers, then sleeps before sending the body.
    SlowBody { head: String, delay: Duration },
    /// Sends headers then an endless close-delimited body until the client hangs up; reports
    /// how many bytes it managed to write.
    Endless(mpsc::Sender<usize>),
}

/// Serves `reply` to each of the next `n` connections; returns the base URL.
fn serve(reply: Reply, n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            read_request(&mut stream);
            match reply.clone() {
                Reply::Raw(bytes) => {
                    let _ = stream.write_all(&bytes);
                }
                Reply::SlowBody { head, delay } => {
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.flush();
                    thread::sleep(delay);
                    let _ = stream.write_all(b"late");
                }
                Reply::Endless(tx) => {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut sent = 0usize;
                    // Bounded so the thread ends even if the client never hangs up.
                    while sent < 512 * 1024 * 1024 {
                        match stream.write(&chunk) {
                            Ok(k) if k > 0 => sent += k,
                            _ => break,
                        }
                    }
                    let _ = tx.send(sent);
                }
            }
        }
    });
    format!("http://{addr}")
}

fn read_request(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn response(status: &str, ctype: &str, body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn quick() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(400),
        max_bytes: 1024,
        user_agent: "aivex-test/1".into(),
        ..FetchOptions::default()
    }
}

#[test]
fn http_outcomes_table() {
    // (reply, expected Ok body or Err class, substring of the message)
    let cases: Vec<(&str, Reply, Result<&str, &str>, &str)> = vec![
        (
            "200",
            response("200 OK", "text/csv", "Date,Close\n"),
            Ok("Date,Close\n"),
            "",
        ),
        (
            "404",
            response("404 Not Found", "text/plain", "no"),
            Err("ExternalServiceError"),
            "HTTP status 404",
        ),
        (
            "500",
            response("500 Internal Server Error", "text/plain", "x"),
            Err("ExternalServiceError"),
            "HTTP status 500",
        ),
        (
            "announced oversize",
            response("200 OK", "text/csv", &"y".repeat(2000)),
            Err("DataValidationError"),
            "1024-byte cap",
        ),
        (
            "chunked oversize",
            Reply::Raw(
                format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                    1500,
                    "z".repeat(1500)
                )
                .into_bytes(),
            ),
            Err("DataValidationError"),
            "1024-byte cap",
        ),
        (
            "exactly at cap",
            response("200 OK", "text/csv", &"a".repeat(1024)),
            Ok(&*Box::leak("a".repeat(1024).into_boxed_str())),
            "",
        ),
        (
            "slow body",
            Reply::SlowBody {
                head: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n".into(),
                delay: Duration::from_secs(3),
            },
            Err("ExternalServiceError"),
            "timed out",
        ),
        (
            "slow headers",
            Reply::SlowBody {
                head: String::new(),
                delay: Duration::from_secs(3),
            },
            Err("ExternalServiceError"),
            "timed out",
        ),
        (
            "redirect to ftp",
            Reply::Raw(
                b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x?token=T0P\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            ),
            Err("ExternalServiceError"),
            "redirect 1 to a URL that is not http(s)",
        ),
        (
            "redirect without a Location",
            Reply::Raw(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Err("ExternalServiceError"),
            "unfollowed redirect (HTTP status 302)",
        ),
    ];
    for (name, reply, want, msg) in cases {
        let base = serve(reply, 1);
        let url = format!("{base}/data.csv?apikey=SECRET42");
        let started = Instant::now();
        let got = fetch(&url, Path::new("/nonexistent"), &quick());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{name}: took {:?}",
            started.elapsed()
        );
        match (got, want) {
            (Ok(f), Ok(body)) => {
                assert_eq!(f.bytes, body.as_bytes(), "{name}");
                assert!(
                    !f.source.contains("SECRET42"),
                    "{name}: secret in {}",
                    f.source
                );
            }
            (Err(e), Err(class)) => {
                let text = e.to_string();
                assert!(text.contains(msg), "{name}: {text}");
                assert!(!text.contains("SECRET42"), "{name}: secret leaked: {text}");
                assert!(
                    !text.contains("T0P"),
                    "{name}: redirect target leaked: {text}"
                );
                assert_eq!(ModuleError::from(e).class(), class, "{name}: {text}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn content_type_and_user_agent_are_passed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let req = read_request(&mut s);
            let _ = tx.send(req);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
            );
        }
    });
    let f = fetch(&format!("http://{addr}/k"), Path::new("."), &quick()).expect("fetch");
    assert_eq!(f.content_type.as_deref(), Some("application/json"));
    let req = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("request seen");
    assert!(
        req.to_ascii_lowercase()
            .contains("user-agent: aivex-test/1"),
        "{req}"
    );
}

#[test]
fn endless_body_stops_at_the_cap() {
    let (tx, rx) = mpsc::channel();
    let base = serve(Reply::Endless(tx), 1);
    let opts = FetchOptions {
        max_bytes: 100_000,
        read_timeout: Duration::from_secs(5),
        ..quick()
    };
    let started = Instant::now();
    let err = fetch(&base, Path::new("."), &opts).expect_err("over cap");
    assert!(
        matches!(err, SourceError::TooLarge { cap: 100_000, .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server could only push what fits in socket buffers past the cap, not its 512 MiB.
    let sent = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server finished");
    assert!(sent < 64 * 1024 * 1024, "server wrote {sent} bytes");
}

#[test]
fn connection_refused_is_external() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = fetch(
        &format!("http://127.0.0.1:{port}/x"),
        Path::new("."),
        &quick(),
    )
    .expect_err("refused");
    assert_eq!(ModuleError::from(err).class(), "ExternalServiceError");
}

#[test]
fn file_sources() {
    let dir = std::env::temp_dir().join(format!("aivex-source-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("sub/ok.csv"), b"Date,Close\n").expect("write");
    std::fs::write(dir.join("big.csv"), vec![b'q'; 2048]).expect("write");
    let table: [(&str, Result<&[u8], &str>); 4] = [
        ("sub/ok.csv", Ok(b"Date,Close\n")),
        ("missing.csv", Err("ConfigError")),
        ("big.csv", Err("DataValidationError")),
        ("sub", Err("RecoverableError")),
    ];
    for (src, want) in table {
        match (fetch(src, &dir, &quick()), want) {
            (Ok(f), Ok(bytes)) => {
                assert_eq!(f.bytes, bytes, "{src}");
                assert_eq!(f.content_type, None);
                assert_eq!(f.source, src);
            }
            (Err(e), Err(class)) => assert_eq!(ModuleError::from(e).class(), class, "{src}"),
            (got, want) => panic!("{src}: got {got:?}, want {want:?}"),
        }
    }
    let abs = dir.join("sub/ok.csv");
    let f = fetch(
        abs.to_str().expect("utf8 path"),
        Path::new("/elsewhere"),
        &quick(),
    )
    .expect("abs");
    assert_eq!(f.bytes, b"Date,Close\n");
    let _ = std::fs::remove_dir_all(&dir);
}

fn redirect_to(location: &str) -> Reply {
    Reply::Raw(
        format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
    )
}

/// `n` redirects in a row (each server answering one request), ending at a server that
/// answers 200 with `body`; returns the first URL. Locations alternate between absolute and
/// scheme-relative forms.
fn chain(n: usize, body: &str) -> String {
    let mut next = format!("{}/final", serve(response("200 OK", "text/plain", body), 1));
    for i in 0..n {
        let location = if i % 2 == 0 {
            next.clone()
        } else {
            next.trim_start_matches("http:").to_string()
        };
        next = format!("{}/hop{i}", serve(redirect_to(&location), 1));
    }
    next
}

#[test]
fn redirects_between_private_addresses_are_followed_up_to_the_cap() {
    // The configured URL is on 127.0.0.1 (private), so redirects to other private addresses
    // are the operator's own network: followed. Five hops are fine, the sixth is refused.
    let got = fetch(&chain(5, "arrived"), Path::new("/"), &quick()).unwrap();
    assert_eq!(got.bytes, b"arrived");
    let err = fetch(&chain(6, "never"), Path::new("/"), &quick()).unwrap_err();
    assert!(err.to_string().contains("more than 5 redirects"), "{err}");
    assert_eq!(ModuleError::from(err).class(), "ExternalServiceError");
    // A lower cap is honoured.
    let opts = FetchOptions {
        max_redirects: 1,
        ..quick()
    };
    let err = fetch(&chain(2, "never"), Path::new("/"), &opts).unwrap_err();
    assert!(err.to_string().contains("more than 1 redirects"), "{err}");
}
