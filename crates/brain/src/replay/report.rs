//! The quality report of a replay: counts, hit rates, the information coefficient, the Brier
//! score and the reliability buckets, overall and per symbol; its aligned text table; and the
//! `--signals` line of each replayed signal.
//!
//! Pure functions of the replayed rows (their order is time order, which fixes every sum, so
//! the same rows give byte-identical JSON). It must not read the clock, the store or files.
//! Definitions are in crates/brain/README.md ("Replay report").

use aivex_core::contract::{OutcomeKind, SignalOutcome, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One replayed signal as the report and the `--signals` file see it (borrowed from the
/// replay, so writing a line copies nothing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayedRow<'a> {
    pub symbol: &'a str,
    /// The step time (Unix seconds).
    pub at: i64,
    /// Empty (and left out) when the replay did not compute ids.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub id: &'a str,
    pub direction: i8,
    pub score: f64,
    pub confidence: f64,
    pub decision: Verdict,
    pub reason_codes: &'a [&'static str],
    /// Null until scored by the live outcome rule from the bars closed by the replay's end.
    pub outcome: Option<SignalOutcome>,
}

/// Counts and rates over a set of replayed signals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub signals: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Reason code → how many denials carried it.
    pub by_reason: BTreeMap<String, u64>,
    /// Signals with an outcome.
    pub scored: u64,
    /// Hits among the allowed, scored signals with a direction.
    pub hit_rate: Option<f64>,
    /// Hits among all scored signals with a direction.
    pub hit_rate_all: Option<f64>,
    /// Mean of direction × realized return over the allowed, scored signals with a
    /// direction: the return of following what the governor let through.
    pub mean_return_allowed: Option<f64>,
    /// Spearman rank correlation of score with the realized return, over scored signals.
    pub ic: Option<f64>,
    /// Mean of (confidence − right)² over scored signals; right is hit, or flat for a
    /// neutral signal.
    pub brier: Option<f64>,
}

/// One confidence decile of the reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub lo: f64,
    pub hi: f64,
    /// Scored signals with confidence in [lo, hi) (the last bucket includes 1).
    pub n: u64,
    /// Share of them that were right (hit, or flat for a neutral signal).
    pub hit_rate: Option<f64>,
}

/// What a replay ran over, for the report's head.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportHead {
    pub from: i64,
    pub to: i64,
    pub step_s: i64,
    pub symbols: Vec<String>,
    pub config_hash: String,
    pub steps: u64,
    pub symbol_steps: u64,
}

/// The quality report (`aivex replay --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub from_unix: i64,
    pub to_unix: i64,
    pub step_s: i64,
    pub symbols: Vec<String>,
    pub config_hash: String,
    pub steps: u64,
    pub symbol_steps: u64,
    #[serde(flatten)]
    pub totals: Stats,
    pub buckets: Vec<Bucket>,
    pub per_symbol: BTreeMap<String, Stats>,
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Ranks of `v` (1-based), ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    // Equal values share their mean rank, so the order among them does not matter: an
    // unstable sort of (value, index) pairs is enough and gives the same ranks every time.
    let mut order: Vec<(f64, usize)> = v.iter().copied().zip(0..).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while order
            .get(j + 1)
            .is_some_and(|x| Some(x.0) == order.get(i).map(|y| y.0))
        {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for (_, k) in order.get(i..=j).unwrap_or_default() {
            if let Some(slot) = out.get_mut(*k) {
                *slot = rank;
            }
        }
        i = j + 1;
    }
    out
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let (mx, my) = (mean(x)?, mean(y)?);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation; None with fewer than two points or when either side is
/// constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Running sums behind a `Stats`, fed one row at a time in time order.
#[derive(Debug, Clone, Default)]
struct Acc {
    signals: u64,
    allowed: u64,
    by_reason: BTreeMap<&'static str, u64>,
    dir_allowed: u64,
    hits_allowed: u64,
    dir_all: u64,
    hits_all: u64,
    scores: Vec<f64>,
    returns: Vec<f64>,
    brier_sum: f64,
    followed_sum: f64,
    followed_n: u64,
}

impl Acc {
    fn add(&mut self, r: &ReplayedRow<'_>) {
        self.signals += 1;
        let allow = r.decision == Verdict::Allow;
        if allow {
            self.allowed += 1;
        }
        for code in r.reason_codes {
            *self.by_reason.entry(code).or_default() += 1;
        }
        let Some(o) = r.outcome else { return };
        self.scores.push(r.score);
        self.returns.push(o.realized_return);
        let right = if o.kind.correct() { 1.0 } else { 0.0 };
        self.brier_sum += (r.confidence - right) * (r.confidence - right);
        if r.direction != 0 {
            let hit = u64::from(o.kind == OutcomeKind::Hit);
            self.dir_all += 1;
            self.hits_all += hit;
            if allow {
                self.dir_allowed += 1;
                self.hits_allowed += hit;
                self.followed_sum += f64::from(r.direction) * o.realized_return;
                self.followed_n += 1;
            }
        }
    }

    fn stats(&self) -> Stats {
        let scored = self.scores.len() as u64;
        Stats {
            signals: self.signals,
            allowed: self.allowed,
            denied: self.signals - self.allowed,
            by_reason: self
                .by_reason
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            scored,
            hit_rate: ratio(self.hits_allowed, self.dir_allowed),
            hit_rate_all: ratio(self.hits_all, self.dir_all),
            mean_return_allowed: (self.followed_n > 0)
                .then(|| self.followed_sum / self.followed_n as f64),
            ic: spearman(&self.scores, &self.returns),
            brier: (scored > 0).then(|| self.brier_sum / scored as f64),
        }
    }
}

/// Builds a report one replayed row at a time (rows in time order), so a long replay keeps
/// only a few numbers per scored signal in memory.
#[derive(Debug, Clone)]
pub struct ReportBuilder {
    head: ReportHead,
    totals: Acc,
    /// By symbol name, sorted; `last` is where the previous row's symbol was (rows of one
    /// step come in symbol order, so the next one is usually right after it).
    per_symbol: Vec<(String, Acc)>,
    last: usize,
    /// Per confidence decile: scored signals and how many were right.
    buckets: [(u64, u64); 10],
}

impl ReportBuilder {
    pub fn new(head: ReportHead) -> ReportBuilder {
        let mut per_symbol: Vec<(String, Acc)> = head
            .symbols
            .iter()
            .map(|s| (s.clone(), Acc::default()))
            .collect();
        per_symbol.sort_by(|a, b| a.0.cmp(&b.0));
        per_symbol.dedup_by(|a, b| a.0 == b.0);
        ReportBuilder {
            head,
            totals: Acc::default(),
            per_symbol,
            last: 0,
            buckets: [(0, 0); 10],
        }
    }

    pub fn add(&mut self, r: &ReplayedRow<'_>) {
        self.totals.add(r);
        let at = [self.last, self.last + 1]
            .into_iter()
            .find(|i| self.per_symbol.get(*i).is_some_and(|(s, _)| s == r.symbol))
            .map_or_else(
                || {
                    self.per_symbol
                        .binary_search_by(|(s, _)| s.as_str().cmp(r.symbol))
                },
                Ok,
            );
        let i = match at {
            Ok(i) => i,
            Err(i) => {
                self.per_symbol
                    .insert(i, (r.symbol.to_string(), Acc::default()));
                i
            }
        };
        if let Some((_, acc)) = self.per_symbol.get_mut(i) {
            acc.add(r);
        }
        self.last = i;
        if let Some(o) = r.outcome {
            // Confidence is in [0, 1]; 1.0 belongs to the last decile.
            let i = ((r.confidence * 10.0).floor().max(0.0) as usize).min(9);
            if let Some(b) = self.buckets.get_mut(i) {
                b.0 += 1;
                b.1 += u64::from(o.kind.correct());
            }
        }
    }

    pub fn finish(self) -> Report {
        let h = self.head;
        Report {
            from: rfc3339(h.from),
            to: rfc3339(h.to),
            from_unix: h.from,
            to_unix: h.to,
            step_s: h.step_s,
            symbols: h.symbols,
            config_hash: h.config_hash,
            steps: h.steps,
            symbol_steps: h.symbol_steps,
            totals: self.totals.stats(),
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, (n, right))| Bucket {
                    lo: i as f64 / 10.0,
                    hi: (i + 1) as f64 / 10.0,
                    n: *n,
                    hit_rate: ratio(*right, *n),
                })
                .collect(),
            per_symbol: self
                .per_symbol
                .iter()
                .map(|(s, acc)| (s.clone(), acc.stats()))
                .collect(),
        }
    }
}

/// The report over `rows` (in time order).
pub fn report(head: ReportHead, rows: &[ReplayedRow<'_>]) -> Report {
    let mut b = ReportBuilder::new(head);
    for r in rows {
        b.add(r);
    }
    b.finish()
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
}

/// The report as an aligned text table.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay {} .. {}, step {}s, {} steps, {} symbol-steps, config {}",
        r.from,
        r.to,
        r.step_s,
        r.steps,
        r.symbol_steps,
        r.config_hash.get(..12).unwrap_or(&r.config_hash)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "symbol",
        "signals",
        "allowed",
        "denied",
        "scored",
        "hit_rate",
        "hit_all",
        "ret_allow",
        "ic",
        "brier"
    );
    let line = |out: &mut String, name: &str, s: &Stats| {
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7}",
            name,
            s.signals,
            s.allowed,
            s.denied,
            s.scored,
            num(s.hit_rate),
            num(s.hit_rate_all),
            s.mean_return_allowed
                .map_or_else(|| "-".to_string(), |x| format!("{:+.4}", x)),
            num(s.ic),
            num(s.brier)
        );
    };
    for (symbol, s) in &r.per_symbol {
        line(&mut out, symbol, s);
    }
    line(&mut out, "all", &r.totals);
    let _ = writeln!(out);
    let _ = writeln!(out, "denials by reason");
    if r.totals.by_reason.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (code, n) in &r.totals.by_reason {
        let _ = writeln!(out, "  {code:<18} {n:>8}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "reliability (scored signals by confidence)");
    let _ = writeln!(out, "  {:<11} {:>8} {:>9}", "confidence", "n", "hit_rate");
    for b in &r.buckets {
        let _ = writeln!(
            out,
            "  {:<11} {:>8} {:>9}",
            format!("{:.1}-{:.1}", b.lo, b.hi),
            b.n,
            num(b.hit_rate)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        symbol: &'static str,
        direction: i8,
        score: f64,
        confidence: f64,
        allow: bool,
        outcome: Option<(OutcomeKind, f64)>,
    ) -> ReplayedRow<'static> {
        ReplayedRow {
            symbol,
            at: 0,
            id: "",
            direction,
            score,
            confidence,
            decision: Verdict::from_allow(allow),
            reason_codes: if allow { &[] } else { &["MIN_CONFIDENCE"] },
            outcome: outcome.map(|(kind, realized_return)| SignalOutcome {
                kind,
                realized_return,
                scored_at: 0,
            }),
        }
    }

    #[test]
    fn ranks_and_spearman() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), vec![1.0, 4.0, 2.5, 2.5]);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 90.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    /// A hand-computed set: four scored signals, one unscored, one denial.
    #[test]
    fn hand_computed_report() {
        use OutcomeKind::*;
        let rows = vec![
            row("A", 1, 0.6, 0.9, true, Some((Hit, 0.04))),
            row("A", -1, -0.5, 0.35, true, Some((Miss, 0.02))),
            row("B", 1, 0.3, 0.15, false, Some((Hit, 0.01))),
            row("B", 0, 0.05, 0.05, false, Some((Flat, 0.001))),
            row("B", 1, 0.4, 0.5, true, None),
        ];
        let head = ReportHead {
            from: 0,
            to: 86_400,
            step_s: 86_400,
            symbols: vec!["A".into(), "B".into()],
            config_hash: "h".into(),
            steps: 2,
            symbol_steps: 4,
        };
        let r = report(head, &rows);
        let t = &r.totals;
        assert_eq!((t.signals, t.allowed, t.denied, t.scored), (5, 3, 2, 4));
        assert_eq!(t.by_reason.get("MIN_CONFIDENCE"), Some(&2));
        // Allowed, scored, directional: rows 0 (hit) and 1 (miss).
        assert_eq!(t.hit_rate, Some(0.5));
        // All scored directional: rows 0, 1, 2: two hits.
        assert_eq!(t.hit_rate_all, Some(2.0 / 3.0));
        // Following the allowed: +0.04 and -1 × 0.02.
        assert!((t.mean_return_allowed.unwrap_or(0.0) - 0.01).abs() < 1e-15);
        // Brier: (0.9-1)² + (0.35-0)² + (0.15-1)² + (0.05-1)² over 4.
        let brier = (0.01 + 0.1225 + 0.7225 + 0.9025) / 4.0;
        assert!((t.brier.unwrap_or(0.0) - brier).abs() < 1e-12);
        // Scores 0.6, -0.5, 0.3, 0.05 rank 4, 1, 3, 2; returns 0.04, 0.02, 0.01, 0.001 rank
        // 4, 3, 2, 1: d² = 0 + 4 + 1 + 1 = 6, rho = 1 - 6·6 / (4·15) = 0.4.
        assert!((t.ic.unwrap_or(0.0) - 0.4).abs() < 1e-12);
        let b: Vec<(u64, Option<f64>)> = r.buckets.iter().map(|b| (b.n, b.hit_rate)).collect();
        assert_eq!(b[0], (1, Some(1.0)), "0.05: flat");
        assert_eq!(b[1], (1, Some(1.0)), "0.15: hit");
        assert_eq!(b[3], (1, Some(0.0)), "0.35: miss");
        assert_eq!(b[9], (1, Some(1.0)), "0.9: hit");
        assert_eq!(b[5], (0, None), "0.5 was not scored");
        assert_eq!(r.per_symbol["A"].signals, 2);
        assert_eq!(r.per_symbol["B"].hit_rate, None);
        let json = serde_json::to_value(&r).unwrap_or_default();
        for key in [
            "from",
            "to",
            "step_s",
            "symbols",
            "config_hash",
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
            assert!(json.get(key).is_some(), "{key} missing");
        }
        assert_eq!(json["from"], "1970-01-01T00:00:00Z");
        let table = render_table(&r);
        assert!(table.contains("MIN_CONFIDENCE") && table.lines().any(|l| l.starts_with("all ")));
    }
}
