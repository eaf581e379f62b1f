//! Eye's configuration: the `[eye]` table of `config/aivex.toml` plus the `AIVEX_EYE_ADDR` and
//! `AIVEX_EYE_TOKEN` environment overrides, validated into `EyeConfig`.
//!
//! It owns every key's name, default and bound (documented on `EyeConfig`). It is pure: the
//! caller reads the file and the environment and passes them in. It must never print a token:
//! `EyeConfig`'s Debug shows only how many there are.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The health checks Eye knows, in report order.
pub const CHECKS: &[&str] = &[
    "modules",
    "heartbeats",
    "supervisor",
    "store",
    "freshness",
    "disk",
    "cluster",
];

/// The validated `[eye]` table. Keys (all optional):
///
/// | key | default | meaning |
/// | --- | --- | --- |
/// | `listen` | `"127.0.0.1:8080"` | address to bind; `AIVEX_EYE_ADDR` overrides |
/// | `tokens` | `[]` | bearer tokens; `AIVEX_EYE_TOKEN` (comma-separated) adds more; none = no auth |
/// | `allow_anonymous` | false | serve without tokens on a non-loopback `listen` address (refused otherwise) |
/// | `hosts` | `[]` | with auth off, extra `Host` names accepted besides the listen address (and `localhost` on loopback): `"name"` (any port) or `"name:port"`; others get 421 |
/// | `workers` | 2 | request worker threads (1..=64); SSE streams have their own threads |
/// | `queue` | 32 | complete requests waiting for a worker; beyond it 503 `overloaded` |
/// | `max_connections` | 512 | open connections in total (idle ones cost a descriptor, not a thread); at the cap the oldest idle one is closed, else the new one refused |
/// | `max_connections_per_peer` | 256 | open connections from one client address, same rule |
/// | `max_body_bytes` | 65536 | request body limit (413 beyond) |
/// | `max_request_line_bytes` | 8192 | request line limit (414 beyond) |
/// | `max_header_bytes` | 16384 | all header lines together (431 beyond) |
/// | `max_headers` | 64 | header count (431 beyond) |
/// | `header_timeout_s` | 10 | whole request head must arrive within this, counted from accept (408) |
/// | `body_timeout_s` | 10 | whole body must arrive within this (408) |
/// | `idle_timeout_s` | 5 | keep-alive connection closed after this long without a request |
/// | `write_timeout_s` | 10 | a whole response must be taken by the client within this |
/// | `max_streams` | 8 | concurrent `/events` streams (503 `too_many_streams` beyond) |
/// | `sse_keepalive_s` | 15 | comment line sent on an idle stream |
/// | `event_buffer` | 1024 | recent events kept for `Last-Event-ID` resume |
/// | `state_stale_after_s` | 15 | supervisor state older than this fails `supervisor` |
/// | `health.fail_on` | all checks | which of `modules`, `heartbeats`, `supervisor`, `store`, `freshness`, `disk`, `cluster` make `/health` 503 |
/// | `freshness` | `{}` | per input kind (`chart`, `news`, `metrics`): max age in seconds of its newest input |
#[derive(Clone, PartialEq)]
pub struct EyeConfig {
    pub listen: String,
    pub tokens: Vec<String>,
    pub allow_anonymous: bool,
    /// Lower-cased `name` or `name:port` entries.
    pub hosts: Vec<String>,
    pub workers: usize,
    pub queue: usize,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    pub max_body_bytes: usize,
    pub max_request_line_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub header_timeout_s: f64,
    pub body_timeout_s: f64,
    pub idle_timeout_s: f64,
    pub write_timeout_s: f64,
    pub max_streams: usize,
    pub sse_keepalive_s: f64,
    pub event_buffer: usize,
    pub state_stale_after_s: f64,
    pub fail_on: Vec<String>,
    pub freshness: BTreeMap<String, f64>,
}

impl fmt::Debug for EyeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EyeConfig")
            .field("listen", &self.listen)
            .field(
                "tokens",
                &format_args!("<{} configured>", self.tokens.len()),
            )
            .field("allow_anonymous", &self.allow_anonymous)
            .field("hosts", &self.hosts)
            .field("workers", &self.workers)
            .field("max_connections", &self.max_connections)
            .field("max_streams", &self.max_streams)
            .field("fail_on", &self.fail_on)
            .field("freshness", &self.freshness)
            .finish_non_exhaustive()
    }
}

impl Default for EyeConfig {
    fn default() -> Self {
        EyeConfig {
            listen: "127.0.0.1:8080".into(),
            tokens: Vec::new(),
            allow_anonymous: false,
            hosts: Vec::new(),
            // Two, not one per possible client: each busy worker holds a store connection and
            // its own working memory (about 6 MiB under sustained load on the static musl
            // build with MariaDB), and the static build's allocator serialises threads anyway,
            // so more workers bought no throughput there (scripts/bench-eye, README).
            workers: 2,
            queue: 32,
            // Half the usual 1024 open-file limit; one client address may hold half of that.
            max_connections: 512,
            max_connections_per_peer: 256,
            max_body_bytes: 65536,
            max_request_line_bytes: 8192,
            max_header_bytes: 16384,
            max_headers: 64,
            header_timeout_s: 10.0,
            body_timeout_s: 10.0,
            idle_timeout_s: 5.0,
            write_timeout_s: 10.0,
            max_streams: 8,
            sse_keepalive_s: 15.0,
            event_buffer: 1024,
            state_stale_after_s: 15.0,
            fail_on: CHECKS.iter().map(|s| s.to_string()).collect(),
            freshness: BTreeMap::new(),
        }
    }
}

const KEYS: &[&str] = &[
    "listen",
    "tokens",
    "allow_anonymous",
    "hosts",
    "workers",
    "queue",
    "max_connections",
    "max_connections_per_peer",
    "max_body_bytes",
    "max_request_line_bytes",
    "max_header_bytes",
    "max_headers",
    "header_timeout_s",
    "body_timeout_s",
    "idle_timeout_s",
    "write_timeout_s",
    "max_streams",
    "sse_keepalive_s",
    "event_buffer",
    "state_stale_after_s",
    "health",
    "freshness",
];

const KINDS: &[&str] = &["chart", "news", "metrics"];

fn err(key: &str, why: impl fmt::Display) -> String {
    format!("[eye] {key}: {why}")
}

fn uint(
    t: &serde_json::Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
    dflt: usize,
) -> Result<usize, String> {
    match t.get(key) {
        None => Ok(dflt),
        Some(v) => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => usize::try_from(n).map_err(|e| err(key, e)),
            _ => Err(err(
                key,
                format!("must be an integer in {min}..={max}, got {v}"),
            )),
        },
    }
}

fn secs(t: &serde_json::Map<String, Value>, key: &str, dflt: f64) -> Result<f64, String> {
    match t.get(key) {
        None => Ok(dflt),
        Some(v) => match v.as_f64() {
            Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 * 365.0 => Ok(s),
            _ => Err(err(
                key,
                format!("must be a positive number of seconds, got {v}"),
            )),
        },
    }
}

/// True when `listen` can only be reached from this machine: a loopback IP, or `localhost`.
/// Another host name could resolve to anything, so it counts as reachable from outside.
fn loopback(listen: &str) -> bool {
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// `hosts`: names (or `name:port`) a browser may use for Eye when auth is off.
fn hosts(t: &serde_json::Map<String, Value>) -> Result<Vec<String>, String> {
    let Some(v) = t.get("hosts") else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| err("hosts", "must be a list of host names"))?;
    let mut out = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let s = h
            .as_str()
            .map(str::trim)
            .ok_or_else(|| err("hosts", format!("item {i} is not a string")))?;
        let ok = !s.is_empty()
            && s.len() <= 261
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
        if !ok {
            return Err(err(
                "hosts",
                format!("item {i} {s:?} is not a host name or host:port"),
            ));
        }
        out.push(s.to_ascii_lowercase());
    }
    Ok(out)
}

/// A token must be usable in an `Authorization` header as is: visible ASCII, no spaces.
fn check_token(source: &str, t: &str) -> Result<(), String> {
    if t.len() < 8 {
        return Err(format!("{source}: a token must be at least 8 characters"));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{source}: a token may hold only visible ASCII characters"
        ));
    }
    Ok(())
}

impl EyeConfig {
    /// Builds the configuration from the `[eye]` table (JSON; `Null` = absent) and the values
    /// of `AIVEX_EYE_ADDR` and `AIVEX_EYE_TOKEN`. An error names the key and what is wrong.
    pub fn from_parts(
        table: &Value,
        env_addr: Option<&str>,
        env_tokens: Option<&str>,
    ) -> Result<EyeConfig, String> {
        let empty = serde_json::Map::new();
        let t = match table {
            Value::Null => &empty,
            Value::Object(m) => m,
            other => return Err(format!("[eye] must be a table, got {other}")),
        };
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(k, format!("unknown key (known: {})", KEYS.join(", "))));
        }
        let d = EyeConfig::default();
        let mut c = EyeConfig {
            listen: match t.get("listen") {
                None => d.listen.clone(),
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                Some(v) => return Err(err("listen", format!("must be \"host:port\", got {v}"))),
            },
            tokens: Vec::new(),
            allow_anonymous: match t.get("allow_anonymous") {
                None => d.allow_anonymous,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    return Err(err(
                        "allow_anonymous",
                        format!("must be true or false, got {v}"),
                    ))
                }
            },
            hosts: hosts(t)?,
            workers: uint(t, "workers", 1, 64, d.workers)?,
            queue: uint(t, "queue", 1, 4096, d.queue)?,
            max_connections: uint(t, "max_connections", 1, 65536, d.max_connections)?,
            max_connections_per_peer: uint(
                t,
                "max_connections_per_peer",
                1,
                65536,
                d.max_connections_per_peer,
            )?,
            max_body_bytes: uint(t, "max_body_bytes", 1, 64 << 20, d.max_body_bytes)?,
            max_request_line_bytes: uint(
                t,
                "max_request_line_bytes",
                64,
                1 << 20,
                d.max_request_line_bytes,
            )?,
            max_header_bytes: uint(t, "max_header_bytes", 256, 1 << 20, d.max_header_bytes)?,
            max_headers: uint(t, "max_headers", 4, 1024, d.max_headers)?,
            header_timeout_s: secs(t, "header_timeout_s", d.header_timeout_s)?,
            body_timeout_s: secs(t, "body_timeout_s", d.body_timeout_s)?,
            idle_timeout_s: secs(t, "idle_timeout_s", d.idle_timeout_s)?,
            write_timeout_s: secs(t, "write_timeout_s", d.write_timeout_s)?,
            max_streams: uint(t, "max_streams", 0, 1024, d.max_streams)?,
            sse_keepalive_s: secs(t, "sse_keepalive_s", d.sse_keepalive_s)?,
            event_buffer: uint(t, "event_buffer", 1, 1 << 20, d.event_buffer)?,
            state_stale_after_s: secs(t, "state_stale_after_s", d.state_stale_after_s)?,
            fail_on: d.fail_on.clone(),
            freshness: BTreeMap::new(),
        };
        if let Some(v) = t.get("tokens") {
            let list = v
                .as_array()
                .ok_or_else(|| err("tokens", "must be a list of strings"))?;
            for (i, tok) in list.iter().enumerate() {
                let s = tok
                    .as_str()
                    .ok_or_else(|| err("tokens", format!("item {i} is not a string")))?;
                check_token(&err("tokens", format!("item {i}")), s)?;
                c.tokens.push(s.to_string());
            }
        }
        if let Some(env) = env_tokens {
            for (i, s) in env.split(',').map(str::trim).enumerate() {
                if s.is_empty() {
                    continue;
                }
                check_token(&format!("AIVEX_EYE_TOKEN item {i}"), s)?;
                c.tokens.push(s.to_string());
            }
        }
        let from_env = env_addr.map(str::trim).filter(|a| !a.is_empty());
        if let Some(a) = from_env {
            c.listen = a.to_string();
        }
        if c.tokens.is_empty() && !c.allow_anonymous && !loopback(&c.listen) {
            return Err(format!(
                "[eye] listen {:?}{}: not a loopback address, and no token is configured: set [eye] tokens \
                 (or AIVEX_EYE_TOKEN), or set [eye] allow_anonymous = true to serve this address without auth",
                c.listen,
                if from_env.is_some() { " (from AIVEX_EYE_ADDR)" } else { "" }
            ));
        }
        match t.get("health") {
            None => {}
            Some(Value::Object(h)) => {
                if let Some(k) = h.keys().find(|k| k.as_str() != "fail_on") {
                    return Err(err(&format!("health.{k}"), "unknown key (known: fail_on)"));
                }
                if let Some(v) = h.get("fail_on") {
                    let list = v
                        .as_array()
                        .ok_or_else(|| err("health.fail_on", "must be a list of check names"))?;
                    c.fail_on.clear();
                    for (i, x) in list.iter().enumerate() {
                        match x.as_str() {
                            Some(n) if CHECKS.contains(&n) => c.fail_on.push(n.to_string()),
                            _ => {
                                return Err(err(
                                    "health.fail_on",
                                    format!(
                                        "item {i} is {x}, expected one of {}",
                                        CHECKS.join(", ")
                                    ),
                                ))
                            }
                        }
                    }
                }
            }
            Some(v) => return Err(err("health", format!("must be a table, got {v}"))),
        }
        match t.get("freshness") {
            None => {}
            Some(Value::Object(f)) => {
                for (kind, v) in f {
                    if !KINDS.contains(&kind.as_str()) {
                        return Err(err(
                            &format!("freshness.{kind}"),
                            format!("unknown input kind (known: {})", KINDS.join(", ")),
                        ));
                    }
                    match v.as_f64() {
                        Some(s) if s.is_finite() && s > 0.0 => {
                            c.freshness.insert(kind.clone(), s);
                        }
                        _ => {
                            return Err(err(
                                &format!("freshness.{kind}"),
                                format!("must be a positive number of seconds, got {v}"),
                            ))
                        }
                    }
                }
            }
            Some(v) => return Err(err("freshness", format!("must be a table, got {v}"))),
        }
        Ok(c)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
