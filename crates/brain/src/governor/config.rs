//! The governor's configuration (`[settings.governor]` of the brain module): defaults, loading
//! from the settings JSON, validation, and the hash recorded with every decision.
//!
//! It owns which thresholds exist and which values are acceptable. A configuration that loads
//! is fully usable: `evaluate` never has to fail on it. It must not evaluate rules.

use super::hours::TradingHours;
use crate::error::BrainError;
use crate::hash::{canonical_json, sha256_hex};
use crate::kind::{Kind, PerKind, DEFAULT_MAX_AGE_S};
use serde::{Deserialize, Serialize};

/// Every threshold the governor's rules look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernorConfig {
    /// The global halt switch: deny everything (HALTED).
    pub halted: bool,
    /// Symbols never allowed (BLACKLISTED); compared ignoring ASCII case.
    pub blacklist: Vec<String>,
    /// When set, only these symbols are allowed (NOT_ALLOWLISTED).
    pub allowlist: Option<Vec<String>>,
    /// When set, signals are allowed only inside this window (OUTSIDE_HOURS).
    pub trading_hours: Option<TradingHours>,
    /// Deny direction-0 signals (NEUTRAL): a neutral signal asks nobody to act, and letting it
    /// through would spend the symbol's cooldown and window budget on nothing.
    pub deny_neutral: bool,
    /// Lowest confidence allowed (MIN_CONFIDENCE).
    pub min_confidence: f64,
    /// Oldest a present component's newest input may be, per kind (STALE_INPUT).
    pub max_input_age_s: PerKind<i64>,
    /// Least time between two allowed signals of one symbol (COOLDOWN_ACTIVE).
    pub cooldown_s: i64,
    /// The rolling window of the WINDOW_LIMIT rule.
    pub window_s: i64,
    pub max_per_symbol_in_window: u32,
    pub max_global_in_window: u32,
}

impl Default for GovernorConfig {
    fn default() -> Self {
        GovernorConfig {
            halted: false,
            blacklist: Vec::new(),
            allowlist: None,
            trading_hours: None,
            deny_neutral: true,
            min_confidence: 0.3,
            max_input_age_s: DEFAULT_MAX_AGE_S,
            cooldown_s: 3600,
            window_s: 86_400,
            max_per_symbol_in_window: 3,
            max_global_in_window: 50,
        }
    }
}

impl GovernorConfig {
    /// Loads `[settings.governor]` (JSON `null` or absent gives the defaults) and validates it.
    /// Unknown keys, a bad time zone or an out-of-range threshold are config errors naming
    /// the field.
    pub fn from_json(value: &serde_json::Value) -> Result<GovernorConfig, BrainError> {
        if value.is_null() {
            return Ok(GovernorConfig::default());
        }
        let cfg: GovernorConfig = serde_json::from_value(value.clone())
            .map_err(|e| BrainError::config("governor", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every threshold. (The trading window is checked when it is built, so a
    /// `TradingHours` value is always valid.)
    pub fn validate(&self) -> Result<(), BrainError> {
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(BrainError::config(
                "governor.min_confidence",
                format!("must be in [0, 1], got {}", self.min_confidence),
            ));
        }
        for kind in Kind::ALL {
            let age = self.max_input_age_s.get(kind);
            if age <= 0 {
                return Err(BrainError::config(
                    format!("governor.max_input_age_s.{kind}"),
                    format!("must be > 0 seconds, got {age}"),
                ));
            }
        }
        if self.cooldown_s < 0 {
            return Err(BrainError::config(
                "governor.cooldown_s",
                format!("must be >= 0 seconds, got {}", self.cooldown_s),
            ));
        }
        if self.window_s <= 0 {
            return Err(BrainError::config(
                "governor.window_s",
                format!("must be > 0 seconds, got {}", self.window_s),
            ));
        }
        let limits = [
            ("max_per_symbol_in_window", self.max_per_symbol_in_window),
            ("max_global_in_window", self.max_global_in_window),
        ];
        for (name, limit) in limits {
            if limit == 0 {
                return Err(BrainError::config(
                    format!("governor.{name}"),
                    "must be >= 1 (set halted = true to stop all signals)",
                ));
            }
        }
        let lists = [
            ("blacklist", Some(&self.blacklist)),
            ("allowlist", self.allowlist.as_ref()),
        ];
        for (name, list) in lists {
            for (i, symbol) in list.into_iter().flatten().enumerate() {
                if symbol.trim().is_empty() {
                    return Err(BrainError::config(
                        format!("governor.{name}[{i}]"),
                        "empty symbol",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// sha256 hex of the configuration's canonical JSON (keys sorted), stored with every
/// decision so an audit can tell which rules were in force.
pub fn config_hash(config: &GovernorConfig) -> String {
    // Serialising these plain structs cannot fail (string keys only, no fallible Serialize
    // impls); Null keeps the function total without a panic path.
    let value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    sha256_hex(canonical_json(&value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor::TradingHoursSpec;
    use serde_json::json;

    #[test]
    fn loads_defaults_and_overrides() {
        assert_eq!(
            GovernorConfig::from_json(&serde_json::Value::Null),
            Ok(GovernorConfig::default())
        );
        assert_eq!(
            GovernorConfig::from_json(&json!({})),
            Ok(GovernorConfig::default())
        );
        let cfg = GovernorConfig::from_json(&json!({
            "min_confidence": 0.5,
            "blacklist": ["GME"],
            "trading_hours": {"start": "09:30", "end": "16:00", "timezone": "America/New_York"}
        }));
        let cfg = cfg.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.min_confidence, 0.5);
        assert_eq!(cfg.blacklist, vec!["GME".to_string()]);
        let weekdays = cfg.trading_hours.map(|h| h.spec().weekdays.len());
        assert_eq!(weekdays, Some(5));
        let nyse = GovernorConfig::from_json(&json!({"trading_hours": {}}));
        let spec = nyse.map(|c| c.trading_hours.map(|h| h.spec().clone()));
        assert_eq!(spec, Ok(Some(TradingHoursSpec::default())));
    }

    #[test]
    fn invalid_configs_are_config_errors_naming_the_field() {
        let table = [
            (
                json!({"trading_hours": {"start": "09:30", "end": "16:00", "timezone": "Mars/Base"}}),
                "trading_hours.timezone",
            ),
            (
                json!({"trading_hours": {"start": "9", "end": "16:00", "timezone": "UTC"}}),
                "trading_hours.start",
            ),
            (json!({"min_confidence": 1.5}), "governor.min_confidence"),
            (json!({"cooldown_s": -1}), "governor.cooldown_s"),
            (json!({"window_s": 0}), "governor.window_s"),
            (
                json!({"max_per_symbol_in_window": 0}),
                "governor.max_per_symbol_in_window",
            ),
            (
                json!({"max_global_in_window": 0}),
                "governor.max_global_in_window",
            ),
            (
                json!({"max_input_age_s": {"chart": 1, "news": 1, "metrics": 0}}),
                "governor.max_input_age_s.metrics",
            ),
            (json!({"allowlist": ["AAPL", " "]}), "governor.allowlist[1]"),
            (json!({"min_confidnce": 0.2}), "min_confidnce"),
            (json!({"halted": "yes"}), "governor"),
        ];
        for (value, needle) in table {
            match GovernorConfig::from_json(&value) {
                Err(e @ BrainError::Config { .. }) => {
                    assert!(e.to_string().contains(needle), "{value}: {e}")
                }
                other => panic!("{value}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = GovernorConfig::default();
        let h = config_hash(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, config_hash(&a.clone()));
        let via_json = GovernorConfig::from_json(&json!({"cooldown_s": 3600}));
        assert_eq!(via_json.map(|c| config_hash(&c)), Ok(h.clone()));
        let changed = [
            GovernorConfig {
                halted: true,
                ..a.clone()
            },
            GovernorConfig {
                min_confidence: 0.31,
                ..a.clone()
            },
            GovernorConfig {
                blacklist: vec!["X".into()],
                ..a.clone()
            },
            GovernorConfig {
                allowlist: Some(vec![]),
                ..a.clone()
            },
        ];
        for c in changed {
            assert_ne!(config_hash(&c), h, "{c:?}");
        }
    }
}
