//! Tests of the replay engine: the indicators' causality it relies on, the same components as
//! the live modules' functions on the data known at each step, no look-ahead, the scoring
//! window, and a "what if" governor changing decisions but not signals.

use super::*;
use crate::governor::GovernorConfig;
use aivex_market::{chart_component, indicator_table, metrics_component};

const DAY: i64 = 86_400;
/// 2025-01-06T00:00:00Z, a Monday.
const T0: i64 = 1_736_121_600;

/// A small deterministic generator (xorshift), so the "random" series are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn bars(seed: u64, n: usize) -> Vec<Candle> {
    let mut rng = Rng(seed);
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close *= 1.0 + (rng.next() - 0.5) * 0.04;
            let (hi, lo) = (open.max(close), open.min(close));
            Candle {
                ts: T0 + i as i64 * DAY,
                open,
                high: hi * (1.0 + rng.next() * 0.01),
                low: lo * (1.0 - rng.next() * 0.01),
                close,
                adj_close: None,
                volume: 1e6 * (0.5 + rng.next()),
            }
        })
        .collect()
}

fn filing(metric: &str, period: &str, value: f64, filed: &str) -> Fundamental {
    Fundamental {
        symbol: "ACME".into(),
        metric: metric.into(),
        period_end: period.into(),
        value,
        unit: "USD".into(),
        filed: Some(filed.into()),
        source: "test".into(),
    }
}

fn history(seed: u64) -> History {
    let mut rng = Rng(seed ^ 0x9e37_79b9);
    let articles = (0..120)
        .map(|i| Article {
            published_at: (i % 7 != 0).then(|| T0 + i * 2 * DAY + (rng.next() * 40_000.0) as i64),
            ingested_at: T0 + i * 2 * DAY + 50_000,
            sentiment: rng.next() * 2.0 - 1.0,
        })
        .collect();
    let filings = vec![
        filing("revenue", "2024-12-31", 100.0, "2025-02-01"),
        filing("net_income", "2024-12-31", 10.0, "2025-02-01"),
        filing("revenue", "2025-03-31", 104.0, "2025-05-02"),
        filing("net_income", "2025-03-31", 12.0, "2025-05-02"),
        // Q1 restated in the Q2 filing.
        filing("revenue", "2025-03-31", 98.0, "2025-08-03"),
        filing("revenue", "2025-06-30", 110.0, "2025-08-03"),
        filing("net_income", "2025-06-30", 9.0, "2025-08-03"),
        filing("total_liabilities", "2025-06-30", 60.0, "2025-08-03"),
        filing("equity", "2025-06-30", 40.0, "2025-08-03"),
    ];
    History {
        symbol: "ACME".into(),
        bars: bars(seed, 260),
        articles,
        filings,
    }
}

fn config(audit: bool) -> ReplayConfig {
    ReplayConfig {
        brain: BrainConfig::default(),
        governor: GovernorConfig::default(),
        min_value_change: 0.01,
        bar_interval_s: DAY,
        news_window_s: 7 * DAY,
        news_half_life_s: DAY,
        audit,
        ids: audit,
        threads: 1,
        score_at: None,
    }
}

fn run(hs: Vec<History>, cfg: ReplayConfig, from: i64, to: i64) -> (Replay, Vec<Replayed>) {
    let ranged = hs.into_iter().map(|h| (h, (from, to))).collect();
    let mut r = Replay::new(ranged, cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for t in grid(from, to, DAY) {
        r.step(t, &mut out);
    }
    (r, out)
}

/// The engine reads the chart component of bar k from the row k of a table computed over all
/// bars. That is the table over bars[..=k] only because every indicator is strictly causal.
#[test]
fn prefix_tables_equal_the_full_table() {
    let all = bars(7, 220);
    let full = indicator_table(&all);
    for k in 0..all.len() {
        let prefix = indicator_table(&all[..=k]);
        assert_eq!(prefix.as_slice(), &full[..=k], "bars[..={k}]");
    }
}

/// At every emitted step, each component equals what the live module's function gives on the
/// data known at that time: the chart over the closed bars, news over the articles published
/// by then, metrics over the facts as known then.
#[test]
fn components_equal_the_live_functions_on_the_data_known_then() {
    let h = history(11);
    let (_, out) = run(vec![h.clone()], config(false), T0, T0 + 250 * DAY);
    assert!(out.len() > 150, "{} signals", out.len());
    for r in &out {
        let t = r.signal.created_at;
        let closed: Vec<Candle> = h
            .bars
            .iter()
            .filter(|b| asof::bar_closed(b.ts, DAY, t))
            .copied()
            .collect();
        let chart = chart_component(&closed).map(|c| (c.value, c.as_of));
        let pairs: Vec<(i64, f64)> = h
            .articles
            .iter()
            .map(|a| {
                (
                    asof::article_time(a.published_at, a.ingested_at),
                    a.sentiment,
                )
            })
            .filter(|(at, _)| *at <= t && *at >= t - 7 * DAY)
            .collect();
        let news = aivex_news::news_component(&pairs, t, 7 * DAY, DAY).map(|c| (c.value, c.as_of));
        let metrics = metrics_component(&asof::known_facts(&h.filings, t), "ACME")
            .map(|c| (c.value, c.as_of));
        for (kind, want) in [
            (Kind::Chart, chart),
            (Kind::News, news),
            (Kind::Metrics, metrics),
        ] {
            let got = r
                .signal
                .components
                .iter()
                .find(|c| c.kind == kind && c.present)
                .map(|c| (c.value, c.as_of.unwrap_or(0)));
            match (got, want) {
                (None, None) => {}
                (Some((g, ga)), Some((w, wa))) => {
                    assert_eq!(ga, wa, "{kind} as_of at {t}");
                    // News sums in another order here; chart and metrics are bit-equal.
                    assert!((g - w).abs() < 1e-12, "{kind} at {t}: {g} vs {w}");
                }
                other => panic!("{kind} at {t}: {other:?}"),
            }
        }
    }
}

/// Replaying up to T over the full history gives exactly the signals that it gives over a
/// history holding only what was known at T, however wild the data after T.
#[test]
fn no_look_ahead() {
    let full = history(23);
    let to = T0 + 200 * DAY;
    let mut known = full.clone();
    known.bars.retain(|b| asof::bar_closed(b.ts, DAY, to));
    known
        .articles
        .retain(|a| asof::article_time(a.published_at, a.ingested_at) <= to);
    known
        .filings
        .retain(|f| asof::filing_known_from(f).is_some_and(|k| k <= to));
    let mut wild = full.clone();
    for b in wild
        .bars
        .iter_mut()
        .filter(|b| !asof::bar_closed(b.ts, DAY, to))
    {
        b.close *= 40.0;
        b.high *= 40.0;
    }
    wild.articles.push(Article {
        published_at: Some(to + 1),
        ingested_at: 0,
        sentiment: -1.0,
    });
    wild.filings
        .push(filing("revenue", "2025-06-30", 1e9, "2025-08-04"));
    let (_, a) = run(vec![known], config(true), T0, to);
    let (_, b) = run(vec![wild], config(true), T0, to);
    assert!(a.len() > 100);
    assert_eq!(a, b);
}

#[test]
fn what_if_governor_changes_decisions_not_signals() {
    let h = history(31);
    let (_, base) = run(vec![h.clone()], config(false), T0, T0 + 250 * DAY);
    let halted = ReplayConfig {
        governor: GovernorConfig {
            halted: true,
            ..GovernorConfig::default()
        },
        ..config(false)
    };
    let (_, stop) = run(vec![h], halted, T0, T0 + 250 * DAY);
    assert_eq!(base.len(), stop.len());
    assert!(base.iter().any(|r| r.decision.allow), "some allows");
    for (a, b) in base.iter().zip(&stop) {
        assert_eq!(a.signal, b.signal);
        assert!(!b.decision.allow && b.decision.reason_codes.contains(&"HALTED"));
    }
}

#[test]
fn verdict_and_audit_agree_and_outcomes_score_from_closed_bars() {
    let h = history(41);
    let to = T0 + 250 * DAY;
    let scoring = |audit| ReplayConfig {
        score_at: Some(to),
        ..config(audit)
    };
    let (_, audited) = run(vec![h.clone()], scoring(true), T0, to);
    let (_, lean) = run(vec![h.clone()], scoring(false), T0, to);
    assert_eq!(audited.len(), lean.len());
    for (a, l) in audited.iter().zip(&lean) {
        assert_eq!(
            (a.decision.allow, &a.decision.reason_codes),
            (l.decision.allow, &l.decision.reason_codes)
        );
        assert_eq!(a.decision.rules.len(), 9);
    }
    let closes: Vec<(i64, f64)> = h
        .bars
        .iter()
        .filter(|b| asof::bar_closed(b.ts, DAY, to))
        .map(|b| (b.ts, b.close))
        .collect();
    let mut scored = 0;
    for x in &audited {
        let got = x.outcome;
        let s = ScoredSignal {
            direction: x.signal.direction,
            created_at: x.signal.created_at,
            horizon_s: x.signal.horizon_s,
        };
        let want = score_outcome(&s, &closes, to).unwrap_or(None);
        assert_eq!(
            got.map(|o| (o.kind, o.realized_return)),
            want.map(|o| (o.outcome, o.realized_return))
        );
        if let (Some(g), Some(w)) = (got, want) {
            scored += 1;
            assert_eq!(
                g.scored_at,
                (s.created_at + s.horizon_s).max(w.exit_ts + DAY)
            );
        }
    }
    assert!(scored > 100, "{scored}");
}

/// Blocks of steps on several threads give exactly what one step at a time on one thread
/// gives: the same signals, decisions and order (the governor's global window couples the
/// symbols, so their allows must be decided in time order).
#[test]
fn blocks_on_threads_equal_single_steps() {
    let hs: Vec<History> = (0..5)
        .map(|k| History {
            symbol: format!("S{k}"),
            ..history(50 + k)
        })
        .collect();
    let tight = GovernorConfig {
        max_global_in_window: 2,
        window_s: 3 * DAY,
        ..GovernorConfig::default()
    };
    let cfg = ReplayConfig {
        governor: tight,
        ..config(true)
    };
    let (_, one) = run(hs.clone(), cfg.clone(), T0, T0 + 250 * DAY);
    // Without ids (a report's replay): the same signals, only their ids are empty.
    let (_, unidentified) = run(
        hs.clone(),
        ReplayConfig {
            ids: false,
            ..cfg.clone()
        },
        T0,
        T0 + 250 * DAY,
    );
    assert_eq!(one.len(), unidentified.len());
    for (a, b) in one.iter().zip(&unidentified) {
        assert!(b.signal.id.is_empty() && !a.signal.id.is_empty());
        assert_eq!(
            (&a.signal.components, a.signal.score, &a.decision),
            (&b.signal.components, b.signal.score, &b.decision)
        );
    }
    assert!(one
        .iter()
        .any(|r| r.decision.reason_codes.contains(&"WINDOW_LIMIT")));
    let ranged: Vec<_> = hs.into_iter().map(|h| (h, (T0, T0 + 250 * DAY))).collect();
    let mut r =
        Replay::new(ranged, ReplayConfig { threads: 3, ..cfg }).unwrap_or_else(|e| panic!("{e}"));
    let steps: Vec<i64> = grid(T0, T0 + 250 * DAY, DAY).collect();
    let mut blocks = Vec::new();
    for chunk in steps.chunks(17) {
        r.step_block(chunk, &mut blocks);
    }
    assert_eq!(one, blocks);
    // A step before the last one is ignored.
    let before = blocks.len();
    r.step(T0, &mut blocks);
    assert_eq!(blocks.len(), before);
}

#[test]
fn the_scoring_window_gives_the_same_outcome_as_all_bars() {
    let mut closes: Vec<(i64, f64)> = bars(5, 40).iter().map(|b| (b.ts, b.close)).collect();
    // A gap of a week in the bars: the window must reach across it.
    closes.retain(|(ts, _)| !(T0 + 20 * DAY..T0 + 27 * DAY).contains(ts));
    for created in (T0 - 3 * DAY..T0 + 45 * DAY).step_by(43_200) {
        for direction in [-1, 0, 1] {
            let s = ScoredSignal {
                direction,
                created_at: created,
                horizon_s: 5 * DAY,
            };
            let now = T0 + 60 * DAY;
            assert_eq!(
                score_outcome(&s, scoring_window(&closes, &s), now),
                score_outcome(&s, &closes, now),
                "created {created}"
            );
        }
    }
}

#[test]
fn ranges_steps_and_order() {
    let mut b = history(3);
    b.symbol = "BBB".into();
    let mut a = history(4);
    a.symbol = "AAA".into();
    let ranged = vec![
        (b, (T0 + 60 * DAY, T0 + 80 * DAY)),
        (a, (T0 + 70 * DAY, T0 + 90 * DAY)),
    ];
    let steps = bar_close_steps(&ranged, DAY);
    assert_eq!(steps.first(), Some(&(T0 + 60 * DAY)));
    assert_eq!(steps.last(), Some(&(T0 + 90 * DAY)));
    assert_eq!(steps.len(), 31);
    let mut r = Replay::new(ranged, config(false)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.symbols(), vec!["AAA", "BBB"]);
    assert_eq!(r.active_at(T0 + 75 * DAY), 2);
    let mut out = Vec::new();
    for t in steps {
        r.step(t, &mut out);
    }
    for x in &out {
        let (from, to) = if x.symbol == 0 { (70, 90) } else { (60, 80) };
        assert!((T0 + from * DAY..=T0 + to * DAY).contains(&x.signal.created_at));
    }
    assert!(out
        .windows(2)
        .all(|w| w[0].signal.created_at <= w[1].signal.created_at));
    assert_eq!(grid(10, 9, 1).count(), 0);
    assert_eq!(grid(0, 10, 5).collect::<Vec<_>>(), vec![0, 5, 10]);
}
