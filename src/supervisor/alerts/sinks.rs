//! What a sink receives and how it gets it: the alert as JSON (webhook body, command stdin), as
//! ntfy's text body with `Title`, `Priority` and `Tags` headers, and one delivery attempt per
//! kind. HTTP goes through `aivex_source::post` (the HTTP client room); commands through
//! `command.rs`. Errors are safe to log: endpoints are redacted, header values never shown.

use super::command::{self, Exits};
use super::limit::Summary;
use super::redact::Secrets;
use super::Alert;
use crate::config::{EventKind, SinkKind, SinkSpec};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Lines of a module's output an alert carries.
pub const TAIL_LINES: usize = 20;

/// ntfy refuses (or truncates) longer messages.
const NTFY_MAX: usize = 3900;

/// What every alert of a run shares.
pub struct Context {
    pub node: String,
    pub run_id: String,
    pub secrets: Secrets,
}

/// The stable id of an alert: the same alert (retried, or sent to several sinks) always has the
/// same id, two alerts never do.
pub fn event_id(node: &str, run_id: &str, seq: u64, event: EventKind, subject: &str) -> String {
    let mut h = Sha256::new();
    for part in [node, run_id, &seq.to_string(), event.as_str(), subject] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The last lines of a module's output, redacted (read when the alert is delivered, off the
/// supervisor loop).
pub fn tail(alert: &Alert, secrets: &Secrets) -> Vec<String> {
    match &alert.log {
        Some(log) => crate::supervisor::output::tail(log, TAIL_LINES, 16 * 1024)
            .iter()
            .map(|l| secrets.line(l))
            .collect(),
        None => Vec::new(),
    }
}

/// The JSON document of an alert (webhook body, command stdin).
pub fn document(alert: &Alert, ctx: &Context, tail: &[String], summary: &Summary) -> Value {
    let mut doc = json!({
        "event_id": event_id(&ctx.node, &ctx.run_id, alert.seq, alert.event, &alert.subject),
        "event": alert.event.as_str(),
        "node": ctx.node,
        "run_id": ctx.run_id,
        "at": alert.at,
        "subject": alert.subject,
        "text": headline(alert, ctx, summary),
    });
    if let Some(obj) = doc.as_object_mut() {
        for (k, v) in &alert.fields {
            obj.insert(k.clone(), v.clone());
        }
        if alert.log.is_some() {
            obj.insert("output_tail".into(), json!(tail));
        }
        if summary.changes > 1 {
            obj.insert(
                "summary".into(),
                json!({"changes": summary.changes, "since": summary.since}),
            );
        }
    }
    doc
}

/// One line saying what happened, with the flapping summary when there is one.
pub fn headline(alert: &Alert, ctx: &Context, summary: &Summary) -> String {
    let mut s = format!("[{}] {}", ctx.node, alert.headline);
    if summary.changes > 1 {
        s.push_str(&format!(
            " ({} changes since {}; this is the latest)",
            summary.changes,
            summary.since.as_deref().unwrap_or("?")
        ));
    }
    s
}

/// ntfy's priority (1 min .. 5 max) and tags (emoji short codes, then the event) per event.
fn ntfy_style(e: EventKind) -> (u8, &'static str) {
    match e {
        EventKind::ModuleLoopDetected => (5, "rotating_light"),
        EventKind::ModuleStopped | EventKind::HealthDegraded => (4, "warning"),
        EventKind::ModuleRecovered | EventKind::HealthRecovered => (3, "white_check_mark"),
        EventKind::SupervisorStarted => (2, "arrow_forward"),
        EventKind::SupervisorStopping => (3, "stop_sign"),
        EventKind::SignalAllowed => (3, "chart_with_upwards_trend"),
        EventKind::AlertTest => (2, "test_tube"),
    }
}

/// A header value must be one line of printable ASCII.
fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// ntfy's request: (text body, headers).
pub fn ntfy_message(
    alert: &Alert,
    ctx: &Context,
    doc: &Value,
    tail: &[String],
    summary: &Summary,
) -> (String, Vec<(String, String)>) {
    let (priority, emoji) = ntfy_style(alert.event);
    let mut body = headline(alert, ctx, summary);
    body.push_str(&format!(
        "\nevent_id {}",
        doc["event_id"].as_str().unwrap_or("")
    ));
    for line in tail {
        if body.len() + line.len() + 1 > NTFY_MAX {
            break;
        }
        body.push('\n');
        body.push_str(line);
    }
    let headers = vec![
        (
            "Title".to_string(),
            header_safe(&format!("aivex {}: {}", ctx.node, alert.event.as_str())),
        ),
        ("Priority".to_string(), priority.to_string()),
        (
            "Tags".to_string(),
            format!("{emoji},{}", alert.event.as_str()),
        ),
    ];
    (body, headers)
}

/// One delivery attempt to `sink`. Ok says how it went (`HTTP 200`, `exit 0`); Err why not,
/// safe to log.
pub fn deliver(
    sink: &SinkSpec,
    alert: &Alert,
    ctx: &Context,
    summary: &Summary,
    exits: Option<&Arc<Exits>>,
    inherit_stderr: bool,
) -> Result<String, String> {
    let timeout = Duration::from_secs_f64(sink.timeout_s);
    let ua = format!("aivex/{}", env!("CARGO_PKG_VERSION"));
    let tail = tail(alert, &ctx.secrets);
    let doc = document(alert, ctx, &tail, summary);
    match sink.kind {
        SinkKind::Webhook => {
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            aivex_source::post(
                &sink.url,
                &body,
                "application/json",
                &sink.headers,
                timeout,
                &ua,
            )
            .map(|s| format!("HTTP {s}"))
            .map_err(|e| e.to_string())
        }
        SinkKind::Ntfy => {
            let (body, mut headers) = ntfy_message(alert, ctx, &doc, &tail, summary);
            headers.extend(sink.headers.iter().cloned());
            aivex_source::post(
                &sink.url,
                body.as_bytes(),
                "text/plain; charset=utf-8",
                &headers,
                timeout,
                &ua,
            )
            .map(|s| format!("HTTP {s}"))
            .map_err(|e| e.to_string())
        }
        SinkKind::Command => {
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            command::run(&sink.command, &body, timeout, exits, inherit_stderr)
                .map_err(|e| format!("{}: {e}", sink.command[0]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(log: Option<std::path::PathBuf>) -> Alert {
        let mut fields = serde_json::Map::new();
        fields.insert("module".into(), json!("chart"));
        fields.insert("state".into(), json!("LOOP_DETECTED"));
        Alert {
            event: EventKind::ModuleLoopDetected,
            subject: "chart".into(),
            seq: 3,
            at: "2026-01-01T00:00:00.000Z".into(),
            fields,
            log,
            headline: "chart is LOOP_DETECTED (5 failures within 300s)".into(),
        }
    }

    #[test]
    fn documents_and_ntfy_messages() {
        let d = std::env::temp_dir().join(format!("aivex-sink-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let log = d.join("chart.log");
        let lines: Vec<String> = (0..30)
            .map(|i| format!("line {i} password=hunter{i}"))
            .collect();
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let ctx = Context {
            node: "box-1".into(),
            run_id: "r1".into(),
            secrets: Secrets::default(),
        };
        let a = alert(Some(log));
        let one = Summary {
            changes: 1,
            since: None,
        };
        let tail = tail(&a, &ctx.secrets);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[19], "line 29 password=***");
        let doc = document(&a, &ctx, &tail, &one);
        assert_eq!(doc["event"], "module_loop_detected");
        assert_eq!(doc["node"], "box-1");
        assert_eq!(doc["module"], "chart");
        assert_eq!(doc["output_tail"].as_array().unwrap().len(), 20);
        assert!(doc.get("summary").is_none());
        let id = doc["event_id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 16);
        // Stable: the same alert has the same id, another alert another one.
        assert_eq!(document(&a, &ctx, &tail, &one)["event_id"], id.as_str());
        let mut b = alert(None);
        b.seq = 4;
        assert_ne!(document(&b, &ctx, &[], &one)["event_id"], id.as_str());
        let many = Summary {
            changes: 3,
            since: Some("t0".into()),
        };
        let doc = document(&a, &ctx, &tail, &many);
        assert_eq!(doc["summary"]["changes"], 3);
        assert!(doc["text"].as_str().unwrap().contains("3 changes since t0"));
        let (body, headers) = ntfy_message(&a, &ctx, &doc, &tail, &many);
        assert!(body.starts_with("[box-1] chart is LOOP_DETECTED"), "{body}");
        assert!(
            body.contains(&id) && body.contains("line 29 password=***"),
            "{body}"
        );
        assert_eq!(
            headers[0],
            ("Title".into(), "aivex box-1: module_loop_detected".into())
        );
        assert_eq!(headers[1], ("Priority".into(), "5".into()));
        assert_eq!(
            headers[2],
            ("Tags".into(), "rotating_light,module_loop_detected".into())
        );
        assert_eq!(header_safe("naïve\nx"), "na?ve?x");
        let _ = std::fs::remove_dir_all(&d);
    }
}
