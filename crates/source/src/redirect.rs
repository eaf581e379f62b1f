//! The redirect policy, as pure functions: which addresses are private, whether a hop may
//! connect to the addresses its host resolved to, and where a `Location` points.
//!
//! A feed server must not be able to turn aivex into a probe of the box's own network: a
//! redirect from a public URL to a loopback, private, link-local or unspecified address is
//! refused unless the configured URL is itself private (then the operator pointed aivex into
//! that network on purpose) or the module opted in with `allow_private_redirects`. Decisions
//! are made on resolved addresses, so a public-looking name that resolves to 127.0.0.1 counts
//! as private. No I/O here; the HTTP shell resolves and asks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for addresses a public feed must not send aivex to: loopback (127/8, ::1), private
/// (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10) and unspecified
/// (0.0.0.0/8, ::), also when written as IPv4-mapped or -compatible IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 127
        || a == 10
        || a == 0
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 169 && b == 254)
}

/// The IPv4 address inside `::ffff:a.b.c.d` (mapped) or `::a.b.c.d` (compatible, deprecated but
/// still routed by some stacks); `::1` and `::` are IPv6's own loopback and unspecified.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let compatible = s[..6].iter().all(|&x| x == 0) && !(s[6] == 0 && s[7] <= 1);
    compatible.then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

/// Whether the `hop`-th request of a fetch (0 is the configured URL) may connect to a host
/// that resolved to `addrs`. `origin_private` is what the configured URL resolved to. The
/// configured URL itself is always allowed. Err names the first private address.
pub fn hop_allowed(
    hop: u32,
    origin_private: bool,
    allow_private: bool,
    addrs: &[IpAddr],
) -> Result<(), IpAddr> {
    if hop == 0 || origin_private || allow_private {
        return Ok(());
    }
    // One private address among the answers is enough: a host that is "also" 127.0.0.1 is
    // how DNS rebinding looks.
    match addrs.iter().find(|ip| is_private(**ip)) {
        Some(ip) => Err(*ip),
        None => Ok(()),
    }
}

/// The absolute URL a `Location` header points to from `current` (RFC 3986 reference
/// resolution for the forms servers send: absolute, scheme-relative, absolute-path and
/// relative-path); None for a target that is not http(s).
pub fn next_url(current: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let lower = location.to_ascii_lowercase();
    let (scheme, rest) = current.split_once("://")?;
    let next = if lower.starts_with("http://") || lower.starts_with("https://") {
        location.to_string()
    } else if location.contains("://") || location.is_empty() {
        return None;
    } else if let Some(r) = location.strip_prefix("//") {
        format!("{scheme}://{r}")
    } else {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if location.starts_with('/') {
            format!("{scheme}://{authority}{location}")
        } else {
            let path = path.split(['?', '#']).next().unwrap_or("");
            let dir = match path.rfind('/') {
                Some(i) => &path[..=i],
                None => "/",
            };
            format!("{scheme}://{authority}{dir}{location}")
        }
    };
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_address_table() {
        let table = [
            ("127.0.0.1", true),
            ("127.255.255.254", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("172.15.0.1", false),
            ("192.168.1.1", true),
            ("192.169.1.1", false),
            ("169.254.169.254", true),
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("8.8.8.8", false),
            ("198.51.100.7", false),
            ("100.64.0.1", false),
            ("::1", true),
            ("::", true),
            ("fc00::1", true),
            ("fdff::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", false),
            ("2001:db8::1", false),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("::8.8.8.8", false),
        ];
        for (ip, want) in table {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(is_private(parsed), want, "{ip}");
        }
    }

    #[test]
    fn hop_table() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "127.0.0.1".parse().unwrap();
        // (hop, origin private, opted in, resolved addresses, allowed)
        let table: [(u32, bool, bool, Vec<IpAddr>, bool); 9] = [
            (0, false, false, vec![private], true),
            (0, true, false, vec![public], true),
            (1, false, false, vec![public], true),
            (1, false, false, vec![private], false),
            (3, false, false, vec![public, private], false),
            (1, true, false, vec![private], true),
            (1, false, true, vec![private], true),
            (2, true, true, vec![public], true),
            (5, false, false, vec![], true),
        ];
        for (hop, origin, allow, addrs, want) in table {
            let got = hop_allowed(hop, origin, allow, &addrs);
            assert_eq!(got.is_ok(), want, "{hop} {origin} {allow} {addrs:?}");
            if !want {
                assert_eq!(got, Err(private));
            }
        }
    }

    #[test]
    fn next_url_table() {
        let cur = "http://feeds.example.com:8080/a/b/feed.xml?x=1#f";
        let table = [
            ("https://other.example/x", Some("https://other.example/x")),
            ("HTTP://Other.example/x", Some("HTTP://Other.example/x")),
            ("//cdn.example/y", Some("http://cdn.example/y")),
            ("/root", Some("http://feeds.example.com:8080/root")),
            (
                "next.xml",
                Some("http://feeds.example.com:8080/a/b/next.xml"),
            ),
            ("  /trim ", Some("http://feeds.example.com:8080/trim")),
            ("ftp://x/y", None),
            ("file:///etc/passwd", None),
            ("", None),
        ];
        for (loc, want) in table {
            assert_eq!(next_url(cur, loc).as_deref(), want, "{loc:?}");
        }
        assert_eq!(
            next_url("http://h", "x").as_deref(),
            Some("http://h/x"),
            "no path"
        );
    }
}
