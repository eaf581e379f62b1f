//! Brain's side of the cluster: which symbols this node may compose this cycle, and the lease
//! stamp each of its writes carries.
//!
//! At the start of a cycle brain reads the lease table and keeps the shards this node holds
//! with more than a third of the ttl left (`aivex_cluster::lease::composable`: renewed within
//! the last two thirds of a ttl). Each signal it writes carries `(node_id, shard, epoch)`; the
//! store checks that stamp under a row lock inside the write's own transaction, so a write
//! after the lease moved is refused whatever happened in between (a pause, a partition).
//! It owns that per-cycle view; it must not decide leases (the supervisor's lease loop does)
//! or write anything itself.

use aivex_cluster::lease::composable;
use aivex_cluster::shard_of;
use aivex_core::contract::ClusterEnv;
use aivex_store::{LeaseStamp, Store, StoreError};
use std::collections::BTreeMap;

/// The shards this node may compose now. Outside a cluster every symbol is this node's.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    Everything,
    Shards {
        node_id: String,
        shards: u32,
        /// shard → epoch.
        epochs: BTreeMap<u32, i64>,
    },
}

impl Held {
    /// Reads the lease table (cluster) or nothing (a single box).
    pub fn read(cluster: Option<&ClusterEnv>, store: &Store) -> Result<Held, StoreError> {
        let Some(c) = cluster else {
            return Ok(Held::Everything);
        };
        let leases = store.shard_leases()?;
        Ok(Held::Shards {
            node_id: c.node_id.clone(),
            shards: c.shards,
            epochs: composable(&c.node_id, c.lease_ttl_s, &leases)
                .into_iter()
                .collect(),
        })
    }

    /// Whether this node composes `symbol` now.
    pub fn holds(&self, symbol: &str) -> bool {
        match self {
            Held::Everything => true,
            Held::Shards { shards, epochs, .. } => epochs.contains_key(&shard_of(symbol, *shards)),
        }
    }

    /// The stamp a write for `symbol` carries (None on a single box or when not held).
    pub fn stamp(&self, symbol: &str) -> Option<LeaseStamp> {
        match self {
            Held::Everything => None,
            Held::Shards {
                node_id,
                shards,
                epochs,
            } => {
                let shard = shard_of(symbol, *shards);
                epochs.get(&shard).map(|epoch| LeaseStamp {
                    shard,
                    epoch: *epoch,
                    node_id: node_id.clone(),
                })
            }
        }
    }

    /// Forgets a shard whose lease a write found lost, for the rest of the cycle.
    pub fn lose(&mut self, shard: u32) {
        if let Held::Shards { epochs, .. } = self {
            epochs.remove(&shard);
        }
    }

    /// How many shards this node composes (None: not a cluster).
    pub fn count(&self) -> Option<usize> {
        match self {
            Held::Everything => None,
            Held::Shards { epochs, .. } => Some(epochs.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_and_stamps_by_shard() {
        let all = Held::Everything;
        assert!(all.holds("AAPL") && all.stamp("AAPL").is_none());
        // AAPL is shard 11 of 16, BTCUSDT 12 (aivex_cluster::shard's table).
        let mut h = Held::Shards {
            node_id: "n1".into(),
            shards: 16,
            epochs: BTreeMap::from([(11, 4)]),
        };
        assert!(h.holds("AAPL") && !h.holds("BTCUSDT"));
        assert_eq!(
            h.stamp("AAPL"),
            Some(LeaseStamp {
                shard: 11,
                epoch: 4,
                node_id: "n1".into()
            })
        );
        assert_eq!(h.stamp("BTCUSDT"), None);
        h.lose(11);
        assert!(!h.holds("AAPL") && h.count() == Some(0));
    }
}
