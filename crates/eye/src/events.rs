//! The live event hub behind `GET /events`: a bounded ring of recent events with strictly
//! increasing ids, a condition variable streams wait on, and the Server-Sent Events framing.
//!
//! It owns event ids and resume semantics: ids start at the process start time in
//! milliseconds times 1000, so ids from an earlier Eye process are always lower and a resume
//! across a restart reports the gap instead of silently skipping. A resume also says how far
//! the client is now current (`Resume::upto`), so its stream waits for newer events instead of
//! being told about the same gap again. It must not know where events come from (the
//! housekeeping cycle publishes) nor touch sockets (the stream thread writes).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One event: `kind` is the SSE `event:` name, `data` a single-line JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub kind: &'static str,
    pub data: String,
}

/// What a stream resuming after `last_id` gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub events: Vec<Event>,
    /// True when events after `last_id` were already dropped from the ring, or `last_id` was
    /// not issued by this process (an earlier Eye's, or one this process never reached): the
    /// client missed something and should re-read the REST API.
    pub gap: bool,
    /// The id the client is current to once it has these events (and the gap, if any): the
    /// newest id published so far, never less than `last_id` when that was one of ours.
    pub upto: u64,
}

struct Ring {
    buf: VecDeque<Event>,
    cap: usize,
    next_id: u64,
    first_id: u64,
}

pub struct EventHub {
    ring: Mutex<Ring>,
    cond: Condvar,
}

impl EventHub {
    /// `first_id` is the id of the first event this process publishes.
    pub fn new(cap: usize, first_id: u64) -> EventHub {
        EventHub {
            ring: Mutex::new(Ring {
                buf: VecDeque::with_capacity(cap.min(4096)),
                cap: cap.max(1),
                next_id: first_id,
                first_id,
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A poisoned lock only means a panic elsewhere; the ring is still consistent because
        // every mutation is a single push/pop.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn publish(&self, kind: &'static str, data: String) -> u64 {
        let mut r = self.lock();
        let id = r.next_id;
        r.next_id += 1;
        if r.buf.len() >= r.cap {
            r.buf.pop_front();
        }
        r.buf.push_back(Event { id, kind, data });
        drop(r);
        self.cond.notify_all();
        id
    }

    /// The id of the newest event, or `first_id - 1` before any.
    pub fn last_id(&self) -> u64 {
        self.lock().next_id.saturating_sub(1)
    }

    /// Events after `last_id` (all buffered ones when `None` is given would replay history, so
    /// a fresh stream passes the current `last_id()` instead).
    pub fn since(&self, last_id: u64) -> Resume {
        let r = self.lock();
        resume_from(&r.buf, r.first_id, r.next_id, last_id)
    }

    /// Blocks until an event newer than `after` exists or `timeout` passes; true if one does.
    pub fn wait_newer(&self, after: u64, timeout: Duration) -> bool {
        let r = self.lock();
        if r.next_id > after.saturating_add(1) {
            return true;
        }
        let (r, _) = self
            .cond
            .wait_timeout_while(r, timeout, |r| r.next_id <= after.saturating_add(1))
            .unwrap_or_else(|p| p.into_inner());
        r.next_id > after.saturating_add(1)
    }

    /// Wakes every waiting stream (used at shutdown).
    pub fn wake_all(&self) {
        self.cond.notify_all();
    }
}

/// The pure resume rule over a ring snapshot.
fn resume_from(buf: &VecDeque<Event>, first_id: u64, next_id: u64, last_id: u64) -> Resume {
    let newest = next_id.saturating_sub(1);
    if last_id > newest {
        // Not an id this process issued (an earlier process with a clock ahead of ours):
        // nothing of it can be trusted, and waiting for our ids to pass it could take hours.
        return Resume {
            events: Vec::new(),
            gap: true,
            upto: newest,
        };
    }
    let events: Vec<Event> = buf.iter().filter(|e| e.id > last_id).cloned().collect();
    let oldest = buf.front().map_or(next_id, |e| e.id);
    // The client has seen everything up to last_id; if the next one it needs is older than
    // what the ring still holds (or predates this process), something was lost.
    let gap = last_id < newest
        && (last_id.saturating_add(1) < oldest || last_id.saturating_add(1) < first_id);
    Resume {
        events,
        gap,
        upto: newest,
    }
}

/// The SSE frame of an event.
pub fn frame(e: &Event) -> String {
    // `data` is single-line JSON (serde_json never emits raw newlines), so one data line.
    format!("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.kind, e.data)
}

/// Parses a `Last-Event-ID` header value.
pub fn parse_last_event_id(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_table() {
        let hub = EventHub::new(3, 100);
        for i in 0..5 {
            hub.publish("signal", format!("{{\"n\":{i}}}"));
        }
        // ring holds 102, 103, 104
        let ids = |r: &Resume| r.events.iter().map(|e| e.id).collect::<Vec<_>>();
        let table: &[(u64, &[u64], bool)] = &[
            (104, &[], false),
            (103, &[104], false),
            (101, &[102, 103, 104], false),
            (100, &[102, 103, 104], true),
            (5, &[102, 103, 104], true),
            (999, &[], true),
        ];
        for (last, want, gap) in table {
            let r = hub.since(*last);
            assert_eq!((ids(&r).as_slice(), r.gap), (*want, *gap), "last {last}");
            // Whatever the resume, the client is now current to the newest id, so a wait
            // after it blocks until something newer is published.
            assert_eq!(r.upto, 104, "last {last}");
            assert!(
                !hub.wait_newer(r.upto, Duration::from_millis(1)),
                "last {last}"
            );
        }
        assert_eq!(hub.last_id(), 104);
    }

    #[test]
    fn resume_after_a_restart_waits() {
        // A new process (first id 5000) has published nothing yet; the client resumes with an
        // id of the previous one.
        let hub = EventHub::new(8, 5000);
        let r = hub.since(4100);
        assert_eq!((r.events.len(), r.gap, r.upto), (0, true, 4999));
        assert!(!hub.wait_newer(r.upto, Duration::from_millis(5)));
        let again = hub.since(r.upto);
        assert!(!again.gap, "the gap is told once");
        hub.publish("module", "{}".into());
        assert!(hub.wait_newer(r.upto, Duration::from_millis(5)));
        let next = hub.since(r.upto);
        assert_eq!((next.events.len(), next.gap, next.upto), (1, false, 5000));
    }

    #[test]
    fn frame_and_header() {
        let e = Event {
            id: 7,
            kind: "module",
            data: "{\"a\":1}".into(),
        };
        assert_eq!(frame(&e), "id: 7\nevent: module\ndata: {\"a\":1}\n\n");
        assert_eq!(parse_last_event_id(" 42 "), Some(42));
        assert_eq!(parse_last_event_id("x"), None);
    }

    #[test]
    fn wait_wakes_on_publish() {
        let hub = std::sync::Arc::new(EventHub::new(8, 1));
        let h = hub.clone();
        let t = std::thread::spawn(move || h.wait_newer(0, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(20));
        hub.publish("x", "{}".into());
        assert_eq!(t.join().ok(), Some(true));
        assert!(!hub.wait_newer(1, Duration::from_millis(10)));
    }
}
