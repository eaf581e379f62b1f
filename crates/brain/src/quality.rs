//! Signal quality: the track record of scored signals, as Eye's `GET /quality` (and the
//! dashboard) shows it and as a replay reports it: hit rates, the information coefficient
//! (Spearman rank correlation of score with the realized forward return), the Brier score of
//! confidence, and the reliability diagram's data (hit rate by confidence decile), overall and
//! per symbol.
//!
//! It owns these definitions. Pure: rows come in one at a time (`QualityAcc::add`, so a caller
//! can page through a large store without holding every row) or as a slice (`quality`); it
//! must not read the store or the clock. Only the (score, return) pairs of scored signals are
//! kept, 16 bytes each, since a rank correlation needs all of them.

use crate::outcome::OutcomeKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// One stored signal with its automatic outcome (None until scored).
#[derive(Debug, Clone, PartialEq)]
pub struct QualityRow {
    pub symbol: String,
    /// -1, 0 or 1.
    pub direction: i8,
    pub score: f64,
    pub confidence: f64,
    /// The governor allowed it.
    pub allowed: bool,
    pub reason_codes: Vec<String>,
    pub outcome: Option<OutcomeKind>,
    pub realized_return: Option<f64>,
}

/// One bar of the reliability diagram: scored directional signals whose confidence is in
/// `[lo, hi)` (the last bucket includes 1.0) and how many of them were hits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    pub lo: f64,
    pub hi: f64,
    pub n: u64,
    pub hits: u64,
    pub hit_rate: Option<f64>,
}

/// The numbers of one group of signals (all of them, or one symbol's). Rates are None when
/// their denominator is 0; `ic` also when fewer than 3 pairs exist or one side is constant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    pub signals: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Reason code → how many denied signals carried it.
    pub by_reason: BTreeMap<String, u64>,
    /// Signals with an outcome.
    pub scored: u64,
    /// Allowed, scored, directional (direction ≠ 0) signals: the calls a user was told to act on.
    pub n_hit_rate: u64,
    /// Share of those that were hits.
    pub hit_rate: Option<f64>,
    /// Scored directional signals, allowed or not.
    pub n_hit_rate_all: u64,
    pub hit_rate_all: Option<f64>,
    /// Scored signals with a realized return: the pairs `ic` is computed over.
    pub n_ic: u64,
    /// Spearman rank correlation of `score` with the realized return.
    pub ic: Option<f64>,
    /// Mean of (confidence − hit)² over scored directional signals: confidence read as the
    /// probability that the direction is right. 0 is perfect, 0.25 a coin flip at 0.5.
    pub brier: Option<f64>,
    /// Ten confidence deciles, always all ten (empty ones with `n` 0).
    pub buckets: Vec<Bucket>,
}

/// The whole report: the overall numbers, and the same per symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    #[serde(flatten)]
    pub overall: Quality,
    pub per_symbol: BTreeMap<String, Quality>,
}

const DECILES: usize = 10;

#[derive(Debug, Default, Clone)]
struct Group {
    signals: u64,
    allowed: u64,
    by_reason: BTreeMap<String, u64>,
    scored: u64,
    n_allowed_dir: u64,
    hits_allowed_dir: u64,
    n_dir: u64,
    hits_dir: u64,
    brier_sum: f64,
    bucket_n: [u64; DECILES],
    bucket_hits: [u64; DECILES],
    pairs: Vec<(f64, f64)>,
}

impl Group {
    fn add(&mut self, r: &QualityRow) {
        self.signals += 1;
        if r.allowed {
            self.allowed += 1;
        } else {
            for code in &r.reason_codes {
                *self.by_reason.entry(code.clone()).or_default() += 1;
            }
        }
        let Some(outcome) = r.outcome else {
            return;
        };
        self.scored += 1;
        if let Some(ret) = r.realized_return.filter(|x| x.is_finite()) {
            if r.score.is_finite() {
                self.pairs.push((r.score, ret));
            }
        }
        if r.direction == 0 {
            return;
        }
        let hit = outcome == OutcomeKind::Hit;
        self.n_dir += 1;
        self.hits_dir += u64::from(hit);
        if r.allowed {
            self.n_allowed_dir += 1;
            self.hits_allowed_dir += u64::from(hit);
        }
        let p = if r.confidence.is_finite() {
            r.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let y = if hit { 1.0 } else { 0.0 };
        self.brier_sum += (p - y) * (p - y);
        // Decile i holds [i/10, (i+1)/10); 1.0 falls into the last one.
        let i = ((p * DECILES as f64) as usize).min(DECILES - 1);
        if let (Some(n), Some(h)) = (self.bucket_n.get_mut(i), self.bucket_hits.get_mut(i)) {
            *n += 1;
            *h += u64::from(hit);
        }
    }

    fn merge(&mut self, o: &Group) {
        self.signals += o.signals;
        self.allowed += o.allowed;
        for (k, v) in &o.by_reason {
            *self.by_reason.entry(k.clone()).or_default() += v;
        }
        self.scored += o.scored;
        self.n_allowed_dir += o.n_allowed_dir;
        self.hits_allowed_dir += o.hits_allowed_dir;
        self.n_dir += o.n_dir;
        self.hits_dir += o.hits_dir;
        self.brier_sum += o.brier_sum;
        for i in 0..DECILES {
            if let (Some(n), Some(h)) = (self.bucket_n.get_mut(i), self.bucket_hits.get_mut(i)) {
                *n += o.bucket_n.get(i).copied().unwrap_or(0);
                *h += o.bucket_hits.get(i).copied().unwrap_or(0);
            }
        }
        self.pairs.extend_from_slice(&o.pairs);
    }

    fn finish(&self) -> Quality {
        let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        let buckets = (0..DECILES)
            .map(|i| {
                let n = self.bucket_n.get(i).copied().unwrap_or(0);
                let hits = self.bucket_hits.get(i).copied().unwrap_or(0);
                Bucket {
                    lo: i as f64 / DECILES as f64,
                    hi: (i + 1) as f64 / DECILES as f64,
                    n,
                    hits,
                    hit_rate: rate(hits, n),
                }
            })
            .collect();
        Quality {
            signals: self.signals,
            allowed: self.allowed,
            denied: self.signals - self.allowed,
            by_reason: self.by_reason.clone(),
            scored: self.scored,
            n_hit_rate: self.n_allowed_dir,
            hit_rate: rate(self.hits_allowed_dir, self.n_allowed_dir),
            n_hit_rate_all: self.n_dir,
            hit_rate_all: rate(self.hits_dir, self.n_dir),
            n_ic: self.pairs.len() as u64,
            ic: spearman(&self.pairs),
            brier: (self.n_dir > 0).then(|| self.brier_sum / self.n_dir as f64),
            buckets,
        }
    }
}

/// Accumulates rows; `finish` gives the report.
#[derive(Debug, Default, Clone)]
pub struct QualityAcc {
    per_symbol: BTreeMap<String, Group>,
}

impl QualityAcc {
    pub fn add(&mut self, row: &QualityRow) {
        match self.per_symbol.get_mut(&row.symbol) {
            Some(g) => g.add(row),
            None => {
                let mut g = Group::default();
                g.add(row);
                self.per_symbol.insert(row.symbol.clone(), g);
            }
        }
    }

    pub fn finish(&self) -> QualityReport {
        let mut all = Group::default();
        for g in self.per_symbol.values() {
            all.merge(g);
        }
        QualityReport {
            overall: all.finish(),
            per_symbol: self
                .per_symbol
                .iter()
                .map(|(s, g)| (s.clone(), g.finish()))
                .collect(),
        }
    }
}

/// The report of `rows`.
pub fn quality(rows: &[QualityRow]) -> QualityReport {
    let mut acc = QualityAcc::default();
    for r in rows {
        acc.add(r);
    }
    acc.finish()
}

/// Ranks of `x` (1-based), ties getting the mean of the ranks they span.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|a, b| {
        let (va, vb) = (x.get(*a).copied(), x.get(*b).copied());
        va.unwrap_or(0.0).total_cmp(&vb.unwrap_or(0.0))
    });
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let v = idx.get(i).and_then(|k| x.get(*k)).copied();
        let mut j = i + 1;
        while j < idx.len() && idx.get(j).and_then(|k| x.get(*k)).copied() == v {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j: their mean.
        let rank = (i + 1 + j) as f64 / 2.0;
        for k in idx.get(i..j).unwrap_or(&[]) {
            if let Some(slot) = out.get_mut(*k) {
                *slot = rank;
            }
        }
        i = j;
    }
    out
}

/// Spearman's rank correlation of the pairs: the Pearson correlation of their ranks. None
/// with fewer than 3 pairs or when either side is constant.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let a = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        symbol: &str,
        direction: i8,
        score: f64,
        confidence: f64,
        allowed: bool,
        outcome: Option<(OutcomeKind, f64)>,
    ) -> QualityRow {
        QualityRow {
            symbol: symbol.into(),
            direction,
            score,
            confidence,
            allowed,
            reason_codes: if allowed {
                vec![]
            } else {
                vec!["MIN_CONFIDENCE".into(), "STALE_INPUT".into()]
            },
            outcome: outcome.map(|o| o.0),
            realized_return: outcome.map(|o| o.1),
        }
    }

    #[test]
    fn spearman_table() {
        type Case<'a> = (&'a [(f64, f64)], Option<f64>);
        let table: &[Case] = &[
            (&[], None),
            (&[(1.0, 2.0), (2.0, 3.0)], None),
            (&[(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)], Some(1.0)),
            // Monotone but not linear: still 1.
            (
                &[(1.0, 1.0), (2.0, 8.0), (3.0, 27.0), (4.0, 64.0)],
                Some(1.0),
            ),
            (&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)], Some(-1.0)),
            // A constant side has no rank order.
            (&[(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)], None),
            // Ties share their mean rank: ranks a = 1.5 1.5 3, b = 1 2 3 -> r = sqrt(3)/2.
            (&[(1.0, 1.0), (1.0, 2.0), (2.0, 3.0)], Some(0.75f64.sqrt())),
        ];
        for (pairs, want) in table {
            let got = spearman(pairs);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "{pairs:?}: {g} vs {w}"),
                _ => assert_eq!(got, *want, "{pairs:?}"),
            }
        }
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 1.0]), vec![4.0, 1.5, 3.0, 1.5]);
    }

    #[test]
    fn report_table() {
        use OutcomeKind::{Flat, Hit, Miss};
        let rows = vec![
            // AAPL: two allowed longs scored (a hit, a miss), one denied long scored (hit), one
            // neutral scored flat, one allowed unscored.
            row("AAPL", 1, 0.6, 0.95, true, Some((Hit, 0.04))),
            row("AAPL", 1, 0.2, 0.35, true, Some((Miss, -0.02))),
            row("AAPL", 1, 0.4, 0.1, false, Some((Hit, 0.01))),
            row("AAPL", 0, 0.05, 0.5, false, Some((Flat, 0.001))),
            row("AAPL", 1, 0.3, 0.8, true, None),
            // MSFT: one denied short, a hit, with confidence exactly 1.
            row("MSFT", -1, -0.5, 1.0, false, Some((Hit, -0.03))),
        ];
        let r = quality(&rows);
        let a = &r.per_symbol["AAPL"];
        assert_eq!((a.signals, a.allowed, a.denied, a.scored), (5, 3, 2, 4));
        assert_eq!(a.by_reason["MIN_CONFIDENCE"], 2);
        assert_eq!((a.n_hit_rate, a.hit_rate), (2, Some(0.5)));
        assert_eq!(a.n_hit_rate_all, 3);
        assert!((a.hit_rate_all.unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-12);
        // Brier over the three directional scored: (0.95-1)² + (0.35-0)² + (0.1-1)².
        let brier = (0.05f64.powi(2) + 0.35f64.powi(2) + 0.9f64.powi(2)) / 3.0;
        assert!((a.brier.unwrap_or(0.0) - brier).abs() < 1e-12);
        // Scores 0.6 0.2 0.4 0.05 rank 4 2 3 1, returns 0.04 -0.02 0.01 0.001 rank 4 1 3 2:
        // rank differences 0 1 0 1, so 1 - 6 × 2 / (4 × 15) = 0.8.
        assert_eq!(a.n_ic, 4);
        assert!((a.ic.unwrap_or(0.0) - 0.8).abs() < 1e-12, "{:?}", a.ic);
        let m = &r.per_symbol["MSFT"];
        assert_eq!((m.signals, m.n_hit_rate, m.hit_rate), (1, 0, None));
        assert_eq!((m.hit_rate_all, m.ic), (Some(1.0), None));
        assert_eq!(m.buckets[9].n, 1, "confidence 1.0 is in the last decile");

        let o = &r.overall;
        assert_eq!((o.signals, o.allowed, o.denied, o.scored), (6, 3, 3, 5));
        assert_eq!(o.by_reason["STALE_INPUT"], 3);
        assert_eq!((o.n_hit_rate_all, o.hit_rate_all), (4, Some(0.75)));
        assert_eq!(o.n_ic, 5);
        assert_eq!(o.buckets.len(), 10);
        let filled: Vec<(f64, u64, Option<f64>)> = o
            .buckets
            .iter()
            .filter(|b| b.n > 0)
            .map(|b| (b.lo, b.n, b.hit_rate))
            .collect();
        assert_eq!(
            filled,
            vec![
                (0.1, 1, Some(1.0)),
                (0.3, 1, Some(0.0)),
                (0.9, 2, Some(1.0))
            ]
        );
        assert_eq!(o.buckets.iter().map(|b| b.n).sum::<u64>(), 4);

        // Row by row or all at once: the same report; nothing at all: empty rates.
        let mut acc = QualityAcc::default();
        rows.iter().for_each(|x| acc.add(x));
        assert_eq!(acc.finish(), r);
        let empty = quality(&[]);
        assert_eq!((empty.overall.signals, empty.overall.hit_rate), (0, None));
        assert!(empty.per_symbol.is_empty());
        let v = serde_json::to_value(&r).unwrap_or_default();
        for k in [
            "signals",
            "allowed",
            "denied",
            "by_reason",
            "scored",
            "hit_rate",
            "hit_rate_all",
            "ic",
            "brier",
            "buckets",
            "per_symbol",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
    }
}
