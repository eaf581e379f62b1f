//! A real headless Chromium (Debian's `chromium`, never a downloaded browser) driven over the
//! Chrome DevTools Protocol through `--remote-debugging-pipe`: commands go in on the browser's
//! fd 3 and answers and events come out on its fd 4, one JSON message per NUL-terminated
//! frame, so neither a WebSocket client nor node is needed. The browser runs in its own
//! process group, killed (by that id) when the `Browser` is dropped; every call and wait has a
//! deadline.
//!
//! Shared by the dashboard tests and `examples/bench_dash.rs`. It must not know the page.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// The launch flags of machines/rust.md: headless, no sandbox (root), no GPU, and nothing that
/// reaches for the network on its own.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
];

type Pending = Arc<Mutex<HashMap<u64, Sender<Value>>>>;

/// Events seen so far (method, sessionId, params), and a condvar to wait for more.
#[derive(Default)]
struct Events {
    list: Mutex<Vec<Value>>,
    cond: Condvar,
}

pub struct Browser {
    child: Child,
    input: Mutex<ChildStdin>,
    pending: Pending,
    events: Arc<Events>,
    next: AtomicU64,
    profile: PathBuf,
}

/// Chromium is there, or: under CI it must be (panic), elsewhere the test is skipped (None).
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing under CI: the browser tests must run (apt-get install chromium; scripts/test does)"
    );
    eprintln!("{CHROMIUM} not installed: skipping the browser test");
    false
}

impl Browser {
    /// Starts Chromium with a fresh profile directory under `dir`; its stderr goes to
    /// `dir/chromium.log`.
    pub fn launch(dir: &Path) -> Browser {
        let profile = dir.join("chromium-profile");
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("profile dir: {e}"));
        let log = std::fs::File::create(dir.join("chromium.log"))
            .unwrap_or_else(|e| panic!("chromium.log: {e}"));
        // The shell puts our pipes on fds 3 (commands in) and 4 (answers out), as
        // --remote-debugging-pipe expects, then becomes Chromium.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 </dev/null >/dev/null")
            .arg(CHROMIUM)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            // The browser keeps the real clock, like a client on another machine: under
            // scripts/test-shifted only aivex's wall clock moves (libfaketime inside Chromium's
            // sandboxed network service makes it crash).
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .env_remove("FAKETIME_DONT_FAKE_MONOTONIC")
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        let input = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let output = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let pending: Pending = Arc::default();
        let events: Arc<Events> = Arc::default();
        let (p, ev) = (pending.clone(), events.clone());
        std::thread::spawn(move || {
            let mut r = BufReader::new(output);
            let mut buf = Vec::new();
            while r.read_until(0, &mut buf).map(|n| n > 0).unwrap_or(false) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(msg) = serde_json::from_slice::<Value>(&buf) {
                    match msg.get("id").and_then(Value::as_u64) {
                        Some(id) => {
                            let tx = p.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                            if let Some(tx) = tx {
                                let _ = tx.send(msg);
                            }
                        }
                        None => {
                            ev.list.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
                            ev.cond.notify_all();
                        }
                    }
                }
                buf.clear();
            }
        });
        let b = Browser {
            child,
            input: Mutex::new(input),
            pending,
            events,
            next: AtomicU64::new(1),
            profile,
        };
        // The first answer proves the pipe works (and that the browser started).
        let v = b.call(None, "Browser.getVersion", json!({}));
        eprintln!("browser: {}", v["product"]);
        b
    }

    /// One command; panics with the method and the error when it fails or takes too long.
    pub fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        {
            let mut w = self.input.lock().unwrap_or_else(|e| e.into_inner());
            let mut bytes = msg.to_string().into_bytes();
            bytes.push(0);
            w.write_all(&bytes)
                .and_then(|_| w.flush())
                .unwrap_or_else(|e| panic!("{method}: the browser is gone ({e})"));
        }
        let answer = rx
            .recv_timeout(CALL_DEADLINE)
            .unwrap_or_else(|_| panic!("{method}: no answer within {CALL_DEADLINE:?}"));
        if let Some(err) = answer.get("error") {
            panic!("{method}: {err}");
        }
        answer["result"].clone()
    }

    /// A new tab, attached, with the page, runtime, network and log domains on.
    pub fn page(&self) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
        let att = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        let session = att["sessionId"].as_str().unwrap_or_default().to_string();
        let p = Page {
            b: self,
            session,
            target: target_id,
        };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            p.call(&format!("{domain}.enable"), json!({}));
        }
        p
    }

    /// Events of `session` so far.
    fn events_of(&self, session: &str) -> Vec<Value> {
        self.events
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e["sessionId"] == session)
            .cloned()
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: Chromium's zygote, renderer and utility processes too.
        let pgid = self.child.id() as i32;
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub struct Page<'a> {
    b: &'a Browser,
    pub session: String,
    pub target: String,
}

impl Page<'_> {
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.b.call(Some(&self.session), method, params)
    }

    /// The value of a JavaScript expression (promises awaited); panics on an exception.
    pub fn eval(&self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy (an exception, as while a page loads, counts as not yet);
    /// returns its value. Panics after `deadline` with `what`.
    pub fn wait(&self, what: &str, expr: &str, deadline: Duration) -> Value {
        let end = Instant::now() + deadline;
        let guarded =
            format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()");
        loop {
            let v = self.eval(&guarded);
            let truthy =
                !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > end {
                let text = self.eval(
                    "(() => { try { return document.body.innerText.slice(0, 800); } catch (e) { return String(e); } })()",
                );
                panic!(
                    "timed out after {deadline:?} waiting for {what} ({expr}); console: {:?}; page: {text}",
                    self.console_errors()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn navigate(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// The viewport: CSS pixels, device pixel ratio, and whether it is a phone (touch, mobile
    /// viewport rules).
    pub fn viewport(&self, width: u32, height: u32, scale: f64, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}),
        );
    }

    pub fn screenshot(&self, path: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": false}),
        );
        let png = base64(r["data"].as_str().unwrap_or_default());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    pub fn mouse_move(&self, x: f64, y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
    }

    pub fn click(&self, x: f64, y: f64) {
        self.mouse_move(x, y);
        for t in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": t, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// The centre of the first element matching `selector` (CSS pixels), scrolled into view.
    pub fn centre(&self, selector: &str) -> (f64, f64) {
        let v = self.eval(&format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            s = json!(selector)
        ));
        let x = v[0]
            .as_f64()
            .unwrap_or_else(|| panic!("no element {selector}"));
        (x, v[1].as_f64().unwrap_or(0.0))
    }

    /// Types text into the focused element, as a keyboard would.
    pub fn type_text(&self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    /// Every request the page made so far: (url, request headers).
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.b
            .events_of(&self.session)
            .into_iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .map(|e| {
                (
                    e["params"]["request"]["url"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["params"]["request"]["headers"].clone(),
                )
            })
            .collect()
    }

    /// Bytes received for finished requests (headers and body, as sent on the wire).
    pub fn bytes_received(&self) -> f64 {
        self.b
            .events_of(&self.session)
            .iter()
            .filter(|e| e["method"] == "Network.loadingFinished")
            .filter_map(|e| e["params"]["encodedDataLength"].as_f64())
            .sum()
    }

    /// Console errors, uncaught exceptions and error log entries (failed loads among them).
    pub fn console_errors(&self) -> Vec<String> {
        self.b
            .events_of(&self.session)
            .into_iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Runtime.exceptionThrown" => {
                        Some(format!("exception: {}", p["exceptionDetails"]))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(format!("log: {} {}", p["entry"]["text"], p["entry"]["url"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// Standard base64 (the screenshot's encoding) to bytes.
fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_table() {
    for (enc, dec) in [
        ("", &b""[..]),
        ("TWFu", b"Man"),
        ("TWE=", b"Ma"),
        ("TQ==", b"M"),
    ] {
        assert_eq!(base64(enc), dec, "{enc}");
    }
}
