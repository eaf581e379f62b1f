//! Outcome scoring: once a signal's horizon has passed and bars exist, the realized return
//! from entry to exit and whether the signal's direction was right.
//!
//! It owns the entry/exit bar choice and the hit/miss/flat rule. Pure: the glue passes the
//! symbol's bars (any order) and `now`; it must not read the store or the clock.

use crate::error::BrainError;
use serde::{Deserialize, Serialize};

/// |return| below this counts as "flat" for a neutral (direction 0) signal: 0.5 %, about a
/// normal day's noise for a large-cap stock.
pub const FLAT_BAND: f64 = 0.005;

/// What outcome scoring needs to know about a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoredSignal {
    pub direction: i8,
    pub created_at: i64,
    pub horizon_s: i64,
}

/// The three outcomes ("hit", "miss", "flat"): the stored-signal contract's type.
pub use aivex_core::contract::OutcomeKind;

/// A scored signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// exit / entry - 1.
    pub realized_return: f64,
    pub correct: bool,
    pub outcome: OutcomeKind,
    pub entry_ts: i64,
    pub exit_ts: i64,
}

/// Scores `signal` against `bars` (ts, close) at `now`.
///
/// `Ok(None)` while the horizon has not passed, when no bar exists at or after the horizon
/// end, or when the entry bar is not before the exit bar (no bar during the signal's life).
/// Entry is the last close at or before `created_at` (the first after it if there is none);
/// exit is the first close at or after `created_at + horizon_s`. A bar with a close that is not
/// a positive finite number, among the ones it looks at, is an input error naming its ts.
pub fn score_outcome(
    signal: &ScoredSignal,
    bars: &[(i64, f64)],
    now: i64,
) -> Result<Option<Outcome>, BrainError> {
    let horizon_end = signal.created_at.saturating_add(signal.horizon_s);
    if horizon_end > now {
        return Ok(None);
    }
    let before = bars
        .iter()
        .filter(|(ts, _)| *ts <= signal.created_at)
        .max_by_key(|(ts, _)| *ts);
    let after = || {
        bars.iter()
            .filter(|(ts, _)| *ts > signal.created_at)
            .min_by_key(|(ts, _)| *ts)
    };
    let Some(&(entry_ts, entry)) = before.or_else(after) else {
        return Ok(None);
    };
    let Some(&(exit_ts, exit)) = bars
        .iter()
        .filter(|(ts, _)| *ts >= horizon_end)
        .min_by_key(|(ts, _)| *ts)
    else {
        return Ok(None);
    };
    if entry_ts >= exit_ts {
        return Ok(None);
    }
    for (ts, close) in [(entry_ts, entry), (exit_ts, exit)] {
        if !close.is_finite() || close <= 0.0 {
            return Err(BrainError::input(
                format!("bar at ts {ts}"),
                format!("close must be a positive number, got {close}"),
            ));
        }
    }
    let realized_return = exit / entry - 1.0;
    let moved = if realized_return > 0.0 {
        1
    } else if realized_return < 0.0 {
        -1
    } else {
        0
    };
    let outcome = match signal.direction {
        0 if realized_return.abs() < FLAT_BAND => OutcomeKind::Flat,
        0 => OutcomeKind::Miss,
        d if d == moved => OutcomeKind::Hit,
        _ => OutcomeKind::Miss,
    };
    Ok(Some(Outcome {
        realized_return,
        correct: outcome.correct(),
        outcome,
        entry_ts,
        exit_ts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn outcome_table() {
        // Daily bars at day 0..=10 with closes 100, 101, ... 110, except where a case overrides.
        let rising: Vec<(i64, f64)> = (0..=10).map(|d| (d * DAY, 100.0 + d as f64)).collect();
        let flat: Vec<(i64, f64)> = (0..=10)
            .map(|d| (d * DAY, 100.0 + (d % 2) as f64 * 0.1))
            .collect();
        let sig = |direction, created_at, horizon_s| ScoredSignal {
            direction,
            created_at,
            horizon_s,
        };
        type Want = Option<(f64, OutcomeKind, i64, i64)>;
        type Case<'a> = (&'static str, ScoredSignal, &'a [(i64, f64)], i64, Want);
        let table: Vec<Case<'_>> = vec![
            (
                "long, rising: hit",
                sig(1, 2 * DAY, 5 * DAY),
                &rising,
                8 * DAY,
                Some((107.0 / 102.0 - 1.0, OutcomeKind::Hit, 2 * DAY, 7 * DAY)),
            ),
            (
                "short, rising: miss",
                sig(-1, 2 * DAY, 5 * DAY),
                &rising,
                8 * DAY,
                Some((107.0 / 102.0 - 1.0, OutcomeKind::Miss, 2 * DAY, 7 * DAY)),
            ),
            (
                "entry is the last bar before creation",
                sig(1, 2 * DAY + 3600, 5 * DAY),
                &rising,
                9 * DAY,
                Some((108.0 / 102.0 - 1.0, OutcomeKind::Hit, 2 * DAY, 8 * DAY)),
            ),
            (
                "horizon not yet over",
                sig(1, 2 * DAY, 5 * DAY),
                &rising,
                7 * DAY - 1,
                None,
            ),
            (
                "horizon ends exactly now",
                sig(1, 2 * DAY, 5 * DAY),
                &rising,
                7 * DAY,
                Some((107.0 / 102.0 - 1.0, OutcomeKind::Hit, 2 * DAY, 7 * DAY)),
            ),
            (
                "no bar at or after horizon end",
                sig(1, 6 * DAY, 5 * DAY),
                &rising,
                20 * DAY,
                None,
            ),
            (
                "no bar before: first after is entry",
                sig(1, -DAY, 3 * DAY),
                &rising,
                9 * DAY,
                Some((102.0 / 100.0 - 1.0, OutcomeKind::Hit, 0, 2 * DAY)),
            ),
            (
                "neutral, flat market",
                sig(0, 2 * DAY, 4 * DAY),
                &flat,
                9 * DAY,
                Some((0.0, OutcomeKind::Flat, 2 * DAY, 6 * DAY)),
            ),
            (
                "neutral, 0.1 % move is flat",
                sig(0, 2 * DAY, 5 * DAY),
                &flat,
                9 * DAY,
                Some((100.1 / 100.0 - 1.0, OutcomeKind::Flat, 2 * DAY, 7 * DAY)),
            ),
            (
                "neutral, rising: miss",
                sig(0, 2 * DAY, 5 * DAY),
                &rising,
                9 * DAY,
                Some((107.0 / 102.0 - 1.0, OutcomeKind::Miss, 2 * DAY, 7 * DAY)),
            ),
            (
                "long, unchanged price: miss",
                sig(1, 2 * DAY, 4 * DAY),
                &flat,
                9 * DAY,
                Some((0.0, OutcomeKind::Miss, 2 * DAY, 6 * DAY)),
            ),
            ("no bars", sig(1, 0, DAY), &[], 9 * DAY, None),
            (
                "only bars after the horizon end",
                sig(1, 0, DAY),
                &[(5 * DAY, 1.0)],
                9 * DAY,
                None,
            ),
        ];
        for (name, signal, bars, now, want) in table {
            let got = score_outcome(&signal, bars, now);
            let got = got.map(|o| o.map(|o| (o.realized_return, o.outcome, o.entry_ts, o.exit_ts)));
            match (got, want) {
                (Ok(None), None) => {}
                (Ok(Some((r, k, e, x))), Some((wr, wk, we, wx))) => {
                    assert!((r - wr).abs() < 1e-12, "{name}: return {r} want {wr}");
                    assert_eq!((k, e, x), (wk, we, wx), "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn unsorted_bars_give_the_same_outcome() {
        let mut bars: Vec<(i64, f64)> = (0..=10).map(|d| (d * DAY, 100.0 - d as f64)).collect();
        let signal = ScoredSignal {
            direction: -1,
            created_at: 3 * DAY,
            horizon_s: 2 * DAY,
        };
        let sorted = score_outcome(&signal, &bars, 20 * DAY);
        bars.reverse();
        assert_eq!(score_outcome(&signal, &bars, 20 * DAY), sorted);
        assert_eq!(
            sorted.map(|o| o.map(|o| (o.correct, o.outcome))),
            Ok(Some((true, OutcomeKind::Hit)))
        );
    }

    #[test]
    fn bad_closes_are_named() {
        let signal = ScoredSignal {
            direction: 1,
            created_at: 0,
            horizon_s: DAY,
        };
        let table = [
            (vec![(0, 0.0), (DAY, 10.0)], "bar at ts 0"),
            (vec![(0, 10.0), (DAY, f64::NAN)], "bar at ts 86400"),
            (vec![(0, -5.0), (DAY, 10.0)], "bar at ts 0"),
        ];
        for (bars, source) in table {
            match score_outcome(&signal, &bars, 2 * DAY) {
                Err(BrainError::Input { source: s, .. }) => assert_eq!(s, source),
                other => panic!("{source}: got {other:?}"),
            }
        }
    }
}
