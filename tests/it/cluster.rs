//! Several boxes on one MariaDB (issue 17): real `aivex run` supervisors, each with its own
//! directory, config and node id, sharing a fresh database on the private server
//! (`AIVEX_TEST_MYSQL_URL`, required under CI). Brain composes seeded components; the tests
//! read the lease table and the signals' `node_id`/`shard`/`epoch` from outside.
//!
//! Lease ttl is 3 s here, brain's cycle 1 s, so a failover is due within ttl + ttl/3 + a cycle
//! (5 s); deadlines allow for a loaded 2-core machine.

use crate::cluster_nodes::*;
use crate::harness::*;
use crate::pipeline::mysql_url;
use aivex_cluster::shard_of;
use aivex_store::SignalRecord;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Eye on p2: `/health`'s cluster check passes, `/modules` lists p2's shards, `/metrics` has
/// the gauges, every signal names its node, shard and epoch.
fn eye_shows_the_cluster(eye: std::net::SocketAddr, holders: &BTreeMap<u32, String>) {
    let mine: BTreeSet<u64> = holders
        .iter()
        .filter(|(_, h)| h.as_str() == "p2")
        .map(|(s, _)| u64::from(*s))
        .collect();
    let health = wait_for("Eye's cluster check", secs(30.0), || {
        let (status, body) = http(eye, "GET", "/health", None)?;
        let check = body["checks"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == "cluster")?
            .clone();
        (status == 200 && check["ok"] == true).then_some(check)
    });
    assert!(
        health["detail"].as_str().unwrap().contains("node p2"),
        "{health}"
    );
    let listed = wait_for("/modules lists p2's shards", secs(30.0), || {
        let (_, body) = http(eye, "GET", "/modules", None)?;
        let got: BTreeSet<u64> = body["cluster"]["shards"]
            .as_array()?
            .iter()
            .filter_map(|s| s["shard"].as_u64())
            .collect();
        (got == mine).then_some(body)
    });
    assert_eq!(listed["cluster"]["node_id"], "p2");
    let (_, metrics) = http(eye, "GET", "/metrics", None).unwrap();
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(&format!(
            "aivex_cluster_shards_held{{node=\"p2\"}} {}",
            mine.len()
        )) && text.contains(&format!("aivex_cluster_shards {SHARDS}")),
        "{text}"
    );
    // Eye's read model takes the stored signals in at its next housekeeping cycle (2 s): the
    // page may lag the store by that much.
    let page = wait_for(
        "Eye's /signals shows the stored signals",
        secs(30.0),
        || {
            let (_, page) = http(eye, "GET", "/signals?limit=100", None)?;
            (!page["signals"].as_array()?.is_empty()).then_some(page)
        },
    );
    let signals = page["signals"].as_array().unwrap();
    assert!(!signals.is_empty());
    for s in signals {
        let shard = shard_of(s["symbol"].as_str().unwrap(), SHARDS);
        assert_eq!(s["shard"], u64::from(shard), "{s}");
        assert!(
            s["node_id"].is_string() && s["epoch"].as_i64().unwrap() >= 1,
            "{s}"
        );
    }
}

#[test]
fn cluster_on_sqlite_is_a_config_error() {
    let env = Env::new("cluster-sqlite");
    env.config("[runtime]\nenabled = []\n\n[cluster]\nenabled = true\n");
    for args in [vec!["check-config"], vec!["run", "--config", "aivex.toml"]] {
        let out = env.run(&args, Duration::from_secs(30));
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("aivex.toml:12:") && err.contains("SQLite"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn three_nodes_share_the_shards_fail_over_and_a_fourth_joins() {
    let Some(mut c) = Cluster::new("main") else {
        return;
    };
    for n in ["n1", "n2", "n3"] {
        c.start("main", n);
    }
    let holders = c.wait_balanced(&["n1", "n2", "n3"], secs(60.0));

    // Once balanced, new inputs: every symbol gets a signal, written by the node holding its
    // shard. (Before that, the first node up held everything for a moment.)
    let start: BTreeSet<String> = c.signals().into_iter().map(|s| s.id).collect();
    c.seed(0.75);
    let fresh = || -> Vec<SignalRecord> {
        c.signals()
            .into_iter()
            .filter(|s| !start.contains(&s.id))
            .collect()
    };
    wait_for("a signal for every symbol", secs(60.0), || {
        let got: BTreeSet<String> = fresh().into_iter().map(|s| s.symbol).collect();
        (got.len() == symbols().len()).then_some(())
    });
    let signals = fresh();
    assert_stamped(&signals);
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    for s in &signals {
        let l = s.lease.as_ref().unwrap();
        *by_node.entry(l.node_id.clone()).or_default() += 1;
        // Holders stay put while nobody joins or leaves.
        assert_eq!(
            holders[&l.shard], l.node_id,
            "{} composed by a non-holder",
            s.id
        );
    }
    assert_eq!(by_node.len(), 3, "{by_node:?}");

    // `aivex cluster status --json` from any node shows the same.
    let out = c
        .node("n2")
        .0
        .run(&["cluster", "status", "--json"], secs(30.0));
    assert!(out.status.success(), "{:?}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{doc}");
    assert!(nodes
        .iter()
        .all(|n| n["alive"] == true && n["last_seen_age_s"].as_f64().unwrap() < TTL_S));
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), SHARDS as usize);
    let listed: usize = shards
        .iter()
        .map(|s| s["symbols"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, symbols().len());
    assert!(shards
        .iter()
        .all(|s| s["holder"].is_string() && s["expires_in_s"].as_f64().unwrap() > 0.0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&c._db.target.password));

    // SIGKILL the node holding the most shards: its shards move and their symbols get
    // signals from the new holders; nothing is written twice.
    let victim = ["n1", "n2", "n3"]
        .into_iter()
        .max_by_key(|n| holders.values().filter(|h| h == n).count())
        .unwrap();
    let moved: Vec<u32> = holders
        .iter()
        .filter(|(_, h)| h.as_str() == victim)
        .map(|(s, _)| *s)
        .collect();
    let orphans: BTreeSet<String> = symbols()
        .into_iter()
        .filter(|s| moved.contains(&shard_of(s, SHARDS)))
        .collect();
    let killed_at = Instant::now();
    c.node(victim).1.signal(libc::SIGKILL);
    c.seed(0.5);
    let rest: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != victim)
        .collect();
    c.wait_balanced(&rest, secs(4.0 * TTL_S + 5.0));
    wait_for(
        "new signals for the dead node's symbols",
        secs(4.0 * TTL_S + 5.0),
        || {
            let fresh: BTreeSet<String> = c
                .signals()
                .into_iter()
                .filter(|s| {
                    orphans.contains(&s.symbol)
                        && s.lease.as_ref().is_some_and(|l| l.node_id != victim)
                })
                .map(|s| s.symbol)
                .collect();
            (fresh == orphans).then_some(())
        },
    );
    eprintln!(
        "failover of {} shard(s) took {:?}",
        moved.len(),
        killed_at.elapsed()
    );
    let signals = c.signals();
    assert_stamped(&signals);
    assert_no_duplicates(&signals);

    // A fourth node joins: it takes a share, and no shard is unheld for longer than a ttl
    // on the way.
    c.start("main", "n4");
    let mut nodes: Vec<&str> = rest.clone();
    nodes.push("n4");
    let mut unheld_since: BTreeMap<u32, Instant> = BTreeMap::new();
    let mut worst = Duration::ZERO;
    let end = Instant::now() + secs(60.0);
    loop {
        let leases = c.leases();
        for l in &leases {
            if l.is_held() {
                if let Some(t) = unheld_since.remove(&l.shard) {
                    worst = worst.max(t.elapsed());
                }
            } else {
                unheld_since.entry(l.shard).or_insert_with(Instant::now);
            }
        }
        let n4 = leases.iter().filter(|l| l.held_by("n4")).count();
        if n4 >= (SHARDS as usize) / nodes.len() && unheld_since.is_empty() {
            break;
        }
        assert!(Instant::now() < end, "n4 never took its share: {leases:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        worst < secs(TTL_S),
        "a shard was unheld for {worst:?} during the join"
    );
    c.wait_balanced(&nodes, secs(30.0));
    c.seed(0.25);
    wait_for("n4 composes", secs(30.0), || {
        c.signals()
            .iter()
            .any(|s| s.lease.as_ref().is_some_and(|l| l.node_id == "n4"))
            .then_some(())
    });
    assert_no_duplicates(&c.signals());
}

#[test]
fn nodes_survive_a_database_restart_without_duplicates_or_losses() {
    // Only where the MariaDB tests run (the shared server's presence says so).
    if mysql_url().is_none() {
        return;
    }
    let server = OwnServer::start();
    let mut c = Cluster::on("restart", &server.url).unwrap();
    c.start("restart", "r1");
    c.start("restart", "r2");
    c.wait_balanced(&["r1", "r2"], secs(60.0));
    wait_for("a signal for every symbol", secs(60.0), || {
        let got: BTreeSet<String> = c.signals().into_iter().map(|s| s.symbol).collect();
        (got.len() == symbols().len()).then_some(())
    });
    let before = c.signals().len();
    let epochs: BTreeMap<u32, i64> = c.leases().into_iter().map(|l| (l.shard, l.epoch)).collect();

    OwnServer::script("halt", &server.dir);
    // Down for longer than the leases live: every lease expires meanwhile.
    std::thread::sleep(secs(2.0 * TTL_S));
    OwnServer::script("resume", &server.dir);

    // Both supervisors lived through it; the leases are taken again at new epochs.
    for n in ["r1", "r2"] {
        assert!(alive(c.node(n).1.pid()), "{n} died with the database");
    }
    c.wait_balanced(&["r1", "r2"], secs(60.0));
    for l in c.leases() {
        assert!(l.epoch > epochs[&l.shard], "{l:?} not re-acquired");
    }
    // Brain went down with the database (exit 75) and was restarted.
    wait_for("brain restarted after the outage", secs(30.0), || {
        let env = &c.node("r1").0;
        let s = env.state()?;
        (s["modules"]["brain"]["restarts"].as_u64()? >= 1
            && s["modules"]["brain"]["state"] == "RUNNING")
            .then_some(())
    });
    assert!(c.node("r1").0.stderr().contains("event=lease_loop_failed"));

    // Nothing was lost or doubled: new inputs give every symbol exactly one new signal.
    assert_eq!(
        c.signals().len(),
        before,
        "a signal appeared without new inputs"
    );
    c.seed(0.5);
    wait_for("a new signal for every symbol", secs(60.0), || {
        (c.signals().len() == before + symbols().len()).then_some(())
    });
    std::thread::sleep(secs(2.0));
    let signals = c.signals();
    assert_eq!(signals.len(), before + symbols().len());
    assert_no_duplicates(&signals);
    assert_stamped(&signals);
}

#[test]
fn a_paused_holder_writes_nothing_under_its_old_epoch() {
    let Some(mut c) = Cluster::new("pause") else {
        return;
    };
    let port = free_port();
    let eye: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    c.start("pause", "p1");
    c.start_with("pause", "p2", Some(port));
    let holders = c.wait_balanced(&["p1", "p2"], secs(60.0));
    wait_for("a signal for every symbol", secs(60.0), || {
        let got: BTreeSet<String> = c.signals().into_iter().map(|s| s.symbol).collect();
        (got.len() == symbols().len()).then_some(())
    });
    eye_shows_the_cluster(eye, &holders);
    let old: BTreeMap<u32, i64> = c
        .leases()
        .into_iter()
        .filter(|l| l.held_by("p1"))
        .map(|l| (l.shard, l.epoch))
        .collect();
    assert!(!old.is_empty(), "{holders:?}");

    // Freeze p1's supervisor and brain for 3 ttls while the inputs change.
    let sup = c.node("p1").1.pid();
    let brain = c.brain_pid("p1");
    for pid in [sup, brain] {
        unsafe { libc::kill(pid, libc::SIGSTOP) };
    }
    // What p1 wrote under its old epochs; brain had nothing left to write (every symbol has
    // its signal and the inputs have not changed), so no transaction of it is open.
    let under_old = |signals: &[SignalRecord]| -> BTreeSet<String> {
        signals
            .iter()
            .filter(|s| {
                s.lease
                    .as_ref()
                    .is_some_and(|l| l.node_id == "p1" && old.get(&l.shard) == Some(&l.epoch))
            })
            .map(|s| s.id.clone())
            .collect()
    };
    let before = under_old(&c.signals());
    c.seed(0.5);
    std::thread::sleep(secs(3.0 * TTL_S));
    let during = c.wait_balanced(&["p2"], secs(4.0 * TTL_S));
    assert!(during.values().all(|h| h == "p2"));
    for pid in [sup, brain] {
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }

    // p1 logs the lost leases, writes nothing under its old epochs after the pause, and
    // rejoins as a normal node (new epochs).
    let env = &c.node("p1").0;
    wait_for("p1 logs its lost leases", secs(30.0), || {
        env.stderr().contains("event=lease_lost").then_some(())
    });
    let after = c.wait_balanced(&["p1", "p2"], secs(60.0));
    let leases = c.leases();
    for (shard, holder) in &after {
        if holder == "p1" {
            let l = leases.iter().find(|l| l.shard == *shard).unwrap();
            assert!(l.epoch > old.get(shard).copied().unwrap_or(0), "{l:?}");
        }
    }
    c.seed(0.25);
    wait_for("p1 composes again", secs(30.0), || {
        c.signals()
            .iter()
            .any(|s| {
                s.lease.as_ref().is_some_and(|l| {
                    l.node_id == "p1" && old.get(&l.shard).is_none_or(|e| l.epoch > *e)
                })
            })
            .then_some(())
    });
    let signals = c.signals();
    assert_eq!(
        under_old(&signals),
        before,
        "p1 wrote under an old epoch after the pause"
    );
    assert_stamped(&signals);
    assert_no_duplicates(&signals);
}

#[test]
fn a_node_with_another_shard_count_says_so() {
    let Some(mut c) = Cluster::new("mismatch") else {
        return;
    };
    // Rows of a box configured for twice the shards.
    c.store().ensure_shards(2 * SHARDS).unwrap();
    c.start("mismatch", "m1");
    let env = &c.node("m1").0;
    wait_for("the shard count mismatch logged", secs(30.0), || {
        env.stderr()
            .contains("event=shard_count_mismatch node=m1")
            .then_some(())
    });
    // It still takes only its own shards.
    wait_for("m1 holds its 8 shards", secs(30.0), || {
        let held = c.leases().iter().filter(|l| l.held_by("m1")).count();
        (held == SHARDS as usize).then_some(())
    });
    assert!(c.leases().iter().all(|l| l.shard < SHARDS || !l.is_held()));
}
