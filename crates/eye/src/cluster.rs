//! Eye's view of the cluster this box belongs to (`[cluster] enabled`): the node and lease
//! rows the housekeeping probe reads, and what they become in `/health` (the `cluster` check),
//! `/modules` (the shards this node holds) and `/metrics` (shard and lease gauges).
//!
//! Every function here is pure over a probe taken earlier (times are seconds on the database's
//! clock), so no request reads the store for it. It must not read the clock or the store;
//! the verdict itself is `aivex_cluster::judge`.

use aivex_cluster::{Lease, Node};
use aivex_core::contract::ClusterEnv;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The rows of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub nodes: Vec<Node>,
    pub leases: Vec<Lease>,
}

/// `(ok, detail)` of the `cluster` check. Not a cluster: ok. A cluster without a recent probe
/// of its tables: not ok.
pub fn check(cluster: Option<&ClusterEnv>, view: Option<&Result<View, String>>) -> (bool, String) {
    let Some(c) = cluster else {
        return (true, "not part of a cluster".into());
    };
    let v = match view {
        None => return (false, "cluster tables not probed recently".into()),
        Some(Err(e)) => return (false, format!("cluster tables unreadable: {e}")),
        Some(Ok(v)) => v,
    };
    let mine = v
        .nodes
        .iter()
        .find(|n| n.node_id == c.node_id)
        .map(|n| n.age_s);
    let h = aivex_cluster::judge(c.lease_ttl_s, c.shards, mine, &v.leases);
    if h.ok {
        let held = v.leases.iter().filter(|l| l.held_by(&c.node_id)).count();
        (
            true,
            format!(
                "node {} heartbeat fresh, holds {held} of {} shard(s), every shard held",
                c.node_id, c.shards
            ),
        )
    } else {
        (false, h.problems.join("; "))
    }
}

/// The `cluster` member of `/modules`: this node and the shards it holds.
pub fn modules_json(cluster: Option<&ClusterEnv>, view: Option<&Result<View, String>>) -> Value {
    let Some(c) = cluster else {
        return Value::Null;
    };
    let shards: Vec<Value> = match view {
        Some(Ok(v)) => v
            .leases
            .iter()
            .filter(|l| l.held_by(&c.node_id))
            .map(|l| {
                json!({
                    "shard": l.shard,
                    "epoch": l.epoch,
                    "expires_in_s": (l.expires_in_s * 10.0).round() / 10.0,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    json!({
        "node_id": c.node_id,
        "shard_count": c.shards,
        "lease_ttl_s": c.lease_ttl_s,
        "shards": shards,
    })
}

/// Prometheus gauges of the cluster (nothing outside a cluster or before a probe).
pub fn metrics(cluster: Option<&ClusterEnv>, view: Option<&Result<View, String>>) -> String {
    let (Some(c), Some(Ok(v))) = (cluster, view) else {
        return String::new();
    };
    let mut o = String::new();
    let node = c.node_id.as_str();
    let held = v.leases.iter().filter(|l| l.held_by(node)).count();
    let unheld = v.leases.iter().filter(|l| !l.is_held()).count();
    let alive = v.nodes.iter().filter(|n| n.age_s < c.lease_ttl_s).count();
    let _ = writeln!(o, "# HELP aivex_cluster_shards Number of symbol shards.\n# TYPE aivex_cluster_shards gauge\naivex_cluster_shards {}", c.shards);
    let _ = writeln!(o, "# HELP aivex_cluster_shards_held Shards this node holds a lease on.\n# TYPE aivex_cluster_shards_held gauge\naivex_cluster_shards_held{{node=\"{node}\"}} {held}");
    let _ = writeln!(o, "# HELP aivex_cluster_shards_unheld Shards no live lease covers.\n# TYPE aivex_cluster_shards_unheld gauge\naivex_cluster_shards_unheld {unheld}");
    let _ = writeln!(o, "# HELP aivex_cluster_nodes_alive Nodes whose heartbeat is within the lease ttl.\n# TYPE aivex_cluster_nodes_alive gauge\naivex_cluster_nodes_alive {alive}");
    let _ = writeln!(o, "# HELP aivex_cluster_lease_epoch Fencing epoch of each shard's lease.\n# TYPE aivex_cluster_lease_epoch gauge");
    for l in &v.leases {
        let _ = writeln!(
            o,
            "aivex_cluster_lease_epoch{{shard=\"{}\"}} {}",
            l.shard, l.epoch
        );
    }
    let _ = writeln!(o, "# HELP aivex_cluster_lease_expires_in_seconds Seconds until each shard's lease expires (negative: expired).\n# TYPE aivex_cluster_lease_expires_in_seconds gauge");
    for l in &v.leases {
        let _ = writeln!(
            o,
            "aivex_cluster_lease_expires_in_seconds{{shard=\"{}\"}} {:.3}",
            l.shard, l.expires_in_s
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ClusterEnv {
        ClusterEnv {
            node_id: "a".into(),
            shards: 2,
            lease_ttl_s: 15.0,
            ingest_shard: false,
        }
    }

    fn view(my_age: f64, second: Option<&str>, expires: f64) -> View {
        View {
            nodes: vec![Node {
                node_id: "a".into(),
                age_s: my_age,
                version: "0.1.0".into(),
            }],
            leases: vec![
                Lease {
                    shard: 0,
                    holder: Some("a".into()),
                    epoch: 3,
                    expires_in_s: 10.0,
                },
                Lease {
                    shard: 1,
                    holder: second.map(String::from),
                    epoch: 1,
                    expires_in_s: expires,
                },
            ],
        }
    }

    /// (cluster, probe, ok, detail fragment).
    type Case<'a> = (
        Option<&'a ClusterEnv>,
        Option<Result<View, String>>,
        bool,
        &'a str,
    );

    #[test]
    fn check_table() {
        let e = env();
        let table: [Case; 6] = [
            (None, None, true, "not part of a cluster"),
            (Some(&e), None, false, "not probed"),
            (
                Some(&e),
                Some(Err("down".into())),
                false,
                "unreadable: down",
            ),
            (
                Some(&e),
                Some(Ok(view(1.0, Some("b"), 5.0))),
                true,
                "holds 1 of 2",
            ),
            (
                Some(&e),
                Some(Ok(view(20.0, Some("b"), 5.0))),
                false,
                "heartbeat is 20.0s old",
            ),
            (
                Some(&e),
                Some(Ok(view(1.0, None, -31.0))),
                false,
                "unheld for longer",
            ),
        ];
        for (c, v, ok, text) in table {
            let (got, detail) = check(c, v.as_ref());
            assert_eq!(got, ok, "{detail}");
            assert!(detail.contains(text), "{detail}");
        }
    }

    #[test]
    fn modules_and_metrics_name_this_nodes_shards() {
        let e = env();
        let v = Some(Ok(view(1.0, Some("b"), 5.0)));
        let m = modules_json(Some(&e), v.as_ref());
        assert_eq!(m["node_id"], "a");
        assert_eq!(
            m["shards"],
            json!([{"shard": 0, "epoch": 3, "expires_in_s": 10.0}])
        );
        assert_eq!(modules_json(None, v.as_ref()), Value::Null);
        let text = metrics(Some(&e), v.as_ref());
        for line in [
            "aivex_cluster_shards 2",
            "aivex_cluster_shards_held{node=\"a\"} 1",
            "aivex_cluster_shards_unheld 0",
            "aivex_cluster_nodes_alive 1",
            "aivex_cluster_lease_epoch{shard=\"0\"} 3",
            "aivex_cluster_lease_expires_in_seconds{shard=\"1\"} 5.000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(metrics(None, v.as_ref()).is_empty());
    }
}
