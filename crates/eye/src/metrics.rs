//! Counters Eye keeps in memory (HTTP requests, latency histograms, signals and decisions by
//! reason) and the Prometheus text exposition of them plus the supervisor's module table.
//!
//! It owns metric names, labels and bucket bounds. Label values come from a fixed route table
//! or from stored reason codes and module names, all escaped. Rendering is a pure function of
//! a snapshot; recording takes a short lock and never does I/O.

use aivex_core::contract::RuntimeState;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};

/// Latency histogram bounds in seconds.
pub const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    pub counts: [u64; BUCKETS.len() + 1],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// Everything counted, copied out under one lock for rendering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// (route, method, status) → count.
    pub requests: BTreeMap<(String, String, u16), u64>,
    pub latency: BTreeMap<String, Histogram>,
    /// decision → count.
    pub signals: BTreeMap<String, u64>,
    /// (decision, reason code) → count.
    pub reasons: BTreeMap<(String, String), u64>,
    pub streams: u64,
    pub events_published: u64,
    /// Newest as_of and row count per component kind, when known.
    pub inputs: BTreeMap<String, (i64, u64)>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Snapshot>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request(&self, route: &str, method: &str, status: u16, secs: f64) {
        let mut s = self.lock();
        *s.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        s.latency
            .entry(route.to_string())
            .or_default()
            .observe(secs);
    }

    pub fn signal(&self, decision: &str, reasons: &[String]) {
        let mut s = self.lock();
        *s.signals.entry(decision.to_string()).or_default() += 1;
        for r in reasons {
            *s.reasons
                .entry((decision.to_string(), r.clone()))
                .or_default() += 1;
        }
    }

    pub fn set_streams(&self, n: u64) {
        self.lock().streams = n;
    }

    pub fn event_published(&self) {
        self.lock().events_published += 1;
    }

    pub fn set_inputs(&self, inputs: BTreeMap<String, (i64, u64)>) {
        self.lock().inputs = inputs;
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }
}

/// Escapes a label value per the exposition format.
pub fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn fmt_f(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else if x.is_nan() {
        "NaN".into()
    } else if x > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

const STATES: &[&str] = &[
    "RUNNING",
    "CRASHED",
    "RESTARTING",
    "STOPPED",
    "LOOP_DETECTED",
    "WAITING",
];

/// The whole exposition: the snapshot, the module table from the runtime state (if any), and
/// the current time (for input ages).
pub fn render(s: &Snapshot, state: Option<&RuntimeState>, now_unix: f64) -> String {
    let mut o = String::with_capacity(4096);
    let _ = writeln!(o, "# HELP aivex_module_state 1 for the state each module is in.\n# TYPE aivex_module_state gauge");
    let modules = state.map(|s| &s.modules);
    for (name, m) in modules.into_iter().flatten() {
        let cur = m.state.as_str();
        for st in STATES {
            let _ = writeln!(
                o,
                "aivex_module_state{{module=\"{}\",state=\"{st}\"}} {}",
                esc(name),
                u8::from(cur == *st)
            );
        }
    }
    let _ = writeln!(o, "# HELP aivex_module_restarts_total Restarts of each module in this run.\n# TYPE aivex_module_restarts_total counter");
    for (name, m) in modules.into_iter().flatten() {
        let r = m.restarts;
        let _ = writeln!(
            o,
            "aivex_module_restarts_total{{module=\"{}\"}} {r}",
            esc(name)
        );
    }
    let _ = writeln!(o, "# HELP aivex_module_heartbeat_age_seconds Age of each module's heartbeat.\n# TYPE aivex_module_heartbeat_age_seconds gauge");
    for (name, m) in modules.into_iter().flatten() {
        if let Some(a) = m.heartbeat_age_s {
            let _ = writeln!(
                o,
                "aivex_module_heartbeat_age_seconds{{module=\"{}\"}} {}",
                esc(name),
                fmt_f(a)
            );
        }
    }
    module_costs(&mut o, modules.into_iter().flatten());
    if let Some(a) = state.and_then(|s| s.alerts.as_ref()) {
        let _ = writeln!(o, "# HELP aivex_alerts_total Alert deliveries by outcome: sent, failed (given up after retrying), dropped (a queue was full).\n# TYPE aivex_alerts_total counter");
        for (outcome, n) in [
            ("sent", a.sent),
            ("failed", a.failed),
            ("dropped", a.dropped),
        ] {
            let _ = writeln!(o, "aivex_alerts_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(o, "# HELP aivex_alerts_pending Alert deliveries queued or waiting for a retry.\n# TYPE aivex_alerts_pending gauge\naivex_alerts_pending {}", a.pending);
    }
    if let Some(u) = state.and_then(|s| s.updated_at_unix) {
        let _ = writeln!(o, "# HELP aivex_supervisor_state_age_seconds Age of the supervisor's runtime state.\n# TYPE aivex_supervisor_state_age_seconds gauge");
        let _ = writeln!(
            o,
            "aivex_supervisor_state_age_seconds {}",
            fmt_f((now_unix - u).max(0.0))
        );
    }
    let _ = writeln!(o, "# HELP aivex_signals_total Signals stored, by governor decision.\n# TYPE aivex_signals_total counter");
    for (d, n) in &s.signals {
        let _ = writeln!(o, "aivex_signals_total{{decision=\"{}\"}} {n}", esc(d));
    }
    let _ = writeln!(o, "# HELP aivex_decision_reasons_total Governor reason codes on stored signals.\n# TYPE aivex_decision_reasons_total counter");
    for ((d, r), n) in &s.reasons {
        let _ = writeln!(
            o,
            "aivex_decision_reasons_total{{decision=\"{}\",reason=\"{}\"}} {n}",
            esc(d),
            esc(r)
        );
    }
    let _ = writeln!(o, "# HELP aivex_input_components Stored component rows per input kind.\n# TYPE aivex_input_components gauge");
    for (k, (_, n)) in &s.inputs {
        let _ = writeln!(o, "aivex_input_components{{kind=\"{}\"}} {n}", esc(k));
    }
    let _ = writeln!(o, "# HELP aivex_input_age_seconds Age of the newest input per kind.\n# TYPE aivex_input_age_seconds gauge");
    for (k, (as_of, _)) in &s.inputs {
        let _ = writeln!(
            o,
            "aivex_input_age_seconds{{kind=\"{}\"}} {}",
            esc(k),
            fmt_f(now_unix - *as_of as f64)
        );
    }
    let _ = writeln!(o, "# HELP aivex_eye_requests_total HTTP requests by route, method and status.\n# TYPE aivex_eye_requests_total counter");
    for ((route, method, status), n) in &s.requests {
        let _ = writeln!(
            o,
            "aivex_eye_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
            esc(route),
            esc(method)
        );
    }
    let _ = writeln!(o, "# HELP aivex_eye_request_duration_seconds HTTP request latency by route.\n# TYPE aivex_eye_request_duration_seconds histogram");
    for (route, h) in &s.latency {
        let r = esc(route);
        let mut cum = 0u64;
        for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
            cum += c;
            let _ = writeln!(
                o,
                "aivex_eye_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {cum}"
            );
        }
        let _ = writeln!(
            o,
            "aivex_eye_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "aivex_eye_request_duration_seconds_sum{{route=\"{r}\"}} {}",
            fmt_f(h.sum)
        );
        let _ = writeln!(
            o,
            "aivex_eye_request_duration_seconds_count{{route=\"{r}\"}} {}",
            h.count
        );
    }
    let _ = writeln!(o, "# HELP aivex_eye_event_streams Open /events streams.\n# TYPE aivex_eye_event_streams gauge\naivex_eye_event_streams {}", s.streams);
    let _ = writeln!(o, "# HELP aivex_eye_events_total Events published on /events.\n# TYPE aivex_eye_events_total counter\naivex_eye_events_total {}", s.events_published);
    o
}

/// What each module costs (from the supervisor's /proc accounting), one family per figure.
fn module_costs<'a>(
    o: &mut String,
    modules: impl Iterator<Item = (&'a String, &'a aivex_core::contract::ModuleStatus)> + Clone,
) {
    type Figure = fn(&aivex_core::contract::ModuleStatus) -> Option<f64>;
    let families: [(&str, &str, &str, Figure); 7] = [
        (
            "aivex_module_cpu_seconds_total",
            "counter",
            "CPU seconds (user + system) of each module's process group.",
            |m| m.cpu_s,
        ),
        (
            "aivex_module_cpu_percent",
            "gauge",
            "CPU use of each module over the last status interval, in % of one core.",
            |m| m.cpu_pct,
        ),
        (
            "aivex_module_rss_bytes",
            "gauge",
            "Resident memory of each module's process group.",
            |m| m.rss_bytes.map(|v| v as f64),
        ),
        (
            "aivex_module_pss_bytes",
            "gauge",
            "Proportional set size of each module's process group.",
            |m| m.pss_bytes.map(|v| v as f64),
        ),
        (
            "aivex_module_open_fds",
            "gauge",
            "Open file descriptors of each module's process group.",
            |m| m.fds.map(f64::from),
        ),
        (
            "aivex_module_threads",
            "gauge",
            "Threads of each module's process group.",
            |m| m.threads.map(f64::from),
        ),
        (
            "aivex_module_max_rss_bytes",
            "gauge",
            "Each module's max_rss_mb limit, in bytes.",
            |m| m.max_rss_mb.map(|v| (v << 20) as f64),
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (module, m) in modules.clone() {
            if let Some(v) = get(m) {
                let _ = writeln!(o, "{name}{{module=\"{}\"}} {}", esc(module), fmt_f(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn render_covers_every_family() {
        let m = Metrics::default();
        m.request("/health", "GET", 200, 0.0007);
        m.request("/health", "GET", 200, 2.0);
        m.signal(
            "deny",
            &["MIN_CONFIDENCE".to_string(), "COOLDOWN_ACTIVE".to_string()],
        );
        m.signal("allow", &[]);
        m.set_inputs(BTreeMap::from([("news".to_string(), (90, 4))]));
        let state = json!({"updated_at_unix": 95.0, "alerts": {"sinks": 1, "sent": 2, "dropped": 5},
            "modules": {"ne\"ws": {"state": "RUNNING", "restarts": 2, "heartbeat_age_s": 1.5,
            "cpu_s": 3.25, "cpu_pct": 0.5, "rss_bytes": 1048576, "pss_bytes": 900000, "fds": 9, "threads": 3, "max_rss_mb": 2}}});
        let state = RuntimeState::parse(state.to_string().as_bytes()).unwrap();
        let text = render(&m.snapshot(), Some(&state), 100.0);
        for want in [
            "aivex_module_state{module=\"ne\\\"ws\",state=\"RUNNING\"} 1",
            "aivex_module_state{module=\"ne\\\"ws\",state=\"CRASHED\"} 0",
            "aivex_module_restarts_total{module=\"ne\\\"ws\"} 2",
            "aivex_module_heartbeat_age_seconds{module=\"ne\\\"ws\"} 1.5",
            "aivex_supervisor_state_age_seconds 5",
            "aivex_module_state{module=\"ne\\\"ws\",state=\"WAITING\"} 0",
            "aivex_module_cpu_seconds_total{module=\"ne\\\"ws\"} 3.25",
            "aivex_module_cpu_percent{module=\"ne\\\"ws\"} 0.5",
            "aivex_module_rss_bytes{module=\"ne\\\"ws\"} 1048576",
            "aivex_module_pss_bytes{module=\"ne\\\"ws\"} 900000",
            "aivex_module_open_fds{module=\"ne\\\"ws\"} 9",
            "aivex_module_threads{module=\"ne\\\"ws\"} 3",
            "aivex_module_max_rss_bytes{module=\"ne\\\"ws\"} 2097152",
            "aivex_alerts_total{outcome=\"dropped\"} 5",
            "aivex_alerts_total{outcome=\"sent\"} 2",
            "aivex_alerts_pending 0",
            "aivex_signals_total{decision=\"deny\"} 1",
            "aivex_decision_reasons_total{decision=\"deny\",reason=\"MIN_CONFIDENCE\"} 1",
            "aivex_input_age_seconds{kind=\"news\"} 10",
            "aivex_input_components{kind=\"news\"} 4",
            "aivex_eye_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 2",
            "aivex_eye_request_duration_seconds_bucket{route=\"/health\",le=\"0.001\"} 1",
            "aivex_eye_request_duration_seconds_bucket{route=\"/health\",le=\"1\"} 1",
            "aivex_eye_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 2",
            "aivex_eye_request_duration_seconds_count{route=\"/health\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == want),
                "missing {want:?} in\n{text}"
            );
        }
    }
}
