//! Test fixture for Eye over real HTTP: a real store (a SQLite file in a temp dir, or the
//! MariaDB named by `AIVEX_TEST_MYSQL_URL`), a fake supervisor run directory, an `Eye` on an
//! ephemeral loopback port, and a raw-socket HTTP client with hard deadlines.
//!
//! Each fixture has a store of its own (a SQLite file, or a MariaDB database created for it and
//! dropped after it), so no test sees another's rows, nor rows a run with a shifted clock left
//! behind. Nothing here fakes Eye or the store.

#![allow(dead_code)]

mod busy;
mod net;
// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use busy::*;
#[allow(unused_imports)]
pub use net::*;

use aivex_core::ModuleEnv;
use aivex_eye::{Eye, EyeConfig};
use aivex_store::{GovernorLogRecord, SignalRecord, Store};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Every socket wait in these tests ends by this deadline.
pub const DEADLINE: Duration = Duration::from_secs(20);

static SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Mysql,
}

/// The MariaDB URL, or None to skip. Under CI a missing URL fails the test instead.
pub fn mysql_url() -> Option<String> {
    match std::env::var("AIVEX_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "AIVEX_TEST_MYSQL_URL is not set under CI: the MariaDB variants must run"
            );
            eprintln!("AIVEX_TEST_MYSQL_URL not set: skipping the MariaDB variant");
            None
        }
    }
}

pub struct Fixture {
    pub eye: Eye,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub run_dir: PathBuf,
    pub db_url: String,
    pub store: Store,
    /// Start of this fixture's time window (Unix seconds).
    pub base: i64,
    /// Symbol prefix unique to this fixture.
    pub prefix: String,
    /// The MariaDB database created for this fixture: (admin URL, name), dropped with it.
    mysql_db: Option<(String, String)>,
    /// What Eye was started with, for `restart_eye`.
    env: ModuleEnv,
    cfg: EyeConfig,
}

/// A fresh database on the server of `base` (a `mysql://` URL): (its URL, its name).
fn create_mysql_db(base: &str, name: &str) -> String {
    use mysql::prelude::Queryable;
    let opts = mysql::Opts::from_url(base).expect("AIVEX_TEST_MYSQL_URL parses");
    mysql::Conn::new(opts)
        .and_then(|mut c| c.query_drop(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")))
        .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (base, String::new()),
    };
    let server = main.rsplit_once('/').map_or(main, |(b, _)| b);
    format!("{server}/{name}{query}")
}

fn drop_mysql_db(base: &str, name: &str) {
    use mysql::prelude::Queryable;
    if let Ok(mut c) = mysql::Opts::from_url(base)
        .map_err(mysql::Error::from)
        .and_then(mysql::Conn::new)
    {
        let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((base, name)) = &self.mysql_db {
            drop_mysql_db(base, name);
        }
    }
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn rfc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Fixture {
    /// `tweak` adjusts the config (listen is forced to an ephemeral loopback port).
    pub fn new(backend: Backend, tweak: impl FnOnce(&mut EyeConfig)) -> Option<Fixture> {
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{seq}", std::process::id());
        let dir = std::env::temp_dir().join(format!("aivex-eye-test-{id}"));
        let run_dir = dir.join("run");
        std::fs::create_dir_all(run_dir.join("state")).ok()?;
        let mut mysql_db = None;
        let db_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("aivex.sqlite").display()),
            Backend::Mysql => {
                let base = mysql_url()?;
                let name = format!("aivex_eye_{}_{seq}", std::process::id());
                let url = create_mysql_db(&base, &name);
                mysql_db = Some((base, name));
                url
            }
        };
        let mut store = Store::open(&db_url).unwrap_or_else(|e| panic!("open store: {e}"));
        store.migrate().unwrap_or_else(|e| panic!("migrate: {e}"));
        let mut cfg = EyeConfig {
            // The requests below name the server "x" (auth is off, so Host is checked).
            hosts: vec!["x".into()],
            header_timeout_s: 1.0,
            body_timeout_s: 1.0,
            idle_timeout_s: 1.0,
            sse_keepalive_s: 0.5,
            ..EyeConfig::default()
        };
        tweak(&mut cfg);
        cfg.listen = "127.0.0.1:0".into();
        let env = ModuleEnv {
            name: "eye".into(),
            data_dir: dir.clone(),
            run_dir: Some(run_dir.clone()),
            database_url: db_url.clone(),
            interval_s: 2.0,
            ..Default::default()
        };
        let eye = Eye::with_config(&env, cfg.clone()).unwrap_or_else(|e| panic!("start eye: {e}"));
        let addr = eye.local_addr();
        // A window far in the past, distinct per process and fixture: 10^6 s apart.
        let nanos = jiff::Timestamp::now().subsec_nanosecond().unsigned_abs() as i64;
        let base = 1_000_000_000
            + ((std::process::id() as i64 * 7919 + seq as i64 * 104_729 + nanos % 1000) % 400)
                * 1_000_000;
        let prefix = format!("T{}X{seq}", std::process::id() % 100_000);
        let f = Fixture {
            eye,
            addr,
            dir,
            run_dir,
            db_url,
            store,
            base,
            prefix,
            mysql_db,
            env,
            cfg,
        };
        f.write_state(&[("news", json!({"state": "RUNNING", "restarts": 0, "heartbeat_age_s": 1.0, "heartbeat_ttl_s": 60.0, "last_exit": null}))], 0.0);
        Some(f)
    }

    /// Stops Eye and starts a new one (a new event hub, as after a process restart) on the
    /// same address.
    pub fn restart_eye(&mut self) {
        let mut cfg = self.cfg.clone();
        cfg.listen = self.addr.to_string();
        // A stand-in on another port while the old Eye shuts down and frees the address.
        let stand_in = Eye::with_config(&self.env, self.cfg.clone())
            .unwrap_or_else(|e| panic!("start eye: {e}"));
        drop(std::mem::replace(&mut self.eye, stand_in));
        // Event ids start at the process start in ms: let the clock move past the old ones.
        std::thread::sleep(Duration::from_millis(5));
        let eye = Eye::with_config(&self.env, cfg).unwrap_or_else(|e| panic!("restart eye: {e}"));
        self.eye = eye;
    }

    pub fn symbol(&self, i: usize) -> String {
        format!("{}S{i}", self.prefix)
    }

    /// Writes runtime_state.json as the supervisor would, `age_s` old.
    pub fn write_state(&self, modules: &[(&str, Value)], age_s: f64) {
        let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0 - age_s;
        let m: serde_json::Map<String, Value> = modules
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let doc = json!({"run_id": "test-run", "pid": 1, "mode": "run", "version": "0", "updated_at": rfc(now as i64),
            "updated_at_unix": now, "uptime_s": 5.0, "config_hash": "h", "shutting_down": false, "modules": m});
        let p = self.run_dir.join("state").join("runtime_state.json");
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, doc.to_string()).unwrap_or_else(|e| panic!("write state: {e}"));
        std::fs::rename(&tmp, &p).unwrap_or_else(|e| panic!("rename state: {e}"));
    }

    pub fn append_history(&self, line: &Value) {
        let p = self.run_dir.join("history.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap_or_else(|e| panic!("history: {e}"));
        let _ = writeln!(f, "{line}");
    }

    /// Stores one signal of `symbol` at `at`; returns its id.
    pub fn signal(&mut self, symbol: &str, at: i64, n: usize, deny: bool) -> String {
        let id = format!("{symbol}-{at}-{n}");
        let (decision, reasons) = if deny {
            ("deny", "MIN_CONFIDENCE,COOLDOWN_ACTIVE")
        } else {
            ("allow", "")
        };
        let s = SignalRecord {
            id: id.clone(),
            symbol: symbol.into(),
            created_at: at,
            direction: 1,
            score: 0.42,
            confidence: if deny { 0.3 } else { 0.8 },
            horizon_s: 86_400,
            components_json: json!({"chart": {"value": 0.5, "weight": 0.6, "contribution": 0.3, "input_age_s": 60},
                                     "news": {"value": 0.2, "weight": 0.4, "contribution": 0.08, "input_age_s": 600}}).to_string(),
            decision: decision.into(),
            reasons: reasons.into(),
            origin: "live".into(),
            recorded_at: at,
            lease: None,
        };
        let g = GovernorLogRecord {
            signal_id: id.clone(),
            symbol: symbol.into(),
            decision: decision.into(),
            reason_codes: reasons.into(),
            rules_json: json!([{"rule": "MIN_CONFIDENCE", "passed": !deny, "inputs": {"confidence": s.confidence, "min": 0.5}}]).to_string(),
            config_hash: "cfg".into(),
            at,
        };
        self.store
            .record_decision(&s, &g)
            .unwrap_or_else(|e| panic!("record_decision: {e}"));
        id
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        raw(
            self.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn post_json(&self, path: &str, body: &str, token: Option<&str>) -> Resp {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        raw(
            self.addr,
            format!("POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        )
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The stable error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, DEADLINE).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = s.set_read_timeout(Some(DEADLINE));
    let _ = s.set_write_timeout(Some(DEADLINE));
    s
}

/// Parses one response from raw bytes (status, headers, body by Content-Length or to EOF).
pub fn parse(bytes: &[u8]) -> Option<Resp> {
    let text_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(bytes.get(..text_end)?).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let body = bytes.get(text_end + 4..)?;
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match len {
        Some(n) => body.get(..n)?,
        None => body,
    };
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Sends raw bytes and reads the response until the server closes (or the deadline).
pub fn raw(addr: SocketAddr, req: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(req).unwrap_or_else(|e| panic!("write: {e}"));
    read_to_close(&mut s)
}

pub fn read_to_close(s: &mut TcpStream) -> Resp {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while start.elapsed() < DEADLINE {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(_) => break,
        }
        if let Some(r) = parse(&buf) {
            if r.header("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                == Some(r.body.len())
            {
                return r;
            }
        }
    }
    parse(&buf).unwrap_or_else(|| panic!("no HTTP response in {:?}", String::from_utf8_lossy(&buf)))
}

/// Reads SSE frames from an open stream until `want` events (with ids) arrived or the deadline.
pub fn read_events(s: &mut TcpStream, want: usize, buf: &mut Vec<u8>) -> Vec<(u64, String, Value)> {
    let start = Instant::now();
    let mut chunk = [0u8; 16384];
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    loop {
        let evs = sse_events(buf);
        if evs.len() >= want || start.elapsed() > DEADLINE {
            return evs;
        }
        match s.read(&mut chunk) {
            Ok(0) => return sse_events(buf),
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(_) => {}
        }
    }
}

/// (id, event, data) of every complete frame with an id after the response head.
pub fn sse_events(buf: &[u8]) -> Vec<(u64, String, Value)> {
    let text = String::from_utf8_lossy(buf);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let mut out = Vec::new();
    let frames: Vec<&str> = body.split("\n\n").collect();
    // The last piece may be incomplete.
    for f in frames.iter().take(frames.len().saturating_sub(1)) {
        let mut id = None;
        let mut ev = String::new();
        let mut data = Value::Null;
        for l in f.lines() {
            if let Some(v) = l.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = l.strip_prefix("event: ") {
                ev = v.to_string();
            } else if let Some(v) = l.strip_prefix("data: ") {
                data = serde_json::from_str(v).unwrap_or(Value::Null);
            }
        }
        match id {
            Some(i) => out.push((i, ev, data)),
            None if ev == "resync" => out.push((0, ev, data)),
            None => {}
        }
    }
    out
}

/// Opens `GET /events` with extra header lines; returns the socket, the status and the bytes
/// read so far (at least the whole response head).
pub fn open_stream(addr: SocketAddr, extra: &str) -> (TcpStream, u16, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(format!("GET /events HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && start.elapsed() < DEADLINE {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(_) => break,
        }
    }
    let status = parse(&buf).map(|r| r.status).unwrap_or(0);
    (s, status, buf)
}
