//! The route table (the single list the router and the OpenAPI document are both built from)
//! and the OpenAPI 3 document served at `/openapi.json`.
//!
//! It owns route templates and their documentation. It must not handle requests; the router
//! matches against `ROUTES`, and a test checks that every documented operation is routed and
//! every routed operation is documented, in both directions, over real HTTP.

use crate::api::MAX_HORIZON_S;
use serde_json::{json, Map, Value};

/// What a cursor this server issues looks like: the hex of `<created_at>:<signal id>` (an
/// optional `-`, 1-18 digits, `:`, 1-64 lowercase hex digits), so that every cursor the
/// document allows is a position the server can read.
const CURSOR_PATTERN: &str = "^(2d)?(3[0-9]){1,18}3a(3[0-9]|6[1-6]){1,64}$";
/// A text field that must hold something besides white space.
const NOT_BLANK: &str = "\\S";
/// A duration the server accepts for a feedback horizon: digits (no leading zero) and a unit,
/// each unit's digit count kept within the 10-year cap.
const HORIZON_PATTERN: &str =
    "^([1-9][0-9]{0,7}s?|[1-9][0-9]{0,5}m|[1-9][0-9]{0,3}h|[1-9][0-9]{0,2}d|[1-9][0-9]?w)$";

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Health,
    Signals,
    SignalsOfSymbol,
    Feedback,
    Modules,
    Metrics,
    Events,
    OpenApi,
    /// The dashboard page and its assets (`dash/`, `assets.rs`), and the read-only routes it
    /// draws from.
    Page,
    Asset,
    Auth,
    Candles,
    Governor,
    Quality,
    ModuleLog,
}

/// (method, path template, handler, public, summary).
pub const ROUTES: &[(&str, &str, Handler, bool, &str)] = &[
    (
        "GET",
        "/health",
        Handler::Health,
        true,
        "Health for monitoring: 200 ok or 503 degraded, with every check and module",
    ),
    (
        "GET",
        "/signals",
        Handler::Signals,
        false,
        "Latest signal per symbol, filtered and paged",
    ),
    (
        "GET",
        "/signals/{symbol}",
        Handler::SignalsOfSymbol,
        false,
        "One symbol's signal history, newest first, paged",
    ),
    (
        "POST",
        "/signals/feedback",
        Handler::Feedback,
        false,
        "Research feedback on a signal, idempotent on (signal_id, source)",
    ),
    (
        "GET",
        "/modules",
        Handler::Modules,
        false,
        "The supervisor's module table",
    ),
    (
        "GET",
        "/metrics",
        Handler::Metrics,
        false,
        "Prometheus text exposition",
    ),
    (
        "GET",
        "/events",
        Handler::Events,
        false,
        "Server-Sent Events: signals, governor decisions, module state changes",
    ),
    (
        "GET",
        "/openapi.json",
        Handler::OpenApi,
        false,
        "This document",
    ),
    (
        "GET",
        "/",
        Handler::Page,
        true,
        "The dashboard (HTML; its data comes from the routes below, with the token)",
    ),
    (
        "GET",
        "/assets/{file}",
        Handler::Asset,
        true,
        "The dashboard's scripts, styles and icon, named by content hash (cached for a year)",
    ),
    (
        "GET",
        "/auth",
        Handler::Auth,
        true,
        "Whether a bearer token is required, and whether the one sent (if any) is valid",
    ),
    (
        "GET",
        "/candles/{symbol}",
        Handler::Candles,
        false,
        "A symbol's bars with SMA/EMA/Bollinger series, downsampled beyond 2,000 points",
    ),
    (
        "GET",
        "/governor",
        Handler::Governor,
        false,
        "Governor decisions over time by reason code, and the latest decisions",
    ),
    (
        "GET",
        "/quality",
        Handler::Quality,
        false,
        "The track record of scored signals: hit rates, IC, Brier, reliability; overall and per symbol",
    ),
    (
        "GET",
        "/modules/{name}/log",
        Handler::ModuleLog,
        false,
        "The last lines of a module's captured output",
    ),
];

/// What the router found for a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// The handler, its route template, and the `{...}` parameter if the template has one.
    Found(Handler, &'static str, Option<String>),
    /// The path exists for other methods (listed for the `Allow` header).
    WrongMethod(Vec<&'static str>),
    NotFound,
}

fn path_matches(template: &str, path: &str) -> Option<Option<String>> {
    if template == path {
        return Some(None);
    }
    let (prefix, rest) = template.split_once('{')?;
    let (param, suffix) = rest.split_once('}')?;
    let value = path.strip_prefix(prefix)?;
    let value = if suffix.is_empty() {
        value
    } else {
        value.strip_suffix(suffix)?
    };
    // The decoded segment: a symbol may hold `/` (`BTC/USD`, sent as `BTC%2FUSD` or as is);
    // the handler checks it against the symbol alphabet. Other parameters are one segment.
    // An empty one is no parameter.
    (!value.is_empty() && (param == "symbol" || !value.contains('/')))
        .then(|| Some(value.to_string()))
}

/// Routes a method and decoded path. Exact templates win over `{symbol}`, so
/// `/signals/feedback` is never taken for a symbol.
pub fn route(method: &str, path: &str) -> Match {
    let exact: Vec<_> = ROUTES.iter().filter(|r| r.1 == path).collect();
    let candidates: Vec<_> = if exact.is_empty() {
        ROUTES
            .iter()
            .filter(|r| path_matches(r.1, path).is_some())
            .collect()
    } else {
        exact
    };
    if candidates.is_empty() {
        return Match::NotFound;
    }
    match candidates.iter().find(|r| r.0 == method) {
        Some(r) => Match::Found(r.2, r.1, path_matches(r.1, path).flatten()),
        None => Match::WrongMethod(candidates.iter().map(|r| r.0).collect()),
    }
}

fn error_response(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn query_param(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

/// A symbol, exactly as `contract::symbol` accepts it.
fn symbol_schema() -> Value {
    use aivex_core::contract::symbol::{MAX_LEN, PATTERN};
    json!({"type": "string", "maxLength": MAX_LEN, "pattern": PATTERN})
}

fn signal_params(with_symbol: bool) -> Vec<Value> {
    let mut p = Vec::new();
    if with_symbol {
        p.push(query_param("symbol", "Only this symbol", symbol_schema()));
    }
    p.extend([
        query_param(
            "since",
            "created_at >= since (RFC 3339)",
            json!({"type": "string", "format": "date-time"}),
        ),
        query_param(
            "until",
            "created_at < until (RFC 3339)",
            json!({"type": "string", "format": "date-time"}),
        ),
        query_param(
            "decision",
            "Governor decision",
            json!({"type": "string", "enum": ["allow", "deny"]}),
        ),
        query_param(
            "min_confidence",
            "confidence >= this",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
        query_param(
            "limit",
            "Page size",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        ),
        query_param(
            "cursor",
            "next_cursor of the previous page (opaque: the hex of the last row's position)",
            json!({"type": "string", "maxLength": 256, "pattern": CURSOR_PATTERN}),
        ),
        query_param(
            "origin",
            "live: composed when it was created; backfill: composed later as of created_at (a past bar close)",
            json!({"type": "string", "enum": aivex_core::contract::Origin::ALL.map(|o| o.as_str())}),
        ),
    ]);
    p
}

fn operation(handler: Handler, public: bool, summary: &str) -> Value {
    let ok_json = |desc: &str, schema: &str| json!({"description": desc, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let mut op = Map::new();
    op.insert("summary".into(), json!(summary));
    let mut responses = Map::new();
    match handler {
        Handler::Health => {
            responses.insert("200".into(), ok_json("Healthy", "Health"));
            responses.insert("503".into(), ok_json("Degraded", "Health"));
        }
        Handler::Signals | Handler::SignalsOfSymbol => {
            let mut params = signal_params(handler == Handler::Signals);
            if handler == Handler::SignalsOfSymbol {
                params.insert(0, json!({"name": "symbol", "in": "path", "required": true, "schema": symbol_schema()}));
            }
            op.insert("parameters".into(), Value::Array(params));
            let mut page = ok_json("A page of signals", "SignalPage");
            page["headers"] = json!({"ETag": {"description": "the version of the data the page reflects", "schema": {"type": "string"}}});
            responses.insert("200".into(), page);
            responses.insert(
                "304".into(),
                json!({"description": "Not modified: If-None-Match named the current ETag"}),
            );
            responses.insert("400".into(), error_response("Bad query parameter"));
        }
        Handler::Feedback => {
            op.insert("requestBody".into(), json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackIn"}}}}));
            responses.insert(
                "200".into(),
                ok_json("Already stored: the stored row", "FeedbackOut"),
            );
            responses.insert("201".into(), ok_json("Stored", "FeedbackOut"));
            responses.insert("400".into(), error_response("Malformed JSON"));
            responses.insert("404".into(), error_response("Unknown signal"));
            responses.insert("413".into(), error_response("Body too large"));
            responses.insert("415".into(), error_response("Not application/json"));
            responses.insert(
                "422".into(),
                error_response("A field is invalid (named in the message)"),
            );
        }
        Handler::Modules => {
            responses.insert("200".into(), json!({"description": "Module table", "content": {"application/json": {"schema": {"type": "object"}}}}));
            responses.insert("503".into(), error_response("Supervisor state unavailable"));
        }
        Handler::Metrics => {
            responses.insert("200".into(), json!({"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}));
        }
        Handler::Events => {
            op.insert("parameters".into(), json!([{"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Resume after this event id (the `id` of the last event received); anything that is not an id this stream sent starts from now"}]));
            responses.insert("200".into(), json!({"description": "Event stream (events: signal, decision, module, resync); `data` is one JSON document", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}}));
            responses.insert("503".into(), error_response("Too many concurrent streams"));
        }
        Handler::OpenApi => {
            responses.insert("200".into(), json!({"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}));
        }
        Handler::Page
        | Handler::Asset
        | Handler::Auth
        | Handler::Candles
        | Handler::Governor
        | Handler::Quality
        | Handler::ModuleLog => crate::dash::docs::operation(handler, &mut op, &mut responses),
    }
    if !public {
        responses.insert(
            "401".into(),
            error_response("Missing or wrong bearer token"),
        );
    } else {
        op.insert("security".into(), json!([]));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The OpenAPI 3.0 document for `ROUTES`.
pub fn document(version: &str) -> Value {
    let mut paths = Map::new();
    for (method, path, handler, public, summary) in ROUTES {
        let entry = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(
                method.to_ascii_lowercase(),
                operation(*handler, *public, summary),
            );
        }
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "aivex Eye", "version": version, "description": "Signals, health, metrics and live events of an aivex box. Every error is {\"error\":{\"code\",\"message\"}}."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string", "enum": crate::error::CODES}, "message": {"type": "string"}}}}},
                "Health": {"type": "object", "required": ["status", "checks", "modules"], "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}, "failing": {"type": "array", "items": {"type": "string"}}, "checks": {"type": "array", "items": {"type": "object"}}, "modules": {"type": "object"}, "supervisor": {"type": "object", "nullable": true}}},
                "Signal": {"type": "object", "properties": {"id": {"type": "string"}, "symbol": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "created_at_unix": {"type": "integer"}, "direction": {"type": "integer", "enum": [-1, 0, 1]}, "score": {"type": "number"}, "confidence": {"type": "number"}, "horizon_s": {"type": "integer"}, "decision": {"type": "string", "enum": ["allow", "deny"]}, "reason_codes": {"type": "array", "items": {"type": "string"}}, "components": {"description": "Per component: value, weight, contribution, input age"}, "governor": {"type": "object", "nullable": true, "description": "decision, reason_codes, rules evaluated, config_hash, at"}, "origin": {"type": "string", "enum": aivex_core::contract::Origin::ALL.map(|o| o.as_str())}, "recorded_at": {"type": "string", "format": "date-time", "description": "when the row was written (a back-filled signal's created_at is its as-of time)"}, "recorded_at_unix": {"type": "integer"}, "node_id": {"type": "string", "nullable": true, "description": "cluster: the node that decided it"}, "shard": {"type": "integer", "nullable": true, "description": "cluster: the symbol's shard"}, "epoch": {"type": "integer", "nullable": true, "description": "cluster: the shard lease's fencing epoch it was written under"}, "outcome": {"type": "object", "nullable": true, "description": "brain's automatic outcome; null until scored", "required": ["kind", "realized_return", "scored_at"], "properties": {"kind": {"type": "string", "enum": crate::api::OUTCOMES}, "realized_return": {"type": "number"}, "scored_at": {"type": "string", "format": "date-time"}, "scored_at_unix": {"type": "integer"}}}}},
                "SignalPage": {"type": "object", "properties": {"count": {"type": "integer"}, "signals": {"type": "array", "items": {"$ref": "#/components/schemas/Signal"}}, "next_cursor": {"type": "string", "nullable": true, "pattern": CURSOR_PATTERN}}},
                "Event": {"type": "object", "description": "One server-sent event", "properties": {"event": {"type": "string", "enum": ["signal", "decision", "module", "resync"]}, "data": {"type": "string", "description": "a JSON document"}, "id": {"type": "string"}, "retry": {"type": "integer"}}},
                "FeedbackIn": {"type": "object", "required": ["signal_id", "outcome", "source"], "additionalProperties": false, "properties": {"signal_id": {"type": "string", "maxLength": 64, "pattern": NOT_BLANK}, "outcome": {"type": "string", "enum": crate::api::OUTCOMES}, "realized_return": {"type": "number", "nullable": true, "minimum": -999_999, "maximum": 999_999}, "horizon": {"description": "positive seconds up to 10 years, or \"30m\", \"4h\", \"1d\", \"2w\"", "nullable": true, "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_S}, {"type": "string", "pattern": HORIZON_PATTERN}]}, "source": {"type": "string", "maxLength": 64, "pattern": NOT_BLANK}, "note": {"type": "string", "nullable": true, "maxLength": 2000}}},
                "FeedbackOut": {"type": "object", "properties": {"created": {"type": "boolean"}, "feedback": {"type": "object"}}},
            }
        }
    });
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.extend(crate::dash::docs::schemas());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let table: &[(&str, &str, Match)] = &[
            (
                "GET",
                "/health",
                Match::Found(Handler::Health, "/health", None),
            ),
            (
                "GET",
                "/signals/AAPL",
                Match::Found(
                    Handler::SignalsOfSymbol,
                    "/signals/{symbol}",
                    Some("AAPL".into()),
                ),
            ),
            (
                "POST",
                "/signals/feedback",
                Match::Found(Handler::Feedback, "/signals/feedback", None),
            ),
            ("GET", "/signals/feedback", Match::WrongMethod(vec!["POST"])),
            ("POST", "/signals/AAPL", Match::WrongMethod(vec!["GET"])),
            ("DELETE", "/health", Match::WrongMethod(vec!["GET"])),
            ("GET", "/signals/", Match::NotFound),
            (
                "GET",
                "/signals/BTC/USD",
                Match::Found(
                    Handler::SignalsOfSymbol,
                    "/signals/{symbol}",
                    Some("BTC/USD".into()),
                ),
            ),
            ("GET", "/nope", Match::NotFound),
            ("GET", "/", Match::Found(Handler::Page, "/", None)),
            (
                "GET",
                "/modules/eye/log",
                Match::Found(
                    Handler::ModuleLog,
                    "/modules/{name}/log",
                    Some("eye".into()),
                ),
            ),
            ("GET", "/modules//log", Match::NotFound),
            ("GET", "/modules/a/b/log", Match::NotFound),
            (
                "GET",
                "/modules",
                Match::Found(Handler::Modules, "/modules", None),
            ),
            (
                "GET",
                "/assets/app.0123abcd.js",
                Match::Found(
                    Handler::Asset,
                    "/assets/{file}",
                    Some("app.0123abcd.js".into()),
                ),
            ),
            ("GET", "/assets/", Match::NotFound),
            ("GET", "/assets/a/b.js", Match::NotFound),
            (
                "GET",
                "/candles/BTC/USD",
                Match::Found(
                    Handler::Candles,
                    "/candles/{symbol}",
                    Some("BTC/USD".into()),
                ),
            ),
            ("POST", "/quality", Match::WrongMethod(vec!["GET"])),
        ];
        for (m, p, want) in table {
            assert_eq!(&route(m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn document_lists_every_route() {
        let d = document("0");
        let mut n = 0;
        for (method, path, ..) in ROUTES {
            assert!(
                d["paths"][path][method.to_ascii_lowercase()].is_object(),
                "{method} {path}"
            );
            n += 1;
        }
        let documented: usize = d["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .filter_map(Value::as_object)
                    .map(|o| o.len())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(documented, n);
    }
}
