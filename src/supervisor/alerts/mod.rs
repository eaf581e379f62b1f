//! Alerts: what the supervisor tells the operator's webhook, ntfy topic or command when a
//! module or the box changes condition (`events.rs` decides which changes are alerts; one per
//! change, never one per crash), and how it gets there without ever slowing the loop: the loop
//! `try_send`s an `Alert` into a bounded channel (a full channel drops the alert and counts
//! it), one thread of its own delivers (`deliver.rs`: per-sink intervals, retries, outages
//! logged once), and the counters reach the state file and Eye's `/metrics`.
//!
//! `raise.rs` is the loop's side (which transitions, health verdicts and supervisor events
//! become alerts); `sinks.rs` the payloads; `command.rs` running a command sink; `redact.rs`
//! the output tail's secrets; `limit.rs` the flapping summary; `signals.rs` the opt-in
//! `signal_allowed` look at the store. `test_all` is `aivex alert-test`.

mod command;
mod deliver;
pub mod events;
mod limit;
mod raise;
mod redact;
mod signals;
mod sinks;

use crate::config::{Config, EventKind};
use aivex_core::contract::AlertStats;
use crossbeam_channel::{Sender, TrySendError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use command::Exits;

/// One alert as the loop raises it; the delivery thread renders it per sink.
#[derive(Debug, Clone)]
pub struct Alert {
    pub event: EventKind,
    /// What it is about: a module's name, `health`, `supervisor`, `signal:<symbol>`.
    pub subject: String,
    /// Its number in this run: with the node and run it makes the stable `event_id`.
    pub seq: u64,
    /// When it was raised (RFC 3339).
    pub at: String,
    /// The event's own fields (module state, health checks, the signal), merged into the JSON.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// A module's output log: its last lines go with the alert (read at delivery time).
    pub log: Option<PathBuf>,
    /// One line for people.
    pub headline: String,
}

/// What the loop sends the alert thread.
pub(crate) enum Msg {
    Alert(Alert),
    /// Shutting down: deliver what is held and queued until the deadline, then say so.
    Flush(Instant, Sender<()>),
}

/// Counters shared with the loop (for the state file).
#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub pending: AtomicU64,
}

/// The loop's handle on the alert thread. Present only when sinks are configured.
pub struct Alerts {
    tx: Option<Sender<Msg>>,
    stats: Arc<Stats>,
    pub exits: Arc<Exits>,
    seq: Arc<AtomicU64>,
    sinks: u32,
    /// Alerts dropped at the channel since the last one that got through (logged then).
    dropping: u64,
    /// Some sink wants health events (then the loop reads Eye's verdict).
    pub wants_health: bool,
}

/// How long the supervisor waits at exit for queued alerts (`supervisor_stopping` among them).
pub const FLUSH: Duration = Duration::from_secs(5);

impl Alerts {
    /// Starts the alert thread for `cfg`'s sinks; None when there are none (or the thread
    /// cannot start, which is logged: supervision goes on without alerts).
    pub fn start(cfg: &Config, run_id: &str, node: String) -> Option<Alerts> {
        let a = &cfg.alerts;
        if a.sinks.is_empty() {
            return None;
        }
        let stats = Arc::new(Stats::default());
        let exits = Arc::new(Exits::default());
        let seq = Arc::new(AtomicU64::new(1));
        let wants = |e: EventKind| a.sinks.iter().any(|s| s.wants(e));
        let poll = wants(EventKind::SignalAllowed)
            .then(|| signals::Poll::new(&cfg.database.url, seq.clone()));
        let ctx = sinks::Context {
            node,
            run_id: run_id.to_string(),
            secrets: redact::Secrets::gather(cfg, std::env::vars()),
        };
        let thread = deliver::Thread::new(a, ctx, stats.clone(), exits.clone(), poll);
        let (tx, rx) = crossbeam_channel::bounded(a.queue);
        let spawned = std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || thread.run(rx));
        if let Err(e) = spawned {
            log::error!("cannot start the alert thread: {e}; no alerts will be sent");
            return None;
        }
        log::info!(
            "alerts: {} sink(s): {}",
            a.sinks.len(),
            a.sinks
                .iter()
                .map(|s| s.shown())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Some(Alerts {
            tx: Some(tx),
            stats,
            exits,
            seq,
            sinks: a.sinks.len() as u32,
            dropping: 0,
            wants_health: wants(EventKind::HealthDegraded) || wants(EventKind::HealthRecovered),
        })
    }

    /// The next alert number.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Hands an alert to the thread without ever waiting: a full queue drops it (counted, and
    /// logged when the burst of drops starts and when it ends).
    pub fn send(&mut self, alert: Alert) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Msg::Alert(alert)) {
            Ok(()) => {
                if self.dropping > 0 {
                    log::warn!(
                        "alerts: the queue accepts alerts again; {} alert(s) were dropped",
                        self.dropping
                    );
                    self.dropping = 0;
                }
            }
            Err(TrySendError::Full(Msg::Alert(a)))
            | Err(TrySendError::Disconnected(Msg::Alert(a))) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if self.dropping == 0 {
                    log::warn!(
                        "alerts: the queue is full; dropping alerts until it drains (first: {} {})",
                        a.event.as_str(),
                        a.subject
                    );
                }
                self.dropping += 1;
            }
            Err(_) => {}
        }
    }

    pub fn stats(&self) -> AlertStats {
        AlertStats {
            sinks: self.sinks,
            sent: self.stats.sent.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            pending: self.stats.pending.load(Ordering::Relaxed),
        }
    }

    /// At exit: lets the thread deliver what is queued for at most `FLUSH` in all.
    pub fn finish(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + FLUSH;
        // The flush request itself may wait for room in the queue, never past the deadline.
        if tx
            .send_timeout(Msg::Flush(deadline, done_tx), FLUSH)
            .is_ok()
        {
            drop(tx);
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = done.recv_timeout(left + Duration::from_millis(200));
        }
    }
}

/// `aivex alert-test`: one `alert_test` event to every sink, one attempt each (with the sink's
/// timeout); returns (sink as shown, result) per sink.
pub fn test_all(cfg: &Config, node: String) -> Vec<(String, Result<String, String>)> {
    let ctx = sinks::Context {
        node: node.clone(),
        run_id: "alert-test".into(),
        secrets: redact::Secrets::gather(cfg, std::env::vars()),
    };
    let at = aivex_platform::time::now_rfc3339();
    let mut fields = serde_json::Map::new();
    fields.insert(
        "config_path".into(),
        serde_json::json!(cfg.path.display().to_string()),
    );
    let alert = Alert {
        event: EventKind::AlertTest,
        subject: "alert-test".into(),
        // The wall-clock milliseconds keep two tests' event ids apart.
        seq: jiff::Timestamp::now().as_millisecond().unsigned_abs(),
        at,
        fields,
        log: None,
        headline: format!("test alert from aivex alert-test on {node}"),
    };
    let one = limit::Summary {
        changes: 1,
        since: None,
    };
    cfg.alerts
        .sinks
        .iter()
        .map(|s| (s.shown(), sinks::deliver(s, &alert, &ctx, &one, None, true)))
        .collect()
}
