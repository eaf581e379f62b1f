//! The OpenAPI description of the dashboard's routes (parameters, responses, schemas), merged
//! into `/openapi.json` by `openapi.rs`, whose route table lists the routes themselves.
//!
//! It owns only documentation: limits and defaults are taken from the handlers' constants so
//! the document cannot disagree with them. It must not handle requests.

use crate::dash::{candles, governor, modlog};
use crate::openapi::Handler;
use aivex_core::contract::symbol;
use serde_json::{json, Map, Value};

fn q(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

fn ok(desc: &str, schema: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn time(name: &str, desc: &str) -> Value {
    q(name, desc, json!({"type": "string", "format": "date-time"}))
}

fn symbol_path() -> Value {
    json!({"name": "symbol", "in": "path", "required": true, "schema": {"type": "string", "maxLength": symbol::MAX_LEN, "pattern": symbol::PATTERN}})
}

fn symbol_query() -> Value {
    q(
        "symbol",
        "Only this symbol",
        json!({"type": "string", "maxLength": symbol::MAX_LEN, "pattern": symbol::PATTERN}),
    )
}

/// Fills in the parameters and responses of one of the dashboard's operations.
pub fn operation(h: Handler, op: &mut Map<String, Value>, responses: &mut Map<String, Value>) {
    let mut params: Vec<Value> = Vec::new();
    match h {
        Handler::Page => {
            responses.insert("200".into(), json!({"description": "The dashboard page. Headers: a strict Content-Security-Policy, X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer; gzip when accepted; revalidated by ETag", "content": {"text/html": {"schema": {"type": "string"}}}}));
            responses.insert(
                "304".into(),
                json!({"description": "Not modified (If-None-Match)"}),
            );
        }
        Handler::Asset => {
            params.push(json!({"name": "file", "in": "path", "required": true, "description": "A name the page links to, with its content hash (app.<hash>.js)", "schema": {"type": "string"}}));
            responses.insert("200".into(), json!({"description": "The file; gzip when accepted; Cache-Control: public, max-age=31536000, immutable", "content": {"text/javascript": {"schema": {"type": "string"}}, "text/css": {"schema": {"type": "string"}}, "image/svg+xml": {"schema": {"type": "string"}}}}));
            responses.insert(
                "304".into(),
                json!({"description": "Not modified (If-None-Match)"}),
            );
            responses.insert("404".into(), err("No such asset"));
        }
        Handler::Auth => {
            responses.insert("200".into(), ok("Whether requests need a bearer token, and whether this one's (if any) is accepted", "AuthStatus"));
        }
        Handler::Candles => {
            params.push(symbol_path());
            params.push(q("interval", "The bar interval as the chart module stores it", json!({"type": "string", "default": candles::DEFAULT_INTERVAL, "pattern": "^[A-Za-z0-9]{1,16}$"})));
            params.push(q("limit", &format!("The newest bars to cover; beyond {} they are merged into buckets", candles::MAX_POINTS), json!({"type": "integer", "minimum": 1, "maximum": candles::MAX_BARS, "default": candles::DEFAULT_BARS})));
            responses.insert(
                "200".into(),
                ok("Bars and indicator series, as columns", "Candles"),
            );
            responses.insert("400".into(), err("Bad symbol or query parameter"));
            responses.insert("503".into(), err("Store unavailable"));
        }
        Handler::Governor => {
            params.push(symbol_query());
            params.push(q(
                "reason",
                "Only decisions carrying this reason code",
                json!({"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,63}$"}),
            ));
            params.push(q(
                "decision",
                "Only allows or denials",
                json!({"type": "string", "enum": ["allow", "deny"]}),
            ));
            params.push(time(
                "since",
                &format!(
                    "at >= since (default: until - {} days)",
                    governor::DEFAULT_RANGE_S / 86_400
                ),
            ));
            params.push(time("until", "at < until (default: now)"));
            params.push(q("limit", "How many of the latest decisions to list", json!({"type": "integer", "minimum": 1, "maximum": governor::MAX_LIMIT, "default": governor::DEFAULT_LIMIT})));
            responses.insert(
                "200".into(),
                ok(
                    "Counts per time bucket and reason code, totals, latest decisions",
                    "Governor",
                ),
            );
            responses.insert("400".into(), err("Bad query parameter"));
            responses.insert("503".into(), err("Store unavailable"));
        }
        Handler::Quality => {
            params.push(symbol_query());
            params.push(time("since", "Signals created at or after this"));
            params.push(time("until", "Signals created before this"));
            responses.insert(
                "200".into(),
                ok("The track record, overall and per symbol", "Quality"),
            );
            responses.insert("400".into(), err("Bad query parameter"));
            responses.insert("503".into(), err("Store unavailable"));
        }
        Handler::ModuleLog => {
            params.push(json!({"name": "name", "in": "path", "required": true, "description": "A module of the current run", "schema": {"type": "string"}}));
            params.push(q("lines", "How many of the last lines", json!({"type": "integer", "minimum": 1, "maximum": modlog::MAX_LINES, "default": modlog::DEFAULT_LINES})));
            responses.insert("200".into(), ok("The last lines, oldest first (control characters removed, URL passwords masked)", "ModuleLog"));
            responses.insert("400".into(), err("Bad query parameter"));
            responses.insert("404".into(), err("No such module in this run"));
            responses.insert("503".into(), err("Supervisor state unavailable"));
        }
        _ => {}
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
}

/// The schemas the operations above refer to.
pub fn schemas() -> Map<String, Value> {
    let series = json!({"type": "array", "items": {"type": "number", "nullable": true}});
    let numbers = json!({"type": "array", "items": {"type": "number"}});
    let counts = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    let bucket_counts = json!({"type": "object", "properties": {"allow": {"type": "integer"}, "deny": {"type": "integer"}, "by_reason": counts, "by_first_reason": counts}});
    // The numbers of `aivex replay`'s report (crates/brain/README.md, "Quality report").
    let stats = json!({"type": "object", "properties": {
        "signals": {"type": "integer"}, "allowed": {"type": "integer"}, "denied": {"type": "integer"},
        "by_reason": counts, "scored": {"type": "integer", "description": "signals with an automatic outcome"},
        "hit_rate": {"type": "number", "nullable": true, "description": "hits among allowed, scored signals with a direction"},
        "hit_rate_all": {"type": "number", "nullable": true, "description": "hits among all scored signals with a direction"},
        "mean_return_allowed": {"type": "number", "nullable": true, "description": "mean of direction x realized return over the allowed, scored signals with a direction"},
        "ic": {"type": "number", "nullable": true, "description": "Spearman rank correlation of score with the realized return, over scored signals"},
        "brier": {"type": "number", "nullable": true, "description": "mean (confidence - right)^2 over scored signals; right is a hit, or flat for a neutral signal"}
    }});
    let mut quality_all = stats.clone();
    if let Some(Value::Object(p)) = quality_all.get_mut("properties") {
        p.insert("buckets".into(), json!({"type": "array", "description": "the reliability diagram: ten confidence deciles [lo, hi) (the last includes 1) with the share of their scored signals that were right", "items": {"type": "object", "properties": {"lo": {"type": "number"}, "hi": {"type": "number"}, "n": {"type": "integer"}, "hit_rate": {"type": "number", "nullable": true}}}}));
        p.insert(
            "per_symbol".into(),
            json!({"type": "object", "additionalProperties": stats}),
        );
        p.insert("truncated".into(), json!({"type": "boolean"}));
        p.insert("source".into(), json!({"type": "string"}));
        p.insert("symbol".into(), json!({"type": "string", "nullable": true}));
        p.insert("since".into(), json!({"type": "integer", "nullable": true}));
        p.insert("until".into(), json!({"type": "integer", "nullable": true}));
    }
    let mut m = Map::new();
    m.insert("AuthStatus".into(), json!({"type": "object", "properties": {"required": {"type": "boolean"}, "authorized": {"type": "boolean"}, "scheme": {"type": "string", "enum": ["bearer"]}}}));
    m.insert("Candles".into(), json!({"type": "object", "properties": {
        "symbol": {"type": "string"}, "interval": {"type": "string"},
        "points": {"type": "integer"}, "bars": {"type": "integer"}, "bucket_bars": {"type": "integer"}, "downsampled": {"type": "boolean"},
        "t": {"type": "array", "items": {"type": "integer"}, "description": "open time of each point, Unix seconds"},
        "open": numbers, "high": numbers, "low": numbers, "close": numbers, "volume": numbers,
        "indicators": {"type": "object", "properties": {"sma_20": series, "sma_50": series, "ema_12": series, "ema_26": series, "bb_upper": series, "bb_middle": series, "bb_lower": series}}
    }}));
    m.insert("Governor".into(), json!({"type": "object", "properties": {
        "since": {"type": "integer"}, "until": {"type": "integer"}, "bucket_s": {"type": "integer"},
        "totals": bucket_counts,
        "series": {"type": "array", "items": {"allOf": [{"type": "object", "properties": {"t": {"type": "integer"}}}, bucket_counts]}},
        "count": {"type": "integer"},
        "decisions": {"type": "array", "items": {"type": "object", "description": "signal_id, symbol, decision, reason_codes, rules (every rule with its inputs), config_hash, at"}}
    }}));
    m.insert("Quality".into(), quality_all);
    m.insert("ModuleLog".into(), json!({"type": "object", "properties": {"module": {"type": "string"}, "file": {"type": "string"}, "count": {"type": "integer"}, "lines": {"type": "array", "items": {"type": "string"}}, "truncated": {"type": "boolean"}}}));
    m
}
