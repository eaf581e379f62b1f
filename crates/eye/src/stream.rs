//! `GET /events` streams: each on a thread of its own (at most `max_streams`), so a stream
//! never holds a request worker.
//!
//! It owns the stream loop: send what the hub has after the client's cursor, then sleep on the
//! hub until something newer is published, with a keep-alive comment when idle. The cursor
//! only moves forward, to what the client has been told about (events sent, or a `resync`
//! for events it can no longer get), so a resume with an id the hub no longer holds (after an
//! Eye restart, say) costs one `resync` and then waits like any stream, never a loop. Every
//! write has one deadline for the whole frame batch. It must not decide who may stream
//! (`App::handle` does) nor publish events (housekeeping does).

use crate::app::App;
use crate::conn::Returns;
use crate::conn::{write_all_by, Conn};
use crate::error::ApiError;
use crate::events::{self, parse_last_event_id};
use crate::http::{Limits, Request, Response};
use crate::server::reply_and_close;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The response head of a stream (also the whole answer to `HEAD /events`).
pub const HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
     Connection: close\r\nX-Accel-Buffering: no\r\n\r\n";

/// How often a waiting stream looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);

const RESYNC: &str =
    "{\"reason\":\"events after your Last-Event-ID were dropped; re-read the REST API\"}";

/// Releases a stream slot when the stream thread ends, however it ends.
struct StreamSlot(Arc<App>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let n = self
            .0
            .streams
            .fetch_sub(1, Ordering::SeqCst)
            .saturating_sub(1);
        self.0.metrics.set_streams(n as u64);
    }
}

/// Turns an authorised `GET /events` into a stream on its own thread, or answers 503 when
/// `max_streams` run already.
pub fn start(app: &Arc<App>, conn: Conn, req: &Request, returns: &Returns, lim: &Limits) {
    let n = app.streams.fetch_add(1, Ordering::SeqCst);
    let slot = StreamSlot(app.clone());
    if n >= app.cfg.max_streams {
        drop(slot);
        let e = ApiError::new(
            503,
            "too_many_streams",
            format!("at most {} event streams at once", app.cfg.max_streams),
        );
        app.metrics.request("/events", "GET", 503, 0.0);
        reply_and_close(
            conn,
            &Response::error(&e).with_header("Retry-After", "5"),
            returns,
            lim,
        );
        return;
    }
    app.metrics.set_streams(n as u64 + 1);
    app.metrics.request("/events", "GET", 200, 0.0);
    let last = req.header("last-event-id").and_then(parse_last_event_id);
    // Taken now, before the client can see the response head: an event published after the
    // head reached the client must be sent, not skipped.
    let cursor = last.unwrap_or_else(|| app.events.last_id());
    let a = app.clone();
    let write_timeout = lim.write_timeout;
    let spawned = std::thread::Builder::new()
        .name("eye-stream".into())
        .spawn(move || {
            let _slot = slot;
            let _ = run(&a, &conn, cursor, last.is_some(), write_timeout);
        });
    if let Err(e) = spawned {
        log::warn!("eye: cannot start an event stream thread: {e}");
    }
}

/// Streams events after `cursor`; `resuming`: the client is told what it missed before the
/// first wait.
fn run(
    app: &App,
    conn: &Conn,
    mut cursor: u64,
    resuming: bool,
    write_timeout: Duration,
) -> io::Result<()> {
    let send = |bytes: &[u8]| write_all_by(&conn.stream, bytes, Instant::now() + write_timeout);
    send(format!("{HEAD}retry: 2000\n: connected\n\n").as_bytes())?;
    let keepalive = Duration::from_secs_f64(app.cfg.sse_keepalive_s);
    let mut last_write = Instant::now();
    let mut due = resuming;
    loop {
        if due || app.events.wait_newer(cursor, TICK.min(keepalive)) {
            due = false;
            let r = app.events.since(cursor);
            let mut buf = String::new();
            if r.gap {
                buf.push_str(&format!("event: resync\ndata: {RESYNC}\n\n"));
            }
            for e in &r.events {
                buf.push_str(&events::frame(e));
            }
            // Everything up to here has been told, one way or the other: wait for newer.
            cursor = r.upto;
            if !buf.is_empty() {
                send(buf.as_bytes())?;
                last_write = Instant::now();
            }
        }
        if app.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if last_write.elapsed() >= keepalive {
            send(b": keep-alive\n\n")?;
            last_write = Instant::now();
        }
    }
}
