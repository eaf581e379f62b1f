//! A sink's `min_interval_s` per subject (a module, health, the supervisor, a symbol): the first
//! alert goes at once; alerts that follow within the interval are held, the newest replacing the
//! older ones, and go out as one summary when the interval has passed ("3 changes since ...").
//! So a flapping module costs a sink one alert per interval, and the last word is always its
//! current state. Pure: time is an argument.

use std::time::Duration;

/// How many alerts a delivered one stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Alerts folded into this one (1: none held back).
    pub changes: u32,
    /// When the first of them was raised (RFC 3339), for more than one.
    pub since: Option<String>,
}

/// One subject's gate for one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate<T> {
    last: Option<Duration>,
    held: Option<(T, u32, String)>,
}

impl<T> Default for Gate<T> {
    fn default() -> Self {
        Gate {
            last: None,
            held: None,
        }
    }
}

impl<T> Gate<T> {
    /// An alert raised at `now` (`at`: its RFC 3339 time): returned to send now, or held.
    pub fn offer(
        &mut self,
        item: T,
        at: &str,
        now: Duration,
        min: Duration,
    ) -> Option<(T, Summary)> {
        let open = self.last.is_none_or(|l| now.saturating_sub(l) >= min);
        if open && self.held.is_none() {
            self.last = Some(now);
            return Some((
                item,
                Summary {
                    changes: 1,
                    since: None,
                },
            ));
        }
        self.held = Some(match self.held.take() {
            Some((_, n, since)) => (item, n + 1, since),
            None => (item, 1, at.to_string()),
        });
        None
    }

    /// When the held alert may go (None: nothing held).
    pub fn due(&self, min: Duration) -> Option<Duration> {
        self.held.as_ref()?;
        Some(self.last.map_or(Duration::ZERO, |l| l + min))
    }

    /// The held alert with its summary, once its interval has passed.
    pub fn release(&mut self, now: Duration, min: Duration) -> Option<(T, Summary)> {
        if self.due(min)? > now {
            return None;
        }
        let (item, changes, since) = self.held.take()?;
        self.last = Some(now);
        Some((
            item,
            Summary {
                changes,
                since: (changes > 1).then_some(since),
            },
        ))
    }

    /// Nothing held and the interval over: the gate can be forgotten.
    pub fn idle(&self, now: Duration, min: Duration) -> bool {
        self.held.is_none() && self.last.is_none_or(|l| now.saturating_sub(l) >= min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flapping_is_summarised() {
        let s = Duration::from_secs;
        let min = s(60);
        let mut g: Gate<&str> = Gate::default();
        let one = |i| {
            Some((
                i,
                Summary {
                    changes: 1,
                    since: None,
                },
            ))
        };
        assert_eq!(g.offer("loop", "t0", s(0), min), one("loop"));
        assert_eq!(g.due(min), None);
        // Within the interval: held, newest wins.
        assert_eq!(g.offer("recovered", "t10", s(10), min), None);
        assert_eq!(g.offer("loop", "t20", s(20), min), None);
        assert_eq!(g.offer("recovered", "t30", s(30), min), None);
        assert_eq!(g.due(min), Some(s(60)));
        assert_eq!(g.release(s(59), min), None);
        assert_eq!(
            g.release(s(60), min),
            Some((
                "recovered",
                Summary {
                    changes: 3,
                    since: Some("t10".into())
                }
            ))
        );
        assert!(!g.idle(s(61), min));
        assert!(g.idle(s(120), min));
        // One held alert goes alone, without a summary.
        assert_eq!(g.offer("loop", "t70", s(70), min), None);
        assert_eq!(g.release(s(120), min), one("loop"));
        // After a quiet interval the next alert goes at once.
        assert_eq!(g.offer("recovered", "t500", s(500), min), one("recovered"));
        // No interval: every alert goes.
        let mut g: Gate<u8> = Gate::default();
        for i in 0..5 {
            assert!(g.offer(i, "t", s(1), Duration::ZERO).is_some());
        }
    }
}
