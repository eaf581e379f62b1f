//! The health verdict: a pure function of the supervisor's runtime state document, the last
//! store and freshness probes, the configuration and an explicit `now`.
//!
//! It owns which conditions fail which check (`modules`, `heartbeats`, `supervisor`, `store`,
//! `freshness`, `disk`) and the shape of the `/health` body. It must not read files, the clock or the
//! store: the caller gathers those inputs.

use aivex_core::contract::{ModuleState, ModuleStatus, RuntimeState};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The result of the last store probe, taken by the housekeeping cycle at `at_unix`.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub at_unix: f64,
    /// Err holds a message safe to show (no secrets).
    pub store: Result<(), String>,
    /// Newest `as_of` and row count per component kind, or why it could not be read.
    pub inputs: Result<BTreeMap<String, (i64, u64)>, String>,
    /// Bytes available to aivex on the data directory's filesystem, or why it is unknown.
    pub disk_free: Result<u64, String>,
    /// The cluster tables (None outside a cluster).
    pub cluster: Option<Result<crate::cluster::View, String>>,
}

/// Below this much free space on the data directory's filesystem the `disk` check fails: the
/// state file, the logs and the SQLite store can no longer be written reliably.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// What `evaluate` needs besides the state document.
pub struct Inputs<'a> {
    /// The parsed runtime_state.json, or why it is unavailable.
    pub state: Result<&'a RuntimeState, String>,
    pub probe: Option<&'a Probe>,
    pub now_unix: f64,
    pub state_stale_after_s: f64,
    /// A probe older than this means housekeeping stalled: its results no longer count.
    pub probe_stale_after_s: f64,
    pub freshness: &'a BTreeMap<String, f64>,
    pub fail_on: &'a [String],
    /// This box's node of a cluster, if it is one.
    pub cluster: Option<&'a aivex_core::contract::ClusterEnv>,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// STOPPED reasons that mean the module is down for good until someone acts.
const DOWN_REASONS: &[&str] = &["config_error", "max_restarts", "fatal", "failed"];

fn module_problem(name: &str, m: &ModuleStatus) -> Option<String> {
    let reason = m.reason.as_deref().unwrap_or("");
    match m.state {
        ModuleState::Running => None,
        ModuleState::LoopDetected => Some(format!("{name} is LOOP_DETECTED")),
        ModuleState::Crashed | ModuleState::Restarting => Some(format!(
            "{name} is {} (restarts {})",
            m.state.as_str(),
            m.restarts
        )),
        ModuleState::Stopped if DOWN_REASONS.contains(&reason) => {
            Some(format!("{name} is STOPPED ({reason})"))
        }
        ModuleState::Stopped => None,
        // Held back by a dependency: the dependency is the one that is down.
        ModuleState::Waiting => None,
        ModuleState::Unknown => Some(format!("{name} is in an unknown state")),
    }
}

fn heartbeat_problem(name: &str, m: &ModuleStatus) -> Option<String> {
    if m.state != ModuleState::Running {
        return None;
    }
    let (age, ttl) = (m.heartbeat_age_s?, m.heartbeat_ttl_s?);
    (age > ttl).then(|| format!("{name} heartbeat is {age:.1}s old (ttl {ttl}s)"))
}

fn module_summary(m: &ModuleStatus) -> Value {
    json!({
        "state": m.state,
        "reason": m.reason,
        "restarts": m.restarts,
        "heartbeat_age_s": m.heartbeat_age_s,
        "heartbeat_ttl_s": m.heartbeat_ttl_s,
        "last_exit": m.last_exit,
        "waiting_for": m.waiting_for,
    })
}

fn joined(problems: Vec<String>, fine: &str) -> (bool, String) {
    if problems.is_empty() {
        (true, fine.to_string())
    } else {
        (false, problems.join("; "))
    }
}

/// Returns (healthy, body). Healthy means no check named in `fail_on` failed.
pub fn evaluate(inp: &Inputs) -> (bool, Value) {
    let mut checks = Vec::new();
    let empty = BTreeMap::new();
    let modules = inp.state.as_ref().map_or(&empty, |s| &s.modules);

    let (ok, detail) = match &inp.state {
        Err(why) => (false, format!("module states unknown: {why}")),
        Ok(_) => joined(
            modules
                .iter()
                .filter_map(|(n, m)| module_problem(n, m))
                .collect(),
            &format!("{} modules, none down", modules.len()),
        ),
    };
    checks.push(Check {
        name: "modules",
        ok,
        detail,
    });

    let (ok, detail) = match &inp.state {
        Err(why) => (false, format!("heartbeats unknown: {why}")),
        Ok(_) => joined(
            modules
                .iter()
                .filter_map(|(n, m)| heartbeat_problem(n, m))
                .collect(),
            "every running module's heartbeat is within its ttl",
        ),
    };
    checks.push(Check {
        name: "heartbeats",
        ok,
        detail,
    });

    let fresh_probe = inp
        .probe
        .filter(|p| inp.now_unix - p.at_unix <= inp.probe_stale_after_s);
    // A full disk also stops the supervisor rewriting its state file: then an old file
    // does not mean the supervisor is gone.
    let disk_full =
        fresh_probe.is_some_and(|p| matches!(p.disk_free, Ok(free) if free < MIN_FREE_BYTES));
    let supervisor = match &inp.state {
        Err(why) => (false, format!("no supervisor state: {why}"), Value::Null),
        Ok(s) => {
            let age = s.updated_at_unix.map(|u| (inp.now_unix - u).max(0.0));
            let info = json!({
                "run_id": s.run_id,
                "pid": s.pid,
                "version": s.version,
                "updated_at": s.updated_at,
                "age_s": age.map(|a| (a * 10.0).round() / 10.0),
            });
            match age {
                None => (
                    false,
                    "runtime state has no updated_at_unix".to_string(),
                    info,
                ),
                Some(a) if a > inp.state_stale_after_s => (
                    false,
                    format!(
                        "runtime state is {a:.1}s old (limit {}s): {}",
                        inp.state_stale_after_s,
                        if disk_full {
                            "the supervisor cannot rewrite it while the data directory's \
                             filesystem is full (see disk)"
                        } else {
                            "the supervisor is gone"
                        }
                    ),
                    info,
                ),
                Some(_) if s.shutting_down => {
                    (false, "the supervisor is shutting down".to_string(), info)
                }
                Some(a) => (true, format!("runtime state is {a:.1}s old"), info),
            }
        }
    };
    checks.push(Check {
        name: "supervisor",
        ok: supervisor.0,
        detail: supervisor.1,
    });

    let (ok, detail) = match (inp.probe, fresh_probe) {
        (None, _) => (false, "store not probed yet".to_string()),
        (Some(p), None) => (
            false,
            format!(
                "last store probe is {:.0}s old: housekeeping stalled",
                inp.now_unix - p.at_unix
            ),
        ),
        (_, Some(p)) => match &p.store {
            Ok(()) => (true, "store reachable".to_string()),
            Err(e) => (false, e.clone()),
        },
    };
    checks.push(Check {
        name: "store",
        ok,
        detail,
    });

    let (ok, detail) = if inp.freshness.is_empty() {
        (true, "no freshness limits configured".to_string())
    } else {
        match fresh_probe.map(|p| &p.inputs) {
            None => (false, "inputs not probed recently".to_string()),
            Some(Err(e)) => (false, format!("inputs unknown: {e}")),
            Some(Ok(kinds)) => joined(
                inp.freshness
                    .iter()
                    .filter_map(|(kind, limit)| match kinds.get(kind) {
                        None => Some(format!("no {kind} inputs stored")),
                        Some((as_of, _)) => {
                            let age = inp.now_unix - *as_of as f64;
                            (age > *limit).then(|| {
                                format!("newest {kind} input is {age:.0}s old (limit {limit}s)")
                            })
                        }
                    })
                    .collect(),
                "every input kind is within its freshness limit",
            ),
        }
    };
    checks.push(Check {
        name: "freshness",
        ok,
        detail,
    });

    let (ok, detail) = match fresh_probe.map(|p| &p.disk_free) {
        None => (
            false,
            "data directory's free space not probed recently".to_string(),
        ),
        Some(Err(e)) => (false, format!("data directory's free space unknown: {e}")),
        Some(Ok(free)) if *free < MIN_FREE_BYTES => (
            false,
            format!(
                "the data directory's filesystem is full: {} KiB free (below {} KiB): the state \
                 file, logs and store cannot be written",
                free >> 10,
                MIN_FREE_BYTES >> 10
            ),
        ),
        Some(Ok(free)) => (
            true,
            format!("{} MiB free on the data directory's filesystem", free >> 20),
        ),
    };
    checks.push(Check {
        name: "disk",
        ok,
        detail,
    });

    let (ok, detail) =
        crate::cluster::check(inp.cluster, fresh_probe.and_then(|p| p.cluster.as_ref()));
    checks.push(Check {
        name: "cluster",
        ok,
        detail,
    });

    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok && inp.fail_on.iter().any(|f| f == c.name))
        .map(|c| c.name)
        .collect();
    let healthy = failing.is_empty();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "failing": failing,
        "checks": checks.iter().map(|c| json!({
            "name": c.name,
            "ok": c.ok,
            "fails_health": inp.fail_on.iter().any(|f| f == c.name),
            "detail": c.detail,
        })).collect::<Vec<_>>(),
        "supervisor": supervisor.2,
        "modules": modules.iter().map(|(n, m)| (n.clone(), module_summary(m))).collect::<Map<String, Value>>(),
    });
    (healthy, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(modules: Value, updated: f64) -> RuntimeState {
        let doc = json!({"run_id": "r1", "pid": 1, "updated_at_unix": updated, "shutting_down": false, "modules": modules});
        RuntimeState::parse(doc.to_string().as_bytes()).unwrap()
    }

    fn running(age: f64) -> Value {
        json!({"state": "RUNNING", "restarts": 0, "heartbeat_age_s": age, "heartbeat_ttl_s": 60.0, "last_exit": null})
    }

    #[test]
    fn an_old_state_file_on_a_full_disk_is_not_a_dead_supervisor() {
        let probe = |free| Probe {
            at_unix: 999.0,
            store: Ok(()),
            inputs: Ok(BTreeMap::new()),
            cluster: None,
            disk_free: Ok(free),
        };
        let detail = |p: &Probe| {
            let st = state(json!({}), 900.0);
            let (_, body) = evaluate(&Inputs {
                state: Ok(&st),
                probe: Some(p),
                now_unix: 1000.0,
                state_stale_after_s: 15.0,
                probe_stale_after_s: 30.0,
                freshness: &BTreeMap::new(),
                fail_on: &[],
                cluster: None,
            });
            body["checks"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["name"] == "supervisor"))
                .map(|c| {
                    (
                        c["ok"].clone(),
                        c["detail"].as_str().unwrap_or("").to_string(),
                    )
                })
                .unwrap()
        };
        let (ok, full) = detail(&probe(MIN_FREE_BYTES - 1));
        assert_eq!(ok, json!(false));
        assert!(full.ends_with("filesystem is full (see disk)"), "{full}");
        let (ok, gone) = detail(&probe(50 << 20));
        assert_eq!(ok, json!(false));
        assert!(gone.ends_with("the supervisor is gone"), "{gone}");
    }

    #[test]
    fn health_table() {
        let all: Vec<String> = crate::config::CHECKS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let only_store = vec!["store".to_string()];
        let now = 1000.0;
        let good_probe = Probe {
            at_unix: 999.0,
            store: Ok(()),
            inputs: Ok(BTreeMap::from([("news".to_string(), (900, 3))])),
            cluster: None,
            disk_free: Ok(50 << 20),
        };
        let disk_full = Probe {
            disk_free: Ok(MIN_FREE_BYTES - 1),
            ..good_probe.clone()
        };
        let disk_unknown = Probe {
            disk_free: Err("statvfs: permission denied".into()),
            ..good_probe.clone()
        };
        let bad_store = Probe {
            store: Err("database unavailable: x".into()),
            ..good_probe.clone()
        };
        let old_probe = Probe {
            at_unix: 100.0,
            ..good_probe.clone()
        };
        let fresh_news = BTreeMap::from([("news".to_string(), 200.0)]);
        let strict_news = BTreeMap::from([("news".to_string(), 50.0)]);
        let fresh_chart = BTreeMap::from([("chart".to_string(), 50.0)]);
        let none = BTreeMap::new();
        let ok_state = state(json!({"news": running(1.0)}), 998.0);
        type Case<'a> = (
            &'a str,
            RuntimeState,
            Option<&'a Probe>,
            &'a BTreeMap<String, f64>,
            &'a Vec<String>,
            &'a [&'a str],
        );
        let cases: Vec<Case> = vec![
            (
                "all good",
                ok_state.clone(),
                Some(&good_probe),
                &fresh_news,
                &all,
                &[],
            ),
            (
                "loop",
                state(json!({"news": {"state": "LOOP_DETECTED"}}), 998.0),
                Some(&good_probe),
                &none,
                &all,
                &["modules"],
            ),
            (
                "config stop",
                state(
                    json!({"news": {"state": "STOPPED", "reason": "config_error"}}),
                    998.0,
                ),
                Some(&good_probe),
                &none,
                &all,
                &["modules"],
            ),
            (
                "max restarts",
                state(
                    json!({"news": {"state": "STOPPED", "reason": "max_restarts"}}),
                    998.0,
                ),
                Some(&good_probe),
                &none,
                &all,
                &["modules"],
            ),
            (
                "clean stop is fine",
                state(
                    json!({"news": {"state": "STOPPED", "reason": "clean_exit"}}),
                    998.0,
                ),
                Some(&good_probe),
                &none,
                &all,
                &[],
            ),
            (
                "waiting for a dependency",
                state(
                    json!({"brain": {"state": "WAITING", "waiting_for": "chart"}}),
                    998.0,
                ),
                Some(&good_probe),
                &none,
                &all,
                &[],
            ),
            (
                "restarting",
                state(
                    json!({"news": {"state": "RESTARTING", "restarts": 2}}),
                    998.0,
                ),
                Some(&good_probe),
                &none,
                &all,
                &["modules"],
            ),
            (
                "stale heartbeat",
                state(json!({"news": running(61.0)}), 998.0),
                Some(&good_probe),
                &none,
                &all,
                &["heartbeats"],
            ),
            (
                "supervisor gone",
                state(json!({"news": running(1.0)}), 900.0),
                Some(&good_probe),
                &none,
                &all,
                &["supervisor"],
            ),
            (
                "store down",
                ok_state.clone(),
                Some(&bad_store),
                &none,
                &all,
                &["store"],
            ),
            (
                "probe stalled",
                ok_state.clone(),
                Some(&old_probe),
                &fresh_news,
                &all,
                &["store", "freshness", "disk"],
            ),
            (
                "never probed",
                ok_state.clone(),
                None,
                &none,
                &all,
                &["store", "disk"],
            ),
            (
                "disk full",
                ok_state.clone(),
                Some(&disk_full),
                &none,
                &all,
                &["disk"],
            ),
            (
                "disk unknown",
                ok_state.clone(),
                Some(&disk_unknown),
                &none,
                &all,
                &["disk"],
            ),
            (
                "disk full but not in fail_on",
                ok_state.clone(),
                Some(&disk_full),
                &none,
                &only_store,
                &[],
            ),
            (
                "news stale",
                ok_state.clone(),
                Some(&good_probe),
                &strict_news,
                &all,
                &["freshness"],
            ),
            (
                "chart missing",
                ok_state.clone(),
                Some(&good_probe),
                &fresh_chart,
                &all,
                &["freshness"],
            ),
            (
                "store only ignores loop",
                state(json!({"news": {"state": "LOOP_DETECTED"}}), 900.0),
                Some(&good_probe),
                &none,
                &only_store,
                &[],
            ),
        ];
        for (name, st, probe, fresh, fail_on, want) in cases {
            let (healthy, body) = evaluate(&Inputs {
                state: Ok(&st),
                probe,
                now_unix: now,
                state_stale_after_s: 15.0,
                probe_stale_after_s: 30.0,
                freshness: fresh,
                fail_on,
                cluster: None,
            });
            let failing: Vec<String> = body["failing"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                failing,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{name}: {body}"
            );
            assert_eq!(healthy, want.is_empty(), "{name}");
            assert_eq!(
                body["status"],
                if want.is_empty() { "ok" } else { "degraded" },
                "{name}"
            );
        }
    }

    #[test]
    fn missing_state_fails_supervisor_and_modules() {
        let all: Vec<String> = crate::config::CHECKS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let probe = Probe {
            at_unix: 10.0,
            store: Ok(()),
            inputs: Ok(BTreeMap::new()),
            cluster: None,
            disk_free: Ok(1 << 30),
        };
        let (healthy, body) = evaluate(&Inputs {
            state: Err("no such file".into()),
            probe: Some(&probe),
            now_unix: 10.0,
            state_stale_after_s: 15.0,
            probe_stale_after_s: 30.0,
            freshness: &BTreeMap::new(),
            fail_on: &all,
            cluster: None,
        });
        assert!(!healthy);
        assert_eq!(
            body["failing"],
            json!(["modules", "heartbeats", "supervisor"])
        );
    }
}
