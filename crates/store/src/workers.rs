//! `Workers`: a few threads, each owning its own `Store` connection, that run the jobs handed
//! to them and send back what each job returned, in the order they finish.
//!
//! It owns the threads, their connections and the two bounded channels; it must not decide
//! what a job does or read its result (the caller's closure does both), and it never reads
//! the clock or configuration.
//!
//! Why it exists: the MySQL driver is synchronous and MariaDB spends several microseconds of
//! server CPU per upserted row, so a single connection leaves the client idle while the server
//! works and the second core idle while the client parses. A producer that parses the next
//! source while one or two connections write the previous ones keeps both busy: two MariaDB
//! connections writing different symbols nearly double bulk throughput (`scripts/bench-store`).
//! For SQLite one worker is right: writers serialise on the database lock anyway, but the
//! producer still overlaps its parsing with the writes.
//!
//! Each job is its own unit of atomicity (a job that calls `upsert_bars` gets that call's
//! transaction): callers that must not interleave writes to the same rows submit them in one
//! job.

use crate::error::{Result, StoreError};
use crate::Store;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

type Job<T> = Box<dyn FnOnce(&mut Store) -> T + Send>;

/// A small pool of store connections, one thread each. Dropping it lets the queued jobs
/// finish and joins the threads.
pub struct Workers<T> {
    jobs: Option<Sender<Job<T>>>,
    done: Receiver<T>,
    threads: Vec<JoinHandle<()>>,
    pending: usize,
}

impl<T: Send + 'static> Workers<T> {
    /// Opens `n` (at least 1) connections to `url` (all of them before any thread starts, so
    /// a bad URL or an unreachable server is an error here) and starts one thread for each.
    /// The queue holds `n` jobs: a producer runs at most about `2n` jobs ahead of the store,
    /// which bounds the memory held by jobs waiting to run.
    pub fn open(url: &str, n: usize) -> Result<Workers<T>> {
        let n = n.max(1);
        let stores = (0..n)
            .map(|_| Store::open(url))
            .collect::<Result<Vec<Store>>>()?;
        let (jobs, queue) = bounded::<Job<T>>(n);
        let (finished, done) = bounded::<T>(n * 2);
        let mut threads = Vec::with_capacity(n);
        for (i, mut store) in stores.into_iter().enumerate() {
            let queue = queue.clone();
            let finished = finished.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("store-worker-{i}"))
                .spawn(move || {
                    for job in queue.iter() {
                        if finished.send(job(&mut store)).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    return Err(StoreError::Unavailable(format!(
                        "cannot start a store worker thread: {e}"
                    )))
                }
            }
        }
        Ok(Workers {
            jobs: Some(jobs),
            done,
            threads,
            pending: 0,
        })
    }

    /// Connections (and threads) in the pool.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Never true: a pool has at least one worker. (For clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Jobs submitted whose results have not been received yet.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Queues a job; blocks while the queue is full (until a worker takes one).
    pub fn submit(&mut self, job: impl FnOnce(&mut Store) -> T + Send + 'static) -> Result<()> {
        let sent = self
            .jobs
            .as_ref()
            .map(|jobs| jobs.send(Box::new(job)).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(self.gone());
        }
        self.pending += 1;
        Ok(())
    }

    /// The next finished job's result without waiting.
    pub fn try_recv(&mut self) -> Result<Option<T>> {
        self.recv_timeout(Duration::ZERO)
    }

    /// The next finished job's result, waiting at most `timeout`: `Ok(None)` when nothing is
    /// pending or nothing finished in time. An error when a worker thread has ended while
    /// jobs are pending (only after a panic, which the module runner turns into an exit).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<T>> {
        if self.pending == 0 {
            return Ok(None);
        }
        match self.done.recv_timeout(timeout) {
            Ok(v) => {
                self.pending -= 1;
                Ok(Some(v))
            }
            Err(RecvTimeoutError::Timeout) if !self.threads.iter().any(|t| t.is_finished()) => {
                Ok(None)
            }
            Err(_) => Err(self.gone()),
        }
    }

    fn gone(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "a store worker thread ended with {} job(s) pending",
            self.pending
        ))
    }
}

impl<T> Drop for Workers<T> {
    fn drop(&mut self) {
        // Closing the queue ends each thread's loop once the queued jobs are done.
        self.jobs = None;
        // Results nobody will read must not block a worker on a full `done` channel.
        while self.threads.iter().any(|t| !t.is_finished()) {
            while self.done.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Running jobs on SQLite and MariaDB is covered by tests/suite.rs (`workers_pool`).
    #[test]
    fn a_bad_url_fails_at_open() {
        assert!(Workers::<()>::open("sqlite:///nonexistent-dir-aivex/x/y.db", 1).is_err());
    }

    #[test]
    fn nothing_pending_returns_at_once() {
        let dir = std::env::temp_dir().join(format!("aivex-workers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("w.db").display());
        let mut w: Workers<u32> = Workers::open(&url, 1).unwrap();
        assert_eq!(w.recv_timeout(Duration::from_secs(60)).unwrap(), None);
        w.submit(|_| 7).unwrap();
        assert_eq!(w.pending(), 1);
        let got = w.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(got, Some(7));
        assert_eq!(w.pending(), 0);
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
