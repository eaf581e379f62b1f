//! Wall-clock timestamps in the shapes aivex writes: RFC 3339 with milliseconds for records,
//! history, state and log lines; compact stamps for run ids and crash-record file names.
//!
//! It owns the formats (so every file agrees) and the few `now_*` shells that read the wall
//! clock. Formatting is pure (a `Timestamp` in, a string out). It must not be used for timers:
//! those run on the monotonic clock (the supervisor's `Instant`-based `Mono`).

use jiff::Timestamp;

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T22:11:42.123Z`.
pub fn rfc3339_ms(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A run id's time part, e.g. `20261122T221142Z` (sorts by time, safe in a file name).
pub fn run_stamp(ts: Timestamp) -> String {
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A crash record's name prefix, e.g. `20261122T221142.123456Z`: names sort by age.
pub fn record_stamp(ts: Timestamp) -> String {
    ts.strftime("%Y%m%dT%H%M%S%.6fZ").to_string()
}

/// `rfc3339_ms` of now.
pub fn now_rfc3339() -> String {
    rfc3339_ms(Timestamp::now())
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_table() {
        let ts = Timestamp::new(1_795_385_502, 123_456_000).expect("ts");
        assert_eq!(rfc3339_ms(ts), "2026-11-22T22:11:42.123Z");
        assert_eq!(run_stamp(ts), "20261122T221142Z");
        assert_eq!(record_stamp(ts), "20261122T221142.123456Z");
        let epoch = Timestamp::new(0, 5_000_000).expect("ts");
        assert_eq!(rfc3339_ms(epoch), "1970-01-01T00:00:00.005Z");
    }
}
