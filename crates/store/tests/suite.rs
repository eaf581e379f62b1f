//! The store test suite: one set of cases, each a function of a `TestDb`, run against SQLite
//! (a temp file) and against a real MariaDB/MySQL server when `AIVEX_TEST_MYSQL_URL` is set
//! (start one with `scripts/mariadb-private start DIR`).
//!
//! Without that variable the MariaDB cases print a notice and return, except when `CI` is set:
//! then they fail, so a CI run can never silently skip the real-server tests. Each MariaDB
//! case gets its own database, created and dropped here. Cases that stop the server take an
//! exclusive lock so no other case runs meanwhile. Every wait has a deadline.
//! Raw SQL appears here only to tamper with or inspect a database from outside the store.

use aivex_core::ModuleError;
use aivex_store::{
    redact_url, Article, Component, Feedback, Fundamental, GovernorLogRecord, OhlcvRow,
    SignalFilter, SignalRecord, Store, StoreError, UpsertCounts, Workers, SCHEMA_VERSION,
};
use mysql::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::Duration;

#[path = "suite/cluster.rs"]
mod cluster;
#[path = "suite/history.rs"]
mod history;
use cluster::cluster_leases_and_fencing;
#[path = "suite/read_model.rs"]
mod read_model;
use history::{
    backfill_progress_and_batches, fundamental_filings_are_kept, signal_origin_and_recorded_at,
    version_1_rows_survive_the_migrations,
};
use read_model::{
    read_model_snapshots_while_writing, signals_latest_backfilled_by_its_migration,
    signals_latest_follows_every_write,
};

/// Held shared by every MariaDB case and exclusively by cases that stop the server.
static SERVER: RwLock<()> = RwLock::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);
const DEADLINE: Duration = Duration::from_secs(120);

enum Guard {
    None,
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

struct TestDb {
    url: String,
    kind: Kind,
    _guard: Guard,
}

enum Kind {
    Sqlite { dir: PathBuf, path: PathBuf },
    Mysql { admin_url: String, db: String },
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn mysql_base_url() -> Option<String> {
    match std::env::var("AIVEX_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => panic!(
            "AIVEX_TEST_MYSQL_URL is not set but CI is: the MariaDB store tests must run. \
             Start a server with `eval \"$(scripts/mariadb-private start DIR)\"` first."
        ),
        _ => {
            eprintln!(
                "notice: AIVEX_TEST_MYSQL_URL not set, MariaDB case not run \
                 (scripts/mariadb-private start DIR gives one)"
            );
            None
        }
    }
}

/// Replaces the database name of a `mysql://…/db[?q]` URL.
fn with_db(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = main.rsplit_once('/').map_or(main, |(b, _)| b);
    format!("{base}/{db}{query}")
}

fn mysql_admin(url: &str) -> mysql::Conn {
    let opts = mysql::Opts::from_url(url).expect("admin url parses");
    mysql::Conn::new(opts).expect("admin connection")
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("aivex_store_test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("aivex.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            kind: Kind::Sqlite { dir, path },
            _guard: Guard::None,
        }
    }

    fn mysql_with(exclusive: bool) -> Option<TestDb> {
        let base = mysql_base_url()?;
        let guard = if exclusive {
            Guard::Exclusive(SERVER.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            Guard::Shared(SERVER.read().unwrap_or_else(|e| e.into_inner()))
        };
        let db = unique("aivex_t");
        mysql_admin(&base)
            .query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"))
            .expect("create test database");
        Some(TestDb {
            url: with_db(&base, &db),
            kind: Kind::Mysql {
                admin_url: base,
                db,
            },
            _guard: guard,
        })
    }

    fn mysql() -> Option<TestDb> {
        Self::mysql_with(false)
    }

    fn is_sqlite(&self) -> bool {
        matches!(self.kind, Kind::Sqlite { .. })
    }

    fn open(&self) -> Store {
        Store::open(&self.url).expect("open store")
    }

    fn migrated(&self) -> Store {
        let mut s = self.open();
        s.migrate().expect("migrate");
        s
    }

    /// Runs SQL on the database from outside the store.
    fn raw(&self, sql: &str) {
        match &self.kind {
            Kind::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .and_then(|c| c.execute_batch(sql))
                .expect("raw sqlite"),
            Kind::Mysql { .. } => mysql_admin(&self.url).query_drop(sql).expect("raw mysql"),
        }
    }

    fn raw_count(&self, sql: &str) -> i64 {
        match &self.kind {
            Kind::Sqlite { path, .. } => rusqlite::Connection::open(path)
                .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
                .expect("raw sqlite count"),
            Kind::Mysql { .. } => mysql_admin(&self.url)
                .query_first::<i64, _>(sql)
                .expect("raw mysql count")
                .unwrap_or(0),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Kind::Mysql { admin_url, db } => {
                if let Ok(opts) = mysql::Opts::from_url(admin_url) {
                    if let Ok(mut c) = mysql::Conn::new(opts) {
                        let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {db}"));
                    }
                }
            }
        }
    }
}

/// Runs `f` on a thread and fails the test if it has not finished within `DEADLINE`.
fn with_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|e| panic!("{what}: no result within {DEADLINE:?}: {e}"))
}

fn bar(symbol: &str, ts: i64, close: f64) -> OhlcvRow {
    OhlcvRow {
        symbol: symbol.into(),
        interval: "1d".into(),
        ts,
        open: close - 1.0,
        high: close + 1.0,
        low: close - 2.0,
        close,
        adj_close: if ts % 2 == 0 {
            Some(close * 0.99)
        } else {
            None
        },
        volume: 1000.0 + ts as f64,
        source: "test".into(),
    }
}

fn bars_for(symbol: &str, n: i64, start: i64) -> Vec<OhlcvRow> {
    (0..n)
        .map(|i| bar(symbol, start + i * 86_400, 100.0 + i as f64 * 0.25))
        .collect()
}

fn counts(inserted: u64, updated: u64, unchanged: u64) -> UpsertCounts {
    UpsertCounts {
        inserted,
        updated,
        unchanged,
    }
}

fn class(e: StoreError) -> &'static str {
    ModuleError::from(e).class()
}

/// Instantiates every case once per backend.
macro_rules! suite_cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $case() { super::$case(&super::TestDb::sqlite()); })*
        }
        mod mariadb {
            $(#[test] fn $case() {
                if let Some(db) = super::TestDb::mysql() { super::$case(&db); }
            })*
        }
    };
}

// ---------------------------------------------------------------------------------------
// The cases.

fn migrations_from_empty_and_rerun(db: &TestDb) {
    let mut s = db.open();
    let err = s.check_schema().expect_err("an empty database is behind");
    assert!(err.to_string().contains("run aivex migrate"), "{err}");
    assert_eq!(class(err), "ConfigError");
    assert_eq!(s.schema_version().expect("version"), 0);
    let r = s.migrate().expect("first migrate");
    assert_eq!(r.applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(r.version, SCHEMA_VERSION);
    s.check_schema().expect("schema current after migrate");
    let again = s.migrate().expect("second migrate");
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.version, SCHEMA_VERSION);
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM schema_migrations"),
        i64::from(SCHEMA_VERSION)
    );
}

fn checksum_drift_is_refused(db: &TestDb) {
    let mut s = db.migrated();
    db.raw("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
    let err = s.migrate().expect_err("drift refused");
    assert!(
        matches!(err, StoreError::ChecksumDrift { version: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("0001"), "{err}");
    assert_eq!(class(err), "ConfigError");
    let err = s.check_schema().expect_err("check refuses too");
    assert!(matches!(err, StoreError::ChecksumDrift { .. }), "{err:?}");
}

fn concurrent_migrations(db: &TestDb) {
    let url = db.url.clone();
    let applied = with_deadline("two concurrent migrations", move || {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let url = url.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let opened = Store::open(&url);
                    // Both reach the barrier even when one open fails, so a failure is
                    // reported as such rather than as the other thread waiting forever.
                    barrier.wait();
                    opened?.migrate()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("migrate thread panicked"))
            .collect::<Vec<_>>()
    });
    let mut all: Vec<u32> = Vec::new();
    for r in applied {
        let r = r.expect("each concurrent migrate succeeds");
        assert_eq!(r.version, SCHEMA_VERSION);
        all.extend(r.applied);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "each migration applied once"
    );
    db.open().check_schema().expect("schema current");
}

fn bars_idempotent_and_corrected_in_place(db: &TestDb) {
    let mut s = db.migrated();
    let mut batch = bars_for("AAA", 700, 1_600_000_000);
    batch.extend(bars_for("BBB", 700, 1_600_000_000));
    batch.extend(bars_for("CCC", 100, 1_600_000_000));
    let n = batch.len() as u64;
    assert_eq!(s.upsert_bars(&batch).expect("first"), counts(n, 0, 0));
    assert_eq!(s.upsert_bars(&batch).expect("repeat"), counts(0, 0, n));

    let mut fix = batch.clone();
    fix[5].close = 1.5;
    fix[900].adj_close = None;
    fix[901].adj_close = Some(3.0);
    fix.push(bar("DDD", 1, 7.0));
    assert_eq!(s.upsert_bars(&fix).expect("fix"), counts(1, 3, n - 3));
    assert_eq!(s.upsert_bars(&fix).expect("fix again"), counts(0, 0, n + 1));

    let aaa = s.bars("AAA", "1d", None, None).expect("bars");
    assert_eq!(aaa.len(), 700);
    assert!(aaa.windows(2).all(|w| w[0].ts < w[1].ts), "ascending");
    assert_eq!(aaa[5], fix[5]);
    assert_eq!(aaa[0], batch[0]);
    let bbb = s.bars("BBB", "1d", None, None).expect("bbb");
    assert_eq!(bbb[200], fix[900]);
    assert_eq!(bbb[201], fix[901]);

    let last3 = s.bars("AAA", "1d", None, Some(3)).expect("limit");
    assert_eq!(last3, aaa[697..].to_vec());
    let since = s.bars("AAA", "1d", Some(aaa[690].ts), None).expect("since");
    assert_eq!(since.len(), 10);
    assert_eq!(
        s.bars("AAA", "1h", None, None).expect("other interval"),
        vec![]
    );
    assert_eq!(
        s.latest_bar_ts("AAA", "1d").expect("latest"),
        Some(aaa[699].ts)
    );
    assert_eq!(s.latest_bar_ts("ZZZ", "1d").expect("latest none"), None);
    let candles = s.recent_candles("BBB", "1d", 3).expect("candles");
    assert_eq!(
        candles.iter().map(|c| c.ts).collect::<Vec<_>>(),
        bbb[697..].iter().map(|b| b.ts).collect::<Vec<_>>(),
        "the newest 3, ascending"
    );
    for (c, b) in candles.iter().zip(&bbb[697..]) {
        let same = (c.open, c.high, c.low, c.close, c.adj_close, c.volume)
            == (b.open, b.high, b.low, b.close, b.adj_close, b.volume);
        assert!(same, "{c:?} vs {b:?}");
    }
    assert_eq!(s.recent_candles("CCC", "1d", 1000).expect("all").len(), 100);
    assert!(s.recent_candles("ZZZ", "1d", 5).expect("none").is_empty());
    assert_eq!(
        s.symbols_with_bars("1d").expect("symbols"),
        vec!["AAA", "BBB", "CCC", "DDD"]
    );

    // The same key twice in one batch: the last one wins, the first counts as unchanged.
    let dup = vec![bar("EEE", 1, 1.0), bar("EEE", 1, 2.0)];
    assert_eq!(s.upsert_bars(&dup).expect("dup"), counts(1, 0, 1));
    assert_eq!(s.bars("EEE", "1d", None, None).expect("eee")[0].close, 2.0);
}

fn bad_batch_leaves_nothing_behind(db: &TestDb) {
    let mut s = db.migrated();
    let mut bad = bars_for("AAA", 10, 0);
    bad[7].high = f64::NAN;
    let err = s.upsert_bars(&bad).expect_err("NaN refused");
    assert!(err.to_string().contains("bar #7: field high"), "{err}");
    assert_eq!(class(err), "DataValidationError");

    // A database-level failure after earlier chunks were written rolls all of them back.
    match db.kind {
        Kind::Sqlite { .. } => db.raw(
            "CREATE TRIGGER poison BEFORE INSERT ON ohlcv WHEN NEW.symbol = 'POISON' \
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END",
        ),
        Kind::Mysql { .. } => db.raw(
            "CREATE TRIGGER poison BEFORE INSERT ON ohlcv FOR EACH ROW BEGIN \
             IF NEW.symbol = 'POISON' THEN SIGNAL SQLSTATE '45000' \
             SET MESSAGE_TEXT = 'poisoned row'; END IF; END",
        ),
    }
    let mut batch = bars_for("AAA", 2500, 0);
    batch.push(bar("POISON", 1, 1.0));
    let err = s.upsert_bars(&batch).expect_err("poisoned batch fails");
    assert!(err.to_string().contains("poisoned row"), "{err}");
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM ohlcv"),
        0,
        "nothing half-written"
    );
    db.raw("DROP TRIGGER poison");
    assert_eq!(s.upsert_bars(&batch).expect("retry").inserted, 2501);
}

fn article(id: &str, tickers: &[&str], published_at: Option<i64>) -> Article {
    Article {
        id: id.into(),
        source: "feed".into(),
        url: format!("https://example.test/{id}"),
        title: format!("title {id}"),
        summary: "summary ünïcødé".into(),
        published_at,
        ingested_at: 5_000,
        sentiment: 0.25,
        sentiment_method: "lexicon@1".into(),
        tickers: tickers.iter().map(|t| t.to_string()).collect(),
    }
}

fn articles_upsert_and_query(db: &TestDb) {
    let mut s = db.migrated();
    let a = vec![
        article("a1", &["AAPL", "MSFT"], Some(1_000)),
        article("a2", &["AAPL"], None),
        article("a3", &[], Some(3_000)),
    ];
    assert_eq!(s.upsert_articles(&a).expect("first"), counts(3, 0, 0));
    let mut again = a.clone();
    again[0].ingested_at = 9_999;
    assert_eq!(s.upsert_articles(&again).expect("repeat"), counts(0, 0, 3));
    let got = s.articles_for("AAPL", None).expect("aapl");
    assert_eq!(
        got,
        vec![a[0].clone(), a[1].clone()],
        "ingested_at kept from first ingest"
    );
    assert_eq!(
        s.articles_for("AAPL", Some(2_000)).expect("since"),
        vec![a[1].clone()]
    );

    let mut fix = a.clone();
    fix[0].title = "corrected".into();
    fix[0].tickers = vec!["MSFT".into(), "NVDA".into()];
    assert_eq!(s.upsert_articles(&fix).expect("fix"), counts(0, 1, 2));
    assert_eq!(
        s.articles_for("AAPL", None).expect("aapl"),
        vec![a[1].clone()]
    );
    assert_eq!(
        s.articles_for("NVDA", None).expect("nvda"),
        vec![fix[0].clone()]
    );
    let bad = article("", &[], None);
    assert_eq!(
        class(s.upsert_articles(&[bad]).expect_err("empty id")),
        "DataValidationError"
    );
}

fn fundamentals_upsert_and_query(db: &TestDb) {
    let mut s = db.migrated();
    let f = |metric: &str, period: &str, value: f64| Fundamental {
        symbol: "AAPL".into(),
        metric: metric.into(),
        period_end: period.into(),
        value,
        unit: "USD".into(),
        filed: "2024-05-01".into(),
        source: "sec".into(),
    };
    let rows = vec![
        f("Revenue", "2024-03-31", 90.0),
        f("Revenue", "2023-12-31", 119.0),
        f("EPS", "2024-03-31", 1.53),
    ];
    assert_eq!(
        s.upsert_fundamentals(&rows).expect("first"),
        counts(3, 0, 0)
    );
    assert_eq!(
        s.upsert_fundamentals(&rows).expect("repeat"),
        counts(0, 0, 3)
    );
    let mut fix = rows.clone();
    fix[2].value = 1.54;
    assert_eq!(s.upsert_fundamentals(&fix).expect("fix"), counts(0, 1, 2));
    let got = s.fundamentals_for("AAPL").expect("query");
    assert_eq!(got, vec![fix[2].clone(), fix[1].clone(), fix[0].clone()]);
    let bad = f("Revenue", "2024-13", 1.0);
    let err = s.upsert_fundamentals(&[bad]).expect_err("bad date");
    assert!(err.to_string().contains("period_end"), "{err}");
}

fn components_update_in_place(db: &TestDb) {
    let mut s = db.migrated();
    let c = |symbol: &str, kind: &str, value: f64| Component {
        symbol: symbol.into(),
        kind: kind.into(),
        value,
        as_of: 100,
        computed_at: 200,
        detail: r#"{"rsi":55.0}"#.into(),
    };
    let rows = vec![
        c("AAPL", "chart", 0.5),
        c("AAPL", "news", -0.2),
        c("MSFT", "metrics", 0.1),
    ];
    assert_eq!(s.upsert_components(&rows).expect("first"), counts(3, 0, 0));
    assert_eq!(s.upsert_components(&rows).expect("repeat"), counts(0, 0, 3));
    let newer = Component {
        computed_at: 300,
        ..c("AAPL", "chart", 0.7)
    };
    assert_eq!(
        s.upsert_components(std::slice::from_ref(&newer))
            .expect("update"),
        counts(0, 1, 0)
    );
    assert_eq!(
        s.components_for("AAPL").expect("aapl"),
        vec![newer, rows[1].clone()]
    );
    assert_eq!(s.all_components().expect("all").len(), 3);
    let err = s
        .upsert_components(&[c("AAPL", "vibes", 1.0)])
        .expect_err("bad kind");
    assert_eq!(class(err), "DataValidationError");
}

fn signal(
    id: &str,
    symbol: &str,
    created_at: i64,
    decision: &str,
    confidence: f64,
) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        symbol: symbol.into(),
        created_at,
        direction: 1,
        score: 0.4,
        confidence,
        horizon_s: 86_400,
        components_json: r#"[{"kind":"chart","value":0.5,"weight":0.5}]"#.into(),
        decision: decision.into(),
        reasons: if decision == "deny" {
            "COOLDOWN_ACTIVE".into()
        } else {
            String::new()
        },
        origin: "live".into(),
        recorded_at: created_at,
        lease: None,
    }
}

fn log_for(s: &SignalRecord) -> GovernorLogRecord {
    GovernorLogRecord {
        signal_id: s.id.clone(),
        symbol: s.symbol.clone(),
        decision: s.decision.clone(),
        reason_codes: s.reasons.clone(),
        rules_json: r#"[{"rule":"MIN_CONFIDENCE","ok":true}]"#.into(),
        config_hash: "abc123".into(),
        at: s.created_at,
    }
}

fn decisions_and_signal_queries(db: &TestDb) {
    let mut s = db.migrated();
    let sigs = vec![
        signal("s1", "AAPL", 100, "allow", 0.9),
        signal("s2", "AAPL", 200, "deny", 0.5),
        signal("s3", "MSFT", 200, "allow", 0.7),
        signal("s4", "AAPL", 300, "allow", 0.8),
        signal("s5", "MSFT", 300, "deny", 0.2),
        signal("s6", "NVDA", 300, "allow", 0.6),
    ];
    for sig in &sigs {
        assert!(s.record_decision(sig, &log_for(sig)).expect("record"));
    }
    assert!(!s
        .record_decision(&sigs[0], &log_for(&sigs[0]))
        .expect("repeat"));
    assert_eq!(
        s.governor_log_for("s1").expect("log"),
        vec![log_for(&sigs[0])]
    );
    // A page's logs in one go: in the order asked, an unknown id gets none.
    assert_eq!(
        s.governor_logs_for(&["s5", "nope", "s2"]).expect("logs"),
        vec![vec![log_for(&sigs[4])], vec![], vec![log_for(&sigs[1])]]
    );
    let many: Vec<String> = (0..1200).map(|i| format!("x{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).chain(["s6"]).collect();
    let got = s
        .governor_logs_for(&many)
        .expect("over the per-query chunk");
    assert_eq!(got.len(), 1201);
    assert_eq!(got[1200], vec![log_for(&sigs[5])]);
    assert_eq!(s.signal("s3").expect("signal"), Some(sigs[2].clone()));
    assert_eq!(s.signal("nope").expect("none"), None);

    assert_eq!(s.allowed_count_since(None, 0).expect("all"), 4);
    assert_eq!(s.allowed_count_since(Some("AAPL"), 150).expect("aapl"), 1);
    assert_eq!(s.last_allowed_at("AAPL").expect("last"), Some(300));
    assert_eq!(s.last_allowed_at("TSLA").expect("none"), None);
    assert_eq!(
        s.last_signal_for("MSFT").expect("last msft"),
        Some(sigs[4].clone())
    );

    let ids = |f: SignalFilter| -> Vec<String> {
        s.signals_query(&f)
            .expect("query")
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    let table: Vec<(SignalFilter, Vec<&str>)> = vec![
        (
            SignalFilter::default(),
            vec!["s6", "s5", "s4", "s3", "s2", "s1"],
        ),
        (
            SignalFilter {
                symbol: Some("AAPL".into()),
                ..Default::default()
            },
            vec!["s4", "s2", "s1"],
        ),
        (
            SignalFilter {
                decision: Some("deny".into()),
                ..Default::default()
            },
            vec!["s5", "s2"],
        ),
        (
            SignalFilter {
                min_confidence: Some(0.75),
                ..Default::default()
            },
            vec!["s4", "s1"],
        ),
        (
            SignalFilter {
                since: Some(200),
                until: Some(300),
                ..Default::default()
            },
            vec!["s3", "s2"],
        ),
        (
            SignalFilter {
                latest_per_symbol: true,
                ..Default::default()
            },
            vec!["s6", "s5", "s4"],
        ),
        (
            SignalFilter {
                latest_per_symbol: true,
                decision: Some("allow".into()),
                ..Default::default()
            },
            vec!["s6", "s4", "s3"],
        ),
        (
            SignalFilter {
                after: Some((300, "s5".into())),
                limit: Some(2),
                ..Default::default()
            },
            vec!["s4", "s3"],
        ),
    ];
    for (f, want) in table {
        assert_eq!(ids(f.clone()), want, "{f:?}");
    }

    // Keyset paging visits every row once, newest first.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .signals_query(&SignalFilter {
                limit: Some(4),
                after: after.clone(),
                ..Default::default()
            })
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, vec!["s6", "s5", "s4", "s3", "s2", "s1"]);

    let mut bad = signal("s7", "AAPL", 1, "maybe", 0.1);
    let err = s
        .record_decision(&bad, &log_for(&bad))
        .expect_err("bad decision");
    assert_eq!(class(err), "DataValidationError");
    bad.decision = "allow".into();
    let mut mismatched = log_for(&bad);
    mismatched.signal_id = "other".into();
    assert!(s.record_decision(&bad, &mismatched).is_err());
    assert_eq!(s.signal("s7").expect("s7"), None, "nothing written");
}

fn feedback_is_idempotent(db: &TestDb) {
    let mut s = db.migrated();
    let sig = signal("s1", "AAPL", 100, "allow", 0.9);
    s.record_decision(&sig, &log_for(&sig)).expect("record");
    let f = Feedback {
        signal_id: "s1".into(),
        source: "broker".into(),
        outcome: "win".into(),
        realized_return: Some(0.031),
        horizon_s: Some(86_400),
        note: None,
        at: 500,
    };
    let (stored, created) = s.insert_feedback(&f).expect("first");
    assert!(created);
    assert_eq!(stored, f);
    let repeat = Feedback {
        outcome: "loss".into(),
        at: 600,
        ..f.clone()
    };
    let (stored, created) = s.insert_feedback(&repeat).expect("repeat");
    assert!(!created);
    assert_eq!(stored, f, "the stored row is returned unchanged");
    let other = Feedback {
        source: "manual".into(),
        realized_return: None,
        horizon_s: None,
        note: Some("looked fine".into()),
        at: 700,
        ..f.clone()
    };
    assert!(s.insert_feedback(&other).expect("other source").1);
    assert_eq!(
        s.feedback_since(None).expect("all"),
        vec![f.clone(), other.clone()]
    );
    assert_eq!(s.feedback_since(Some(600)).expect("since"), vec![other]);
    let orphan = Feedback {
        signal_id: "nope".into(),
        ..f
    };
    let err = s.insert_feedback(&orphan).expect_err("unknown signal");
    assert_eq!(class(err), "DataValidationError");
}

fn concurrent_writers(db: &TestDb) {
    db.migrated();
    const WRITERS: usize = 4;
    const BATCHES: i64 = 25;
    const PER_BATCH: i64 = 80;
    let url = db.url.clone();
    let results = with_deadline("4 concurrent writers", move || {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let url = url.clone();
                let barrier = barrier.clone();
                thread::spawn(move || -> Result<u64, StoreError> {
                    let mut s = Store::open(&url)?;
                    barrier.wait();
                    let mut inserted = 0;
                    for b in 0..BATCHES {
                        let mut batch =
                            bars_for(&format!("W{w}"), PER_BATCH, b * PER_BATCH * 86_400);
                        // Every writer also writes the same shared bars: they must not
                        // conflict into errors or duplicates.
                        batch.extend(bars_for("SHARED", 5, b * 5 * 86_400));
                        inserted += s.upsert_bars(&batch)?.inserted;
                    }
                    Ok(inserted)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer panicked"))
            .collect::<Vec<_>>()
    });
    let mut total = 0;
    for r in results {
        total += r.expect("no busy or lock errors");
    }
    let own = WRITERS as i64 * BATCHES * PER_BATCH;
    let shared = BATCHES * 5;
    assert_eq!(total as i64, own + shared, "each row inserted exactly once");
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM ohlcv"), own + shared);
}

/// Jobs on a `Workers` pool run on their own connections, in parallel where the backend
/// allows, each job its own transaction; every result comes back once.
fn workers_pool(db: &TestDb) {
    db.migrated();
    let url = db.url.clone();
    let results = with_deadline("workers pool", move || {
        let mut w: Workers<(usize, Result<UpsertCounts, StoreError>)> =
            Workers::open(&url, 2).expect("open workers");
        assert_eq!(w.len(), 2);
        let mut out = Vec::new();
        for job in 0..30usize {
            w.submit(move |s| {
                let bars = bars_for(&format!("P{job}"), 120, 1_600_000_000);
                (job, s.upsert_bars(&bars))
            })
            .expect("submit");
            while let Some(r) = w.try_recv().expect("try_recv") {
                out.push(r);
            }
        }
        while w.pending() > 0 {
            if let Some(r) = w.recv_timeout(Duration::from_millis(200)).expect("recv") {
                out.push(r);
            }
        }
        out
    });
    let mut jobs: Vec<usize> = results.iter().map(|(j, _)| *j).collect();
    jobs.sort_unstable();
    assert_eq!(
        jobs,
        (0..30).collect::<Vec<_>>(),
        "every job's result exactly once"
    );
    for (j, r) in &results {
        assert_eq!(r.as_ref().expect("upsert"), &counts(120, 0, 0), "job {j}");
    }
    assert_eq!(db.raw_count("SELECT COUNT(*) FROM ohlcv"), 30 * 120);
}

suite_cases! {
    workers_pool,
    migrations_from_empty_and_rerun,
    checksum_drift_is_refused,
    concurrent_migrations,
    bars_idempotent_and_corrected_in_place,
    bad_batch_leaves_nothing_behind,
    articles_upsert_and_query,
    fundamentals_upsert_and_query,
    components_update_in_place,
    decisions_and_signal_queries,
    feedback_is_idempotent,
    concurrent_writers,
    signal_origin_and_recorded_at,
    fundamental_filings_are_kept,
    backfill_progress_and_batches,
    version_1_rows_survive_the_migrations,
    cluster_leases_and_fencing,
    signals_latest_backfilled_by_its_migration,
    signals_latest_follows_every_write,
    read_model_snapshots_while_writing,
}

// ---------------------------------------------------------------------------------------
// Cases that only make sense for one backend.

#[test]
fn sqlite_relative_url_and_bad_urls() {
    let db = TestDb::sqlite();
    let Kind::Sqlite { dir, .. } = &db.kind else {
        unreachable!()
    };
    let s = Store::open(&format!("sqlite://{}/rel.db", dir.display())).expect("open");
    assert_eq!(s.backend_name(), "sqlite");
    assert!(!s.tls_in_use().expect("tls"));
    s.ping().expect("ping");
    let err = Store::open("postgres://u:pw@h/d").expect_err("unknown scheme");
    assert_eq!(class(err), "ConfigError");
    let err = Store::open(&format!("sqlite://{}/missing/dir/x.db", dir.display()))
        .expect_err("missing directory");
    assert_eq!(class(err), "ExternalServiceError");
}

/// Ends every connection the store holds to `db`, as a server-side timeout or a proxy
/// restart would.
fn kill_connections(admin_url: &str, db: &str) -> usize {
    let mut admin = mysql_admin(admin_url);
    let ids: Vec<u64> = admin
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
            (db,),
        )
        .expect("processlist");
    for id in &ids {
        let _ = admin.query_drop(format!("KILL {id}"));
    }
    ids.len()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mariadb-private")
}

fn run_script(cmd: &str, dir: &str) {
    let out = with_deadline("mariadb-private", {
        let (script, cmd, dir) = (script(), cmd.to_string(), dir.to_string());
        move || {
            std::process::Command::new("bash")
                .arg(script)
                .arg(cmd)
                .arg(dir)
                .output()
        }
    })
    .expect("run mariadb-private");
    assert!(
        out.status.success(),
        "mariadb-private {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mariadb_connection_drop_and_server_restart() {
    let Some(db) = TestDb::mysql_with(true) else {
        return;
    };
    let dir = match std::env::var("AIVEX_TEST_MYSQL_DIR") {
        Ok(d) => d,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AIVEX_TEST_MYSQL_DIR is not set but CI is: the restart test must run")
        }
        Err(_) => {
            eprintln!("notice: AIVEX_TEST_MYSQL_DIR not set, restart case not run");
            return;
        }
    };
    let Kind::Mysql {
        admin_url,
        db: name,
    } = &db.kind
    else {
        unreachable!()
    };
    let mut s = db.migrated();
    let a = bars_for("AAA", 500, 0);
    let b = bars_for("BBB", 500, 0);
    assert_eq!(s.upsert_bars(&a).expect("batch a").inserted, 500);

    // Connections killed between cycles: the pool notices and reconnects.
    assert!(
        kill_connections(admin_url, name) >= 1,
        "the store held a connection"
    );
    match s.upsert_bars(&b) {
        Ok(c) => assert_eq!(c.inserted, 500),
        Err(e) => {
            assert_eq!(class(e), "ExternalServiceError");
            assert_eq!(s.upsert_bars(&b).expect("retry after kill").inserted, 500);
        }
    }

    // The server goes away in the middle of the module's life.
    let c = bars_for("CCC", 500, 0);
    run_script("halt", &dir);
    let err = s.upsert_bars(&c).expect_err("server down");
    let text = format!("{err} {err:?}");
    assert_eq!(class(err), "ExternalServiceError", "{text}");
    assert!(!text.contains("aivexpw"), "{text}");
    run_script("resume", &dir);
    let mut retried = None;
    for _ in 0..20 {
        match s.upsert_bars(&c) {
            Ok(r) => {
                retried = Some(r);
                break;
            }
            Err(e) => {
                assert_eq!(class(e), "ExternalServiceError");
                thread::sleep(Duration::from_millis(250));
            }
        }
    }
    assert_eq!(retried.expect("next cycle succeeds").inserted, 500);
    let all: Vec<OhlcvRow> = [a, b, c].concat();
    assert_eq!(s.upsert_bars(&all).expect("all again"), counts(0, 0, 1500));
    assert_eq!(
        db.raw_count("SELECT COUNT(*) FROM ohlcv"),
        1500,
        "no row lost or duplicated"
    );
}

#[test]
fn mariadb_tls_with_self_signed_certificate() {
    let Some(db) = TestDb::mysql() else { return };
    let ca = match std::env::var("AIVEX_TEST_MYSQL_CA") {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AIVEX_TEST_MYSQL_CA is not set but CI is: the TLS test must run")
        }
        Err(_) => {
            eprintln!("notice: AIVEX_TEST_MYSQL_CA not set, TLS case not run");
            return;
        }
    };
    let plain = db.open();
    assert!(
        !plain.tls_in_use().expect("plain"),
        "no TLS without require_ssl"
    );

    let verified = format!("{}?require_ssl=true&ssl_ca={ca}", db.url);
    let mut s = Store::open(&verified).expect("TLS with the test CA");
    assert!(s.tls_in_use().expect("tls"), "connection is encrypted");
    s.migrate().expect("migrate over TLS");
    assert_eq!(
        s.upsert_bars(&bars_for("TLS", 10, 0))
            .expect("write")
            .inserted,
        10
    );

    let untrusted = format!("{}?require_ssl=true", db.url);
    let err = Store::open(&untrusted).expect_err("self-signed cert is not trusted by default");
    let text = format!("{err} {err:?}");
    assert_eq!(class(err), "ExternalServiceError", "{text}");
    assert!(!text.contains("aivexpw"), "{text}");

    let insecure = format!("{}?require_ssl=true&ssl_accept_invalid_certs=true", db.url);
    let s = Store::open(&insecure).expect("accepting any certificate");
    assert!(s.tls_in_use().expect("tls"));
}

#[test]
fn mariadb_no_password_in_any_output() {
    let Some(db) = TestDb::mysql() else { return };
    let s = db.open();
    let shown = format!("{s:?} {}", s.redacted_url());
    assert!(!shown.contains("aivexpw"), "{shown}");
    assert!(shown.contains("aivex:***@"), "{shown}");

    let secret = "Sup3rSecretPw";
    let wrong = db.url.replace(":aivexpw@", &format!(":{secret}@"));
    let err = Store::open(&wrong).expect_err("wrong password");
    let module = ModuleError::from(err.clone());
    let text = format!("{err} {err:?} {module} {module:?} {}", redact_url(&wrong));
    assert!(!text.contains(secret), "{text}");
    assert_eq!(module.class(), "ConfigError", "{text}");

    // Nothing listens on port 1: unreachable is a transient external failure.
    let unreachable = format!("mysql://aivex:{secret}@127.0.0.1:1/aivex_test");
    let err = Store::open(&unreachable).expect_err("unreachable");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(secret), "{text}");
    assert_eq!(class(err), "ExternalServiceError", "{text}");
}

/// A write InnoDB rolls back as a deadlock victim is run again, not reported. An outside
/// transaction changes many rows (so InnoDB picks the lighter store transaction as the
/// victim), the store's upsert takes row S000 and waits for S001, then the outside
/// transaction asks for S000: a cycle. The store must retry and, once the outside
/// transaction commits, succeed with counts from its last attempt only.
#[test]
fn mariadb_deadlock_is_retried() {
    let Some(db) = TestDb::mysql() else { return };
    let mut s = db.migrated();
    let c = |i: usize, value: f64| Component {
        symbol: format!("S{i:03}"),
        kind: "chart".into(),
        value,
        as_of: 1,
        computed_at: 2,
        detail: "{}".into(),
    };
    let seed: Vec<Component> = (0..200).map(|i| c(i, 0.0)).collect();
    assert_eq!(s.upsert_components(&seed).expect("seed"), counts(200, 0, 0));

    let mut outside = mysql_admin(&db.url);
    outside
        .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .expect("isolation");
    outside.query_drop("START TRANSACTION").expect("begin");
    outside
        .query_drop("UPDATE components SET value = 1 WHERE symbol >= 'S001'")
        .expect("outside holds S001..S199");

    let writer = thread::spawn(move || {
        let r = s.upsert_components(&[c(0, 5.0), c(1, 5.0)]);
        (r, s)
    });
    // Wait (with a deadline) until the store's transaction is blocked on S001: its insert
    // has run for half a second (an insert that is not waiting takes microseconds). The
    // processlist, because MariaDB's innodb_trx can show a waiting transaction as RUNNING.
    let mut watcher = mysql_admin(&db.url);
    let start = std::time::Instant::now();
    loop {
        let waiting: Option<i64> = watcher
            .query_first(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() \
                 AND info LIKE 'INSERT INTO components%' AND time_ms > 500",
            )
            .expect("processlist");
        if waiting.unwrap_or(0) > 0 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the store never waited for S001"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // Closes the cycle; the store's transaction is the victim, so this one goes through.
    outside
        .query_drop("UPDATE components SET value = 2 WHERE symbol = 'S000'")
        .expect("the outside transaction is not the victim");
    outside.query_drop("COMMIT").expect("commit");

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(writer.join());
    });
    let (result, s) = rx
        .recv_timeout(DEADLINE)
        .expect("the store write finished")
        .expect("writer thread");
    assert_eq!(result.expect("retried, not reported"), counts(0, 2, 0));
    let got: Vec<f64> = s
        .all_components()
        .expect("read")
        .iter()
        .take(3)
        .map(|c| c.value)
        .collect();
    assert_eq!(got, vec![5.0, 5.0, 1.0]);
}
