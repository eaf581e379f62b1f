//! The read model against a real SQLite store (a temp file): what it serves is byte for byte
//! what the store's own page would be, it follows writes only through `refresh`, a cold
//! start over more symbols than one page of changes walks in pages, and the page cache keeps
//! its version rules and its byte budget.

use super::*;
use aivex_store::{Feedback, GovernorLogRecord, SignalRecord};

struct Db {
    dir: std::path::PathBuf,
    store: Store,
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn db(name: &str) -> Db {
    let dir = std::env::temp_dir().join(format!("aivex-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("dir: {e}"));
    let mut store = Store::open(&format!("sqlite://{}", dir.join("m.sqlite").display()))
        .unwrap_or_else(|e| panic!("open: {e}"));
    store.migrate().unwrap_or_else(|e| panic!("migrate: {e}"));
    Db { dir, store }
}

fn write(s: &mut Store, id: &str, symbol: &str, at: i64) {
    let sig = SignalRecord {
        id: id.into(),
        symbol: symbol.into(),
        created_at: at,
        direction: 1,
        score: 0.5,
        confidence: 0.75,
        horizon_s: 3600,
        components_json: r#"{"chart":{"value":0.5}}"#.into(),
        decision: "allow".into(),
        reasons: String::new(),
        origin: "live".into(),
        recorded_at: at,
        lease: None,
    };
    let g = GovernorLogRecord {
        signal_id: id.into(),
        symbol: symbol.into(),
        decision: "allow".into(),
        reason_codes: String::new(),
        rules_json: r#"[{"rule":"MIN_CONFIDENCE","passed":true}]"#.into(),
        config_hash: "h".into(),
        at,
    };
    s.record_decision(&sig, &g)
        .unwrap_or_else(|e| panic!("record: {e}"));
}

fn latest(symbol: Option<&str>, after: Option<(i64, &str)>) -> SignalFilter {
    SignalFilter {
        latest_per_symbol: true,
        symbol: symbol.map(String::from),
        after: after.map(|(a, i)| (a, i.to_string())),
        ..Default::default()
    }
}

/// The body the store path renders for `f` with `limit` rows.
fn from_store(s: &Store, f: &SignalFilter, limit: usize) -> (i64, String) {
    let mut f = f.clone();
    f.limit = Some(limit + 1);
    let page = s
        .signal_page(&f, AUTO_FEEDBACK_SOURCE)
        .unwrap_or_else(|e| panic!("page: {e}"));
    store_page(page, limit).unwrap_or_else(|e| panic!("render: {}", e.message))
}

#[test]
fn serves_what_the_store_would_and_moves_only_on_refresh() {
    let mut d = db("same");
    let m = ReadModel::default();
    assert!(m.state().is_none(), "cold");
    for (i, sym) in ["AAA", "BBB", "CCC", "DDD"].iter().enumerate() {
        write(&mut d.store, &format!("{sym}-1"), sym, 100 + i as i64);
    }
    // A tie on created_at with another symbol's signal: ordered by id, as the store does.
    write(&mut d.store, "AAA-2", "AAA", 103);
    let changed = m
        .refresh(&d.store)
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    assert_eq!(changed.len(), 4);
    let st = m.state().unwrap_or_else(|| panic!("ready after a refresh"));
    assert_eq!(st.version, d.store.signals_version().unwrap_or(-1));
    let cases = [
        (latest(None, None), 2),
        (latest(None, None), 10),
        (latest(None, Some((103, "DDD-1"))), 2),
        (latest(None, Some((103, "AAA-2"))), 5),
        (latest(Some("BBB"), None), 5),
        (latest(Some("ZZZ"), None), 5),
    ];
    for (f, limit) in &cases {
        assert!(answers_latest(f));
        assert_eq!(
            latest_page(&st, f, *limit),
            from_store(&d.store, f, *limit).1,
            "{f:?} limit {limit}"
        );
    }
    // A new signal and an automatic outcome: invisible until the next refresh, then there.
    write(&mut d.store, "BBB-2", "BBB", 200);
    d.store
        .insert_feedback(&Feedback {
            signal_id: "CCC-1".into(),
            source: AUTO_FEEDBACK_SOURCE.into(),
            outcome: "hit".into(),
            realized_return: Some(0.02),
            horizon_s: Some(3600),
            note: None,
            at: 300,
        })
        .unwrap_or_else(|e| panic!("feedback: {e}"));
    let before = m.state().map(|s| s.version);
    assert_eq!(before, Some(st.version));
    let mut changed = m
        .refresh(&d.store)
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    changed.sort();
    assert_eq!(changed, ["BBB", "CCC"]);
    let st2 = m.state().unwrap_or_else(|| panic!("state"));
    assert!(st2.version > st.version);
    for (f, limit) in &cases {
        assert_eq!(
            latest_page(&st2, f, *limit),
            from_store(&d.store, f, *limit).1,
            "{f:?} limit {limit}"
        );
    }
    assert!(
        latest_page(&st2, &latest(Some("CCC"), None), 1).contains("\"outcome\":{\"kind\":\"hit\"")
    );
    // Nothing changed: one small read, the same state.
    assert!(m.refresh(&d.store).unwrap_or_default().is_empty());
    assert!(m.state().is_some_and(|s| Arc::ptr_eq(&s, &st2)));
}

#[test]
fn a_cold_start_walks_in_pages_through_shared_versions() {
    let mut d = db("cold");
    // More symbols than one page of changes; all at version 1 after the migration back-fill
    // would be the hard case, so put many symbols in one transaction-free run and then
    // check the model equals the store.
    let n = CHANGES_PAGE + 37;
    for i in 0..n {
        write(
            &mut d.store,
            &format!("S{i:04}-1"),
            &format!("S{i:04}"),
            1000 + (i as i64 % 7),
        );
    }
    let m = ReadModel::default();
    let changed = m
        .refresh(&d.store)
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    assert_eq!(changed.len(), n);
    let st = m.state().unwrap_or_else(|| panic!("ready"));
    assert_eq!(st.order.len(), n);
    let f = latest(None, None);
    assert_eq!(latest_page(&st, &f, 1000), from_store(&d.store, &f, 1000).1);
}

#[test]
fn pages_keep_versions_and_their_budget() {
    let m = ReadModel::default();
    let body = |c: char, n: usize| -> Arc<str> { Arc::from(c.to_string().repeat(n).as_str()) };
    m.keep_page("AAA", 100, 5, body('a', 10));
    assert_eq!(m.page("AAA", 100, 5).map(|(v, _)| v), Some(5));
    assert_eq!(m.page("AAA", 100, 6), None, "older than the model");
    assert_eq!(m.page("AAA", 50, 0), None, "another limit is another page");
    // An older page never replaces a newer one; a newer one does.
    m.keep_page("AAA", 100, 4, body('o', 10));
    assert_eq!(
        m.page("AAA", 100, 0).map(|(_, b)| b.to_string()),
        Some("a".repeat(10))
    );
    m.keep_page("AAA", 100, 7, body('n', 10));
    assert_eq!(
        m.page("AAA", 100, 7).map(|(_, b)| b.to_string()),
        Some("n".repeat(10))
    );
    // The budget: the least recently used go first.
    let big = PAGES_MAX_BYTES / 5;
    for (i, sym) in ["B1", "B2", "B3", "B4"].iter().enumerate() {
        m.keep_page(sym, 100, 1, body('x', big));
        if i == 0 {
            let _ = m.page("AAA", 100, 0);
        }
    }
    assert!(m.page_bytes() <= PAGES_MAX_BYTES);
    m.keep_page("B5", 100, 1, body('x', big));
    assert!(m.page_bytes() <= PAGES_MAX_BYTES);
    assert!(m.page("B5", 100, 0).is_some(), "the newest stays");
    assert!(
        m.page("B1", 100, 0).is_none(),
        "the least recently used went"
    );
    // A page larger than a quarter of the budget is not kept at all.
    m.keep_page("HUGE", 100, 1, body('h', PAGES_MAX_BYTES / 4 + 1));
    assert!(m.page("HUGE", 100, 0).is_none());
    // Pages of symbols that changed are dropped.
    m.forget_pages(&["B5".to_string()]);
    assert!(m.page("B5", 100, 0).is_none());
}
