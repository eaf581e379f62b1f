//! History (issue 15) with the real binary: `aivex replay` is point in time (appending wild
//! future bars, news and filings changes nothing up to `--to`), deterministic (byte-identical
//! JSON), read only, and a `--governor` "what if" changes decisions but not signals or scores;
//! bad arguments exit 2 naming what; brain's back-fill resumes after a SIGKILL mid-back-fill
//! with exactly the signals of an uninterrupted one, and back-filled allows never count toward
//! a live cooldown. On SQLite and on MariaDB (`AIVEX_TEST_MYSQL_URL`; required under CI).
//! The shipped demo's story is `demo.rs`.

use crate::harness::*;
use crate::pipeline::{mysql_exec, mysql_url, parse_mysql, TempDb};
use aivex_store::{
    Article, BackfillProgress, Component, Fundamental, OhlcvRow, SignalFilter, SignalRecord, Store,
};
use serde_json::{json, Value};
use std::time::Duration;

const DAY: i64 = 86_400;
/// 2024-01-01T00:00:00Z: the replayed data is fixed (a replay never reads the clock).
const T0: i64 = 1_704_067_200;

/// A test directory with a migrated store (SQLite in it, or a fresh MariaDB database) and a
/// config enabling brain (and news, for its window) with `brain_settings`.
struct Site {
    env: Env,
    url: String,
    _db: Option<TempDb>,
}

fn site(name: &str, mysql: bool, brain_settings: &str) -> Option<Site> {
    let env = Env::new(name);
    let (url, db) = if mysql {
        let base = mysql_url()?;
        let target = parse_mysql(&base);
        let db = format!("aivex_{}_{}", name.replace('-', "_"), std::process::id());
        mysql_exec(
            &target,
            &format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"),
        );
        let url = format!(
            "mysql://{}:{}@{}:{}/{db}{}",
            target.user, target.password, target.host, target.port, target.params
        );
        (url, Some(TempDb { target, name: db }))
    } else {
        let url = format!("sqlite://{}", env.path("data/aivex.sqlite").display());
        (url, None)
    };
    env.config(&format!(
        "[runtime]\nenabled = [\"news\", \"brain\"]\n[database]\nurl = \"{url}\"\n"
    ));
    env.module(
        "brain",
        &format!("builtin = \"brain\"\ninterval_s = 60\n[settings]\n{brain_settings}\n"),
    );
    env.module(
        "news",
        "builtin = \"news\"\ninterval_s = 300\n[settings]\nwindow_s = 432000\nhalf_life_s = 86400\n",
    );
    let out = env.run(&["migrate", "--config", "aivex.toml"], secs(60.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    Some(Site { env, url, _db: db })
}

impl Site {
    fn store(&self) -> Store {
        Store::open(&self.url).unwrap()
    }

    fn replay(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["replay", "--config", "aivex.toml"];
        all.extend_from_slice(args);
        self.env.run(&all, secs(120.0))
    }
}

/// A deterministic generator (xorshift), so the seeded history is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn bars(symbol: &str, seed: u64, start: i64, n: i64, drift: f64) -> Vec<OhlcvRow> {
    let mut rng = Rng(seed);
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close *= 1.0 + drift + (rng.next() - 0.5) * 0.05;
            OhlcvRow {
                symbol: symbol.into(),
                interval: "1d".into(),
                ts: start + i * DAY,
                open,
                high: open.max(close) * 1.01,
                low: open.min(close) * 0.99,
                close,
                adj_close: None,
                volume: 1e6 * (0.5 + rng.next()),
                source: "test".into(),
            }
        })
        .collect()
}

fn article(id: &str, symbol: &str, published: Option<i64>, ingested: i64, s: f64) -> Article {
    Article {
        id: id.into(),
        source: "test".into(),
        url: format!("https://news.example/{id}"),
        title: id.into(),
        summary: String::new(),
        published_at: published,
        ingested_at: ingested,
        sentiment: s,
        sentiment_method: "lexicon@1".into(),
        tickers: vec![symbol.into()],
    }
}

fn day(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

fn fact(symbol: &str, metric: &str, period: i64, value: f64, filed: i64) -> Fundamental {
    Fundamental {
        symbol: symbol.into(),
        metric: metric.into(),
        period_end: day(period),
        value,
        unit: "USD".into(),
        filed: day(filed),
        source: "test".into(),
    }
}

/// Two symbols: 240 daily bars from T0, an article every third day (every seventh without a
/// publication date), quarterly fundamentals filed 40 days after the quarter, the first
/// quarter restated a quarter later.
struct History {
    bars: Vec<OhlcvRow>,
    articles: Vec<Article>,
    facts: Vec<Fundamental>,
}

fn history() -> History {
    let mut h = History {
        bars: Vec::new(),
        articles: Vec::new(),
        facts: Vec::new(),
    };
    for (k, symbol) in ["AAA", "BBB"].iter().enumerate() {
        h.bars.extend(bars(symbol, 7 + k as u64, T0, 240, 0.001));
        let mut rng = Rng(99 + k as u64);
        for i in 0..80 {
            let t = T0 + i * 3 * DAY + 40_000;
            let published = (i % 7 != 0).then_some(t);
            h.articles.push(article(
                &format!("{symbol}-{i}"),
                symbol,
                published,
                t + 3_600,
                rng.next() * 2.0 - 1.0,
            ));
        }
        let mut revenue = 100.0;
        for q in 0..4 {
            let end = T0 - 10 * DAY + q * 91 * DAY;
            revenue *= 1.0 + (rng.next() - 0.4) * 0.2;
            for (metric, v) in [
                ("revenue", revenue),
                ("net_income", revenue * 0.1),
                ("operating_income", revenue * 0.2),
                ("total_liabilities", 150.0),
                ("equity", 100.0),
            ] {
                h.facts.push(fact(symbol, metric, end, v, end + 40 * DAY));
            }
        }
        // The first quarter's revenue restated in the second quarter's filing.
        h.facts.push(fact(
            symbol,
            "revenue",
            T0 - 10 * DAY,
            120.0,
            T0 + 121 * DAY,
        ));
    }
    h
}

fn seed(site: &Site, h: &History) {
    let mut s = site.store();
    s.upsert_bars(&h.bars).unwrap();
    s.upsert_articles(&h.articles).unwrap();
    s.upsert_fundamentals(&h.facts).unwrap();
}

/// What was known at `t` under the point-in-time rules, and nothing after.
fn known_at(h: &History, t: i64) -> History {
    History {
        bars: h.bars.iter().filter(|b| b.ts + DAY <= t).cloned().collect(),
        articles: h
            .articles
            .iter()
            .filter(|a| a.published_at.unwrap_or(a.ingested_at) <= t)
            .cloned()
            .collect(),
        facts: h
            .facts
            .iter()
            .filter(|f| f.filed <= day(t))
            .cloned()
            .collect(),
    }
}

/// Wild data after `t`: the bars that had not closed by then multiplied by 40, articles
/// published (or, undated, ingested) after it, a restatement and a new quarter filed after it.
fn wild_after(h: &History, t: i64) -> History {
    let mut w = History {
        bars: h.bars.clone(),
        articles: h.articles.clone(),
        facts: h.facts.clone(),
    };
    for b in w.bars.iter_mut().filter(|b| b.ts + DAY > t) {
        b.close *= 40.0;
        b.high *= 40.0;
    }
    for symbol in ["AAA", "BBB"] {
        w.articles.push(article(
            &format!("{symbol}-late"),
            symbol,
            Some(t + 1),
            t + 2,
            -1.0,
        ));
        w.articles.push(article(
            &format!("{symbol}-undated"),
            symbol,
            None,
            t + 60,
            1.0,
        ));
        w.facts
            .push(fact(symbol, "revenue", T0 - 10 * DAY, 1e12, t + DAY));
        w.facts
            .push(fact(symbol, "net_income", t - 5 * DAY, -1e9, t + 2 * DAY));
    }
    w
}

fn read(site: &Site, rel: &str) -> String {
    std::fs::read_to_string(site.env.path(rel)).unwrap()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn replay_point_in_time(mysql: bool) {
    let settings = "symbols = [\"AAA\", \"BBB\"]\nweights = { chart = 0.5, news = 0.3, metrics = 0.2 }\n[settings.governor]\ncooldown_s = 172800\nwindow_s = 259200\nmax_per_symbol_in_window = 1";
    let from = T0 + 60 * DAY;
    let to = T0 + 180 * DAY;
    let (from_s, to_s) = (day(from), day(to));
    let args = ["--from", &from_s, "--to", &to_s, "--json"];
    let tag = if mysql { "mysql" } else { "sqlite" };
    let Some(full) = site(&format!("replay-full-{tag}"), mysql, settings) else {
        return;
    };
    let Some(known) = site(&format!("replay-known-{tag}"), mysql, settings) else {
        return;
    };
    let h = history();
    seed(&full, &wild_after(&h, to));
    seed(&known, &known_at(&h, to));

    let run = |s: &Site, out: &str, signals: &str| -> String {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--out", out, "--signals", signals]);
        let o = s.replay(&a);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        let stdout = text(&o).0;
        assert_eq!(stdout, read(s, out), "--json on stdout is what --out holds");
        stdout
    };
    let a1 = run(&full, "a1.json", "a1.jsonl");
    let a2 = run(&full, "a2.json", "a2.jsonl");
    assert_eq!(a1, a2, "the same store and config give byte-identical JSON");
    assert_eq!(read(&full, "a1.jsonl"), read(&full, "a2.jsonl"));
    let b = run(&known, "b.json", "b.jsonl");
    // No look-ahead: everything after `to` changes nothing up to `to`.
    assert_eq!(
        a1, b,
        "report over the full store vs the store known at --to"
    );
    assert_eq!(read(&full, "a1.jsonl"), read(&known, "b.jsonl"));

    let report: Value = serde_json::from_str(&a1).unwrap();
    for key in [
        "from",
        "to",
        "step_s",
        "symbols",
        "config_hash",
        "signals",
        "allowed",
        "denied",
        "by_reason",
        "scored",
        "hit_rate",
        "hit_rate_all",
        "ic",
        "brier",
        "buckets",
        "per_symbol",
    ] {
        assert!(report.get(key).is_some(), "{key} missing: {report}");
    }
    assert_eq!(report["step_s"], DAY);
    assert_eq!(report["symbols"], json!(["AAA", "BBB"]));
    assert_eq!(report["buckets"].as_array().map(Vec::len), Some(10));
    let signals = lines(&read(&full, "a1.jsonl"));
    let n = report["signals"].as_u64().unwrap() as usize;
    assert_eq!(signals.len(), n);
    assert!(n > 100, "{n} signals");
    assert!(report["allowed"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["by_reason"]["COOLDOWN_ACTIVE"].as_u64().unwrap_or(0) > 0
            || report["by_reason"]["WINDOW_LIMIT"].as_u64().unwrap_or(0) > 0,
        "the governor's windows evolve in replay time: {report}"
    );
    assert!(report["scored"].as_u64().unwrap() > 0);
    let mut last = 0;
    for s in &signals {
        let at = s["at"].as_i64().unwrap();
        assert!((from..=to).contains(&at) && at >= last, "time order: {s}");
        last = at;
        for key in [
            "symbol",
            "direction",
            "score",
            "confidence",
            "decision",
            "reason_codes",
            "outcome",
        ] {
            assert!(s.get(key).is_some(), "{key} missing: {s}");
        }
        if let Some(o) = s["outcome"].as_object() {
            // Scored from bars closed by --to only.
            assert!(o["scored_at"].as_i64().unwrap() <= to, "{s}");
            assert!(["hit", "miss", "flat"].contains(&o["kind"].as_str().unwrap()));
        }
    }

    // A "what if": halted denies everything; the signals and their outcomes stay.
    full.env.write("halted.toml", "halted = true\n");
    let o = full.replay(&[
        "--from",
        &from_s,
        "--to",
        &to_s,
        "--signals",
        "h.jsonl",
        "--governor",
        "halted.toml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("HALTED"), "the table: {}", text(&o).0);
    let halted = lines(&read(&full, "h.jsonl"));
    assert_eq!(halted.len(), signals.len());
    let same = |v: &Value| {
        json!([
            v["symbol"],
            v["at"],
            v["id"],
            v["score"],
            v["confidence"],
            v["outcome"]
        ])
    };
    for (h, s) in halted.iter().zip(&signals) {
        assert_eq!(same(h), same(s));
        assert_eq!(h["decision"], "deny");
        assert!(h["reason_codes"]
            .as_array()
            .unwrap()
            .contains(&json!("HALTED")));
    }

    // Read only: a replay wrote no signal and no governor log line.
    let st = full.store();
    assert!(st
        .signals_query(&SignalFilter::default())
        .unwrap()
        .is_empty());
    assert!(st.governor_logs_for(&["x"]).unwrap()[0].is_empty());
}

#[test]
fn replay_is_point_in_time_deterministic_and_read_only_sqlite() {
    replay_point_in_time(false);
}

#[test]
fn replay_is_point_in_time_deterministic_and_read_only_mariadb() {
    replay_point_in_time(true);
}

#[test]
fn replay_rejects_bad_arguments_with_exit_2() {
    let Some(s) = site("replay-bad", false, "symbols = [\"AAA\"]") else {
        return;
    };
    s.env.write("syntax.toml", "halted = \n");
    s.env.write("range.toml", "min_confidence = 2.0\n");
    s.env.write("typo.toml", "min_confidnce = 0.2\n");
    let ok = ["--from", "2024-01-01", "--to", "2024-02-01"];
    let table: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--from", "2024-13-01", "--to", "2024-02-01"],
            "--from \"2024-13-01\"",
        ),
        (vec!["--from", "2024-01-01"], "--to DATE"),
        (vec!["--to", "2024-01-01"], "--from DATE"),
        (
            vec!["--from", "2024-03-01", "--to", "2024-02-01"],
            "is after --to",
        ),
        (
            vec!["--from", "2024-01-01", "--to", "soon"],
            "--to \"soon\"",
        ),
        ([&ok[..], &["--step", "1M"]].concat(), "--step \"1M\""),
        ([&ok[..], &["--symbols", "AAA,B B"]].concat(), "--symbols"),
        (
            [&ok[..], &["--governor", "missing.toml"]].concat(),
            "cannot read --governor missing.toml",
        ),
        (
            [&ok[..], &["--governor", "syntax.toml"]].concat(),
            "--governor syntax.toml",
        ),
        (
            [&ok[..], &["--governor", "range.toml"]].concat(),
            "min_confidence",
        ),
        (
            [&ok[..], &["--governor", "typo.toml"]].concat(),
            "min_confidnce",
        ),
        (
            [&ok[..], &["--out", "/nonexistent/dir/r.json"]].concat(),
            "--out /nonexistent/dir/r.json",
        ),
        (
            [&ok[..], &["--signals", "/nonexistent/s.jsonl"]].concat(),
            "--signals /nonexistent/s.jsonl",
        ),
        ([&ok[..], &["--bogus"]].concat(), "bogus"),
    ];
    for (args, want) in table {
        let o = s.replay(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The arguments are fine: an empty store replays to an empty report, exit 0.
    let o = s.replay(&ok);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("denials by reason"));
}

// ------------------------------------------------------------------------------- back-fill

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `aivex module brain` with `settings`; `once` runs one cycle and waits for it.
fn brain(site: &Site, settings: &Value, once: bool) -> std::process::Child {
    let mut args = vec!["module", "brain"];
    if once {
        args.push("--once");
    }
    let run_dir = site.env.path("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    site.env
        .cmd(&args)
        .env("AIVEX_SETTINGS", settings.to_string())
        .env("AIVEX_DATABASE_URL", &site.url)
        .env("AIVEX_RUN_DIR", &run_dir)
        .env("AIVEX_DATA_DIR", site.env.path("data"))
        .env("AIVEX_CONFIG_DIR", &site.env.dir)
        .env("AIVEX_INTERVAL_S", "0.1")
        .env("AIVEX_EXPORTS", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: std::process::Child, deadline: Duration) -> std::process::Output {
    let end = std::time::Instant::now() + deadline;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!(
                "brain did not finish within {deadline:?}: {:?}",
                text(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// (id, symbol, created_at, decision, reasons) of every back-filled signal, sorted.
fn backfilled(s: &Store) -> Vec<(String, String, i64, String, String)> {
    let mut v: Vec<_> = s
        .signals_query(&SignalFilter {
            origin: Some("backfill".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|r: SignalRecord| (r.id, r.symbol, r.created_at, r.decision, r.reasons))
        .collect();
    v.sort();
    v
}

fn backfill_resumes_after_sigkill(mysql: bool) {
    let tag = if mysql { "mysql" } else { "sqlite" };
    let Some(killed) = site(&format!("backfill-killed-{tag}"), mysql, "") else {
        return;
    };
    let Some(whole) = site(&format!("backfill-whole-{tag}"), mysql, "") else {
        return;
    };
    // Daily bars ending yesterday, three symbols, so the window ends at today's 00:00.
    let today = now() - now().rem_euclid(DAY);
    for s in [&killed, &whole] {
        let mut st = s.store();
        for (k, symbol) in ["AAA", "BBB", "CCC"].iter().enumerate() {
            st.upsert_bars(&bars(symbol, 3 + k as u64, today - 400 * DAY, 400, 0.0))
                .unwrap();
        }
    }
    let settings = json!({
        "symbols": ["AAA", "BBB", "CCC"],
        "backfill_days": 365,
        "backfill_batch": 25,
        "once_wait_s": 0,
        "weights": {"chart": 1.0, "news": 0.0, "metrics": 0.0},
    });
    // The reference: all of it in one once-mode cycle.
    let out = finish(brain(&whole, &settings, true), secs(120.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let want = backfilled(&whole.store());
    assert!(want.len() > 3 * 300, "{} back-filled", want.len());

    // Continuous, 25 symbol-steps a cycle: SIGKILL once part of it is written.
    let child = brain(&killed, &settings, false);
    let pid = child.id() as i32;
    let st = killed.store();
    let partial = |p: &[BackfillProgress]| {
        p.len() == 3
            && p.iter().any(|r| r.done_until > r.window_from)
            && p.iter().all(|r| !r.done())
    };
    let written = || {
        let f = SignalFilter {
            origin: Some("backfill".into()),
            limit: Some(1),
            ..Default::default()
        };
        !st.signals_query(&f).unwrap_or_default().is_empty()
    };
    wait_for("a partial back-fill", secs(60.0), || {
        (written() && partial(&st.backfill_progress().unwrap_or_default())).then_some(())
    });
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let out = finish(child, secs(20.0));
    assert_eq!(out.status.code(), None, "killed by a signal");
    let before = backfilled(&st).len();
    assert!(
        before > 0 && before < want.len(),
        "{before} of {}",
        want.len()
    );

    // Restarted: it resumes after its last written batch and ends with exactly the same
    // signals, none twice.
    let child = brain(&killed, &settings, false);
    wait_for("the back-fill to finish", secs(120.0), || {
        let p = st.backfill_progress().unwrap_or_default();
        (p.len() == 3 && p.iter().all(BackfillProgress::done)).then_some(())
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = finish(child, secs(20.0));
    let (_, err) = text(&out);
    assert!(
        err.contains("resuming 3 after their last written batch"),
        "{err}"
    );
    let got = backfilled(&st);
    assert_eq!(got, want);
    let ids: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    let logs = st.governor_logs_for(&ids).unwrap();
    assert!(
        logs.iter().all(|l| l.len() == 1),
        "one governor_log line per signal"
    );
    for s in st.signals_query(&SignalFilter::default()).unwrap() {
        assert_eq!(s.origin, "backfill");
        assert!(s.recorded_at >= s.created_at, "{s:?}");
    }
}

#[test]
fn backfill_resumes_after_sigkill_without_duplicates_sqlite() {
    backfill_resumes_after_sigkill(false);
}

#[test]
fn backfill_resumes_after_sigkill_without_duplicates_mariadb() {
    backfill_resumes_after_sigkill(true);
}

/// A strongly rising chart back-fills allows up to today's 00:00; with a 30-day cooldown, a
/// live signal now would be denied COOLDOWN_ACTIVE if those counted. They must not.
#[test]
fn backfilled_allows_never_count_toward_live_cooldowns() {
    let Some(s) = site("backfill-ledger", false, "") else {
        return;
    };
    let today = now() - now().rem_euclid(DAY);
    s.store()
        .upsert_bars(&bars("AAA", 11, today - 200 * DAY, 200, 0.02))
        .unwrap();
    s.store()
        .upsert_components(&[Component {
            symbol: "AAA".into(),
            kind: "chart".into(),
            value: 0.9,
            as_of: now() - 60,
            computed_at: now(),
            detail: "{}".into(),
        }])
        .unwrap();
    let settings = json!({
        "symbols": ["AAA"],
        "backfill_days": 30,
        "once_wait_s": 0,
        "weights": {"chart": 1.0, "news": 0.0, "metrics": 0.0},
        "governor": {"cooldown_s": 30 * DAY, "window_s": 30 * DAY, "max_per_symbol_in_window": 1},
    });
    let out = finish(brain(&s, &settings, true), secs(120.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let st = s.store();
    let all = st.signals_query(&SignalFilter::default()).unwrap();
    let recent_allows = all
        .iter()
        .filter(|r| {
            r.origin == "backfill" && r.decision == "allow" && r.created_at > now() - 30 * DAY
        })
        .count();
    assert!(
        recent_allows >= 1,
        "back-filled allows inside the cooldown: {all:?}"
    );
    // In replay time the cooldown held: at most one back-filled allow per 30 days.
    let live: Vec<&SignalRecord> = all.iter().filter(|r| r.origin == "live").collect();
    assert_eq!(live.len(), 1, "{all:?}");
    assert_eq!(
        (live[0].decision.as_str(), live[0].reasons.as_str()),
        ("allow", ""),
        "{:?}",
        live[0]
    );
}
