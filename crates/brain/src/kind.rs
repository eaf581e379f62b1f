//! Component kinds (chart, news, metrics) and a per-kind value table.
//!
//! It owns the per-kind table (weights, maximum ages) and its defaults; the closed set of kinds
//! and their text names are the stored-signal contract's (`aivex_core::contract::Kind`). It must
//! not know how a component's value is computed.

use serde::{Deserialize, Serialize};

/// The kind of a signal component: which atomic module produced it (the stored contract's
/// type; its text names appear in the store, in signal ids and in settings).
pub use aivex_core::contract::Kind;

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
