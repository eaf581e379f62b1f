//! The signal modules (chart, news, metrics) and their tools through the real binary: demo data
//! into SQLite and re-ingest idempotence, bad input over real HTTP (HTTP 500, timeout,
//! oversized body, provider error body with status 200, broken XML, truncated JSON, unknown
//! date, non-number price) keeping the good records, a supervised module that keeps running on
//! bad data, the same ingestion against MariaDB, `aivex indicators` against the TA-Lib golden
//! file, and `aivex news-preview`. Every wait has a deadline.

use crate::harness::*;
use aivex_store::Store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------- fixtures and helpers

/// What a route answers: status, body, and a delay before answering.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

fn ok(body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status: 200,
        body: body.into(),
        delay: Duration::ZERO,
    }
}

fn status(code: u16) -> Reply {
    Reply {
        status: code,
        body: b"server error".to_vec(),
        delay: Duration::ZERO,
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 whose routes the test can change while it runs. Each
/// connection gets its own thread so a slow route does not hold up the others.
struct Server {
    base: String,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let r = routes.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let r = r.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        match reader.read_line(&mut h) {
                            Ok(n) if n > 2 => continue,
                            _ => break,
                        }
                    }
                    let path = first
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .split('?')
                        .next()
                        .unwrap_or("/")
                        .to_string();
                    let reply = r
                        .lock()
                        .unwrap()
                        .get(&path)
                        .cloned()
                        .unwrap_or_else(|| status(404));
                    std::thread::sleep(reply.delay);
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&reply.body);
                });
            }
        });
        Server { base, routes }
    }

    fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Runs a command to completion, reading its output while it runs (a large stdout would fill
/// the pipe and block a child that is only polled), killing it after 60 s.
fn output(mut c: std::process::Command) -> std::process::Output {
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let killer = std::thread::spawn(move || {
        let end = std::time::Instant::now() + Duration::from_secs(60);
        while !d.load(std::sync::atomic::Ordering::SeqCst) {
            if std::time::Instant::now() > end {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        killer.join().unwrap(),
        "{c:?} did not finish within 60 s: {:?}",
        text(&out)
    );
    out
}

/// `n` daily Yahoo-style bars from 2024-01-01 as CSV lines (no header).
fn bar_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let d = 19_723 + i as i64; // 2024-01-01 in days since the epoch
            let date = jiff::Timestamp::from_second(d * 86_400)
                .unwrap()
                .strftime("%Y-%m-%d")
                .to_string();
            let c = 100.0 + (i as f64 * 0.7).sin() * 5.0 + i as f64 * 0.1;
            format!(
                "{date},{:.4},{:.4},{:.4},{c:.4},{c:.4},{}",
                c - 0.5,
                c + 1.0,
                c - 1.0,
                1_000_000 + i * 1000
            )
        })
        .collect()
}

fn csv(lines: &[String]) -> String {
    let mut s = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// A module's `[settings]` table in the repository, as the JSON the supervisor would pass.
fn repo_settings(module: &str) -> Value {
    let text = std::fs::read_to_string(
        Path::new(REPO)
            .join("modules")
            .join(module)
            .join("module.toml"),
    )
    .unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    serde_json::to_value(t.get("settings").unwrap()).unwrap()
}

/// A test directory with a migrated store: SQLite in the directory, or `url` when given.
struct Site {
    env: Env,
    url: String,
}

fn store_env(name: &str, url: Option<&str>) -> Site {
    let env = Env::new(name);
    let url = url
        .map(str::to_string)
        .unwrap_or_else(|| format!("sqlite://{}", env.path("data/aivex.sqlite").display()));
    env.config(&format!(
        "[runtime]\nenabled = []\n[database]\nurl = \"{url}\"\n"
    ));
    let out = env.run(&["migrate", "--config", "aivex.toml"], secs(60.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    Site { env, url }
}

impl Site {
    /// `aivex module NAME --once` with `settings`, paths relative to `config_dir`.
    fn module(&self, name: &str, settings: &Value, config_dir: &Path) -> std::process::Output {
        let mut c = self.env.cmd(&["module", name, "--once"]);
        c.env("AIVEX_SETTINGS", settings.to_string())
            .env("AIVEX_CONFIG_DIR", config_dir)
            .env("AIVEX_DATA_DIR", self.env.path("data"))
            .env("AIVEX_RUN_DIR", self.env.path("run"))
            .env("AIVEX_DATABASE_URL", &self.url);
        output(c)
    }

    fn open(&self) -> Store {
        Store::open(&self.url).unwrap()
    }

    /// The crash records (DataValidation and terminal errors) written so far, oldest first.
    fn records(&self) -> Vec<Value> {
        let Ok(rd) = std::fs::read_dir(self.env.path("run/errors/crashes")) else {
            return vec![];
        };
        let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
        v.sort();
        v.iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    fn clear_records(&self) {
        let _ = std::fs::remove_dir_all(self.env.path("run/errors"));
    }
}

fn messages(recs: &[Value], class: &str) -> Vec<String> {
    recs.iter()
        .filter(|r| r["class"] == class)
        .map(|r| r["message"].as_str().unwrap_or("").to_string())
        .collect()
}

fn has(msgs: &[String], all: &[&str]) -> bool {
    msgs.iter().any(|m| all.iter().all(|n| m.contains(n)))
}

/// The summary lines a module printed (one per source per cycle).
fn summaries(out: &std::process::Output, module: &str) -> Vec<String> {
    let (_, err) = text(out);
    err.lines()
        .filter(|l| l.contains(&format!("{module}: source ")))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- demo data, SQLite

/// The three modules on the shipped demo data (dated so that it ends yesterday) and settings,
/// then again: nothing new.
fn ingest_demo(s: &Site, symbols: &[&str]) {
    let config = s.env.path("config");
    crate::fixtures::dated_config(&config);
    for m in ["chart", "news", "metrics"] {
        let out = s.module(m, &repo_settings(m), &config);
        assert_eq!(out.status.code(), Some(0), "{m}: {:?}", text(&out));
        assert!(!summaries(&out, m).is_empty(), "{m}: {:?}", text(&out));
    }
    let st = s.open();
    // The shipped year plus its generated history (config/demo/bars/history).
    assert_eq!(st.bars("AAPL", "1d", None, None).unwrap().len(), 251 + 341);
    assert_eq!(
        st.bars("BTCUSDT", "1d", None, None).unwrap().len(),
        365 + 477
    );
    let apple = st.articles_for("AAPL", None).unwrap();
    assert!(apple.len() >= 3, "{apple:?}");
    assert!(apple
        .iter()
        .all(|a| a.tickers.contains(&"AAPL".to_string())
            && a.sentiment_method.starts_with("lexicon@")));
    assert!(apple.iter().all(|a| (-1.0..=1.0).contains(&a.sentiment)));
    assert!(!st.fundamentals_for("AAPL").unwrap().is_empty());
    for sym in symbols {
        let kinds: Vec<String> = st
            .components_for(sym)
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(kinds, ["chart", "metrics", "news"], "{sym}");
    }
    for c in st.all_components().unwrap() {
        assert!((-1.0..=1.0).contains(&c.value), "{c:?}");
        assert!(serde_json::from_str::<Value>(&c.detail).is_ok(), "{c:?}");
    }
    // Re-ingest: every source reports nothing new or updated.
    for m in ["chart", "news", "metrics"] {
        let out = s.module(m, &repo_settings(m), &config);
        assert_eq!(out.status.code(), Some(0), "{m}: {:?}", text(&out));
        for line in summaries(&out, m) {
            assert!(
                line.contains("new 0, updated 0,") && line.contains("skipped 0"),
                "{line}"
            );
        }
    }
    assert_eq!(
        s.open().bars("AAPL", "1d", None, None).unwrap().len(),
        251 + 341
    );
}

#[test]
fn demo_data_into_sqlite_and_reingest_is_idempotent() {
    let s = store_env("sig-demo", None);
    ingest_demo(&s, &["AAPL", "MSFT", "NVDA"]);
    assert!(s.records().is_empty(), "{:?}", s.records());
}

/// The chart pipeline with several store writers: every symbol's bars and component land,
/// two sources of one symbol (a history file and a file of the newer bars) are written in one
/// job without racing, summary lines come once per source, a rerun changes nothing, and a
/// bad `writers` value is a ConfigError.
fn chart_pipeline_with_writers(s: &Site, prefix: &str, writers: Option<usize>) {
    let dir = s.env.path("bars");
    std::fs::create_dir_all(&dir).unwrap();
    let lines = bar_lines(90);
    let mut sources = Vec::new();
    for i in 0..12 {
        let name = format!("{prefix}{i:02}.csv");
        std::fs::write(dir.join(&name), csv(&lines[..60 + i])).unwrap();
        sources.push(json!(format!("bars/{name}")));
    }
    // The first symbol's newer bars come from a second source.
    let live = lines[60..90].to_vec();
    let first = format!("{prefix}00");
    std::fs::write(dir.join("first-live.csv"), csv(&live)).unwrap();
    sources.push(json!({"symbol": first, "path": "bars/first-live.csv"}));
    let mut settings = json!({ "sources": sources });
    if let Some(w) = writers {
        settings["writers"] = json!(w);
    }
    let out = s.module("chart", &settings, &s.env.dir);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(summaries(&out, "chart").len(), 13, "{:?}", text(&out));
    let st = s.open();
    assert_eq!(st.bars(&first, "1d", None, None).unwrap().len(), 90);
    for i in 1..12 {
        let sym = format!("{prefix}{i:02}");
        assert_eq!(
            st.bars(&sym, "1d", None, None).unwrap().len(),
            60 + i,
            "{sym}"
        );
        let kinds: Vec<String> = st
            .components_for(&sym)
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(kinds, ["chart"], "{sym}");
    }
    // The first symbol's component saw both sources: its newest bar is the live file's last.
    let p00 = st.components_for(&first).unwrap();
    let newest = st.bars(&first, "1d", None, Some(1)).unwrap();
    assert_eq!(p00.first().map(|c| c.as_of), newest.first().map(|b| b.ts));
    let again = s.module("chart", &settings, &s.env.dir);
    assert_eq!(again.status.code(), Some(0), "{:?}", text(&again));
    for line in summaries(&again, "chart") {
        assert!(line.contains("new 0, updated 0,"), "{line}");
    }
    settings["writers"] = json!(0);
    let bad = s.module("chart", &settings, &s.env.dir);
    assert_eq!(bad.status.code(), Some(2), "{:?}", text(&bad));
    assert!(
        text(&bad).1.contains("writers must be 1-8"),
        "{:?}",
        text(&bad)
    );
}

#[test]
fn chart_pipeline_with_three_writers_on_sqlite() {
    chart_pipeline_with_writers(&store_env("sig-pipe", None), "P", Some(3));
}

#[test]
fn chart_pipeline_with_default_writers_on_mariadb() {
    let Some(url) = mysql_url() else { return };
    // Symbols of this process only: the test database is shared with other test runs.
    let prefix = format!("PP{}X", std::process::id());
    chart_pipeline_with_writers(&store_env("sig-pipe-mysql", Some(&url)), &prefix, None);
}

// ---------------------------------------------------------------- bad input over HTTP

#[test]
fn chart_bad_input_over_http_keeps_good_rows_and_exits_75_on_transient_failure() {
    let srv = Server::start();
    let mut lines = bar_lines(60);
    // Line numbers count the header as line 1.
    lines.insert(9, "2024-02-30x,1,2,0.5,1.5,1.5,100".into()); // line 11: unknown date format
    lines.insert(19, "2024-01-19,abc,2,0.5,1.5,1.5,100".into()); // line 21: price not a number
    srv.set("/good.csv", ok(csv(&lines)));
    srv.set("/fail.csv", status(500));
    srv.set("/big.csv", ok(csv(&bar_lines(400))));
    srv.set(
        "/trunc.json",
        ok("[[1700000000000,\"1.0\",\"2.0\",\"0.5\",\"1.5\",\"10\"],[1700086400000,\"1."),
    );
    srv.set(
        "/slow.csv",
        Reply {
            delay: Duration::from_secs(4),
            ..ok(csv(&bar_lines(5)))
        },
    );
    let s = store_env("sig-chart-http", None);
    let settings = json!({
        "sources": [
            {"symbol": "GOOD", "url": srv.url("/good.csv")},
            {"symbol": "FAIL", "url": srv.url("/fail.csv")},
            {"symbol": "BIG", "url": srv.url("/big.csv")},
            {"symbol": "TRUNC", "url": srv.url("/trunc.json")},
            {"symbol": "SLOW", "url": srv.url("/slow.csv")},
        ],
        "timeout_s": 1,
        "max_bytes": 8192,
        "user_agent": "aivex-test/1",
    });
    let out = s.module("chart", &settings, &s.env.dir);
    assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    assert_eq!(summaries(&out, "chart").len(), 5, "{:?}", text(&out));
    let st = s.open();
    assert_eq!(st.bars("GOOD", "1d", None, None).unwrap().len(), 60);
    assert!(st
        .components_for("GOOD")
        .unwrap()
        .iter()
        .any(|c| c.kind == "chart"));
    for sym in ["FAIL", "BIG", "TRUNC", "SLOW"] {
        assert!(st.bars(sym, "1d", None, None).unwrap().is_empty(), "{sym}");
    }
    let recs = s.records();
    let bad = messages(&recs, "DataValidationError");
    assert!(has(&bad, &["good.csv", "line 11"]), "{bad:?}");
    assert!(has(&bad, &["good.csv", "line 21"]), "{bad:?}");
    assert!(has(&bad, &["big.csv", "8192"]), "{bad:?}");
    assert!(has(&bad, &["trunc.json", "JSON"]), "{bad:?}");
    let ext = messages(&recs, "ExternalServiceError");
    assert!(has(&ext, &["fail.csv", "500"]), "{ext:?}");

    // The good source fails now: what is stored stays.
    srv.set("/good.csv", status(503));
    let out = s.module("chart", &settings, &s.env.dir);
    assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    assert_eq!(s.open().bars("GOOD", "1d", None, None).unwrap().len(), 60);

    // Back again: idempotent.
    srv.set("/good.csv", ok(csv(&lines)));
    let out = s.module("chart", &settings, &s.env.dir);
    let good = summaries(&out, "chart")
        .into_iter()
        .find(|l| l.contains("good.csv"))
        .unwrap();
    // Only the header and the last line are parsed again: the bytes before it are unchanged.
    assert!(
        good.contains("parsed 1, new 0, updated 0, unchanged 60, skipped 0"),
        "{good}"
    );

    // One more bar and one revised bar: only those are written.
    let mut more = lines.clone();
    more.push(bar_lines(61).pop().unwrap());
    srv.set("/good.csv", ok(csv(&more)));
    let out = s.module("chart", &settings, &s.env.dir);
    let good = summaries(&out, "chart")
        .into_iter()
        .find(|l| l.contains("good.csv"))
        .unwrap();
    assert!(
        good.contains("parsed 2, new 1, updated 0, unchanged 60"),
        "{good}"
    );
    assert_eq!(s.open().bars("GOOD", "1d", None, None).unwrap().len(), 61);

    // An earlier bar revised (a dividend adjusts history): the whole file is parsed again and
    // the changed bar updated in place; bad new last lines name their real line numbers.
    let mut revised = more.clone();
    revised[0] = revised[0].replacen(",1000000", ",1000001", 1);
    revised.push("2024-03-05,1,2,0.5,1.5,1.5,not-a-volume".into());
    srv.set("/good.csv", ok(csv(&revised)));
    s.clear_records();
    let out = s.module("chart", &settings, &s.env.dir);
    let good = summaries(&out, "chart")
        .into_iter()
        .find(|l| l.contains("good.csv"))
        .unwrap();
    assert!(
        good.contains("parsed 61, new 0, updated 1, unchanged 60, skipped 3"),
        "{good}"
    );
    assert!(has(
        &messages(&s.records(), "DataValidationError"),
        &["good.csv", "line 65"]
    ));
    s.clear_records();
    let mut appended = revised.clone();
    appended.push("2024-03-06,1,2,0.5,1.5,1.5,x".into());
    srv.set("/good.csv", ok(csv(&appended)));
    let out = s.module("chart", &settings, &s.env.dir);
    let good = summaries(&out, "chart")
        .into_iter()
        .find(|l| l.contains("good.csv"))
        .unwrap();
    assert!(
        good.contains("parsed 0, new 0, updated 0, unchanged 61, skipped 2"),
        "{good}"
    );
    let bad = messages(&s.records(), "DataValidationError");
    assert!(
        has(&bad, &["good.csv", "line 65"]) && has(&bad, &["good.csv", "line 66"]),
        "{bad:?}"
    );
    assert_eq!(s.open().bars("GOOD", "1d", None, None).unwrap().len(), 61);
}

#[test]
fn news_bad_input_over_http_keeps_good_items_and_redacts_the_key() {
    let srv = Server::start();
    let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://n.example/</link>
<item><guid>a1</guid><title>Apple shares surge on record profit</title><link>/a1</link><pubDate>{yesterday}</pubDate></item>
<item><guid>a2</guid><title>$MSFT slumps after weak guidance</title><link>/a2</link></item>
<item><guid>a3</guid><title>Broken <b>here</title><link"#
        .replace("{yesterday}", &crate::fixtures::rfc822_days_ago(1, 10));
    srv.set("/feed.xml", ok(rss));
    srv.set("/av.json", ok(r#"{"Note": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."}"#));
    srv.set(
        "/feed.json",
        ok(r#"{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
            {"id": "j1", "url": "https://j.example/1", "title": "Nvidia wins big contract", "date_published": "{today}"},
            {"id": "j2", "title": "Bad date", "date_published": "yesterday-ish"}]}"#
            .replace("{today}", &crate::fixtures::rfc3339_days_ago(0, 0))),
    );
    let s = store_env("sig-news-http", None);
    let settings = json!({
        "sources": [srv.url("/feed.xml"), srv.url("/av.json?function=NEWS_SENTIMENT&apikey=SECRETKEY123"), srv.url("/feed.json")],
        "symbols": {"AAPL": ["Apple"], "MSFT": ["Microsoft"], "NVDA": ["Nvidia"]},
    });
    let out = s.module("news", &settings, &s.env.dir);
    assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    let st = s.open();
    let aapl = st.articles_for("AAPL", None).unwrap();
    assert_eq!(aapl.len(), 1);
    assert_eq!(aapl[0].url, "https://n.example/a1");
    assert!(aapl[0].sentiment > 0.0);
    assert_eq!(st.articles_for("MSFT", None).unwrap().len(), 1);
    assert_eq!(st.articles_for("NVDA", None).unwrap().len(), 1);
    let recs = s.records();
    let bad = messages(&recs, "DataValidationError");
    assert!(has(&bad, &["feed.xml", "line"]), "{bad:?}");
    assert!(has(&bad, &["feed.json", "item 2"]), "{bad:?}");
    let ext = messages(&recs, "ExternalServiceError");
    assert!(has(&ext, &["av.json", "Alpha Vantage"]), "{ext:?}");
    let all = format!("{:?}{recs:?}", text(&out));
    assert!(!all.contains("SECRETKEY123"), "the API key leaked: {all}");

    // Provider back to normal, re-ingest: nothing new, the component is there.
    srv.set("/av.json", ok(r#"{"items": "0", "feed": []}"#));
    let out = s.module("news", &settings, &s.env.dir);
    for line in summaries(&out, "news")
        .iter()
        .filter(|l| !l.contains("av.json"))
    {
        assert!(line.contains("new 0, updated 0"), "{line}");
    }
    let kinds: Vec<String> = s
        .open()
        .components_for("AAPL")
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, ["news"]);
}

#[test]
fn metrics_bad_rows_and_sources() {
    let srv = Server::start();
    srv.set(
        "/f.csv",
        ok("symbol,metric,period_end,value,unit,filed\nZZZ,revenue,2025-03-31,100,USD,2025-05-01\n\
ZZZ,revenue,2024-03-31,n/a,USD,2024-05-01\nZZZ,revenue,2024-03-31,80,USD,2024-05-01\nZZZ,revenue,31.12.2024,1,USD,\n"),
    );
    let s = store_env("sig-metrics-http", None);
    let settings = json!({"sources": [srv.url("/f.csv")]});
    let out = s.module("metrics", &settings, &s.env.dir);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let st = s.open();
    assert_eq!(st.fundamentals_for("ZZZ").unwrap().len(), 2);
    let m = st.components_for("ZZZ").unwrap();
    assert_eq!(m.len(), 1);
    assert!(
        (m[0].value - 1.0).abs() < 1e-9,
        "revenue +25% saturates: {m:?}"
    );
    let bad = messages(&s.records(), "DataValidationError");
    assert!(
        has(&bad, &["f.csv", "line 3"]) && has(&bad, &["f.csv", "line 5"]),
        "{bad:?}"
    );
    // companyfacts JSON needs a symbol: the operator must say which.
    srv.set("/facts.json", ok(r#"{"cik": 1, "facts": {"us-gaap": {}}}"#));
    let out = s.module(
        "metrics",
        &json!({"sources": [srv.url("/facts.json")]}),
        &s.env.dir,
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("symbol"), "{:?}", text(&out));
}

#[test]
fn supervised_chart_keeps_running_on_bad_data() {
    let srv = Server::start();
    let mut lines = bar_lines(55);
    lines.insert(3, "2024-01-04,1,2,0.5,oops,1.5,100".into());
    srv.set("/good.csv", ok(csv(&lines)));
    srv.set("/big.csv", ok(vec![b'x'; 50_000]));
    srv.set("/broken.json", ok("[[1700000000000,\"1.0\""));
    let env = Env::new("sig-supervised");
    env.config("[runtime]\nenabled = [\"chart\"]\n");
    env.module(
        "chart",
        &format!(
            "builtin = \"chart\"\ninterval_s = 0.3\n[settings]\nmax_bytes = 20000\nsources = [{{ symbol = \"G\", url = \"{}\" }}, \
             {{ symbol = \"B\", url = \"{}\" }}, {{ symbol = \"J\", url = \"{}\" }}]\n",
            srv.url("/good.csv"),
            srv.url("/big.csv"),
            srv.url("/broken.json")
        ),
    );
    let mut sup = env.start(&[]);
    env.wait_module("chart", "RUNNING", secs(20.0));
    // Three bad records per cycle: wait for at least three cycles.
    wait_for("three cycles of bad-data records", secs(30.0), || {
        let n = std::fs::read_dir(env.run_dir().join("errors/crashes"))
            .map(|d| d.count())
            .unwrap_or(0);
        (n >= 9).then_some(())
    });
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["chart"]["state"], "RUNNING", "{s}");
    assert_eq!(s["modules"]["chart"]["restarts"], 0, "{s}");
    assert_eq!(sup.stop(), Some(0));
    let st = Store::open(&format!(
        "sqlite://{}",
        env.path("data/aivex.sqlite").display()
    ))
    .unwrap();
    assert_eq!(st.bars("G", "1d", None, None).unwrap().len(), 55);
}

// ---------------------------------------------------------------- MariaDB

fn mysql_url() -> Option<String> {
    match std::env::var("AIVEX_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("AIVEX_TEST_MYSQL_URL is not set but CI is: the MariaDB signal-module tests must run")
        }
        _ => {
            eprintln!("notice: AIVEX_TEST_MYSQL_URL not set, MariaDB signal-module test not run");
            None
        }
    }
}

#[test]
fn ingestion_into_mariadb_keeps_good_rows_and_is_idempotent() {
    let Some(url) = mysql_url() else { return };
    // Symbols of this process only: the test database is shared with other test runs.
    // Letters only and at most six, so that `$TAG` is a cashtag.
    let mut n = std::process::id() as usize;
    let tag: String = std::iter::once('Q')
        .chain((0..5).map(|_| {
            let c = (b'A' + (n % 26) as u8) as char;
            n /= 26;
            c
        }))
        .collect();
    let srv = Server::start();
    let mut lines = bar_lines(70);
    lines.insert(4, "2024-01-05,1,2,0.5,NaN?,1.5,100".into());
    srv.set("/b.csv", ok(csv(&lines)));
    srv.set("/down.csv", status(500));
    srv.set(
        "/n.xml",
        ok(format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><guid>{tag}-1</guid><title>${tag} beats expectations</title>\
             <link>https://x.example/{tag}</link></item></channel></rss>"
        )),
    );
    srv.set("/f.csv", ok(format!("symbol,metric,period_end,value\n{tag},revenue,2025-03-31,110\n{tag},revenue,2024-03-31,100\n")));
    let s = store_env("sig-mysql", Some(&url));
    let sym = tag.clone();
    let chart = json!({"sources": [{"symbol": sym, "url": srv.url("/b.csv")}, {"symbol": format!("{tag}D"), "url": srv.url("/down.csv")}]});
    let news = json!({"sources": [srv.url("/n.xml")], "symbols": {sym.clone(): []}});
    let metrics = json!({"sources": [srv.url("/f.csv")]});
    let out = s.module("chart", &chart, &s.env.dir);
    assert_eq!(out.status.code(), Some(75), "{:?}", text(&out));
    for (m, settings) in [("news", &news), ("metrics", &metrics)] {
        let out = s.module(m, settings, &s.env.dir);
        assert_eq!(out.status.code(), Some(0), "{m}: {:?}", text(&out));
    }
    let st = s.open();
    assert_eq!(st.bars(&sym, "1d", None, None).unwrap().len(), 70);
    assert_eq!(st.articles_for(&sym, None).unwrap().len(), 1);
    assert_eq!(st.fundamentals_for(&sym).unwrap().len(), 2);
    let kinds: Vec<String> = st
        .components_for(&sym)
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, ["chart", "metrics", "news"]);
    assert!(has(
        &messages(&s.records(), "DataValidationError"),
        &["b.csv", "line 6"]
    ));
    // Re-ingest with the cache gone: every row is compared by the store, nothing changes.
    let _ = std::fs::remove_dir_all(s.env.path("data/cache"));
    s.clear_records();
    for (m, settings) in [("chart", &chart), ("news", &news), ("metrics", &metrics)] {
        let out = s.module(m, settings, &s.env.dir);
        for line in summaries(&out, m)
            .iter()
            .filter(|l| !l.contains("down.csv"))
        {
            assert!(line.contains("new 0, updated 0"), "{m}: {line}");
        }
    }
    let out = text(&s.module("chart", &chart, &s.env.dir));
    assert!(!out.1.contains("aivexpw"), "the password leaked: {}", out.1);
}

// ---------------------------------------------------------------- tools

fn close(a: f64, b: f64) -> bool {
    let d = (a - b).abs();
    if a.abs().max(b.abs()) > 1.0 {
        d <= 1e-6 * a.abs().max(b.abs())
    } else {
        d <= 1e-6
    }
}

#[test]
fn indicators_on_the_demo_file_match_talib() {
    let env = Env::new("sig-indicators");
    let file = format!("{REPO}/config/demo/bars/AAPL.csv");
    let out = output(env.cmd(&["indicators", &file]));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header,
        "date,close,sma_20,sma_50,ema_12,ema_26,rsi_14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,bb_pctb,atr_14,volume_z_20"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let golden_text =
        std::fs::read_to_string(format!("{REPO}/crates/market/tests/golden/demo_aapl.csv"))
            .unwrap();
    let mut g = golden_text.lines();
    let gh: Vec<&str> = g.next().unwrap().split(',').collect();
    let golden: Vec<Vec<&str>> = g.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 251);
    assert_eq!(rows.len(), golden.len());
    let cols: Vec<&str> = header.split(',').collect();
    let mut compared = 0;
    for (r, (row, gold)) in rows.iter().zip(&golden).enumerate() {
        for (c, name) in cols.iter().enumerate() {
            let gi = gh.iter().position(|h| h == name).unwrap();
            let (ours, theirs) = (row[c], gold[gi]);
            if *name == "date" {
                assert_eq!(ours, theirs, "row {r}");
                continue;
            }
            match (ours.is_empty(), theirs.is_empty()) {
                (true, true) => {}
                (false, false) => {
                    let (a, b): (f64, f64) = (ours.parse().unwrap(), theirs.parse().unwrap());
                    assert!(close(a, b), "row {r} {name}: ours {a}, TA-Lib {b}");
                    compared += 1;
                }
                _ => panic!("row {r} {name}: ours {ours:?}, TA-Lib {theirs:?}"),
            }
        }
    }
    assert!(compared > 3000, "{compared}");
}

#[test]
fn indicators_warns_on_bad_rows_and_fails_on_a_non_bar_file() {
    let env = Env::new("sig-indicators-bad");
    let mut lines = bar_lines(30);
    lines.insert(2, "2024-01-03,1,2,0.5,x,1.5,100".into());
    env.write("b.csv", &csv(&lines));
    env.write("notes.txt", "hello, this is not a bar file\n");
    let out = env.run(&["indicators", "b.csv"], secs(30.0));
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert_eq!(o.lines().count(), 31);
    assert!(e.contains("warning") && e.contains("b.csv line 4"), "{e}");
    for bad in ["notes.txt", "missing.csv"] {
        let out = env.run(&["indicators", bad], secs(30.0));
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {e}");
        assert!(o.is_empty() && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn news_preview_on_the_demo_feed_and_on_a_non_feed() {
    let env = Env::new("sig-preview");
    env.config("[runtime]\nenabled = [\"news\"]\n");
    env.write(
        "modules/news/module.toml",
        &std::fs::read_to_string(format!("{REPO}/modules/news/module.toml")).unwrap(),
    );
    let feed = format!("{REPO}/config/demo/news/market-news.xml");
    let out = env.run(
        &["news-preview", &feed, "--config", "aivex.toml"],
        secs(30.0),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let items: Vec<Value> = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 30);
    for it in &items {
        let mut keys: Vec<&String> = it.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["id", "published_at", "sentiment", "tickers", "title", "url"],
            "{it}"
        );
    }
    let first = &items[0];
    assert!(
        first["title"]
            .as_str()
            .unwrap()
            .starts_with("Apple shares climb"),
        "{first}"
    );
    assert_eq!(first["tickers"], json!(["AAPL"]));
    assert!(first["sentiment"].as_f64().unwrap() > 0.0, "{first}");
    // Without a configuration: cashtags only, so the alias "Apple" is not a ticker.
    let out = env.run(
        &["news-preview", &feed, "--config", "nowhere.toml"],
        secs(30.0),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let line: Value = serde_json::from_str(text(&out).0.lines().next().unwrap()).unwrap();
    assert_eq!(line["tickers"], json!([]));
    // Not a feed: exit 1 with a clear message.
    env.write(
        "page.html",
        "<!DOCTYPE html><html><body>hello</body></html>",
    );
    let out = env.run(
        &["news-preview", "page.html", "--config", "nowhere.toml"],
        secs(30.0),
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(text(&out).1.contains("not a feed"), "{:?}", text(&out));
}
