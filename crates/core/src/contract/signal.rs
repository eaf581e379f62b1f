//! The stored signal: how a signal's components, its verdict, its reason codes, its origin and
//! the kinds of outcome are written to the store (by brain) and read back (by Eye, the CLI
//! tools, brain itself).
//!
//! It owns the text forms (`allow`/`deny`, `hit`/`miss`/`flat`, `live`/`backfill`, reason codes
//! joined by commas), the JSON shape of `signals.components`, and the automatic outcome
//! (`SignalOutcome`, the feedback source `auto` it is stored under). How a value is computed
//! belongs to aivex-brain; this file must not compute anything.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a signal component: which atomic module produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Chart,
    News,
    Metrics,
}

impl Kind {
    /// Every kind, in the stable order used for output, ids and tables.
    pub const ALL: [Kind; 3] = [Kind::Chart, Kind::News, Kind::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chart => "chart",
            Kind::News => "news",
            Kind::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One component's part in a composite signal. Every kind is listed; absent ones have
/// `present = false`, zero effective weight and no timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentContribution {
    pub kind: Kind,
    pub value: f64,
    /// The configured weight.
    pub weight: f64,
    /// The weight renormalised over the present components.
    pub effective_weight: f64,
    /// effective_weight × value.
    pub contribution: f64,
    pub as_of: Option<i64>,
    /// now - as_of, in seconds.
    pub age_s: Option<i64>,
    /// This component's freshness factor in [0, 1].
    pub freshness: f64,
    pub present: bool,
}

/// The four factors whose product is the confidence (kept for the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceFactors {
    pub coverage: f64,
    pub agreement: f64,
    pub freshness: f64,
    pub strength: f64,
}

/// What `signals.components` holds: every component's part and the confidence factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredComponents {
    pub components: Vec<ComponentContribution>,
    pub factors: ConfidenceFactors,
}

impl StoredComponents {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The error says what did not parse (callers name the row).
    pub fn decode(text: &str) -> Result<StoredComponents, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// The governor's decision on a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

impl Verdict {
    pub const ALL: [Verdict; 2] = [Verdict::Allow, Verdict::Deny];

    pub fn from_allow(allow: bool) -> Verdict {
        if allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Where a stored signal came from: composed live at its `created_at`, or back-filled later
/// as of a past bar close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    #[default]
    Live,
    Backfill,
}

impl Origin {
    pub const ALL: [Origin; 2] = [Origin::Live, Origin::Backfill];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Live => "live",
            Origin::Backfill => "backfill",
        }
    }

    pub fn parse(s: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The three outcomes, written as "hit", "miss" and "flat".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// A directional signal whose direction matched the return's sign.
    Hit,
    /// The direction was wrong (or a neutral signal met a move beyond the flat band).
    Miss,
    /// A neutral signal and the price indeed stayed within the flat band.
    Flat,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 3] = [OutcomeKind::Hit, OutcomeKind::Miss, OutcomeKind::Flat];
    /// The text forms, for validation messages and schemas.
    pub const NAMES: [&'static str; 3] = ["hit", "miss", "flat"];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Hit => "hit",
            OutcomeKind::Miss => "miss",
            OutcomeKind::Flat => "flat",
        }
    }

    pub fn parse(s: &str) -> Option<OutcomeKind> {
        OutcomeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Hit and flat are the signal being right.
    pub fn correct(self) -> bool {
        !matches!(self, OutcomeKind::Miss)
    }
}

/// The feedback `source` of the outcomes brain scores itself (one row per signal in
/// `signal_feedback`); Eye shows the row of this source as a signal's `outcome`.
pub const AUTO_FEEDBACK_SOURCE: &str = "auto";

/// A signal's automatic outcome: what became of it over its horizon, and when that was
/// scored (Unix seconds). Eye shows it as `outcome` on every signal (null until scored);
/// `aivex replay` writes it in its `--signals` lines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignalOutcome {
    pub kind: OutcomeKind,
    /// exit / entry - 1 over the horizon.
    pub realized_return: f64,
    pub scored_at: i64,
}

impl SignalOutcome {
    /// The outcome stored in an automatic feedback row (`outcome` text, `realized_return`,
    /// `at`); None when the row does not hold one (an unknown outcome text, no return).
    pub fn from_feedback(
        outcome: &str,
        realized_return: Option<f64>,
        at: i64,
    ) -> Option<SignalOutcome> {
        Some(SignalOutcome {
            kind: OutcomeKind::parse(outcome)?,
            realized_return: realized_return.filter(|r| r.is_finite())?,
            scored_at: at,
        })
    }
}

/// Reason codes as stored in `signals.reasons` and `governor_log.reason_codes`: stable
/// upper-case codes (`MIN_CONFIDENCE`) joined by commas, empty for an allow.
pub struct ReasonCodes;

impl ReasonCodes {
    pub fn encode<S: AsRef<str>>(codes: &[S]) -> String {
        let mut out = String::new();
        for (i, c) in codes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(c.as_ref());
        }
        out
    }

    pub fn decode(text: &str) -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// A well-formed code: 1-64 of `A-Z`, `0-9`, `_`, starting with a letter.
    pub fn valid(code: &str) -> bool {
        code.len() <= 64
            && code.starts_with(|c: char| c.is_ascii_uppercase())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()), Some(o));
        }
        for (k, name) in OutcomeKind::ALL.into_iter().zip(OutcomeKind::NAMES) {
            assert_eq!(k.as_str(), name);
            assert_eq!(OutcomeKind::parse(name), Some(k));
        }
        assert_eq!(Verdict::parse("ALLOW"), None);
    }

    #[test]
    fn outcome_round_trips_and_reads_feedback_rows() {
        let o = SignalOutcome {
            kind: OutcomeKind::Hit,
            realized_return: 0.0125,
            scored_at: 1_795_132_800,
        };
        let text = serde_json::to_string(&o).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"hit","realized_return":0.0125,"scored_at":1795132800}"#
        );
        assert_eq!(serde_json::from_str::<SignalOutcome>(&text).unwrap(), o);
        assert_eq!(
            SignalOutcome::from_feedback("hit", Some(0.0125), 1_795_132_800),
            Some(o)
        );
        assert_eq!(SignalOutcome::from_feedback("win", Some(0.1), 1), None);
        assert_eq!(SignalOutcome::from_feedback("miss", None, 1), None);
        assert_eq!(
            SignalOutcome::from_feedback("miss", Some(f64::NAN), 1),
            None
        );
    }

    #[test]
    fn reason_codes_and_components_round_trip() {
        for codes in [
            vec![],
            vec!["HALTED"],
            vec!["MIN_CONFIDENCE", "COOLDOWN_ACTIVE"],
        ] {
            let text = ReasonCodes::encode(&codes);
            assert_eq!(ReasonCodes::decode(&text), codes);
            assert!(codes.iter().all(|c| ReasonCodes::valid(c)));
        }
        assert_eq!(ReasonCodes::encode(&["A", "B"]), "A,B");
        assert!(!ReasonCodes::valid("a,b") && !ReasonCodes::valid("") && !ReasonCodes::valid("1X"));
        let stored = StoredComponents {
            components: vec![ComponentContribution {
                kind: Kind::News,
                value: 0.5,
                weight: 0.3,
                effective_weight: 1.0,
                contribution: 0.5,
                as_of: Some(10),
                age_s: Some(5),
                freshness: 0.9,
                present: true,
            }],
            factors: ConfidenceFactors {
                coverage: 0.3,
                agreement: 1.0,
                freshness: 0.9,
                strength: 1.0,
            },
        };
        assert_eq!(StoredComponents::decode(&stored.encode()).unwrap(), stored);
        assert!(StoredComponents::decode("{}")
            .unwrap_err()
            .contains("missing field"));
    }
}
