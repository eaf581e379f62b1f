//! Hole 1 of issue 14: a client resuming `/events` with a `Last-Event-ID` from before an Eye
//! restart gets one `resync` and then waits for new events; Eye must not spin. This test has a
//! binary of its own so that the process's CPU time (`/proc/self/stat`) is Eye's.

mod common;

use common::{open_stream, read_events, Backend, Fixture};
use serde_json::json;
use std::time::{Duration, Instant};

/// CPU seconds (user + system) this process has used.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}

#[test]
fn a_resume_after_a_restart_waits_without_spinning() {
    let mut f = Fixture::new(Backend::Sqlite, |c| c.sse_keepalive_s = 0.5)
        .unwrap_or_else(|| panic!("sqlite fixture"));
    // Events from the first Eye; the client remembers the last id it saw.
    let (mut s, status, mut buf) = open_stream(f.addr, "");
    assert_eq!(status, 200);
    f.eye.housekeep();
    f.append_history(&json!({"event": "transition", "module": "news", "to": "RUNNING"}));
    f.append_history(&json!({"event": "transition", "module": "chart", "to": "RUNNING"}));
    f.eye.housekeep();
    let evs = read_events(&mut s, 2, &mut buf);
    let old = evs
        .last()
        .map(|e| e.0)
        .unwrap_or_else(|| panic!("no events: {evs:?} in {:?}", String::from_utf8_lossy(&buf)));
    drop(s);

    f.restart_eye();
    let (mut s, status, mut buf) = open_stream(f.addr, &format!("Last-Event-ID: {old}\r\n"));
    assert_eq!(status, 200);
    let first = read_events(&mut s, 1, &mut buf);
    assert_eq!(
        first.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        vec!["resync"]
    );
    // Five quiet seconds with the resumed stream open: keep-alive comments only, and Eye's
    // CPU well under a tenth of a core.
    let (c0, t0) = (cpu_s(), Instant::now());
    let _ = s.set_read_timeout(Some(Duration::from_millis(250)));
    let mut chunk = [0u8; 4096];
    while t0.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = std::io::Read::read(&mut s, &mut chunk) {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
    let used = (cpu_s() - c0) / t0.elapsed().as_secs_f64();
    assert!(used < 0.10, "Eye used {:.0} % of a core", used * 100.0);
    let frames = common::sse_events(&buf);
    assert_eq!(frames.len(), 1, "one resync, nothing else: {frames:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.matches(": keep-alive").count() >= 5, "{text}");
    // The stream still delivers what happens next.
    f.eye.housekeep();
    f.append_history(&json!({"event": "transition", "module": "news", "to": "STOPPED"}));
    f.eye.housekeep();
    let evs = read_events(&mut s, 2, &mut buf);
    let new = evs
        .get(1)
        .unwrap_or_else(|| panic!("no new event: {evs:?}"));
    assert_eq!(
        (new.1.as_str(), new.2["to"].clone()),
        ("module", json!("STOPPED"))
    );
    assert!(new.0 > old, "{} after {old}", new.0);
}
