//! The governor's rules table: one pure function per rule, each with its stable reason code,
//! returning whether it passed and the values and thresholds it looked at.
//!
//! It owns what each rule means. Rules see only (signal, history, config, now); they must not
//! read the clock, the store or anything else, and they never depend on each other's results.

use super::config::GovernorConfig;
use super::GovernorHistory;
use crate::compose::CompositeSignal;
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

/// A rule: passed?, and the inputs it looked at (for the governor_log row).
pub type RuleFn = fn(&RuleInput<'_>) -> (bool, Value);

/// Every rule in evaluation (and reason-code) order. The order is part of the audit format:
/// append new rules at the end.
pub const RULES: [(&str, RuleFn); 9] = [
    (HALTED, halted),
    (BLACKLISTED, blacklisted),
    (NOT_ALLOWLISTED, not_allowlisted),
    (OUTSIDE_HOURS, outside_hours),
    (NEUTRAL, neutral),
    (MIN_CONFIDENCE, min_confidence),
    (STALE_INPUT, stale_input),
    (COOLDOWN_ACTIVE, cooldown_active),
    (WINDOW_LIMIT, window_limit),
];

fn halted(r: &RuleInput<'_>) -> (bool, Value) {
    (!r.config.halted, json!({ "halted": r.config.halted }))
}

fn listed(list: &[String], symbol: &str) -> bool {
    list.iter()
        .any(|s| s.trim().eq_ignore_ascii_case(symbol.trim()))
}

fn blacklisted(r: &RuleInput<'_>) -> (bool, Value) {
    let hit = listed(&r.config.blacklist, &r.signal.symbol);
    (
        !hit,
        json!({ "symbol": r.signal.symbol, "blacklist": r.config.blacklist }),
    )
}

fn not_allowlisted(r: &RuleInput<'_>) -> (bool, Value) {
    let passed = match &r.config.allowlist {
        None => true,
        Some(list) => listed(list, &r.signal.symbol),
    };
    (
        passed,
        json!({ "symbol": r.signal.symbol, "allowlist": r.config.allowlist }),
    )
}

fn outside_hours(r: &RuleInput<'_>) -> (bool, Value) {
    let Some(hours) = &r.config.trading_hours else {
        return (true, json!({ "now": r.now, "trading_hours": null }));
    };
    let check = hours.check(r.now);
    let spec = hours.spec();
    (
        check.inside,
        json!({
            "now": r.now,
            "local": check.local,
            "weekday": check.weekday,
            "start": spec.start,
            "end": spec.end,
            "timezone": spec.timezone,
            "weekdays": spec.weekdays,
        }),
    )
}

fn neutral(r: &RuleInput<'_>) -> (bool, Value) {
    let passed = !(r.config.deny_neutral && r.signal.direction == 0);
    (
        passed,
        json!({ "direction": r.signal.direction, "deny_neutral": r.config.deny_neutral }),
    )
}

fn min_confidence(r: &RuleInput<'_>) -> (bool, Value) {
    (
        r.signal.confidence >= r.config.min_confidence,
        json!({
            "confidence": r.signal.confidence,
            "min_confidence": r.config.min_confidence,
        }),
    )
}

fn stale_input(r: &RuleInput<'_>) -> (bool, Value) {
    let mut stale = Vec::new();
    let mut checked = Vec::new();
    for c in r.signal.components.iter().filter(|c| c.present) {
        let max = r.config.max_input_age_s.get(c.kind);
        // Ages are measured against the governor's `now`, not the signal's creation time, so
        // re-evaluating an old signal cannot pass on inputs that have since gone stale.
        let age = c.as_of.map(|t| r.now.saturating_sub(t));
        let is_stale = age.is_none_or(|a| a > max);
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
    (
        stale.is_empty(),
        json!({ "components": checked, "stale": stale }),
    )
}

fn cooldown_active(r: &RuleInput<'_>) -> (bool, Value) {
    let last = r.history.last_allowed_at_symbol;
    let since = last.map(|t| r.now.saturating_sub(t));
    let passed = since.is_none_or(|s| s >= r.config.cooldown_s);
    (
        passed,
        json!({
            "last_allowed_at": last,
            "since_last_s": since,
            "cooldown_s": r.config.cooldown_s,
        }),
    )
}

fn window_limit(r: &RuleInput<'_>) -> (bool, Value) {
    let h = r.history;
    let c = r.config;
    let passed = h.allowed_in_window_symbol < c.max_per_symbol_in_window
        && h.allowed_in_window_global < c.max_global_in_window;
    (
        passed,
        json!({
            "window_s": c.window_s,
            "symbol_count": h.allowed_in_window_symbol,
            "max_per_symbol": c.max_per_symbol_in_window,
            "global_count": h.allowed_in_window_global,
            "max_global": c.max_global_in_window,
        }),
    )
}
