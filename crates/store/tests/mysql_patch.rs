//! Checks the patched mysql_common (vendor/mysql_common, see vendor/README.md) against upstream:
//! the hand-written matchers that replace its nine regexes must accept exactly what the regexes
//! accept, through the public API the driver uses (server version parsing in the handshake, TIME
//! strings to `Duration`, the server's RSA public key PEM). The regexes here are upstream's,
//! verbatim; the `regex` crate is a dev-dependency only, it is not in the binary.
//! Does not talk to a server: the handshake against a real MariaDB is covered by suite.rs.

use mysql::{from_value_opt, Value};
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::crypto::der::{pem_to_der, PubKeyFileType};
use mysql_common::packets::HandshakePacket;
use regex::bytes::Regex;
use std::panic::catch_unwind;
use std::time::Duration;

/// A parsed server version: (major, minor, patch).
type Version = Option<(u16, u16, u16)>;
/// What pem_to_der returns for a PEM: the DER bytes and the key's format.
type Pem<'a> = Option<(&'a [u8], PubKeyFileType)>;

/// A small deterministic generator (xorshift64): the same corpus on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a [u8]]) -> &'a [u8] {
        from[self.below(from.len())]
    }
    /// `template` with every `#` replaced by a random digit, then up to two random edits
    /// (delete, insert, replace, append) with bytes that matter to the patterns.
    fn shaped(&mut self, template: &[u8]) -> Vec<u8> {
        let mut s: Vec<u8> = template
            .iter()
            .map(|&c| {
                if c == b'#' {
                    b'0' + self.below(10) as u8
                } else {
                    c
                }
            })
            .collect();
        if template.ends_with(b".") {
            for _ in 0..self.below(8) {
                s.push(b'0' + self.below(10) as u8);
            }
        }
        const POOL: &[u8] = b"0123456789.:- \n\xff\xc3aM";
        for _ in 0..self.below(3) {
            if s.is_empty() {
                break;
            }
            let i = self.below(s.len());
            let b = POOL[self.below(POOL.len())];
            match self.below(4) {
                0 => {
                    s.remove(i);
                }
                1 => s.insert(i, b),
                2 => s.push(b),
                _ => s[i] = b,
            }
        }
        s
    }
}

fn handshake(version: &[u8]) -> HandshakePacket<'_> {
    HandshakePacket::new(
        10,
        version,
        1,
        [0; 8],
        None::<&[u8]>,
        CapabilityFlags::empty(),
        0,
        StatusFlags::empty(),
        None::<&[u8]>,
    )
}

fn triple(re: &Regex, s: &[u8]) -> Option<(u16, u16, u16)> {
    re.captures(s).map(|c| {
        let n = |i| {
            std::str::from_utf8(c.get(i).unwrap().as_bytes())
                .unwrap()
                .parse()
                .unwrap()
        };
        (n(1), n(2), n(3))
    })
}

#[test]
fn server_versions_parse_as_the_upstream_regexes_do() {
    let version = Regex::new(r"^(\d{1,2})\.(\d{1,2})\.(\d{1,3})(.*)").unwrap();
    let mariadb = Regex::new(r"^(?:5.5.5-)?(\d{1,2})\.(\d{1,2})\.(\d{1,3})-MariaDB").unwrap();
    // What real servers send, and the corners of each group.
    let table: &[(&[u8], Version, Version)] = &[
        (
            b"5.5.5-10.11.6-MariaDB-0+deb12u1",
            Some((5, 5, 5)),
            Some((10, 11, 6)),
        ),
        (b"10.11.6-MariaDB-log", Some((10, 11, 6)), Some((10, 11, 6))),
        (b"8.0.36", Some((8, 0, 36)), None),
        (b"8.4.0-commercial", Some((8, 4, 0)), None),
        (b"8.0.12345", Some((8, 0, 123)), None),
        (b"5.5.5-10.11.1234-MariaDB", Some((5, 5, 5)), None),
        (b"5x5\xc3\xa95-11.4.2-MariaDB", None, Some((11, 4, 2))),
        (b"5\n5.5-11.4.2-MariaDB", None, None),
        (b"123.4.5", None, None),
        (b"1.2.", None, None),
        (b"", None, None),
    ];
    for &(s, want_version, want_mariadb) in table {
        let h = handshake(s);
        let shown = String::from_utf8_lossy(s);
        assert_eq!(
            h.server_version_parsed(),
            want_version,
            "version of {shown:?}"
        );
        assert_eq!(
            triple(&version, s),
            want_version,
            "regex version of {shown:?}"
        );
        assert_eq!(
            h.maria_db_server_version_parsed(),
            want_mariadb,
            "{shown:?}"
        );
        assert_eq!(
            triple(&mariadb, s),
            want_mariadb,
            "regex mariadb of {shown:?}"
        );
    }
    let templates: &[&[u8]] = &[
        b"#.#.#",
        b"##.##.###",
        b"#.##.####-log",
        b"##.##.#-MariaDB",
        b"##.##.##-MariaDB-log",
        b"5.5.5-##.##.#-MariaDB",
        b"5.5.5-##.#.###-MariaDB-1:10.11",
        b"5a5b5-##.##.##-MariaDB",
    ];
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut matched_version, mut matched_mariadb) = (0, 0);
    for _ in 0..20_000 {
        let template = g.pick(templates);
        let s = g.shaped(template);
        let h = handshake(&s);
        let shown = String::from_utf8_lossy(&s);
        let want = triple(&version, &s);
        matched_version += usize::from(want.is_some());
        assert_eq!(h.server_version_parsed(), want, "version of {shown:?}");
        let want = triple(&mariadb, &s);
        matched_mariadb += usize::from(want.is_some());
        assert_eq!(h.maria_db_server_version_parsed(), want, "{shown:?}");
    }
    // The corpus exercises both outcomes of both patterns.
    assert!(
        matched_version > 5_000 && matched_version < 19_000,
        "{matched_version}"
    );
    assert!(
        matched_mariadb > 2_000 && matched_mariadb < 15_000,
        "{matched_mariadb}"
    );
}

#[test]
fn time_strings_convert_to_durations_exactly_when_the_upstream_regexes_match() {
    let shapes = [
        Regex::new(r"^\d{2}:[0-5]\d:[0-5]\d$").unwrap(),
        Regex::new(r"^[0-8]\d\d:[0-5]\d:[0-5]\d$").unwrap(),
        Regex::new(r"^\d{2}:[0-5]\d:[0-5]\d\.\d{1,6}$").unwrap(),
        Regex::new(r"^[0-8]\d\d:[0-5]\d:[0-5]\d\.\d{1,6}$").unwrap(),
    ];
    // Upstream applies the two shapes without a fraction only at their exact lengths (8, 9).
    let upstream = |s: &[u8]| {
        (s.len() == 8 && shapes[0].is_match(s))
            || (s.len() == 9 && shapes[1].is_match(s))
            || shapes[2].is_match(s)
            || shapes[3].is_match(s)
    };
    let table: &[(&[u8], Option<Duration>)] = &[
        (
            b"12:34:56",
            Some(Duration::from_secs(12 * 3600 + 34 * 60 + 56)),
        ),
        (
            b"838:59:59",
            Some(Duration::from_secs(838 * 3600 + 59 * 60 + 59)),
        ),
        (b"01:02:03.5", Some(Duration::new(3723, 500_000_000))),
        (
            b"101:02:03.000007",
            Some(Duration::new(101 * 3600 + 123, 7_000)),
        ),
        (b"12:60:00", None),
        (b"900:00:00", None),
        (b"12:34:56.1234567", None),
        (b"1:02:03", None),
    ];
    for &(s, want) in table {
        let shown = String::from_utf8_lossy(s);
        assert_eq!(
            from_value_opt::<Duration>(Value::Bytes(s.to_vec())).ok(),
            want,
            "{shown:?}"
        );
        assert_eq!(upstream(s), want.is_some(), "regex on {shown:?}");
    }
    let templates: &[&[u8]] = &[b"##:##:##", b"###:##:##", b"##:##:##.", b"###:##:##."];
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let mut matched = 0;
    for _ in 0..20_000 {
        let template = g.pick(templates);
        let s = g.shaped(template);
        // A leading '-' is a sign, and a string of digits alone converts as a number of seconds:
        // both outside what the patterns decide.
        if s.first() == Some(&b'-') || s.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let want = upstream(&s);
        matched += usize::from(want);
        let got = from_value_opt::<Duration>(Value::Bytes(s.clone())).is_ok();
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&s));
    }
    assert!(matched > 1_500 && matched < 18_000, "{matched}");
}

#[test]
fn rsa_public_keys_are_found_in_pem_as_the_upstream_regexes_find_them() {
    let pkcs1 =
        Regex::new("-----BEGIN RSA PUBLIC KEY-----([^-]*)-----END RSA PUBLIC KEY-----").unwrap();
    let pkcs8 = Regex::new("-----BEGIN PUBLIC KEY-----([^-]*)-----END PUBLIC KEY-----").unwrap();
    // Upstream's pem_to_der: the first regex that matches, its body without whitespace,
    // base64-decoded; it panics when neither matches or the body is not base64.
    let upstream = |pem: &[u8]| {
        let (body, kind) = pkcs1
            .captures(pem)
            .map(|c| (c.get(1).unwrap().as_bytes(), PubKeyFileType::Pkcs1))
            .or_else(|| {
                pkcs8
                    .captures(pem)
                    .map(|c| (c.get(1).unwrap().as_bytes(), PubKeyFileType::Pkcs8))
            })?;
        let body: Vec<u8> = body
            .iter()
            .filter(|b| !b" \n\t\r\x0b\x0c".contains(b))
            .copied()
            .collect();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?;
        Some((der, kind))
    };
    // Leftmost match wins, a body stops at the first '-', and a body that is not UTF-8 does not
    // match (the regex runs in Unicode mode), so the PKCS#8 key after it is the one used.
    let table: &[(&[u8], Pem)] = &[
        (
            b"-----BEGIN RSA PUBLIC KEY-----\nQUJD\n-----END RSA PUBLIC KEY-----\n",
            Some((b"ABC", PubKeyFileType::Pkcs1)),
        ),
        (
            b"x-----BEGIN PUBLIC KEY-----QUJD-----END PUBLIC KEY-----",
            Some((b"ABC", PubKeyFileType::Pkcs8)),
        ),
        (
            b"-----BEGIN RSA PUBLIC KEY-----QUJD------BEGIN RSA PUBLIC KEY-----REVG-----END RSA PUBLIC KEY-----",
            Some((b"DEF", PubKeyFileType::Pkcs1)),
        ),
        (
            b"-----BEGIN RSA PUBLIC KEY-----\xff-----END RSA PUBLIC KEY----------BEGIN PUBLIC KEY-----REVG-----END PUBLIC KEY-----",
            Some((b"DEF", PubKeyFileType::Pkcs8)),
        ),
        (b"-----BEGIN PUBLIC KEY-----QUJD", None),
    ];
    for &(pem, want) in table {
        let shown = String::from_utf8_lossy(pem);
        let want = want.map(|(der, kind)| (der.to_vec(), kind));
        assert_eq!(upstream(pem), want, "regex on {shown:?}");
        assert_eq!(catch_unwind(|| pem_to_der(pem)).ok(), want, "{shown:?}");
    }
    let parts: &[&[u8]] = &[
        b"-----BEGIN RSA PUBLIC KEY-----",
        b"-----END RSA PUBLIC KEY-----",
        b"-----BEGIN PUBLIC KEY-----",
        b"-----END PUBLIC KEY-----",
        b"QUJD",
        b"\nREVG\n",
        b"-",
        b"\xff",
        b"x y",
        b"====",
        b"\xc3\xa9",
    ];
    let mut g = Gen(0xd1b5_4a32_d192_ed03);
    let mut found = 0;
    for _ in 0..20_000 {
        let mut pem = Vec::new();
        for _ in 0..1 + g.below(6) {
            pem.extend_from_slice(g.pick(parts));
        }
        let want = upstream(&pem);
        found += usize::from(want.is_some());
        let got = catch_unwind(|| pem_to_der(&pem)).ok();
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&pem));
    }
    assert!(found > 500, "{found}");
}
