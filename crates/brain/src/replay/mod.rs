//! Replay: the brain run over stored history as it was known at each step time, with the
//! live code, for `aivex replay` (a quality report, "what if" governor settings) and brain's
//! back-fill (signals as of past bar closes, written with origin `backfill`).
//!
//! `asof` holds the point-in-time rules, `engine` the stepping (components, composition, the
//! change test, the governor in replay time, outcomes), `report` the quality report. All of it
//! is pure: the shells load the history from the store and pass every time in. It must not
//! read the clock, the store or files. The rules and the report are documented in
//! crates/brain/README.md ("Replay").

pub mod asof;
pub mod engine;
pub mod report;

pub use asof::parse_duration;
pub use engine::{
    bar_close_steps, grid, scoring_window, Article, History, Replay, ReplayConfig, Replayed,
};
pub use report::{
    render_table, report, Bucket, ReplayedRow, Report, ReportBuilder, ReportHead, Stats,
};

use crate::hash::{canonical_json, sha256_hex};

/// sha256 hex of everything that shapes a replay's decisions (composition, governor, the
/// change test, the bar interval, the news window and half-life), as canonical JSON: two
/// replays with the same hash over the same store give the same signals.
pub fn config_hash(cfg: &ReplayConfig) -> String {
    let value = serde_json::json!({
        "brain": cfg.brain,
        "governor": cfg.governor,
        "min_value_change": cfg.min_value_change,
        "bar_interval_s": cfg.bar_interval_s,
        "news_window_s": cfg.news_window_s,
        "news_half_life_s": cfg.news_half_life_s,
    });
    sha256_hex(canonical_json(&value).as_bytes())
}
