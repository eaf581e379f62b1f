//! The runtime state file (`runs/<run_id>/state/runtime_state.json`): written atomically by the
//! supervisor on every change and at least every few seconds, read by Eye (`/health`,
//! `/modules`) and by `aivex status`.
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
    pub modules: BTreeMap<String, ModuleStatus>,
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
        assert_eq!(RuntimeState::parse(&st.to_json()).unwrap(), st);
        let v: serde_json::Value = serde_json::from_slice(&st.to_json()).unwrap();
        assert_eq!(v["modules"]["news"]["state"], "LOOP_DETECTED");
        assert_eq!(v["modules"]["news"]["reason"], serde_json::Value::Null);

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
