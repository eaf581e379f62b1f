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
use crate::openapi::{self, Handler, Match};
use aivex_core::contract::{RunPaths, RuntimeState, SignalOutcome, AUTO_FEEDBACK_SOURCE};
use aivex_store::{Store, StoreError};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Mutex, MutexGuard};

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
    pub metrics: Metrics,
    pub probe: Mutex<Option<Probe>>,
    pub probe_stale_after_s: f64,
    pub streams: AtomicUsize,
    pub stop: AtomicBool,
    pub version: &'static str,
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

/// What a handler decided.
pub enum Outcome {
    Reply(Response),
    /// Authorized `GET /events`: the caller turns the connection into a stream.
    Stream,
}

pub fn now_unix() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
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
                    let e = ApiError::new(401, "unauthorized", "a valid bearer token is required");
                    return (
                        template,
                        Outcome::Reply(
                            Response::error(&e)
                                .with_header("WWW-Authenticate", "Bearer realm=\"aivex\""),
                        ),
                    );
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
                let mut f = api::parse_signals_query(&req.query, symbol)?;
                let limit = f.limit.unwrap_or(api::DEFAULT_LIMIT);
                f.limit = Some(limit + 1);
                let rows = slot.with(&self.db_url, |s| {
                    let sigs = s.signals_query(&f)?;
                    let ids: Vec<&str> = sigs.iter().map(|sig| sig.id.as_str()).collect();
                    let logs = s.governor_logs_for(&ids)?;
                    let outcomes = s.feedback_of(&ids, AUTO_FEEDBACK_SOURCE)?;
                    Ok(sigs
                        .into_iter()
                        .zip(logs)
                        .zip(outcomes)
                        .map(|((sig, log), fb)| {
                            let outcome = fb.and_then(|f| {
                                SignalOutcome::from_feedback(&f.outcome, f.realized_return, f.at)
                            });
                            (sig, log, outcome)
                        })
                        .collect::<Vec<_>>())
                })?;
                Ok(Response::json(200, api::page_json(&rows, limit)?))
            }
            Handler::Feedback => {
                let now = jiff::Timestamp::now().as_second();
                let fb = api::parse_feedback(req.header("content-type"), &req.body, now)?;
                let (row, created) = slot
                    .with(&self.db_url, |s| {
                        if s.signal(&fb.signal_id)?.is_none() {
                            return Ok(None);
                        }
                        s.insert_feedback(&fb).map(Some)
                    })?
                    .ok_or_else(|| {
                        ApiError::not_found(format!("signal {:?} does not exist", fb.signal_id))
                    })?;
                let body = json!({"created": created, "feedback": api::feedback_json(&row)});
                Ok(Response::json(
                    if created { 201 } else { 200 },
                    body.to_string(),
                ))
            }
            Handler::Modules => {
                let st = read_state(&self.state_file).map_err(|why| {
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
                });
                Ok(Response::json(200, body.to_string()))
            }
            Handler::Metrics => {
                let st = read_state(&self.state_file).ok();
                let text = metrics::render(&self.metrics.snapshot(), st.as_ref(), now_unix());
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

    /// `/health`: the pure verdict over the state file as it is now and the last probe.
    pub fn health(&self) -> Response {
        let (healthy, body) = self.verdict(now_unix());
        Response::json(if healthy { 200 } else { 503 }, body.to_string())
    }

    /// The verdict `/health` answers with at `now`: (healthy, body).
    pub fn verdict(&self, now: f64) -> (bool, serde_json::Value) {
        let st = read_state(&self.state_file);
        let probe = self.probe().clone();
        health::evaluate(&health::Inputs {
            state: st.as_ref().map_err(Clone::clone),
            probe: probe.as_ref(),
            now_unix: now,
            state_stale_after_s: self.cfg.state_stale_after_s,
            probe_stale_after_s: self.probe_stale_after_s,
            freshness: &self.cfg.freshness,
            fail_on: &self.cfg.fail_on,
        })
    }
}
