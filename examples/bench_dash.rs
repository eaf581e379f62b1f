//! The dashboard's first-render benchmark, run by `scripts/bench-dash` (issue 16): time from
//! navigation to the symbol page's chart drawn, with 2,000 daily bars and 500 signals, in
//! Debian's headless Chromium, and the bytes transferred on a first load.
//!
//! Usage: bench_dash AIVEX_BIN [RUNS]. In a fresh temp directory it writes a config running
//! only `eye` on SQLite, migrates, seeds symbol BENCH with 2,000 daily bars ending yesterday
//! and 500 signals (every 4th bar; composed and judged by aivex-brain, written as brain writes
//! them: `tests/it/dash_store.rs`), starts `aivex run`, then per run opens a new tab with the
//! browser cache disabled (every byte fetched, as on a first visit) and measures:
//! - `render`: the page's own `aivex:render:symbol` performance mark (set once the chart,
//!   its markers and the side panel are drawn), in ms since navigation start;
//! - the bytes received for the symbol page (headers and bodies, as on the wire) and for the
//!   default first load, the signals view at `/`.
//!
//! Prints every run and the medians. It must not be a test: nothing here asserts a time.

#[path = "../tests/it/browser.rs"]
mod browser;
#[path = "../tests/it/dash_store.rs"]
mod dash_store;

use aivex_store::{OhlcvRow, Store};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SYMBOL: &str = "BENCH";
const BARS: usize = 2_000;
const SIGNALS: usize = 500;
const DAY: i64 = 86_400;

fn fail(msg: String) -> ! {
    eprintln!("bench_dash: {msg}");
    std::process::exit(1);
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| fail(format!("no free port: {e}")))
}

/// The status of `GET path` (None while nothing answers).
fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}

/// 2,000 daily bars of a deterministic random walk, the last one opening yesterday.
fn bars(now: i64) -> Vec<OhlcvRow> {
    let last = now - now.rem_euclid(DAY) - DAY;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut close = 100.0_f64;
    (0..BARS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = (x % 2001) as f64 / 1000.0 - 1.0;
            let open = close;
            close = (close * (1.0 + step * 0.02)).max(1.0);
            OhlcvRow {
                symbol: SYMBOL.into(),
                interval: "1d".into(),
                ts: last - (BARS - 1 - i) as i64 * DAY,
                open,
                high: open.max(close) * 1.01,
                low: open.min(close) * 0.99,
                close,
                adj_close: None,
                volume: 1_000.0 + (x % 500) as f64,
                source: "bench".into(),
            }
        })
        .collect()
}

fn seed(dir: &Path, addr: SocketAddr, bin: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let eye = std::fs::read_to_string(repo.join("modules/eye/module.toml"))
        .unwrap_or_else(|e| fail(format!("modules/eye/module.toml: {e}")));
    std::fs::create_dir_all(dir.join("modules/eye"))
        .and_then(|_| std::fs::write(dir.join("modules/eye/module.toml"), eye))
        .and_then(|_| {
            std::fs::write(
                dir.join("aivex.toml"),
                format!(
                    "[runtime]\ndata_dir = \"data\"\nmodules_dir = \"modules\"\nenabled = [\"eye\"]\n\
                     [database]\nurl = \"sqlite://aivex.sqlite\"\n[eye]\nlisten = \"{addr}\"\n"
                ),
            )
        })
        .unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    let out = Command::new(bin)
        .args(["migrate", "--config", "aivex.toml"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| fail(format!("{}: {e}", bin.display())));
    if !out.status.success() {
        fail(format!("migrate: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let url = format!("sqlite://{}", dir.join("data/aivex.sqlite").display());
    let mut store = Store::open(&url).unwrap_or_else(|e| fail(format!("store: {e}")));
    let rows = bars(dash_store::now());
    store
        .upsert_bars(&rows)
        .unwrap_or_else(|e| fail(format!("bars: {e}")));
    let step = BARS / SIGNALS;
    for (k, bar) in rows.iter().step_by(step).take(SIGNALS).enumerate() {
        let value = if k % 3 == 0 { -0.55 } else { 0.6 };
        dash_store::record(&mut store, SYMBOL, bar.ts + DAY - 1, value, k % 2 == 0);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Opens `url` in a new tab with the cache off, waits for `view`; returns (render ms, bytes
/// received, markers drawn).
fn visit(b: &browser::Browser, url: &str, view: &str) -> (f64, f64, u64) {
    let p = b.page();
    p.viewport(1280, 860, 1.0, false);
    p.call("Network.setCacheDisabled", json!({"cacheDisabled": true}));
    // The symbol page shows 2,000 bars (its range is kept per tab in sessionStorage).
    p.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": format!("sessionStorage.setItem('aivex.symbol.{SYMBOL}', 'limit={BARS}&interval=1d')")}),
    );
    p.navigate(url);
    p.wait(
        view,
        &format!("document.documentElement.dataset.ready === '{view}'"),
        Duration::from_secs(60),
    );
    let ms = p
        .eval(&format!(
            "performance.getEntriesByName('aivex:render:{view}')[0].startTime"
        ))
        .as_f64()
        .unwrap_or(f64::NAN);
    let markers = p
        .eval("document.querySelectorAll('#markers .marker').length")
        .as_u64()
        .unwrap_or(0);
    // Every request but the open event stream has finished by now; give their
    // loadingFinished events a moment to arrive.
    std::thread::sleep(Duration::from_millis(300));
    let bytes = p.bytes_received();
    b.call(None, "Target.closeTarget", json!({"targetId": p.target}));
    (ms, bytes, markers)
}

fn stop(mut child: Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .unwrap_or_else(|| fail("usage: bench_dash AIVEX_BIN [RUNS]".into())),
    );
    let bin = std::fs::canonicalize(&bin).unwrap_or_else(|e| fail(format!("{bin:?}: {e}")));
    let runs: usize = args
        .next()
        .map(|r| r.parse().unwrap_or_else(|e| fail(format!("RUNS: {e}"))))
        .unwrap_or(7);
    if !Path::new(browser::CHROMIUM).exists() {
        fail(format!(
            "{} is missing (apt-get install chromium)",
            browser::CHROMIUM
        ));
    }
    let dir = std::env::temp_dir().join(format!("aivex-bench-dash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr = free_addr();
    let t0 = Instant::now();
    seed(&dir, addr, &bin);
    eprintln!(
        "seeded {BARS} bars and {SIGNALS} signals in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let out = std::fs::File::create(dir.join("aivex.log"))
        .unwrap_or_else(|e| fail(format!("aivex.log: {e}")));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| fail(format!("aivex.log: {e}")));
    let child = Command::new(&bin)
        .args(["run", "--config", "aivex.toml"])
        .current_dir(&dir)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| fail(format!("{}: {e}", bin.display())));
    let end = Instant::now() + Duration::from_secs(60);
    while status(addr, "/auth") != Some(200) {
        if Instant::now() > end {
            stop(child);
            fail(format!(
                "Eye did not answer on {addr}; see {}/aivex.log",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let origin = format!("http://{addr}");
    let (mut render, mut sym_bytes, mut first_bytes) = (Vec::new(), Vec::new(), Vec::new());
    {
        let b = browser::Browser::launch(&dir);
        // One visit first to start the renderer processes, not counted.
        visit(&b, &format!("{origin}/#/symbol/{SYMBOL}"), "symbol");
        for i in 0..runs {
            let (ms, bytes, markers) = visit(&b, &format!("{origin}/#/symbol/{SYMBOL}"), "symbol");
            let (_, first, _) = visit(&b, &format!("{origin}/"), "signals");
            println!(
                "run {}: symbol page first render {ms:.0} ms, {:.1} KB received, {markers} markers; signals page (/) {:.1} KB",
                i + 1,
                bytes / 1000.0,
                first / 1000.0
            );
            render.push(ms);
            sym_bytes.push(bytes);
            first_bytes.push(first);
        }
    }
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "median of {runs}: first render of the symbol page ({BARS} bars, {SIGNALS} signals) {:.0} ms (target <= 1000), {:.1} KB transferred; first load of / {:.1} KB (budget 150 KB)",
        median(&mut render),
        median(&mut sym_bytes) / 1000.0,
        median(&mut first_bytes) / 1000.0
    );
}
