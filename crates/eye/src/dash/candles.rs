//! `GET /candles/{symbol}?interval=&limit=`: a symbol's newest bars with the chart module's
//! indicator series (SMA 20/50, EMA 12/26, Bollinger 20/2), as columns.
//!
//! It owns the series shape and the downsampling rule: beyond `MAX_POINTS` bars, consecutive
//! bars are merged into buckets of `k` (open of the first, highest high, lowest low, close of
//! the last, summed volume; the indicators' values at the bucket's last bar), so a page never
//! draws more than `MAX_POINTS` candles whatever `limit` asks for. The indicators are computed
//! by `aivex_market::indicators` (the functions the chart module uses) over the full-resolution
//! bars plus `WARMUP` older ones, so the first bars shown have their values too. `series` is
//! pure; `serve` reads the store.

use crate::app::{App, StoreSlot};
use crate::dash::Query;
use crate::error::ApiError;
use crate::http::{Request, Response};
use aivex_market::indicators::{bbands, ema, sma};
use aivex_store::Candle;
use serde::Serialize;

pub const DEFAULT_BARS: usize = 500;
pub const MAX_BARS: usize = 20_000;
/// The most points a response holds: what a browser draws without lag.
pub const MAX_POINTS: usize = 2_000;
/// Older bars read only to seed the indicators (SMA 50 needs 49; EMAs settle after a few
/// times their period).
pub const WARMUP: usize = 200;
pub const DEFAULT_INTERVAL: &str = "1d";

/// The indicator series, one value (or null inside a lookback) per point.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Indicators {
    pub sma_20: Vec<Option<f64>>,
    pub sma_50: Vec<Option<f64>>,
    pub ema_12: Vec<Option<f64>>,
    pub ema_26: Vec<Option<f64>>,
    pub bb_upper: Vec<Option<f64>>,
    pub bb_middle: Vec<Option<f64>>,
    pub bb_lower: Vec<Option<f64>>,
}

/// The response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    pub symbol: String,
    pub interval: String,
    /// Points in the arrays below.
    pub points: usize,
    /// Bars those points stand for.
    pub bars: usize,
    /// Bars merged into one point (1: none).
    pub bucket_bars: usize,
    pub downsampled: bool,
    /// Open time of each point (Unix seconds).
    pub t: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
    pub indicators: Indicators,
}

/// The last `limit` of `candles` (ascending; older ones only seed the indicators), merged into
/// at most `max_points` points.
pub fn series(
    symbol: &str,
    interval: &str,
    candles: &[Candle],
    limit: usize,
    max_points: usize,
) -> Series {
    let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let (s20, s50) = (sma(&close, 20), sma(&close, 50));
    let (e12, e26) = (ema(&close, 12), ema(&close, 26));
    let bb = bbands(&close, 20, 2.0, 2.0);
    let start = candles.len().saturating_sub(limit);
    let bars = candles.len() - start;
    let k = bars.div_ceil(max_points.max(1)).max(1);
    let mut out = Series {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
        bars,
        bucket_bars: k,
        downsampled: k > 1,
        ..Default::default()
    };
    let at = |v: &[Option<f64>], i: usize| v.get(i).copied().flatten();
    let mut i = start;
    while i < candles.len() {
        let end = (i + k).min(candles.len());
        let Some(chunk) = candles.get(i..end) else {
            break;
        };
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            break;
        };
        out.t.push(first.ts);
        out.open.push(first.open);
        out.high
            .push(chunk.iter().map(|c| c.high).fold(f64::MIN, f64::max));
        out.low
            .push(chunk.iter().map(|c| c.low).fold(f64::MAX, f64::min));
        out.close.push(last.close);
        out.volume.push(chunk.iter().map(|c| c.volume).sum());
        let j = end - 1;
        let ind = &mut out.indicators;
        ind.sma_20.push(at(&s20, j));
        ind.sma_50.push(at(&s50, j));
        ind.ema_12.push(at(&e12, j));
        ind.ema_26.push(at(&e26, j));
        ind.bb_upper.push(at(&bb.upper, j));
        ind.bb_middle.push(at(&bb.middle, j));
        ind.bb_lower.push(at(&bb.lower, j));
        i = end;
    }
    out.points = out.t.len();
    out
}

/// An interval name as the chart module stores it (`1d`, `1h`, `15m`): 1-16 letters and digits.
fn valid_interval(v: &str) -> bool {
    (1..=16).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn serve(
    app: &App,
    symbol: &str,
    slot: &mut StoreSlot,
    req: &Request,
) -> Result<Response, ApiError> {
    crate::api::validate_symbol(symbol)?;
    let q = Query::parse(&req.query, &["interval", "limit"])?;
    let interval = q.get("interval").unwrap_or(DEFAULT_INTERVAL);
    if !valid_interval(interval) {
        return Err(ApiError::invalid_query(format!(
            "interval {interval:?} must be 1-16 letters and digits, like 1d or 15m"
        )));
    }
    let limit = q.int("limit", 1, MAX_BARS, DEFAULT_BARS)?;
    let candles = slot.with(&app.db_url, |s| {
        s.recent_candles(symbol, interval, limit + WARMUP)
    })?;
    let body = serde_json::to_string(&series(symbol, interval, &candles, limit, MAX_POINTS))
        .map_err(|e| ApiError::new(500, "internal", format!("cannot render the series: {e}")))?;
    Ok(Response::json(200, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Vec<Candle> {
        (0..n)
            .map(|i| {
                let c = 100.0 + (i as f64 * 0.7).sin() * 5.0 + i as f64 * 0.1;
                Candle {
                    ts: 1_000_000 + i as i64 * 86_400,
                    open: c - 0.5,
                    high: c + 1.0 + (i % 3) as f64,
                    low: c - 1.0 - (i % 2) as f64,
                    close: c,
                    adj_close: None,
                    volume: 10.0 + i as f64,
                }
            })
            .collect()
    }

    #[test]
    fn full_resolution_keeps_bars_and_seeds_indicators() {
        let all = bars(300);
        let s = series("AAPL", "1d", &all, 100, MAX_POINTS);
        assert_eq!(
            (s.points, s.bars, s.bucket_bars, s.downsampled),
            (100, 100, 1, false)
        );
        let tail = all.get(200..).unwrap_or_default();
        assert_eq!(s.t, tail.iter().map(|c| c.ts).collect::<Vec<_>>());
        assert_eq!(s.close, tail.iter().map(|c| c.close).collect::<Vec<_>>());
        // The market crate's own values over the whole series, at the bars shown: even the
        // first bar shown has its SMA 50, thanks to the older bars.
        let close: Vec<f64> = all.iter().map(|c| c.close).collect();
        assert_eq!(
            s.indicators.sma_50,
            sma(&close, 50).get(200..).unwrap_or_default()
        );
        assert_eq!(
            s.indicators.ema_26,
            ema(&close, 26).get(200..).unwrap_or_default()
        );
        let bb = bbands(&close, 20, 2.0, 2.0);
        assert_eq!(
            s.indicators.bb_lower,
            bb.lower.get(200..).unwrap_or_default()
        );
        assert!(s.indicators.sma_50.iter().all(Option::is_some));
    }

    #[test]
    fn short_history_has_gaps_in_the_lookback() {
        let s = series("X", "1d", &bars(30), 500, MAX_POINTS);
        assert_eq!((s.points, s.bars), (30, 30));
        assert_eq!(
            s.indicators.sma_20.iter().filter(|v| v.is_none()).count(),
            19
        );
        assert!(s.indicators.sma_50.iter().all(Option::is_none));
        let empty = series("X", "1d", &[], 500, MAX_POINTS);
        assert_eq!((empty.points, empty.bars, empty.bucket_bars), (0, 0, 1));
    }

    #[test]
    fn downsampling_merges_buckets() {
        let all = bars(5_000 + WARMUP);
        let s = series("X", "1d", &all, 5_000, 2_000);
        // 5,000 bars in buckets of 3: 1,667 points, the last holding the 2 newest bars.
        assert_eq!(
            (s.bucket_bars, s.points, s.bars, s.downsampled),
            (3, 1_667, 5_000, true)
        );
        let shown = all.get(WARMUP..).unwrap_or_default();
        let first = shown.get(..3).unwrap_or_default();
        assert_eq!(s.t.first(), first.first().map(|c| c.ts).as_ref());
        assert_eq!(s.open.first(), first.first().map(|c| c.open).as_ref());
        let hi = first.iter().map(|c| c.high).fold(f64::MIN, f64::max);
        let lo = first.iter().map(|c| c.low).fold(f64::MAX, f64::min);
        assert_eq!((s.high.first(), s.low.first()), (Some(&hi), Some(&lo)));
        assert_eq!(s.close.first(), first.last().map(|c| c.close).as_ref());
        let vol: f64 = first.iter().map(|c| c.volume).sum();
        assert_eq!(s.volume.first(), Some(&vol));
        // The newest close and indicator values are always those of the newest bar.
        assert_eq!(s.close.last(), all.last().map(|c| c.close).as_ref());
        let close: Vec<f64> = all.iter().map(|c| c.close).collect();
        assert_eq!(s.indicators.sma_20.last(), sma(&close, 20).last());
        assert!(s.points <= 2_000);
        let exact = series("X", "1d", &all, 4_000, 2_000);
        assert_eq!((exact.bucket_bars, exact.points), (2, 2_000));
    }

    #[test]
    fn interval_names() {
        for (v, ok) in [
            ("1d", true),
            ("15m", true),
            ("", false),
            ("1 d", false),
            ("1d;", false),
        ] {
            assert_eq!(valid_interval(v), ok, "{v:?}");
        }
        assert!(!valid_interval(&"1".repeat(17)));
    }
}
