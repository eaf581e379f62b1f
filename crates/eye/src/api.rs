//! The JSON contract of the signal endpoints: query-string parsing and validation, the opaque
//! paging cursor, the feedback body, and the rendering of a signal with its full context.
//!
//! Pure functions of their inputs (an explicit `now` where time matters): no store, no socket,
//! no clock. Every rejection is an `ApiError` naming the parameter or field at fault.

use crate::error::ApiError;
use aivex_core::contract::{Origin, OutcomeKind, ReasonCodes, SignalOutcome, Symbol, Verdict};
use aivex_store::{Feedback, GovernorLogRecord, SignalFilter, SignalRecord};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// The outcomes calibration understands (the stored-signal contract's `OutcomeKind`).
pub const OUTCOMES: &[&str] = &OutcomeKind::NAMES;
const MAX_NOTE_CHARS: usize = 2000;

/// Checks a ticker symbol from a (percent-decoded) path segment or a query against the one
/// symbol alphabet (`aivex_core::contract::Symbol`: `BRK.B`, `^GSPC`, `ES=F`, `BTC/USD`).
pub fn validate_symbol(s: &str) -> Result<(), ApiError> {
    Symbol::parse(s)
        .map(drop)
        .map_err(|e| ApiError::new(400, "invalid_query", e.to_string()))
}

pub(crate) fn parse_time(field: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| ApiError::invalid_query(format!("{field} {v:?} is not an RFC 3339 timestamp")))
}

/// Renders Unix seconds as RFC 3339 (UTC); out-of-range values render as null.
pub fn rfc3339(secs: i64) -> Value {
    rfc3339_text(secs).map_or(Value::Null, Value::String)
}

/// The cursor is the (created_at, id) of the last row of a page, hex-encoded so that clients
/// treat it as opaque and it needs no escaping in a URL.
pub fn encode_cursor(created_at: i64, id: &str) -> String {
    format!("{created_at}:{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn decode_cursor(c: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::invalid_query("cursor is not one this server issued");
    if !c.len().is_multiple_of(2) || c.len() > 256 {
        return Err(bad());
    }
    let bytes = (0..c.len())
        .step_by(2)
        .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((at, id.to_string()))
}

/// Parses the query of `GET /signals` (`path_symbol` None: latest per symbol, `symbol`
/// allowed as a filter) or `GET /signals/{symbol}` (history of that symbol). Returns the
/// filter with `limit` set to the page size; the caller asks for one more row to know whether
/// another page exists.
pub fn parse_signals_query(
    q: &[(String, String)],
    path_symbol: Option<&str>,
) -> Result<SignalFilter, ApiError> {
    let mut allowed = vec![
        "since",
        "until",
        "decision",
        "min_confidence",
        "limit",
        "cursor",
        "origin",
    ];
    if path_symbol.is_none() {
        allowed.push("symbol");
    }
    let mut f = SignalFilter {
        latest_per_symbol: path_symbol.is_none(),
        limit: Some(DEFAULT_LIMIT),
        ..Default::default()
    };
    if let Some(s) = path_symbol {
        validate_symbol(s)?;
        f.symbol = Some(s.to_string());
    }
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in q {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::invalid_query(format!(
                "unknown parameter {k:?} (known: {})",
                allowed.join(", ")
            )));
        }
        if seen.contains(&k.as_str()) {
            return Err(ApiError::invalid_query(format!(
                "parameter {k} given more than once"
            )));
        }
        seen.push(k);
        match k.as_str() {
            "symbol" => {
                validate_symbol(v)?;
                f.symbol = Some(v.clone());
            }
            "since" => f.since = Some(parse_time("since", v)?),
            "until" => f.until = Some(parse_time("until", v)?),
            "decision" => match Verdict::parse(v) {
                Some(verdict) => f.decision = Some(verdict.as_str().to_string()),
                None => {
                    return Err(ApiError::invalid_query(format!(
                        "decision {v:?} must be allow or deny"
                    )))
                }
            },
            "min_confidence" => match v.parse::<f64>() {
                Ok(c) if (0.0..=1.0).contains(&c) => f.min_confidence = Some(c),
                _ => {
                    return Err(ApiError::invalid_query(format!(
                        "min_confidence {v:?} must be a number in [0, 1]"
                    )))
                }
            },
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => f.limit = Some(n),
                _ => {
                    return Err(ApiError::invalid_query(format!(
                        "limit {v:?} must be an integer in 1..={MAX_LIMIT}"
                    )))
                }
            },
            "cursor" => f.after = Some(decode_cursor(v)?),
            "origin" => match Origin::parse(v) {
                Some(o) => f.origin = Some(o.as_str().to_string()),
                None => {
                    return Err(ApiError::invalid_query(format!(
                        "origin {v:?} must be live or backfill"
                    )))
                }
            },
            _ => {}
        }
    }
    // since >= until is an empty interval, answered with an empty page rather than an error:
    // every combination the OpenAPI document allows is a valid query.
    Ok(f)
}

/// Stored JSON text as JSON; text that does not parse is passed on as a string so nothing is
/// hidden from the client.
/// Stored JSON text (components, governor rules) goes out as it is stored when it is JSON, and
/// as a string when it is not: checked, but never parsed into a tree and written back, which
/// for a page of signals was most of the allocations (and the static build's allocator
/// serialises threads on every one).
#[derive(Serialize)]
#[serde(untagged)]
enum Embedded<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

fn embedded(text: &str) -> Embedded<'_> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => Embedded::Json(raw),
        Err(_) => Embedded::Text(text),
    }
}

/// Unix seconds as RFC 3339 (UTC) text, `None` when out of range.
fn rfc3339_text(secs: i64) -> Option<String> {
    jiff::Timestamp::from_second(secs)
        .ok()
        .map(|t| t.to_string())
}

#[derive(Serialize)]
struct GovernorOut<'a> {
    signal_id: &'a str,
    symbol: &'a str,
    decision: &'a str,
    reason_codes: Vec<String>,
    rules: Embedded<'a>,
    config_hash: &'a str,
    at: Option<String>,
    at_unix: i64,
}

impl<'a> GovernorOut<'a> {
    fn of(g: &'a GovernorLogRecord) -> Self {
        GovernorOut {
            signal_id: &g.signal_id,
            symbol: &g.symbol,
            decision: &g.decision,
            reason_codes: ReasonCodes::decode(&g.reason_codes),
            rules: embedded(&g.rules_json),
            config_hash: &g.config_hash,
            at: rfc3339_text(g.at),
            at_unix: g.at,
        }
    }
}

/// A signal's automatic outcome: what became of it over its horizon (from brain's scoring).
#[derive(Serialize)]
struct OutcomeOut {
    kind: OutcomeKind,
    realized_return: f64,
    scored_at: Option<String>,
    scored_at_unix: i64,
}

impl OutcomeOut {
    fn of(o: &SignalOutcome) -> Self {
        OutcomeOut {
            kind: o.kind,
            realized_return: o.realized_return,
            scored_at: rfc3339_text(o.scored_at),
            scored_at_unix: o.scored_at,
        }
    }
}

#[derive(Serialize)]
struct SignalOut<'a> {
    id: &'a str,
    symbol: &'a str,
    created_at: Option<String>,
    created_at_unix: i64,
    direction: i32,
    score: f64,
    confidence: f64,
    horizon_s: i64,
    decision: &'a str,
    reason_codes: Vec<String>,
    components: Embedded<'a>,
    governor: Option<GovernorOut<'a>>,
    /// `live`, or `backfill` (composed later as of `created_at`, a past bar close).
    origin: &'a str,
    /// When the row was written.
    recorded_at: Option<String>,
    recorded_at_unix: i64,
    /// In a cluster: the node that decided it and the shard lease (epoch) it held; null on a
    /// single box.
    node_id: Option<&'a str>,
    shard: Option<u32>,
    epoch: Option<i64>,
    /// Null until brain scored the signal.
    outcome: Option<OutcomeOut>,
}

impl<'a> SignalOut<'a> {
    fn of(
        s: &'a SignalRecord,
        gov: &'a [GovernorLogRecord],
        outcome: Option<&SignalOutcome>,
    ) -> Self {
        SignalOut {
            id: &s.id,
            symbol: &s.symbol,
            created_at: rfc3339_text(s.created_at),
            created_at_unix: s.created_at,
            direction: s.direction,
            score: s.score,
            confidence: s.confidence,
            horizon_s: s.horizon_s,
            decision: &s.decision,
            reason_codes: ReasonCodes::decode(&s.reasons),
            components: embedded(&s.components_json),
            governor: gov.last().map(GovernorOut::of),
            origin: &s.origin,
            recorded_at: rfc3339_text(s.recorded_at),
            recorded_at_unix: s.recorded_at,
            node_id: s.lease.as_ref().map(|l| l.node_id.as_str()),
            shard: s.lease.as_ref().map(|l| l.shard),
            epoch: s.lease.as_ref().map(|l| l.epoch),
            outcome: outcome.map(OutcomeOut::of),
        }
    }
}

#[derive(Serialize)]
struct PageOut<'a> {
    count: usize,
    signals: Vec<SignalOut<'a>>,
    next_cursor: Option<String>,
}

fn render(v: &impl Serialize) -> Result<String, ApiError> {
    // These types have only string keys and plain values, so this cannot fail; if it ever
    // did, the client gets a 500 naming it instead of a truncated body.
    serde_json::to_string(v)
        .map_err(|e| ApiError::new(500, "internal", format!("cannot render the response: {e}")))
}

/// A governor decision with every rule it evaluated, as JSON text.
pub fn governor_json(g: &GovernorLogRecord) -> Result<String, ApiError> {
    render(&GovernorOut::of(g))
}

/// A signal with its full context, as JSON text: components (values, weights, contributions,
/// input ages as the brain stored them), the governor's decision with every rule it
/// evaluated, its origin and its automatic outcome (null until scored).
pub fn signal_json(
    s: &SignalRecord,
    gov: &[GovernorLogRecord],
    outcome: Option<&SignalOutcome>,
) -> Result<String, ApiError> {
    render(&SignalOut::of(s, gov, outcome))
}

/// A page row: the signal, its governor log lines, its automatic outcome.
pub type PageRow = (SignalRecord, Vec<GovernorLogRecord>, Option<SignalOutcome>);

/// `{"count": n, "signals": [...], "next_cursor": ...}` from up to `limit + 1` rows.
pub fn page_json(rows: &[PageRow], limit: usize) -> Result<String, ApiError> {
    let page = rows.get(..limit).unwrap_or(rows);
    let next_cursor = if rows.len() > limit {
        page.last()
            .map(|(s, _, _)| encode_cursor(s.created_at, &s.id))
    } else {
        None
    };
    render(&PageOut {
        count: page.len(),
        signals: page
            .iter()
            .map(|(s, g, o)| SignalOut::of(s, g, o.as_ref()))
            .collect(),
        next_cursor,
    })
}

/// The body `page_json` writes, from signals already rendered by `signal_json` (the read
/// model keeps them so): `{"count":n,"signals":[...],"next_cursor":...}`.
pub fn page_json_rendered<'a>(
    signals: impl ExactSizeIterator<Item = &'a str>,
    next_cursor: Option<&str>,
) -> String {
    let count = signals.len();
    // Signals render to about 0.8 KiB each: the rest is room for the response head that
    // `http::into_bytes` puts in front without a second buffer.
    let mut out = String::with_capacity(512 + count * 1024);
    out.push_str("{\"count\":");
    out.push_str(&count.to_string());
    out.push_str(",\"signals\":[");
    for (i, s) in signals.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out.push_str("],\"next_cursor\":");
    match next_cursor {
        // A cursor is hex (encode_cursor): a JSON string without escapes.
        Some(c) => {
            out.push('"');
            out.push_str(c);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

/// The entity tag of a signal response: `m` and the read model's version, or `s` and one
/// symbol's version, quoted.
pub fn etag(kind: char, version: i64) -> String {
    format!("\"{kind}{version}\"")
}

/// Whether an `If-None-Match` header names `tag` (weak comparison, as RFC 9110 asks for
/// If-None-Match; `*` names any). A header longer than a list of tags gets no match.
pub fn etag_matches(header: Option<&str>, tag: &str) -> bool {
    let Some(h) = header else {
        return false;
    };
    h.len() <= 4096
        && h.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// The longest feedback horizon accepted: 10 years.
pub const MAX_HORIZON_S: i64 = 10 * 365 * 86_400;

/// Parses a horizon: whole seconds, or a number with a unit `s`, `m`, `h`, `d`, `w`.
pub fn parse_horizon(v: &Value) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "horizon",
            "must be positive seconds or a duration like \"4h\", \"1d\"",
        )
    };
    let secs = match v {
        Value::Number(n) => n.as_i64().ok_or_else(bad)?,
        // The duration form brain's settings and `aivex replay --step` read.
        Value::String(s) => aivex_brain::replay::parse_duration(s).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs <= 0 || secs > MAX_HORIZON_S {
        return Err(bad());
    }
    Ok(secs)
}

fn text_field(
    o: &Map<String, Value>,
    name: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ApiError> {
    match o.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ApiError::invalid_field(name, "is required")),
        // A blank optional field (a note left empty) is no value, not an error.
        Some(Value::String(s)) if s.trim().is_empty() && !required => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::invalid_field(name, "is empty"))
        }
        Some(Value::String(s)) if s.chars().count() > max => Err(ApiError::invalid_field(
            name,
            format!("is longer than {max} characters"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_field(name, "must be a string")),
    }
}

/// Validates a `POST /signals/feedback` request into the row to store (stamped `now`).
pub fn parse_feedback(
    content_type: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Feedback, ApiError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/json") {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "send the feedback as Content-Type: application/json",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            "malformed_json",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let o = v
        .as_object()
        .ok_or_else(|| ApiError::invalid_field("(body)", "must be a JSON object"))?;
    const FIELDS: &[&str] = &[
        "signal_id",
        "outcome",
        "realized_return",
        "horizon",
        "source",
        "note",
    ];
    if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            k,
            format!("is not a known field (known: {})", FIELDS.join(", ")),
        ));
    }
    let signal_id = text_field(o, "signal_id", 64, true)?.unwrap_or_default();
    let source = text_field(o, "source", 64, true)?.unwrap_or_default();
    let outcome = text_field(o, "outcome", 16, true)?.unwrap_or_default();
    if !OUTCOMES.contains(&outcome.as_str()) {
        return Err(ApiError::invalid_field(
            "outcome",
            format!("must be one of {}", OUTCOMES.join(", ")),
        ));
    }
    let realized_return = match o.get("realized_return") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x > -1.0e6 && x < 1.0e6 => Some(x),
            _ => {
                return Err(ApiError::invalid_field(
                    "realized_return",
                    "must be a finite number",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::invalid_field(
                "realized_return",
                "must be a number",
            ))
        }
    };
    let horizon_s = match o.get("horizon") {
        None | Some(Value::Null) => None,
        Some(h) => Some(parse_horizon(h)?),
    };
    let note = text_field(o, "note", MAX_NOTE_CHARS, false)?;
    Ok(Feedback {
        signal_id,
        source,
        outcome,
        realized_return,
        horizon_s,
        note,
        at: now,
    })
}

pub fn feedback_json(f: &Feedback) -> Value {
    json!({
        "signal_id": f.signal_id,
        "source": f.source,
        "outcome": f.outcome,
        "realized_return": f.realized_return,
        "horizon_s": f.horizon_s,
        "note": f.note,
        "at": rfc3339(f.at),
        "at_unix": f.at,
    })
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
    fn signals_query_table() {
        let f = parse_signals_query(&q(&[]), None).unwrap_or_default();
        assert!(f.latest_per_symbol);
        assert_eq!(f.limit, Some(100));
        let f = parse_signals_query(
            &q(&[
                ("since", "2024-01-01T00:00:00Z"),
                ("until", "2024-01-02T00:00:00+00:00"),
                ("decision", "deny"),
                ("min_confidence", "0.5"),
                ("limit", "1000"),
                ("origin", "backfill"),
            ]),
            Some("BRK.B"),
        )
        .unwrap_or_default();
        assert_eq!(f.origin.as_deref(), Some("backfill"));
        assert_eq!(
            (f.since, f.until, f.limit),
            (Some(1704067200), Some(1704153600), Some(1000))
        );
        assert_eq!(
            (
                f.symbol.as_deref(),
                f.decision.as_deref(),
                f.latest_per_symbol
            ),
            (Some("BRK.B"), Some("deny"), false)
        );
        let c = encode_cursor(5, "sig-1");
        assert_eq!(
            parse_signals_query(&q(&[("cursor", &c)]), None).map(|f| f.after),
            Ok(Some((5, "sig-1".to_string())))
        );

        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
        let bad: &[Case] = &[
            (&[("limit", "0")], None, "limit \"0\""),
            (&[("limit", "1001")], None, "limit \"1001\""),
            (&[("limit", "x")], None, "limit \"x\""),
            (&[("since", "yesterday")], None, "since \"yesterday\""),
            (&[("decision", "maybe")], None, "decision \"maybe\""),
            (
                &[("origin", "replay")],
                None,
                "origin \"replay\" must be live or backfill",
            ),
            (&[("min_confidence", "1.5")], None, "min_confidence"),
            (&[("min_confidence", "NaN")], None, "min_confidence"),
            (&[("cursor", "zz")], None, "cursor"),
            (&[("cursor", "3a")], None, "cursor"),
            (
                &[("symbol", "AAPL")],
                Some("AAPL"),
                "unknown parameter \"symbol\"",
            ),
            (&[("token", "x")], None, "unknown parameter \"token\""),
            (
                &[("limit", "1"), ("limit", "2")],
                None,
                "parameter limit given more than once",
            ),
            (&[("symbol", "AA PL")], None, "symbol \"AA PL\""),
            (&[], Some("../etc"), "symbol \"../etc\""),
            (&[], Some(""), "symbol \"\""),
        ];
        let empty = [
            ("since", "2024-01-02T00:00:00Z"),
            ("until", "2024-01-01T00:00:00Z"),
        ];
        assert!(
            parse_signals_query(&q(&empty), None).is_ok(),
            "a reversed interval is empty, not an error"
        );
        for (pairs, sym, want) in bad {
            let e = parse_signals_query(&q(pairs), *sym)
                .err()
                .unwrap_or_else(|| ApiError::bad_request(""));
            assert_eq!((e.status, e.code), (400, "invalid_query"), "{pairs:?}");
            assert!(e.message.starts_with(want), "{pairs:?}: {}", e.message);
        }
    }

    #[test]
    fn signal_rendering_embeds_stored_json_and_pages() {
        let sig = |id: &str, at: i64, components: &str| SignalRecord {
            id: id.into(),
            symbol: "AAPL".into(),
            created_at: at,
            direction: 1,
            score: 0.5,
            confidence: f64::NAN,
            horizon_s: 3600,
            components_json: components.into(),
            decision: "allow".into(),
            reasons: "OK".into(),
            origin: "backfill".into(),
            recorded_at: at + 5,
            lease: None,
        };
        let gov = GovernorLogRecord {
            signal_id: "a".into(),
            symbol: "AAPL".into(),
            decision: "allow".into(),
            reason_codes: "OK".into(),
            rules_json: "not json".into(),
            config_hash: "h".into(),
            at: 60,
        };
        let scored = SignalOutcome {
            kind: OutcomeKind::Miss,
            realized_return: -0.02,
            scored_at: 90,
        };
        let rows = vec![
            (
                sig("b", 120, r#" {"chart": {"value": 0.25}} "#),
                vec![],
                None,
            ),
            (sig("a", 60, "{broken"), vec![gov], Some(scored)),
        ];
        let page: Value = serde_json::from_str(&page_json(&rows, 1).unwrap()).unwrap();
        assert_eq!(page["count"], 1);
        assert_eq!(page["next_cursor"], json!(encode_cursor(120, "b")));
        let first = &page["signals"][0];
        assert_eq!(
            first["components"]["chart"]["value"], 0.25,
            "embedded as JSON"
        );
        assert_eq!(first["created_at"], "1970-01-01T00:02:00Z");
        assert_eq!(first["confidence"], Value::Null, "NaN renders as null");
        assert_eq!(first["reason_codes"], json!(["OK"]));
        assert_eq!(first["governor"], Value::Null);
        assert_eq!(first["origin"], "backfill");
        assert_eq!(first["recorded_at_unix"], 125);
        assert_eq!(first["outcome"], Value::Null, "not scored yet");
        for k in ["node_id", "shard", "epoch"] {
            assert_eq!(first[k], Value::Null, "{k}: not a cluster");
        }
        let stamped = SignalRecord {
            lease: Some(aivex_store::LeaseStamp {
                shard: 5,
                epoch: 9,
                node_id: "box-2".into(),
            }),
            ..sig("c", 60, "{}")
        };
        let one: Value = serde_json::from_str(&signal_json(&stamped, &[], None).unwrap()).unwrap();
        assert_eq!(
            (&one["node_id"], &one["shard"], &one["epoch"]),
            (&json!("box-2"), &json!(5), &json!(9))
        );
        let all: Value = serde_json::from_str(&page_json(&rows, 5).unwrap()).unwrap();
        assert_eq!(all["next_cursor"], Value::Null);
        let second = &all["signals"][1];
        assert_eq!(
            second["components"], "{broken",
            "not JSON: kept as a string"
        );
        assert_eq!(second["governor"]["rules"], "not json");
        assert_eq!(second["governor"]["at_unix"], 60);
        assert_eq!(
            second["outcome"],
            json!({"kind": "miss", "realized_return": -0.02, "scored_at": "1970-01-01T00:01:30Z", "scored_at_unix": 90})
        );
        let one: Value =
            serde_json::from_str(&signal_json(&rows[1].0, &rows[1].1, rows[1].2.as_ref()).unwrap())
                .unwrap();
        assert_eq!(&one, second);
        let g: Value = serde_json::from_str(&governor_json(&rows[1].1[0]).unwrap()).unwrap();
        assert_eq!(&g, &second["governor"]);
    }

    #[test]
    fn rendered_pages_equal_serialized_ones() {
        let sig = |id: &str, at: i64| SignalRecord {
            id: id.into(),
            symbol: "AAPL".into(),
            created_at: at,
            direction: -1,
            score: 0.25,
            confidence: 0.5,
            horizon_s: 60,
            components_json: "{\"chart\":{\"value\":1}}".into(),
            decision: "deny".into(),
            reasons: "COOLDOWN_ACTIVE".into(),
            origin: "live".into(),
            recorded_at: at,
            lease: None,
        };
        let rows: Vec<PageRow> = vec![(sig("b", 20), vec![], None), (sig("a", 10), vec![], None)];
        for limit in [1, 2, 5] {
            let page = rows.get(..limit).unwrap_or(&rows);
            let rendered: Vec<String> = page
                .iter()
                .map(|(s, g, o)| signal_json(s, g, o.as_ref()).unwrap_or_default())
                .collect();
            let next = (rows.len() > limit)
                .then(|| encode_cursor(page[limit - 1].0.created_at, &page[limit - 1].0.id));
            assert_eq!(
                page_json_rendered(rendered.iter().map(String::as_str), next.as_deref()),
                page_json(&rows, limit).unwrap_or_default(),
                "limit {limit}"
            );
        }
    }

    #[test]
    fn etag_table() {
        let tag = etag('m', 42);
        assert_eq!(tag, "\"m42\"");
        for (h, want) in [
            (None, false),
            (Some("\"m42\""), true),
            (Some("W/\"m42\""), true),
            (Some("\"m41\", \"m42\""), true),
            (Some("*"), true),
            (Some("\"m4\""), false),
            (Some("m42"), false),
            (Some("\"s42\""), false),
        ] {
            assert_eq!(etag_matches(h, &tag), want, "{h:?}");
        }
    }

    #[test]
    fn cursor_round_trip() {
        for (at, id) in [(0, "a"), (-5, "x:y"), (1_700_000_000, "sig-ü")] {
            assert_eq!(
                decode_cursor(&encode_cursor(at, id)),
                Ok((at, id.to_string()))
            );
        }
    }

    #[test]
    fn feedback_table() {
        let ct = Some("application/json; charset=utf-8");
        let ok = parse_feedback(ct, br#"{"signal_id":"s1","outcome":"hit","source":"bt","realized_return":0.02,"horizon":"1d","note":"n"}"#, 7);
        assert_eq!(
            ok,
            Ok(Feedback {
                signal_id: "s1".into(),
                source: "bt".into(),
                outcome: "hit".into(),
                realized_return: Some(0.02),
                horizon_s: Some(86400),
                note: Some("n".into()),
                at: 7
            })
        );
        type Case<'a> = (Option<&'a str>, &'a [u8], u16, &'a str, &'a str);
        let bad: &[Case] = &[
            (Some("text/plain"), b"{}", 415, "unsupported_media_type", ""),
            (None, b"{}", 415, "unsupported_media_type", ""),
            (
                ct,
                b"{\"signal_id\":",
                400,
                "malformed_json",
                "request body is not valid JSON",
            ),
            (
                ct,
                b"\xff\xfe",
                400,
                "malformed_json",
                "request body is not valid JSON",
            ),
            (ct, b"[1]", 422, "invalid_field", "field (body)"),
            (
                ct,
                br#"{"outcome":"hit","source":"bt"}"#,
                422,
                "invalid_field",
                "field signal_id: is required",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"win","source":"bt"}"#,
                422,
                "invalid_field",
                "field outcome: must be one of",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit"}"#,
                422,
                "invalid_field",
                "field source: is required",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit","source":"  "}"#,
                422,
                "invalid_field",
                "field source: is empty",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit","source":"b","realized_return":"x"}"#,
                422,
                "invalid_field",
                "field realized_return",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit","source":"b","horizon":"3y"}"#,
                422,
                "invalid_field",
                "field horizon",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit","source":"b","horizon":-4}"#,
                422,
                "invalid_field",
                "field horizon",
            ),
            (
                ct,
                br#"{"signal_id":"s","outcome":"hit","source":"b","extra":1}"#,
                422,
                "invalid_field",
                "field extra: is not a known field",
            ),
            (
                ct,
                br#"{"signal_id":7,"outcome":"hit","source":"b"}"#,
                422,
                "invalid_field",
                "field signal_id: must be a string",
            ),
        ];
        for (ct, body, status, code, msg) in bad {
            let e = parse_feedback(*ct, body, 0)
                .err()
                .unwrap_or_else(|| ApiError::bad_request("accepted"));
            assert_eq!(
                (e.status, e.code),
                (*status, *code),
                "{}",
                String::from_utf8_lossy(body)
            );
            assert!(
                e.message.starts_with(msg),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
