//! The governor's rules table: each rule with its stable reason code, a pure test (does it
//! pass?) and the values and thresholds it looked at (for the governor_log row).
//!
//! It owns what each rule means. The test and the inputs of a rule are separate functions so
//! that a replay that needs only the verdict does not build the audit JSON; a rule's inputs
//! never decide anything. Rules see only (signal, history, config, now); they must not read the
//! clock, the store or anything else, and they never depend on each other's results.

use super::config::GovernorConfig;
use super::GovernorHistory;
use crate::compose::{ComponentContribution, CompositeSignal};
use serde_json::{json, Value};

pub const HALTED: &str = "HALTED";
pub const BLACKLISTED: &str = "BLACKLISTED";
pub const NOT_ALLOWLISTED: &str = "NOT_ALLOWLISTED";
pub const OUTSIDE_HOURS: &str = "OUTSIDE_HOURS";
pub const NEUTRAL: &str = "NEUTRAL";
pub const MIN_CONFIDENCE: &str = "MIN_CONFIDENCE";
pub const STALE_INPUT: &str = "STALE_INPUT";
pub const COOLDOWN_ACTIVE: &str = "COOLDOWN_ACTIVE";
pub const WINDOW_LIMIT: &str = "WINDOW_LIMIT";

/// What a rule sees.
pub struct RuleInput<'a> {
    pub signal: &'a CompositeSignal,
    pub history: &'a GovernorHistory,
    pub config: &'a GovernorConfig,
    pub now: i64,
}

/// One rule: its reason code, whether it passes, and the inputs it looked at.
pub struct Rule {
    pub code: &'static str,
    pub passes: fn(&RuleInput<'_>) -> bool,
    pub inputs: fn(&RuleInput<'_>) -> Value,
}

/// Every rule in evaluation (and reason-code) order. The order is part of the audit format:
/// append new rules at the end.
pub const RULES: [Rule; 9] = [
    Rule {
        code: HALTED,
        passes: |r| !r.config.halted,
        inputs: |r| json!({ "halted": r.config.halted }),
    },
    Rule {
        code: BLACKLISTED,
        passes: |r| !listed(&r.config.blacklist, &r.signal.symbol),
        inputs: |r| json!({ "symbol": r.signal.symbol, "blacklist": r.config.blacklist }),
    },
    Rule {
        code: NOT_ALLOWLISTED,
        passes: |r| match &r.config.allowlist {
            None => true,
            Some(list) => listed(list, &r.signal.symbol),
        },
        inputs: |r| json!({ "symbol": r.signal.symbol, "allowlist": r.config.allowlist }),
    },
    Rule {
        code: OUTSIDE_HOURS,
        passes: |r| {
            r.config
                .trading_hours
                .as_ref()
                .is_none_or(|h| h.check(r.now).inside)
        },
        inputs: outside_hours_inputs,
    },
    Rule {
        code: NEUTRAL,
        passes: |r| !(r.config.deny_neutral && r.signal.direction == 0),
        inputs: |r| json!({ "direction": r.signal.direction, "deny_neutral": r.config.deny_neutral }),
    },
    Rule {
        code: MIN_CONFIDENCE,
        passes: |r| r.signal.confidence >= r.config.min_confidence,
        inputs: |r| {
            json!({
                "confidence": r.signal.confidence,
                "min_confidence": r.config.min_confidence,
            })
        },
    },
    Rule {
        code: STALE_INPUT,
        passes: |r| {
            r.signal
                .components
                .iter()
                .filter(|c| c.present)
                .all(|c| !staleness(r, c).2)
        },
        inputs: stale_input_inputs,
    },
    Rule {
        code: COOLDOWN_ACTIVE,
        passes: |r| since_last_allow(r).is_none_or(|s| s >= r.config.cooldown_s),
        inputs: |r| {
            json!({
                "last_allowed_at": r.history.last_allowed_at_symbol,
                "since_last_s": since_last_allow(r),
                "cooldown_s": r.config.cooldown_s,
            })
        },
    },
    Rule {
        code: WINDOW_LIMIT,
        passes: |r| {
            r.history.allowed_in_window_symbol < r.config.max_per_symbol_in_window
                && r.history.allowed_in_window_global < r.config.max_global_in_window
        },
        inputs: |r| {
            let (h, c) = (r.history, r.config);
            json!({
                "window_s": c.window_s,
                "symbol_count": h.allowed_in_window_symbol,
                "max_per_symbol": c.max_per_symbol_in_window,
                "global_count": h.allowed_in_window_global,
                "max_global": c.max_global_in_window,
            })
        },
    },
];

fn listed(list: &[String], symbol: &str) -> bool {
    list.iter()
        .any(|s| s.trim().eq_ignore_ascii_case(symbol.trim()))
}

fn outside_hours_inputs(r: &RuleInput<'_>) -> Value {
    let Some(hours) = &r.config.trading_hours else {
        return json!({ "now": r.now, "trading_hours": null });
    };
    let check = hours.check(r.now);
    let spec = hours.spec();
    json!({
        "now": r.now,
        "local": check.local,
        "weekday": check.weekday,
        "start": spec.start,
        "end": spec.end,
        "timezone": spec.timezone,
        "weekdays": spec.weekdays,
    })
}

/// A present component's (age, max age, stale?). Ages are measured against the governor's
/// `now`, not the signal's creation time, so re-evaluating an old signal cannot pass on
/// inputs that have since gone stale.
fn staleness(r: &RuleInput<'_>, c: &ComponentContribution) -> (Option<i64>, i64, bool) {
    let max = r.config.max_input_age_s.get(c.kind);
    let age = c.as_of.map(|t| r.now.saturating_sub(t));
    (age, max, age.is_none_or(|a| a > max))
}

fn stale_input_inputs(r: &RuleInput<'_>) -> Value {
    let mut stale = Vec::new();
    let mut checked = Vec::new();
    for c in r.signal.components.iter().filter(|c| c.present) {
        let (age, max, is_stale) = staleness(r, c);
        if is_stale {
            stale.push(c.kind.as_str());
        }
        checked.push(json!({
            "kind": c.kind,
            "as_of": c.as_of,
            "age_s": age,
            "max_age_s": max,
            "stale": is_stale,
        }));
    }
    json!({ "components": checked, "stale": stale })
}

fn since_last_allow(r: &RuleInput<'_>) -> Option<i64> {
    r.history
        .last_allowed_at_symbol
        .map(|t| r.now.saturating_sub(t))
}
