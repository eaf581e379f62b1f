//! The dashboard's routes: the page and its assets (`assets.rs`), `/auth`, and the read-only
//! data routes the page draws from and any script may call: `/candles/{symbol}`
//! (`candles.rs`), `/governor` (`governor.rs`), `/quality` (`quality.rs`) and
//! `/modules/{name}/log` (`modlog.rs`).
//!
//! It owns dispatching those handlers and the query-string rules they share (unknown or
//! repeated parameters are refused, each bad value is named). It must not write anything: no
//! route here changes the store, the supervisor or a file.

pub mod candles;
pub mod docs;
pub mod governor;
pub mod modlog;
pub mod quality;

use crate::api;
use crate::app::{App, StoreSlot};
use crate::assets;
use crate::auth;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::openapi::Handler;
use serde_json::json;

/// The dashboard's routes anyone may fetch: the page, its assets, and whether a token is
/// needed (the page asks before it fetches anything else, so a browser never shows a 401).
pub fn is_public(h: Handler) -> bool {
    matches!(h, Handler::Page | Handler::Asset | Handler::Auth)
}

/// Serves one of the dashboard's handlers; `param` is the route's `{...}` segment.
pub fn serve(
    app: &App,
    h: Handler,
    param: Option<&str>,
    slot: &mut StoreSlot,
    req: &Request,
) -> Result<Response, ApiError> {
    let now = crate::app::now_unix();
    match h {
        Handler::Page => assets::page(req),
        Handler::Asset => assets::asset(param.unwrap_or(""), req),
        Handler::Auth => Ok(auth_status(app, req)),
        Handler::Candles => candles::serve(app, param.unwrap_or(""), slot, req),
        Handler::Governor => governor::serve(app, slot, req, now as i64),
        Handler::Quality => quality::serve(app, slot, req),
        Handler::ModuleLog => modlog::serve(app, param.unwrap_or(""), req),
        _ => Err(ApiError::new(500, "internal", "not a dashboard route")),
    }
}

/// `GET /auth`: `{"required", "authorized", "scheme"}`. Answers 200 either way, so the page
/// can check a token without provoking a 401; it tells nothing a 401 would not.
fn auth_status(app: &App, req: &Request) -> Response {
    let required = !app.cfg.tokens.is_empty();
    let authorized = auth::allowed(&app.cfg.tokens, req.header("authorization"));
    Response::json(
        200,
        json!({"required": required, "authorized": authorized, "scheme": "bearer"}).to_string(),
    )
}

/// A query string checked against the parameters a route knows.
pub struct Query<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Query<'a> {
    /// Refuses a parameter not in `known` and one given twice.
    pub fn parse(q: &'a [(String, String)], known: &[&str]) -> Result<Query<'a>, ApiError> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in q {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::invalid_query(format!(
                    "unknown parameter {k:?} (known: {})",
                    known.join(", ")
                )));
            }
            if pairs.iter().any(|(seen, _)| seen == k) {
                return Err(ApiError::invalid_query(format!(
                    "parameter {k} given more than once"
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, k: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }

    /// An integer in `lo..=hi`, `default` when absent.
    pub fn int(&self, k: &str, lo: usize, hi: usize, default: usize) -> Result<usize, ApiError> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid_query(format!(
                    "{k} {v:?} must be an integer in {lo}..={hi}"
                ))),
            },
        }
    }

    /// An RFC 3339 time as Unix seconds.
    pub fn time(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k).map(|v| api::parse_time(k, v)).transpose()
    }

    /// A symbol of the one alphabet.
    pub fn symbol(&self, k: &str) -> Result<Option<String>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => {
                api::validate_symbol(v)?;
                Ok(Some(v.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_table() {
        let known = ["limit", "since", "symbol"];
        let ok = q(&[
            ("limit", "5"),
            ("since", "2024-01-01T00:00:00Z"),
            ("symbol", "BRK.B"),
        ]);
        let p = Query::parse(&ok, &known);
        assert!(p.is_ok());
        if let Ok(p) = p {
            assert_eq!(p.int("limit", 1, 10, 3), Ok(5));
            assert_eq!(p.time("since"), Ok(Some(1_704_067_200)));
            assert_eq!(p.symbol("symbol"), Ok(Some("BRK.B".into())));
            assert_eq!(p.int("other", 1, 10, 3), Ok(3));
        }
        let bad: &[(&[(&str, &str)], &str)] = &[
            (&[("token", "x")], "unknown parameter \"token\""),
            (
                &[("limit", "1"), ("limit", "2")],
                "parameter limit given more than once",
            ),
        ];
        for (pairs, want) in bad {
            let owned = q(pairs);
            let e = Query::parse(&owned, &known).err().map(|e| e.message);
            assert!(
                e.as_deref().is_some_and(|m| m.starts_with(want)),
                "{pairs:?}: {e:?}"
            );
        }
        let owned = q(&[("limit", "11"), ("since", "yesterday"), ("symbol", "A B")]);
        let p = Query::parse(&owned, &known);
        assert!(p.is_ok());
        if let Ok(p) = p {
            assert_eq!(
                p.int("limit", 1, 10, 3).map_err(|e| e.message),
                Err("limit \"11\" must be an integer in 1..=10".into())
            );
            assert_eq!(p.time("since").map_err(|e| e.code), Err("invalid_query"));
            assert_eq!(p.symbol("symbol").map_err(|e| e.code), Err("invalid_query"));
        }
    }
}
