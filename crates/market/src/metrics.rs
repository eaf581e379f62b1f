//! The metrics component: one number in [-1, 1] per symbol from its fundamentals, with every
//! sub-score and its inputs kept for the brain's explanation.
//!
//! The formula (versioned `metrics@1`, documented in crates/market/README.md) reads quarterly
//! facts under the plain metric names (`revenue`, `net_income`, `operating_income`,
//! `total_liabilities`, `equity`, `eps_diluted`). Pure: no clock; `as_of` comes from the data.

use crate::fundamentals::Fundamental;
use crate::time::{midnight_utc, parse_day};
use jiff::civil::Date;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const METRICS_METHOD: &str = "metrics@1";

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsComponent {
    /// In [-1, 1]: positive is improving, soundly financed fundamentals.
    pub value: f64,
    /// Unix seconds of the newest `filed` (or `period_end` when not filed) of the symbol's facts.
    pub as_of: i64,
    pub detail: Value,
}

/// A sub-score and the detail object explaining it.
type Scored = (f64, Value);

/// A metric's values by period end (the last record of a period wins).
type Series = BTreeMap<Date, f64>;

fn series(facts: &[Fundamental], symbol: &str, metric: &str) -> Series {
    facts
        .iter()
        .filter(|f| f.symbol.eq_ignore_ascii_case(symbol) && f.metric == metric)
        .filter_map(|f| Some((parse_day(&f.period_end)?, f.value)))
        .collect()
}

/// The period to compare the latest one with: the same quarter a year earlier (365 ± 25
/// days, which removes seasonality) when present, else the immediately previous quarter
/// (70..=130 days earlier).
fn prior_period(s: &Series, latest: Date) -> Option<Date> {
    let days_before = |d: &Date| (latest - *d).get_days();
    s.keys()
        .rev()
        .find(|d| (340..=390).contains(&days_before(d)))
        .or_else(|| {
            s.keys()
                .rev()
                .find(|d| (70..=130).contains(&days_before(d)))
        })
        .copied()
}

fn clamp1(x: f64) -> f64 {
    x.clamp(-1.0, 1.0)
}

/// Growth of the latest value over its prior period, relative to the prior's magnitude,
/// scored so that `full` growth (e.g. 0.25 = +25%) gives +1.
fn growth(s: &Series, full: f64) -> Option<Scored> {
    let (&latest, &now) = s.iter().next_back()?;
    let prior = prior_period(s, latest)?;
    let then = *s.get(&prior)?;
    if then == 0.0 {
        return None;
    }
    let g = (now - then) / then.abs();
    let score = clamp1(g / full);
    Some((
        score,
        json!({"period_end": latest.to_string(), "value": now, "prior_period_end": prior.to_string(),
               "prior_value": then, "growth": g, "full_scale": full, "score": score}),
    ))
}

/// Change of operating margin (operating income / revenue; net income when operating income
/// is missing) against the prior period, 5 percentage points scoring ±1.
fn margin_trend(revenue: &Series, income: &Series, which: &str) -> Option<Scored> {
    let margins: Series = income
        .iter()
        .filter_map(|(d, inc)| {
            let rev = *revenue.get(d)?;
            (rev > 0.0).then(|| (*d, inc / rev))
        })
        .collect();
    let (&latest, &now) = margins.iter().next_back()?;
    let prior = prior_period(&margins, latest)?;
    let then = *margins.get(&prior)?;
    let delta = now - then;
    let score = clamp1(delta / 0.05);
    Some((
        score,
        json!({"basis": which, "period_end": latest.to_string(), "margin": now,
               "prior_period_end": prior.to_string(), "prior_margin": then,
               "delta": delta, "full_scale": 0.05, "score": score}),
    ))
}

/// Debt-to-equity (total liabilities / equity) at the latest period both exist: 0 scores +1,
/// 1.5 scores 0, 3 or more scores -1; negative or zero equity scores -1.
fn leverage(liabilities: &Series, equity: &Series) -> Option<Scored> {
    let (date, liab, eq) = liabilities
        .iter()
        .rev()
        .find_map(|(d, l)| equity.get(d).map(|e| (*d, *l, *e)))?;
    let (ratio, score) = if eq <= 0.0 {
        (None, -1.0)
    } else {
        let r = liab / eq;
        (Some(r), clamp1((1.5 - r) / 1.5))
    };
    Some((
        score,
        json!({"period_end": date.to_string(), "total_liabilities": liab, "equity": eq,
               "debt_to_equity": ratio, "score": score}),
    ))
}

/// The metrics component for `symbol`, or None when no sub-score can be computed.
pub fn metrics_component(facts: &[Fundamental], symbol: &str) -> Option<MetricsComponent> {
    let revenue = series(facts, symbol, "revenue");
    let net_income = series(facts, symbol, "net_income");
    let operating = series(facts, symbol, "operating_income");
    let eps = series(facts, symbol, "eps_diluted");
    let earnings = if net_income.is_empty() {
        ("eps_diluted", &eps)
    } else {
        ("net_income", &net_income)
    };
    let margin = if operating.is_empty() {
        margin_trend(&revenue, &net_income, "net_income")
    } else {
        margin_trend(&revenue, &operating, "operating_income")
    };
    let parts: [(&str, f64, Option<Scored>); 4] = [
        ("earnings_growth", 0.35, growth(earnings.1, 0.25)),
        ("revenue_growth", 0.25, growth(&revenue, 0.20)),
        ("margin_trend", 0.25, margin),
        (
            "leverage",
            0.15,
            leverage(
                &series(facts, symbol, "total_liabilities"),
                &series(facts, symbol, "equity"),
            ),
        ),
    ];
    let mut detail = Map::new();
    let (mut weighted, mut weights) = (0.0, 0.0);
    for (name, weight, part) in parts {
        match part {
            Some((score, mut d)) => {
                weighted += weight * score;
                weights += weight;
                if let Value::Object(m) = &mut d {
                    m.insert("weight".into(), json!(weight));
                    if name == "earnings_growth" {
                        m.insert("basis".into(), json!(earnings.0));
                    }
                }
                detail.insert(name.into(), d);
            }
            None => {
                detail.insert(name.into(), Value::Null);
            }
        }
    }
    if weights == 0.0 {
        return None;
    }
    let value = clamp1(weighted / weights);
    let as_of = facts
        .iter()
        .filter(|f| f.symbol.eq_ignore_ascii_case(symbol))
        .filter_map(|f| {
            parse_day(f.filed.as_deref().unwrap_or(&f.period_end)).and_then(midnight_utc)
        })
        .max()?;
    detail.insert("method".into(), json!(METRICS_METHOD));
    detail.insert("value".into(), json!(value));
    Some(MetricsComponent {
        value,
        as_of,
        detail: Value::Object(detail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(metric: &str, end: &str, value: f64) -> Fundamental {
        Fundamental {
            symbol: "ACME".into(),
            metric: metric.into(),
            period_end: end.into(),
            value,
            unit: "USD".into(),
            filed: None,
            source: "t".into(),
        }
    }

    #[test]
    fn worked_examples() {
        // Worked by hand in README.md "metrics@1 worked examples".
        let full = vec![
            f("revenue", "2025-09-30", 100.0),
            f("revenue", "2026-06-30", 115.0),
            f("revenue", "2026-09-30", 110.0),
            f("net_income", "2025-09-30", 10.0),
            f("net_income", "2026-09-30", 12.0),
            f("operating_income", "2025-09-30", 15.0),
            f("operating_income", "2026-09-30", 18.7),
            f("total_liabilities", "2026-09-30", 60.0),
            f("equity", "2026-09-30", 40.0),
        ];
        // earnings +20% / 25% = 0.8; revenue (vs year-ago 100) +10% / 20% = 0.5;
        // margin 0.17 - 0.15 = +0.02 / 0.05 = 0.4; D/E 1.5 -> 0.
        // value = .35*.8 + .25*.5 + .25*.4 + .15*0 = 0.505.
        let sequential = vec![
            f("revenue", "2026-06-30", 200.0),
            f("revenue", "2026-09-30", 180.0),
            f("eps_diluted", "2026-06-30", 2.0),
            f("eps_diluted", "2026-09-30", 1.0),
        ];
        // No year-ago quarter: previous quarter. EPS -50% -> -1 (clamped); revenue -10% -> -0.5;
        // no margin (no income series matches), no leverage: (.35*-1 + .25*-.5) / .6 = -0.791666...
        let leverage_only = vec![
            f("total_liabilities", "2026-09-30", 10.0),
            f("equity", "2026-09-30", -5.0),
        ];
        let table: Vec<(&str, Vec<Fundamental>, Option<f64>)> = vec![
            ("full", full, Some(0.505)),
            ("sequential eps", sequential, Some(-0.475 / 0.6)),
            ("negative equity", leverage_only, Some(-1.0)),
            (
                "nothing comparable",
                vec![f("revenue", "2026-09-30", 1.0)],
                None,
            ),
            (
                "other symbol",
                vec![f("revenue", "2026-09-30", 1.0)]
                    .into_iter()
                    .map(|mut x| {
                        x.symbol = "ZZZ".into();
                        x
                    })
                    .collect(),
                None,
            ),
        ];
        for (name, facts, want) in table {
            let got = metrics_component(&facts, "acme").map(|c| c.value);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "{name}: {g} vs {w}"),
                (g, w) => assert_eq!(g, w, "{name}"),
            }
        }
    }

    #[test]
    fn as_of_prefers_filed() {
        let mut a = f("total_liabilities", "2026-09-30", 1.0);
        a.filed = Some("2026-10-30".into());
        let b = f("equity", "2026-09-30", 1.0);
        let c = metrics_component(&[a, b], "ACME").expect("leverage");
        assert_eq!(c.as_of, 1_793_318_400); // 2026-10-30T00:00:00Z
        assert_eq!(c.detail["leverage"]["debt_to_equity"], 1.0);
        assert_eq!(c.detail["method"], METRICS_METHOD);
    }
}
