//! Who may ask: bearer-token authentication, and the `Host` check that keeps a browser from
//! reaching an unauthenticated Eye through a DNS name the attacker controls (DNS rebinding).
//!
//! It owns the rules "no tokens configured = open, otherwise a matching bearer token is
//! required" and "with auth off, `Host` must name the listen address, localhost (when bound
//! to loopback or all addresses) or one of `[eye] hosts`". It must never log, echo or store a
//! presented token, and the comparison must not return early on the first differing byte (or
//! the first matching token), nor take a time that depends on the presented token's length:
//! both sides are compared as SHA-256 digests, so timing reveals neither a token's content,
//! its length, nor which token matched.

use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // Fold the length difference in, then walk the longer input in full.
    let mut diff = (a.len() ^ b.len()) as u64;
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// A fixed-length stand-in for a token: comparing digests takes the same time whatever the
/// lengths of the presented and the configured token.
fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// True when the request may pass: no tokens configured, or `authorization` is
/// `Bearer <token>` with a configured token.
pub fn allowed(tokens: &[String], authorization: Option<&str>) -> bool {
    if tokens.is_empty() {
        return true;
    }
    let presented = authorization
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        })
        .unwrap_or("");
    let presented_digest = digest(presented.as_bytes());
    let mut ok = false;
    for t in tokens {
        // `|` not `||`: every token is compared whatever the earlier results.
        ok |= ct_eq(&presented_digest, &digest(t.as_bytes()));
    }
    ok && !presented.is_empty()
}

/// Splits a `Host` value (or an `[eye] hosts` entry) into a lower-cased name (an IPv6 address
/// without its brackets) and the port, if any. None when it is not `name[:port]`.
fn split_host(v: &str) -> Option<(String, Option<u16>)> {
    let v = v.trim().to_ascii_lowercase();
    let (name, port) = if let Some(rest) = v.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        match after {
            "" => (name.to_string(), None),
            p => (name.to_string(), Some(p.strip_prefix(':')?.parse().ok()?)),
        }
    } else {
        match v.split_once(':') {
            Some((n, p)) => (n.to_string(), Some(p.parse().ok()?)),
            None => (v.clone(), None),
        }
    };
    (!name.is_empty()).then_some((name, port))
}

/// True when a request with this `Host` may be served while auth is off. No `Host` (HTTP/1.0,
/// scripts) passes: browsers always send one, and rebinding needs a browser.
pub fn host_allowed(host: Option<&str>, bound: SocketAddr, hosts: &[String]) -> bool {
    let Some(host) = host.filter(|h| !h.trim().is_empty()) else {
        return true;
    };
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    let listed = hosts
        .iter()
        .filter_map(|h| split_host(h))
        .any(|(n, p)| n == name && p.is_none_or(|p| Some(p) == port));
    if listed {
        return true;
    }
    if port.is_some_and(|p| p != bound.port()) {
        return false;
    }
    let ip = bound.ip();
    match name.parse::<IpAddr>() {
        Ok(h) => ip.is_unspecified() || h == ip || (ip.is_loopback() && h.is_loopback()),
        Err(_) => name == "localhost" && (ip.is_loopback() || ip.is_unspecified()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_table() {
        let tokens = vec!["old-token-1".to_string(), "new-token-2".to_string()];
        let table: &[(&[String], Option<&str>, bool)] = &[
            (&[], None, true),
            (&[], Some("Bearer anything"), true),
            (&tokens, None, false),
            (&tokens, Some("Bearer old-token-1"), true),
            (&tokens, Some("bearer  new-token-2 "), true),
            (&tokens, Some("Bearer new-token-"), false),
            (&tokens, Some("Bearer new-token-22"), false),
            (&tokens, Some("Basic old-token-1"), false),
            (&tokens, Some("old-token-1"), false),
            (&tokens, Some("Bearer "), false),
        ];
        for (t, h, want) in table {
            assert_eq!(allowed(t, *h), *want, "{h:?}");
        }
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"a", b""));
        assert_eq!(digest(b"a").len(), digest(&[b'x'; 4096]).len());
    }

    #[test]
    fn host_table() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap_or(([0; 4], 0).into());
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap_or(([0; 4], 0).into());
        let lan: SocketAddr = "192.168.1.5:8080".parse().unwrap_or(([0; 4], 0).into());
        let hosts = vec!["eye.example.org".to_string(), "box.lan:9000".to_string()];
        let table: &[(Option<&str>, SocketAddr, bool)] = &[
            (None, lo, true),
            (Some(""), lo, true),
            (Some("127.0.0.1:8080"), lo, true),
            (Some("127.0.0.1"), lo, true),
            (Some("localhost:8080"), lo, true),
            (Some("LOCALHOST:8080"), lo, true),
            (Some("[::1]:8080"), lo, true),
            (Some("127.0.0.1:8081"), lo, false),
            (Some("attacker.example:8080"), lo, false),
            (Some("localhost.attacker.example:8080"), lo, false),
            (Some("eye.example.org"), lo, true),
            (Some("eye.example.org:443"), lo, true),
            (Some("box.lan:9000"), lo, true),
            (Some("box.lan:8080"), lo, false),
            (Some("192.168.1.5:8080"), lan, true),
            (Some("192.168.1.6:8080"), lan, false),
            (Some("localhost:8080"), lan, false),
            (Some("10.0.0.7:8080"), any, true),
            (Some("localhost:8080"), any, true),
            (Some("evil.example:8080"), any, false),
            (Some("127.0.0.1:x"), lo, false),
            (Some("[::1"), lo, false),
        ];
        for (host, bound, want) in table {
            assert_eq!(
                host_allowed(*host, *bound, &hosts),
                *want,
                "{host:?} on {bound}"
            );
        }
    }
}
