// aivex patch (not part of upstream mysql_common 0.37.3): the fixed patterns upstream matched
// with the `regex` crate, written out by hand so that the binary does not carry a regex engine
// (regex + regex-automata + regex-syntax + aho-corasick, about 0.5 MiB of a static binary) for
// nine constant patterns. Each function names the upstream pattern it replaces. Digits are ASCII
// digits: upstream's `\d` (Unicode mode) also accepted other Unicode digits, which its callers
// then fed to `btoi`/`btou` and `unwrap()`ed, a panic; here such input simply does not match.

/// The input has the shape of `template`: `#` is an ASCII digit (`\d`), `5` is `[0-5]`,
/// `8` is `[0-8]`, any other byte stands for itself. The whole input must be consumed.
fn shape(bytes: &[u8], template: &[u8]) -> bool {
    bytes.len() == template.len()
        && bytes.iter().zip(template).all(|(&b, &t)| match t {
            b'#' => b.is_ascii_digit(),
            b'5' => (b'0'..=b'5').contains(&b),
            b'8' => (b'0'..=b'8').contains(&b),
            _ => b == t,
        })
}

/// `\.\d{1,6}` to the end of the input.
fn fraction(bytes: &[u8]) -> bool {
    matches!(bytes.split_first(), Some((b'.', digits))
        if (1..=6).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit))
}

/// `^` + `template` + `\.\d{1,6}$`.
fn shape_with_fraction(bytes: &[u8], template: &[u8]) -> bool {
    bytes.len() > template.len()
        && shape(&bytes[..template.len()], template)
        && fraction(&bytes[template.len()..])
}

/// `^\d{4}-\d{2}-\d{2}$`
#[cfg_attr(not(feature = "chrono"), allow(dead_code))]
pub(crate) fn datetime_ymd(bytes: &[u8]) -> bool {
    shape(bytes, b"####-##-##")
}

/// `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`
#[cfg_attr(not(feature = "chrono"), allow(dead_code))]
pub(crate) fn datetime_ymd_hms(bytes: &[u8]) -> bool {
    shape(bytes, b"####-##-## ##:##:##")
}

/// `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{1,6}$`
#[cfg_attr(not(feature = "chrono"), allow(dead_code))]
pub(crate) fn datetime_ymd_hms_ns(bytes: &[u8]) -> bool {
    shape_with_fraction(bytes, b"####-##-## ##:##:##")
}

/// `^\d{2}:[0-5]\d:[0-5]\d$`
pub(crate) fn time_hh_mm_ss(bytes: &[u8]) -> bool {
    shape(bytes, b"##:5#:5#")
}

/// `^\d{2}:[0-5]\d:[0-5]\d\.\d{1,6}$`
pub(crate) fn time_hh_mm_ss_ms(bytes: &[u8]) -> bool {
    shape_with_fraction(bytes, b"##:5#:5#")
}

/// `^[0-8]\d\d:[0-5]\d:[0-5]\d$`
pub(crate) fn time_hhh_mm_ss(bytes: &[u8]) -> bool {
    shape(bytes, b"8##:5#:5#")
}

/// `^[0-8]\d\d:[0-5]\d:[0-5]\d\.\d{1,6}$`
pub(crate) fn time_hhh_mm_ss_ms(bytes: &[u8]) -> bool {
    shape_with_fraction(bytes, b"8##:5#:5#")
}

/// A leading run of ASCII digits whose length is in `min..=max`, and what follows it. The run
/// is the whole run: every place these patterns use `\d{m,n}`, the next pattern item is not a
/// digit, so backtracking into a shorter run can never make a match.
fn digit_run(bytes: &[u8], min: usize, max: usize) -> Option<(u16, &[u8])> {
    let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if n < min || n > max {
        return None;
    }
    let value = bytes[..n]
        .iter()
        .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    Some((value, &bytes[n..]))
}

/// `(\d{1,2})\.(\d{1,2})\.` at the start, and what follows it.
fn major_minor(bytes: &[u8]) -> Option<(u16, u16, &[u8])> {
    let (major, rest) = digit_run(bytes, 1, 2)?;
    let rest = rest.strip_prefix(b".")?;
    let (minor, rest) = digit_run(rest, 1, 2)?;
    let rest = rest.strip_prefix(b".")?;
    Some((major, minor, rest))
}

/// `^(\d{1,2})\.(\d{1,2})\.(\d{1,3})(.*)`: the first `x.y.z` of a server version string. The
/// third group takes at most three digits (greedy), whatever follows; `(.*)` may be empty, so it
/// never decides a match.
pub(crate) fn server_version(bytes: &[u8]) -> Option<(u16, u16, u16)> {
    let (major, minor, rest) = major_minor(bytes)?;
    let n = rest
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let (patch, _) = digit_run(&rest[..n], 1, 3)?;
    Some((major, minor, patch))
}

/// The length of the first character of `bytes` when it is what the regex `.` matches: one
/// valid UTF-8 encoded character other than `\n`.
fn any_char(bytes: &[u8]) -> Option<usize> {
    let valid = bytes.utf8_chunks().next()?.valid();
    let c = valid.chars().next()?;
    (c != '\n').then(|| c.len_utf8())
}

/// `5.5.5-` (the dots are regex `.`, any character but `\n`) at the start, and what follows.
fn strip_555(bytes: &[u8]) -> Option<&[u8]> {
    let mut rest = bytes;
    for part in [&b"5"[..], b"5", b"5-"] {
        rest = rest.strip_prefix(part)?;
        if part == b"5" {
            rest = &rest[any_char(rest)?..];
        }
    }
    Some(rest)
}

/// `(\d{1,2})\.(\d{1,2})\.(\d{1,3})-MariaDB` at the start.
fn mariadb_triple(bytes: &[u8]) -> Option<(u16, u16, u16)> {
    let (major, minor, rest) = major_minor(bytes)?;
    let (patch, rest) = digit_run(rest, 1, 3)?;
    rest.starts_with(b"-MariaDB")
        .then_some((major, minor, patch))
}

/// `^(?:5.5.5-)?(\d{1,2})\.(\d{1,2})\.(\d{1,3})-MariaDB`: the optional group is tried first,
/// then the pattern without it, as the regex does.
pub(crate) fn mariadb_server_version(bytes: &[u8]) -> Option<(u16, u16, u16)> {
    strip_555(bytes)
        .and_then(mariadb_triple)
        .or_else(|| mariadb_triple(bytes))
}

/// `BEGIN` + `([^-]*)` + `END` (unanchored, leftmost match): the body between the first `BEGIN`
/// marker that is followed by a run of characters other than `-` and then by `END`. Like the
/// regex (Unicode mode), the body must be valid UTF-8.
pub(crate) fn pem_body<'a>(haystack: &'a [u8], begin: &[u8], end: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(at) = find(&haystack[from..], begin) {
        let start = from + at + begin.len();
        let tail = &haystack[start..];
        let len = tail.iter().position(|&b| b == b'-').unwrap_or(tail.len());
        let body = &tail[..len];
        if tail[len..].starts_with(end) && std::str::from_utf8(body).is_ok() {
            return Some(body);
        }
        from += at + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
