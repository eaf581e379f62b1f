//! The front stage: one thread running poll(2) over the listener and every connection that is
//! not at a worker or an event stream.
//!
//! It owns connection-level time and space: it accepts (within `max_connections` in total and
//! `max_connections_per_peer`, closing the oldest idle connections first when a cap is hit),
//! buffers request heads and bodies within the limits and the deadlines (the head deadline
//! counts from accept, or from the first byte of a kept-alive connection's next request; an
//! idle kept-alive connection is closed after `idle_timeout`), hands only complete requests to
//! the workers' queue (answering 503 only when that backlog is full), finishes writing
//! responses a slow client could not take at once (by one total deadline per response), and
//! drains what a client still sends before closing, so its last response is not lost to a
//! reset. An idle connection costs a descriptor and an entry here, never a thread. It must not
//! route, authorise or run handlers: workers do (`server.rs`).

use crate::app::App;
use crate::conn::{write_some, Back, Conn, Got, Returns, Tally};
use crate::error::ApiError;
use crate::head::{Head, HeadScan, Scan};
use crate::http::{self, Limits, Request, Response};
use crate::server::{Job, Queue};
use std::io;
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest poll(2) wait, so the loop sees the stop flag even without a wake-up.
const TICK_MS: u32 = 200;
const TICK: Duration = Duration::from_millis(TICK_MS as u64);
/// Lingering after the last response of a connection: how long, and how much is read and
/// dropped, before the socket is closed.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 1 << 20;
/// Response bytes the front stage holds for slow readers, in total. Beyond it the connections
/// that have waited longest for their client are closed: a crowd of clients that do not read
/// cannot grow Eye's memory.
const PENDING_OUT_MAX: usize = 8 << 20;
/// Connections accepted per loop turn, so a connect flood cannot starve the connected.
const ACCEPT_BATCH: usize = 64;

enum State {
    /// No byte of the next request yet (`fresh`: none of the first).
    Idle {
        fresh: bool,
    },
    Head(HeadScan),
    Body(Head),
    Write {
        out: Vec<u8>,
        pos: usize,
        keep: bool,
    },
    /// Write side shut; reading and dropping what the client still sends.
    Linger {
        dropped: usize,
    },
}

struct Entry {
    conn: Conn,
    state: State,
    deadline: Instant,
    /// When the entry entered its state: the oldest idle ones go first at a cap.
    since: Instant,
}

pub struct Front {
    app: Arc<App>,
    listener: TcpListener,
    returns: Arc<Returns>,
    queue: Arc<Queue>,
    tally: Arc<Tally>,
    lim: Limits,
    max_conns: usize,
    max_per_peer: usize,
    conns: Vec<Option<Entry>>,
    accept_paused_until: Option<Instant>,
}

fn overloaded() -> Response {
    let e = ApiError::new(
        503,
        "overloaded",
        "too many requests waiting, retry shortly",
    );
    Response::error(&e).with_header("Retry-After", "1")
}

impl Front {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        app: Arc<App>,
        listener: TcpListener,
        returns: Arc<Returns>,
        queue: Arc<Queue>,
        tally: Arc<Tally>,
        lim: Limits,
        max_conns: usize,
    ) -> Front {
        let max_per_peer = app.cfg.max_connections_per_peer.min(max_conns);
        Front {
            app,
            listener,
            returns,
            queue,
            tally,
            lim,
            max_conns,
            max_per_peer,
            conns: Vec::new(),
            accept_paused_until: None,
        }
    }

    /// The loop; returns when the stop flag is set.
    pub fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        while !self.app.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let timeout = self
                .conns
                .iter()
                .flatten()
                .map(|e| e.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or(TICK)
                .min(TICK);
            let accepting = self.accept_paused_until.is_none_or(|t| now >= t);
            fds.clear();
            fds.push(pollfd(self.returns.fd(), libc::POLLIN));
            // A negative descriptor is skipped by poll(2): not accepting while out of them.
            let lfd = if accepting {
                self.listener.as_raw_fd()
            } else {
                -1
            };
            fds.push(pollfd(lfd, libc::POLLIN));
            for e in self.conns.iter().flatten() {
                let ev = match e.state {
                    State::Write { .. } => libc::POLLOUT,
                    _ => libc::POLLIN,
                };
                fds.push(pollfd(e.conn.stream.as_raw_fd(), ev));
            }
            // Round up so a deadline is not polled for again a fraction of a ms early.
            let ms = (timeout.subsec_micros().div_ceil(1000) + timeout.as_secs() as u32 * 1000)
                .min(TICK_MS) as i32;
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the whole call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    log::warn!("eye: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let now = Instant::now();
            for (i, pfd) in fds.iter().enumerate().skip(2) {
                if pfd.revents == 0 {
                    continue;
                }
                if let Some(e) = self.conns.get_mut(i - 2).and_then(Option::take) {
                    let next = self.on_event(e, pfd.revents, now);
                    if let Some(slot) = self.conns.get_mut(i - 2) {
                        *slot = next;
                    }
                }
            }
            for i in 0..self.conns.len() {
                let due = self
                    .conns
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.deadline <= now);
                if due {
                    if let Some(e) = self.conns.get_mut(i).and_then(Option::take) {
                        let next = self.expire(e, now);
                        if let Some(slot) = self.conns.get_mut(i) {
                            *slot = next;
                        }
                    }
                }
            }
            if fds.first().is_some_and(|w| w.revents != 0) {
                for b in self.returns.take() {
                    self.back(b, now);
                }
            }
            if fds.get(1).is_some_and(|l| l.revents != 0) {
                self.accept(now);
            }
            self.conns.retain(Option::is_some);
        }
    }

    /// The next request's wait on a kept-alive connection.
    fn idle(&self, conn: Conn, now: Instant) -> Option<Entry> {
        let mut conn = conn;
        if conn.buf.is_empty() && conn.buf.capacity() > 4096 {
            // An idle connection should cost a descriptor, not a buffer.
            conn.buf = Vec::new();
        }
        let e = Entry {
            conn,
            state: State::Idle { fresh: false },
            deadline: now + self.lim.idle_timeout,
            since: now,
        };
        // A pipelined request may be buffered already, or waiting in the socket.
        self.on_readable(e, now)
    }

    fn back(&mut self, b: Back, now: Instant) {
        let entry = match b {
            Back::KeepAlive(conn) => self.idle(conn, now),
            Back::Close(conn) => Some(linger(conn, now)),
            Back::Write {
                conn,
                out,
                pos,
                deadline,
                keep,
            } => {
                self.bound_pending(out.len().saturating_sub(pos));
                Some(Entry {
                    conn,
                    state: State::Write { out, pos, keep },
                    deadline,
                    since: now,
                })
            }
        };
        if let Some(e) = entry {
            self.conns.push(Some(e));
        }
    }

    /// Makes room for `more` pending response bytes by closing the longest-waiting writes.
    fn bound_pending(&mut self, more: usize) {
        loop {
            let pending: usize = self
                .conns
                .iter()
                .flatten()
                .map(|e| match &e.state {
                    State::Write { out, pos, .. } => out.len().saturating_sub(*pos),
                    _ => 0,
                })
                .sum();
            if pending + more <= PENDING_OUT_MAX {
                return;
            }
            let oldest = self
                .conns
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
                .filter(|(_, e)| matches!(e.state, State::Write { .. }))
                .min_by_key(|(_, e)| e.since)
                .map(|(i, _)| i);
            match oldest.and_then(|i| self.conns.get_mut(i)) {
                Some(slot) => *slot = None,
                None => return,
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((s, peer)) => self.admit(s, peer.ip().to_canonical(), now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => match e.raw_os_error() {
                    // Out of descriptors or memory: the connection stays in the kernel's
                    // backlog; look again shortly instead of spinning on a readable listener.
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        log::warn!("eye: accept failed: {e}");
                        self.accept_paused_until = Some(now + TICK);
                        return;
                    }
                    // The client gave up before it was accepted, and the like.
                    _ => continue,
                },
            }
        }
    }

    fn admit(&mut self, s: TcpStream, peer: IpAddr, now: Instant) {
        if s.set_nonblocking(true).is_err() {
            return;
        }
        let _ = s.set_nodelay(true);
        let room = (self.tally.total() < self.max_conns || self.evict(None))
            && (self.tally.of_peer(&peer) < self.max_per_peer || self.evict(Some(peer)));
        if !room {
            // Everything open is busy: say so (best effort, never waiting) and close.
            let e = ApiError::new(
                503,
                "overloaded",
                "too many open connections, retry shortly",
            );
            let resp = Response::error(&e).with_header("Retry-After", "1");
            let _ = write_some(&s, &http::response_bytes(&resp, false, true));
            self.app.metrics.request("unmatched", "-", 503, 0.0);
            return;
        }
        let e = Entry {
            conn: Conn::new(s, peer, &self.tally),
            state: State::Idle { fresh: true },
            deadline: now + self.lim.header_timeout,
            since: now,
        };
        // Most clients send their request with the connect: read it now.
        if let Some(e) = self.on_readable(e, now) {
            self.conns.push(Some(e));
        }
    }

    /// Closes the oldest idle connection (of `peer`, if given), else the oldest one still
    /// sending its head; false when there is none (all are busy).
    fn evict(&mut self, peer: Option<IpAddr>) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
            .filter(|(_, e)| peer.is_none_or(|p| e.conn.peer == p))
            .filter_map(|(i, e)| match e.state {
                State::Idle { .. } => Some((0, e.since, i)),
                State::Head(_) => Some((1, e.since, i)),
                _ => None,
            })
            .min()
            .map(|(_, _, i)| i);
        match victim.and_then(|i| self.conns.get_mut(i)) {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    fn on_event(&self, e: Entry, revents: libc::c_short, now: Instant) -> Option<Entry> {
        if revents & libc::POLLNVAL != 0 {
            return None;
        }
        match e.state {
            State::Write { .. } => self.on_writable(e, now),
            State::Linger { .. } => on_linger(e),
            _ => self.on_readable(e, now),
        }
    }

    fn on_readable(&self, mut e: Entry, now: Instant) -> Option<Entry> {
        let cap = match &e.state {
            State::Body(h) => h.len + h.body_len,
            // Room for a whole head at its limits (empty lines before the request line count
            // against the line limit too): the scan refuses more before the buffer is full.
            _ => 2 * self.lim.request_line + self.lim.header_bytes + 16 * 1024,
        };
        if e.conn.fill(cap) == Got::Closed {
            // The client closed its side (or the connection failed): whatever it sent last
            // is not worth answering, like a queued request whose client is gone.
            return None;
        }
        let full = e.conn.buf.len() >= cap;
        match self.progress(e, now) {
            // Unreachable by the scan's own limits; if it ever happened, the socket would
            // stay readable with no room to read: refuse rather than spin.
            Some(e) if full && matches!(e.state, State::Head(_) | State::Idle { .. }) => {
                let err = ApiError::new(431, "headers_too_large", "request head too large");
                Some(self.fail(e.conn, &err, now))
            }
            next => next,
        }
    }

    /// Moves an entry on with what its buffer holds.
    fn progress(&self, mut e: Entry, now: Instant) -> Option<Entry> {
        if let State::Idle { fresh } = e.state {
            if e.conn.buf.is_empty() {
                return Some(e);
            }
            // From accept for the first request; from its first byte for a later one.
            if !fresh {
                e.deadline = now + self.lim.header_timeout;
            }
            e.state = State::Head(HeadScan::default());
        }
        if let State::Head(scan) = &mut e.state {
            match scan.scan(&e.conn.buf, &self.lim) {
                Scan::Partial => return Some(e),
                Scan::Bad(err) => return Some(self.fail(e.conn, &err, now)),
                Scan::Done(head) => {
                    if head.expect_continue && e.conn.buf.len() < head.len + head.body_len {
                        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
                        // Nothing else was written on this connection since its last
                        // response went out whole: the interim line fits the socket buffer.
                        if write_some(&e.conn.stream, CONTINUE).ok() != Some(CONTINUE.len()) {
                            return None;
                        }
                    }
                    e.deadline = now + self.lim.body_timeout;
                    e.since = now;
                    e.state = State::Body(head);
                }
            }
        }
        let State::Body(head) = &e.state else {
            return Some(e);
        };
        let end = head.len + head.body_len;
        if e.conn.buf.len() < end {
            return Some(e);
        }
        let State::Body(head) = std::mem::replace(&mut e.state, State::Idle { fresh: false })
        else {
            return None;
        };
        let mut conn = e.conn;
        let body = conn.buf.get(head.len..end).unwrap_or_default().to_vec();
        conn.buf.drain(..end);
        let req = Request {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            body,
            keep_alive: head.keep_alive,
            minor: head.minor,
        };
        match self.queue.push(Job { conn, req }) {
            None => None,
            Some(job) => {
                // The backlog of complete requests from live clients is full: shed this one.
                self.app.metrics.request("unmatched", "-", 503, 0.0);
                let keep = job.req.keep_alive;
                Some(respond(job.conn, &overloaded(), keep, now, &self.lim))
            }
        }
    }

    /// Answers a bad request and closes the connection after it.
    fn fail(&self, conn: Conn, err: &ApiError, now: Instant) -> Entry {
        self.app.metrics.request("unmatched", "-", err.status, 0.0);
        respond(conn, &Response::error(err), false, now, &self.lim)
    }

    fn on_writable(&self, mut e: Entry, now: Instant) -> Option<Entry> {
        let State::Write { out, pos, keep } = &mut e.state else {
            return Some(e);
        };
        match write_some(&e.conn.stream, out.get(*pos..).unwrap_or_default()) {
            Ok(n) => *pos += n,
            Err(_) => return None,
        }
        if *pos < out.len() {
            return Some(e);
        }
        if *keep {
            self.idle(e.conn, now)
        } else {
            Some(linger(e.conn, now))
        }
    }

    fn expire(&self, e: Entry, now: Instant) -> Option<Entry> {
        match e.state {
            // An idle kept-alive connection just ends.
            State::Idle { fresh: false } => None,
            State::Idle { fresh: true } | State::Head(_) | State::Body(_) => {
                let err = ApiError::new(
                    408,
                    "request_timeout",
                    "the request was not received in time",
                );
                Some(self.fail(e.conn, &err, now))
            }
            // A client that does not read its response, or lingers: closed.
            State::Write { .. } | State::Linger { .. } => None,
        }
    }
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// An entry writing `resp` (the first bytes at the next chance to write).
fn respond(conn: Conn, resp: &Response, keep: bool, now: Instant, lim: &Limits) -> Entry {
    Entry {
        conn,
        state: State::Write {
            out: http::response_bytes(resp, keep, true),
            pos: 0,
            keep,
        },
        deadline: now + lim.write_timeout,
        since: now,
    }
}

/// Ends a connection without losing its last response: shut the write side (the client reads
/// everything sent, then EOF), then read and drop what it still sends for a short, bounded
/// while, because closing a socket with unread input resets the connection and the reset can
/// destroy the response in the client's buffer.
fn linger(conn: Conn, now: Instant) -> Entry {
    let _ = conn.stream.shutdown(Shutdown::Write);
    Entry {
        conn,
        state: State::Linger { dropped: 0 },
        deadline: now + LINGER,
        since: now,
    }
}

fn on_linger(mut e: Entry) -> Option<Entry> {
    let State::Linger { dropped } = &mut e.state else {
        return None;
    };
    match e.conn.discard(LINGER_BYTES.saturating_sub(*dropped)) {
        Got::Closed => None,
        Got::Bytes(n) => {
            *dropped += n;
            (*dropped < LINGER_BYTES).then_some(e)
        }
    }
}
