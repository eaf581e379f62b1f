//! Date and time text to unix seconds (UTC), for the formats bar and fundamentals files use.
//!
//! Pure: no clock, no local time zone. Naive datetimes are taken as UTC because exchanges'
//! export files rarely say otherwise and a fixed rule keeps re-ingests idempotent.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::error::quote;

/// Parses a date or datetime, optionally joined with a separate time-of-day column.
/// Accepts `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM-DD HH:MM[:SS[.f]]`, the `T`-separated form,
/// RFC 3339 with `Z` or an offset, and integer unix times (s/ms/µs/ns by magnitude).
pub fn parse_instant(date: &str, time: Option<&str>) -> Result<i64, String> {
    let date = date.trim();
    if date.is_empty() {
        return Err("empty date".into());
    }
    let time = time.map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = time {
        let day = parse_day(date).ok_or_else(|| format!("unrecognised date {}", quote(date)))?;
        let clock = normalise_clock(t).ok_or_else(|| format!("unrecognised time {}", quote(t)))?;
        let joined = format!("{day}T{clock}");
        return naive_utc(&joined).ok_or_else(|| format!("unrecognised time {}", quote(t)));
    }
    if date.len() == 10 {
        // The common daily case, kept off jiff's general parser: it dominates parse time.
        if let Some(day) = parse_day(date) {
            return midnight_utc(day).ok_or_else(|| format!("date out of range {}", quote(date)));
        }
    }
    if date.bytes().all(|b| b.is_ascii_digit()) {
        if date.len() == 8 {
            let day =
                parse_day(date).ok_or_else(|| format!("unrecognised date {}", quote(date)))?;
            return midnight_utc(day).ok_or_else(|| format!("date out of range {}", quote(date)));
        }
        return epoch(date).ok_or_else(|| format!("unrecognised unix time {}", quote(date)));
    }
    if let Ok(ts) = date.parse::<Timestamp>() {
        return Ok(ts.as_second());
    }
    naive_utc(date).ok_or_else(|| format!("unrecognised date {}", quote(date)))
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD` into a civil date.
pub fn parse_day(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let y: i16 = s.get(0..4)?.parse().ok()?;
        let m: i8 = s.get(4..6)?.parse().ok()?;
        let d: i8 = s.get(6..8)?.parse().ok()?;
        return Date::new(y, m, d).ok();
    }
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()
}

/// Midnight UTC of a civil date, in unix seconds.
pub fn midnight_utc(day: Date) -> Option<i64> {
    day.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

fn naive_utc(s: &str) -> Option<i64> {
    let dt = s.parse::<DateTime>().ok()?;
    dt.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// `HH:MM`, `HH:MM:SS` or Stooq's `HHMMSS` as `HH:MM:SS`.
fn normalise_clock(t: &str) -> Option<String> {
    if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!(
            "{}:{}:{}",
            t.get(0..2)?,
            t.get(2..4)?,
            t.get(4..6)?
        ));
    }
    if t.contains(':') {
        return Some(t.to_string());
    }
    None
}

/// Integer unix time whose unit is told by its size: seconds up to 1e11 (year 5138),
/// milliseconds up to 1e14, microseconds up to 1e17, else nanoseconds.
pub fn epoch_units_to_seconds(v: i64) -> i64 {
    let a = v.unsigned_abs();
    let div = if a < 100_000_000_000 {
        1
    } else if a < 100_000_000_000_000 {
        1_000
    } else if a < 100_000_000_000_000_000 {
        1_000_000
    } else {
        1_000_000_000
    };
    v.div_euclid(div)
}

fn epoch(s: &str) -> Option<i64> {
    let v: i64 = s.parse().ok()?;
    let secs = epoch_units_to_seconds(v);
    // Reject values jiff cannot represent, so every accepted ts can be printed back.
    Timestamp::from_second(secs).ok().map(|t| t.as_second())
}

/// `YYYY-MM-DD` for midnight UTC, else RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_ts(ts: i64) -> String {
    match Timestamp::from_second(ts) {
        Ok(t) if ts.rem_euclid(86_400) == 0 => t.strftime("%Y-%m-%d").to_string(),
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_instant_table() {
        let table: [(&str, Option<&str>, Option<i64>); 16] = [
            ("2024-01-02", None, Some(1_704_153_600)),
            ("20240102", None, Some(1_704_153_600)),
            ("2024-01-02 10:30", None, Some(1_704_191_400)),
            ("2024-01-02 10:30:15", None, Some(1_704_191_415)),
            ("2024-01-02T10:30:15", None, Some(1_704_191_415)),
            ("2024-01-02T10:30:15Z", None, Some(1_704_191_415)),
            ("2024-01-02T12:30:15+02:00", None, Some(1_704_191_415)),
            ("2024-01-02", Some("10:30:15"), Some(1_704_191_415)),
            ("20240102", Some("103015"), Some(1_704_191_415)),
            ("1704191415", None, Some(1_704_191_415)),
            ("1704191415000", None, Some(1_704_191_415)),
            ("1704191415000000", None, Some(1_704_191_415)),
            ("2024-02-30", None, None),
            ("02/01/2024", None, None),
            ("", None, None),
            ("2024-01-02", Some("noon"), None),
        ];
        for (d, t, want) in table {
            assert_eq!(parse_instant(d, t).ok(), want, "{d:?} {t:?}");
        }
    }

    #[test]
    fn midnight_matches_jiff() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 12, 31),
            (1900, 3, 1),
            (-44, 3, 15),
            (2262, 4, 11),
        ] {
            let day = Date::new(y, m, d).expect("valid date");
            let want = day
                .to_zoned(TimeZone::UTC)
                .expect("utc")
                .timestamp()
                .as_second();
            assert_eq!(midnight_utc(day), Some(want), "{day}");
        }
    }

    #[test]
    fn format_ts_table() {
        assert_eq!(format_ts(1_704_153_600), "2024-01-02");
        assert_eq!(format_ts(1_704_191_415), "2024-01-02T10:30:15Z");
        assert_eq!(format_ts(-86_400), "1969-12-31");
    }
}
