//! Fixtures dated relative to the run, so that no expectation depends on the day the suite
//! runs: the shipped demo data copied with every date moved by whole days (its newest date
//! lands on yesterday, UTC), and dates for hand-written feeds counted back from today.
//!
//! It owns recognising and rewriting the date forms the demo files use (`YYYY-MM-DD`, RFC 822
//! `Www, DD Mon YYYY`, 13-digit Unix milliseconds). It must not decide what a test expects of
//! the data: that stays in the tests. The wall clock is read here and only here.

use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};
use std::path::Path;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const DAY_MS: i64 = 86_400_000;
/// Unix milliseconds outside this range are not dates (2001-09-09 .. 2096-10-02).
const MS_RANGE: std::ops::Range<i64> = 1_000_000_000_000..4_000_000_000_000;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Today's date in UTC.
pub fn today() -> Date {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// `days` days before today, at `hh:00` UTC, as an RFC 822 date (`Fri, 20 Nov 2026 10:00:00 GMT`).
pub fn rfc822_days_ago(days: i64, hh: u8) -> String {
    let d = today() - days.days();
    format!(
        "{}, {:02} {} {} {hh:02}:00:00 GMT",
        weekday_name(d.weekday()),
        d.day(),
        MONTHS[d.month() as usize - 1],
        d.year()
    )
}

/// `days` days before today, at `hh:00` UTC, as RFC 3339.
pub fn rfc3339_days_ago(days: i64, hh: u8) -> String {
    format!("{}T{hh:02}:00:00Z", today() - days.days())
}

/// A copy of the repository's `config/` in `to`, with every date in `config/demo/` moved by the
/// same whole number of days so that the newest one is yesterday. Returns that number.
pub fn dated_config(to: &Path) -> i64 {
    let from = Path::new(REPO).join("config");
    let mut files = Vec::new();
    collect(&from, &mut files);
    let demo = from.join("demo");
    let newest = files
        .iter()
        .filter(|(p, _)| p.starts_with(&demo))
        .filter_map(|(_, text)| newest_date(text))
        .max()
        .expect("the demo data holds dates");
    let shift = (today() - 1.day()).since(newest).unwrap().get_days() as i64;
    for (path, text) in &files {
        let target = to.join(path.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = if path.starts_with(&demo) {
            shift_dates(text, shift)
        } else {
            text.clone()
        };
        std::fs::write(target, text).unwrap();
    }
    shift
}

fn collect(dir: &Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            collect(&entry.path(), out);
        } else {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            out.push((entry.path(), text));
        }
    }
}

/// One date found in a text: its byte range and value.
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
}

enum Kind {
    Iso(Date),
    Rfc822(Date),
    Millis(i64),
}

impl Kind {
    fn date(&self) -> Date {
        match self {
            Kind::Iso(d) | Kind::Rfc822(d) => *d,
            Kind::Millis(ms) => Timestamp::from_millisecond(*ms)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date(),
        }
    }

    fn shifted(&self, days: i64) -> String {
        match self {
            Kind::Iso(d) => (*d + days.days()).to_string(),
            Kind::Rfc822(d) => {
                let d = *d + days.days();
                format!(
                    "{}, {:02} {} {}",
                    weekday_name(d.weekday()),
                    d.day(),
                    MONTHS[d.month() as usize - 1],
                    d.year()
                )
            }
            Kind::Millis(ms) => (ms + days * DAY_MS).to_string(),
        }
    }
}

fn newest_date(text: &str) -> Option<Date> {
    scan(text).iter().map(|f| f.kind.date()).max()
}

/// `text` with every recognised date moved by `days`.
pub fn shift_dates(text: &str, days: i64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in scan(text) {
        out.push_str(&text[at..f.start]);
        out.push_str(&f.kind.shifted(days));
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Every date in `text`, in order, non-overlapping. Linear in the text.
fn scan(text: &str) -> Vec<Found> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.');
        if boundary {
            if let Some(f) = iso_at(text, i)
                .or_else(|| rfc822_at(text, i))
                .or_else(|| millis_at(b, i))
            {
                i = f.end;
                found.push(f);
                continue;
            }
        }
        i += 1;
    }
    found
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let s = b.get(from..from + n)?;
    s.iter()
        .all(u8::is_ascii_digit)
        .then(|| s.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
}

/// `YYYY-MM-DD` not followed by another digit.
fn iso_at(text: &str, i: usize) -> Option<Found> {
    let b = text.as_bytes();
    let (y, m, d) = (digits(b, i, 4)?, digits(b, i + 5, 2)?, digits(b, i + 8, 2)?);
    if b[i + 4] != b'-' || b[i + 7] != b'-' || b.get(i + 10).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let date = Date::new(y as i16, m as i8, d as i8).ok()?;
    Some(Found {
        start: i,
        end: i + 10,
        kind: Kind::Iso(date),
    })
}

/// `Www, D[D] Mon YYYY` (the date part of an RFC 822 timestamp).
fn rfc822_at(text: &str, i: usize) -> Option<Found> {
    let b = text.as_bytes();
    let rest = text.get(i..)?;
    WEEKDAYS.iter().find(|w| rest.starts_with(*w))?;
    let rest = rest.get(3..)?.strip_prefix(", ")?;
    let day_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day: i8 = rest[..day_len].parse().ok()?;
    let rest = rest[day_len..].strip_prefix(' ')?;
    let month = MONTHS.iter().position(|m| rest.starts_with(m))? as i8 + 1;
    let rest = rest.get(3..)?.strip_prefix(' ')?;
    let start_of_year = text.len() - rest.len();
    let year = digits(b, start_of_year, 4)?;
    let date = Date::new(year as i16, month, day).ok()?;
    Some(Found {
        start: i,
        end: start_of_year + 4,
        kind: Kind::Rfc822(date),
    })
}

/// A 13-digit number in the range of Unix milliseconds (Binance klines' open and close times).
fn millis_at(b: &[u8], i: usize) -> Option<Found> {
    let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if len != 13 || b.get(i + len) == Some(&b'.') {
        return None;
    }
    let ms = digits(b, i, 13)?;
    MS_RANGE.contains(&ms).then_some(Found {
        start: i,
        end: i + 13,
        kind: Kind::Millis(ms),
    })
}

fn weekday_name(w: Weekday) -> &'static str {
    WEEKDAYS[w.to_monday_zero_offset() as usize]
}

#[test]
fn shifting_moves_every_date_form_and_keeps_the_rest() {
    let text = "Date,Open\n2026-11-20,1.5\n<pubDate>Fri, 20 Nov 2026 10:00:00 GMT</pubDate>\n\
[[1795132800000,\"1.0\",1795219199999,\"286645489.16\"]]\nid 0000320193-26-000027 v1.2026-01-01x";
    let shifted = shift_dates(text, 10);
    assert_eq!(
        shifted,
        "Date,Open\n2026-11-30,1.5\n<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>\n\
[[1795996800000,\"1.0\",1796083199999,\"286645489.16\"]]\nid 0000320193-26-000027 v1.2026-01-01x"
    );
    assert_eq!(shift_dates(&shifted, -10), text);
    assert_eq!(
        newest_date("a 2026-11-19 b Sun, 22 Nov 2026 12:00:00 GMT"),
        Some(jiff::civil::date(2026, 11, 22))
    );
}

#[test]
fn the_dated_demo_ends_yesterday() {
    let dir = std::env::temp_dir().join(format!("aivex-it-fixtures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dated_config(&dir);
    let mut files = Vec::new();
    collect(&dir.join("demo"), &mut files);
    let newest = files.iter().filter_map(|(_, t)| newest_date(t)).max();
    assert_eq!(newest, Some(today() - 1.day()));
    let _ = std::fs::remove_dir_all(&dir);
}
