//! Store cases of the history work (issue 15), run on both backends by `suite_cases!`: a
//! signal's origin and write time, signals still waiting for a feedback source, every
//! fundamentals filing kept and read "as known at" a day, brain's back-fill progress written
//! with its batch in one transaction, and rows of a version-1 store carried through the
//! migrations.

use super::{class, log_for, signal, TestDb};
use aivex_store::{BackfillProgress, Feedback, Fundamental, SignalFilter, SCHEMA_VERSION};
use sha2::{Digest, Sha256};

fn ids(s: &aivex_store::Store, f: SignalFilter) -> Vec<String> {
    s.signals_query(&f)
        .expect("query")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn backfilled(
    id: &str,
    symbol: &str,
    created_at: i64,
    recorded_at: i64,
) -> aivex_store::SignalRecord {
    aivex_store::SignalRecord {
        origin: "backfill".into(),
        recorded_at,
        ..signal(id, symbol, created_at, "allow", 0.6)
    }
}

pub fn signal_origin_and_recorded_at(db: &TestDb) {
    let mut s = db.migrated();
    let rows = [
        backfilled("b1", "AAPL", 100, 5000),
        backfilled("b2", "AAPL", 200, 5000),
        signal("l1", "AAPL", 4000, "allow", 0.7),
        signal("l2", "MSFT", 4100, "deny", 0.2),
    ];
    for r in &rows {
        assert!(s.record_decision(r, &log_for(r)).expect("record"));
    }
    assert_eq!(s.signal("b2").expect("b2"), Some(rows[1].clone()));
    let origin = |o: &str| SignalFilter {
        origin: Some(o.into()),
        ..Default::default()
    };
    assert_eq!(ids(&s, origin("backfill")), vec!["b2", "b1"]);
    assert_eq!(ids(&s, origin("live")), vec!["l2", "l1"]);
    assert_eq!(
        ids(
            &s,
            SignalFilter {
                decision: Some("allow".into()),
                latest_per_symbol: true,
                ..origin("backfill")
            }
        ),
        vec!["b2"]
    );
    assert_eq!(
        s.first_signal_at("AAPL", "live").expect("first"),
        Some(4000)
    );
    assert_eq!(
        s.first_signal_at("AAPL", "backfill").expect("first"),
        Some(100)
    );
    assert_eq!(s.first_signal_at("MSFT", "backfill").expect("none"), None);

    // Scored signals leave the "waiting for auto feedback" set; other sources do not count.
    let fb = |id: &str, source: &str, outcome: &str| Feedback {
        signal_id: id.into(),
        source: source.into(),
        outcome: outcome.into(),
        realized_return: Some(0.01),
        horizon_s: Some(86_400),
        note: None,
        at: 9000,
    };
    let batch = [
        fb("b1", "auto", "hit"),
        fb("l1", "auto", "miss"),
        fb("b2", "broker", "win"),
    ];
    assert_eq!(s.insert_feedbacks(&batch).expect("batch"), 3);
    assert_eq!(s.insert_feedbacks(&batch).expect("again"), 0, "idempotent");
    let waiting = SignalFilter {
        without_feedback_from: Some("auto".into()),
        ..Default::default()
    };
    assert_eq!(ids(&s, waiting.clone()), vec!["l2", "b2"]);
    assert_eq!(
        ids(
            &s,
            SignalFilter {
                limit: Some(1),
                after: Some((4100, "l2".into())),
                ..waiting
            }
        ),
        vec!["b2"]
    );
    let got = s
        .feedback_of(&["b2", "nope", "l1", "b1"], "auto")
        .expect("of");
    let got: Vec<Option<&str>> = got
        .iter()
        .map(|f| f.as_ref().map(|f| f.outcome.as_str()))
        .collect();
    assert_eq!(got, vec![None, None, Some("miss"), Some("hit")]);
    let many: Vec<String> = (0..1100).map(|i| format!("x{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).chain(["b1"]).collect();
    let got = s.feedback_of(&many, "auto").expect("over the chunk");
    assert_eq!(got.len(), 1101);
    assert!(got[..1100].iter().all(Option::is_none) && got[1100].is_some());

    // A bad row anywhere fails the whole feedback batch.
    let orphan = fb("nope", "auto", "hit");
    let err = s
        .insert_feedbacks(&[fb("l2", "auto", "hit"), orphan])
        .expect_err("unknown signal");
    assert_eq!(class(err), "DataValidationError");
    assert_eq!(s.feedback_of(&["l2"], "auto").expect("l2"), vec![None]);

    let mut bad = signal("x", "AAPL", 1, "allow", 0.5);
    bad.origin = "replay".into();
    let err = s.record_decision(&bad, &log_for(&bad)).expect_err("origin");
    assert!(err.to_string().contains("field origin"), "{err}");
}

fn fact(period: &str, value: f64, filed: &str) -> Fundamental {
    Fundamental {
        symbol: "AAPL".into(),
        metric: "revenue".into(),
        period_end: period.into(),
        value,
        unit: "USD".into(),
        filed: filed.into(),
        source: "sec".into(),
    }
}

pub fn fundamental_filings_are_kept(db: &TestDb) {
    let mut s = db.migrated();
    // Q1 first filed in May, restated in the next year's filing; Q2 filed in August.
    let first = vec![
        fact("2024-03-31", 90.0, "2024-05-01"),
        fact("2024-06-30", 85.0, "2024-08-01"),
    ];
    assert_eq!(s.upsert_fundamentals(&first).expect("first").inserted, 2);
    let restated = fact("2024-03-31", 91.5, "2025-05-02");
    let c = s
        .upsert_fundamentals(std::slice::from_ref(&restated))
        .expect("restated");
    assert_eq!(
        (c.inserted, c.updated),
        (1, 0),
        "a restatement is a new row"
    );
    // The same filing read again with a corrected value is fixed in place.
    let corrected = fact("2024-06-30", 86.0, "2024-08-01");
    let c = s
        .upsert_fundamentals(std::slice::from_ref(&corrected))
        .expect("fix");
    assert_eq!((c.inserted, c.updated), (0, 1));
    assert_eq!(
        s.fundamental_filings("AAPL").expect("all"),
        vec![first[0].clone(), corrected.clone(), restated.clone()]
    );
    assert_eq!(
        s.fundamentals_for("AAPL").expect("latest"),
        vec![restated.clone(), corrected.clone()]
    );
    let table: [(&str, Vec<Fundamental>); 5] = [
        ("2024-04-30", vec![]),
        ("2024-05-01", vec![first[0].clone()]),
        ("2024-12-31", vec![first[0].clone(), corrected.clone()]),
        ("2025-05-01", vec![first[0].clone(), corrected.clone()]),
        ("2025-05-02", vec![restated, corrected]),
    ];
    for (day, want) in table {
        assert_eq!(
            s.fundamentals_known_at("AAPL", day).expect("as of"),
            want,
            "{day}"
        );
    }
    assert!(s
        .fundamentals_known_at("MSFT", "2030-01-01")
        .expect("none")
        .is_empty());
    assert_eq!(s.filing_count().expect("count"), 3);
    assert_eq!(
        (
            s.bar_count().expect("bars"),
            s.article_count().expect("articles")
        ),
        (0, 0)
    );
}

fn progress(symbol: &str, done_until: i64) -> BackfillProgress {
    BackfillProgress {
        symbol: symbol.into(),
        planned_at: 10_000,
        window_from: 100,
        window_to: 400,
        done_until,
        updated_at: 10_000,
    }
}

pub fn backfill_progress_and_batches(db: &TestDb) {
    let mut s = db.migrated();
    let plan = [progress("AAPL", 99), progress("MSFT", 99)];
    assert_eq!(s.plan_backfill(&plan).expect("plan"), 2);
    let again = [progress("AAPL", 400), progress("NVDA", 99)];
    assert_eq!(s.plan_backfill(&again).expect("once per symbol"), 1);
    let rows = s.backfill_progress().expect("read");
    assert_eq!(
        rows.iter()
            .map(|p| (p.symbol.as_str(), p.done_until))
            .collect::<Vec<_>>(),
        [("AAPL", 99), ("MSFT", 99), ("NVDA", 99)]
    );
    assert!(!rows[0].done());

    let batch: Vec<_> = [
        backfilled("b1", "AAPL", 100, 20_000),
        backfilled("b2", "MSFT", 200, 20_000),
    ]
    .into_iter()
    .map(|r| {
        let g = log_for(&r);
        (r, g)
    })
    .collect();
    let advanced = [
        BackfillProgress {
            done_until: 200,
            updated_at: 20_000,
            ..progress("AAPL", 0)
        },
        BackfillProgress {
            done_until: 400,
            updated_at: 20_000,
            ..progress("MSFT", 0)
        },
    ];
    assert_eq!(s.record_backfill(&batch, &advanced).expect("batch"), 2);
    // The same batch again (a restart after the commit): nothing new, nothing doubled.
    assert_eq!(s.record_backfill(&batch, &advanced).expect("repeat"), 0);
    assert_eq!(s.governor_log_for("b1").expect("log").len(), 1);
    let rows = s.backfill_progress().expect("read");
    assert_eq!(
        (rows[0].done_until, rows[0].updated_at, rows[0].done()),
        (200, 20_000, false)
    );
    assert!(rows[1].done());

    // A bad signal in a batch writes neither its signals nor the progress.
    let mut bad = backfilled("b3", "AAPL", 300, 30_000);
    let good = backfilled("b4", "AAPL", 250, 30_000);
    bad.decision = "maybe".into();
    let err = s
        .record_backfill(
            &[(good.clone(), log_for(&good)), (bad.clone(), log_for(&bad))],
            &[BackfillProgress {
                done_until: 400,
                ..progress("AAPL", 0)
            }],
        )
        .expect_err("bad decision");
    assert_eq!(class(err), "DataValidationError");
    assert_eq!(s.signal("b4").expect("b4"), None);
    assert_eq!(s.backfill_progress().expect("read")[0].done_until, 200);
    let err = s
        .plan_backfill(&[BackfillProgress {
            window_from: 500,
            ..progress("TSLA", 0)
        }])
        .expect_err("window");
    assert!(err.to_string().contains("window_from"), "{err}");
}

/// The version-1 schema, written from outside the store, with rows in it; then `migrate`.
pub fn version_1_rows_survive_the_migrations(db: &TestDb) {
    let (dialect, create) = match db.is_sqlite() {
        true => (
            "sqlite",
            "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        ),
        false => (
            "mysql",
            "CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, \
             name VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, applied_at BIGINT NOT NULL)",
        ),
    };
    let path = format!(
        "{}/../../migrations/{dialect}/0001_initial.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let v1 = std::fs::read_to_string(&path).expect("version 1 file");
    // Comments hold semicolons: drop them, then run one statement at a time (MySQL).
    let code: Vec<&str> = v1
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    for stmt in code.join("\n").split(';') {
        if !stmt.trim().is_empty() {
            db.raw(stmt);
        }
    }
    db.raw(create);
    let sum: String = Sha256::digest(v1.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    db.raw(&format!(
        "INSERT INTO schema_migrations VALUES (1, 'initial', '{sum}', 1)"
    ));
    db.raw(
        "INSERT INTO signals (id, symbol, created_at, direction, score, confidence, horizon_s, \
         components, decision, reasons) VALUES ('old', 'AAPL', 1234, 1, 0.5, 0.6, 60, '{}', 'allow', '')",
    );
    db.raw(
        "INSERT INTO fundamentals (symbol, metric, period_end, value, unit, filed, source) \
         VALUES ('AAPL', 'revenue', '2024-03-31', 90, 'USD', '2024-05-01', 'sec')",
    );
    let mut s = db.open();
    assert_eq!(s.schema_version().expect("v1"), 1);
    let r = s.migrate().expect("migrate from 1");
    assert_eq!(r.applied, (2..=SCHEMA_VERSION).collect::<Vec<_>>());
    let old = s.signal("old").expect("read").expect("kept");
    assert_eq!((old.origin.as_str(), old.recorded_at), ("live", 1234));
    assert_eq!(
        s.fundamentals_for("AAPL").expect("kept"),
        vec![fact("2024-03-31", 90.0, "2024-05-01")]
    );
    let later = fact("2024-03-31", 91.0, "2025-05-01");
    assert_eq!(
        s.upsert_fundamentals(&[later]).expect("restated").inserted,
        1
    );
    assert_eq!(s.fundamental_filings("AAPL").expect("both").len(), 2);
}
