//! The `[cluster]` table: several aivex boxes sharing one MySQL/MariaDB store, each holding
//! leases on some of the symbol shards (see ARCHITECTURE.md, "Several boxes").
//!
//! It owns the table's keys, their defaults, the node id (`AIVEX_NODE_ID`, else `[cluster]
//! node_id`, else the host name) and validation with `file:line`, including that a cluster
//! needs MySQL/MariaDB (SQLite is one box's file). It must not open the store or decide leases
//! (that is `aivex-cluster`, the pure core, and the supervisor's lease thread).

use super::locate::line_of;
use super::Problem;
use serde::Deserialize;
use std::path::Path;

/// Which symbols each box's ingest modules fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// Every box ingests everything; the upserts are idempotent.
    All,
    /// Each box ingests only the symbols of the shards it holds.
    Shard,
}

impl Ingest {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingest::All => "all",
            Ingest::Shard => "shard",
        }
    }

    pub fn parse(s: &str) -> Option<Ingest> {
        match s {
            "all" => Some(Ingest::All),
            "shard" => Some(Ingest::Shard),
            _ => None,
        }
    }
}

/// The validated `[cluster]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub enabled: bool,
    /// 1-64 of `A-Z a-z 0-9 . _ -`; unique per box.
    pub node_id: String,
    /// Number of symbol shards; every box of one cluster must use the same.
    pub shards: u32,
    pub lease_ttl_s: f64,
    pub ingest: Ingest,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    enabled: Option<bool>,
    node_id: Option<String>,
    shards: Option<u32>,
    lease_ttl_s: Option<f64>,
    ingest: Option<String>,
}

pub const DEFAULT_SHARDS: u32 = 16;
pub const DEFAULT_LEASE_TTL_S: f64 = 15.0;
/// Below this, a renewal every ttl/3 would hammer the database and a brain cycle could not
/// fit in a lease.
pub const MIN_LEASE_TTL_S: f64 = 1.0;

/// This box's host name (the default node id); "localhost" when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(s) if rc == 0 && !s.is_empty() => s.to_string(),
        _ => "localhost".into(),
    }
}

fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Builds and checks the table. `db_url` is the resolved store URL; `host` the default node id.
pub(super) fn build(
    raw: RawCluster,
    getenv: &dyn Fn(&str) -> Option<String>,
    host: &dyn Fn() -> String,
    db_url: &str,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> ClusterConfig {
    let mut problem = |key: &str, message: String| {
        problems.push(Problem {
            file: path.to_path_buf(),
            line: line_of(text, "cluster", key),
            message,
        })
    };
    let node_id = getenv(aivex_core::contract::env::read::NODE_ID)
        .or(raw.node_id)
        .unwrap_or_else(host);
    if !valid_node_id(&node_id) {
        problem(
            "node_id",
            format!(
                "[cluster] node_id {node_id:?} must be 1-64 of letters, digits, '.', '_', '-' \
                 (set [cluster] node_id or AIVEX_NODE_ID)"
            ),
        );
    }
    let shards = raw.shards.unwrap_or(DEFAULT_SHARDS);
    if !(1..=aivex_cluster::MAX_SHARDS).contains(&shards) {
        problem(
            "shards",
            format!(
                "[cluster] shards must be 1-{}, got {shards}",
                aivex_cluster::MAX_SHARDS
            ),
        );
    }
    let lease_ttl_s = raw.lease_ttl_s.unwrap_or(DEFAULT_LEASE_TTL_S);
    if !(lease_ttl_s.is_finite() && (MIN_LEASE_TTL_S..=3600.0).contains(&lease_ttl_s)) {
        problem(
            "lease_ttl_s",
            format!(
                "[cluster] lease_ttl_s must be {MIN_LEASE_TTL_S}-3600 seconds, got {lease_ttl_s}"
            ),
        );
    }
    let ingest = match raw.ingest.as_deref() {
        None => Ingest::All,
        Some(s) => Ingest::parse(s).unwrap_or_else(|| {
            problem(
                "ingest",
                format!("[cluster] ingest must be \"all\" or \"shard\", got {s:?}"),
            );
            Ingest::All
        }),
    };
    let enabled = raw.enabled.unwrap_or(false);
    if enabled && db_url.starts_with("sqlite:") {
        problem(
            "enabled",
            "[cluster] enabled = true needs a MySQL/MariaDB [database] url: SQLite is one box's \
             file and cannot be shared between boxes"
                .into(),
        );
    }
    ClusterConfig {
        enabled,
        node_id,
        shards,
        lease_ttl_s,
        ingest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawCluster {
        #[derive(Deserialize)]
        struct Doc {
            cluster: RawCluster,
        }
        toml::from_str::<Doc>(text).unwrap().cluster
    }

    fn run(text: &str, env: Option<&str>, url: &str) -> (ClusterConfig, Vec<Problem>) {
        let mut problems = Vec::new();
        let env = env.map(String::from);
        let c = build(
            raw(text),
            &|k| (k == "AIVEX_NODE_ID").then(|| env.clone()).flatten(),
            &|| "box-1".into(),
            url,
            Path::new("aivex.toml"),
            text,
            &mut problems,
        );
        (c, problems)
    }

    const MY: &str = "mysql://u:p@h/d";

    #[test]
    fn defaults_and_node_id_sources() {
        let (c, p) = run("[cluster]\n", None, MY);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            c,
            ClusterConfig {
                enabled: false,
                node_id: "box-1".into(),
                shards: 16,
                lease_ttl_s: 15.0,
                ingest: Ingest::All
            }
        );
        let (c, _) = run("[cluster]\nnode_id = \"n2\"\n", None, MY);
        assert_eq!(c.node_id, "n2");
        let (c, _) = run("[cluster]\nnode_id = \"n2\"\n", Some("n3"), MY);
        assert_eq!(c.node_id, "n3");
    }

    #[test]
    fn bad_values_name_file_and_line() {
        let table = [
            (
                "[cluster]\nenabled = true\n",
                "sqlite:///x/aivex.sqlite",
                "aivex.toml:2:",
                "SQLite",
            ),
            (
                "[cluster]\n\nshards = 0\n",
                MY,
                "aivex.toml:3:",
                "shards must be 1-1024",
            ),
            (
                "[cluster]\nlease_ttl_s = 0.1\n",
                MY,
                "aivex.toml:2:",
                "lease_ttl_s",
            ),
            (
                "[cluster]\ningest = \"some\"\n",
                MY,
                "aivex.toml:2:",
                "ingest must be",
            ),
            (
                "[cluster]\nnode_id = \"a b\"\n",
                MY,
                "aivex.toml:2:",
                "node_id \"a b\"",
            ),
        ];
        for (text, url, at, what) in table {
            let (_, p) = run(text, None, url);
            assert_eq!(p.len(), 1, "{text}: {p:?}");
            let msg = p[0].to_string();
            assert!(msg.starts_with(at) && msg.contains(what), "{text}: {msg}");
        }
        let (c, p) = run("[cluster]\nenabled = true\ningest = \"shard\"\n", None, MY);
        assert!(p.is_empty() && c.enabled && c.ingest == Ingest::Shard);
    }
}
