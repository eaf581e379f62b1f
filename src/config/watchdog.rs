//! The `[watchdog]` table: the supervision knobs, their defaults, and the one formula they
//! define, the restart backoff `min(base × 2^failures, cap)`.
//!
//! The formula lives here, with the knobs it reads, so that config validation can warn about a
//! crash-loop rule that can never fire without calling into the supervisor; the policy
//! (`supervisor/policy.rs`) uses the same function for its delays. Pure: no I/O, no clock.

use std::time::Duration;

/// The `[watchdog]` table: supervision policy knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogConfig {
    pub max_restarts: u32,
    pub backoff_base_s: f64,
    pub backoff_cap_s: f64,
    pub heartbeat_ttl_s: f64,
    pub crash_loop_count: u32,
    pub crash_loop_window_s: f64,
    pub stop_grace_s: f64,
    pub status_interval_s: f64,
    pub healthy_after_s: f64,
    /// Delay between starting two modules in continuous mode (dev mode uses none).
    pub start_stagger_s: f64,
    /// Measure every module's CPU, memory, fds and threads from /proc at each status line.
    /// Off, only modules with `max_rss_mb` are measured.
    pub accounting: bool,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            max_restarts: 10,
            backoff_base_s: 5.0,
            backoff_cap_s: 300.0,
            heartbeat_ttl_s: 120.0,
            crash_loop_count: 5,
            crash_loop_window_s: 300.0,
            stop_grace_s: 10.0,
            status_interval_s: 30.0,
            healthy_after_s: 60.0,
            start_stagger_s: 0.2,
            accounting: true,
        }
    }
}

/// Seconds from config as a `Duration`: negative is zero, too large or not finite is the
/// largest `Duration` (validation has already refused such values).
pub fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// `min(base × 2^failures, cap)`.
pub fn backoff(base: Duration, cap: Duration, failures: u32) -> Duration {
    let factor = 2f64.powi(failures.min(62) as i32);
    let d = base.as_secs_f64() * factor;
    if d >= cap.as_secs_f64() {
        cap
    } else {
        seconds(d)
    }
}

/// False when backoff alone spaces `crash_loop_count` crashes further apart than the window, so
/// the crash-loop rule could never fire (a load-time warning).
///
/// The delays before crashes 2..=count are summed in closed form past the point where they stop
/// growing (the cap, or the exponent's own limit of 62), so the check costs at most 63 steps
/// whatever the count: a benchmark's `crash_loop_count = 1000000` must not cost the start-up
/// a million of them.
pub fn crash_loop_reachable(w: &WatchdogConfig) -> bool {
    let (base, cap) = (seconds(w.backoff_base_s), seconds(w.backoff_cap_s));
    let count = w.crash_loop_count.max(1);
    let mut span = 0.0f64;
    for k in 1..count {
        let d = backoff(base, cap, k);
        if d == cap || k >= 62 {
            // Every later delay equals this one.
            span += d.as_secs_f64() * f64::from(count - k);
            break;
        }
        span += d.as_secs_f64();
    }
    span <= w.crash_loop_window_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn backoff_sequence_and_cap() {
        let (b, c) = (s(5.0), s(300.0));
        let got: Vec<f64> = (0..9).map(|n| backoff(b, c, n).as_secs_f64()).collect();
        assert_eq!(
            got,
            [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
        );
        assert_eq!(backoff(s(0.0), c, 5), s(0.0));
        assert_eq!(backoff(b, c, 1000), c);
        assert_eq!(seconds(-1.0), Duration::ZERO);
        assert_eq!(seconds(f64::INFINITY), Duration::MAX);
    }

    #[test]
    fn crash_loop_reachability() {
        let w = WatchdogConfig::default(); // 10+20+40+80 = 150 <= 300
        assert!(crash_loop_reachable(&w));
        let w = WatchdogConfig {
            backoff_base_s: 60.0,
            ..WatchdogConfig::default()
        };
        assert!(!crash_loop_reachable(&w));
    }

    #[test]
    fn crash_loop_reachability_matches_the_plain_sum() {
        // The closed form against the sum written out, for counts on both sides of the cap
        // and of the exponent's limit.
        let plain = |w: &WatchdogConfig| {
            let (b, c) = (seconds(w.backoff_base_s), seconds(w.backoff_cap_s));
            (1..w.crash_loop_count.max(1))
                .map(|k| backoff(b, c, k).as_secs_f64())
                .sum::<f64>()
                <= w.crash_loop_window_s
        };
        for (base, cap, count, window) in [
            (5.0, 300.0, 5, 300.0),
            (5.0, 300.0, 5, 149.0),
            (5.0, 300.0, 12, 1870.0),
            (5.0, 300.0, 12, 1869.0),
            (0.0, 300.0, 1_000_000, 0.0),
            (1e-9, 1e9, 100, 1e9),
            (1e-12, 1e12, 70, 1e10),
            (0.5, 0.5, 1000, 499.5),
            (0.5, 0.5, 1000, 499.0),
            (5.0, 300.0, 0, 0.0),
        ] {
            let w = WatchdogConfig {
                backoff_base_s: base,
                backoff_cap_s: cap,
                crash_loop_count: count,
                crash_loop_window_s: window,
                ..WatchdogConfig::default()
            };
            assert_eq!(
                crash_loop_reachable(&w),
                plain(&w),
                "base {base} cap {cap} count {count} window {window}"
            );
        }
        let huge = WatchdogConfig {
            crash_loop_count: u32::MAX,
            crash_loop_window_s: 0.0,
            backoff_base_s: 0.0,
            ..WatchdogConfig::default()
        };
        assert!(crash_loop_reachable(&huge));
    }
}
