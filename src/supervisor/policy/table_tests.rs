//! The whole transition table walked: every reachable situation of a module, fed every input
//! at several times, under the limit variants that change the policy's decisions (continuous,
//! once, restart_on_fatal). Every step must make only legal, chained transitions, keep
//! "alive ⇔ RUNNING", and never report an illegal transition; together the steps must use
//! every entry of the table and reach every state (so the table has no dead entries).

use super::*;
use crate::config::WatchdogConfig;
use std::collections::{BTreeSet, HashSet, VecDeque};

const STATES: [State; 5] = [
    State::Running,
    State::Crashed,
    State::Restarting,
    State::Stopped,
    State::LoopDetected,
];

fn inputs() -> Vec<Input> {
    let mut v = vec![
        Input::Start,
        Input::Spawned,
        Input::SpawnFailed {
            config: false,
            message: "fork failed".into(),
        },
        Input::SpawnFailed {
            config: true,
            message: "missing env".into(),
        },
        Input::Heartbeat,
        Input::MemoryLimit,
        Input::Stop,
        Input::Restart,
        Input::Reset,
        Input::Shutdown,
        Input::Tick,
        Input::Exited(Exit::signal(9)),
    ];
    for code in [0, 1, 2, 3, 75, 78, 42] {
        v.push(Input::Exited(Exit::code(code)));
    }
    v
}

/// Small limits so that every rule (backoff, crash loop, max restarts, heartbeat, grace,
/// healthy uptime) fires within a few steps.
fn limits(once: bool, restart_on_fatal: bool) -> Limits {
    let w = WatchdogConfig {
        max_restarts: 2,
        backoff_base_s: 1.0,
        backoff_cap_s: 4.0,
        heartbeat_ttl_s: 3.0,
        crash_loop_count: 3,
        crash_loop_window_s: 100.0,
        stop_grace_s: 2.0,
        healthy_after_s: 5.0,
        ..WatchdogConfig::default()
    };
    Limits::new(&w, None, &[2, 78], restart_on_fatal, once)
}

/// What distinguishes two situations for the policy's decisions (times and counters are cut
/// down to what can still matter under `limits`).
fn key(m: &Supervised) -> String {
    format!(
        "{:?} {:?} alive={} stopping={:?} next={:?} retry={} cf={} fr={} crashes={}",
        m.state,
        m.stop_reason,
        m.alive,
        m.stopping.map(|s| (s.why, s.killed)),
        m.next_spawn,
        m.retry_at.is_some(),
        m.consecutive_failures.min(4),
        m.failure_restarts.min(3),
        m.crashes.len().min(4),
    )
}

#[test]
fn every_state_and_input_makes_only_legal_transitions() {
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut reached: HashSet<&str> = HashSet::new();
    let mut situations = 0;
    for (once, fatal) in [(false, false), (true, false), (false, true)] {
        let l = limits(once, fatal);
        let start = (Supervised::default(), Duration::ZERO);
        let mut seen: HashSet<String> = HashSet::from([key(&start.0)]);
        let mut queue = VecDeque::from([start]);
        while let Some((m, now)) = queue.pop_front() {
            situations += 1;
            reached.insert(m.state.as_str());
            for input in inputs() {
                // Right away, after the grace/backoff/ttl but inside healthy_after, and long after.
                for dt in [0.0, 3.5, 1000.0] {
                    let at = now + Duration::from_secs_f64(dt);
                    let mut next = m.clone();
                    let actions = next.step(input.clone(), at, &l);
                    let mut state = m.state;
                    for a in &actions {
                        match a {
                            Action::IllegalTransition { from, to, reason } => panic!(
                                "illegal {from:?} -> {to:?} ({reason}) from {} on {input:?} at +{dt}s",
                                key(&m)
                            ),
                            Action::Transition { from, to, .. } => {
                                assert_eq!(*from, state, "unchained transition on {input:?}");
                                assert!(legal(*from, *to), "{from:?} -> {to:?} on {input:?}");
                                used.insert((from.as_str().into(), to.as_str().into()));
                                reached.insert(to.as_str());
                                state = *to;
                            }
                            _ => {}
                        }
                    }
                    assert_eq!(next.state, state, "state differs from the transitions");
                    assert_eq!(
                        next.alive,
                        next.state == State::Running,
                        "alive must mean RUNNING: {} after {input:?} from {}",
                        key(&next),
                        key(&m)
                    );
                    if seen.insert(key(&next)) {
                        queue.push_back((next, at));
                    }
                }
            }
        }
    }
    for s in STATES {
        assert!(reached.contains(s.as_str()), "{s:?} is never reached");
    }
    let table: BTreeSet<(String, String)> = STATES
        .iter()
        .flat_map(|&a| STATES.iter().map(move |&b| (a, b)))
        .filter(|&(a, b)| legal(a, b))
        .map(|(a, b)| (a.as_str().into(), b.as_str().into()))
        .collect();
    assert_eq!(used, table, "entries of the table no input uses");
    assert!(
        situations > 1000,
        "the walk saw only {situations} situations"
    );
}

#[test]
fn an_illegal_transition_is_ignored_and_reported() {
    let mut m = Supervised::default();
    assert!(!legal(State::Stopped, State::LoopDetected));
    let mut out = Vec::new();
    m.transition(State::LoopDetected, "test", &mut out);
    assert_eq!(m.state, State::Stopped);
    assert_eq!(
        out,
        vec![Action::IllegalTransition {
            from: State::Stopped,
            to: State::LoopDetected,
            reason: "test".into()
        }]
    );
}

#[test]
fn inputs_that_cannot_apply_change_nothing() {
    let l = limits(false, false);
    let idle = Supervised::default();
    let mut m = idle.clone();
    assert_eq!(
        m.step(Input::Exited(Exit::code(75)), Duration::ZERO, &l),
        vec![]
    );
    assert_eq!(m, idle);
    let mut live = Supervised::default();
    live.step(Input::Start, Duration::ZERO, &l);
    live.step(Input::Spawned, Duration::ZERO, &l);
    let before = live.clone();
    let failed = Input::SpawnFailed {
        config: false,
        message: "x".into(),
    };
    for input in [Input::Spawned, failed] {
        assert_eq!(live.step(input, Duration::from_secs(1), &l), vec![]);
        assert_eq!(live, before);
    }
}
