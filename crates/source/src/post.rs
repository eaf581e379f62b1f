//! Posting an alert to an http(s) endpoint (the supervisor's webhook and ntfy sinks): one
//! attempt with its timeouts, headers, no redirects, the status as the result. It must not
//! retry (the caller's alert thread does) or log; errors name the endpoint redacted.

use crate::http::map_ureq;
use crate::{read_capped, redact_endpoint, SourceError};
use std::time::Duration;

/// Posts `body` to an http(s) `url` with `headers` (plus Content-Type and the User-Agent), one
/// attempt within `timeout` for connecting and again for the answer. Returns the status of an
/// accepted request (< 300); a status >= 300 is an error (redirects are not followed: a POST
/// must not be replayed elsewhere). The answer's body is read (at most 64 KiB) and dropped.
/// Errors name the endpoint redacted with `redact_endpoint`.
pub fn post(
    url: &str,
    body: &[u8],
    content_type: &str,
    headers: &[(String, String)],
    timeout: Duration,
    user_agent: &str,
) -> Result<u16, SourceError> {
    let shown = redact_endpoint(url);
    let lower = url.trim_start().to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(SourceError::BadSource {
            source: shown,
            detail: "not an http(s) URL".into(),
        });
    }
    if let Err(e) = url.parse::<ureq::http::Uri>() {
        return Err(SourceError::BadSource {
            source: shown,
            detail: format!("bad URL: {e}"),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_resolve(Some(timeout))
        .timeout_send_body(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_recv_body(Some(timeout))
        .user_agent(user_agent)
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.post(url).header("Content-Type", content_type);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let response = req.send(body).map_err(|e| map_ureq(e, &shown, 0))?;
    let status = response.status().as_u16();
    let _ = read_capped(response.into_body().into_reader(), 64 * 1024);
    match status {
        0..=299 => Ok(status),
        300..=399 => Err(SourceError::Network {
            source: shown,
            detail: format!("redirect not followed (HTTP status {status})"),
        }),
        _ => Err(SourceError::HttpStatus {
            source: shown,
            status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_errors_name_the_redacted_endpoint() {
        let e = post(
            "ftp://h/SECRET",
            b"x",
            "text/plain",
            &[],
            Duration::from_secs(1),
            "t",
        )
        .unwrap_err();
        assert!(matches!(e, SourceError::BadSource { .. }), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        // Nothing listens on a port we bound and released: a connection error, quickly.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let e = post(
            &format!("http://127.0.0.1:{port}/hook/SECRET"),
            b"{}",
            "application/json",
            &[("Authorization".into(), "Bearer SECRET".into())],
            Duration::from_secs(2),
            "t",
        )
        .unwrap_err();
        assert!(matches!(e, SourceError::Network { .. }), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn post_reports_the_status() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut got = Vec::new();
            for status in ["204 No Content", "500 Oops", "302 Found"] {
                let (mut c, _) = listener.accept().unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = vec![0u8; 4096];
                let mut req = Vec::new();
                while !String::from_utf8_lossy(&req).contains("hello") {
                    let n = c.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                got.push(String::from_utf8_lossy(&req).into_owned());
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
            got
        });
        let url = format!("http://{addr}/hook");
        let h = [("X-Test".to_string(), "1".to_string())];
        let t = Duration::from_secs(5);
        assert_eq!(post(&url, b"hello", "text/plain", &h, t, "ua/1"), Ok(204));
        assert!(matches!(
            post(&url, b"hello", "text/plain", &h, t, "ua/1"),
            Err(SourceError::HttpStatus { status: 500, .. })
        ));
        assert!(matches!(
            post(&url, b"hello", "text/plain", &h, t, "ua/1"),
            Err(SourceError::Network { .. })
        ));
        let reqs = server.join().unwrap();
        assert!(reqs[0].starts_with("POST /hook HTTP/1.1"), "{}", reqs[0]);
        let lower = reqs[0].to_ascii_lowercase();
        assert!(
            lower.contains("x-test: 1") && lower.contains("content-type: text/plain"),
            "{}",
            reqs[0]
        );
        assert!(lower.contains("user-agent: ua/1"), "{}", reqs[0]);
    }
}
