//! The rolling record of allowed signals that GovernorHistory is computed from.
//!
//! The glue loads the allowed decisions of the last window (plus each symbol's last allowed
//! time) from governor_log once per cycle, and records each new allow as it is made, so later
//! symbols in the same cycle see it in the global count. It owns the window arithmetic; it
//! must not read the clock or the store.

use super::GovernorHistory;
use std::collections::{HashMap, VecDeque};

/// Allowed-signal times: per symbol and for all symbols, each kept sorted, so that counting
/// the allows in a window is two binary searches however long the history (a replay records
/// hundreds of thousands).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    by_symbol: HashMap<String, Allows>,
    all: VecDeque<i64>,
}

#[derive(Debug, Clone, Default)]
struct Allows {
    /// The latest allow ever recorded (the cooldown looks at it even after the window
    /// forgot it).
    last: Option<i64>,
    /// Allow times still countable in a window, ascending.
    times: VecDeque<i64>,
}

/// Inserts `t` keeping `v` ascending (at the end when times arrive in order).
fn insert_sorted(v: &mut VecDeque<i64>, t: i64) {
    let at = v.partition_point(|x| *x <= t);
    v.insert(at, t);
}

/// How many of the ascending `v` lie in `(from, to]`.
fn count_in(v: &VecDeque<i64>, from: i64, to: i64) -> u32 {
    let hi = v.partition_point(|x| *x <= to);
    let lo = v.partition_point(|x| *x <= from);
    count(hi.saturating_sub(lo))
}

impl Ledger {
    /// Builds the ledger from (symbol, allowed_at) pairs in any order.
    pub fn new<S: Into<String>>(allowed: impl IntoIterator<Item = (S, i64)>) -> Ledger {
        let mut ledger = Ledger::default();
        for (symbol, at) in allowed {
            ledger.record(symbol, at);
        }
        ledger
    }

    /// Notes an allowed signal.
    pub fn record(&mut self, symbol: impl Into<String>, at: i64) {
        let own = self.by_symbol.entry(symbol.into()).or_default();
        own.last = Some(own.last.map_or(at, |l| l.max(at)));
        insert_sorted(&mut own.times, at);
        insert_sorted(&mut self.all, at);
    }

    /// Drops the allows at or before `cutoff` from the window counts (each symbol's latest
    /// allow is kept for the cooldown). A caller whose `now` only moves forward calls it with
    /// `now - window_s`: such allows can never be in a window again, and the ledger stays
    /// small.
    pub fn forget_window_before(&mut self, cutoff: i64) {
        while self.all.front().is_some_and(|t| *t <= cutoff) {
            self.all.pop_front();
        }
        for own in self.by_symbol.values_mut() {
            while own.times.front().is_some_and(|t| *t <= cutoff) {
                own.times.pop_front();
            }
        }
    }

    /// The history the governor needs for `symbol` at `now`. The window is `(now - window_s,
    /// now]`: an allow exactly `window_s` ago has left it; allows stamped after `now` (clock
    /// skew) are not counted in the window but do count for the cooldown.
    pub fn history(&self, symbol: &str, now: i64, window_s: i64) -> GovernorHistory {
        let from = now.saturating_sub(window_s);
        let own = self.by_symbol.get(symbol);
        GovernorHistory {
            last_allowed_at_symbol: own.and_then(|a| a.last),
            allowed_in_window_symbol: own.map_or(0, |a| count_in(&a.times, from, now)),
            allowed_in_window_global: count_in(&self.all, from, now),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_and_counts() {
        let ledger = Ledger::new([
            ("AAPL", 1000),
            ("AAPL", 1500),
            ("AAPL", 2000),
            ("MSFT", 1999),
            ("MSFT", 2600),
        ]);
        let table = [
            // (symbol, now, window, last, symbol count, global count)
            ("AAPL", 2000, 1000, Some(2000), 2, 3),
            ("AAPL", 2000, 1001, Some(2000), 3, 4),
            ("AAPL", 2500, 501, Some(2000), 1, 1),
            ("MSFT", 2500, 501, Some(2600), 0, 1),
            ("NVDA", 2000, 10_000, None, 0, 4),
        ];
        for (symbol, now, window, last, own, global) in table {
            let h = ledger.history(symbol, now, window);
            assert_eq!(
                (
                    h.last_allowed_at_symbol,
                    h.allowed_in_window_symbol,
                    h.allowed_in_window_global
                ),
                (last, own, global),
                "{symbol} now {now} window {window}"
            );
        }
    }

    #[test]
    fn forgetting_old_allows_keeps_counts_and_the_last_allow() {
        let allows = [
            ("AAPL", 1000),
            ("MSFT", 1999),
            ("AAPL", 2000),
            ("AAPL", 1500),
        ];
        let full = Ledger::new(allows);
        let mut pruned = Ledger::new(allows);
        pruned.forget_window_before(1500);
        for (symbol, now) in [("AAPL", 2400), ("MSFT", 2400), ("AAPL", 2500)] {
            assert_eq!(
                pruned.history(symbol, now, 900),
                full.history(symbol, now, 900),
                "{symbol} {now}"
            );
        }
        pruned.forget_window_before(5000);
        let h = pruned.history("AAPL", 6000, 100);
        assert_eq!(
            (
                h.last_allowed_at_symbol,
                h.allowed_in_window_symbol,
                h.allowed_in_window_global
            ),
            (Some(2000), 0, 0)
        );
    }
}
