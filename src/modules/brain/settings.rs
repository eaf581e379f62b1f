//! The brain module's `[settings]`: the keys the glue owns (`symbols`, `bar_interval`,
//! `outcome_lookback_s`, `once_wait_s`, `calibrate_min_n`, `backfill_days`, `backfill_batch`)
//! next to the ones aivex-brain reads
//! itself (`weights`, `horizon_s`, ..., via `BrainConfig::from_settings`, and `governor` via
//! `GovernorConfig::from_json`).
//!
//! Pure parsing and validation: every bad value is a ConfigError naming its key. It must not
//! open the store, read files or the clock.

use aivex_brain::{BrainConfig, GovernorConfig};
use aivex_core::ModuleError;
use serde_json::Value;

/// Keys of the brain module's settings. Anything else is a typo the operator should hear about.
const KNOWN_KEYS: [&str; 14] = [
    "symbols",
    "backfill_days",
    "backfill_batch",
    "min_value_change",
    "bar_interval",
    "outcome_lookback_s",
    "once_wait_s",
    "calibrate_min_n",
    "weights",
    "horizon_s",
    "neutral_band",
    "strength_full",
    "max_age_s",
    "governor",
];

/// Everything the brain module is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Symbols to compose; empty means every symbol that has at least one component.
    pub symbols: Vec<String>,
    /// A component value that moved less than this, with no newer input behind it (same
    /// `as_of`), is time decay, not a new input: no new signal.
    pub min_value_change: f64,
    /// The `ohlcv.interval` outcome scoring reads closes from.
    pub bar_interval: String,
    /// `bar_interval` as seconds (`1d`, `4h`, `15m`; None for a name that is not a plain
    /// duration, such as `1M`: back-fill and replay need a duration and refuse it).
    pub bar_interval_s: Option<i64>,
    /// How many days before its newest bar close (or now, or its first live signal, whichever
    /// is earliest) a symbol's signals are back-filled; 0 turns back-fill off.
    pub backfill_days: i64,
    /// Symbol-steps of back-fill written per cycle at most (once mode does all of it).
    pub backfill_batch: u64,
    /// How long after its horizon a signal waits for bars before outcome scoring gives up.
    pub outcome_lookback_s: i64,
    /// How long the first cycle waits for the producers started with brain: in once mode for
    /// every weighted input kind to have a component, before a back-fill for the stored
    /// history to arrive and settle. 0 disables the wait.
    pub once_wait_s: f64,
    /// `aivex calibrate`: components need this many scored rows before a weight is suggested.
    pub calibrate_min_n: u32,
    pub brain: BrainConfig,
    pub governor: GovernorConfig,
}

fn config_err(key: &str, why: impl std::fmt::Display) -> ModuleError {
    ModuleError::Config(format!("brain settings: {key}: {why}"))
}

fn int(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    default: i64,
    min: i64,
) -> Result<i64, ModuleError> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => match v.as_i64() {
            Some(n) if n >= min => Ok(n),
            _ => Err(config_err(
                key,
                format!("must be an integer >= {min}, got {v}"),
            )),
        },
    }
}

impl Settings {
    /// Parses the module's settings object (`null` or `{}` gives every default).
    pub fn parse(settings: &Value) -> Result<Settings, ModuleError> {
        let empty = serde_json::Map::new();
        let obj = match settings {
            Value::Null => &empty,
            Value::Object(o) => o,
            other => {
                return Err(config_err(
                    "settings",
                    format!("must be a table, got {other}"),
                ))
            }
        };
        if let Some(unknown) = obj.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(config_err(
                unknown,
                format!("unknown key (known: {})", KNOWN_KEYS.join(", ")),
            ));
        }
        let symbols = match obj.get("symbols") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let s = item.as_str().map(str::trim).unwrap_or_default();
                    if let Err(e) = aivex_core::contract::Symbol::parse(s) {
                        return Err(config_err(
                            &format!("symbols[{i}]"),
                            format!("must be a symbol, got {item}: {}", e.why),
                        ));
                    }
                    if !out.iter().any(|o: &String| o == s) {
                        out.push(s.to_string());
                    }
                }
                out
            }
            Some(other) => {
                return Err(config_err(
                    "symbols",
                    format!("must be a list of strings, got {other}"),
                ))
            }
        };
        let bar_interval = match obj.get("bar_interval") {
            None => "1d".to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 16 => s.trim().to_string(),
            Some(other) => {
                return Err(config_err(
                    "bar_interval",
                    format!("must be an interval name such as \"1d\", got {other}"),
                ))
            }
        };
        let min_value_change = match obj.get("min_value_change") {
            None => 0.01,
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && (0.0..1.0).contains(&x) => x,
                _ => {
                    return Err(config_err(
                        "min_value_change",
                        format!("must be a number in [0, 1), got {v}"),
                    ))
                }
            },
        };
        let once_wait_s = match obj.get("once_wait_s") {
            None => 30.0,
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && (0.0..=3600.0).contains(&x) => x,
                _ => {
                    return Err(config_err(
                        "once_wait_s",
                        format!("must be seconds in [0, 3600], got {v}"),
                    ))
                }
            },
        };
        let calibrate_min_n = int(
            obj,
            "calibrate_min_n",
            i64::from(aivex_brain::calibrate::DEFAULT_MIN_N),
            1,
        )?;
        let backfill_days = int(obj, "backfill_days", 0, 0)?;
        if backfill_days > 36_500 {
            return Err(config_err(
                "backfill_days",
                format!("must be at most 36500 (100 years), got {backfill_days}"),
            ));
        }
        let bar_interval_s = aivex_brain::replay::parse_duration(&bar_interval);
        if backfill_days > 0 && bar_interval_s.is_none() {
            return Err(config_err(
                "bar_interval",
                format!(
                    "back-fill needs the interval as a duration (\"1d\", \"4h\", \"15m\"), got {bar_interval:?}"
                ),
            ));
        }
        let backfill_batch = int(obj, "backfill_batch", 20_000, 1)?;
        let brain = BrainConfig::from_settings(settings)?;
        let governor = GovernorConfig::from_json(obj.get("governor").unwrap_or(&Value::Null))?;
        Ok(Settings {
            symbols,
            min_value_change,
            bar_interval,
            bar_interval_s,
            backfill_days,
            backfill_batch: u64::try_from(backfill_batch).unwrap_or(1),
            outcome_lookback_s: int(obj, "outcome_lookback_s", 7 * 86_400, 0)?,
            once_wait_s,
            calibrate_min_n: u32::try_from(calibrate_min_n)
                .map_err(|_| config_err("calibrate_min_n", "is too large"))?,
            brain,
            governor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_values() {
        let s = Settings::parse(&Value::Null).unwrap();
        assert!(s.symbols.is_empty());
        assert_eq!(s.bar_interval, "1d");
        assert_eq!(s.min_value_change, 0.01);
        assert_eq!(s.outcome_lookback_s, 604_800);
        assert_eq!(s.once_wait_s, 30.0);
        assert_eq!(s.calibrate_min_n, 30);
        assert_eq!(
            (s.backfill_days, s.backfill_batch, s.bar_interval_s),
            (0, 20_000, Some(86_400))
        );
        assert_eq!(s.brain, BrainConfig::default());
        assert_eq!(s.governor, GovernorConfig::default());

        let s = Settings::parse(&json!({
            "symbols": ["AAPL", " MSFT ", "AAPL"],
            "bar_interval": "1h",
            "once_wait_s": 0,
            "calibrate_min_n": 2,
            "backfill_days": 365,
            "backfill_batch": 500,
            "horizon_s": 3600,
            "governor": {"min_confidence": 0.5, "halted": true}
        }))
        .unwrap();
        assert_eq!(s.symbols, vec!["AAPL", "MSFT"]);
        assert_eq!(s.bar_interval, "1h");
        assert_eq!(s.once_wait_s, 0.0);
        assert_eq!(s.calibrate_min_n, 2);
        assert_eq!(
            (s.backfill_days, s.backfill_batch, s.bar_interval_s),
            (365, 500, Some(3600))
        );
        assert_eq!(s.brain.horizon_s, 3600);
        assert!(s.governor.halted);
        assert_eq!(s.governor.min_confidence, 0.5);
    }

    #[test]
    fn bad_values_name_their_key() {
        let table = [
            (json!([1]), "settings"),
            (json!({"symbol": ["AAPL"]}), "symbol: unknown key"),
            (json!({"symbols": "AAPL"}), "symbols: must be a list"),
            (json!({"symbols": ["AAPL", ""]}), "symbols[1]"),
            (json!({"symbols": [3]}), "symbols[0]"),
            (json!({"bar_interval": 5}), "bar_interval"),
            (json!({"once_wait_s": -1}), "once_wait_s"),
            (json!({"min_value_change": 1.5}), "min_value_change"),
            (json!({"outcome_lookback_s": -5}), "outcome_lookback_s"),
            (json!({"calibrate_min_n": 0}), "calibrate_min_n"),
            (json!({"backfill_days": -1}), "backfill_days"),
            (json!({"backfill_days": 1.5}), "backfill_days"),
            (json!({"backfill_days": 40000}), "backfill_days"),
            (json!({"backfill_batch": 0}), "backfill_batch"),
            (
                json!({"backfill_days": 30, "bar_interval": "1M"}),
                "bar_interval: back-fill needs",
            ),
            (json!({"horizon_s": 0}), "horizon_s"),
            (
                json!({"weights": {"chart": -1, "news": 0, "metrics": 0}}),
                "weights.chart",
            ),
            (json!({"governor": {"min_confidence": 2}}), "min_confidence"),
            (
                json!({"governor": {"trading_hours": {"timezone": "Mars/Base"}}}),
                "Mars/Base",
            ),
        ];
        for (settings, want) in table {
            let err = Settings::parse(&settings).unwrap_err();
            assert_eq!(err.class(), "ConfigError", "{settings}");
            assert!(err.message().contains(want), "{settings}: {err}");
        }
    }
}
