//! The point-in-time rules of a replay: when each kind of stored input counts as known, what
//! the facts were as known at a time, and the durations replay steps by.
//!
//! - a bar counts once it has closed: `ts + interval <= t`;
//! - an article from its `published_at`, or its `ingested_at` when it has none;
//! - a fundamentals filing from 00:00 UTC of its `filed` day, never from its period end; of
//!   each fact (metric, period end, source) the latest filing known at `t` counts.
//!
//! Pure functions of their arguments (`t` is always given); they must not read the clock or
//! the store. The table tests below are the rules' specification.

use aivex_market::Fundamental;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Whether a bar opened at `ts` has closed by `t`.
pub fn bar_closed(ts: i64, interval_s: i64, t: i64) -> bool {
    ts.saturating_add(interval_s) <= t
}

/// The time an article counts from: its publication, or its ingest when it has no date.
pub fn article_time(published_at: Option<i64>, ingested_at: i64) -> i64 {
    published_at.unwrap_or(ingested_at)
}

/// Unix seconds of 00:00 UTC on a `YYYY-MM-DD` day, None when it is not a date.
pub fn day_start(day: &str) -> Option<i64> {
    let d: Date = day.trim().parse().ok()?;
    d.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// When a filing counts from: 00:00 UTC of its `filed` day (its period end when it was
/// stored without one, which the metrics module records as filed on that day). A filing
/// whose date does not parse never counts.
pub fn filing_known_from(f: &Fundamental) -> Option<i64> {
    day_start(f.filed.as_deref().unwrap_or(&f.period_end))
}

/// The facts as known at `t`: of each (metric, period end, source), the latest filing known
/// by `t` (the later one in `filings` when two share a day), sorted by metric, period end,
/// source (the order the store returns the latest facts in, which decides which source wins
/// when two report the same period).
pub fn known_facts(filings: &[Fundamental], t: i64) -> Vec<Fundamental> {
    let mut best: std::collections::BTreeMap<(&str, &str, &str), (i64, &Fundamental)> =
        std::collections::BTreeMap::new();
    for f in filings {
        let Some(from) = filing_known_from(f).filter(|from| *from <= t) else {
            continue;
        };
        let key = (f.metric.as_str(), f.period_end.as_str(), f.source.as_str());
        match best.get(&key) {
            Some((known, _)) if *known > from => {}
            _ => {
                best.insert(key, (from, f));
            }
        }
    }
    best.into_values().map(|(_, f)| f.clone()).collect()
}

/// The facts as known at a time that only moves forward, kept up to date one filing at a
/// time: `learn` each filing once it is known (in the order `known_facts` reads them), and
/// `facts()` equals `known_facts` over the filings learnt so far. A replay learns a few
/// filings a quarter instead of rebuilding the facts from every filing at every step.
#[derive(Debug, Clone, Default)]
pub struct KnownFacts {
    /// Sorted by (metric, period end, source), one per fact.
    facts: Vec<Fundamental>,
}

impl KnownFacts {
    /// Takes a filing known from now on: it replaces the fact's earlier filing.
    pub fn learn(&mut self, f: &Fundamental) {
        let key = |g: &Fundamental| (g.metric.clone(), g.period_end.clone(), g.source.clone());
        let k = (f.metric.as_str(), f.period_end.as_str(), f.source.as_str());
        match self.facts.binary_search_by(|g| {
            (g.metric.as_str(), g.period_end.as_str(), g.source.as_str()).cmp(&k)
        }) {
            Ok(i) => {
                if let Some(slot) = self.facts.get_mut(i) {
                    *slot = f.clone();
                }
            }
            Err(i) => self.facts.insert(i, f.clone()),
        }
        debug_assert!(self.facts.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    }

    pub fn facts(&self) -> &[Fundamental] {
        &self.facts
    }
}

/// A duration: whole seconds, or a number with a unit `s`, `m`, `h`, `d`, `w` (`"1d"`,
/// `"4h"`, `"900"`). The unit of a bar interval name (`1d`, `1h`, `15m`) reads the same way.
/// None for anything else, zero or negative.
pub fn parse_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2024-05-01T00:00:00Z.
    const MAY_1: i64 = 1_714_521_600;

    fn filing(period: &str, value: f64, filed: Option<&str>, source: &str) -> Fundamental {
        Fundamental {
            symbol: "AAPL".into(),
            metric: "revenue".into(),
            period_end: period.into(),
            value,
            unit: "USD".into(),
            filed: filed.map(str::to_string),
            source: source.into(),
        }
    }

    #[test]
    fn a_bar_counts_once_closed() {
        let table = [
            // (bar ts, interval, t, closed?)
            (MAY_1, DAY, MAY_1 + DAY - 1, false),
            (MAY_1, DAY, MAY_1 + DAY, true),
            (MAY_1, DAY, MAY_1, false),
            (MAY_1, 3600, MAY_1 + 3599, false),
            (MAY_1, 3600, MAY_1 + 3600, true),
            (i64::MAX - 5, DAY, i64::MAX - 1, false),
        ];
        for (ts, interval, t, want) in table {
            assert_eq!(bar_closed(ts, interval, t), want, "{ts} {interval} {t}");
        }
    }

    #[test]
    fn an_article_counts_from_its_publication_or_ingest() {
        assert_eq!(article_time(Some(100), 500), 100);
        assert_eq!(article_time(None, 500), 500);
        // Published after it was ingested (a pre-dated feed item): still its publication.
        assert_eq!(article_time(Some(900), 500), 900);
    }

    #[test]
    fn a_filing_is_invisible_before_it_was_filed() {
        let q1 = filing("2024-03-31", 90.0, Some("2024-05-01"), "sec");
        assert_eq!(filing_known_from(&q1), Some(MAY_1));
        let table = [
            // Never its period end: the quarter ended a month before anyone knew the number.
            (day_start("2024-03-31").unwrap_or(0), 0),
            (MAY_1 - 1, 0),
            (MAY_1, 1),
            (MAY_1 + 10 * DAY, 1),
        ];
        for (t, n) in table {
            assert_eq!(known_facts(std::slice::from_ref(&q1), t).len(), n, "t {t}");
        }
        let undated = filing("2024-03-31", 90.0, None, "csv");
        assert_eq!(filing_known_from(&undated), day_start("2024-03-31"));
        let broken = filing("2024-03-31", 90.0, Some("soon"), "csv");
        assert_eq!(filing_known_from(&broken), None);
        assert!(known_facts(&[broken], i64::MAX).is_empty());
    }

    #[test]
    fn a_restatement_replaces_the_first_filing_only_once_filed() {
        let first = filing("2024-03-31", 90.0, Some("2024-05-01"), "sec");
        let restated = filing("2024-03-31", 91.5, Some("2025-05-02"), "sec");
        let q2 = filing("2024-06-30", 85.0, Some("2024-08-01"), "sec");
        let other_source = filing("2024-03-31", 89.0, Some("2024-05-03"), "csv");
        let all = [
            restated.clone(),
            q2.clone(),
            first.clone(),
            other_source.clone(),
        ];
        let value_at = |t: i64| -> Vec<(String, f64)> {
            known_facts(&all, t)
                .into_iter()
                .map(|f| (format!("{} {}", f.period_end, f.source), f.value))
                .collect()
        };
        let at = |d: &str| day_start(d).unwrap_or(0);
        assert_eq!(value_at(at("2024-04-30")), vec![]);
        assert_eq!(
            value_at(at("2024-05-01")),
            vec![("2024-03-31 sec".into(), 90.0)]
        );
        assert_eq!(
            value_at(at("2024-08-01")),
            vec![
                ("2024-03-31 csv".into(), 89.0),
                ("2024-03-31 sec".into(), 90.0),
                ("2024-06-30 sec".into(), 85.0)
            ]
        );
        assert_eq!(
            value_at(at("2025-05-02"))[1],
            ("2024-03-31 sec".into(), 91.5)
        );
        // Two filings on one day: the later one in the list wins.
        let same_day = filing("2024-03-31", 92.0, Some("2024-05-01"), "sec");
        let got = known_facts(&[first, same_day], MAY_1);
        assert_eq!(got.iter().map(|f| f.value).collect::<Vec<_>>(), vec![92.0]);
    }

    #[test]
    fn learning_filings_one_by_one_equals_the_facts_known_then() {
        let mut filings = vec![
            filing("2024-03-31", 90.0, Some("2024-05-01"), "sec"),
            filing("2024-06-30", 85.0, Some("2024-08-01"), "sec"),
            filing("2024-03-31", 91.5, Some("2025-05-02"), "sec"),
            filing("2024-03-31", 89.0, Some("2024-05-01"), "csv"),
            filing("2024-03-31", 92.0, Some("2024-05-01"), "sec"),
            filing("2023-12-31", 80.0, None, "sec"),
        ];
        filings.extend((0..20).map(|i| {
            filing(
                &format!("2022-{:02}-28", i % 12 + 1),
                f64::from(i),
                Some(&format!("2023-0{}-01", i % 9 + 1)),
                "x",
            )
        }));
        // In the order a replay reads them: by the time they are known (stable).
        let mut ordered: Vec<(i64, Fundamental)> = filings
            .iter()
            .filter_map(|f| filing_known_from(f).map(|t| (t, f.clone())))
            .collect();
        ordered.sort_by_key(|(t, _)| *t);
        let mut known = KnownFacts::default();
        for (i, (t, f)) in ordered.iter().enumerate() {
            known.learn(f);
            let so_far: Vec<Fundamental> = ordered[..=i].iter().map(|(_, f)| f.clone()).collect();
            assert_eq!(
                known.facts(),
                known_facts(&so_far, *t).as_slice(),
                "after {i}"
            );
        }
    }

    #[test]
    fn durations() {
        let table = [
            ("1d", Some(DAY)),
            ("4h", Some(14_400)),
            ("15m", Some(900)),
            ("900", Some(900)),
            ("30s", Some(30)),
            ("2w", Some(1_209_600)),
            (" 1d ", Some(DAY)),
            ("0", None),
            ("1M", None),
            ("d", None),
            ("-1d", None),
            ("", None),
            ("99999999999999999999d", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text), want, "{text:?}");
        }
    }
}
