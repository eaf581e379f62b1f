//! The opt-in `signal_allowed` alert: the alert thread looks in the store for signals the
//! governor allowed since the last look (created since the supervisor started), at most every
//! `EVERY`, only when a sink asked for them. Signals are found by `created_at` inside an overlap
//! window and de-duplicated by id, as Eye's event stream finds them (brain stamps `created_at`
//! with its clock and may commit a little later).
//!
//! It runs on the alert thread, never on the loop; a store that cannot be reached is logged
//! once and tried again at the next look.

use super::Alert;
use crate::config::EventKind;
use aivex_store::{SignalFilter, Store};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often the store is asked.
pub const EVERY: Duration = Duration::from_secs(5);
const OVERLAP_S: i64 = 120;
const PAGE: usize = 200;

pub struct Poll {
    url: String,
    store: Option<Store>,
    /// Signals created before this (Unix seconds) are not news.
    start: i64,
    seen: HashMap<String, i64>,
    next: Instant,
    seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failing: bool,
}

impl Poll {
    pub fn new(url: &str, seq: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Poll {
        Poll {
            url: url.to_string(),
            store: None,
            start: aivex_platform::time::now_unix(),
            seen: HashMap::new(),
            next: Instant::now() + EVERY,
            seq,
            failing: false,
        }
    }

    pub fn next(&self) -> Instant {
        self.next
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// The newly allowed signals as alerts.
    pub fn poll(&mut self) -> Vec<Alert> {
        self.next = Instant::now() + EVERY;
        let now = aivex_platform::time::now_unix();
        let since = (now - OVERLAP_S).max(self.start);
        let result = (|| {
            if self.store.is_none() {
                self.store = Some(Store::open(&self.url)?);
            }
            match self.store.as_ref() {
                Some(s) => s.signals_query(&SignalFilter {
                    since: Some(since),
                    decision: Some("allow".into()),
                    // Back-filled history is not news: only live decisions are announced.
                    origin: Some(aivex_core::contract::Origin::Live.as_str().into()),
                    limit: Some(PAGE),
                    ..Default::default()
                }),
                None => Ok(Vec::new()),
            }
        })();
        let rows = match result {
            Ok(rows) => {
                if self.failing {
                    log::info!("alerts: the store answers again; signal_allowed alerts resume");
                    self.failing = false;
                }
                rows
            }
            Err(e) => {
                self.store = None;
                if !self.failing {
                    log::warn!(
                        "alerts: cannot look for allowed signals: {e} (tried again every {}s)",
                        EVERY.as_secs()
                    );
                    self.failing = true;
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        // Oldest first, so a sink sees them in the order they were allowed.
        for s in rows.iter().rev() {
            if self.seen.contains_key(&s.id) {
                continue;
            }
            self.seen.insert(s.id.clone(), s.created_at);
            let reasons = aivex_core::contract::ReasonCodes::decode(&s.reasons);
            let dir = match s.direction {
                1 => "long",
                -1 => "short",
                _ => "neutral",
            };
            let mut fields = serde_json::Map::new();
            fields.insert("signal_id".into(), json!(s.id));
            fields.insert("symbol".into(), json!(s.symbol));
            fields.insert("direction".into(), json!(s.direction));
            fields.insert("score".into(), json!(s.score));
            fields.insert("confidence".into(), json!(s.confidence));
            fields.insert("reasons".into(), json!(reasons));
            fields.insert("created_at".into(), json!(s.created_at));
            out.push(Alert {
                event: EventKind::SignalAllowed,
                subject: format!("signal:{}", s.symbol),
                seq: self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                at: aivex_platform::time::now_rfc3339(),
                fields,
                log: None,
                headline: format!(
                    "signal allowed: {} {dir} (confidence {:.2}, score {:.3})",
                    s.symbol, s.confidence, s.score
                ),
            });
        }
        let floor = now - 2 * OVERLAP_S;
        self.seen.retain(|_, at| *at >= floor);
        out
    }
}
