//! The cluster tests' harness (tests/it/cluster.rs): a fresh database with N real `aivex run`
//! nodes (brain, optionally Eye) on it, the lease table and signals read from outside, the
//! invariants every test checks (no duplicate, every signal stamped with its shard), and a
//! private MariaDB of a test's own for the database-restart test.

use crate::harness::*;
use crate::pipeline::{mysql_exec, mysql_url, parse_mysql, TempDb};
use aivex_cluster::shard_of;
use aivex_store::{Component, SignalFilter, SignalRecord, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub(crate) const SHARDS: u32 = 8;
pub(crate) const TTL_S: f64 = 3.0;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn symbols() -> Vec<String> {
    (0..24).map(|i| format!("SYM{i:02}")).collect()
}

/// A fresh database on the private server, migrated with `aivex migrate`.
pub(crate) struct Cluster {
    pub(crate) url: String,
    pub(crate) _db: TempDb,
    pub(crate) nodes: BTreeMap<String, (Env, Supervisor)>,
}

impl Cluster {
    pub(crate) fn new(name: &str) -> Option<Cluster> {
        Cluster::on(name, &mysql_url()?)
    }

    /// A cluster on the server of `base` (a `mysql://` URL).
    pub(crate) fn on(name: &str, base: &str) -> Option<Cluster> {
        let target = parse_mysql(base);
        let db = format!("aivex_cluster_{}_{name}", std::process::id());
        mysql_exec(
            &target,
            &format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"),
        );
        let url = format!(
            "mysql://{}:{}@{}:{}/{db}{}",
            target.user, target.password, target.host, target.port, target.params
        );
        let c = Cluster {
            url,
            _db: TempDb { target, name: db },
            nodes: BTreeMap::new(),
        };
        let env = c.env("migrate", "m0");
        let out = env.run(&["migrate"], Duration::from_secs(60));
        assert!(out.status.success(), "migrate: {:?}", text(&out));
        c.seed(1.0);
        Some(c)
    }

    pub(crate) fn store(&self) -> Store {
        Store::open(&self.url).unwrap()
    }

    /// A node's directory: brain composing every seeded symbol every second, and Eye on
    /// `eye_port` if given.
    pub(crate) fn env_with(&self, name: &str, node: &str, eye_port: Option<u16>) -> Env {
        let env = Env::new(&format!("cluster-{name}-{node}"));
        let (enabled, eye) = match eye_port {
            Some(p) => (
                "\"brain\", \"eye\"",
                format!("[eye]\nlisten = \"127.0.0.1:{p}\"\n"),
            ),
            None => ("\"brain\"", String::new()),
        };
        env.config(&format!(
            "[runtime]\nenabled = [{enabled}]\n[database]\nurl = \"{}\"\n{eye}\
             [cluster]\nenabled = true\nnode_id = \"{node}\"\nshards = {SHARDS}\nlease_ttl_s = {TTL_S}\n",
            self.url
        ));
        env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
        let list: Vec<String> = symbols().iter().map(|s| format!("\"{s}\"")).collect();
        env.module(
            "brain",
            &format!(
                "builtin = \"brain\"\ninterval_s = 1\n[settings]\nsymbols = [{}]\n\
                 min_value_change = 0.0001\nbackfill_days = 0\n\
                 [settings.weights]\nchart = 1.0\nnews = 0.0\nmetrics = 0.0\n\
                 [settings.governor]\nmin_confidence = 0.0\ndeny_neutral = false\n",
                list.join(", ")
            ),
        );
        env
    }

    pub(crate) fn env(&self, name: &str, node: &str) -> Env {
        self.env_with(name, node, None)
    }

    pub(crate) fn start(&mut self, name: &str, node: &str) {
        self.start_with(name, node, None)
    }

    pub(crate) fn start_with(&mut self, name: &str, node: &str, eye_port: Option<u16>) {
        let env = self.env_with(name, node, eye_port);
        let sup = env.start(&[]);
        self.nodes.insert(node.to_string(), (env, sup));
    }

    /// Every symbol's chart component, at `value` (a new value makes brain compose again).
    pub(crate) fn seed(&self, value: f64) {
        let t = now();
        let rows: Vec<Component> = symbols()
            .iter()
            .enumerate()
            .map(|(i, s)| Component {
                symbol: s.clone(),
                kind: "chart".into(),
                value: (value + i as f64 * 0.01).min(1.0),
                as_of: t,
                computed_at: t,
                detail: "{}".into(),
            })
            .collect();
        self.store().upsert_components(&rows).unwrap();
    }

    pub(crate) fn leases(&self) -> Vec<aivex_cluster::Lease> {
        self.store().shard_leases().unwrap_or_default()
    }

    /// shard → holder, when every shard is held; None otherwise.
    pub(crate) fn holders(&self) -> Option<BTreeMap<u32, String>> {
        let leases = self.leases();
        if leases.len() != SHARDS as usize || !leases.iter().all(|l| l.is_held()) {
            return None;
        }
        Some(
            leases
                .into_iter()
                .map(|l| (l.shard, l.holder.unwrap_or_default()))
                .collect(),
        )
    }

    pub(crate) fn signals(&self) -> Vec<SignalRecord> {
        self.store()
            .signals_query(&SignalFilter::default())
            .unwrap()
    }

    /// Waits until every shard is held and the holders are exactly `nodes`, balanced
    /// (⌊shards/n⌋ or ⌈shards/n⌉ each).
    pub(crate) fn wait_balanced(
        &self,
        nodes: &[&str],
        deadline: Duration,
    ) -> BTreeMap<u32, String> {
        let want: BTreeSet<&str> = nodes.iter().copied().collect();
        let (lo, hi) = (
            SHARDS as usize / nodes.len(),
            (SHARDS as usize).div_ceil(nodes.len()),
        );
        wait_for(&format!("shards balanced over {nodes:?}"), deadline, || {
            let h = self.holders()?;
            let mut load: BTreeMap<&str, usize> = BTreeMap::new();
            for holder in h.values() {
                *load.entry(holder.as_str()).or_default() += 1;
            }
            let ok = load.keys().copied().collect::<BTreeSet<_>>() == want
                && load.values().all(|n| (lo..=hi).contains(n));
            ok.then_some(h)
        })
    }

    pub(crate) fn node(&self, node: &str) -> &(Env, Supervisor) {
        &self.nodes[node]
    }

    pub(crate) fn brain_pid(&self, node: &str) -> i32 {
        let env = &self.node(node).0;
        let s = env.wait_module("brain", "RUNNING", Duration::from_secs(30));
        s["modules"]["brain"]["pid"].as_i64().unwrap() as i32
    }
}

/// No signal written twice: one lease holder (node, epoch) writes at most one row per (symbol,
/// created_at), and no two rows share a symbol and inputs under one epoch. (Two rows of one
/// symbol in one second can be right when its shard moved within that second and the inputs
/// changed meanwhile: the old holder decided the old inputs, the new holder the new ones.)
pub(crate) fn assert_no_duplicates(signals: &[SignalRecord]) {
    let mut seen = BTreeSet::new();
    for s in signals {
        let stamp = s.lease.as_ref().map(|l| (l.node_id.clone(), l.epoch));
        assert!(
            seen.insert((s.symbol.clone(), s.created_at, stamp)),
            "two signals for {} at {} under one lease: {:#?}",
            s.symbol,
            s.created_at,
            signals
                .iter()
                .filter(|o| o.symbol == s.symbol && o.created_at == s.created_at)
                .collect::<Vec<_>>()
        );
    }
    let mut inputs = BTreeSet::new();
    for s in signals {
        let stamp = s.lease.as_ref().map(|l| l.epoch);
        assert!(
            inputs.insert((s.symbol.clone(), s.components_json.clone(), stamp)),
            "two signals for {} with the same inputs under one epoch",
            s.symbol
        );
    }
}

/// Each signal was written by the node holding its symbol's shard, under a stamp that names
/// that shard.
pub(crate) fn assert_stamped(signals: &[SignalRecord]) {
    for s in signals {
        let l = s
            .lease
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no lease stamp", s.id));
        assert_eq!(l.shard, shard_of(&s.symbol, SHARDS), "{}", s.id);
        assert!(l.epoch >= 1, "{}", s.id);
    }
}

/// A private MariaDB of one test's own (it is halted and resumed: the shared test server must
/// not be). Stopped and removed on drop.
pub(crate) struct OwnServer {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) url: String,
}

impl OwnServer {
    pub(crate) fn script(cmd: &str, dir: &std::path::Path) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mariadb-private");
        let out = std::process::Command::new(script)
            .args([cmd, dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb-private {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn start() -> OwnServer {
        let dir = std::env::temp_dir().join(format!("aivex-it-own-db-{}", std::process::id()));
        let vars = OwnServer::script("start", &dir);
        let url = vars
            .lines()
            .find_map(|l| l.strip_prefix("AIVEX_TEST_MYSQL_URL="))
            .expect("mariadb-private prints the URL")
            .to_string();
        OwnServer { dir, url }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mariadb-private");
        let _ = std::process::Command::new(script)
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
    }
}
