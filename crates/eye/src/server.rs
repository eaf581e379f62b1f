//! The connection side of Eye: the accept loop, the bounded worker pool, and the threads that
//! serve `/events` streams.
//!
//! It owns concurrency limits: at most `workers` requests are served at once, at most `queue`
//! accepted connections wait for a worker (beyond that a 503 is written and the connection
//! closed), at most `max_streams` event streams run (each on its own thread, so a stream never
//! holds a request worker), every socket write has a timeout, and every read a deadline
//! (`http::DeadlineReader`). It must not parse bodies or decide responses: `App::handle` does.

use crate::app::{App, Outcome, StoreSlot};
use crate::error::ApiError;
use crate::events::{self, parse_last_event_id};
use crate::http::{self, DeadlineReader, Limits, Next, Request, Response};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a write to a client may block before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often blocked loops look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    accept: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

fn limits(app: &App) -> Limits {
    let c = &app.cfg;
    Limits {
        request_line: c.max_request_line_bytes,
        header_bytes: c.max_header_bytes,
        headers: c.max_headers,
        body: c.max_body_bytes,
        header_timeout: Duration::from_secs_f64(c.header_timeout_s),
        body_timeout: Duration::from_secs_f64(c.body_timeout_s),
        idle_timeout: Duration::from_secs_f64(c.idle_timeout_s),
    }
}

impl Server {
    /// Starts the accept thread and the workers on an already bound listener.
    pub fn start(listener: TcpListener, app: Arc<App>) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(app.cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..app.cfg.workers {
            let (app, rx) = (app.clone(), rx.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("eye-worker-{i}"))
                    .spawn(move || worker(&app, &rx))?,
            );
        }
        let a = app.clone();
        let accept = std::thread::Builder::new()
            .name("eye-accept".into())
            .spawn(move || accept_loop(&listener, &a, &tx))?;
        Ok(Server {
            addr,
            app,
            accept: Some(accept),
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// False once the accept thread or a worker has ended while no stop was asked for.
    pub fn running(&self) -> bool {
        self.accept.as_ref().is_some_and(|t| !t.is_finished())
            && self.workers.iter().all(|w| !w.is_finished())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.app.stop.store(true, Ordering::SeqCst);
        self.app.events.wake_all();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Waits up to `TICK` for the listener to become readable, so the loop sees the stop flag.
fn readable(l: &TcpListener) -> bool {
    let mut pfd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; the fd is owned by `l`.
    let n = unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as libc::c_int) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

fn accept_loop(listener: &TcpListener, app: &App, tx: &SyncSender<TcpStream>) {
    while !app.stop.load(Ordering::SeqCst) {
        if !readable(listener) {
            continue;
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the connection stays in
                // the kernel backlog until a descriptor is free.
                log::warn!("eye: accept failed: {e}");
                std::thread::sleep(TICK);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        app.waiting.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(s)) | Err(TrySendError::Disconnected(s)) => {
                app.waiting.fetch_sub(1, Ordering::SeqCst);
                let e = ApiError::new(503, "overloaded", "all workers are busy, retry shortly");
                let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = http::write_response(
                    &s,
                    &Response::error(&e).with_header("Retry-After", "1"),
                    false,
                );
                app.metrics.request("unmatched", "-", 503, 0.0);
            }
        }
    }
}

fn worker(app: &Arc<App>, rx: &Mutex<Receiver<TcpStream>>) {
    let mut slot = StoreSlot::default();
    while !app.stop.load(Ordering::SeqCst) {
        let next = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv_timeout(TICK)
        };
        match next {
            Ok(stream) => {
                app.waiting.fetch_sub(1, Ordering::SeqCst);
                serve_connection(app, &mut slot, stream)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A fixed label set for the method so a client cannot grow the metrics without bound.
fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        _ => "other",
    }
}

/// Closes after an error without resetting the connection: stop writing, then read and drop
/// what the client is still sending for a short, bounded while, so it sees the response.
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut buf = [0u8; 8192];
    let mut left = 1usize << 20;
    let mut s = stream;
    while left > 0 && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn serve_connection(app: &Arc<App>, slot: &mut StoreSlot, stream: TcpStream) {
    let Ok(out) = stream.try_clone() else { return };
    let lim = limits(app);
    let mut reader = BufReader::with_capacity(8192, DeadlineReader::new(stream));
    let mut first = true;
    let yield_now = || app.waiting.load(Ordering::SeqCst) > 0;
    loop {
        match http::read_request(&mut reader, &lim, first, &yield_now) {
            Next::Closed => return,
            Next::Bad(e) => {
                app.metrics.request("unmatched", "-", e.status, 0.0);
                if http::write_response(&out, &Response::error(&e), false).is_ok() {
                    linger_close(&out);
                }
                return;
            }
            Next::Request(req) => {
                let t0 = Instant::now();
                let (route, outcome) = app.handle(slot, &req);
                match outcome {
                    Outcome::Stream => {
                        start_stream(app, out, &req);
                        return;
                    }
                    Outcome::Reply(resp) => {
                        // Keep-alive only while nobody waits for a worker: an idle client must
                        // not starve the queue.
                        let keep =
                            req.keep_alive && !app.stop.load(Ordering::SeqCst) && !yield_now();
                        // Counted before the write, so a client that reads the answer sees it in /metrics.
                        app.metrics.request(
                            route,
                            method_label(&req.method),
                            resp.status,
                            t0.elapsed().as_secs_f64(),
                        );
                        let wrote = http::write_response(&out, &resp, keep);
                        if wrote.is_err() || !keep {
                            return;
                        }
                    }
                }
            }
        }
        first = false;
    }
}

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

fn start_stream(app: &Arc<App>, out: TcpStream, req: &Request) {
    let n = app.streams.fetch_add(1, Ordering::SeqCst);
    let slot = StreamSlot(app.clone());
    if n >= app.cfg.max_streams {
        drop(slot);
        let e = ApiError::new(
            503,
            "too_many_streams",
            format!("at most {} event streams at once", app.cfg.max_streams),
        );
        let _ = http::write_response(
            &out,
            &Response::error(&e).with_header("Retry-After", "5"),
            false,
        );
        app.metrics.request("/events", "GET", 503, 0.0);
        return;
    }
    app.metrics.set_streams(n as u64 + 1);
    app.metrics.request("/events", "GET", 200, 0.0);
    let last = req.header("last-event-id").and_then(parse_last_event_id);
    let a = app.clone();
    let spawned = std::thread::Builder::new()
        .name("eye-stream".into())
        .spawn(move || {
            let _slot = slot;
            let _ = run_stream(&a, out, last);
        });
    if let Err(e) = spawned {
        log::warn!("eye: cannot start an event stream thread: {e}");
    }
}

const RESYNC: &str =
    "{\"reason\":\"events after your Last-Event-ID were dropped; re-read the REST API\"}";

fn run_stream(app: &App, mut out: TcpStream, last: Option<u64>) -> io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
          Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 2000\n: connected\n\n",
    )?;
    let mut cursor = last.unwrap_or_else(|| app.events.last_id());
    let keepalive = Duration::from_secs_f64(app.cfg.sse_keepalive_s);
    let mut last_write = Instant::now();
    let mut first = last.is_some();
    loop {
        if first || app.events.wait_newer(cursor, TICK.min(keepalive)) {
            first = false;
            let r = app.events.since(cursor);
            let mut buf = String::new();
            if r.gap {
                buf.push_str(&format!("event: resync\ndata: {RESYNC}\n\n"));
            }
            for e in &r.events {
                buf.push_str(&events::frame(e));
                cursor = e.id;
            }
            if !buf.is_empty() {
                out.write_all(buf.as_bytes())?;
                last_write = Instant::now();
            }
        }
        if app.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if last_write.elapsed() >= keepalive {
            out.write_all(b": keep-alive\n\n")?;
            last_write = Instant::now();
        }
    }
}
