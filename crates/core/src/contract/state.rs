//! The runtime state file (`runs/<run_id>/state/runtime_state.json`): written atomically by the
//! supervisor on every change and at least every few seconds, read by Eye (`/health`,
//! `/modules`, `/metrics`) and by `aivex status`; and Eye's health verdict
//! (`runs/<run_id>/state/health.json`), written by Eye when `/health` changes its mind and read
//! by the supervisor for the `health_degraded` / `health_recovered` alerts.
//!
//! It owns the document's field names and types. Readers accept documents with fields missing
//! or added (an older or newer supervisor), so every field has a default. It must not decide
//! health or policy: the supervisor fills it, Eye judges it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A module's supervision state as written (`RUNNING`, `CRASHED`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModuleState {
    Running,
    Crashed,
    Restarting,
    #[default]
    Stopped,
    LoopDetected,
    /// Not started yet because a module it `depends_on` is not ready (`waiting_for` names it).
    Waiting,
    /// A state this reader does not know (written by a newer supervisor).
    #[serde(other)]
    Unknown,
}

impl ModuleState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleState::Running => "RUNNING",
            ModuleState::Crashed => "CRASHED",
            ModuleState::Restarting => "RESTARTING",
            ModuleState::Stopped => "STOPPED",
            ModuleState::LoopDetected => "LOOP_DETECTED",
            ModuleState::Waiting => "WAITING",
            ModuleState::Unknown => "UNKNOWN",
        }
    }
}

/// How a module's last process ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LastExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// `exit 1`, `killed by signal 9`, `heartbeat stale`, ...
    pub reason: String,
    /// RFC 3339.
    pub at: Option<String>,
}

/// One module's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModuleStatus {
    pub state: ModuleState,
    /// Why it is STOPPED (`clean_exit`, `config_error`, `max_restarts`, ...); null otherwise.
    pub reason: Option<String>,
    pub pid: Option<i32>,
    /// `builtin` or `command`.
    pub kind: String,
    pub restarts: u32,
    pub consecutive_failures: u32,
    /// RFC 3339 of the current process's start.
    pub started_at: Option<String>,
    pub uptime_s: Option<f64>,
    pub last_exit: Option<LastExit>,
    pub heartbeat_age_s: Option<f64>,
    pub heartbeat_ttl_s: Option<f64>,
    pub next_restart_in_s: Option<f64>,
    pub stopping: bool,
    /// WAITING: the modules it `depends_on` that are not ready yet, comma-separated (`chart`).
    pub waiting_for: Option<String>,
    /// What the module's process group costs, summed over its processes from `/proc` at the
    /// last look (every status interval); null while it is not running or accounting is off.
    /// CPU seconds (user + system, reaped children included) of the current process group.
    pub cpu_s: Option<f64>,
    /// CPU use over the last status interval, in % of one core.
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Proportional set size: shared pages divided among the processes that map them.
    pub pss_bytes: Option<u64>,
    /// Open file descriptors.
    pub fds: Option<u32>,
    pub threads: Option<u32>,
    /// The manifest's `max_rss_mb`, when set.
    pub max_rss_mb: Option<u64>,
}

/// The alert queue's counters since the supervisor started (present when sinks are configured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AlertStats {
    pub sinks: u32,
    /// Deliveries that a sink accepted.
    pub sent: u64,
    /// Deliveries given up after retrying for the configured time.
    pub failed: u64,
    /// Alerts dropped because a queue was full (never delivered).
    pub dropped: u64,
    /// Deliveries waiting (queued or between retries).
    pub pending: u64,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RuntimeState {
    pub run_id: String,
    pub pid: u32,
    /// `continuous`, `once` or `dev`.
    pub mode: String,
    pub version: String,
    /// RFC 3339 and Unix seconds of this write: a reader tells a dead supervisor by its age.
    pub updated_at: String,
    pub updated_at_unix: Option<f64>,
    pub uptime_s: f64,
    pub config_path: String,
    pub config_hash: String,
    pub data_dir: String,
    pub shutting_down: bool,
    /// The box's node id (`AIVEX_NODE_ID`, else the host name), as alerts carry it.
    pub node_id: String,
    pub alerts: Option<AlertStats>,
    pub modules: BTreeMap<String, ModuleStatus>,
}

/// Eye's `/health` verdict, written by Eye when it changes (and refreshed while it holds), read
/// by the supervisor for the health alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HealthVerdict {
    pub healthy: bool,
    /// The checks that fail health (`modules`, `store`, ...), with their details.
    pub failing: Vec<String>,
    pub details: Vec<String>,
    /// Unix seconds of the evaluation.
    pub at_unix: f64,
}

impl HealthVerdict {
    pub fn parse(bytes: &[u8]) -> Result<HealthVerdict, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("health verdict is not valid: {e}"))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl RuntimeState {
    /// Parses a document; the error names what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<RuntimeState, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("runtime state is not valid: {e}"))
    }

    /// The document as written (pretty, for people reading the file).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_tolerant_reading() {
        let mut st = RuntimeState {
            run_id: "r1".into(),
            pid: 7,
            mode: "continuous".into(),
            version: "0.1.0".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            updated_at_unix: Some(1.5),
            shutting_down: true,
            ..Default::default()
        };
        st.modules.insert(
            "news".into(),
            ModuleStatus {
                state: ModuleState::LoopDetected,
                restarts: 5,
                last_exit: Some(LastExit {
                    code: Some(1),
                    reason: "exit 1".into(),
                    ..Default::default()
                }),
                heartbeat_ttl_s: Some(60.0),
                ..Default::default()
            },
        );
        st.modules.insert(
            "brain".into(),
            ModuleStatus {
                state: ModuleState::Waiting,
                waiting_for: Some("chart".into()),
                cpu_pct: Some(1.5),
                rss_bytes: Some(64 << 20),
                pss_bytes: Some(60 << 20),
                fds: Some(7),
                threads: Some(2),
                max_rss_mb: Some(100),
                ..Default::default()
            },
        );
        st.alerts = Some(AlertStats {
            sinks: 2,
            dropped: 3,
            ..Default::default()
        });
        assert_eq!(RuntimeState::parse(&st.to_json()).unwrap(), st);
        let v: serde_json::Value = serde_json::from_slice(&st.to_json()).unwrap();
        assert_eq!(v["modules"]["news"]["state"], "LOOP_DETECTED");
        assert_eq!(v["modules"]["news"]["reason"], serde_json::Value::Null);
        assert_eq!(v["modules"]["brain"]["state"], "WAITING");
        assert_eq!(v["modules"]["brain"]["waiting_for"], "chart");
        assert_eq!(v["modules"]["brain"]["rss_bytes"], 64 << 20);
        assert_eq!(v["alerts"]["dropped"], 3);
        let h = HealthVerdict {
            healthy: false,
            failing: vec!["store".into()],
            details: vec!["store: down".into()],
            at_unix: 5.0,
        };
        assert_eq!(HealthVerdict::parse(&h.to_json()).unwrap(), h);
        assert!(HealthVerdict::parse(b"[").is_err());

        // Older or newer writers: missing fields default, unknown ones and states are kept apart.
        let doc = json!({"run_id": "r2", "future": 1, "modules": {"x": {"state": "HIBERNATING", "cpu": 3}}});
        let st = RuntimeState::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(st.modules["x"].state, ModuleState::Unknown);
        assert_eq!(st.updated_at_unix, None);
        assert!(RuntimeState::parse(b"{not json")
            .unwrap_err()
            .contains("not valid"));
    }
}
