//! The trading-hours window of the OUTSIDE_HOURS rule: local start/end time, timezone and
//! weekdays, resolved once at load so that evaluating the rule is pure and cannot fail.
//!
//! It owns parsing and checking the `[settings.governor.trading_hours]` table and the "is this
//! instant inside the window" test. The time-zone lookup happens only in `TradingHours::new`
//! (jiff's database: the system copy, or the bundled one on a box without tzdata); it must not
//! read the clock.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The trading window as written in settings; every key defaults to the NYSE regular session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TradingHoursSpec {
    /// Local opening time, "HH:MM" (inclusive).
    pub start: String,
    /// Local closing time, "HH:MM" (exclusive); "24:00" means midnight at the end of the day.
    pub end: String,
    /// IANA time zone name, e.g. "America/New_York".
    pub timezone: String,
    /// Weekdays the window applies on: "Mon".."Sun" (full names accepted, any case).
    pub weekdays: Vec<String>,
}

fn default_weekdays() -> Vec<String> {
    ["Mon", "Tue", "Wed", "Thu", "Fri"]
        .into_iter()
        .map(String::from)
        .collect()
}

impl Default for TradingHoursSpec {
    fn default() -> Self {
        TradingHoursSpec {
            start: "09:30".into(),
            end: "16:00".into(),
            timezone: "America/New_York".into(),
            weekdays: default_weekdays(),
        }
    }
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A validated trading window with its time zone resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "TradingHoursSpec", into = "TradingHoursSpec")]
pub struct TradingHours {
    spec: TradingHoursSpec,
    tz: TimeZone,
    start_s: i32,
    end_s: i32,
    /// Indexed by days from Monday.
    days: [bool; 7],
}

impl PartialEq for TradingHours {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl From<TradingHours> for TradingHoursSpec {
    fn from(h: TradingHours) -> Self {
        h.spec
    }
}

impl TryFrom<TradingHoursSpec> for TradingHours {
    type Error = String;
    fn try_from(spec: TradingHoursSpec) -> Result<Self, String> {
        TradingHours::new(spec)
    }
}

/// Where `now` falls relative to the window; the rule's audit inputs are built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursCheck {
    pub inside: bool,
    /// Local wall-clock time, RFC 9557 (offset and zone name), or the reason it is unknown.
    pub local: String,
    pub weekday: &'static str,
}

impl TradingHours {
    /// Checks the spec and resolves its time zone. Errors name the field
    /// (`trading_hours.start`, `trading_hours.timezone`, ...).
    pub fn new(spec: TradingHoursSpec) -> Result<TradingHours, String> {
        let start_s = parse_hhmm(&spec.start)
            .ok_or_else(|| format!("trading_hours.start: expected HH:MM, got {:?}", spec.start))?;
        let end_s = parse_hhmm(&spec.end)
            .ok_or_else(|| format!("trading_hours.end: expected HH:MM, got {:?}", spec.end))?;
        if start_s >= end_s {
            return Err(format!(
                "trading_hours: start {} must be before end {} (windows across midnight are not supported)",
                spec.start, spec.end
            ));
        }
        let tz = TimeZone::get(&spec.timezone).map_err(|e| {
            format!(
                "trading_hours.timezone: unknown time zone {:?} ({e})",
                spec.timezone
            )
        })?;
        let mut days = [false; 7];
        if spec.weekdays.is_empty() {
            return Err("trading_hours.weekdays: must name at least one day".into());
        }
        for (i, name) in spec.weekdays.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            let idx = DAY_NAMES
                .iter()
                .zip(FULL_DAY_NAMES)
                .position(|(short, full)| lower == short.to_ascii_lowercase() || lower == full)
                .ok_or_else(|| {
                    format!("trading_hours.weekdays[{i}]: expected Mon..Sun, got {name:?}")
                })?;
            if let Some(d) = days.get_mut(idx) {
                *d = true;
            }
        }
        Ok(TradingHours {
            spec,
            tz,
            start_s,
            end_s,
            days,
        })
    }

    pub fn spec(&self) -> &TradingHoursSpec {
        &self.spec
    }

    /// Whether the unix second `now` is inside the window in the configured zone. An instant
    /// jiff cannot represent counts as outside: the gate fails closed.
    pub fn check(&self, now: i64) -> HoursCheck {
        let zoned = match Timestamp::from_second(now) {
            Ok(ts) => ts.to_zoned(self.tz.clone()),
            Err(e) => {
                return HoursCheck {
                    inside: false,
                    local: format!("unrepresentable instant: {e}"),
                    weekday: "",
                }
            }
        };
        let day = usize::from(zoned.weekday().to_monday_zero_offset().unsigned_abs());
        let t = zoned.time();
        let secs = i32::from(t.hour()) * 3600 + i32::from(t.minute()) * 60 + i32::from(t.second());
        let day_on = self.days.get(day).copied().unwrap_or(false);
        HoursCheck {
            inside: day_on && secs >= self.start_s && secs < self.end_s,
            local: zoned.to_string(),
            weekday: DAY_NAMES.get(day).copied().unwrap_or(""),
        }
    }
}

/// "HH:MM" to seconds after midnight; "24:00" is allowed as an end of day.
fn parse_hhmm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    let ok = (0..24).contains(&h) && (0..60).contains(&m) || (h == 24 && m == 0);
    ok.then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(weekdays: &[&str]) -> TradingHours {
        let spec = TradingHoursSpec {
            weekdays: weekdays.iter().map(|s| s.to_string()).collect(),
            ..TradingHoursSpec::default()
        };
        match TradingHours::new(spec) {
            Ok(h) => h,
            Err(e) => panic!("valid spec rejected: {e}"),
        }
    }

    fn ts(rfc3339: &str) -> i64 {
        match rfc3339.parse::<Timestamp>() {
            Ok(t) => t.as_second(),
            Err(e) => panic!("{rfc3339}: {e}"),
        }
    }

    #[test]
    fn window_edges_weekends_and_dst() {
        let weekdays = hours(&["Mon", "Tue", "Wed", "Thu", "Fri"]);
        let every_day = hours(&["mon", "TUE", "Wednesday", "thu", "fri", "sat", "sun"]);
        let table = [
            // Monday 2026-11-23, EST (UTC-5): 09:30 local = 14:30Z.
            (
                "open exactly",
                &weekdays,
                "2026-11-23T14:30:00Z",
                true,
                "Mon",
            ),
            (
                "a second before open",
                &weekdays,
                "2026-11-23T14:29:59Z",
                false,
                "Mon",
            ),
            (
                "a second before close",
                &weekdays,
                "2026-11-23T20:59:59Z",
                true,
                "Mon",
            ),
            (
                "close exactly",
                &weekdays,
                "2026-11-23T21:00:00Z",
                false,
                "Mon",
            ),
            (
                "saturday midday",
                &weekdays,
                "2026-11-21T17:00:00Z",
                false,
                "Sat",
            ),
            (
                "saturday midday, all days",
                &every_day,
                "2026-11-21T17:00:00Z",
                true,
                "Sat",
            ),
            // Friday 2026-03-06 is EST: 13:30Z is 08:30 local, closed.
            (
                "before DST, 13:30Z",
                &weekdays,
                "2026-03-06T13:30:00Z",
                false,
                "Fri",
            ),
            // Monday 2026-03-09 is EDT (UTC-4): 13:30Z is 09:30 local, open.
            (
                "after DST, 13:30Z",
                &weekdays,
                "2026-03-09T13:30:00Z",
                true,
                "Mon",
            ),
            // Sunday 2026-03-08, the change day: 02:00 EST jumps to 03:00 EDT (07:00Z).
            (
                "DST day open",
                &every_day,
                "2026-03-08T13:30:00Z",
                true,
                "Sun",
            ),
            (
                "DST day 08:30 EDT",
                &every_day,
                "2026-03-08T12:30:00Z",
                false,
                "Sun",
            ),
            (
                "DST day close",
                &every_day,
                "2026-03-08T20:00:00Z",
                false,
                "Sun",
            ),
            // Sunday 2026-11-01, back to EST: 09:30 local = 14:30Z.
            (
                "DST end day 13:30Z",
                &every_day,
                "2026-11-01T13:30:00Z",
                false,
                "Sun",
            ),
            (
                "DST end day 14:30Z",
                &every_day,
                "2026-11-01T14:30:00Z",
                true,
                "Sun",
            ),
        ];
        for (name, h, at, inside, weekday) in table {
            let got = h.check(ts(at));
            assert_eq!(got.inside, inside, "{name}: {}", got.local);
            assert_eq!(got.weekday, weekday, "{name}");
        }
    }

    #[test]
    fn bad_specs_name_their_field() {
        let base = TradingHoursSpec::default();
        let table = [
            (
                TradingHoursSpec {
                    timezone: "Mars/Olympus_Mons".into(),
                    ..base.clone()
                },
                "trading_hours.timezone",
            ),
            (
                TradingHoursSpec {
                    start: "9:30".into(),
                    ..base.clone()
                },
                "trading_hours.start",
            ),
            (
                TradingHoursSpec {
                    end: "16:60".into(),
                    ..base.clone()
                },
                "trading_hours.end",
            ),
            (
                TradingHoursSpec {
                    start: "16:00".into(),
                    end: "09:30".into(),
                    ..base.clone()
                },
                "trading_hours: start",
            ),
            (
                TradingHoursSpec {
                    weekdays: vec!["Mon".into(), "Fun".into()],
                    ..base.clone()
                },
                "trading_hours.weekdays[1]",
            ),
            (
                TradingHoursSpec {
                    weekdays: vec![],
                    ..base.clone()
                },
                "trading_hours.weekdays",
            ),
        ];
        for (spec, field) in table {
            match TradingHours::new(spec.clone()) {
                Err(e) => assert!(e.starts_with(field), "{spec:?}: {e}"),
                Ok(_) => panic!("{spec:?} accepted"),
            }
        }
    }

    #[test]
    fn end_of_day_and_utc() {
        let spec = TradingHoursSpec {
            start: "00:00".into(),
            end: "24:00".into(),
            timezone: "UTC".into(),
            weekdays: vec!["Mon".into()],
        };
        let h = TradingHours::new(spec).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.check(ts("2026-11-23T00:00:00Z")).inside);
        assert!(h.check(ts("2026-11-23T23:59:59Z")).inside);
        assert!(!h.check(ts("2026-11-24T00:00:00Z")).inside);
        assert!(!h.check(i64::MAX).inside);
    }
}
