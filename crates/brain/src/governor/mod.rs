//! The governor: runs a composite signal through every rule and returns the allow/deny
//! decision with the reason codes of the failed rules and each rule's inputs.
//!
//! It owns evaluation order and the decision's shape (what the governor_log row holds). It
//! is pure: history (previous allows) comes in as data and `now` is given; it must not read the
//! clock or the store, and it never short-circuits: every rule is evaluated and listed.

mod config;
mod hours;
mod ledger;
pub mod rules;

pub use config::{config_hash, GovernorConfig};
pub use hours::{HoursCheck, TradingHours, TradingHoursSpec};
pub use ledger::Ledger;

use crate::compose::CompositeSignal;
use serde::{Deserialize, Serialize};

/// What the governor needs to know about earlier allowed signals (see `Ledger`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernorHistory {
    /// When this symbol last had a signal allowed.
    pub last_allowed_at_symbol: Option<i64>,
    /// Allowed signals of this symbol in the rolling window.
    pub allowed_in_window_symbol: u32,
    /// Allowed signals of all symbols in the rolling window.
    pub allowed_in_window_global: u32,
}

/// One rule's verdict and the values and thresholds it looked at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub code: &'static str,
    pub passed: bool,
    pub inputs: serde_json::Value,
}

/// The governor's answer for one signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub allow: bool,
    /// Codes of the failed rules, in rule order.
    pub reason_codes: Vec<&'static str>,
    /// Every rule, in rule order, passed or not.
    pub rules: Vec<RuleResult>,
}

/// Evaluates every rule for `signal` at `now`. Allowed only when all rules pass.
pub fn evaluate(
    signal: &CompositeSignal,
    history: &GovernorHistory,
    config: &GovernorConfig,
    now: i64,
) -> Decision {
    let input = rules::RuleInput {
        signal,
        history,
        config,
        now,
    };
    let results: Vec<RuleResult> = rules::RULES
        .iter()
        .map(|rule| RuleResult {
            code: rule.code,
            passed: (rule.passes)(&input),
            inputs: (rule.inputs)(&input),
        })
        .collect();
    let reason_codes: Vec<&'static str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.code)
        .collect();
    Decision {
        allow: reason_codes.is_empty(),
        reason_codes,
        rules: results,
    }
}

/// `evaluate` without the audit trail: the same rules, the same allow and reason codes, but
/// no rule's inputs are built (`rules` is empty). What a replay that only reports needs.
pub fn verdict(
    signal: &CompositeSignal,
    history: &GovernorHistory,
    config: &GovernorConfig,
    now: i64,
) -> Decision {
    let input = rules::RuleInput {
        signal,
        history,
        config,
        now,
    };
    let reason_codes: Vec<&'static str> = rules::RULES
        .iter()
        .filter(|rule| !(rule.passes)(&input))
        .map(|rule| rule.code)
        .collect();
    Decision {
        allow: reason_codes.is_empty(),
        reason_codes,
        rules: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::rules::*;
    use super::*;
    use crate::compose::{compose, BrainConfig, ComponentInput};
    use crate::kind::Kind;

    /// Monday 2026-11-23 10:00 EST.
    const NOW: i64 = 1_795_446_000;

    fn signal(symbol: &str, value: f64, ages: [Option<i64>; 3]) -> CompositeSignal {
        let inputs: Vec<ComponentInput> = Kind::ALL
            .into_iter()
            .zip(ages)
            .filter_map(|(kind, age)| {
                age.map(|a| ComponentInput {
                    kind,
                    value,
                    as_of: NOW - a,
                })
            })
            .collect();
        match compose(symbol, &inputs, &BrainConfig::default(), NOW) {
            Ok(Some(s)) => s,
            other => panic!("test signal did not compose: {other:?}"),
        }
    }

    fn good_signal() -> CompositeSignal {
        signal("AAPL", 0.6, [Some(0), Some(0), Some(0)])
    }

    fn hours_config() -> GovernorConfig {
        let hours = TradingHours::new(TradingHoursSpec::default());
        GovernorConfig {
            trading_hours: Some(hours.unwrap_or_else(|e| panic!("{e}"))),
            ..GovernorConfig::default()
        }
    }

    #[test]
    fn now_constant_is_monday_morning_in_new_york() {
        let h = TradingHours::new(TradingHoursSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        let c = h.check(NOW);
        assert_eq!(c.local, "2026-11-23T10:00:00-05:00[America/New_York]");
    }

    #[test]
    fn every_rule_alone_and_in_combination() {
        let base_cfg = hours_config();
        let quiet = GovernorHistory::default();
        struct Case {
            name: &'static str,
            signal: CompositeSignal,
            history: GovernorHistory,
            config: GovernorConfig,
            now: i64,
            want: Vec<&'static str>,
        }
        let case = |name, signal, history, config, now, want| Case {
            name,
            signal,
            history,
            config,
            now,
            want,
        };
        let busy = GovernorHistory {
            last_allowed_at_symbol: Some(NOW - 60),
            allowed_in_window_symbol: 3,
            allowed_in_window_global: 50,
        };
        let table = vec![
            case(
                "all pass",
                good_signal(),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "halted",
                good_signal(),
                quiet,
                GovernorConfig {
                    halted: true,
                    ..base_cfg.clone()
                },
                NOW,
                vec![HALTED],
            ),
            case(
                "blacklisted, any case",
                good_signal(),
                quiet,
                GovernorConfig {
                    blacklist: vec!["aapl".into()],
                    ..base_cfg.clone()
                },
                NOW,
                vec![BLACKLISTED],
            ),
            case(
                "not on allowlist",
                good_signal(),
                quiet,
                GovernorConfig {
                    allowlist: Some(vec!["MSFT".into()]),
                    ..base_cfg.clone()
                },
                NOW,
                vec![NOT_ALLOWLISTED],
            ),
            case(
                "on allowlist",
                good_signal(),
                quiet,
                GovernorConfig {
                    allowlist: Some(vec!["MSFT".into(), "AAPL".into()]),
                    ..base_cfg.clone()
                },
                NOW,
                vec![],
            ),
            case(
                "outside hours (Sunday)",
                good_signal(),
                quiet,
                base_cfg.clone(),
                NOW - 86_400,
                vec![OUTSIDE_HOURS],
            ),
            case(
                "no trading hours configured, Sunday",
                good_signal(),
                quiet,
                GovernorConfig::default(),
                NOW - 86_400,
                vec![],
            ),
            case(
                "neutral",
                signal("AAPL", 0.05, [Some(0), Some(0), Some(0)]),
                quiet,
                GovernorConfig {
                    min_confidence: 0.0,
                    ..base_cfg.clone()
                },
                NOW,
                vec![NEUTRAL],
            ),
            case(
                "neutral allowed when deny_neutral = false",
                signal("AAPL", 0.05, [Some(0), Some(0), Some(0)]),
                quiet,
                GovernorConfig {
                    min_confidence: 0.0,
                    deny_neutral: false,
                    ..base_cfg.clone()
                },
                NOW,
                vec![],
            ),
            // Chart alone: coverage 0.5, so confidence is 0.5 × strength.
            case(
                "low confidence",
                signal("AAPL", 0.25, [Some(0), None, None]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![MIN_CONFIDENCE],
            ),
            case(
                "confidence exactly at the minimum",
                signal("AAPL", 0.3, [Some(0), None, None]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "stale news",
                signal("AAPL", 1.0, [Some(0), Some(172_801), Some(0)]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![STALE_INPUT],
            ),
            case(
                "news exactly at max age",
                signal("AAPL", 1.0, [Some(0), Some(172_800), Some(0)]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "missing component is not stale",
                signal("AAPL", 1.0, [Some(0), None, Some(0)]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "cooldown one second short",
                good_signal(),
                GovernorHistory {
                    last_allowed_at_symbol: Some(NOW - 3599),
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![COOLDOWN_ACTIVE],
            ),
            case(
                "cooldown exactly over",
                good_signal(),
                GovernorHistory {
                    last_allowed_at_symbol: Some(NOW - 3600),
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "last allow in the future (clock skew)",
                good_signal(),
                GovernorHistory {
                    last_allowed_at_symbol: Some(NOW + 10),
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![COOLDOWN_ACTIVE],
            ),
            case(
                "symbol window at max - 1",
                good_signal(),
                GovernorHistory {
                    allowed_in_window_symbol: 2,
                    allowed_in_window_global: 2,
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "symbol window at max",
                good_signal(),
                GovernorHistory {
                    allowed_in_window_symbol: 3,
                    allowed_in_window_global: 3,
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![WINDOW_LIMIT],
            ),
            case(
                "global window at max - 1",
                good_signal(),
                GovernorHistory {
                    allowed_in_window_global: 49,
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![],
            ),
            case(
                "global window at max",
                good_signal(),
                GovernorHistory {
                    allowed_in_window_global: 50,
                    ..quiet
                },
                base_cfg.clone(),
                NOW,
                vec![WINDOW_LIMIT],
            ),
            case(
                "everything fails at once, in rule order",
                signal("AAPL", 0.05, [Some(500_000), None, None]),
                busy,
                GovernorConfig {
                    halted: true,
                    blacklist: vec!["AAPL".into()],
                    allowlist: Some(vec![]),
                    ..base_cfg.clone()
                },
                NOW - 86_400,
                vec![
                    HALTED,
                    BLACKLISTED,
                    NOT_ALLOWLISTED,
                    OUTSIDE_HOURS,
                    NEUTRAL,
                    MIN_CONFIDENCE,
                    STALE_INPUT,
                    COOLDOWN_ACTIVE,
                    WINDOW_LIMIT,
                ],
            ),
            case(
                "halt plus cooldown",
                good_signal(),
                GovernorHistory {
                    last_allowed_at_symbol: Some(NOW - 1),
                    ..quiet
                },
                GovernorConfig {
                    halted: true,
                    ..base_cfg.clone()
                },
                NOW,
                vec![HALTED, COOLDOWN_ACTIVE],
            ),
            case(
                "stale and low confidence",
                signal("AAPL", 0.2, [Some(400_000), None, None]),
                quiet,
                base_cfg.clone(),
                NOW,
                vec![MIN_CONFIDENCE, STALE_INPUT],
            ),
        ];
        for c in table {
            let d = evaluate(&c.signal, &c.history, &c.config, c.now);
            assert_eq!(d.reason_codes, c.want, "{}", c.name);
            assert_eq!(d.allow, c.want.is_empty(), "{}", c.name);
            let codes: Vec<&str> = d.rules.iter().map(|r| r.code).collect();
            let all: Vec<&str> = RULES.iter().map(|rule| rule.code).collect();
            assert_eq!(codes, all, "{}: every rule listed", c.name);
            for r in &d.rules {
                assert_eq!(
                    r.passed,
                    !c.want.contains(&r.code),
                    "{}: {}",
                    c.name,
                    r.code
                );
                assert!(r.inputs.is_object(), "{}: {} inputs", c.name, r.code);
            }
            // The verdict alone (what a replay report uses) agrees on every case.
            let v = verdict(&c.signal, &c.history, &c.config, c.now);
            assert_eq!(
                (v.allow, &v.reason_codes),
                (d.allow, &d.reason_codes),
                "{}",
                c.name
            );
            assert!(v.rules.is_empty(), "{}", c.name);
        }
    }

    #[test]
    fn rule_inputs_hold_values_and_thresholds() {
        let cfg = hours_config();
        let history = GovernorHistory {
            last_allowed_at_symbol: Some(NOW - 100),
            allowed_in_window_symbol: 1,
            allowed_in_window_global: 7,
        };
        let d = evaluate(&good_signal(), &history, &cfg, NOW);
        let inputs = |code: &str| {
            d.rules
                .iter()
                .find(|r| r.code == code)
                .map(|r| r.inputs.clone())
                .unwrap_or_default()
        };
        assert_eq!(inputs(COOLDOWN_ACTIVE)["since_last_s"], 100);
        assert_eq!(inputs(COOLDOWN_ACTIVE)["cooldown_s"], 3600);
        assert_eq!(inputs(WINDOW_LIMIT)["global_count"], 7);
        assert_eq!(inputs(WINDOW_LIMIT)["max_per_symbol"], 3);
        assert_eq!(inputs(MIN_CONFIDENCE)["min_confidence"], 0.3);
        assert_eq!(inputs(OUTSIDE_HOURS)["timezone"], "America/New_York");
        assert_eq!(inputs(OUTSIDE_HOURS)["weekday"], "Mon");
        assert_eq!(inputs(STALE_INPUT)["components"][1]["max_age_s"], 172_800);
        let json = serde_json::to_value(&d).unwrap_or_default();
        assert_eq!(json["rules"].as_array().map(Vec::len), Some(RULES.len()));
    }

    /// Several cycles of one symbol through a Ledger: the cooldown and the window limit
    /// across cycles, with each allow recorded as the glue would.
    #[test]
    fn cooldown_and_window_across_cycles() {
        let cfg = GovernorConfig {
            cooldown_s: 3600,
            window_s: 4 * 3600,
            max_per_symbol_in_window: 2,
            ..GovernorConfig::default()
        };
        let mut ledger = Ledger::default();
        // (offset from the first cycle, expected reasons)
        let cycles: [(i64, &[&str]); 7] = [
            (0, &[]),
            (1800, &[COOLDOWN_ACTIVE]),
            (3599, &[COOLDOWN_ACTIVE]),
            (3600, &[]),
            (7200, &[WINDOW_LIMIT]),
            // The first allow (at 0) leaves the window exactly window_s later.
            (14_400, &[]),
            (16_000, &[COOLDOWN_ACTIVE, WINDOW_LIMIT]),
        ];
        for (offset, want) in cycles {
            let now = NOW + offset;
            let mut sig = good_signal();
            sig.created_at = now;
            for c in &mut sig.components {
                c.as_of = Some(now);
            }
            let history = ledger.history("AAPL", now, cfg.window_s);
            let d = evaluate(&sig, &history, &cfg, now);
            assert_eq!(d.reason_codes, want.to_vec(), "cycle at +{offset}");
            if d.allow {
                ledger.record("AAPL", now);
            }
        }
    }

    #[test]
    fn global_limit_counts_allows_made_earlier_in_the_same_cycle() {
        let cfg = GovernorConfig {
            max_global_in_window: 2,
            ..GovernorConfig::default()
        };
        let mut ledger = Ledger::new([("OLD", NOW - 100)]);
        let mut allowed = Vec::new();
        for symbol in ["AAPL", "MSFT", "NVDA"] {
            let sig = signal(symbol, 0.6, [Some(0), Some(0), Some(0)]);
            let d = evaluate(&sig, &ledger.history(symbol, NOW, cfg.window_s), &cfg, NOW);
            if d.allow {
                ledger.record(symbol, NOW);
                allowed.push(symbol);
            }
        }
        assert_eq!(allowed, vec!["AAPL"]);
    }
}
