//! Calibration: from feedback rows joined with their signals, how well each component and
//! each confidence bucket did (n, hit rate, mean realized return, Brier score) and a suggested
//! set of weights.
//!
//! It owns the statistics and the weight suggestion. It is advice only: nothing here changes
//! the live weights. Pure: the glue selects the rows (`--since`), prints `render_table` or the
//! serde JSON; it must not read the store or the clock.

use crate::error::BrainError;
use crate::kind::{Kind, Weights};
use crate::outcome::OutcomeKind;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One present component of the signal a feedback row is about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeedbackComponent {
    pub kind: Kind,
    pub value: f64,
    /// The weight configured when the signal was made.
    pub weight: f64,
}

/// A feedback row (source auto or posted) joined with its signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRow {
    pub confidence: f64,
    pub direction: i8,
    pub components: Vec<FeedbackComponent>,
    pub outcome: OutcomeKind,
    /// Posted feedback may give only the outcome.
    pub realized_return: Option<f64>,
}

/// Statistics of one group of rows. Rates and means are `None` for an empty group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: u32,
    pub hits: u32,
    pub hit_rate: Option<f64>,
    /// How many rows had a realized return (the mean's denominator).
    pub n_return: u32,
    /// Mean return earned by following the call: direction × realized_return.
    pub mean_return: Option<f64>,
    pub brier: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ComponentCalibration {
    pub kind: Kind,
    pub stats: Stats,
    /// Mean configured weight over the rows counted (weights may have changed over time).
    pub mean_weight: Option<f64>,
    /// The live weight, normalised so the three sum to 1.
    pub current_weight: f64,
    pub suggested_weight: f64,
    /// "edge" when the suggestion comes from this component's data, "current" when it kept
    /// the live weight (too few rows).
    pub basis: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketCalibration {
    /// "[0.0,0.2)" ... "[0.8,1.0]".
    pub label: String,
    pub lower: f64,
    pub upper: f64,
    pub stats: Stats,
}

/// The whole calibration report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub rows: u32,
    /// The least rows a component needs before its data moves its suggested weight.
    pub min_n: u32,
    pub overall: Stats,
    pub components: Vec<ComponentCalibration>,
    pub buckets: Vec<BucketCalibration>,
}

/// Lower edges of the confidence buckets; the last bucket includes 1.0.
const BUCKET_EDGES: [f64; 5] = [0.0, 0.2, 0.4, 0.6, 0.8];

/// The suggestion is left alone below this many rows per component by default: with fewer, a
/// couple of lucky trades would swing the weights.
pub const DEFAULT_MIN_N: u32 = 30;

#[derive(Default)]
struct Acc {
    n: u32,
    hits: u32,
    n_return: u32,
    sum_return: f64,
    sum_sq: f64,
    sum_weight: f64,
}

impl Acc {
    fn add(&mut self, p: f64, hit: bool, directed_return: Option<f64>) {
        self.n += 1;
        let y = if hit { 1.0 } else { 0.0 };
        self.hits += u32::from(hit);
        self.sum_sq += (p - y) * (p - y);
        if let Some(r) = directed_return {
            self.n_return += 1;
            self.sum_return += r;
        }
    }

    fn stats(&self) -> Stats {
        let mean = |sum: f64, n: u32| (n > 0).then(|| sum / f64::from(n));
        Stats {
            n: self.n,
            hits: self.hits,
            hit_rate: mean(f64::from(self.hits), self.n),
            n_return: self.n_return,
            mean_return: mean(self.sum_return, self.n_return),
            brier: mean(self.sum_sq, self.n),
        }
    }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn validate(i: usize, row: &FeedbackRow) -> Result<(), BrainError> {
    let src = || format!("feedback row {i}");
    if !row.confidence.is_finite() || !(0.0..=1.0).contains(&row.confidence) {
        return Err(BrainError::input(
            src(),
            format!("confidence must be in [0, 1], got {}", row.confidence),
        ));
    }
    if !(-1..=1).contains(&row.direction) {
        return Err(BrainError::input(
            src(),
            format!("direction must be -1, 0 or 1, got {}", row.direction),
        ));
    }
    if let Some(r) = row.realized_return {
        if !r.is_finite() {
            return Err(BrainError::input(src(), format!("realized_return is {r}")));
        }
    }
    for c in &row.components {
        if !c.value.is_finite() || !(-1.0..=1.0).contains(&c.value) || !c.weight.is_finite() {
            return Err(BrainError::input(
                format!("feedback row {i} {}", c.kind),
                format!(
                    "value must be in [-1, 1] and weight finite, got {} / {}",
                    c.value, c.weight
                ),
            ));
        }
    }
    Ok(())
}

/// Computes the calibration report of `rows` against the live weights `current`.
///
/// Signal level (overall, buckets): hit = outcome hit or flat; Brier with p = confidence.
/// Component level: only rows with a realized return and a non-zero component value; the
/// component's own call is sign(value), hit = sign(value) == sign(return), p = (1 + |value|) / 2,
/// mean_return (its edge) = mean of sign(value) × return. See README.md for the weights.
pub fn calibrate(
    rows: &[FeedbackRow],
    current: &Weights,
    min_n: u32,
) -> Result<Calibration, BrainError> {
    let mut overall = Acc::default();
    let mut buckets: [Acc; 5] = Default::default();
    let mut comps: [Acc; 3] = Default::default();

    for (i, row) in rows.iter().enumerate() {
        validate(i, row)?;
        let directed = row.realized_return.map(|r| f64::from(row.direction) * r);
        let hit = row.outcome.correct();
        overall.add(row.confidence, hit, directed);
        let b = BUCKET_EDGES
            .iter()
            .skip(1)
            .filter(|edge| row.confidence >= **edge)
            .count();
        if let Some(acc) = buckets.get_mut(b) {
            acc.add(row.confidence, hit, directed);
        }
        let Some(r) = row.realized_return else {
            continue;
        };
        for c in &row.components {
            let call = sign(c.value);
            if call == 0.0 {
                continue;
            }
            let idx = Kind::ALL.iter().position(|k| *k == c.kind);
            if let Some(acc) = idx.and_then(|i| comps.get_mut(i)) {
                acc.add((1.0 + c.value.abs()) / 2.0, call == sign(r), Some(call * r));
                acc.sum_weight += c.weight;
            }
        }
    }

    let total: f64 = Kind::ALL.iter().map(|k| current.get(*k).max(0.0)).sum();
    let current_norm = |k: Kind| {
        if total > 0.0 {
            current.get(k).max(0.0) / total
        } else {
            1.0 / 3.0
        }
    };
    let eligible = |acc: &Acc| acc.n >= min_n && acc.n > 0;
    let edge = |acc: &Acc| acc.stats().mean_return.unwrap_or(0.0).max(0.0);
    let mass: f64 = Kind::ALL
        .iter()
        .zip(comps.iter())
        .filter(|(_, a)| eligible(a))
        .map(|(k, _)| current_norm(*k))
        .sum();
    let edge_sum: f64 = comps.iter().filter(|a| eligible(a)).map(edge).sum();

    let components = Kind::ALL
        .into_iter()
        .zip(comps.iter())
        .map(|(kind, acc)| {
            let by_edge = eligible(acc) && edge_sum > 0.0;
            ComponentCalibration {
                kind,
                stats: acc.stats(),
                mean_weight: (acc.n > 0).then(|| acc.sum_weight / f64::from(acc.n)),
                current_weight: current_norm(kind),
                suggested_weight: if by_edge {
                    mass * edge(acc) / edge_sum
                } else {
                    current_norm(kind)
                },
                basis: if by_edge { "edge" } else { "current" },
            }
        })
        .collect();

    let buckets = buckets
        .iter()
        .enumerate()
        .map(|(i, acc)| {
            let lower = BUCKET_EDGES.get(i).copied().unwrap_or(0.0);
            let upper = BUCKET_EDGES.get(i + 1).copied().unwrap_or(1.0);
            let close = if i + 1 == BUCKET_EDGES.len() {
                ']'
            } else {
                ')'
            };
            BucketCalibration {
                label: format!("[{lower:.1},{upper:.1}{close}"),
                lower,
                upper,
                stats: acc.stats(),
            }
        })
        .collect();

    Ok(Calibration {
        rows: overall.n,
        min_n,
        overall: overall.stats(),
        components,
        buckets,
    })
}

/// The report as an aligned text table (what `aivex calibrate` prints).
pub fn render_table(cal: &Calibration) -> String {
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    let mut lines: Vec<[String; 7]> = vec![[
        "group".into(),
        "n".into(),
        "hit rate".into(),
        "mean return".into(),
        "brier".into(),
        "weight".into(),
        "suggested".into(),
    ]];
    let stat_cols = |s: &Stats| {
        [
            s.n.to_string(),
            pct(s.hit_rate),
            opt(s.mean_return.map(|r| r * 100.0), 3)
                + if s.mean_return.is_some() { "%" } else { "" },
            opt(s.brier, 4),
        ]
    };
    let [n, h, m, b] = stat_cols(&cal.overall);
    lines.push(["all signals".into(), n, h, m, b, "".into(), "".into()]);
    for bucket in &cal.buckets {
        let [n, h, m, b] = stat_cols(&bucket.stats);
        lines.push([
            format!("confidence {}", bucket.label),
            n,
            h,
            m,
            b,
            "".into(),
            "".into(),
        ]);
    }
    for c in &cal.components {
        let [n, h, m, b] = stat_cols(&c.stats);
        let suggested = format!("{:.3} ({})", c.suggested_weight, c.basis);
        lines.push([
            format!("component {}", c.kind),
            n,
            h,
            m,
            b,
            format!("{:.3}", c.current_weight),
            suggested,
        ]);
    }
    let mut widths = [0usize; 7];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (i, (cell, w)) in line.iter().zip(widths.iter()).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            if i == 0 {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str("  ");
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    let _ = writeln!(
        out,
        "{} rows; suggestions use a component's edge once it has {} rows (advice only: live weights are unchanged)",
        cal.rows, cal.min_n
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(kind: Kind, value: f64) -> FeedbackComponent {
        let weight = Weights::default().get(kind);
        FeedbackComponent {
            kind,
            value,
            weight,
        }
    }

    /// The hand-computed data set of README.md, "Calibration".
    fn rows() -> Vec<FeedbackRow> {
        use Kind::*;
        use OutcomeKind::*;
        let row = |confidence, direction, components, outcome, realized_return| FeedbackRow {
            confidence,
            direction,
            components,
            outcome,
            realized_return,
        };
        vec![
            row(
                0.9,
                1,
                vec![comp(Chart, 0.8), comp(News, 0.5), comp(Metrics, 0.2)],
                Hit,
                Some(0.04),
            ),
            row(
                0.7,
                1,
                vec![comp(Chart, 0.6), comp(News, -0.4)],
                Miss,
                Some(-0.02),
            ),
            row(
                0.3,
                -1,
                vec![comp(Chart, -0.5), comp(Metrics, 0.4)],
                Hit,
                Some(-0.03),
            ),
            row(
                0.1,
                0,
                vec![comp(Chart, 0.05), comp(News, -0.05)],
                Flat,
                Some(0.001),
            ),
            row(
                0.85,
                -1,
                vec![comp(Chart, -0.9), comp(News, -0.6)],
                Miss,
                None,
            ),
        ]
    }

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-12,
            (None, None) => true,
            _ => false,
        }
    }

    type Expect = (u32, Option<f64>, Option<f64>, Option<f64>);

    fn check(name: &str, s: &Stats, (n, hit_rate, mean_return, brier): Expect) {
        assert_eq!(s.n, n, "{name} n");
        assert!(
            close(s.hit_rate, hit_rate),
            "{name} hit rate {:?}",
            s.hit_rate
        );
        assert!(
            close(s.mean_return, mean_return),
            "{name} mean return {:?}",
            s.mean_return
        );
        assert!(close(s.brier, brier), "{name} brier {:?}", s.brier);
    }

    #[test]
    fn hand_computed_signal_level() {
        let cal = calibrate(&rows(), &Weights::default(), 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cal.rows, 5);
        // Correct: rows 0, 2, 3 → 3/5. Directed returns: +0.04, -0.02, +0.03, 0 (neutral) → 0.05/4.
        // Brier: 0.01 + 0.49 + 0.49 + 0.81 + 0.7225 = 2.5225 → /5.
        check(
            "overall",
            &cal.overall,
            (5, Some(0.6), Some(0.0125), Some(0.5045)),
        );
        let want: [Expect; 5] = [
            // Row 3: flat (correct), neutral return 0, (0.1 - 1)^2.
            (1, Some(1.0), Some(0.0), Some(0.81)),
            // Row 2: hit, -1 × -0.03, (0.3 - 1)^2.
            (1, Some(1.0), Some(0.03), Some(0.49)),
            (0, None, None, None),
            // Row 1: miss, +1 × -0.02, (0.7 - 0)^2.
            (1, Some(0.0), Some(-0.02), Some(0.49)),
            // Rows 0 and 4: one hit; only row 0 has a return; ((0.9-1)^2 + 0.85^2) / 2.
            (2, Some(0.5), Some(0.04), Some(0.36625)),
        ];
        let labels = [
            "[0.0,0.2)",
            "[0.2,0.4)",
            "[0.4,0.6)",
            "[0.6,0.8)",
            "[0.8,1.0]",
        ];
        for ((bucket, want), label) in cal.buckets.iter().zip(want).zip(labels) {
            assert_eq!(bucket.label, label);
            check(label, &bucket.stats, want);
        }
    }

    #[test]
    fn hand_computed_components_and_weights() {
        let cal = calibrate(&rows(), &Weights::default(), 2).unwrap_or_else(|e| panic!("{e}"));
        let want: [Expect; 3] = [
            // chart, rows 0-3 (row 4 has no return): calls +,+,-,+ vs returns +,-,-,+ → 3/4.
            // edge (0.04 - 0.02 + 0.03 + 0.001)/4 = 0.01275.
            // brier p = 0.9, 0.8, 0.75, 0.525 → 0.01 + 0.64 + 0.0625 + 0.225625 = 0.938125 / 4.
            (4, Some(0.75), Some(0.01275), Some(0.23453125)),
            // news, rows 0, 1, 3: calls +,-,- vs returns +,-,+ → 2/3; edge (0.04+0.02-0.001)/3.
            // brier p = 0.75, 0.7, 0.525 → 0.0625 + 0.09 + 0.275625 = 0.428125 / 3.
            (3, Some(2.0 / 3.0), Some(0.059 / 3.0), Some(0.428125 / 3.0)),
            // metrics, rows 0, 2: calls +,+ vs returns +,- → 1/2; edge (0.04-0.03)/2 = 0.005.
            // brier p = 0.6, 0.7 → 0.16 + 0.49 = 0.65 / 2.
            (2, Some(0.5), Some(0.005), Some(0.325)),
        ];
        for (c, want) in cal.components.iter().zip(want) {
            check(c.kind.as_str(), &c.stats, want);
            assert!(close(c.mean_weight, Some(Weights::default().get(c.kind))));
        }
        // Edges in twelve-thousandths: 153, 236, 60; sum 449. All three have n >= 2.
        let suggested: Vec<f64> = cal.components.iter().map(|c| c.suggested_weight).collect();
        let want = [153.0 / 449.0, 236.0 / 449.0, 60.0 / 449.0];
        for (g, w) in suggested.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{suggested:?}");
        }
    }

    #[test]
    fn suggestion_falls_back_to_current_weights_when_n_is_small() {
        let cases: [(u32, [f64; 3], [&str; 3]); 3] = [
            // min_n 3: metrics (n = 2) keeps 0.2; chart and news share 0.8 by edge 153 : 236.
            (
                3,
                [0.8 * 153.0 / 389.0, 0.8 * 236.0 / 389.0, 0.2],
                ["edge", "edge", "current"],
            ),
            // min_n 4: only chart qualifies and takes exactly its own share.
            (4, [0.5, 0.3, 0.2], ["edge", "current", "current"]),
            (5, [0.5, 0.3, 0.2], ["current", "current", "current"]),
        ];
        for (min_n, want, basis) in cases {
            let cal =
                calibrate(&rows(), &Weights::default(), min_n).unwrap_or_else(|e| panic!("{e}"));
            for ((c, w), b) in cal.components.iter().zip(want).zip(basis) {
                assert!(
                    (c.suggested_weight - w).abs() < 1e-12,
                    "min_n {min_n} {}",
                    c.kind
                );
                assert_eq!(c.basis, b, "min_n {min_n} {}", c.kind);
            }
            let sum: f64 = cal.components.iter().map(|c| c.suggested_weight).sum();
            assert!((sum - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn negative_edge_gets_zero_weight_and_all_negative_keeps_current() {
        use OutcomeKind::*;
        let row = |chart: f64, news: f64, r: f64| FeedbackRow {
            confidence: 0.5,
            direction: 1,
            components: vec![comp(Kind::Chart, chart), comp(Kind::News, news)],
            outcome: if r > 0.0 { Hit } else { Miss },
            realized_return: Some(r),
        };
        // News always calls the wrong way: edge < 0 → weight 0; chart takes chart+news mass.
        let rows = vec![row(0.5, -0.5, 0.01), row(-0.5, 0.5, -0.01)];
        let cal = calibrate(&rows, &Weights::default(), 1).unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<f64> = cal.components.iter().map(|c| c.suggested_weight).collect();
        assert!(
            (w[0] - 0.8).abs() < 1e-12 && w[1] == 0.0 && (w[2] - 0.2).abs() < 1e-12,
            "{w:?}"
        );
        // Everyone wrong: nothing to learn, keep the live weights.
        let rows = vec![row(-0.5, -0.5, 0.01)];
        let cal = calibrate(&rows, &Weights::default(), 1).unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<f64> = cal.components.iter().map(|c| c.suggested_weight).collect();
        assert_eq!(w, vec![0.5, 0.3, 0.2]);
    }

    #[test]
    fn bad_rows_are_named() {
        let mut bad_conf = rows();
        bad_conf[1].confidence = 1.2;
        let mut bad_dir = rows();
        bad_dir[2].direction = 2;
        let mut bad_ret = rows();
        bad_ret[0].realized_return = Some(f64::NAN);
        let mut bad_value = rows();
        bad_value[3].components[1].value = 3.0;
        let table = [
            (bad_conf, "feedback row 1"),
            (bad_dir, "feedback row 2"),
            (bad_ret, "feedback row 0"),
            (bad_value, "feedback row 3 news"),
        ];
        for (rows, source) in table {
            match calibrate(&rows, &Weights::default(), 2) {
                Err(BrainError::Input { source: s, .. }) => assert_eq!(s, source),
                other => panic!("{source}: got {other:?}"),
            }
        }
    }

    #[test]
    fn table_is_aligned_and_complete() {
        let cal = calibrate(&rows(), &Weights::default(), 2).unwrap_or_else(|e| panic!("{e}"));
        let text = render_table(&cal);
        let lines: Vec<&str> = text.lines().collect();
        // Header, overall, 5 buckets, 3 components, footer.
        assert_eq!(lines.len(), 11, "{text}");
        assert!(lines[1].starts_with("all signals"));
        assert!(
            lines[5].contains("[0.6,0.8)") && lines[5].contains("0.0%"),
            "{text}"
        );
        assert!(
            lines[4].contains(" - "),
            "empty bucket shows dashes: {text}"
        );
        assert!(
            lines[7].contains("component chart") && lines[7].contains("75.0%"),
            "{text}"
        );
        // Right-aligned numeric columns: every table row has its "n" column ending at the same place.
        let n_end = lines[0].find(" n").map(|i| i + 2);
        for line in &lines[1..10] {
            let prefix: String = line.chars().take(n_end.unwrap_or(0)).collect();
            assert!(prefix.ends_with(|c: char| c.is_ascii_digit()), "{line:?}");
        }
        let json = serde_json::to_value(&cal).unwrap_or_default();
        assert_eq!(json["components"][0]["kind"], "chart");
        assert_eq!(json["buckets"][4]["stats"]["n"], 2);
    }
}
