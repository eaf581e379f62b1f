//! The rolling record of allowed signals that GovernorHistory is computed from.
//!
//! The glue loads the allowed decisions of the last window (plus each symbol's last allowed
//! time) from governor_log once per cycle, and records each new allow as it is made, so later
//! symbols in the same cycle see it in the global count. It owns the window arithmetic; it
//! must not read the clock or the store.

use super::GovernorHistory;
use std::collections::HashMap;

/// Allowed-signal times, per symbol.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    by_symbol: HashMap<String, Vec<i64>>,
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
        self.by_symbol.entry(symbol.into()).or_default().push(at);
    }

    /// The history the governor needs for `symbol` at `now`. The window is `(now - window_s,
    /// now]`: an allow exactly `window_s` ago has left it; allows stamped after `now` (clock
    /// skew) are not counted in the window but do count for the cooldown.
    pub fn history(&self, symbol: &str, now: i64, window_s: i64) -> GovernorHistory {
        let from = now.saturating_sub(window_s);
        let in_window = |t: &&i64| **t > from && **t <= now;
        let own = self.by_symbol.get(symbol);
        let global: usize = self
            .by_symbol
            .values()
            .map(|ts| ts.iter().filter(in_window).count())
            .sum();
        GovernorHistory {
            last_allowed_at_symbol: own.and_then(|ts| ts.iter().copied().max()),
            allowed_in_window_symbol: count(
                own.map_or(0, |ts| ts.iter().filter(in_window).count()),
            ),
            allowed_in_window_global: count(global),
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
}
