//! The dashboard's routes over real HTTP against a real store (SQLite and MariaDB): the page
//! and its assets (security headers, gzip and identity, ETag/304, hashed names), `/auth`,
//! `/candles/{symbol}` (indicator series, downsampling), `/governor`, `/quality` and
//! `/modules/{name}/log`, with auth off and on. The browser half is `tests/it/dashboard.rs`.

mod common;

use common::{connect, now, rfc, Backend, Fixture};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::SocketAddr;

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $mysql:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(Backend::Sqlite);
        }
        #[test]
        fn $mysql() {
            $scenario(Backend::Mysql);
        }
    };
}

both!(
    page_and_assets,
    page_and_assets_sqlite,
    page_and_assets_mysql
);
both!(candles, candles_sqlite, candles_mysql);
both!(governor, governor_sqlite, governor_mysql);
both!(quality, quality_sqlite, quality_mysql);
both!(auth_and_logs, auth_and_logs_sqlite, auth_and_logs_mysql);

/// A raw GET with extra header lines: (status, headers, body bytes).
fn fetch(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (
        status,
        headers,
        buf.get(end + 4..).unwrap_or_default().to_vec(),
    )
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not gzip: {e}"));
    out
}

fn page_and_assets(b: Backend) {
    let Some(f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let (status, h, plain) = fetch(f.addr, "GET", "/", "");
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), Some("text/html; charset=utf-8"));
    let csp = header(&h, "content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&h, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&h, "cache-control"), Some("no-cache"));
    assert_eq!(header(&h, "content-encoding"), None);
    let etag = header(&h, "etag").unwrap_or_default().to_string();
    let html = String::from_utf8(plain.clone()).unwrap_or_default();
    assert!(html.contains("<title>aivex</title>"));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline code"
    );

    // Gzip for a client that takes it: the same bytes, compressed.
    let (status, h, gz) = fetch(f.addr, "GET", "/", "Accept-Encoding: gzip, deflate, br\r\n");
    assert_eq!(
        (status, header(&h, "content-encoding")),
        (200, Some("gzip"))
    );
    assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
    assert_eq!(gunzip(&gz), plain);
    assert!(gz.len() < plain.len());
    let (status, _, body) = fetch(f.addr, "GET", "/", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((status, body.len()), (304, 0));
    let (status, h, body) = fetch(f.addr, "HEAD", "/", "");
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(
        header(&h, "content-length"),
        Some(plain.len().to_string().as_str())
    );

    // Every asset the page names: hashed name, a year of cache, gzip or not, same bytes.
    let names: Vec<String> = html
        .split("\"/assets/")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(String::from)
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("app.") && n.ends_with(".js")),
        "{names:?}"
    );
    let mut transferred = gz.len();
    for name in &names {
        let path = format!("/assets/{name}");
        let (status, h, plain) = fetch(f.addr, "GET", &path, "");
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&h, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
        let (_, hz, gz) = fetch(f.addr, "GET", &path, "Accept-Encoding: gzip\r\n");
        assert_eq!(header(&hz, "content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gunzip(&gz), plain, "{path}");
        transferred += gz.len();
        if name.ends_with(".js") {
            assert_eq!(
                header(&h, "content-type"),
                Some("text/javascript; charset=utf-8")
            );
            // Modules import each other by hashed name only.
            let text = String::from_utf8(plain).unwrap_or_default();
            for imp in text
                .split("from './")
                .skip(1)
                .filter_map(|r| r.split('\'').next())
            {
                assert!(
                    names.iter().any(|n| n == imp),
                    "{name} imports {imp}, not a served asset"
                );
            }
        }
        let etag = header(&h, "etag").unwrap_or_default().to_string();
        let (status, _, _) = fetch(f.addr, "GET", &path, &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(status, 304, "{path}");
    }
    // The page's code and styles are a small part of the 150 KB first-load budget.
    assert!(transferred < 60_000, "{transferred} bytes of assets");
    let (status, h, body) = fetch(f.addr, "GET", "/assets/app.000000000000.js", "");
    assert_eq!(status, 404);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert!(String::from_utf8_lossy(&body).contains("not_found"));
}

fn candles(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let bars: Vec<aivex_store::Candle> = (0..2_600)
        .map(|i| {
            let c = 100.0 + (i as f64 / 9.0).sin() * 4.0 + i as f64 * 0.01;
            aivex_store::Candle {
                ts: f.base + i * 86_400,
                open: c - 0.3,
                high: c + 1.0,
                low: c - 1.0,
                close: c,
                adj_close: None,
                volume: 1_000.0 + i as f64,
            }
        })
        .collect();
    f.store
        .upsert_series(&sym, "1d", "test", &bars)
        .unwrap_or_else(|e| panic!("{e}"));
    let close: Vec<f64> = bars.iter().map(|c| c.close).collect();
    let sma20 = aivex_market::indicators::sma(&close, 20);

    // 500 bars by default, their indicators computed by the market crate over them and the
    // 200 before (read only to seed the series).
    let v = f.get(&format!("/candles/{sym}"), None).json();
    assert_eq!(
        (
            v["points"].clone(),
            v["bars"].clone(),
            v["downsampled"].clone()
        ),
        (json!(500), json!(500), json!(false))
    );
    assert_eq!(v["t"][0], json!(bars[2_100].ts));
    assert_eq!(v["close"][499], json!(bars[2_599].close));
    let read = close.get(1_900..).unwrap_or_default();
    let sma50 = aivex_market::indicators::sma(read, 50);
    let ema26 = aivex_market::indicators::ema(read, 26);
    assert_eq!(
        v["indicators"]["sma_50"][0],
        json!(sma50[200]),
        "warm-up bars seed the first point"
    );
    assert_eq!(v["indicators"]["ema_26"][499], json!(ema26[699]));

    let v = f
        .get(&format!("/candles/{sym}?interval=1d&limit=2500"), None)
        .json();
    assert_eq!(
        (
            v["points"].clone(),
            v["bucket_bars"].clone(),
            v["downsampled"].clone()
        ),
        (json!(1_250), json!(2), json!(true))
    );
    assert_eq!(v["t"][0], json!(bars[100].ts));
    assert_eq!(v["high"][0], json!(bars[100].high.max(bars[101].high)));
    assert_eq!(v["volume"][0], json!(bars[100].volume + bars[101].volume));
    assert_eq!(v["close"][1_249], json!(bars[2_599].close));
    assert_eq!(v["indicators"]["sma_20"][1_249], json!(sma20[2_599]));

    // A client that takes gzip gets the same JSON compressed (the page's fetches do).
    let path = format!("/candles/{sym}?interval=1d&limit=2500");
    let (status, h, plain) = fetch(f.addr, "GET", &path, "");
    assert_eq!((status, header(&h, "content-encoding")), (200, None));
    let (status, h, gz) = fetch(f.addr, "GET", &path, "Accept-Encoding: gzip, br\r\n");
    assert_eq!(
        (status, header(&h, "content-encoding"), header(&h, "vary")),
        (200, Some("gzip"), Some("Accept-Encoding"))
    );
    // Float columns: about half (the page's signal JSON shrinks far more).
    assert!(
        gz.len() * 3 < plain.len() * 2,
        "{} of {}",
        gz.len(),
        plain.len()
    );
    assert_eq!(gunzip(&gz), plain);

    let v = f.get(&format!("/candles/{sym}?interval=1h"), None).json();
    assert_eq!(v["points"], 0, "no bars of that interval");
    for q in [
        "limit=0",
        "limit=20001",
        "interval=1%20d",
        "interval=",
        "colour=red",
        "limit=5&limit=6",
    ] {
        let r = f.get(&format!("/candles/{sym}?{q}"), None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{q}: {}",
            r.body
        );
    }
    let r = f.get("/candles/a%20b", None);
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
}

fn governor(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    let other = f.symbol(1);
    let t = now();
    // Denials carry MIN_CONFIDENCE,COOLDOWN_ACTIVE (the fixture's); 4 allowed, 6 denied, over
    // the last days, and one of another symbol; one far outside the default 30 days.
    for i in 0..10 {
        f.signal(
            &sym,
            t - i * 86_400 - 60,
            i as usize,
            i % 5 > 0 && i % 5 < 4 || i == 9,
        );
    }
    f.signal(&other, t - 3_600, 0, true);
    f.signal(&sym, t - 90 * 86_400, 99, false);

    let v = f.get(&format!("/governor?symbol={sym}"), None).json();
    assert_eq!(
        (v["totals"]["allow"].clone(), v["totals"]["deny"].clone()),
        (json!(3), json!(7)),
        "{v}"
    );
    assert_eq!(v["totals"]["by_reason"]["COOLDOWN_ACTIVE"], 7);
    assert_eq!(v["totals"]["by_first_reason"]["MIN_CONFIDENCE"], 7);
    assert_eq!(v["bucket_s"], 86_400);
    let series = v["series"].as_array().cloned().unwrap_or_default();
    assert!((30..=31).contains(&series.len()), "{}", series.len());
    let summed: u64 = series
        .iter()
        .map(|b| b["allow"].as_u64().unwrap_or(0) + b["deny"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(summed, 10);
    assert_eq!(v["count"], 10);
    let first = &v["decisions"][0];
    assert_eq!(first["symbol"], json!(sym));
    assert!(
        first["at_unix"].as_i64() >= v["decisions"][1]["at_unix"].as_i64(),
        "newest first"
    );
    assert_eq!(
        first["rules"][0]["rule"], "MIN_CONFIDENCE",
        "rules as stored"
    );

    let v = f
        .get(
            &format!("/governor?symbol={sym}&reason=COOLDOWN_ACTIVE&limit=3"),
            None,
        )
        .json();
    assert_eq!(
        (
            v["totals"]["deny"].clone(),
            v["totals"]["allow"].clone(),
            v["count"].clone()
        ),
        (json!(7), json!(0), json!(3))
    );
    // A code matches whole: a prefix of one matches nothing.
    let v = f
        .get(&format!("/governor?symbol={sym}&reason=COOLDOWN"), None)
        .json();
    assert_eq!(v["count"], 0);
    let v = f
        .get(
            &format!(
                "/governor?symbol={sym}&decision=allow&since={}",
                rfc(t - 200 * 86_400)
            ),
            None,
        )
        .json();
    assert_eq!(v["totals"]["allow"], 4);
    assert_eq!(v["bucket_s"], 604_800);
    let v = f
        .get(
            &format!("/governor?since={}&until={}", rfc(t - 2 * 86_400), rfc(t)),
            None,
        )
        .json();
    assert_eq!(
        v["totals"]["allow"].as_u64().unwrap_or(0) + v["totals"]["deny"].as_u64().unwrap_or(0),
        3
    );
    assert_eq!(v["bucket_s"], 3_600);
    // An empty range (since >= until): no bucket, no decision, as on /signals.
    let v = f
        .get(
            &format!("/governor?since={}&until={}", rfc(t), rfc(t - 10)),
            None,
        )
        .json();
    assert_eq!(
        (
            v["count"].clone(),
            v["series"].clone(),
            v["totals"]["deny"].clone()
        ),
        (json!(0), json!([]), json!(0))
    );
    for q in [
        "reason=min_confidence",
        "decision=maybe",
        "limit=0",
        "since=soon",
        "bogus=1",
    ] {
        let r = f.get(&format!("/governor?{q}"), None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{q}: {}",
            r.body
        );
    }
}

fn quality(b: Backend) {
    let Some(mut f) = Fixture::new(b, |_| {}) else {
        return;
    };
    let sym = f.symbol(0);
    // Six long signals (the fixture's score 0.42): allowed ones have confidence 0.8, denied
    // 0.3. Outcomes from brain's automatic scoring for five; one is not scored yet.
    // (allowed, outcome): two denied and four allowed signals.
    let outcomes = [
        (false, Some(("hit", 0.02))),
        (false, Some(("miss", -0.01))),
        (true, Some(("hit", 0.03))),
        (true, Some(("hit", 0.01))),
        (true, Some(("miss", -0.02))),
        (true, None),
    ];
    for (i, (allowed, outcome)) in outcomes.iter().enumerate() {
        let id = f.signal(&sym, f.base + i as i64 * 60, i, !allowed);
        if let Some((kind, ret)) = outcome {
            f.store
                .insert_feedback(&aivex_store::Feedback {
                    signal_id: id.clone(),
                    source: "auto".into(),
                    outcome: kind.to_string(),
                    realized_return: Some(*ret),
                    horizon_s: Some(86_400),
                    note: None,
                    at: f.base + 10_000,
                })
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // Feedback from another source is not the track record.
        f.store
            .insert_feedback(&aivex_store::Feedback {
                signal_id: id,
                source: "analyst".into(),
                outcome: "miss".into(),
                realized_return: Some(-0.5),
                horizon_s: None,
                note: None,
                at: f.base,
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let v = f.get(&format!("/quality?symbol={sym}"), None).json();
    assert_eq!(
        (
            v["signals"].clone(),
            v["allowed"].clone(),
            v["denied"].clone(),
            v["scored"].clone()
        ),
        (json!(6), json!(4), json!(2), json!(5)),
        "{v}"
    );
    assert_eq!(v["hit_rate"], json!(2.0 / 3.0));
    assert_eq!(v["hit_rate_all"], json!(0.6));
    // Every score is 0.42: a constant has no rank order, so no IC.
    assert_eq!(v["ic"], Value::Null);
    // Following the allowed calls: +0.03, +0.01, -0.02.
    assert!((v["mean_return_allowed"].as_f64().unwrap_or(0.0) - 0.02 / 3.0).abs() < 1e-12);
    let brier = (0.49 + 0.09 + 2.0 * 0.04 + 0.64) / 5.0;
    assert!(
        (v["brier"].as_f64().unwrap_or(0.0) - brier).abs() < 1e-9,
        "{}",
        v["brier"]
    );
    let filled: Vec<(Value, Value)> = v["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["n"] != 0)
        .map(|b| (b["lo"].clone(), b["n"].clone()))
        .collect();
    assert_eq!(filled, vec![(json!(0.3), json!(2)), (json!(0.8), json!(3))]);
    assert_eq!(v["by_reason"]["MIN_CONFIDENCE"], 2);
    assert_eq!(v["per_symbol"][&sym]["signals"], 6);
    assert_eq!(v["source"], "auto");
    assert_eq!(v["truncated"], false);

    let v = f
        .get(
            &format!("/quality?symbol={sym}&since={}", rfc(f.base + 120)),
            None,
        )
        .json();
    assert_eq!(v["signals"], 4);
    // An empty range (since >= until) is an empty report, as on /signals.
    let v = f
        .get(
            &format!("/quality?since={}&until={}", rfc(f.base + 1), rfc(f.base)),
            None,
        )
        .json();
    assert_eq!(
        (v["signals"].clone(), v["scored"].clone()),
        (json!(0), json!(0))
    );
    for q in ["since=x", "symbol=a%20b", "bogus=1"] {
        let r = f.get(&format!("/quality?{q}"), None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_query"),
            "{q}: {}",
            r.body
        );
    }
}

fn auth_and_logs(b: Backend) {
    const TOKEN: &str = "dash-token-aaaa1111";
    let Some(f) = Fixture::new(b, |c| c.tokens = vec![TOKEN.into()]) else {
        return;
    };
    // Public: the page, its assets, and /auth.
    let (status, _, html) = fetch(f.addr, "GET", "/", "");
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap_or_default();
    let asset = html
        .split("\"/assets/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default();
    assert_eq!(f.get(&format!("/assets/{asset}"), None).status, 200);
    assert_eq!(
        f.get("/auth", None).json(),
        json!({"required": true, "authorized": false, "scheme": "bearer"})
    );
    assert_eq!(f.get("/auth", Some("nope")).json()["authorized"], false);
    assert_eq!(f.get("/auth", Some(TOKEN)).json()["authorized"], true);
    let sym = f.symbol(0);
    for path in [
        format!("/candles/{sym}"),
        "/governor".into(),
        "/quality".into(),
        "/modules/news/log".into(),
    ] {
        let r = f.get(&path, None);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "unauthorized"),
            "{path}"
        );
        assert_eq!(f.get(&path, Some(TOKEN)).status, 200, "{path}");
    }

    // The log of a module of the run: the last lines, cleaned; the previous rotation fills in.
    let logs = f.run_dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(logs.join("news.log.1"), "old 1\nold 2\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        logs.join("news.log"),
        "line a\n\u{1b}[31mred\u{1b}[0m b\nstore mysql://aivex:hunter2@db/aivex\npartial",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = f.get("/modules/news/log?lines=3", Some(TOKEN)).json();
    assert_eq!(
        v["lines"],
        json!(["red b", "store mysql://aivex:***@db/aivex", "partial"]),
        "{v}"
    );
    let v = f.get("/modules/news/log", Some(TOKEN)).json();
    assert_eq!(v["lines"][0], "old 1");
    assert_eq!(v["count"], 6);
    assert!(!v.to_string().contains("hunter2"));
    let r = f.get("/modules/ghost/log", Some(TOKEN));
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = f.get("/modules/..%2Fstate/log", Some(TOKEN));
    assert_eq!(r.status, 404, "a path is no module name: {}", r.body);
    let r = f.get("/modules/news/log?lines=0", Some(TOKEN));
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    f.write_state(&[("eye", json!({"state": "RUNNING"}))], 0.0);
    let v = f.get("/modules/eye/log", Some(TOKEN)).json();
    assert_eq!(
        (v["count"].clone(), v["lines"].clone()),
        (json!(0), json!([])),
        "no output yet"
    );
}
