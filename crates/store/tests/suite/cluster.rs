//! Store cases of the cluster work (issue 17), run on both backends by `suite_cases!`: node
//! heartbeats and lease rows on the database's clock, conditional acquire/renew/release with
//! epochs, and the fence: a decision or back-fill batch stamped with a lease this node no longer
//! holds at that epoch writes nothing. On SQLite the cluster tables exist (one schema) but
//! every cluster operation is refused as unsupported.

use super::{log_for, signal, TestDb};
use aivex_cluster::Action;
use aivex_store::{BackfillProgress, LeaseStamp, SignalRecord, StoreError};
use std::time::{Duration, Instant};

fn stamped(id: &str, symbol: &str, node: &str, shard: u32, epoch: i64) -> SignalRecord {
    SignalRecord {
        lease: Some(LeaseStamp {
            shard,
            epoch,
            node_id: node.into(),
        }),
        ..signal(id, symbol, 1000, "allow", 0.6)
    }
}

pub fn cluster_leases_and_fencing(db: &TestDb) {
    let mut s = db.migrated();
    if db.is_sqlite() {
        let unsupported = |e: StoreError| assert!(matches!(e, StoreError::Unsupported(_)), "{e}");
        unsupported(s.ensure_shards(4).expect_err("sqlite"));
        unsupported(s.node_heartbeat("a", "0.1.0", true).expect_err("sqlite"));
        unsupported(s.shard_leases().expect_err("sqlite"));
        let r = stamped("x", "AAPL", "a", 0, 1);
        unsupported(s.record_decision(&r, &log_for(&r)).expect_err("sqlite"));
        assert_eq!(db.raw_count("SELECT COUNT(*) FROM signals"), 0);
        return;
    }
    assert_eq!(s.ensure_shards(4).expect("ensure"), 4);
    assert_eq!(s.ensure_shards(4).expect("again"), 0);
    s.node_heartbeat("a", "0.1.0", true).expect("beat a");
    s.node_heartbeat("b", "0.1.0", true).expect("beat b");
    s.node_heartbeat("a", "0.1.1", false).expect("beat a again");
    let nodes = s.cluster_nodes().expect("nodes");
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        (nodes[0].node_id.as_str(), nodes[0].version.as_str()),
        ("a", "0.1.1")
    );
    assert!(
        nodes.iter().all(|n| (0.0..5.0).contains(&n.age_s)),
        "{nodes:?}"
    );
    let leases = s.shard_leases().expect("leases");
    assert_eq!(leases.len(), 4);
    assert!(
        leases.iter().all(|l| !l.is_held() && l.epoch == 0),
        "{leases:?}"
    );

    // Acquire is a compare-and-set on the epoch: only one of two nodes wins.
    let take = Action::Acquire { shard: 0, epoch: 0 };
    assert!(s.lease_action("a", 15.0, take).expect("a takes"));
    assert!(!s.lease_action("b", 15.0, take).expect("b too late"));
    let l0 = &s.shard_leases().expect("leases")[0];
    assert_eq!((l0.holder.as_deref(), l0.epoch), (Some("a"), 1));
    assert!((13.0..=15.0).contains(&l0.expires_in_s), "{l0:?}");
    // Only the holder at its epoch renews.
    assert!(!s
        .lease_action("b", 15.0, Action::Renew { shard: 0, epoch: 1 })
        .expect("b"));
    assert!(!s
        .lease_action("a", 15.0, Action::Renew { shard: 0, epoch: 0 })
        .expect("old"));
    assert!(s
        .lease_action("a", 15.0, Action::Renew { shard: 0, epoch: 1 })
        .expect("a"));

    // A fenced write under the current lease is stored with its stamp; under an old epoch
    // or another node's name nothing is written.
    let ok = stamped("s1", "AAPL", "a", 0, 1);
    assert!(s.record_decision(&ok, &log_for(&ok)).expect("fenced write"));
    assert_eq!(s.signal("s1").expect("read"), Some(ok.clone()));
    for bad in [
        stamped("s2", "AAPL", "a", 0, 0),
        stamped("s3", "AAPL", "b", 0, 1),
    ] {
        let e = s.record_decision(&bad, &log_for(&bad)).expect_err("stale");
        assert!(matches!(&e, StoreError::LostLease { shard: 0, .. }), "{e}");
    }
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM signals"), 1);
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM governor_log"), 1);

    // An expired lease: a's writes are refused even before anyone takes over; b takes it at
    // epoch + 1 and a's old epoch stays refused.
    assert!(s
        .lease_action("a", 1.0, Action::Acquire { shard: 1, epoch: 0 })
        .expect("a"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.shard_leases().expect("leases")[1].expires_in_s > 0.0 {
        assert!(Instant::now() < deadline, "lease of 1 s never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let late = stamped("s4", "MSFT", "a", 1, 1);
    let e = s
        .record_decision(&late, &log_for(&late))
        .expect_err("expired");
    assert!(e.to_string().contains("(expired)"), "{e}");
    assert!(!s
        .lease_action("a", 15.0, Action::Renew { shard: 1, epoch: 1 })
        .expect("late"));
    assert!(s
        .lease_action("b", 15.0, Action::Acquire { shard: 1, epoch: 1 })
        .expect("b"));
    assert_eq!(s.shard_leases().expect("leases")[1].epoch, 2);
    assert!(s.record_decision(&late, &log_for(&late)).is_err());

    // A back-fill batch with one stale stamp writes no signal and no progress.
    let p = BackfillProgress {
        symbol: "AAPL".into(),
        planned_at: 1,
        window_from: 0,
        window_to: 5000,
        done_until: 0,
        updated_at: 1,
    };
    s.plan_backfill(std::slice::from_ref(&p)).expect("plan");
    let batch: Vec<_> = [
        stamped("b1", "AAPL", "a", 0, 1),
        stamped("b2", "MSFT", "a", 1, 1),
    ]
    .into_iter()
    .map(|r| {
        let g = log_for(&r);
        (r, g)
    })
    .collect();
    let advanced = BackfillProgress {
        done_until: 4000,
        ..p.clone()
    };
    let e = s
        .record_backfill(&batch, &[advanced])
        .expect_err("stale batch");
    assert!(matches!(e, StoreError::LostLease { shard: 1, .. }), "{e}");
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM signals"), 1);
    assert_eq!(s.backfill_progress().expect("progress")[0].done_until, 0);

    // A tick's actions in one transaction, one answer each.
    let tick = [
        Action::Renew { shard: 0, epoch: 1 },
        Action::Acquire { shard: 2, epoch: 0 },
        Action::Acquire { shard: 3, epoch: 5 },
    ];
    assert_eq!(
        s.lease_actions("a", 15.0, &tick).expect("tick"),
        vec![true, true, false]
    );
    assert_eq!(
        s.shard_leases().expect("leases")[2].holder.as_deref(),
        Some("a")
    );

    // Release hands the shard back at once; only the holder at its epoch can.
    assert!(!s
        .lease_action("b", 15.0, Action::Release { shard: 0, epoch: 1 })
        .expect("b"));
    assert!(s
        .lease_action("a", 15.0, Action::Release { shard: 0, epoch: 1 })
        .expect("a"));
    let l0 = &s.shard_leases().expect("leases")[0];
    assert!(
        !l0.is_held() && l0.holder.is_none() && l0.epoch == 1,
        "{l0:?}"
    );
    let after = stamped("s5", "AAPL", "a", 0, 1);
    assert!(s.record_decision(&after, &log_for(&after)).is_err());
}
