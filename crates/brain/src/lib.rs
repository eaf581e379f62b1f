//! aivex-brain: the pure core of the signal engine and the governor.
//!
//! It owns composing a composite signal per symbol (`compose`), the governor's allow/deny
//! rules (`governor`), outcome scoring (`outcome`), calibration (`calibrate`), the dashboard
//! export shapes (`export`) and the point-in-time replay over stored history (`replay`, with
//! the quality report Eye's `/quality` shares). Everything here is a pure function of its
//! inputs and an explicit `now`: this crate must not read the clock, the store, files or the network.
//! The module glue (reading components, writing signals and governor_log rows) lives
//! elsewhere and stays thin. Formulas and rules are documented in README.md.

#![forbid(unsafe_code)]

pub mod calibrate;
pub mod compose;
pub mod emit;
pub mod error;
pub mod export;
pub mod governor;
mod hash;
pub mod kind;
pub mod outcome;
pub mod replay;

pub use calibrate::{calibrate, render_table, Calibration, FeedbackComponent, FeedbackRow};
pub use compose::{
    compose, compose_unidentified, inputs_changed, signal_id, BrainConfig, ComponentContribution,
    ComponentInput, CompositeSignal, ConfidenceFactors,
};
pub use emit::should_emit;
pub use error::BrainError;
pub use export::{governor_summary, latest_signals_export, DecisionRecord, LatestSignal};
pub use governor::{
    config_hash, evaluate, verdict, Decision, GovernorConfig, GovernorHistory, Ledger, RuleResult,
};
pub use kind::{Kind, PerKind, Weights};
pub use outcome::{score_outcome, Outcome, OutcomeKind, ScoredSignal};
