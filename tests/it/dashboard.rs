//! The dashboard in a real headless Chromium (`browser.rs`) against the real `aivex` binary:
//! the demo pipeline under a supervisor (chart, news, metrics, brain, eye on the demo data
//! dated to end yesterday), and an Eye with a token. Signals the tests add come from
//! `dash_store.rs` (composed and judged by aivex-brain, written as brain writes them).
//!
//! What is checked: a row per demo symbol; the symbol chart has drawn pixels and one marker per
//! signal in view (counted from the API by the test); hovering a marker shows its components
//! and every governor rule with its inputs; a signal written while the page is open appears
//! without a reload (table row and marker); phone and desktop layouts; the token is asked for,
//! kept in sessionStorage and sent as a header (the event stream too), never in a URL; a
//! crash-looping module raises the banner and shows its log open, escape codes and URL
//! passwords removed; no request leaves the origin; no console error. Screenshots go to
//! `target/tmp/dashboard/` (desktop and phone).

use crate::browser::{self, Browser, Page};
use crate::dash_store::{now, record};
use crate::harness::*;
use aivex_store::Store;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const DEMO: [&str; 5] = ["AAPL", "BTCUSDT", "MSFT", "NVDA", "SPY"];
const WAIT: Duration = Duration::from_secs(60);

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
}

fn rfc(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// GET a JSON route of Eye (no token).
fn api(addr: SocketAddr, path: &str) -> Value {
    let (status, v) = http(addr, "GET", path, None).unwrap_or_else(|| panic!("{path}: no answer"));
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn wait_signals(addr: SocketAddr, n: usize) {
    wait_for(
        &format!("{n} symbols in /signals"),
        Duration::from_secs(180),
        || {
            let (s, v) = http(addr, "GET", "/signals?limit=1000", None)?;
            (s == 200 && v["count"].as_u64() >= Some(n as u64)).then_some(())
        },
    );
}

fn open<'b>(b: &'b Browser, origin: &str, width: u32, height: u32) -> Page<'b> {
    let p = b.page();
    p.viewport(width, height, 1.0, false);
    p.navigate(&format!("{origin}/"));
    p
}

fn go(p: &Page<'_>, hash: &str, view: &str) {
    p.eval(&format!("location.hash = {}", json!(hash)));
    p.wait(
        &format!("the {view} view"),
        &format!("document.documentElement.dataset.ready === {}", json!(view)),
        WAIT,
    );
}

/// Requests stayed on `origin`, and the console stayed clean.
fn clean(p: &Page<'_>, origin: &str) {
    let requests = p.requests();
    assert!(!requests.is_empty());
    let foreign: Vec<&String> = requests
        .iter()
        .map(|(u, _)| u)
        .filter(|u| !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(foreign.is_empty(), "requests beyond {origin}: {foreign:?}");
    assert_eq!(p.console_errors(), Vec::<String>::new(), "console errors");
}

const CANVAS_PIXELS: &str = "(() => { const c = document.getElementById('price-canvas'); \
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()";

#[test]
fn dashboard_on_the_demo_store() {
    if !browser::available() {
        return;
    }
    let env = crate::pipeline::demo_env("dash");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let origin = format!("http://{addr}");
    let mut sup = env.start_args(
        &["run", "--config", "config/aivex.toml"],
        &[("AIVEX_EYE_ADDR", &addr.to_string())],
    );
    wait_signals(addr, DEMO.len());
    let mut store = Store::open(&format!(
        "sqlite://{}",
        env.path("data/aivex.sqlite").display()
    ))
    .unwrap_or_else(|e| panic!("store: {e}"));

    // History for AAPL's chart: a signal at the close of every 20th bar, allowed and denied.
    let candles = api(addr, "/candles/AAPL?interval=1d&limit=500");
    let t: Vec<i64> = candles["t"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    assert!(t.len() > 200, "demo bars: {}", t.len());
    let mut past = Vec::new();
    for (k, ts) in t.iter().step_by(20).enumerate() {
        let value = if k % 3 == 0 { -0.55 } else { 0.6 };
        past.push(record(&mut store, "AAPL", ts + 86_400, value, k % 2 == 0));
    }

    let b = Browser::launch(&env.dir);
    let p = open(&b, &origin, 1280, 860);
    p.wait(
        "the signals view",
        "document.documentElement.dataset.ready === 'signals'",
        WAIT,
    );
    // A row per demo symbol.
    let rows = p.eval("[...document.querySelectorAll('#signals-table tbody tr')].map(r => r.dataset.symbol).sort()");
    assert_eq!(rows, json!(DEMO), "rows");
    p.eval("window.__sameDocument = 1");
    p.screenshot(&artifacts().join("desktop-signals.png"));

    // The symbol page: drawn candles and as many markers as signals in view.
    go(&p, "#/symbol/AAPL", "symbol");
    let pixels = p.eval(CANVAS_PIXELS).as_u64().unwrap_or(0);
    assert!(
        pixels > 20_000,
        "price canvas nearly blank: {pixels} drawn pixels"
    );
    let since = rfc(t[0]);
    let signals = api(addr, &format!("/signals/AAPL?limit=1000&since={since}"));
    let in_view = signals["signals"].as_array().cloned().unwrap_or_default();
    let allowed = in_view.iter().filter(|s| s["decision"] == "allow").count();
    assert!(
        in_view.len() > past.len(),
        "{} signals in view",
        in_view.len()
    );
    assert_eq!(
        p.eval("document.querySelectorAll('#markers .marker').length"),
        json!(in_view.len())
    );
    assert_eq!(
        p.eval("document.querySelectorAll('#markers .marker.allow').length"),
        json!(allowed)
    );

    // Hovering a marker explains the signal: components and every rule with its inputs.
    let id = &past[1];
    let (x, y) = p.centre(&format!("#markers .marker[data-id='{id}']"));
    p.mouse_move(x, y);
    p.wait("the tooltip", &format!("!document.getElementById('tip').hidden && document.getElementById('tip').dataset.signalId === '{id}'"), WAIT);
    let tip = p
        .eval("document.getElementById('tip').innerText")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sig = in_view
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .unwrap_or_default();
    let rules = sig["governor"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), 9, "{sig}");
    for r in &rules {
        let code = r["code"].as_str().unwrap_or_default();
        assert!(tip.contains(code), "tooltip lacks rule {code}: {tip}");
    }
    for needle in [
        "chart",
        "news",
        "metrics",
        "contribution",
        "input age",
        "halted=true",
        "min_confidence=0",
    ] {
        assert!(tip.contains(needle), "tooltip lacks {needle:?}: {tip}");
    }
    p.screenshot(&artifacts().join("desktop-symbol.png"));
    p.mouse_move(5.0, 5.0);

    // Live: a signal written now appears on the open chart and in the table, no reload.
    let live = record(&mut store, "AAPL", now(), 0.7, true);
    p.wait(
        "the live marker",
        &format!("document.querySelector(\"#markers .marker[data-id='{live}']\") !== null"),
        WAIT,
    );
    go(&p, "#/", "signals");
    let fresh = record(&mut store, "ZZLIVE", now(), -0.6, false);
    p.wait(
        "the live row",
        &format!(
            "document.querySelector(\"#signals-table tr[data-signal-id='{fresh}']\") !== null"
        ),
        WAIT,
    );
    assert_eq!(
        p.eval(&format!(
            "document.querySelector(\"#signals-table tr[data-signal-id='{fresh}'] td[data-label=Origin]\").textContent"
        )),
        json!("live")
    );
    assert_eq!(
        p.eval("window.__sameDocument"),
        json!(1),
        "the page was reloaded"
    );

    // The other views render.
    for (hash, view) in [
        ("#/governor", "governor"),
        ("#/quality", "quality"),
        ("#/modules", "modules"),
    ] {
        go(&p, hash, view);
        p.screenshot(&artifacts().join(format!("desktop-{view}.png")));
    }
    // Quality for one symbol: its own report (/quality?symbol=), reliability diagram included.
    go(&p, "#/quality", "quality");
    let q = api(addr, "/quality?symbol=AAPL");
    p.eval("(() => { const s = document.querySelector('select[name=symbol]'); s.value = 'AAPL'; s.dispatchEvent(new Event('change')); })()");
    p.wait(
        "AAPL's quality",
        &format!(
            "document.querySelector('#quality-stats .stat .v').textContent === '{}'",
            q["signals"]
        ),
        WAIT,
    );
    p.eval("(() => { const s = document.querySelector('select[name=symbol]'); s.value = ''; s.dispatchEvent(new Event('change')); })()");
    go(&p, "#/modules", "modules");
    assert_eq!(
        p.eval("document.querySelectorAll('#modules .module').length"),
        json!(5)
    );
    p.wait("a module's output", "[...document.querySelectorAll('#modules pre.log')].some(e => e.textContent.includes('eye'))", WAIT);
    clean(&p, &origin);

    // A phone: one column, nothing wider than the screen.
    let phone = b.page();
    phone.viewport(390, 844, 2.0, true);
    phone.navigate(&format!("{origin}/"));
    phone.wait(
        "the signals view",
        "document.documentElement.dataset.ready === 'signals'",
        WAIT,
    );
    assert_eq!(
        phone.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true)
    );
    phone.screenshot(&artifacts().join("phone-signals.png"));
    go(&phone, "#/symbol/AAPL", "symbol");
    assert_eq!(phone.eval("getComputedStyle(document.querySelector('.grid-2')).gridTemplateColumns.split(' ').length"), json!(1));
    assert_eq!(
        phone.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true)
    );
    assert!(phone.eval(CANVAS_PIXELS).as_u64().unwrap_or(0) > 10_000);
    phone.screenshot(&artifacts().join("phone-symbol.png"));
    go(&phone, "#/modules", "modules");
    phone.screenshot(&artifacts().join("phone-modules.png"));
    clean(&phone, &origin);
    drop(b);
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn dashboard_asks_for_the_token() {
    if !browser::available() {
        return;
    }
    const TOKEN: &str = "dash-token-5c1e7a";
    let env = Env::new("dash-token");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    env.write(
        "modules/eye/module.toml",
        &std::fs::read_to_string(repo.join("modules/eye/module.toml")).unwrap_or_default(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let origin = format!("http://{addr}");
    // A module that fails at once, every time: a crash loop after three starts. Its output
    // carries a terminal colour code and a URL password, which the page must not show.
    env.sh_module(
        "flappy",
        "printf 'flappy fails \\033[31mred\\033[0m mysql://u:hunter2@db/x\\n'; exit 1",
        "",
    );
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0\nstart_stagger_s = 0\ncrash_loop_count = 3\n\
         crash_loop_window_s = 600\n\
         [runtime]\ndata_dir = \"data\"\nmodules_dir = \"modules\"\nenabled = [\"eye\", \"flappy\"]\n\
         [database]\nurl = \"sqlite://aivex.sqlite\"\n[eye]\nlisten = \"{addr}\"\n"
    ));
    let out = env.run(
        &["migrate", "--config", "aivex.toml"],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "migrate: {:?}", text(&out));
    let mut store = Store::open(&format!(
        "sqlite://{}",
        env.path("data/aivex.sqlite").display()
    ))
    .unwrap_or_else(|e| panic!("store: {e}"));
    record(&mut store, "AAPL", now() - 3_600, 0.6, true);
    record(&mut store, "MSFT", now() - 7_200, -0.6, false);
    let mut sup = env.start_with(&[], &[("AIVEX_EYE_TOKEN", TOKEN)]);
    wait_for("eye", WAIT, || {
        http(addr, "GET", "/auth", None).filter(|r| r.0 == 200)
    });

    let b = Browser::launch(&env.dir);
    let p = open(&b, &origin, 1024, 768);
    p.wait(
        "the token form",
        "document.documentElement.dataset.ready === 'login'",
        WAIT,
    );
    // Nothing but the page, its assets and /auth before a token is given.
    for (url, _) in p.requests() {
        let path = url.trim_start_matches(&origin);
        assert!(
            path == "/" || path.starts_with("/assets/") || path == "/auth",
            "{url} before the token"
        );
    }
    let submit = |tok: &str| {
        p.eval("document.querySelector('#login input[name=token]').focus()");
        p.eval("document.querySelector('#login input[name=token]').value = ''");
        p.type_text(tok);
        let (x, y) = p.centre("#login button[type=submit]");
        p.click(x, y);
    };
    submit("wrong-token");
    p.wait("the refusal", "!document.getElementById('login-error').hidden && document.getElementById('login-error').textContent.includes('refused')", WAIT);
    assert_eq!(p.eval("sessionStorage.getItem('aivex.token')"), Value::Null);
    submit(TOKEN);
    p.wait(
        "the signals view",
        "document.documentElement.dataset.ready === 'signals'",
        WAIT,
    );
    assert_eq!(
        p.eval("document.querySelectorAll('#signals-table tbody tr').length"),
        json!(2)
    );
    assert_eq!(
        p.eval("sessionStorage.getItem('aivex.token')"),
        json!(TOKEN)
    );
    // Both stored signals are older than now: written as back-fill, shown as such.
    assert_eq!(
        p.eval("[...document.querySelectorAll('#signals-table tbody td[data-label=Origin]')].map(td => td.textContent)"),
        json!(["backfill", "backfill"])
    );
    // The crash loop stands out: a banner on every page, its card marked, its log open and
    // cleaned.
    env.wait_module("flappy", "LOOP_DETECTED", WAIT);
    p.wait(
        "the banner",
        "!document.getElementById('banner').hidden && document.getElementById('banner').textContent.includes('flappy LOOP_DETECTED')",
        WAIT,
    );
    go(&p, "#/modules", "modules");
    p.wait(
        "flappy's log",
        "(document.querySelector('#modules .module.bad[data-name=flappy] details[open] pre.log') || {}).textContent.includes('flappy fails red mysql://u:***@db/x')",
        WAIT,
    );
    assert_eq!(
        p.eval(
            "document.querySelector('#modules .module[data-name=eye]').classList.contains('bad')"
        ),
        json!(false)
    );
    assert_eq!(
        p.eval("document.body.innerText.includes('hunter2')"),
        json!(false)
    );
    p.wait(
        "the event stream",
        "document.getElementById('live').classList.contains('on')",
        WAIT,
    );
    let requests = p.requests();
    let bearer = format!("Bearer {TOKEN}");
    for (url, headers) in &requests {
        assert!(!url.contains(TOKEN), "the token is in a URL: {url}");
        let path = url.trim_start_matches(&origin);
        if path == "/" || path.starts_with("/assets/") || path == "/auth" {
            continue;
        }
        assert_eq!(
            headers["Authorization"],
            json!(bearer),
            "{url} without the token"
        );
    }
    assert!(
        requests.iter().any(|(u, _)| u.ends_with("/events")),
        "no /events request"
    );
    clean(&p, &origin);
    drop(b);
    assert_eq!(sup.stop(), Some(0));
}
