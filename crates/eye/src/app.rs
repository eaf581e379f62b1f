//! The request handlers and the state they share: configuration, the event hub, counters, the
//! last housekeeping probe. This is the shell around the pure modules: it reads the
//! supervisor's state file, queries the store, and turns results into `Response`s.
//!
//! It owns the mapping of routes to work and of failures to `ApiError`s. It must not build
//! SQL (the store does), must not block on anything unbounded, and must never put the database
//! URL or a token into a response or a log line.

use crate::api;
use crate::auth;
use crate::config::EyeConfig;
use crate::error::ApiError;
use crate::events::EventHub;
use crate::health::{self, Probe};
use crate::http::{Request, Response};
use crate::metrics::{self, Metrics};
use crate::model::{self, ReadModel};
use crate::openapi::{self, Handler, Match};
use aivex_core::contract::{RunPaths, RuntimeState, AUTO_FEEDBACK_SOURCE};
use aivex_store::{Feedback, FeedbackWrite, Store, StoreError};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything the workers, streams and the housekeeping cycle share.
pub struct App {
    pub cfg: EyeConfig,
    /// May hold a password: only ever handed to `Store::open`.
    pub db_url: String,
    pub state_file: PathBuf,
    /// The data directory, whose filesystem's free space the `disk` health check watches.
    pub data_dir: PathBuf,
    /// The run directory (module logs for `/modules/{name}/log`).
    pub run: RunPaths,
    pub events: EventHub,
    /// The latest signals and cached first pages `/signals*` are served from.
    pub model: ReadModel,
    pub metrics: Metrics,
    pub probe: Mutex<Option<Probe>>,
    /// The supervisor's state file, parsed once per version of it.
    pub states: StateCache,
    pub probe_stale_after_s: f64,
    pub streams: AtomicUsize,
    pub stop: AtomicBool,
    pub version: &'static str,
    /// This box's node of a cluster, if it is one (the housekeeping probe then reads the
    /// cluster tables).
    pub cluster: Option<aivex_core::contract::ClusterEnv>,
}

/// Page cache per Eye connection: Eye's queries read a page of signals through indexes,
/// so a small cache costs little speed, while SQLite's default 2 MiB per connection times the
/// workers would be a third of Eye's memory budget.
const CACHE_KIB: u32 = 512;

/// Opens one of Eye's store connections (a worker's or the housekeeping cycle's).
pub(crate) fn open_store(url: &str) -> Result<Store, StoreError> {
    let mut store = Store::open(url)?;
    store.limit_cache(CACHE_KIB)?;
    Ok(store)
}

/// A worker's own store handle: `Store` is not shared between threads. Opened on first use
/// and dropped after an "unavailable" error so that the next request reconnects.
#[derive(Default)]
pub struct StoreSlot {
    store: Option<Store>,
}

impl StoreSlot {
    pub fn with<T>(
        &mut self,
        url: &str,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        if self.store.is_none() {
            self.store = Some(open_store(url).map_err(ApiError::from)?);
        }
        let Some(store) = self.store.as_mut() else {
            return Err(ApiError::new(503, "store_unavailable", "store not open"));
        };
        let r = f(store);
        if let Err(StoreError::Unavailable(_)) = &r {
            self.store = None;
        }
        r.map_err(ApiError::from)
    }
}

/// A 200 with `body()` and its `ETag`, or a 304 without rendering it when the client holds
/// that version.
fn tagged(if_none_match: Option<&str>, tag: String, body: impl FnOnce() -> String) -> Response {
    if api::etag_matches(if_none_match, &tag) {
        return Response {
            status: 304,
            content_type: "application/json",
            headers: vec![("ETag", tag)],
            body: Vec::new(),
        };
    }
    Response::json(200, body()).with_header("ETag", tag)
}

fn unauthorized() -> Response {
    let e = ApiError::new(401, "unauthorized", "a valid bearer token is required");
    Response::error(&e).with_header("WWW-Authenticate", "Bearer realm=\"aivex\"")
}

/// What a handler decided.
pub enum Outcome {
    Reply(Response),
    /// Authorized `GET /events`: the caller turns the connection into a stream.
    Stream,
}

pub fn now_unix() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// The supervisor's state file, parsed once per version: the supervisor replaces it whole
/// (temp + rename) on every change and at least every 5 s, so its identity (device, inode,
/// size, modification time) names a version, and `/health` under load costs one stat per
/// request instead of a read and a parse.
#[derive(Default)]
pub struct StateCache {
    last: Mutex<Option<(FileKey, Arc<RuntimeState>)>>,
}

type FileKey = (u64, u64, u64, i64, i64);

impl StateCache {
    pub fn read(&self, path: &std::path::Path) -> Result<Arc<RuntimeState>, String> {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let key = (md.dev(), md.ino(), md.len(), md.mtime(), md.mtime_nsec());
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, st)) = last.as_ref() {
            if *k == key {
                return Ok(st.clone());
            }
        }
        // Replaced between the stat and the read: the next request's stat differs again.
        let st = Arc::new(read_state(path)?);
        *last = Some((key, st.clone()));
        Ok(st)
    }
}

/// Reads and parses the supervisor's runtime state; Err says why it is unavailable.
pub fn read_state(path: &std::path::Path) -> Result<RuntimeState, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    RuntimeState::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

impl App {
    pub fn probe(&self) -> MutexGuard<'_, Option<Probe>> {
        self.probe.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes and serves one request. The route label for metrics is returned alongside.
    pub fn handle(&self, slot: &mut StoreSlot, req: &Request) -> (&'static str, Outcome) {
        match openapi::route(&req.method, &req.path) {
            Match::NotFound => (
                "unmatched",
                Outcome::Reply(Response::error(&ApiError::not_found(format!(
                    "no route for {}",
                    req.path
                )))),
            ),
            Match::WrongMethod(allow) => (
                "unmatched",
                Outcome::Reply(
                    Response::error(&ApiError::new(
                        405,
                        "method_not_allowed",
                        format!(
                            "{} is not allowed here (allowed: {})",
                            req.method,
                            allow.join(", ")
                        ),
                    ))
                    .with_header("Allow", allow.join(", ")),
                ),
            ),
            Match::Found(handler, template, symbol) => {
                let public = handler == Handler::Health || crate::dash::is_public(handler);
                if !public && !auth::allowed(&self.cfg.tokens, req.header("authorization")) {
                    return (template, Outcome::Reply(unauthorized()));
                }
                let gzip = crate::assets::accepts_gzip(req.header("accept-encoding"));
                let out = match handler {
                    Handler::Events => Ok(Outcome::Stream),
                    _ => self
                        .serve(handler, symbol.as_deref(), slot, req)
                        .map(|r| Outcome::Reply(r.gzip_json(gzip))),
                };
                (
                    template,
                    out.unwrap_or_else(|e| Outcome::Reply(Response::error(&e))),
                )
            }
        }
    }

    fn serve(
        &self,
        h: Handler,
        symbol: Option<&str>,
        slot: &mut StoreSlot,
        req: &Request,
    ) -> Result<Response, ApiError> {
        match h {
            Handler::Health => Ok(self.health()),
            Handler::Signals | Handler::SignalsOfSymbol => {
                let f = api::parse_signals_query(&req.query, symbol)?;
                self.signals(f, slot, req.header("if-none-match"))
            }
            Handler::Feedback => {
                let now = jiff::Timestamp::now().as_second();
                let fb = api::parse_feedback(req.header("content-type"), &req.body, now)?;
                self.write_feedbacks(slot, &[fb]).pop().ok_or_else(|| {
                    ApiError::new(500, "internal", "feedback written without an answer")
                })
            }
            Handler::Modules => {
                let st = self.states.read(&self.state_file).map_err(|why| {
                    ApiError::new(
                        503,
                        "state_unavailable",
                        format!("supervisor state unavailable: {why}"),
                    )
                })?;
                let now = now_unix();
                let age = st
                    .updated_at_unix
                    .map(|u| ((now - u).max(0.0) * 10.0).round() / 10.0);
                let body = json!({
                    "run_id": st.run_id,
                    "pid": st.pid,
                    "mode": st.mode,
                    "version": st.version,
                    "updated_at": st.updated_at,
                    "age_s": age,
                    "uptime_s": st.uptime_s,
                    "shutting_down": st.shutting_down,
                    "modules": st.modules,
                    "cluster": self.cluster_json(),
                });
                Ok(Response::json(200, body.to_string()))
            }
            Handler::Metrics => {
                let st = self.states.read(&self.state_file).ok();
                let mut text = metrics::render(&self.metrics.snapshot(), st.as_deref(), now_unix());
                text.push_str(&self.cluster_metrics());
                Ok(Response {
                    status: 200,
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    headers: Vec::new(),
                    body: text.into_bytes(),
                })
            }
            Handler::OpenApi => Ok(Response::json(
                200,
                openapi::document(self.version).to_string(),
            )),
            Handler::Events => Err(ApiError::new(
                500,
                "internal",
                "event streams are served by the connection handler",
            )),
            Handler::Page
            | Handler::Asset
            | Handler::Auth
            | Handler::Candles
            | Handler::Governor
            | Handler::Quality
            | Handler::ModuleLog => crate::dash::serve(self, h, symbol, slot, req),
        }
    }

    /// `/modules`' `cluster` member, from the last probe (null outside a cluster).
    fn cluster_json(&self) -> serde_json::Value {
        let probe = self.probe().clone();
        crate::cluster::modules_json(
            self.cluster.as_ref(),
            probe.as_ref().and_then(|p| p.cluster.as_ref()),
        )
    }

    /// The cluster gauges of `/metrics`, from the last probe.
    fn cluster_metrics(&self) -> String {
        let probe = self.probe().clone();
        crate::cluster::metrics(
            self.cluster.as_ref(),
            probe.as_ref().and_then(|p| p.cluster.as_ref()),
        )
    }

    /// Several `POST /signals/feedback` requests at once (routed there already): each is
    /// authorized and parsed on its own, and the valid ones are stored in one transaction, so
    /// concurrent submissions share one commit. One answer per request, in order.
    pub fn handle_feedbacks(&self, slot: &mut StoreSlot, reqs: &[&Request]) -> Vec<Response> {
        let now = jiff::Timestamp::now().as_second();
        let mut out: Vec<Option<Response>> = vec![None; reqs.len()];
        let mut rows = Vec::new();
        let mut at = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let answer = if !auth::allowed(&self.cfg.tokens, req.header("authorization")) {
                Some(unauthorized())
            } else {
                match api::parse_feedback(req.header("content-type"), &req.body, now) {
                    Ok(fb) => {
                        rows.push(fb);
                        at.push(i);
                        None
                    }
                    Err(e) => Some(Response::error(&e)),
                }
            };
            if let Some(slot) = out.get_mut(i) {
                *slot = answer;
            }
        }
        for (i, resp) in at.into_iter().zip(self.write_feedbacks(slot, &rows)) {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(resp);
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Response::error(&ApiError::new(500, "internal", "feedback not answered"))
                })
            })
            .collect()
    }

    /// Stores feedback rows in one transaction: one answer per row (201 created, 200 with
    /// the stored row on a repeat, 404 for an unknown signal, the store's error for all).
    fn write_feedbacks(&self, slot: &mut StoreSlot, rows: &[Feedback]) -> Vec<Response> {
        if rows.is_empty() {
            return Vec::new();
        }
        match slot.with(&self.db_url, |s| s.record_feedbacks(rows)) {
            Ok(done) => done
                .into_iter()
                .zip(rows)
                .map(|(w, fb)| {
                    let (row, created) = match w {
                        FeedbackWrite::Created(row) => (row, true),
                        FeedbackWrite::Exists(row) => (row, false),
                        FeedbackWrite::UnknownSignal => {
                            return Response::error(&ApiError::not_found(format!(
                                "signal {:?} does not exist",
                                fb.signal_id
                            )))
                        }
                    };
                    let body = json!({"created": created, "feedback": api::feedback_json(&row)});
                    Response::json(if created { 201 } else { 200 }, body.to_string())
                })
                .collect(),
            Err(e) => rows.iter().map(|_| Response::error(&e)).collect(),
        }
    }

    /// `/signals` and `/signals/{symbol}`: from the read model where it answers (the latest
    /// per symbol, a cached first page no older than the model), otherwise one snapshot of
    /// the store, whose first pages are kept for the next request. Every answer carries the
    /// version it reflects as its `ETag`, and a matching `If-None-Match` gets 304.
    fn signals(
        &self,
        mut f: aivex_store::SignalFilter,
        slot: &mut StoreSlot,
        if_none_match: Option<&str>,
    ) -> Result<Response, ApiError> {
        let limit = f.limit.unwrap_or(api::DEFAULT_LIMIT);
        let symbol = f.symbol.clone().unwrap_or_default();
        let state = self.model.state();
        if let Some(state) = &state {
            if model::answers_latest(&f) {
                let tag = api::etag('m', state.version);
                return Ok(tagged(if_none_match, tag, || {
                    model::latest_page(state, &f, limit)
                }));
            }
            if model::first_page(&f) {
                let min = state.symbol_version(&symbol);
                if let Some((v, body)) = self.model.page(&symbol, limit, min) {
                    return Ok(tagged(if_none_match, api::etag('s', v), || {
                        // Room for the head in front (http::into_bytes).
                        let mut b = String::with_capacity(body.len() + 512);
                        b.push_str(&body);
                        b
                    }));
                }
            }
        }
        let first = model::first_page(&f);
        f.limit = Some(limit + 1);
        let page = slot.with(&self.db_url, |s| s.signal_page(&f, AUTO_FEEDBACK_SOURCE))?;
        let (version, body) = model::store_page(page, limit)?;
        if first {
            self.model
                .keep_page(&symbol, limit, version, Arc::from(body.as_str()));
        }
        let kind = if f.symbol.is_some() { 's' } else { 'm' };
        Ok(tagged(if_none_match, api::etag(kind, version), || body))
    }

    /// `/health`: the pure verdict over the state file as it is now and the last probe.
    pub fn health(&self) -> Response {
        let (healthy, body) = self.verdict(now_unix());
        Response::json(if healthy { 200 } else { 503 }, body.to_string())
    }

    /// The verdict `/health` answers with at `now`: (healthy, body).
    pub fn verdict(&self, now: f64) -> (bool, serde_json::Value) {
        let st = self.states.read(&self.state_file);
        let probe = self.probe().clone();
        health::evaluate(&health::Inputs {
            state: st.as_deref().map_err(Clone::clone),
            probe: probe.as_ref(),
            now_unix: now,
            state_stale_after_s: self.cfg.state_stale_after_s,
            probe_stale_after_s: self.probe_stale_after_s,
            freshness: &self.cfg.freshness,
            fail_on: &self.cfg.fail_on,
            cluster: self.cluster.as_ref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(run_id: &str) -> String {
        format!(
            r#"{{"run_id":"{run_id}","pid":1,"mode":"run","version":"0","updated_at":"2026-01-01T00:00:00Z","updated_at_unix":1.0,"uptime_s":1,"config_hash":"h","shutting_down":false,"modules":{{}}}}"#
        )
    }

    #[test]
    fn state_cache_follows_each_replacement_of_the_file() {
        let dir = std::env::temp_dir().join(format!("eye-state-cache-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("runtime_state.json");
        let put = |run: &str| {
            let tmp = dir.join(".tmp");
            std::fs::write(&tmp, state(run)).unwrap_or_else(|e| panic!("write: {e}"));
            std::fs::rename(&tmp, &p).unwrap_or_else(|e| panic!("rename: {e}"));
        };
        let cache = StateCache::default();
        assert!(cache.read(&p).is_err(), "no file yet");
        put("one");
        let a = cache.read(&p).unwrap_or_else(|e| panic!("{e}"));
        let b = cache.read(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&a, &b), "same file: parsed once");
        put("two");
        let c = cache.read(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.run_id.as_str(), c.run_id.as_str()), ("one", "two"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
