//! Store cases of the read model (issue 14), run on both backends by `suite_cases!`:
//! `signals_latest` back-filled by its migration and kept in the writing transaction of every
//! signal and automatic outcome, the read-model version, changes read after a version, and
//! pages read in one snapshot while a writer commits.

use super::{log_for, signal, with_deadline, TestDb};
use aivex_store::{BackfillProgress, Feedback, LatestRow, SignalFilter, Store, SCHEMA_VERSION};

fn latest(s: &Store) -> Vec<(String, String, i64)> {
    s.signals_latest()
        .expect("latest")
        .into_iter()
        .map(|r| (r.symbol, r.signal_id, r.created_at))
        .collect()
}

fn row(sym: &str, id: &str, at: i64) -> (String, String, i64) {
    (sym.into(), id.into(), at)
}

fn auto(signal_id: &str, at: i64) -> Feedback {
    Feedback {
        signal_id: signal_id.into(),
        source: "auto".into(),
        outcome: "hit".into(),
        realized_return: Some(0.01),
        horizon_s: Some(86_400),
        note: None,
        at,
    }
}

pub fn signals_latest_backfilled_by_its_migration(db: &TestDb) {
    let mut s = db.migrated();
    for (id, sym, at) in [
        ("a1", "AAPL", 100),
        ("a2", "AAPL", 300),
        ("a0", "AAPL", 200),
        // A tie on created_at: the greater id is the latest, as in every signals query.
        ("m1", "MSFT", 300),
        ("m2", "MSFT", 300),
        ("n1", "NVDA", 50),
    ] {
        let sig = signal(id, sym, at, "allow", 0.5);
        assert!(s.record_decision(&sig, &log_for(&sig)).expect("record"));
    }
    let want = vec![
        row("MSFT", "m2", 300),
        row("AAPL", "a2", 300),
        row("NVDA", "n1", 50),
    ];
    assert_eq!(latest(&s), want, "kept by the writes");
    // Back to version 5 with these signals, then migrate: the migration fills the table.
    drop(s);
    db.raw("DROP TABLE signals_latest");
    db.raw("DROP TABLE signals_version");
    // Version 8 (the cluster tables and the signals' lease columns) is undone too, so the
    // store really is at version 5 and every later migration runs again.
    db.raw("DROP TABLE nodes");
    db.raw("DROP TABLE leases");
    if db.is_sqlite() {
        db.raw(
            "DROP INDEX signals_node; ALTER TABLE signals DROP COLUMN node_id; \
             ALTER TABLE signals DROP COLUMN shard; ALTER TABLE signals DROP COLUMN epoch",
        );
    } else {
        db.raw(
            "ALTER TABLE signals DROP KEY signals_node, DROP COLUMN node_id, \
             DROP COLUMN shard, DROP COLUMN epoch",
        );
    }
    db.raw("DELETE FROM schema_migrations WHERE version >= 6");
    let mut s = db.open();
    assert_eq!(s.schema_version().expect("v5"), 5);
    let r = s.migrate().expect("migrate to 7");
    assert_eq!(r.applied, (6..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(latest(&s), want, "back-filled by the migration");
    assert_eq!(s.signals_version().expect("version"), 1);
    assert!(s
        .signals_latest()
        .expect("rows")
        .iter()
        .all(|r| r.version == 1));
    // The plain latest-per-symbol query reads the table, the same rows either way.
    let plain = s
        .signals_query(&SignalFilter {
            latest_per_symbol: true,
            ..Default::default()
        })
        .expect("plain");
    let ids: Vec<&str> = plain.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["m2", "a2", "n1"]);
    let sig = signal("n2", "NVDA", 400, "deny", 0.5);
    assert!(s.record_decision(&sig, &log_for(&sig)).expect("record"));
    assert_eq!(s.signals_version().expect("version"), 2);
    assert_eq!(latest(&s).first(), Some(&row("NVDA", "n2", 400)));
}

pub fn signals_latest_follows_every_write(db: &TestDb) {
    let mut s = db.migrated();
    assert_eq!(s.signals_version().expect("v"), 1);
    assert!(s.signals_latest().expect("empty").is_empty());
    let rec = |s: &mut Store, id: &str, sym: &str, at: i64| {
        let sig = signal(id, sym, at, "allow", 0.5);
        s.record_decision(&sig, &log_for(&sig)).expect("record")
    };
    assert!(rec(&mut s, "a2", "AAPL", 200));
    assert!(rec(&mut s, "m1", "MSFT", 150));
    // An older signal arriving later stamps its symbol (its history changed) but does not
    // replace the latest; a repeated id changes nothing at all.
    assert!(rec(&mut s, "a1", "AAPL", 100));
    assert!(!rec(&mut s, "a1", "AAPL", 100));
    assert_eq!(s.signals_version().expect("v"), 4);
    let rows = s.signals_latest().expect("rows");
    assert_eq!(
        rows,
        vec![
            LatestRow {
                symbol: "AAPL".into(),
                signal_id: "a2".into(),
                created_at: 200,
                version: 4
            },
            LatestRow {
                symbol: "MSFT".into(),
                signal_id: "m1".into(),
                created_at: 150,
                version: 3
            },
        ]
    );
    // A back-fill batch is one transaction: one version for all of its signals.
    let mut b = signal("b1", "TSLA", 90, "allow", 0.5);
    b.origin = "backfill".into();
    let mut b2 = signal("b2", "TSLA", 95, "allow", 0.5);
    b2.origin = "backfill".into();
    let progress = BackfillProgress {
        symbol: "TSLA".into(),
        planned_at: 1,
        window_from: 90,
        window_to: 95,
        done_until: 95,
        updated_at: 2,
    };
    s.plan_backfill(std::slice::from_ref(&progress))
        .expect("plan");
    assert_eq!(
        s.record_backfill(
            &[(b.clone(), log_for(&b)), (b2.clone(), log_for(&b2))],
            &[progress]
        )
        .expect("batch"),
        2
    );
    assert_eq!(s.signals_version().expect("v"), 5);
    // An automatic outcome changes what the endpoints show: its symbol is stamped. Feedback
    // from anyone else is not shown there and changes no version.
    s.insert_feedback(&Feedback {
        source: "alice".into(),
        ..auto("m1", 500)
    })
    .expect("alice");
    assert_eq!(s.signals_version().expect("v"), 5);
    s.insert_feedback(&auto("m1", 500)).expect("auto");
    assert_eq!(s.signals_version().expect("v"), 6);
    assert_eq!(
        s.insert_feedbacks(&[auto("m1", 501), auto("a1", 501), auto("b1", 501)])
            .expect("batch"),
        2
    );
    assert_eq!(
        s.signals_version().expect("v"),
        7,
        "one version per transaction"
    );

    // Changes after a version, in version order, with their context, in bounded pages.
    let all = s.read_model_changes(0, None, 10, "auto").expect("all");
    assert!(all.complete);
    assert_eq!(all.version, 7);
    let got: Vec<(&str, i64, &str, bool, bool)> = all
        .changed
        .iter()
        .map(|(r, c)| {
            (
                r.symbol.as_str(),
                r.version,
                c.signal.id.as_str(),
                c.governor.is_empty(),
                c.outcome.is_some(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("MSFT", 6, "m1", false, true),
            ("AAPL", 7, "a2", false, false),
            ("TSLA", 7, "b2", false, false),
        ]
    );
    // Paged by (version, symbol): AAPL and TSLA share version 7, the walk resumes between.
    let first = s.read_model_changes(5, None, 2, "auto").expect("page");
    assert_eq!((first.changed.len(), first.complete), (2, false));
    let (v, sym) = (
        first.changed[1].0.version,
        first.changed[1].0.symbol.clone(),
    );
    assert_eq!((v, sym.as_str()), (7, "AAPL"));
    let rest = s
        .read_model_changes(v, Some(&sym), 5, "auto")
        .expect("rest");
    let names: Vec<&str> = rest
        .changed
        .iter()
        .map(|(r, _)| r.symbol.as_str())
        .collect();
    assert_eq!((names, rest.complete), (vec!["TSLA"], true));
    assert!(s
        .read_model_changes(7, None, 5, "auto")
        .expect("none")
        .changed
        .is_empty());

    // A page with its version: the symbol's for one symbol, the model's otherwise.
    let page = s
        .signal_page(
            &SignalFilter {
                symbol: Some("AAPL".into()),
                limit: Some(10),
                ..Default::default()
            },
            "auto",
        )
        .expect("page");
    assert_eq!(page.version, 7);
    let ids: Vec<&str> = page.rows.iter().map(|c| c.signal.id.as_str()).collect();
    assert_eq!(ids, ["a2", "a1"]);
    assert!(page.rows[1].outcome.is_some() && page.rows[0].outcome.is_none());
    let none = s
        .signal_page(
            &SignalFilter {
                symbol: Some("NONE".into()),
                ..Default::default()
            },
            "auto",
        )
        .expect("empty");
    assert_eq!((none.version, none.rows.len()), (0, 0));
    let global = s
        .signal_page(
            &SignalFilter {
                latest_per_symbol: true,
                ..Default::default()
            },
            "auto",
        )
        .expect("global");
    assert_eq!(global.version, 7);
    assert_eq!(global.rows.len(), 3);
}

/// A reader of changes and pages while a writer commits signals: every snapshot pairs a
/// symbol's row with its own signal and governor line, and never goes back.
pub fn read_model_snapshots_while_writing(db: &TestDb) {
    let s = db.migrated();
    let url = db_url(db);
    let n = 60;
    let writer = std::thread::spawn(move || {
        let mut w = Store::open(&url).expect("writer");
        for i in 1..=n {
            let sig = signal(&format!("w{i:03}"), "LIVE", 1000 + i, "allow", 0.5);
            w.record_decision(&sig, &log_for(&sig)).expect("write");
            if i % 3 == 0 {
                w.insert_feedback(&auto(&format!("w{:03}", i - 1), 5000 + i))
                    .expect("auto");
            }
        }
    });
    let reader = with_deadline("reader", move || {
        let (mut last_version, mut last_at, mut last_page_at) = (0, 0, 0);
        loop {
            let c = s.read_model_changes(0, None, 10, "auto").expect("changes");
            assert!(c.version >= last_version, "version went back");
            last_version = c.version;
            for (r, ctx) in &c.changed {
                assert_eq!(
                    (&r.signal_id, r.created_at),
                    (&ctx.signal.id, ctx.signal.created_at)
                );
                assert_eq!(ctx.governor.len(), 1, "{}", ctx.signal.id);
                assert!(r.created_at >= last_at, "latest went back");
                last_at = r.created_at;
            }
            let p = s
                .signal_page(
                    &SignalFilter {
                        symbol: Some("LIVE".into()),
                        limit: Some(5),
                        ..Default::default()
                    },
                    "auto",
                )
                .expect("page");
            if let Some(top) = p.rows.first() {
                assert!(top.signal.created_at >= last_page_at, "page went back");
                last_page_at = top.signal.created_at;
                assert!(p.rows.iter().all(|c| c.governor.len() == 1));
            }
            if last_at == 1000 + n {
                return s;
            }
        }
    });
    writer.join().expect("writer");
    let mut s = reader;
    assert_eq!(
        s.signals_version().expect("v"),
        1 + n + n / 3,
        "one version per signal and per automatic outcome"
    );
    s.insert_feedback(&auto("w001", 1))
        .map(drop)
        .expect("still writable");
}

fn db_url(db: &TestDb) -> String {
    db.url.clone()
}
