//! `aivex cluster status [--json]`: every node of the cluster (alive, heartbeat age, version)
//! and every shard (holder, epoch, expires in, the configured symbols that hash to it), read
//! from the shared store. Ages and expiries are the database's (seconds on its clock).
//!
//! It owns the command's two output shapes (JSON keys: `nodes` of `{node_id, alive,
//! last_seen_age_s, version}`, `shards` of `{shard, holder, epoch, expires_in_s, symbols,
//! symbols_count}`; `holder` is null when the lease is free or expired). It must not change a
//! lease.

use super::ToolError;
use crate::config::{redact_url, Config};
use aivex_cluster::shard_of;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The symbols the configuration names: every enabled module's `[settings] symbols` and the
/// `symbol` of each of its `sources`.
pub fn configured_symbols(cfg: &Config) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in &cfg.modules {
        if let Some(list) = m.settings.get("symbols").and_then(Value::as_array) {
            out.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
        }
        if let Some(list) = m.settings.get("sources").and_then(Value::as_array) {
            out.extend(
                list.iter()
                    .filter_map(|s| s.get("symbol").and_then(Value::as_str))
                    .map(|s| s.trim().to_ascii_uppercase()),
            );
        }
    }
    out
}

/// The status document (pure over what was read).
pub fn status_doc(
    cfg: &Config,
    nodes: &[aivex_cluster::Node],
    leases: &[aivex_cluster::Lease],
) -> Value {
    let ttl = cfg.cluster.lease_ttl_s;
    let symbols = configured_symbols(cfg);
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "node_id": n.node_id,
                "alive": n.age_s < ttl,
                "last_seen_age_s": round(n.age_s),
                "version": n.version,
            })
        })
        .collect();
    let shards: Vec<Value> = leases
        .iter()
        .filter(|l| l.shard < cfg.cluster.shards)
        .map(|l| {
            let mine: Vec<&String> = symbols
                .iter()
                .filter(|s| shard_of(s, cfg.cluster.shards) == l.shard)
                .collect();
            json!({
                "shard": l.shard,
                "holder": if l.is_held() { l.holder.clone() } else { None },
                "epoch": l.epoch,
                "expires_in_s": round(l.expires_in_s),
                "symbols": mine,
                "symbols_count": mine.len(),
            })
        })
        .collect();
    json!({
        "node_id": cfg.cluster.node_id,
        "enabled": cfg.cluster.enabled,
        "shard_count": cfg.cluster.shards,
        "lease_ttl_s": ttl,
        "nodes": nodes,
        "shards": shards,
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn cluster_status(cfg: &Config, json_out: bool) -> Result<(), ToolError> {
    let shown = redact_url(&cfg.database.url);
    if cfg.database.url.starts_with("sqlite:") {
        return Err(ToolError::Failed(format!(
            "{shown}: a cluster needs a MySQL/MariaDB [database] url"
        )));
    }
    let store = super::open_store(cfg)?;
    let read = |e: aivex_store::StoreError| ToolError::Failed(format!("{shown}: {e}"));
    let nodes = store.cluster_nodes().map_err(read)?;
    let leases = store.shard_leases().map_err(read)?;
    let doc = status_doc(cfg, &nodes, &leases);
    if json_out {
        println!("{doc}");
        return Ok(());
    }
    println!(
        "cluster: {} node(s), {} shard(s), lease ttl {}s ({})",
        nodes.len(),
        cfg.cluster.shards,
        cfg.cluster.lease_ttl_s,
        shown
    );
    println!(
        "{:<24} {:<6} {:>14} {:<10}",
        "NODE", "ALIVE", "LAST SEEN", "VERSION"
    );
    for n in &nodes {
        println!(
            "{:<24} {:<6} {:>13.1}s {:<10}",
            n.node_id,
            if n.age_s < cfg.cluster.lease_ttl_s {
                "yes"
            } else {
                "no"
            },
            n.age_s,
            n.version
        );
    }
    println!(
        "{:<6} {:<24} {:>6} {:>12} {:>8}",
        "SHARD", "HOLDER", "EPOCH", "EXPIRES IN", "SYMBOLS"
    );
    for s in doc["shards"].as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<24} {:>6} {:>11.1}s {:>8}",
            s["shard"],
            s["holder"].as_str().unwrap_or("-"),
            s["epoch"],
            s["expires_in_s"].as_f64().unwrap_or(0.0),
            s["symbols_count"]
        );
    }
    Ok(())
}
