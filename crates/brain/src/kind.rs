//! Component kinds (chart, news, metrics) and a per-kind value table.
//!
//! It owns the closed set of component kinds and their stable text names, which appear in the
//! store, in signal ids and in settings. It must not know how a component's value is computed.

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

/// One value per kind, as written in settings (`{chart = .., news = .., metrics = ..}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerKind<T> {
    pub chart: T,
    pub news: T,
    pub metrics: T,
}

impl<T: Copy> PerKind<T> {
    pub fn get(&self, kind: Kind) -> T {
        match kind {
            Kind::Chart => self.chart,
            Kind::News => self.news,
            Kind::Metrics => self.metrics,
        }
    }
}

/// Configured component weights (`[settings.weights]`).
pub type Weights = PerKind<f64>;

impl Default for Weights {
    fn default() -> Self {
        PerKind {
            chart: 0.5,
            news: 0.3,
            metrics: 0.2,
        }
    }
}

/// The default maximum input ages, shared by composition freshness and the governor's
/// STALE_INPUT rule: daily bars go stale over a long weekend plus a day, news within two days,
/// fundamentals are quarterly (200 days leaves room for a late filing).
pub const DEFAULT_MAX_AGE_S: PerKind<i64> = PerKind {
    chart: 4 * 86_400,
    news: 2 * 86_400,
    metrics: 200 * 86_400,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(Kind::parse("Chart"), None);
        assert_eq!(Kind::parse(""), None);
    }
}
