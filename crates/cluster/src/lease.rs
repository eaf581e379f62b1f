//! What a node does about its shard leases on one tick, decided from the rows it just read.
//!
//! Inputs are the `nodes` and `leases` rows with every time already turned into seconds by
//! the database's own clock (`age_s` since a node's last heartbeat, `expires_in_s` of a lease),
//! so no box's clock takes part. The outputs are conditional statements the store runs (each
//! one checks the row is still what it was read as): acquiring bumps the epoch (the fencing
//! token), renewing keeps it, releasing hands a shard to its desired holder. It owns the rules:
//! - a node is live while its heartbeat is younger than the lease ttl;
//! - the desired holder of a shard is `balance::assign` over the live nodes;
//! - a node acquires a desired shard that is free or expired, renews the ones it holds and
//!   wants, and releases the ones it holds but another live node should hold;
//! - a node composes a shard only while its lease has more than a third of the ttl left, i.e.
//!   it was renewed within the last two thirds (`composable`).
//!
//! It must not read a clock or do I/O.

use crate::balance::assign;

/// This node and the cluster's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<'a> {
    pub node_id: &'a str,
    pub shards: u32,
    pub ttl_s: f64,
}

/// A `nodes` row as the lease loop sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub node_id: String,
    /// Seconds since its last heartbeat, on the database's clock.
    pub age_s: f64,
    pub version: String,
}

/// A `leases` row as the lease loop sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub shard: u32,
    pub holder: Option<String>,
    /// Incremented on every take-over: the fencing token.
    pub epoch: i64,
    /// Seconds until the lease expires (negative once it has), on the database's clock.
    pub expires_in_s: f64,
}

impl Lease {
    /// Held by someone and not expired.
    pub fn is_held(&self) -> bool {
        self.holder.is_some() && self.expires_in_s > 0.0
    }

    pub fn held_by(&self, node: &str) -> bool {
        self.is_held() && self.holder.as_deref() == Some(node)
    }
}

/// One conditional statement for the store. `epoch` is the epoch the row was read at: the
/// statement changes nothing unless the row still has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Free or expired: take it, epoch + 1.
    Acquire { shard: u32, epoch: i64 },
    /// Ours and wanted: push the expiry one ttl ahead.
    Renew { shard: u32, epoch: i64 },
    /// Ours but another live node should hold it: let it go now.
    Release { shard: u32, epoch: i64 },
}

/// The live nodes: heartbeat younger than the ttl. This node always counts (it plans right
/// after writing its own heartbeat).
pub fn live<'a>(p: &Params<'a>, nodes: &'a [Node]) -> Vec<&'a str> {
    let mut out: Vec<&str> = nodes
        .iter()
        .filter(|n| n.age_s < p.ttl_s)
        .map(|n| n.node_id.as_str())
        .collect();
    out.push(p.node_id);
    out.sort_unstable();
    out.dedup();
    out
}

/// This tick's actions, in shard order. A shard without a lease row is left alone (the shell
/// creates the rows before planning).
pub fn plan(p: &Params<'_>, nodes: &[Node], leases: &[Lease]) -> Vec<Action> {
    let desired = assign(p.shards, &live(p, nodes));
    let mut out = Vec::new();
    for l in leases.iter().filter(|l| l.shard < p.shards) {
        let want = desired[l.shard as usize].as_deref() == Some(p.node_id);
        let (shard, epoch) = (l.shard, l.epoch);
        if l.held_by(p.node_id) {
            out.push(if want {
                Action::Renew { shard, epoch }
            } else {
                Action::Release { shard, epoch }
            });
        } else if want && !l.is_held() {
            out.push(Action::Acquire { shard, epoch });
        }
    }
    out
}

/// The shards this node may compose now, with their epochs: held by it with more than a third
/// of the ttl left (renewed within the last two thirds of a ttl).
pub fn composable(node_id: &str, ttl_s: f64, leases: &[Lease]) -> Vec<(u32, i64)> {
    leases
        .iter()
        .filter(|l| l.holder.as_deref() == Some(node_id) && l.expires_in_s > ttl_s / 3.0)
        .map(|l| (l.shard, l.epoch))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::assign;

    fn node(id: &str, age_s: f64) -> Node {
        Node {
            node_id: id.into(),
            age_s,
            version: "0.1.0".into(),
        }
    }

    fn lease(shard: u32, holder: Option<&str>, epoch: i64, expires_in_s: f64) -> Lease {
        Lease {
            shard,
            holder: holder.map(String::from),
            epoch,
            expires_in_s,
        }
    }

    const P: Params<'static> = Params {
        node_id: "a",
        shards: 4,
        ttl_s: 15.0,
    };

    /// Which of 4 shards `a` is the desired holder of with nodes a and b live.
    fn mine_of_two() -> Vec<u32> {
        assign(4, &["a", "b"])
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_deref() == Some("a"))
            .map(|(s, _)| s as u32)
            .collect()
    }

    #[test]
    fn alone_acquires_every_free_or_expired_shard() {
        let leases = [
            lease(0, None, 0, -100.0),
            lease(1, Some("dead"), 3, -0.5),
            lease(2, Some("a"), 7, 10.0),
            lease(3, Some("a"), 2, -1.0),
        ];
        let got = plan(&P, &[node("a", 0.0), node("dead", 40.0)], &leases);
        assert_eq!(
            got,
            vec![
                Action::Acquire { shard: 0, epoch: 0 },
                Action::Acquire { shard: 1, epoch: 3 },
                Action::Renew { shard: 2, epoch: 7 },
                Action::Acquire { shard: 3, epoch: 2 },
            ]
        );
    }

    #[test]
    fn waits_for_a_live_or_unexpired_holder_and_releases_what_is_not_its_share() {
        let mine = mine_of_two();
        assert_eq!(mine.len(), 2);
        // a holds everything; b is live: a keeps its share and releases b's.
        let leases: Vec<Lease> = (0..4).map(|s| lease(s, Some("a"), 1, 12.0)).collect();
        let nodes = [node("a", 0.0), node("b", 1.0)];
        for action in plan(&P, &nodes, &leases) {
            match action {
                Action::Renew { shard, .. } => assert!(mine.contains(&shard)),
                Action::Release { shard, .. } => assert!(!mine.contains(&shard)),
                other => panic!("unexpected {other:?}"),
            }
        }
        // b holds everything: a acquires nothing until b lets go (no shard held twice).
        let leases: Vec<Lease> = (0..4).map(|s| lease(s, Some("b"), 1, 12.0)).collect();
        assert!(plan(&P, &nodes, &leases).is_empty());
        // b's heartbeat is stale but its leases have not expired yet: still wait.
        let nodes = [node("a", 0.0), node("b", 20.0)];
        assert!(plan(&P, &nodes, &leases).is_empty());
        // Expired: a takes every shard, each at the epoch it read.
        let leases: Vec<Lease> = (0..4).map(|s| lease(s, Some("b"), 5, -0.1)).collect();
        assert_eq!(plan(&P, &nodes, &leases).len(), 4);
        assert!(plan(&P, &nodes, &leases)
            .iter()
            .all(|a| matches!(a, Action::Acquire { epoch: 5, .. })));
    }

    #[test]
    fn liveness_is_the_ttl_on_the_database_clock() {
        let nodes = [node("b", 14.9), node("c", 15.0), node("a", 99.0)];
        assert_eq!(live(&P, &nodes), vec!["a", "b"]);
    }

    #[test]
    fn composes_only_with_a_third_of_the_ttl_left() {
        let leases = [
            lease(0, Some("a"), 1, 14.0),
            lease(1, Some("a"), 2, 5.1),
            lease(2, Some("a"), 3, 4.9),
            lease(3, Some("b"), 4, 14.0),
        ];
        assert_eq!(composable("a", 15.0, &leases), vec![(0, 1), (1, 2)]);
    }

    #[test]
    fn rows_beyond_the_configured_shards_are_ignored() {
        let leases = [lease(9, None, 0, -1.0)];
        assert!(plan(&P, &[node("a", 0.0)], &leases).is_empty());
    }
}
