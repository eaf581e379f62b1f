//! Composition: turns a symbol's latest chart/news/metrics components into one composite
//! signal (score, direction, confidence and each component's contribution), plus the
//! deterministic signal id and the "did anything change" test.
//!
//! Everything here is a pure function of its inputs and an explicit `now`: it must not read the
//! clock, the store or the network. The formula is documented in crates/brain/README.md and
//! the worked examples there are the `worked_examples` test below.

use crate::error::BrainError;
use crate::hash::sha256_hex;
use crate::kind::{Kind, PerKind, Weights, DEFAULT_MAX_AGE_S};
use serde::{Deserialize, Serialize};

/// How the brain composes (`[settings]` of the brain module: `weights`, `horizon_s`,
/// `neutral_band`, `strength_full`, `max_age_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrainConfig {
    pub weights: Weights,
    /// How far ahead a signal speaks; outcome scoring looks this far ahead.
    pub horizon_s: i64,
    /// |score| below this gives direction 0.
    pub neutral_band: f64,
    /// |score| at which the strength factor of confidence reaches 1.
    pub strength_full: f64,
    /// Age at which a component's freshness factor has decayed to 0.
    pub max_age_s: PerKind<i64>,
}

impl Default for BrainConfig {
    fn default() -> Self {
        BrainConfig {
            weights: Weights::default(),
            // Five trading days of daily bars.
            horizon_s: 432_000,
            neutral_band: 0.1,
            strength_full: 0.5,
            max_age_s: DEFAULT_MAX_AGE_S,
        }
    }
}

impl BrainConfig {
    /// Reads the composition keys from the module's settings object (other keys, such as
    /// `symbols` or `governor`, belong to other parts and are ignored here) and validates them.
    pub fn from_settings(settings: &serde_json::Value) -> Result<BrainConfig, BrainError> {
        const KEYS: [&str; 5] = [
            "weights",
            "horizon_s",
            "neutral_band",
            "strength_full",
            "max_age_s",
        ];
        let mut own = serde_json::Map::new();
        if let Some(obj) = settings.as_object() {
            for key in KEYS {
                if let Some(v) = obj.get(key) {
                    own.insert(key.to_string(), v.clone());
                }
            }
        } else if !settings.is_null() {
            return Err(BrainError::config("settings", "must be a table"));
        }
        let cfg: BrainConfig = serde_json::from_value(serde_json::Value::Object(own))
            .map_err(|e| BrainError::config("brain settings", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every value is usable; a bad one names its settings path.
    pub fn validate(&self) -> Result<(), BrainError> {
        for kind in Kind::ALL {
            let w = self.weights.get(kind);
            if !w.is_finite() || w < 0.0 {
                return Err(BrainError::config(
                    format!("weights.{kind}"),
                    format!("must be a finite number >= 0, got {w}"),
                ));
            }
            let age = self.max_age_s.get(kind);
            if age <= 0 {
                return Err(BrainError::config(
                    format!("max_age_s.{kind}"),
                    format!("must be > 0 seconds, got {age}"),
                ));
            }
        }
        if total_weight(&self.weights) <= 0.0 {
            return Err(BrainError::config(
                "weights",
                "at least one weight must be > 0",
            ));
        }
        if self.horizon_s <= 0 {
            return Err(BrainError::config(
                "horizon_s",
                format!("must be > 0 seconds, got {}", self.horizon_s),
            ));
        }
        if !(0.0..1.0).contains(&self.neutral_band) {
            return Err(BrainError::config(
                "neutral_band",
                format!("must be in [0, 1), got {}", self.neutral_band),
            ));
        }
        if !(self.strength_full > 0.0 && self.strength_full <= 1.0) {
            return Err(BrainError::config(
                "strength_full",
                format!("must be in (0, 1], got {}", self.strength_full),
            ));
        }
        Ok(())
    }
}

fn total_weight(w: &Weights) -> f64 {
    w.chart + w.news + w.metrics
}

/// A component as the glue reads it from the store: the latest value of one kind for a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComponentInput {
    pub kind: Kind,
    /// The component's own call, in [-1, 1] (negative bearish).
    pub value: f64,
    /// Unix seconds of the newest input behind the value (bar ts, article time, filing date).
    pub as_of: i64,
}

pub use aivex_core::contract::{ComponentContribution, ConfidenceFactors};

/// A composite signal for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositeSignal {
    /// `signal_id(symbol, components)`: equal inputs give equal ids.
    pub id: String,
    pub symbol: String,
    /// In [-1, 1].
    pub score: f64,
    /// -1, 0 or +1.
    pub direction: i8,
    /// In [0, 1].
    pub confidence: f64,
    pub factors: ConfidenceFactors,
    pub horizon_s: i64,
    /// The time the signal was composed at (the `now` given to `compose`).
    pub created_at: i64,
    pub components: Vec<ComponentContribution>,
}

/// Composes a signal for `symbol` from its latest components at time `now`.
///
/// `Ok(None)` when no component with a positive weight is present (nothing to say).
/// An input error (value outside [-1, 1] or not finite, the same kind twice) names the symbol
/// and kind; the glue records it as a DataValidationError and skips the symbol.
pub fn compose(
    symbol: &str,
    inputs: &[ComponentInput],
    config: &BrainConfig,
    now: i64,
) -> Result<Option<CompositeSignal>, BrainError> {
    Ok(
        compose_unidentified(symbol, inputs, config, now)?.map(|mut s| {
            s.id = signal_id(symbol, &s.components);
            s
        }),
    )
}

/// `compose` without the signal id (`id` is empty): for a replay that only reports, where the
/// id's hash would be most of the cost of a step and nothing is stored. `should_emit` compares
/// inputs when an id is missing.
pub fn compose_unidentified(
    symbol: &str,
    inputs: &[ComponentInput],
    config: &BrainConfig,
    now: i64,
) -> Result<Option<CompositeSignal>, BrainError> {
    let mut by_kind: [Option<ComponentInput>; 3] = [None; 3];
    for input in inputs {
        let source = format!("{symbol} {}", input.kind);
        if !input.value.is_finite() || !(-1.0..=1.0).contains(&input.value) {
            return Err(BrainError::input(
                source,
                format!("value must be a number in [-1, 1], got {}", input.value),
            ));
        }
        let slot = &mut by_kind[kind_index(input.kind)];
        if slot.is_some() {
            return Err(BrainError::input(source, "component given more than once"));
        }
        *slot = Some(*input);
    }

    let present_weight: f64 = Kind::ALL
        .iter()
        .zip(by_kind.iter())
        .filter(|(_, slot)| slot.is_some())
        .map(|(k, _)| config.weights.get(*k))
        .sum();
    if present_weight <= 0.0 {
        return Ok(None);
    }

    let mut components = Vec::with_capacity(3);
    for (kind, slot) in Kind::ALL.into_iter().zip(by_kind) {
        let weight = config.weights.get(kind);
        components.push(match slot {
            Some(input) => {
                let effective_weight = weight / present_weight;
                let age_s = now.saturating_sub(input.as_of);
                ComponentContribution {
                    kind,
                    value: input.value,
                    weight,
                    effective_weight,
                    contribution: effective_weight * input.value,
                    as_of: Some(input.as_of),
                    age_s: Some(age_s),
                    freshness: freshness(age_s, config.max_age_s.get(kind)),
                    present: true,
                }
            }
            None => ComponentContribution {
                kind,
                value: 0.0,
                weight,
                effective_weight: 0.0,
                contribution: 0.0,
                as_of: None,
                age_s: None,
                freshness: 0.0,
                present: false,
            },
        });
    }

    let score = components
        .iter()
        .map(|c| c.contribution)
        .sum::<f64>()
        .clamp(-1.0, 1.0);
    let direction = if score.abs() < config.neutral_band {
        0
    } else {
        sign(score)
    };
    let factors = ConfidenceFactors {
        coverage: present_weight / total_weight(&config.weights),
        agreement: components
            .iter()
            .filter(|c| c.present && sign(score) != 0 && sign(c.value) == sign(score))
            .map(|c| c.effective_weight)
            .sum(),
        freshness: components
            .iter()
            .map(|c| c.effective_weight * c.freshness)
            .sum(),
        strength: (score.abs() / config.strength_full).min(1.0),
    };
    let confidence = (factors.coverage * factors.agreement * factors.freshness * factors.strength)
        .clamp(0.0, 1.0);

    Ok(Some(CompositeSignal {
        id: String::new(),
        symbol: symbol.to_string(),
        score,
        direction,
        confidence,
        factors,
        horizon_s: config.horizon_s,
        created_at: now,
        components,
    }))
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Chart => 0,
        Kind::News => 1,
        Kind::Metrics => 2,
    }
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// Linear decay from 1 at age 0 to 0 at `max_age_s`; an input stamped in the future counts
/// as brand new rather than as fresher than new.
fn freshness(age_s: i64, max_age_s: i64) -> f64 {
    if max_age_s <= 0 {
        return 0.0;
    }
    (1.0 - age_s.max(0) as f64 / max_age_s as f64).clamp(0.0, 1.0)
}

/// One present input: (kind, value bits, as_of).
type InputItem = (Kind, u64, i64);

/// The identity of a set of inputs: (kind, value, as_of) of each present component in kind
/// order. -0.0 and 0.0 are the same input. A composed signal has at most one component per
/// kind, so the key lives on the stack (this runs for every signal a replay composes); more
/// than three present components (a malformed stored row) take the general path.
enum InputKey {
    Few([InputItem; 3], usize),
    Many(Vec<InputItem>),
}

impl InputKey {
    fn as_slice(&self) -> &[InputItem] {
        match self {
            InputKey::Few(items, n) => items.get(..*n).unwrap_or_default(),
            InputKey::Many(v) => v,
        }
    }
}

impl PartialEq for InputKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

fn input_key(components: &[ComponentContribution]) -> InputKey {
    let item = |c: &ComponentContribution| {
        let v = if c.value == 0.0 { 0.0 } else { c.value };
        (c.kind, v.to_bits(), c.as_of.unwrap_or(0))
    };
    let present = components.iter().filter(|c| c.present);
    if present.clone().count() > 3 {
        let mut key: Vec<InputItem> = present.map(item).collect();
        key.sort();
        return InputKey::Many(key);
    }
    let mut items = [(Kind::Chart, 0, 0); 3];
    let mut n = 0;
    for c in present {
        if let Some(slot) = items.get_mut(n) {
            *slot = item(c);
            n += 1;
        }
    }
    if let Some(few) = items.get_mut(..n) {
        few.sort();
    }
    InputKey::Few(items, n)
}

/// Deterministic id of a signal: the first 32 hex digits of sha256 over the symbol and each
/// present component's kind, value and as_of. Re-composing the same inputs gives the same id,
/// so the store's duplicate-id check stops duplicate signals.
pub fn signal_id(symbol: &str, components: &[ComponentContribution]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(32 + symbol.len() + 3 * 40);
    text.push_str("aivex-signal-v1\n");
    text.push_str(symbol);
    text.push('\n');
    for (kind, bits, as_of) in input_key(components).as_slice() {
        // Writing into a String cannot fail.
        let _ = writeln!(text, "{kind}\t{:?}\t{as_of}", f64::from_bits(*bits));
    }
    let mut hex = sha256_hex(text.as_bytes());
    hex.truncate(32);
    hex
}

/// True when `current` rests on different inputs than the last signal emitted for the symbol
/// (a new bar, article or filing, a changed value, or a component appearing or vanishing), or
/// when there was no last signal. A quiet market gives false, so no row is written.
pub fn inputs_changed(
    last_signal_components: Option<&[ComponentContribution]>,
    current: &[ComponentContribution],
) -> bool {
    match last_signal_components {
        None => true,
        Some(last) => input_key(last) != input_key(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn input(kind: Kind, value: f64, age_s: i64) -> ComponentInput {
        ComponentInput {
            kind,
            value,
            as_of: NOW - age_s,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// The worked examples of README.md, "Composition", numbers as written there.
    #[test]
    fn worked_examples() {
        struct Case {
            name: &'static str,
            inputs: Vec<ComponentInput>,
            score: f64,
            direction: i8,
            coverage: f64,
            agreement: f64,
            freshness: f64,
            strength: f64,
            confidence: f64,
        }
        let table = [
            Case {
                name: "A: all three, agreeing, news a day old",
                inputs: vec![
                    input(Kind::Chart, 0.6, 0),
                    input(Kind::News, 0.4, 86_400),
                    input(Kind::Metrics, 0.2, 0),
                ],
                score: 0.46,
                direction: 1,
                coverage: 1.0,
                agreement: 1.0,
                freshness: 0.85,
                strength: 0.92,
                confidence: 0.782,
            },
            Case {
                name: "B: news missing, metrics disagrees",
                inputs: vec![input(Kind::Chart, 0.6, 0), input(Kind::Metrics, -0.5, 0)],
                score: 2.0 / 7.0,
                direction: 1,
                coverage: 0.7,
                agreement: 5.0 / 7.0,
                freshness: 1.0,
                strength: 4.0 / 7.0,
                confidence: 2.0 / 7.0,
            },
            Case {
                name: "C: weak mixed inputs are neutral",
                inputs: vec![
                    input(Kind::Chart, 0.1, 0),
                    input(Kind::News, -0.1, 0),
                    input(Kind::Metrics, 0.05, 0),
                ],
                score: 0.03,
                direction: 0,
                coverage: 1.0,
                agreement: 0.7,
                freshness: 1.0,
                strength: 0.06,
                confidence: 0.042,
            },
            Case {
                name: "D: only news, 1.5 days old",
                inputs: vec![input(Kind::News, -0.8, 129_600)],
                score: -0.8,
                direction: -1,
                coverage: 0.3,
                agreement: 1.0,
                freshness: 0.25,
                strength: 1.0,
                confidence: 0.075,
            },
        ];
        let cfg = BrainConfig::default();
        for case in table {
            let sig = compose("AAPL", &case.inputs, &cfg, NOW)
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{}: no signal", case.name));
            let f = sig.factors;
            let got = [
                sig.score,
                f.coverage,
                f.agreement,
                f.freshness,
                f.strength,
                sig.confidence,
            ];
            let want = [
                case.score,
                case.coverage,
                case.agreement,
                case.freshness,
                case.strength,
                case.confidence,
            ];
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(close(*g, *w), "{} field {i}: got {g}, want {w}", case.name);
            }
            assert_eq!(sig.direction, case.direction, "{}", case.name);
            assert_eq!(sig.components.len(), 3, "{}", case.name);
            let eff: f64 = sig.components.iter().map(|c| c.effective_weight).sum();
            assert!(
                close(eff, 1.0),
                "{}: effective weights sum {eff}",
                case.name
            );
        }
    }

    #[test]
    fn missing_component_is_listed_and_lowers_confidence() {
        let cfg = BrainConfig::default();
        let full = [
            input(Kind::Chart, 0.6, 0),
            input(Kind::News, 0.6, 0),
            input(Kind::Metrics, 0.6, 0),
        ];
        let all = compose("X", &full, &cfg, NOW).ok().flatten();
        let part = compose("X", &full[..2], &cfg, NOW).ok().flatten();
        let (Some(all), Some(part)) = (all, part) else {
            panic!("both compose");
        };
        assert!(close(all.confidence, 1.0));
        assert!(close(part.confidence, 0.8), "coverage 0.8 × 1 × 1 × 1");
        let metrics = &part.components[2];
        assert_eq!(metrics.kind, Kind::Metrics);
        assert!(!metrics.present);
        assert_eq!(metrics.as_of, None);
        assert_eq!(metrics.effective_weight, 0.0);
        assert!(close(part.components[0].effective_weight, 0.625));
        assert_eq!(part.components[1].age_s, Some(0));
    }

    #[test]
    fn nothing_present_gives_none() {
        let cfg = BrainConfig::default();
        let zero_news = BrainConfig {
            weights: Weights {
                chart: 1.0,
                news: 0.0,
                metrics: 0.0,
            },
            ..BrainConfig::default()
        };
        let news_only = [input(Kind::News, 0.5, 0)];
        assert_eq!(compose("X", &[], &cfg, NOW), Ok(None));
        assert_eq!(compose("X", &news_only, &zero_news, NOW), Ok(None));
    }

    #[test]
    fn freshness_edges() {
        let table = [
            (0, 100, 1.0),
            (50, 100, 0.5),
            (100, 100, 0.0),
            (250, 100, 0.0),
            (-30, 100, 1.0),
        ];
        for (age, max, want) in table {
            assert!(close(freshness(age, max), want), "age {age} max {max}");
        }
    }

    #[test]
    fn neutral_band_edges() {
        let cfg = BrainConfig::default();
        // Chart alone: score = value.
        let table = [(0.1, 1), (0.0999, 0), (-0.1, -1), (-0.0999, 0), (0.0, 0)];
        for (value, want) in table {
            let sig = compose("X", &[input(Kind::Chart, value, 0)], &cfg, NOW)
                .ok()
                .flatten();
            assert_eq!(sig.map(|s| s.direction), Some(want), "value {value}");
        }
    }

    #[test]
    fn bad_inputs_are_named_errors() {
        let cfg = BrainConfig::default();
        let table: [(Vec<ComponentInput>, &str); 4] = [
            (vec![input(Kind::News, 1.5, 0)], "MSFT news"),
            (vec![input(Kind::Chart, f64::NAN, 0)], "MSFT chart"),
            (
                vec![input(Kind::Metrics, f64::NEG_INFINITY, 0)],
                "MSFT metrics",
            ),
            (
                vec![input(Kind::Chart, 0.1, 0), input(Kind::Chart, 0.2, 5)],
                "MSFT chart",
            ),
        ];
        for (inputs, source) in table {
            match compose("MSFT", &inputs, &cfg, NOW) {
                Err(BrainError::Input { source: s, .. }) => assert_eq!(s, source),
                other => panic!("{source}: expected an input error, got {other:?}"),
            }
        }
    }

    #[test]
    fn ids_are_deterministic_and_input_sensitive() {
        let cfg = BrainConfig::default();
        let base = [input(Kind::Chart, 0.5, 10), input(Kind::News, -0.2, 20)];
        let id = |inputs: &[ComponentInput], symbol: &str, now: i64| {
            compose(symbol, inputs, &cfg, now)
                .ok()
                .flatten()
                .map(|s| s.id)
                .unwrap_or_default()
        };
        let a = id(&base, "AAPL", NOW);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        // Same inputs later (a quiet cycle), and in another order: same id.
        assert_eq!(a, id(&base, "AAPL", NOW + 600));
        assert_eq!(a, id(&[base[1], base[0]], "AAPL", NOW));
        let changed = [
            id(&base, "MSFT", NOW),
            id(&[input(Kind::Chart, 0.5, 9), base[1]], "AAPL", NOW),
            id(&[input(Kind::Chart, 0.51, 10), base[1]], "AAPL", NOW),
            id(&base[..1], "AAPL", NOW),
        ];
        for other in changed {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn inputs_changed_table() {
        let cfg = BrainConfig::default();
        let comps = |inputs: &[ComponentInput]| {
            compose("X", inputs, &cfg, NOW)
                .ok()
                .flatten()
                .map(|s| s.components)
                .unwrap_or_default()
        };
        let last = comps(&[input(Kind::Chart, 0.5, 100), input(Kind::News, 0.1, 100)]);
        let table = [
            ("no previous signal", None, last.clone(), true),
            ("same inputs", Some(last.clone()), last.clone(), false),
            (
                "newer bar",
                Some(last.clone()),
                comps(&[input(Kind::Chart, 0.5, 50), input(Kind::News, 0.1, 100)]),
                true,
            ),
            (
                "metrics arrived",
                Some(last.clone()),
                comps(&[
                    input(Kind::Chart, 0.5, 100),
                    input(Kind::News, 0.1, 100),
                    input(Kind::Metrics, 0.0, 100),
                ]),
                true,
            ),
            (
                "news vanished",
                Some(last.clone()),
                comps(&[input(Kind::Chart, 0.5, 100)]),
                true,
            ),
        ];
        for (name, prev, cur, want) in table {
            assert_eq!(inputs_changed(prev.as_deref(), &cur), want, "{name}");
        }
    }

    #[test]
    fn settings_parse_and_validate() {
        use serde_json::json;
        let ok = BrainConfig::from_settings(&json!({
            "symbols": ["AAPL"],
            "weights": {"chart": 0.6, "news": 0.2, "metrics": 0.2},
            "neutral_band": 0.05
        }));
        assert_eq!(
            ok.map(|c| (c.weights.chart, c.neutral_band, c.horizon_s)),
            Ok((0.6, 0.05, 432_000))
        );
        assert_eq!(
            BrainConfig::from_settings(&serde_json::Value::Null),
            Ok(BrainConfig::default())
        );
        let table = [
            (
                json!({"weights": {"chart": -1.0, "news": 0.3, "metrics": 0.2}}),
                "weights.chart",
            ),
            (
                json!({"weights": {"chart": 0.0, "news": 0.0, "metrics": 0.0}}),
                "weights",
            ),
            (json!({"weights": {"chart": 0.5}}), "brain settings"),
            (
                json!({"weights": {"chart": 0.5, "news": 0.3, "metrics": 0.2, "x": 1}}),
                "brain settings",
            ),
            (json!({"horizon_s": 0}), "horizon_s"),
            (json!({"neutral_band": 1.0}), "neutral_band"),
            (json!({"strength_full": 0.0}), "strength_full"),
            (
                json!({"max_age_s": {"chart": 1, "news": 0, "metrics": 1}}),
                "max_age_s.news",
            ),
            (json!([1, 2]), "settings"),
        ];
        for (settings, field) in table {
            match BrainConfig::from_settings(&settings) {
                Err(BrainError::Config { field: f, .. }) => assert_eq!(f, field, "{settings}"),
                other => panic!("{settings}: expected config error, got {other:?}"),
            }
        }
    }
}
