//! Lenient feed date parsing to unix seconds: RFC 822/2822 (named zones such as EST/GMT/PDT,
//! optional weekday and seconds, two-digit years), RFC 3339 / ISO 8601 (with or without a zone,
//! with `T` or a space, date-only), and Alpha Vantage's compact `20241105T143000`.
//!
//! Pure: no clock. A string without a zone is read as UTC. Returns `None` for anything it does
//! not recognise so the caller can report the field and value.

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};

/// Parses a date in any supported format to unix seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Some(t) = parse_iso(s) {
            return Some(t);
        }
    }
    parse_rfc822(s)
}

fn to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, sec: i64, offset_s: i64) -> Option<i64> {
    let date = Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()?;
    // A leap second (":60") is folded into the next second, as most feed readers do.
    let (sec, extra) = if sec == 60 { (59, 1) } else { (sec, 0) };
    // `Date::at` panics on an out-of-range time; `Time::new` reports it instead.
    let time = Time::new(
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(sec).ok()?,
        0,
    )
    .ok()?;
    let dt = date.to_datetime(time);
    let offset = Offset::from_seconds(i32::try_from(offset_s).ok()?).ok()?;
    let z = dt.to_zoned(TimeZone::fixed(offset)).ok()?;
    Some(z.timestamp().as_second() + extra)
}

/// A cursor over ASCII digits.
fn take_digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// RFC 3339 and ISO 8601 variants, plus the compact `YYYYMMDDTHHMMSS` form.
fn parse_iso(s: &str) -> Option<i64> {
    let (y, rest, compact) = match take_digits(s, 4, 8)? {
        (v, rest) if s.len() - rest.len() == 8 => (v / 10000, rest, Some(v % 10000)),
        (v, rest) if s.len() - rest.len() == 4 => (v, rest, None),
        _ => return None,
    };
    let (mo, d, rest) = match compact {
        Some(md) => (md / 100, md % 100, rest),
        None => {
            let rest = rest.strip_prefix('-')?;
            let (mo, rest) = take_digits(rest, 1, 2)?;
            let rest = rest.strip_prefix('-')?;
            let (d, rest) = take_digits(rest, 1, 2)?;
            (mo, d, rest)
        }
    };
    if rest.is_empty() {
        return to_unix(y, mo, d, 0, 0, 0, 0);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (h, mut rest) = take_digits(rest, 2, 2)?;
    let mi;
    let mut sec = 0;
    if compact.is_some() && !rest.starts_with(':') {
        (mi, rest) = take_digits(rest, 2, 2)?;
        if let Some((v, r)) = take_digits(rest, 2, 2) {
            (sec, rest) = (v, r);
        }
    } else {
        (mi, rest) = take_digits(rest.strip_prefix(':')?, 2, 2)?;
        if let Some(r) = rest.strip_prefix(':') {
            (sec, rest) = take_digits(r, 2, 2)?;
        }
    }
    if let Some(r) = rest.strip_prefix(['.', ',']) {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[n..];
    }
    let offset = parse_zone(rest.trim())?;
    to_unix(y, mo, d, h, mi, sec, offset)
}

/// A zone suffix: empty (UTC), `Z`, `+hh:mm`, `+hhmm`, `+hh`, or a named zone.
fn parse_zone(z: &str) -> Option<i64> {
    if z.is_empty() {
        return Some(0);
    }
    if let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body: String = z[1..].chars().filter(|c| *c != ':').collect();
        if !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (h, m) = match body.len() {
            2 => (body.parse::<i64>().ok()?, 0),
            4 => (
                body[..2].parse::<i64>().ok()?,
                body[2..].parse::<i64>().ok()?,
            ),
            _ => return None,
        };
        if h > 23 || m > 59 {
            return None;
        }
        let secs = h * 3600 + m * 60;
        return Some(if sign == '-' { -secs } else { secs });
    }
    named_zone(z)
}

fn named_zone(z: &str) -> Option<i64> {
    let h = match z.to_ascii_uppercase().as_str() {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => 0.0,
        "EST" => -5.0,
        "EDT" => -4.0,
        "CST" => -6.0,
        "CDT" => -5.0,
        "MST" => -7.0,
        "MDT" => -6.0,
        "PST" => -8.0,
        "PDT" => -7.0,
        "AKST" => -9.0,
        "AKDT" => -8.0,
        "HST" => -10.0,
        "BST" | "CET" | "WEST" => 1.0,
        "CEST" | "EET" => 2.0,
        "EEST" | "MSK" => 3.0,
        "IST" => 5.5,
        "SGT" | "HKT" | "AWST" => 8.0,
        "JST" | "KST" => 9.0,
        "AEST" => 10.0,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        _ => return None,
    };
    Some((h * 3600.0) as i64)
}

fn month(name: &str) -> Option<i64> {
    let lower = name.to_ascii_lowercase();
    let key = lower.get(..3)?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let idx = MONTHS.iter().position(|m| *m == key)?;
    Some(idx as i64 + 1)
}

/// RFC 822 / 2822 and the usual sloppiness: `[Day,] D Mon YY[YY] HH:MM[:SS] [zone]`, also
/// with the zone in parentheses (`-0500 (EST)`) or missing.
fn parse_rfc822(s: &str) -> Option<i64> {
    let s = match s.find(',') {
        Some(i) if i <= 10 => &s[i + 1..],
        _ => s,
    };
    let mut parts = s.split_whitespace();
    let mut first = parts.next()?;
    // A weekday written without the comma ("Tue 05 Nov 2024 ...").
    if first.chars().all(|c| c.is_ascii_alphabetic()) && month(first).is_none() {
        first = parts.next()?;
    }
    let (d, mo) = match first.parse::<i64>() {
        Ok(d) => (d, month(parts.next()?)?),
        // "Nov 05 2024" ordering.
        Err(_) => {
            let mo = month(first)?;
            (parts.next()?.trim_end_matches(',').parse::<i64>().ok()?, mo)
        }
    };
    let ytok = parts.next()?;
    let mut y: i64 = ytok.parse().ok()?;
    if ytok.len() == 2 {
        // RFC 2822 section 4.3: 00-49 are 2000-2049, 50-99 are 1950-1999.
        y += if y < 50 { 2000 } else { 1900 };
    }
    let (mut h, mut mi, mut sec) = (0, 0, 0);
    let mut offset = 0;
    if let Some(time) = parts.next() {
        let mut t = time.split(':');
        h = t.next()?.parse().ok()?;
        mi = t.next()?.parse().ok()?;
        if let Some(sv) = t.next() {
            sec = sv.parse().ok()?;
        }
        if t.next().is_some() {
            return None;
        }
        if let Some(zone) = parts.next() {
            offset = parse_zone(zone.trim_matches(|c| c == '(' || c == ')'))?;
        }
        // Anything after the zone other than a parenthesised comment is not a date.
        if let Some(extra) = parts.next() {
            if !extra.starts_with('(') {
                return None;
            }
        }
    }
    to_unix(y, mo, d, h, mi, sec, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_table() {
        // 2024-11-05T14:30:00Z
        let t = 1_730_817_000;
        let table: &[(&str, Option<i64>)] = &[
            ("Tue, 05 Nov 2024 14:30:00 GMT", Some(t)),
            ("Tue, 05 Nov 2024 14:30:00 +0000", Some(t)),
            ("Tue, 05 Nov 2024 09:30:00 EST", Some(t)),
            ("Tue, 05 Nov 2024 07:30:00 PDT", Some(t)),
            ("Tue, 5 Nov 2024 09:30:00 -0500", Some(t)),
            ("Tue, 05 Nov 24 14:30:00 GMT", Some(t)),
            ("05 Nov 2024 14:30 Z", Some(t)),
            ("Tue 05 Nov 2024 14:30:00", Some(t)),
            ("Tue, 05 Nov 2024 09:30:00 -0500 (EST)", Some(t)),
            ("Tuesday, 05 November 2024 14:30:00 UT", Some(t)),
            ("Nov 05 2024 14:30:00 GMT", Some(t)),
            ("2024-11-05T14:30:00Z", Some(t)),
            ("2024-11-05T14:30:00.123Z", Some(t)),
            ("2024-11-05T16:30:00+02:00", Some(t)),
            ("2024-11-05T09:30:00-0500", Some(t)),
            ("2024-11-05 14:30:00", Some(t)),
            ("2024-11-05T14:30", Some(t)),
            ("20241105T143000", Some(t)),
            ("20241105T1430", Some(t)),
            ("2024-11-05", Some(t - 14 * 3600 - 30 * 60)),
            ("Mon, 01 Jan 99 00:00:00 GMT", Some(915_148_800)),
            ("2016-12-31T23:59:60Z", Some(1_483_228_800)),
            ("", None),
            ("yesterday", None),
            ("2024-13-05T14:30:00Z", None),
            ("Tue, 31 Feb 2024 14:30:00 GMT", None),
            ("Tue, 05 Nov 2024 14:30:00 XYZ", None),
            ("2024-11-05T14:30:00+25:00", None),
            ("99999999999999999999", None),
            ("Tue, 05 Nov 2024 25:30:00 GMT", None),
            ("2024-11-05T14:61:00Z", None),
            ("20241105T996099", None),
            ("Tue, 05 Nov 2024 -1:30:00 GMT", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_date(input), *want, "input {input:?}");
        }
    }
}
