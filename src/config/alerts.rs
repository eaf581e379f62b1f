//! The `[alerts]` table of `config/aivex.toml`: where alerts go (`[[alerts.sink]]`: a webhook,
//! an ntfy topic or a command), which events each sink wants, how often, and the delivery
//! queue's bounds. Parsing and validation only, with `file:line` for every problem; sending is
//! the supervisor's alert thread (`supervisor/alerts/`).
//!
//! A sink's URL and headers may hold secrets (ntfy tokens, webhook keys): `Debug` and
//! `SinkSpec::shown` never print them.

use super::locate::{array_table_line, line_of};
use super::Problem;
use serde::Deserialize;
use std::path::Path;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    ModuleLoopDetected,
    /// STOPPED with config_error, max_restarts or fatal, or stopped for `memory_limit`.
    ModuleStopped,
    /// Running healthily again after one of the two above.
    ModuleRecovered,
    HealthDegraded,
    HealthRecovered,
    SupervisorStarted,
    SupervisorStopping,
    /// Opt-in: a signal the governor allowed.
    SignalAllowed,
    /// `aivex alert-test`: sent to every sink whatever its `events`.
    AlertTest,
}

impl EventKind {
    /// The events a sink can name in `events`.
    pub const ALL: [EventKind; 8] = [
        EventKind::ModuleLoopDetected,
        EventKind::ModuleStopped,
        EventKind::ModuleRecovered,
        EventKind::HealthDegraded,
        EventKind::HealthRecovered,
        EventKind::SupervisorStarted,
        EventKind::SupervisorStopping,
        EventKind::SignalAllowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ModuleLoopDetected => "module_loop_detected",
            EventKind::ModuleStopped => "module_stopped",
            EventKind::ModuleRecovered => "module_recovered",
            EventKind::HealthDegraded => "health_degraded",
            EventKind::HealthRecovered => "health_recovered",
            EventKind::SupervisorStarted => "supervisor_started",
            EventKind::SupervisorStopping => "supervisor_stopping",
            EventKind::SignalAllowed => "signal_allowed",
            EventKind::AlertTest => "alert_test",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// What a sink gets when it names no `events`: everything but the opt-in `signal_allowed`.
    pub fn default_set() -> Vec<EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(|e| *e != EventKind::SignalAllowed)
            .collect()
    }
}

/// How a sink delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// POST of the JSON alert to `url`.
    Webhook,
    /// POST of a text body to the topic URL with `Title`, `Priority` and `Tags` headers.
    Ntfy,
    /// Runs `command` with the JSON alert on stdin.
    Command,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Ntfy => "ntfy",
            SinkKind::Command => "command",
        }
    }
}

/// One `[[alerts.sink]]`.
#[derive(Clone, PartialEq)]
pub struct SinkSpec {
    /// `name`, else `<kind>#<n>` (1-based position): how the log names the sink.
    pub name: String,
    pub kind: SinkKind,
    /// Webhook and ntfy. May hold a secret (a token, a key in the path).
    pub url: String,
    /// Command: the program and its arguments.
    pub command: Vec<String>,
    /// Extra request headers (webhook, ntfy); values may be secrets.
    pub headers: Vec<(String, String)>,
    pub events: Vec<EventKind>,
    /// Alerts about one subject (a module, health, the supervisor) closer together than this
    /// are held back and summarised in the next one.
    pub min_interval_s: f64,
    /// One delivery attempt's budget (HTTP request, or the command's run time).
    pub timeout_s: f64,
}

impl SinkSpec {
    /// The sink as the log and `alert-test` show it: its name, kind and redacted target.
    pub fn shown(&self) -> String {
        match self.kind {
            SinkKind::Command => format!(
                "{} (command {})",
                self.name,
                self.command.first().map(String::as_str).unwrap_or("")
            ),
            k => format!(
                "{} ({} {})",
                self.name,
                k.as_str(),
                aivex_source::redact_endpoint(&self.url)
            ),
        }
    }

    pub fn wants(&self, e: EventKind) -> bool {
        e == EventKind::AlertTest || self.events.contains(&e)
    }
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSpec")
            .field("sink", &self.shown())
            .field("headers", &self.headers.len())
            .field("events", &self.events)
            .field("min_interval_s", &self.min_interval_s)
            .finish()
    }
}

/// The `[alerts]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub sinks: Vec<SinkSpec>,
    /// Alerts waiting for the alert thread, and deliveries waiting per sink, at most.
    pub queue: usize,
    /// How long a delivery is retried (with backoff) before it is given up.
    pub retry_for_s: f64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            sinks: Vec::new(),
            queue: 256,
            retry_for_s: 600.0,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    queue: Option<usize>,
    retry_for_s: Option<f64>,
    #[serde(default)]
    sink: Vec<RawSink>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: String,
    name: Option<String>,
    url: Option<String>,
    command: Option<Vec<String>>,
    #[serde(default)]
    headers: toml::Table,
    events: Option<Vec<String>>,
    min_interval_s: Option<f64>,
    timeout_s: Option<f64>,
}

/// Validates `[alerts]`; problems name `path` and the line in `text`.
pub(super) fn parse(
    raw: RawAlerts,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> AlertsConfig {
    let d = AlertsConfig::default();
    let mut bad = |line: Option<usize>, message: String| {
        problems.push(Problem {
            file: path.to_path_buf(),
            line,
            message,
        })
    };
    let queue = raw.queue.unwrap_or(d.queue);
    if !(1..=100_000).contains(&queue) {
        bad(
            line_of(text, "alerts", "queue"),
            format!("[alerts] queue must be 1..=100000, got {queue}"),
        );
    }
    let retry_for_s = raw.retry_for_s.unwrap_or(d.retry_for_s);
    if !(retry_for_s.is_finite() && retry_for_s >= 0.0) {
        bad(
            line_of(text, "alerts", "retry_for_s"),
            format!("[alerts] retry_for_s must be seconds >= 0, got {retry_for_s}"),
        );
    }
    let mut sinks = Vec::new();
    for (i, s) in raw.sink.into_iter().enumerate() {
        let at = |key: &str| array_table_line(text, "alerts.sink", i, key);
        let kind = match s.kind.as_str() {
            "webhook" => SinkKind::Webhook,
            "ntfy" => SinkKind::Ntfy,
            "command" => SinkKind::Command,
            other => {
                bad(
                    at("kind"),
                    format!(
                        "[[alerts.sink]] kind must be \"webhook\", \"ntfy\" or \"command\", got {other:?}"
                    ),
                );
                continue;
            }
        };
        let name = s
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("{}#{}", kind.as_str(), i + 1));
        let url = s.url.unwrap_or_default();
        let command = s.command.unwrap_or_default();
        match kind {
            SinkKind::Webhook | SinkKind::Ntfy => {
                let lower = url.trim().to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    bad(
                        at("url"),
                        format!(
                            "sink {name}: a {} sink needs url = \"http(s)://...\", got {:?}",
                            kind.as_str(),
                            aivex_source::redact_endpoint(&url)
                        ),
                    );
                }
                if !command.is_empty() {
                    bad(
                        at("command"),
                        format!("sink {name}: `command` is for kind = \"command\""),
                    );
                }
            }
            SinkKind::Command => {
                if command.first().is_none_or(|p| p.is_empty()) {
                    bad(
                        at("command"),
                        format!(
                            "sink {name}: a command sink needs command = [\"program\", \"arg\", ...]"
                        ),
                    );
                }
                if !url.is_empty() {
                    bad(
                        at("url"),
                        format!("sink {name}: `url` is for webhook and ntfy sinks"),
                    );
                }
            }
        }
        let mut headers = Vec::new();
        for (k, v) in s.headers {
            match v {
                toml::Value::String(v) if valid_header(&k, &v) => headers.push((k, v)),
                _ => bad(
                    at("headers"),
                    format!("sink {name}: header {k:?} must be a token name with a one-line string value"),
                ),
            }
        }
        let events = match s.events {
            None => EventKind::default_set(),
            Some(list) => {
                let mut out = Vec::new();
                for e in list {
                    match EventKind::parse(&e) {
                        Some(k) if !out.contains(&k) => out.push(k),
                        Some(_) => {}
                        None => bad(
                            at("events"),
                            format!(
                                "sink {name}: unknown event {e:?} (known: {})",
                                EventKind::ALL.map(|k| k.as_str()).join(", ")
                            ),
                        ),
                    }
                }
                out
            }
        };
        let min_interval_s = s.min_interval_s.unwrap_or(60.0);
        if !(min_interval_s.is_finite() && min_interval_s >= 0.0) {
            bad(
                at("min_interval_s"),
                format!("sink {name}: min_interval_s must be seconds >= 0, got {min_interval_s}"),
            );
        }
        let timeout_s = s.timeout_s.unwrap_or(10.0);
        if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 300.0) {
            bad(
                at("timeout_s"),
                format!("sink {name}: timeout_s must be in (0, 300], got {timeout_s}"),
            );
        }
        sinks.push(SinkSpec {
            name,
            kind,
            url,
            command,
            headers,
            events,
            min_interval_s,
            timeout_s,
        });
    }
    AlertsConfig {
        sinks,
        queue,
        retry_for_s,
    }
}

/// A header name is an HTTP token; its value one line (no CR/LF that could inject headers).
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AlertsConfig, String> {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            alerts: RawAlerts,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let cfg = parse(doc.alerts, Path::new("a.toml"), text, &mut problems);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }

    #[test]
    fn sinks_and_defaults() {
        let c = load(
            "[alerts]\nqueue = 8\n\n[[alerts.sink]]\nkind = \"webhook\"\nurl = \"https://h/hook/SECRET\"\n\
             headers = { Authorization = \"Bearer T0KEN\" }\n\n[[alerts.sink]]\nkind = \"ntfy\"\n\
             url = \"https://ntfy.sh/topic\"\nevents = [\"signal_allowed\", \"module_stopped\"]\nmin_interval_s = 0\n\n\
             [[alerts.sink]]\nkind = \"command\"\nname = \"pager\"\ncommand = [\"/bin/true\"]\n",
        )
        .unwrap();
        assert_eq!(c.queue, 8);
        assert_eq!(c.sinks.len(), 3);
        assert_eq!(c.sinks[0].name, "webhook#1");
        assert_eq!(c.sinks[0].events, EventKind::default_set());
        assert!(!c.sinks[0].wants(EventKind::SignalAllowed));
        assert!(c.sinks[0].wants(EventKind::AlertTest));
        assert_eq!(
            c.sinks[0].headers,
            [("Authorization".to_string(), "Bearer T0KEN".to_string())]
        );
        assert_eq!(c.sinks[1].kind, SinkKind::Ntfy);
        assert_eq!(
            c.sinks[1].events,
            [EventKind::SignalAllowed, EventKind::ModuleStopped]
        );
        assert_eq!(c.sinks[1].min_interval_s, 0.0);
        assert_eq!(c.sinks[2].name, "pager");
        // Nothing secret in what is shown.
        let shown = format!("{:?} {}", c.sinks, c.sinks[0].shown());
        assert!(
            !shown.contains("SECRET") && !shown.contains("T0KEN") && !shown.contains("topic"),
            "{shown}"
        );
        assert_eq!(load("").unwrap(), AlertsConfig::default());
    }

    #[test]
    fn problems_name_the_sink_line() {
        let text = "[alerts]\n[[alerts.sink]]\nkind = \"webhook\"\nurl = \"https://h/x\"\n\
                    [[alerts.sink]]\nkind = \"ntfy\"\nurl = \"ftp://h/x?auth=SECRET\"\n\
                    [[alerts.sink]]\nkind = \"command\"\ncommand = []\n\
                    [[alerts.sink]]\nkind = \"pigeon\"\n\
                    [[alerts.sink]]\nkind = \"webhook\"\nurl = \"http://h\"\nevents = [\"everything\"]\n\
                    min_interval_s = -1\nheaders = { \"Bad Name\" = \"x\" }\n";
        let e = load(text).unwrap_err();
        for want in [
            "a.toml:7: sink ntfy#2: a ntfy sink needs url",
            "a.toml:10: sink command#3: a command sink needs command",
            "a.toml:12: [[alerts.sink]] kind must be",
            "a.toml:16: sink webhook#5: unknown event \"everything\"",
            "a.toml:17: sink webhook#5: min_interval_s",
            "a.toml:18: sink webhook#5: header",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
        assert!(!e.contains("SECRET"), "{e}");
        let e = load("[alerts]\nqueue = 0\n").unwrap_err();
        assert!(e.contains("a.toml:2:"), "{e}");
        let e = load("[alerts]\nbogus = 1\n").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }
}
