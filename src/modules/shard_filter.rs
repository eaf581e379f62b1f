//! `[cluster] ingest = "shard"`: which symbols this node's ingest modules (chart, metrics)
//! fetch this cycle: those of the shards it holds a live lease on, read once per cycle from the
//! lease table. With `ingest = "all"` (the default) or outside a cluster every box ingests
//! everything (the upserts are idempotent). News feeds are not per symbol, so news always
//! ingests all of them; a source that names no symbol (a multi-symbol file) is always fetched.
//!
//! It owns that filter; it must not decide leases (the supervisor's lease loop does).

use aivex_cluster::shard_of;
use aivex_core::contract::ClusterEnv;
use aivex_core::ModuleError;
use aivex_store::Store;
use std::collections::BTreeSet;

/// The shards whose symbols this node ingests now; `None` means every symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardFilter {
    shards: u32,
    held: BTreeSet<u32>,
}

impl ShardFilter {
    /// Reads the lease table when this box ingests by shard.
    pub fn read(
        cluster: Option<&ClusterEnv>,
        store: &Store,
    ) -> Result<Option<ShardFilter>, ModuleError> {
        let Some(c) = cluster.filter(|c| c.ingest_shard) else {
            return Ok(None);
        };
        let held = store
            .shard_leases()?
            .into_iter()
            .filter(|l| l.held_by(&c.node_id))
            .map(|l| l.shard)
            .collect();
        Ok(Some(ShardFilter {
            shards: c.shards,
            held,
        }))
    }

    pub fn holds(&self, symbol: &str) -> bool {
        self.held.contains(&shard_of(symbol, self.shards))
    }
}

/// Whether a source of `symbol` (None: it names none) is fetched under `filter`.
pub fn fetches(filter: Option<&ShardFilter>, symbol: Option<&str>) -> bool {
    match (filter, symbol) {
        (Some(f), Some(s)) => f.holds(s),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_table() {
        // AAPL is shard 11 of 16, BTCUSDT 12.
        let f = ShardFilter {
            shards: 16,
            held: BTreeSet::from([11]),
        };
        let table = [
            (Some(&f), Some("AAPL"), true),
            (Some(&f), Some("BTCUSDT"), false),
            (Some(&f), None, true),
            (None, Some("BTCUSDT"), true),
        ];
        for (filter, symbol, want) in table {
            assert_eq!(fetches(filter, symbol), want, "{symbol:?}");
        }
    }
}
