//! Eye's read model: the latest signal of every symbol with its governor decision, pre-rendered
//! as the JSON `/signals` returns, and a bounded cache of rendered first pages of
//! `/signals/{symbol}`, so the routes dashboards poll are answered without touching the store.
//!
//! It owns the model's rules. The model reflects the store's read-model version
//! (`signals_version`): the housekeeping cycle asks the store for that one number and, only
//! when it moved, for the symbols changed since (`Store::read_model_changes`, one snapshot
//! per bounded page; a cold start is the same walk from version 0). A new state is published
//! whole (readers hold an `Arc` of one state, never a half-applied one), and only once the
//! walk reached the store's version, so versions served never go back. A cached page carries
//! the version of its symbol in the snapshot it was read in and is served while that is no
//! older than the model's; a page never replaces a newer one. Memory is bounded: the latest
//! entries by `MODEL_MAX_BYTES` (beyond it the model steps aside and the store answers), the
//! pages by `PAGES_MAX_BYTES` (least recently used first out). It must not build SQL (the
//! store does) nor parse requests (`api.rs` does).

use crate::api;
use crate::error::ApiError;
use aivex_core::contract::{SignalOutcome, AUTO_FEEDBACK_SOURCE};
use aivex_store::{SignalContext, SignalFilter, SignalPage, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Symbols read per snapshot while catching up.
const CHANGES_PAGE: usize = 500;
/// Pages read per housekeeping cycle; the rest waits for the next cycle (a cold start over
/// very many symbols is spread over cycles instead of blocking one).
const PAGES_PER_CYCLE: usize = 20;
/// The rendered latest entries may take this much; a store with more steps the model aside.
pub const MODEL_MAX_BYTES: usize = 8 << 20;
/// Rendered first pages of `/signals/{symbol}` kept at most (bytes of their bodies).
pub const PAGES_MAX_BYTES: usize = 4 << 20;

/// One symbol's latest signal, rendered.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    pub created_at: i64,
    /// The symbol's read-model version.
    pub version: i64,
    /// `api::signal_json` of the signal, as in a page of `/signals`.
    pub json: Box<str>,
}

/// One published state of the model.
#[derive(Debug, Default)]
pub struct State {
    /// The store's read-model version this state reflects in full.
    pub version: i64,
    /// Newest first by (created_at, id), as `/signals` orders.
    pub order: Vec<Arc<Entry>>,
    pub by_symbol: HashMap<String, Arc<Entry>>,
}

impl State {
    /// The symbol's version as of this state (0: no signal yet).
    pub fn symbol_version(&self, symbol: &str) -> i64 {
        self.by_symbol.get(symbol).map_or(0, |e| e.version)
    }
}

/// A catch-up in progress: the entries so far and where the walk stands.
struct Walk {
    entries: HashMap<String, Arc<Entry>>,
    bytes: usize,
    /// Changes after this (version, symbol) are still to read; no symbol: after the whole
    /// version.
    cursor: (i64, Option<String>),
}

struct Page {
    version: i64,
    body: Arc<str>,
    used: u64,
}

#[derive(Default)]
struct Pages {
    map: HashMap<(String, usize), Page>,
    bytes: usize,
    tick: u64,
}

#[derive(Default)]
pub struct ReadModel {
    /// None until the first catch-up finished (and while the model steps aside).
    state: RwLock<Option<Arc<State>>>,
    walk: Mutex<Option<Walk>>,
    pages: Mutex<Pages>,
    over_budget: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every mutation below leaves the value consistent at each step.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A page row as the API renders it: the automatic outcome decoded from its feedback row.
pub fn page_row(c: SignalContext) -> api::PageRow {
    let outcome = c
        .outcome
        .and_then(|f| SignalOutcome::from_feedback(&f.outcome, f.realized_return, f.at));
    (c.signal, c.governor, outcome)
}

fn render(c: SignalContext, version: i64) -> Result<Entry, ApiError> {
    let (s, g, o) = page_row(c);
    let json = api::signal_json(&s, &g, o.as_ref())?.into_boxed_str();
    Ok(Entry {
        id: s.id,
        created_at: s.created_at,
        version,
        json,
    })
}

impl ReadModel {
    /// The current state, None while the model cannot answer (cold, or over its budget).
    pub fn state(&self) -> Option<Arc<State>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn publish(&self, s: Option<Arc<State>>) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Brings the model up to the store's version: one small read when nothing changed,
    /// otherwise bounded pages of changes. Returns the symbols whose view changed.
    pub fn refresh(&self, store: &Store) -> Result<Vec<String>, StoreError> {
        if self.over_budget.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let current = self.state();
        let mut walk = lock(&self.walk);
        if walk.is_none() {
            let now = store.signals_version()?;
            if current.as_ref().is_some_and(|s| s.version == now) {
                return Ok(Vec::new());
            }
            *walk = Some(Walk {
                entries: current
                    .as_ref()
                    .map(|s| s.by_symbol.clone())
                    .unwrap_or_default(),
                bytes: current
                    .as_ref()
                    .map_or(0, |s| s.order.iter().map(|e| e.json.len()).sum()),
                cursor: (current.as_ref().map_or(0, |s| s.version), None),
            });
        }
        let Some(w) = walk.as_mut() else {
            return Ok(Vec::new());
        };
        let mut changed = Vec::new();
        for _ in 0..PAGES_PER_CYCLE {
            let page = store.read_model_changes(
                w.cursor.0,
                w.cursor.1.as_deref(),
                CHANGES_PAGE,
                AUTO_FEEDBACK_SOURCE,
            )?;
            for (row, ctx) in page.changed {
                w.cursor = (row.version, Some(row.symbol.clone()));
                let entry = match render(ctx, row.version) {
                    Ok(e) => e,
                    Err(e) => {
                        log::warn!("eye: signal of {} not rendered: {}", row.symbol, e.message);
                        continue;
                    }
                };
                w.bytes += entry.json.len();
                if let Some(old) = w.entries.insert(row.symbol.clone(), Arc::new(entry)) {
                    w.bytes = w.bytes.saturating_sub(old.json.len());
                }
                changed.push(row.symbol);
            }
            if w.bytes > MODEL_MAX_BYTES {
                if !self
                    .over_budget
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    log::warn!(
                        "eye: the latest signals take more than {} MiB; /signals is served \
                         from the store until Eye restarts",
                        MODEL_MAX_BYTES >> 20
                    );
                }
                *walk = None;
                self.publish(None);
                return Ok(Vec::new());
            }
            if page.complete {
                let mut order: Vec<Arc<Entry>> = w.entries.values().cloned().collect();
                order.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
                let state = State {
                    version: page.version,
                    order,
                    by_symbol: std::mem::take(&mut w.entries),
                };
                *walk = None;
                self.forget_pages(&changed);
                self.publish(Some(Arc::new(state)));
                return Ok(changed);
            }
        }
        Ok(changed)
    }

    fn forget_pages(&self, symbols: &[String]) {
        if symbols.is_empty() {
            return;
        }
        let mut p = lock(&self.pages);
        let mut freed = 0;
        p.map.retain(|(sym, _), page| {
            let keep = !symbols.contains(sym);
            if !keep {
                freed += page.body.len();
            }
            keep
        });
        p.bytes = p.bytes.saturating_sub(freed);
    }

    /// A cached first page of `symbol` with `limit` rows that is no older than the model's
    /// view of the symbol: (its version, its body).
    pub fn page(&self, symbol: &str, limit: usize, min_version: i64) -> Option<(i64, Arc<str>)> {
        let mut p = lock(&self.pages);
        p.tick += 1;
        let tick = p.tick;
        let page = p.map.get_mut(&(symbol.to_string(), limit))?;
        if page.version < min_version {
            return None;
        }
        page.used = tick;
        Some((page.version, page.body.clone()))
    }

    /// Keeps a first page read at `version` unless a newer one is kept; evicts the least
    /// recently used pages beyond the budget.
    pub fn keep_page(&self, symbol: &str, limit: usize, version: i64, body: Arc<str>) {
        if body.len() > PAGES_MAX_BYTES / 4 {
            return;
        }
        let mut p = lock(&self.pages);
        p.tick += 1;
        let tick = p.tick;
        let key = (symbol.to_string(), limit);
        if p.map.get(&key).is_some_and(|old| old.version >= version) {
            return;
        }
        let len = body.len();
        if let Some(old) = p.map.insert(
            key,
            Page {
                version,
                body,
                used: tick,
            },
        ) {
            p.bytes = p.bytes.saturating_sub(old.body.len());
        }
        p.bytes += len;
        while p.bytes > PAGES_MAX_BYTES {
            let Some(oldest) = p
                .map
                .iter()
                .min_by_key(|(_, pg)| pg.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = p.map.remove(&oldest) {
                p.bytes = p.bytes.saturating_sub(gone.body.len());
            }
        }
    }

    /// Bytes held by cached pages.
    #[cfg(test)]
    pub fn page_bytes(&self) -> usize {
        lock(&self.pages).bytes
    }
}

/// Whether `/signals` with filter `f` can be answered from the model: latest per symbol with
/// no filter but the symbol, the cursor and the limit.
pub fn answers_latest(f: &SignalFilter) -> bool {
    f.latest_per_symbol && plain(f)
}

/// Whether `/signals/{symbol}` with filter `f` is a cacheable first page.
pub fn first_page(f: &SignalFilter) -> bool {
    !f.latest_per_symbol && f.symbol.is_some() && f.after.is_none() && plain(f)
}

fn plain(f: &SignalFilter) -> bool {
    f.since.is_none()
        && f.until.is_none()
        && f.decision.is_none()
        && f.min_confidence.is_none()
        && f.origin.is_none()
        && f.without_feedback_from.is_none()
}

/// The `/signals` page for `f` (see `answers_latest`) from a state, `limit` rows at most.
pub fn latest_page(state: &State, f: &SignalFilter, limit: usize) -> String {
    let rows: Vec<&Arc<Entry>> = match &f.symbol {
        Some(sym) => state.by_symbol.get(sym).into_iter().collect(),
        None => state.order.iter().collect(),
    };
    let start = match &f.after {
        // Strictly older than the cursor in the (created_at DESC, id DESC) order.
        Some((at, id)) => rows.partition_point(|e| (e.created_at, &e.id) >= (*at, id)),
        None => 0,
    };
    let rest = rows.get(start..).unwrap_or(&[]);
    let page = rest.get(..limit).unwrap_or(rest);
    let next = if rest.len() > limit {
        page.last().map(|e| api::encode_cursor(e.created_at, &e.id))
    } else {
        None
    };
    api::page_json_rendered(page.iter().map(|e| &*e.json), next.as_deref())
}

/// A page read from the store (one snapshot) as a rendered body.
pub fn store_page(page: SignalPage, limit: usize) -> Result<(i64, String), ApiError> {
    let rows: Vec<api::PageRow> = page.rows.into_iter().map(page_row).collect();
    Ok((page.version, api::page_json(&rows, limit)?))
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
