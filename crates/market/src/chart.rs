//! The chart component: one number in [-1, 1] per symbol from its newest indicator values,
//! with every sub-score and input kept for the brain's explanation.
//!
//! The formula (versioned `chart@1`, documented in crates/market/README.md) is a pure function
//! of an `ChartInputs` snapshot so it can be checked by hand; it must not read the clock, and it
//! does not decide what to do with the score (that is brain's and the governor's job).

use crate::bars::Bar;
use crate::indicators::{indicator_table, IndicatorRow};
use serde_json::json;

/// Version tag stored with every component so scores from different formulas are not mixed.
pub const CHART_METHOD: &str = "chart@1";

/// The newest bar's indicator values the formula reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartInputs {
    pub close: f64,
    pub sma_20: f64,
    pub sma_50: f64,
    pub ema_12: f64,
    pub ema_26: f64,
    pub rsi_14: f64,
    pub macd_hist: f64,
    pub bb_pctb: Option<f64>,
    pub atr_14: f64,
    pub volume_z_20: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartComponent {
    /// In [-1, 1]: positive is a bullish chart, negative bearish.
    pub value: f64,
    /// Timestamp (unix s) of the newest bar the value is computed at.
    pub as_of: i64,
    /// Each sub-score and its inputs.
    pub detail: serde_json::Value,
}

fn clamp1(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// RSI as trend-following momentum with overbought/oversold damping: linear from 30 (-1) to
/// 70 (+1), then easing back towards ±0.5 at the extremes, because a stretched RSI is as
/// often a reversal warning as a sign of strength.
pub fn rsi_score(rsi: f64) -> f64 {
    if rsi > 70.0 {
        1.0 - (rsi - 70.0) / 60.0
    } else if rsi < 30.0 {
        -1.0 + (30.0 - rsi) / 60.0
    } else {
        (rsi - 50.0) / 20.0
    }
}

/// The `chart@1` formula's sub-scores and value for one snapshot (what a replay needs at every
/// bar; `chart_score` adds the `detail`). None when the scale is zero or undefined or the
/// value is not finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartParts {
    pub scale: f64,
    pub sma_cross: f64,
    pub ema_cross: f64,
    pub trend: f64,
    pub momentum: f64,
    pub macd: f64,
    pub bollinger: f64,
    pub raw: f64,
    pub amplifier: f64,
    pub value: f64,
}

/// Applies the `chart@1` formula to one snapshot.
pub fn chart_parts(i: &ChartInputs) -> Option<ChartParts> {
    // Price moves are measured in ATRs so a $2 gap means the same on a $20 and a $2000 stock
    // relative to how much it usually moves; 1% of price stands in when ATR is 0 (flat data).
    let scale = if i.atr_14 > 0.0 {
        i.atr_14
    } else {
        i.close.abs() * 0.01
    };
    // Also rejects NaN: a zero or undefined scale makes every ratio meaningless.
    if scale.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let sma_cross = clamp1((i.sma_20 - i.sma_50) / (2.0 * scale));
    let ema_cross = clamp1((i.ema_12 - i.ema_26) / scale);
    let trend = 0.5 * sma_cross + 0.5 * ema_cross;
    let momentum = rsi_score(i.rsi_14);
    let macd = clamp1(2.0 * i.macd_hist / scale);
    let bollinger = i.bb_pctb.map(|b| clamp1(2.0 * b - 1.0)).unwrap_or(0.0);
    let raw = 0.35 * trend + 0.20 * momentum + 0.25 * macd + 0.20 * bollinger;
    let z = i.volume_z_20.unwrap_or(0.0);
    let amplifier = 1.0 + 0.25 * z.clamp(-2.0, 2.0);
    let value = clamp1(raw * amplifier);
    value.is_finite().then_some(ChartParts {
        scale,
        sma_cross,
        ema_cross,
        trend,
        momentum,
        macd,
        bollinger,
        raw,
        amplifier,
        value,
    })
}

/// Applies the `chart@1` formula to one snapshot; `as_of` is passed through.
pub fn chart_score(i: &ChartInputs, as_of: i64) -> Option<ChartComponent> {
    let p = chart_parts(i)?;
    let detail = json!({
        "method": CHART_METHOD,
        "scale": {"atr_14": i.atr_14, "close": i.close, "used": p.scale},
        "trend": {
            "sma_20": i.sma_20, "sma_50": i.sma_50, "sma_cross": p.sma_cross,
            "ema_12": i.ema_12, "ema_26": i.ema_26, "ema_cross": p.ema_cross,
            "score": p.trend, "weight": 0.35
        },
        "momentum": {"rsi_14": i.rsi_14, "score": p.momentum, "weight": 0.20},
        "macd": {"hist": i.macd_hist, "score": p.macd, "weight": 0.25},
        "bollinger": {"pctb": i.bb_pctb, "score": p.bollinger, "weight": 0.20},
        "volume": {"z_20": i.volume_z_20, "amplifier": p.amplifier},
        "raw": p.raw,
        "value": p.value,
    });
    Some(ChartComponent {
        value: p.value,
        as_of,
        detail,
    })
}

/// The chart component at the newest of `bars` (sorted by time). None until the slowest
/// input (SMA 50) has a value, i.e. with fewer than 50 bars.
pub fn chart_component(bars: &[Bar]) -> Option<ChartComponent> {
    chart_from_table(&indicator_table(bars))
}

/// The formula's inputs at the last row of an indicator table, with that row's time; None
/// inside the lookback of any input.
pub fn chart_inputs(table: &[IndicatorRow]) -> Option<(ChartInputs, i64)> {
    let last = table.last()?;
    let inputs = ChartInputs {
        close: last.close,
        sma_20: last.sma_20?,
        sma_50: last.sma_50?,
        ema_12: last.ema_12?,
        ema_26: last.ema_26?,
        rsi_14: last.rsi_14?,
        macd_hist: last.macd_hist?,
        bb_pctb: last.bb_pctb,
        atr_14: last.atr_14?,
        volume_z_20: last.volume_z_20,
    };
    Some((inputs, last.ts))
}

/// The chart component from an already computed indicator table (saves recomputing it when
/// the caller also stores or prints the table).
pub fn chart_from_table(table: &[IndicatorRow]) -> Option<ChartComponent> {
    let (inputs, ts) = chart_inputs(table)?;
    chart_score(&inputs, ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ChartInputs {
        ChartInputs {
            close: 100.0,
            sma_20: 100.0,
            sma_50: 100.0,
            ema_12: 100.0,
            ema_26: 100.0,
            rsi_14: 50.0,
            macd_hist: 0.0,
            bb_pctb: Some(0.5),
            atr_14: 2.0,
            volume_z_20: Some(0.0),
        }
    }

    #[test]
    fn worked_examples() {
        // Each row: inputs, expected value (worked by hand in README.md "Worked examples").
        let table: Vec<(&str, ChartInputs, f64)> = vec![
            ("neutral", base(), 0.0),
            // trend: sma (102-100)/(2*2)=0.5, ema (101-100)/2=0.5 -> 0.5; rsi 60 -> 0.5;
            // macd 2*0.5/2=0.5; %B 0.8 -> 0.6. raw = .175+.1+.125+.12 = 0.52; z=0 -> 0.52.
            (
                "bullish",
                ChartInputs {
                    sma_20: 102.0,
                    ema_12: 101.0,
                    rsi_14: 60.0,
                    macd_hist: 0.5,
                    bb_pctb: Some(0.8),
                    ..base()
                },
                0.52,
            ),
            // Same with volume z 2: amplifier 1.5 -> 0.78.
            (
                "bullish on volume",
                ChartInputs {
                    sma_20: 102.0,
                    ema_12: 101.0,
                    rsi_14: 60.0,
                    macd_hist: 0.5,
                    bb_pctb: Some(0.8),
                    volume_z_20: Some(3.0),
                    ..base()
                },
                0.78,
            ),
            // Mirror image with z -2 (amplifier 0.5): -0.26.
            (
                "bearish on thin volume",
                ChartInputs {
                    sma_20: 98.0,
                    ema_12: 99.0,
                    rsi_14: 40.0,
                    macd_hist: -0.5,
                    bb_pctb: Some(0.2),
                    volume_z_20: Some(-2.0),
                    ..base()
                },
                -0.26,
            ),
            // Everything saturated bullish but RSI 85 damps to 0.75:
            // raw = .35 + .2*.75 + .25 + .2 = 0.95; amplifier 1.5 -> clamp 1.
            (
                "saturated",
                ChartInputs {
                    sma_20: 120.0,
                    ema_12: 110.0,
                    rsi_14: 85.0,
                    macd_hist: 5.0,
                    bb_pctb: Some(1.3),
                    volume_z_20: Some(2.0),
                    ..base()
                },
                1.0,
            ),
            // ATR 0 falls back to 1% of price (1.0): ema (101-100)/1 = 1 -> trend 0.5 -> 0.175.
            (
                "flat atr",
                ChartInputs {
                    ema_12: 101.0,
                    atr_14: 0.0,
                    ..base()
                },
                0.175,
            ),
            // No %B (collapsed bands) and no z: bollinger 0, amplifier 1; rsi 20 -> -5/6.
            (
                "no bands",
                ChartInputs {
                    rsi_14: 20.0,
                    bb_pctb: None,
                    volume_z_20: None,
                    ..base()
                },
                0.2 * (-1.0 + 10.0 / 60.0),
            ),
        ];
        for (name, inputs, want) in table {
            let got = chart_score(&inputs, 7).unwrap_or_else(|| panic!("{name}: no value"));
            assert!(
                (got.value - want).abs() < 1e-12,
                "{name}: {} vs {want}",
                got.value
            );
            assert_eq!(got.as_of, 7);
            assert_eq!(got.detail["method"], CHART_METHOD);
        }
    }

    #[test]
    fn rsi_mapping_table() {
        for (rsi, want) in [
            (0.0, -0.5),
            (30.0, -1.0),
            (40.0, -0.5),
            (50.0, 0.0),
            (70.0, 1.0),
            (100.0, 0.5),
        ] {
            assert!((rsi_score(rsi) - want).abs() < 1e-12, "{rsi}");
        }
    }

    #[test]
    fn needs_fifty_bars_and_uses_newest() {
        let bars: Vec<Bar> = (0..60)
            .map(|i| {
                let c = 100.0 + i as f64;
                Bar {
                    ts: i * 86_400,
                    open: c,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: c,
                    adj_close: None,
                    volume: 1000.0 + (i % 3) as f64,
                }
            })
            .collect();
        assert!(chart_component(&bars[..49]).is_none());
        let c = chart_component(&bars).expect("60 bars");
        assert_eq!(c.as_of, 59 * 86_400);
        assert!(c.value > 0.5, "steady uptrend scores bullish: {}", c.value);
        assert!((-1.0..=1.0).contains(&c.value));
        assert!(chart_component(&[]).is_none());
    }
}
