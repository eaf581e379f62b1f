//! Eye's read model with the real binary (issue 14): `aivex module eye` serves `/signals` and
//! `/signals/{symbol}` while the real brain (`aivex module brain --once`) writes new signals;
//! each new signal is visible within a housekeeping cycle or two, readers hammering both
//! routes never see a page go back nor a torn one (every signal with its own governor
//! decision), and `If-None-Match` with the current `ETag` gets 304 until a write moves the
//! version. On SQLite and on MariaDB (`AIVEX_TEST_MYSQL_URL`; required under CI).

use crate::harness::*;
use crate::pipeline::{mysql_exec, mysql_url, parse_mysql, TempDb};
use aivex_store::{Component, Store};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sleeps into the next wall-clock second.
fn next_second() {
    let start = now();
    while now() == start {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One GET with optional `If-None-Match`: (status, ETag, body).
fn get(addr: SocketAddr, path: &str, inm: Option<&str>) -> Option<(u16, Option<String>, String)> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let inm = inm
        .map(|t| format!("If-None-Match: {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{inm}Connection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .map(String::from);
    Some((status, etag, body.to_string()))
}

/// The version an ETag carries (`"m12"`, `"s7"`).
fn tag_version(tag: &str) -> i64 {
    tag.trim_matches('"')
        .get(1..)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Checks a page is whole: every signal has its own governor decision. Returns the
/// (created_at, id) of each signal.
fn whole(page: &Value, what: &str) -> Vec<(i64, String)> {
    let sigs = page["signals"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        page["count"].as_u64(),
        Some(sigs.len() as u64),
        "{what}: {page}"
    );
    sigs.iter()
        .map(|s| {
            assert_eq!(s["governor"]["signal_id"], s["id"], "{what}: torn: {s}");
            assert_eq!(
                s["governor"]["decision"], s["decision"],
                "{what}: torn: {s}"
            );
            (
                s["created_at_unix"].as_i64().unwrap_or(-1),
                s["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

struct Site {
    env: Env,
    url: String,
    _db: Option<TempDb>,
}

fn site(name: &str, mysql: bool) -> Option<Site> {
    let env = Env::new(name);
    std::fs::create_dir_all(env.path("data")).expect("data dir");
    std::fs::create_dir_all(env.path("run")).expect("run dir");
    let (url, db) = if mysql {
        let base = mysql_url()?;
        let target = parse_mysql(&base);
        let db = format!("aivex_rm_{}", std::process::id());
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
    env.config("[runtime]\nenabled = [\"eye\"]\n");
    Store::open(&url)
        .and_then(|mut s| s.migrate())
        .expect("migrate");
    Some(Site { env, url, _db: db })
}

impl Site {
    fn components(&self, symbol: &str, chart: f64, at: i64) {
        let rows: Vec<Component> = [("chart", chart), ("news", 0.6), ("metrics", 0.4)]
            .iter()
            .map(|(kind, value)| Component {
                symbol: symbol.into(),
                kind: kind.to_string(),
                value: *value,
                as_of: at,
                computed_at: now(),
                detail: "{}".into(),
            })
            .collect();
        Store::open(&self.url)
            .and_then(|mut s| s.upsert_components(&rows).map(drop))
            .expect("components");
    }

    /// The real brain, one cycle.
    fn brain(&self) {
        let settings =
            json!({"once_wait_s": 0, "governor": {"cooldown_s": 0, "min_confidence": 0.0}});
        let mut c = self.env.cmd(&["module", "brain", "--once"]);
        c.env("AIVEX_SETTINGS", settings.to_string())
            .env("AIVEX_DATABASE_URL", &self.url)
            .env("AIVEX_RUN_DIR", self.env.path("run"))
            .env("AIVEX_CONFIG_DIR", &self.env.dir)
            .env("AIVEX_DATA_DIR", self.env.path("data"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn brain");
        let end = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < end, "brain did not finish within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("brain output");
        assert_eq!(out.status.code(), Some(0), "brain failed: {:?}", text(&out));
    }

    /// The store's latest signal id of `symbol`.
    fn latest(&self, symbol: &str) -> Option<String> {
        Store::open(&self.url)
            .and_then(|s| s.signals_latest())
            .expect("latest")
            .into_iter()
            .find(|r| r.symbol == symbol)
            .map(|r| r.signal_id)
    }
}

/// Readers of both routes that fail the test on a page going back or a torn page.
fn hammer(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut seen = 0;
        let (mut m_tag, mut s_tag) = (0, 0);
        let mut m_top: Option<(i64, String)> = None;
        let mut s_top: Option<(i64, String)> = None;
        while !stop.load(Ordering::SeqCst) {
            for (path, tag_max, top) in [
                ("/signals?symbol=AAPL", &mut m_tag, &mut m_top),
                ("/signals/AAPL?limit=5", &mut s_tag, &mut s_top),
            ] {
                let Some((200, Some(tag), body)) = get(addr, path, None) else {
                    continue;
                };
                let v: Value = serde_json::from_str(&body).expect("JSON page");
                let rows = whole(&v, path);
                let version = tag_version(&tag);
                assert!(
                    version >= *tag_max,
                    "{path}: version {version} after {tag_max}"
                );
                *tag_max = version;
                if let Some(first) = rows.into_iter().next() {
                    if let Some(prev) = top.as_ref() {
                        assert!(&first >= prev, "{path}: {first:?} after {prev:?}");
                    }
                    *top = Some(first);
                }
                seen += 1;
            }
        }
        seen
    })
}

fn read_model_follows_brain(mysql: bool) {
    let Some(site) = site(
        if mysql {
            "eye-rm-maria"
        } else {
            "eye-rm-sqlite"
        },
        mysql,
    ) else {
        return;
    };
    let t = now() - 600;
    site.components("AAPL", 0.8, t);
    site.components("MSFT", -0.7, t);
    site.brain();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let eye = site
        .env
        .cmd(&["module", "eye"])
        .env("AIVEX_DATABASE_URL", &site.url)
        .env("AIVEX_DATA_DIR", site.env.path("data"))
        .env("AIVEX_RUN_DIR", site.env.path("run"))
        .env("AIVEX_EYE_ADDR", addr.to_string())
        .env("AIVEX_INTERVAL_S", "0.5")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn eye");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(eye);
    // A housekeeping cycle is 0.5 s; the slack is for a loaded test machine.
    let deadline = Duration::from_secs(20);
    // Cold start: served correctly, from the store or the model.
    let first = wait_for("eye answers /signals", Duration::from_secs(30), || {
        get(addr, "/signals", None).filter(|r| r.0 == 200)
    });
    let page: Value = serde_json::from_str(&first.2).expect("JSON");
    let ids: Vec<(i64, String)> = whole(&page, "cold");
    assert_eq!(ids.len(), 2, "{page}");

    let stop = Arc::new(AtomicBool::new(false));
    let readers = [hammer(addr, stop.clone()), hammer(addr, stop.clone())];
    let mut previous = site.latest("AAPL");
    for i in 1..=4 {
        site.components("AAPL", 0.8 - 0.05 * f64::from(i), t + i64::from(i));
        // Brain stamps a signal with its clock's second; two in one second tie on created_at
        // and the greater id (a hash) is the latest, so let the second pass.
        next_second();
        site.brain();
        let want = site.latest("AAPL").expect("a latest AAPL signal");
        assert_ne!(
            Some(&want),
            previous.as_ref(),
            "brain wrote no new AAPL signal"
        );
        previous = Some(want.clone());
        // Visible within a housekeeping cycle (0.5 s) or two, on both routes.
        for path in ["/signals", "/signals/AAPL"] {
            wait_for(&format!("{want} on {path}"), deadline, || {
                let (_, _, body) = get(addr, path, None)?;
                let v: Value = serde_json::from_str(&body).ok()?;
                let aapl = v["signals"]
                    .as_array()?
                    .iter()
                    .find(|s| s["symbol"] == "AAPL")?
                    .clone();
                (aapl["id"] == want.as_str()).then_some(())
            });
        }
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        let seen = r.join().expect("a reader failed");
        assert!(seen > 0, "the readers read nothing");
    }

    // The 304 path: the current ETag gets 304 with no body, until a write moves it.
    let (status, tag, _) = get(addr, "/signals?limit=50", None).expect("page");
    assert_eq!(status, 200);
    let tag = tag.expect("an ETag");
    let (status, again, body) = get(addr, "/signals?limit=50", Some(&tag)).expect("304");
    assert_eq!(
        (status, again.as_deref(), body.as_str()),
        (304, Some(tag.as_str()), "")
    );
    let (status, sym_tag, _) = get(addr, "/signals/MSFT", None).expect("MSFT");
    let sym_tag = sym_tag.expect("an ETag");
    assert_eq!(status, 200);
    assert_eq!(
        get(addr, "/signals/MSFT", Some(&sym_tag)).map(|r| r.0),
        Some(304)
    );
    assert_eq!(
        get(addr, "/signals?limit=50", Some("\"m0\", W/\"x\"")).map(|r| r.0),
        Some(200)
    );
    // A new AAPL signal moves the model's version: the old tag gets the new page. MSFT's
    // own version did not move: its tag still gets 304.
    site.components("AAPL", 0.2, t + 100);
    next_second();
    site.brain();
    wait_for("a new version after a write", deadline, || {
        let (status, _, _) = get(addr, "/signals?limit=50", Some(&tag))?;
        (status == 200).then_some(())
    });
    assert_eq!(
        get(addr, "/signals/MSFT", Some(&sym_tag)).map(|r| r.0),
        Some(304)
    );
}

#[test]
fn read_model_follows_brain_on_sqlite() {
    read_model_follows_brain(false);
}

#[test]
fn read_model_follows_brain_on_mariadb() {
    read_model_follows_brain(true);
}
