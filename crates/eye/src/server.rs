//! Eye's server: it starts the front stage (`front.rs`, the one thread that owns every socket
//! between requests), the fixed pool of request workers, and the queue of complete requests
//! between them; event streams run on their own capped threads (`stream.rs`).
//!
//! It owns the worker side of a request: drop it unheard when its client is gone, check `Host`
//! when auth is off, answer `HEAD` as `GET` without the body, run `App::handle`, and write the
//! response without ever blocking (what the client cannot take at once goes back to the front
//! stage with the connection, under one deadline for the whole response). At most `workers`
//! requests run at once and at most `queue` complete requests wait. A worker that takes a
//! feedback POST also takes the feedback POSTs queued behind it and stores them in one
//! transaction (one commit for a burst), answering each on its own. It must not parse request
//! heads (the front stage does) nor decide responses (`App::handle` does).

use crate::app::{App, Outcome, StoreSlot};
use crate::auth;
use crate::conn::{write_some, Conn, Tally};
use crate::conn::{Back, Returns};
use crate::error::ApiError;
use crate::front::Front;
use crate::http::{self, Limits, Request, Response};
use crate::openapi::{self, Handler, Match};
use crate::stream;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often an idle worker looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// Descriptors kept for everything that is not a client connection (store, files, streams'
/// pipes, the listener, logs).
const FD_RESERVE: usize = 64;

/// A complete request and its connection, waiting for a worker.
pub struct Job {
    pub conn: Conn,
    pub req: Request,
}

/// The bounded queue of complete requests.
pub struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    cond: Condvar,
    cap: usize,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Job>> {
        // Single pushes and pops: consistent after a panic elsewhere.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; gives it back (Some) when `cap` requests of clients still there wait
    /// already (requests of clients that have gone are dropped first: they are no backlog).
    pub fn push(&self, job: Job) -> Option<Job> {
        let mut q = self.lock();
        if q.len() >= self.cap {
            drop_gone(&mut q);
        }
        if q.len() >= self.cap {
            return Some(job);
        }
        q.push_back(job);
        drop(q);
        self.cond.notify_one();
        None
    }

    /// The next job, or None once `stop` says so.
    fn pop(&self, app: &App) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if app.stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(j) = q.pop_front() {
                return Some(j);
            }
            q = self
                .cond
                .wait_timeout(q, TICK)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Queue {
    /// Moves up to `max` more queued feedback POSTs into `batch` (in queue order; the other
    /// requests keep their places).
    fn take_feedbacks(&self, batch: &mut Vec<Job>, max: usize) {
        let mut q = self.lock();
        let mut i = 0;
        while i < q.len() && batch.len() < max {
            if q.get(i).is_some_and(|j| is_feedback(&j.req)) {
                if let Some(j) = q.remove(i) {
                    batch.push(j);
                }
            } else {
                i += 1;
            }
        }
    }
}

/// Whether a request is a `POST /signals/feedback`.
fn is_feedback(req: &Request) -> bool {
    req.method == "POST"
        && matches!(
            openapi::route(&req.method, &req.path),
            Match::Found(Handler::Feedback, _, _)
        )
}

/// Feedback POSTs a worker takes from the queue at once (one transaction, one commit).
const FEEDBACK_BATCH: usize = 64;

/// Drops the queued requests whose clients have closed, in one poll(2) over all of them.
fn drop_gone(q: &mut VecDeque<Job>) {
    let mut fds: Vec<libc::pollfd> = q
        .iter()
        .map(|j| libc::pollfd {
            fd: j.conn.stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds; the queue owns the descriptors.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if n <= 0 {
        return;
    }
    let dead = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
    let mut i = 0;
    q.retain(|_| {
        let keep = fds.get(i).is_none_or(|f| f.revents & dead == 0);
        i += 1;
        keep
    });
}

pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    queue: Arc<Queue>,
    returns: Arc<Returns>,
    front: Option<JoinHandle<()>>,
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
        write_timeout: Duration::from_secs_f64(c.write_timeout_s),
    }
}

/// `max_connections`, lowered to what the descriptor limit leaves room for.
fn connection_budget(configured: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return configured;
    }
    let room = usize::try_from(lim.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(FD_RESERVE)
        .max(1);
    if room < configured {
        log::warn!(
            "eye: [eye] max_connections = {configured} but the open-file limit is {}: serving at most {room} connections",
            lim.rlim_cur
        );
    }
    configured.min(room)
}

impl Server {
    /// Starts the front stage and the workers on an already bound listener.
    pub fn start(listener: TcpListener, app: Arc<App>) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let returns = Arc::new(Returns::new()?);
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            cond: Condvar::new(),
            cap: app.cfg.queue,
        });
        let lim = limits(&app);
        let mut workers = Vec::new();
        for i in 0..app.cfg.workers {
            let (app, queue, returns) = (app.clone(), queue.clone(), returns.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("eye-worker-{i}"))
                    .spawn(move || worker(&app, &queue, &returns, addr, &lim))?,
            );
        }
        let front = Front::new(
            app.clone(),
            listener,
            returns.clone(),
            queue.clone(),
            Arc::new(Tally::default()),
            lim,
            connection_budget(app.cfg.max_connections),
        );
        let front = std::thread::Builder::new()
            .name("eye-front".into())
            .spawn(move || front.run())?;
        Ok(Server {
            addr,
            app,
            queue,
            returns,
            front: Some(front),
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// False once the front stage or a worker has ended while no stop was asked for.
    pub fn running(&self) -> bool {
        self.front.as_ref().is_some_and(|t| !t.is_finished())
            && self.workers.iter().all(|w| !w.is_finished())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.app.stop.store(true, Ordering::SeqCst);
        self.app.events.wake_all();
        self.returns.wake();
        self.queue.cond.notify_all();
        if let Some(t) = self.front.take() {
            let _ = t.join();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(app: &Arc<App>, queue: &Queue, returns: &Returns, addr: SocketAddr, lim: &Limits) {
    let mut slot = StoreSlot::default();
    while let Some(job) = queue.pop(app) {
        if is_feedback(&job.req) {
            // Feedback waiting behind this one is stored with it: one commit (one fsync on
            // MariaDB) for a burst instead of one per request.
            let mut batch = vec![job];
            queue.take_feedbacks(&mut batch, FEEDBACK_BATCH);
            serve_feedbacks(app, &mut slot, batch, returns, addr, lim);
        } else {
            serve(app, &mut slot, job, returns, addr, lim);
        }
    }
}

/// Serves a batch of feedback POSTs: clients that have gone are dropped unheard, a `Host`
/// the server does not answer for gets 421 (auth off), the rest are stored together.
fn serve_feedbacks(
    app: &Arc<App>,
    slot: &mut StoreSlot,
    batch: Vec<Job>,
    returns: &Returns,
    addr: SocketAddr,
    lim: &Limits,
) {
    let t0 = Instant::now();
    let mut live = Vec::with_capacity(batch.len());
    for job in batch {
        if job.conn.gone() {
            continue;
        }
        if app.cfg.tokens.is_empty()
            && !auth::host_allowed(job.req.header("host"), addr, &app.cfg.hosts)
        {
            let e = ApiError::new(
                421,
                "misdirected_request",
                "the Host header names no address this server answers for (its listen address, localhost, or [eye] hosts)",
            );
            answer(app, job, Response::error(&e), "unmatched", t0, returns, lim);
            continue;
        }
        live.push(job);
    }
    let reqs: Vec<&Request> = live.iter().map(|j| &j.req).collect();
    let resps = app.handle_feedbacks(slot, &reqs);
    for (job, resp) in live.into_iter().zip(resps) {
        answer(app, job, resp, "/signals/feedback", t0, returns, lim);
    }
}

/// Counts and writes one answer, handing the connection back to the front stage.
fn answer(
    app: &Arc<App>,
    job: Job,
    resp: Response,
    route: &'static str,
    t0: Instant,
    returns: &Returns,
    lim: &Limits,
) {
    let keep = job.req.keep_alive && !app.stop.load(Ordering::SeqCst);
    app.metrics.request(
        route,
        method_label(&job.req.method),
        resp.status,
        t0.elapsed().as_secs_f64(),
    );
    let out = http::into_bytes(resp, keep, true);
    returns.send(finish(job.conn, out, keep, lim));
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

fn serve(
    app: &Arc<App>,
    slot: &mut StoreSlot,
    job: Job,
    returns: &Returns,
    addr: SocketAddr,
    lim: &Limits,
) {
    let Job { conn, mut req } = job;
    if conn.gone() {
        // Nobody would read the answer: do none of the work (dropping the connection closes it).
        return;
    }
    let label = method_label(&req.method);
    let head_only = req.method == "HEAD";
    if head_only {
        req.method = "GET".into();
    }
    let t0 = Instant::now();
    let (route, outcome) = if app.cfg.tokens.is_empty()
        && !auth::host_allowed(req.header("host"), addr, &app.cfg.hosts)
    {
        let e = ApiError::new(
                421,
                "misdirected_request",
                "the Host header names no address this server answers for (its listen address, localhost, or [eye] hosts)",
            );
        ("unmatched", Outcome::Reply(Response::error(&e)))
    } else {
        app.handle(slot, &req)
    };
    match outcome {
        Outcome::Stream if head_only => {
            app.metrics
                .request(route, label, 200, t0.elapsed().as_secs_f64());
            let out = stream::HEAD.as_bytes().to_vec();
            returns.send(finish(conn, out, false, lim));
        }
        Outcome::Stream => stream::start(app, conn, &req, returns, lim),
        Outcome::Reply(resp) => {
            let keep = req.keep_alive && !app.stop.load(Ordering::SeqCst);
            // Counted before the write, so a client that reads the answer sees it in /metrics.
            app.metrics
                .request(route, label, resp.status, t0.elapsed().as_secs_f64());
            let out = http::into_bytes(resp, keep, !head_only);
            returns.send(finish(conn, out, keep, lim));
        }
    }
}

/// Writes what the socket takes now; the rest (if any) goes back to the front stage with the
/// connection, to be written by one deadline counted from now.
pub fn finish(conn: Conn, out: Vec<u8>, keep: bool, lim: &Limits) -> Back {
    let start = Instant::now();
    match write_some(&conn.stream, &out) {
        Ok(n) if n >= out.len() && keep => Back::KeepAlive(conn),
        Ok(n) if n >= out.len() => Back::Close(conn),
        Ok(pos) => Back::Write {
            conn,
            out,
            pos,
            deadline: start + lim.write_timeout,
            keep,
        },
        // The client is gone: closing is all that is left.
        Err(_) => Back::Close(conn),
    }
}

/// Answers `resp` on a connection that ends after it.
pub fn reply_and_close(conn: Conn, resp: &Response, returns: &Returns, lim: &Limits) {
    returns.send(finish(
        conn,
        http::response_bytes(resp, false, true),
        false,
        lim,
    ));
}
