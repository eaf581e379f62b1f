//! The alert thread: takes alerts from the loop's bounded channel, holds back what a sink's
//! `min_interval_s` says to (`limit.rs`), and delivers to each sink in order, one attempt at a
//! time, retrying with backoff (1 s doubling to 60 s) for `retry_for_s`. A sink that is down is
//! logged once when it goes down and once when it is back (with the number of failed tries and
//! of alerts given up), never per try. Every queue is bounded: a full one drops its oldest
//! alert and counts it. When a sink wants `signal_allowed`, the thread also polls the store for
//! newly allowed signals (`signals.rs`).
//!
//! It owns no supervisor state: it must never block the loop, which only ever `try_send`s.

use super::limit::{Gate, Summary};
use super::sinks::{self, Context};
use super::{signals, Alert, Msg, Stats};
use crate::config::{AlertsConfig, SinkSpec};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

struct Job {
    alert: Alert,
    summary: Summary,
    queued: Instant,
}

struct Sink {
    spec: SinkSpec,
    min: Duration,
    queue: VecDeque<Job>,
    /// Failed attempts in a row.
    failures: u32,
    next_try: Instant,
    /// Since when it is down (logged once), with the alerts given up and dropped meanwhile.
    down: Option<(Instant, u64, u64)>,
    gates: HashMap<String, Gate<Alert>>,
}

pub(super) struct Thread {
    sinks: Vec<Sink>,
    ctx: Context,
    stats: Arc<Stats>,
    exits: Arc<super::command::Exits>,
    cap: usize,
    retry_for: Duration,
    epoch: Instant,
    signals: Option<signals::Poll>,
}

impl Thread {
    pub(super) fn new(
        cfg: &AlertsConfig,
        ctx: Context,
        stats: Arc<Stats>,
        exits: Arc<super::command::Exits>,
        signals: Option<signals::Poll>,
    ) -> Thread {
        let now = Instant::now();
        Thread {
            sinks: cfg
                .sinks
                .iter()
                .map(|s| Sink {
                    min: Duration::from_secs_f64(s.min_interval_s),
                    spec: s.clone(),
                    queue: VecDeque::new(),
                    failures: 0,
                    next_try: now,
                    down: None,
                    gates: HashMap::new(),
                })
                .collect(),
            ctx,
            stats,
            exits,
            cap: cfg.queue,
            retry_for: Duration::from_secs_f64(cfg.retry_for_s),
            epoch: now,
            signals,
        }
    }

    /// Runs until the loop hangs up or a flush's deadline passes.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut flush: Option<(Instant, crossbeam_channel::Sender<()>)> = None;
        let mut hung_up = false;
        loop {
            let now = Instant::now();
            let wake = self.next_wake(now, flush.as_ref().map(|f| f.0));
            let msg = match (wake, hung_up) {
                // The loop is gone (it flushed and hung up): only the clock matters now.
                (Some(at), true) => {
                    std::thread::sleep(at.saturating_duration_since(now));
                    Err(RecvTimeoutError::Timeout)
                }
                (None, true) => return,
                (None, false) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                (Some(at), false) => rx.recv_timeout(at.saturating_duration_since(now)),
            };
            match msg {
                Ok(Msg::Alert(a)) => self.offer(a),
                Ok(Msg::Flush(deadline, done)) => {
                    // Shutting down: held alerts go now, whatever the interval.
                    for i in 0..self.sinks.len() {
                        self.release(i, true);
                    }
                    flush = Some((deadline, done));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) if flush.is_none() => return,
                Err(RecvTimeoutError::Disconnected) => hung_up = true,
            }
            // Whatever else is queued, before the (slow) deliveries.
            while let Ok(m) = rx.try_recv() {
                if let Msg::Alert(a) = m {
                    self.offer(a);
                }
            }
            if flush.is_none() {
                if let Some(p) = self.signals.as_mut() {
                    if p.due(Instant::now()) {
                        for a in p.poll() {
                            self.offer(a);
                        }
                    }
                }
            }
            for i in 0..self.sinks.len() {
                self.release(i, flush.is_some());
                self.work(i, flush.as_ref().map(|f| f.0));
            }
            self.publish();
            if let Some((deadline, done)) = &flush {
                // Done when nothing is left that could still go out in time: a sink that is
                // down waits for no retry past the deadline (a dead sink must not hold the
                // supervisor's exit for the whole flush time).
                let settled = self
                    .sinks
                    .iter()
                    .all(|s| s.queue.is_empty() || s.next_try >= *deadline);
                if settled || Instant::now() >= *deadline {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn mono(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// When something is due: a retry, a held alert, the next signal poll, the flush deadline.
    fn next_wake(&self, now: Instant, flush: Option<Instant>) -> Option<Instant> {
        let mut t: Option<Instant> = flush;
        let mut at = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        for s in &self.sinks {
            if !s.queue.is_empty() {
                at(s.next_try.max(now));
            }
            for g in s.gates.values() {
                if let Some(d) = g.due(s.min) {
                    at(self.epoch + d);
                }
            }
        }
        if let Some(p) = &self.signals {
            at(p.next());
        }
        t
    }

    fn offer(&mut self, a: Alert) {
        let now = self.mono();
        for i in 0..self.sinks.len() {
            if !self.sinks[i].spec.wants(a.event) {
                continue;
            }
            let s = &mut self.sinks[i];
            let min = s.min;
            let gate = s.gates.entry(a.subject.clone()).or_default();
            if let Some((alert, summary)) = gate.offer(a.clone(), &a.at, now, min) {
                self.enqueue(i, alert, summary);
            }
        }
    }

    /// Held alerts whose interval has passed (all of them when `now_all`).
    fn release(&mut self, i: usize, now_all: bool) {
        let now = if now_all { Duration::MAX } else { self.mono() };
        let min = self.sinks[i].min;
        let mut out = Vec::new();
        for g in self.sinks[i].gates.values_mut() {
            if let Some(x) = g.release(now, min) {
                out.push(x);
            }
        }
        let real_now = self.mono();
        self.sinks[i].gates.retain(|_, g| !g.idle(real_now, min));
        for (alert, summary) in out {
            self.enqueue(i, alert, summary);
        }
    }

    fn enqueue(&mut self, i: usize, alert: Alert, summary: Summary) {
        let s = &mut self.sinks[i];
        if s.queue.len() >= self.cap {
            s.queue.pop_front();
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            match s.down.as_mut() {
                Some(d) => d.2 += 1,
                None => log::warn!(
                    "alert sink {}: {} alerts are waiting; dropped the oldest",
                    s.spec.shown(),
                    self.cap
                ),
            }
        }
        s.queue.push_back(Job {
            alert,
            summary,
            queued: Instant::now(),
        });
    }

    /// Delivers what is due to sink `i`, oldest first, until one attempt fails.
    fn work(&mut self, i: usize, flush: Option<Instant>) {
        loop {
            let now = Instant::now();
            let s = &mut self.sinks[i];
            let Some(job) = s.queue.front() else { return };
            if flush.is_some_and(|d| now >= d) {
                // Out of time at exit: what is left stays undelivered.
                return;
            }
            if now.duration_since(job.queued) > self.retry_for {
                s.queue.pop_front();
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                match s.down.as_mut() {
                    Some(d) => d.1 += 1,
                    None => log::warn!(
                        "alert sink {}: gave up an alert after retrying for {:.0}s",
                        s.spec.shown(),
                        self.retry_for.as_secs_f64()
                    ),
                }
                continue;
            }
            if now < s.next_try {
                return;
            }
            let result = sinks::deliver(
                &s.spec,
                &job.alert,
                &self.ctx,
                &job.summary,
                Some(&self.exits),
                false,
            );
            let s = &mut self.sinks[i];
            match result {
                Ok(how) => {
                    let job = s.queue.pop_front();
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    if let Some((since, given_up, dropped)) = s.down.take() {
                        log::info!(
                            "alert sink {} is back ({how}) after {} failed tries over {:.0}s; {given_up} alert(s) given up and {dropped} dropped meanwhile",
                            s.spec.shown(),
                            s.failures,
                            since.elapsed().as_secs_f64()
                        );
                    }
                    if let Some(j) = job {
                        log::debug!(
                            "alert {} {} sent to {} ({how})",
                            j.alert.event.as_str(),
                            j.alert.subject,
                            s.spec.name
                        );
                    }
                    s.failures = 0;
                    s.next_try = Instant::now();
                }
                Err(e) => {
                    s.failures = s.failures.saturating_add(1);
                    let delay = BACKOFF_FIRST
                        .saturating_mul(1 << (s.failures - 1).min(6))
                        .min(BACKOFF_CAP);
                    s.next_try = Instant::now() + delay;
                    if let Some(d) = flush {
                        // At exit a failed sink gets no second try.
                        s.next_try = s.next_try.max(d);
                    }
                    if s.down.is_none() {
                        s.down = Some((Instant::now(), 0, 0));
                        log::warn!(
                            "alert sink {} is down: {e}; retrying with backoff for up to {:.0}s per alert (logged again when it is back)",
                            s.spec.shown(),
                            self.retry_for.as_secs_f64()
                        );
                    }
                    return;
                }
            }
        }
    }

    fn publish(&self) {
        let pending: usize = self.sinks.iter().map(|s| s.queue.len()).sum();
        self.stats.pending.store(pending as u64, Ordering::Relaxed);
    }
}
