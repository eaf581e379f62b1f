//! Technical indicators with TA-Lib's exact definitions and seeding, and the indicator table
//! that `aivex indicators` prints and the chart component reads.
//!
//! Every function is pure over slices and returns one `Option` per input, `None` inside the
//! indicator's lookback (where TA-Lib returns no value). Arithmetic follows TA-Lib's order of
//! operations (running sums, `(x - prev) * k + prev`) so results match it to rounding. Inputs
//! are finite numbers (the bar parser guarantees it); nothing here reads files or the clock.

use crate::bars::Bar;
use crate::time::format_ts;
use std::io::{self, Write};

/// TA-Lib's threshold below which a value counts as zero (`TA_IS_ZERO`).
const TA_EPSILON: f64 = 1e-14;

/// Simple moving average over `n` values (TA-Lib SMA; lookback `n - 1`).
pub fn sma(x: &[f64], n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() < n {
        return out;
    }
    let mut total = 0.0;
    for (i, v) in x.iter().enumerate() {
        total += v;
        if i + 1 >= n {
            out[i] = Some(total / n as f64);
            total -= x[i + 1 - n];
        }
    }
    out
}

/// Exponential moving average seeded with the SMA of the first `n` values (TA-Lib's default
/// compatibility), `k = 2 / (n + 1)`; lookback `n - 1`.
pub fn ema(x: &[f64], n: usize) -> Vec<Option<f64>> {
    ema_from(x, n, n.saturating_sub(1))
}

/// EMA whose first value sits at index `first` and is the SMA of the `n` values ending there.
/// TA-Lib's MACD starts its fast EMA this way, at the slow EMA's first index.
fn ema_from(x: &[f64], n: usize, first: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || first + 1 < n || first >= x.len() {
        return out;
    }
    let k = 2.0 / (n as f64 + 1.0);
    let seed_window = &x[first + 1 - n..=first];
    let mut prev = seed_window.iter().sum::<f64>() / n as f64;
    out[first] = Some(prev);
    for i in first + 1..x.len() {
        prev = (x[i] - prev) * k + prev;
        out[i] = Some(prev);
    }
    out
}

/// Wilder's RSI as TA-Lib computes it: average gain and loss over the first `n` changes, then
/// Wilder smoothing; 0 when there was no movement at all. Lookback `n`.
pub fn rsi(x: &[f64], n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() <= n {
        return out;
    }
    let ratio = |gain: f64, loss: f64| {
        let total = gain + loss;
        if total.abs() < TA_EPSILON {
            0.0
        } else {
            100.0 * (gain / total)
        }
    };
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=n {
        let d = x[i] - x[i - 1];
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
    }
    let nf = n as f64;
    gain /= nf;
    loss /= nf;
    out[n] = Some(ratio(gain, loss));
    for i in n + 1..x.len() {
        let d = x[i] - x[i - 1];
        loss *= nf - 1.0;
        gain *= nf - 1.0;
        if d < 0.0 {
            loss -= d;
        } else {
            gain += d;
        }
        loss /= nf;
        gain /= nf;
        out[i] = Some(ratio(gain, loss));
    }
    out
}

/// MACD line, signal line and histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    pub macd: Vec<Option<f64>>,
    pub signal: Vec<Option<f64>>,
    pub hist: Vec<Option<f64>>,
}

/// TA-Lib MACD. Its quirk: the fast EMA is seeded at the slow EMA's first index (with the SMA
/// of the `fast` values ending there), not at `fast - 1`; the signal EMA is seeded with the SMA
/// of the first `signal` MACD values; all three outputs start at `slow - 1 + signal - 1`.
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> Macd {
    let len = x.len();
    let none = || vec![None; len];
    // TA-Lib swaps the periods when given in the wrong order.
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    if fast == 0 || signal == 0 || len < slow {
        return Macd {
            macd: none(),
            signal: none(),
            hist: none(),
        };
    }
    let start = slow - 1;
    let slow_ema = ema_from(x, slow, start);
    let fast_ema = ema_from(x, fast, start);
    let line: Vec<f64> = (start..len)
        .map(|i| fast_ema[i].unwrap_or(0.0) - slow_ema[i].unwrap_or(0.0))
        .collect();
    let sig = ema(&line, signal);
    let first = start + signal - 1;
    let (mut m, mut s, mut h) = (none(), none(), none());
    for (j, sv) in sig.iter().enumerate() {
        let i = start + j;
        if let (Some(sv), true) = (sv, i >= first) {
            m[i] = Some(line[j]);
            s[i] = Some(*sv);
            h[i] = Some(line[j] - sv);
        }
    }
    Macd {
        macd: m,
        signal: s,
        hist: h,
    }
}

/// Population standard deviation over `n` values times `nb_dev` (TA-Lib STDDEV): running
/// sums of x and x², variance `E[x²] - E[x]²`, and 0 when that is below TA-Lib's epsilon.
pub fn stddev(x: &[f64], n: usize, nb_dev: f64) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() < n {
        return out;
    }
    let nf = n as f64;
    let (mut s1, mut s2) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        s1 += v;
        s2 += v * v;
        if i + 1 >= n {
            let mean = s1 / nf;
            let var = s2 / nf - mean * mean;
            out[i] = Some(if var < TA_EPSILON {
                0.0
            } else {
                var.sqrt() * nb_dev
            });
            let old = x[i + 1 - n];
            s1 -= old;
            s2 -= old * old;
        }
    }
    out
}

/// Bollinger bands.
#[derive(Debug, Clone, PartialEq)]
pub struct Bands {
    pub upper: Vec<Option<f64>>,
    pub middle: Vec<Option<f64>>,
    pub lower: Vec<Option<f64>>,
}

/// TA-Lib BBANDS with an SMA middle band: the deviation is the population stddev around that
/// SMA (`E[x²] - sma²`, 0 below TA-Lib's epsilon). Lookback `n - 1`.
pub fn bbands(x: &[f64], n: usize, dev_up: f64, dev_down: f64) -> Bands {
    let middle = sma(x, n);
    let mut upper = vec![None; x.len()];
    let mut lower = vec![None; x.len()];
    if n > 0 && x.len() >= n {
        let nf = n as f64;
        let mut s2 = 0.0;
        for (i, v) in x.iter().enumerate() {
            s2 += v * v;
            if i + 1 >= n {
                if let Some(mean) = middle[i] {
                    let var = s2 / nf - mean * mean;
                    let sd = if var < TA_EPSILON { 0.0 } else { var.sqrt() };
                    upper[i] = Some(mean + dev_up * sd);
                    lower[i] = Some(mean - dev_down * sd);
                }
                let old = x[i + 1 - n];
                s2 -= old * old;
            }
        }
    }
    Bands {
        upper,
        middle,
        lower,
    }
}

/// Bollinger %B: where close sits between the bands (0 = lower, 1 = upper); None when the
/// bands have collapsed onto each other.
pub fn percent_b(close: &[f64], bands: &Bands) -> Vec<Option<f64>> {
    close
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (u, l) = (bands.upper.get(i).copied()??, bands.lower.get(i).copied()??);
            let width = u - l;
            (width.abs() >= TA_EPSILON).then(|| (c - l) / width)
        })
        .collect()
}

/// TA-Lib true range, from the second bar on.
fn true_range(high: &[f64], low: &[f64], close: &[f64], i: usize) -> f64 {
    let prev = close[i - 1];
    let mut tr = high[i] - low[i];
    tr = tr.max((prev - high[i]).abs());
    tr.max((prev - low[i]).abs())
}

/// Wilder's ATR as TA-Lib computes it: the first value (index `n`) is the mean true range of
/// bars 1..=n, then `(prev * (n - 1) + tr) / n`. Slices of unequal length use the shortest.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<Option<f64>> {
    let len = high.len().min(low.len()).min(close.len());
    let mut out = vec![None; close.len()];
    if n == 0 || len <= n {
        return out;
    }
    let nf = n as f64;
    let mut prev = (1..=n)
        .map(|i| true_range(high, low, close, i))
        .sum::<f64>()
        / nf;
    out[n] = Some(prev);
    for (i, slot) in out.iter_mut().enumerate().take(len).skip(n + 1) {
        prev = (prev * (nf - 1.0) + true_range(high, low, close, i)) / nf;
        *slot = Some(prev);
    }
    out
}

/// `(v - SMA_n(v)) / STDDEV_n(v)` with TA-Lib's SMA and population STDDEV; None while either is
/// missing or when the deviation is 0 (a flat window has no meaningful z-score).
pub fn volume_zscore(v: &[f64], n: usize) -> Vec<Option<f64>> {
    let mean = sma(v, n);
    let sd = stddev(v, n, 1.0);
    v.iter()
        .zip(mean.iter().zip(sd.iter()))
        .map(|(x, (m, s))| match (m, s) {
            (Some(m), Some(s)) if *s != 0.0 => Some((x - m) / s),
            _ => None,
        })
        .collect()
}

/// The CSV header `aivex indicators` prints; the column order of `IndicatorRow`.
pub const INDICATOR_CSV_HEADER: &str = "date,close,sma_20,sma_50,ema_12,ema_26,rsi_14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,bb_pctb,atr_14,volume_z_20";

/// Every indicator at one bar.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRow {
    pub ts: i64,
    pub close: f64,
    pub sma_20: Option<f64>,
    pub sma_50: Option<f64>,
    pub ema_12: Option<f64>,
    pub ema_26: Option<f64>,
    pub rsi_14: Option<f64>,
    pub macd: Option<f64>,
    pub macd_signal: Option<f64>,
    pub macd_hist: Option<f64>,
    pub bb_upper: Option<f64>,
    pub bb_middle: Option<f64>,
    pub bb_lower: Option<f64>,
    pub bb_pctb: Option<f64>,
    pub atr_14: Option<f64>,
    pub volume_z_20: Option<f64>,
}

impl IndicatorRow {
    /// The optional columns in header order (after `date,close`).
    pub fn values(&self) -> [Option<f64>; 14] {
        [
            self.sma_20,
            self.sma_50,
            self.ema_12,
            self.ema_26,
            self.rsi_14,
            self.macd,
            self.macd_signal,
            self.macd_hist,
            self.bb_upper,
            self.bb_middle,
            self.bb_lower,
            self.bb_pctb,
            self.atr_14,
            self.volume_z_20,
        ]
    }
}

/// All indicators for bars in time order (as `parse_bars` returns them), on Close.
pub fn indicator_table(bars: &[Bar]) -> Vec<IndicatorRow> {
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let volume: Vec<f64> = bars.iter().map(|b| b.volume).collect();
    let sma_20 = sma(&close, 20);
    let sma_50 = sma(&close, 50);
    let ema_12 = ema(&close, 12);
    let ema_26 = ema(&close, 26);
    let rsi_14 = rsi(&close, 14);
    let m = macd(&close, 12, 26, 9);
    let bb = bbands(&close, 20, 2.0, 2.0);
    let pctb = percent_b(&close, &bb);
    let atr_14 = atr(&high, &low, &close, 14);
    let vz = volume_zscore(&volume, 20);
    bars.iter()
        .enumerate()
        .map(|(i, b)| IndicatorRow {
            ts: b.ts,
            close: b.close,
            sma_20: sma_20[i],
            sma_50: sma_50[i],
            ema_12: ema_12[i],
            ema_26: ema_26[i],
            rsi_14: rsi_14[i],
            macd: m.macd[i],
            macd_signal: m.signal[i],
            macd_hist: m.hist[i],
            bb_upper: bb.upper[i],
            bb_middle: bb.middle[i],
            bb_lower: bb.lower[i],
            bb_pctb: pctb[i],
            atr_14: atr_14[i],
            volume_z_20: vz[i],
        })
        .collect()
}

/// Writes the table as CSV under `INDICATOR_CSV_HEADER`: `date` is `YYYY-MM-DD` for midnight-UTC
/// bars and RFC 3339 otherwise, numbers use Rust's shortest round-trip form, empty cells where
/// an indicator has no value yet.
pub fn write_indicator_csv(rows: &[IndicatorRow], out: &mut impl Write) -> io::Result<()> {
    let mut line = String::with_capacity(256);
    writeln!(out, "{INDICATOR_CSV_HEADER}")?;
    for r in rows {
        line.clear();
        line.push_str(&format_ts(r.ts));
        line.push(',');
        line.push_str(&r.close.to_string());
        for v in r.values() {
            line.push(',');
            if let Some(v) = v {
                line.push_str(&v.to_string());
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().copied().map(Some).collect()
    }

    fn close_enough(a: &[Option<f64>], b: &[Option<f64>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                (None, None) => true,
                _ => false,
            })
    }

    type Series = Vec<Option<f64>>;

    #[test]
    fn small_hand_computed_table() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let table: Vec<(&str, Series, Series)> = vec![
            (
                "sma3",
                sma(&x, 3),
                vec![None, None, Some(2.0), Some(3.0), Some(4.0)],
            ),
            // k = 0.5; seed 2 at index 2, then 3, 4.
            (
                "ema3",
                ema(&x, 3),
                vec![None, None, Some(2.0), Some(3.0), Some(4.0)],
            ),
            ("sma0", sma(&x, 0), vec![None; 5]),
            ("sma9", sma(&x, 9), vec![None; 5]),
            ("ema1", ema(&x, 1), some(&x)),
            // Only gains: 100 from the first value on.
            (
                "rsi2",
                rsi(&x, 2),
                vec![None, None, Some(100.0), Some(100.0), Some(100.0)],
            ),
            (
                "rsi flat",
                rsi(&[3.0; 4], 2),
                vec![None, None, Some(0.0), Some(0.0)],
            ),
            // Population stddev of (1,2,3) is sqrt(2/3).
            (
                "stddev3",
                stddev(&x, 3, 1.0),
                vec![
                    None,
                    None,
                    Some((2.0f64 / 3.0).sqrt()),
                    Some((2.0f64 / 3.0).sqrt()),
                    Some((2.0f64 / 3.0).sqrt()),
                ],
            ),
            ("z flat", volume_zscore(&[5.0; 4], 2), vec![None; 4]),
            // Window (1,3): mean 2, sd 1 -> z of 3 is 1.
            (
                "z",
                volume_zscore(&[1.0, 3.0, 1.0], 2),
                vec![None, Some(1.0), Some(-1.0)],
            ),
        ];
        for (name, got, want) in table {
            assert!(close_enough(&got, &want), "{name}: {got:?} vs {want:?}");
        }
    }

    #[test]
    fn rsi_wilder_two_steps() {
        // Changes: +2, -1, +1 ; n=2: gain (2+0)/2=1, loss (0+1)/2=0.5 -> 66.67;
        // next +1: gain (1*1+1)/2=1, loss (0.5*1)/2=0.25 -> 80.
        let got = rsi(&[1.0, 3.0, 2.0, 3.0], 2);
        assert!(
            close_enough(&got, &[None, None, Some(200.0 / 3.0), Some(80.0)]),
            "{got:?}"
        );
    }

    #[test]
    fn atr_wilder_seed() {
        let h = [10.0, 12.0, 11.0, 13.0];
        let l = [9.0, 10.0, 9.0, 11.0];
        let c = [9.5, 11.0, 10.0, 12.0];
        // TR1 = max(2, |9.5-12|, |9.5-10|) = 2.5; TR2 = max(2, 0, 2) = 2; TR3 = max(2, 3, 1) = 3.
        // ATR(2): seed (2.5+2)/2 = 2.25 at index 2; then (2.25*1+3)/2 = 2.625.
        let got = atr(&h, &l, &c, 2);
        assert!(
            close_enough(&got, &[None, None, Some(2.25), Some(2.625)]),
            "{got:?}"
        );
    }

    #[test]
    fn macd_lookback_and_short_input() {
        let x: Vec<f64> = (0..40)
            .map(|i| 100.0 + (i as f64 * 0.7).sin() * 5.0)
            .collect();
        let m = macd(&x, 12, 26, 9);
        assert!(m.macd[..33].iter().all(Option::is_none));
        assert!(m.macd[33..].iter().all(Option::is_some));
        assert!(m.hist[33..].iter().all(Option::is_some));
        let short = macd(&x[..20], 12, 26, 9);
        assert!(short.macd.iter().all(Option::is_none));
    }

    #[test]
    fn csv_layout() {
        let bars: Vec<Bar> = (0..3)
            .map(|i| Bar {
                ts: 1_704_153_600 + i * 86_400 + if i == 2 { 3600 } else { 0 },
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.25 + i as f64,
                adj_close: None,
                volume: 10.0,
            })
            .collect();
        let mut out = Vec::new();
        write_indicator_csv(&indicator_table(&bars), &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let want = format!(
            "{INDICATOR_CSV_HEADER}\n2024-01-02,1.25{e}\n2024-01-03,2.25{e}\n2024-01-04T01:00:00Z,3.25{e}\n",
            e = ",".repeat(14)
        );
        assert_eq!(text, want);
    }
}
