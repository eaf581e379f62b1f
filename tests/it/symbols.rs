//! The one symbol alphabet end to end: `BRK.B`, `BTC-USD` and `BTC/USD` ingested by chart from
//! CSV files, composed by brain (named in its settings), stored, and served by every Eye route
//! that takes a symbol or a signal of one (`/signals`, `/signals?symbol=`, `/signals/{symbol}`
//! percent-encoded and as is, `POST /signals/feedback`), under a real supervisor.

use crate::harness::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SYMBOLS: [&str; 3] = ["BRK.B", "BTC-USD", "BTC/USD"];

/// 80 daily bars ending yesterday (UTC), as CSV (the chart component needs 50).
fn bars_csv(base: f64) -> String {
    let today = crate::fixtures::today();
    let mut s = String::from("Date,Open,High,Low,Close,Volume\n");
    for i in (1..=80).rev() {
        let d = today - jiff::Span::new().days(i);
        let c = base + (i as f64 * 0.37).sin() * 3.0 + (80 - i) as f64 * 0.2;
        s.push_str(&format!(
            "{d},{:.2},{:.2},{:.2},{c:.2},{}\n",
            c - 0.4,
            c + 1.0,
            c - 1.0,
            1000 + i
        ));
    }
    s
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn wait_json(addr: SocketAddr, path: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < end {
        if let Some((200, v)) = http(addr, "GET", path, None) {
            if f(&v) {
                return v;
            }
            last = Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: GET {path} never satisfied the check; last: {last:?}");
}

#[test]
fn brk_b_btc_usd_and_btc_slash_usd_through_ingest_brain_and_every_eye_route() {
    let env = Env::new("symbols");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for i in 0..SYMBOLS.len() {
        env.write(&format!("bars/{i}.csv"), &bars_csv(100.0 + 50.0 * i as f64));
    }
    let sources: Vec<Value> = SYMBOLS
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"symbol": s, "path": format!("bars/{i}.csv")}))
        .collect();
    env.config(&format!(
        "[runtime]\nenabled = [\"chart\", \"brain\", \"eye\"]\n[database]\nurl = \"sqlite://aivex.sqlite\"\n\
         [eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    env.module(
        "chart",
        &format!(
            "builtin = \"chart\"\ninterval_s = 300\n[settings]\nsources = {}\n",
            toml_value(&Value::Array(sources))
        ),
    );
    env.module(
        "brain",
        "builtin = \"brain\"\ninterval_s = 1\n[settings]\nsymbols = [\"BRK.B\", \"BTC-USD\", \"BTC/USD\"]\n",
    );
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    let mut sup = env.start(&[]);

    // Latest per symbol: all three.
    let latest = wait_json(addr, "/signals", "a signal per symbol", |v| {
        v["count"].as_u64() == Some(3)
    });
    let mut got: Vec<&str> = latest["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, SYMBOLS);

    for sym in SYMBOLS {
        // The query filter, percent-encoded.
        let q = wait_json(
            addr,
            &format!("/signals?symbol={}", percent(sym)),
            sym,
            |v| v["count"].as_u64() == Some(1),
        );
        assert_eq!(q["signals"][0]["symbol"], sym);
        // The history route with the symbol as one encoded path segment.
        let (status, h) = http(addr, "GET", &format!("/signals/{}", percent(sym)), None).unwrap();
        assert_eq!(status, 200, "{sym}: {h}");
        assert!(h["count"].as_u64().unwrap_or(0) >= 1, "{sym}: {h}");
        assert!(h["signals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["symbol"] == sym));
        // Research feedback on that signal.
        let id = h["signals"][0]["id"].as_str().unwrap().to_string();
        let body = json!({"signal_id": id, "outcome": "hit", "source": "it"}).to_string();
        let (status, fb) = http(addr, "POST", "/signals/feedback", Some(&body)).unwrap();
        assert!(status == 201 || status == 200, "{sym}: {status} {fb}");
    }
    // `/` inside a symbol also works unencoded, and a symbol outside the alphabet is refused.
    let (status, h) = http(addr, "GET", "/signals/BTC/USD", None).unwrap();
    assert_eq!(
        (status, h["signals"][0]["symbol"].clone()),
        (200, json!("BTC/USD"))
    );
    for bad in [
        "/signals/BTC%2F%2FUSD",
        "/signals?symbol=..%2Fetc",
        "/signals/A%20B",
    ] {
        let (status, v) = http(addr, "GET", bad, None).unwrap();
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (400, json!("invalid_query")),
            "{bad}: {v}"
        );
    }
    assert_eq!(sup.stop(), Some(0));
}

/// A JSON value as a TOML inline value (strings, arrays and tables of them are all it needs).
fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}
