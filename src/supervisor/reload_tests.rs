//! Table tests of the reload plan: what a new configuration does to each module, and why.

use super::*;
use crate::config::{Run, SandboxSpec};

fn spec(name: &str, v: i64) -> ModuleSpec {
    ModuleSpec {
        name: name.into(),
        dir: format!("/mods/{name}").into(),
        manifest: format!("/mods/{name}/module.toml").into(),
        run: Run::Command(vec!["sleep".into(), "1000".into()]),
        interval_s: 60.0,
        heartbeat_ttl_s: None,
        required_env: vec![],
        env: vec![],
        no_restart_exit_codes: vec![2, 78],
        restart_on_fatal: false,
        settings: serde_json::json!({ "v": v }),
        sandbox: SandboxSpec::default(),
        supervision: Default::default(),
    }
}

/// How the supervisor has a module: (name, settings version it runs with, situation).
#[derive(Clone, Copy)]
enum Has {
    Running,
    /// Not alive, stopped or waiting for a retry: nothing holds it back.
    Idle,
    OperatorStopped,
    AwaitingStart,
    /// Removed by an earlier reload, still stopping.
    Removing,
}

fn current(name: &'static str, v: i64, has: Has) -> Current<'static> {
    Current {
        name,
        fingerprint: spec(name, v).fingerprint(),
        supervision: spec(name, v).supervision_fingerprint(),
        alive: matches!(has, Has::Running | Has::Removing),
        stopped_by_operator: matches!(has, Has::OperatorStopped),
        awaiting_start: matches!(has, Has::AwaitingStart),
        removing: matches!(has, Has::Removing),
    }
}

#[test]
fn plan_table() {
    use Change::*;
    // (the module as the supervisor has it, its settings version in the new config (None: not
    // enabled any more), the change)
    type Row = ((&'static str, i64, Has), Option<i64>, Change);
    let rows: &[Row] = &[
        (("a", 1, Has::Running), Some(1), Keep),
        (("a", 1, Has::Idle), Some(1), Keep),
        (("a", 1, Has::OperatorStopped), Some(1), Keep),
        (("a", 1, Has::Running), Some(2), Restart),
        (("a", 1, Has::Idle), Some(2), Restart),
        (("a", 1, Has::OperatorStopped), Some(2), Update),
        (("a", 1, Has::AwaitingStart), Some(2), Update),
        (("a", 1, Has::AwaitingStart), Some(1), Keep),
        (("a", 1, Has::Running), None, Stop),
        (("a", 1, Has::Idle), None, Stop),
        (("a", 1, Has::OperatorStopped), None, Stop),
        (("a", 1, Has::Removing), None, Stop),
        (("a", 1, Has::Removing), Some(1), Update),
        (("a", 1, Has::Removing), Some(2), Update),
    ];
    for &((name, v, has), new, want) in rows {
        let config: Vec<ModuleSpec> = new.map(|n| spec(name, n)).into_iter().collect();
        let got = plan(&[current(name, v, has)], &config);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].module, name);
        assert_eq!(got[0].change, want, "v{v} -> {new:?}");
        assert!(!got[0].why.is_empty());
    }
}

#[test]
fn plan_keeps_order_and_starts_added_modules_last() {
    let have = [
        current("a", 1, Has::Running),
        current("b", 1, Has::Running),
        current("c", 1, Has::Idle),
    ];
    let config = [spec("d", 1), spec("c", 2), spec("a", 1), spec("e", 1)];
    let got: Vec<(String, Change)> = plan(&have, &config)
        .into_iter()
        .map(|p| (p.module, p.change))
        .collect();
    let want: Vec<(String, Change)> = [
        ("a", Change::Keep),
        ("b", Change::Stop),
        ("c", Change::Restart),
        ("d", Change::Start),
        ("e", Change::Start),
    ]
    .into_iter()
    .map(|(m, c)| (m.to_string(), c))
    .collect();
    assert_eq!(got, want);
    // Nothing in, nothing out; a fresh config with nothing running starts everything.
    assert!(plan(&[], &[]).is_empty());
    let all = plan(&[], &[spec("x", 1)]);
    assert_eq!(
        (all[0].change, all[0].why),
        (Change::Start, "newly enabled")
    );
}

#[test]
fn supervision_keys_apply_without_a_restart() {
    let mut limited = spec("a", 1);
    limited.supervision.max_rss_mb = Some(64);
    for has in [Has::Running, Has::Idle, Has::OperatorStopped] {
        let got = plan(&[current("a", 1, has)], std::slice::from_ref(&limited));
        assert_eq!(got[0].change, Change::Apply);
        assert!(got[0].why.contains("without a restart"), "{}", got[0].why);
    }
    // With the run-affecting part changed too, it restarts (with the new supervision keys).
    let mut both = spec("a", 2);
    both.supervision.depends_on = vec!["b".into()];
    let got = plan(&[current("a", 1, Has::Running)], &[both]);
    assert_eq!(got[0].change, Change::Restart);
}

#[test]
fn a_changed_module_names_why() {
    let got = plan(&[current("a", 1, Has::OperatorStopped)], &[spec("a", 2)]);
    assert!(got[0].why.contains("operator"), "{}", got[0].why);
    let got = plan(&[current("a", 1, Has::Running)], &[spec("a", 2)]);
    assert!(got[0].why.contains("changed"), "{}", got[0].why);
}
