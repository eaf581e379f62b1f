//! Table tests of the supervision policy on a simulated monotonic clock.

// Each test states the few knobs it changes from the defaults, one per line.
#![allow(clippy::field_reassign_with_default)]

use super::*;
use crate::config::WatchdogConfig;

fn s(x: f64) -> Mono {
    Duration::from_secs_f64(x)
}

fn limits() -> Limits {
    Limits::new(&WatchdogConfig::default(), None, &[2, 78], false, false)
}

/// A module that was spawned at `t`.
fn running(l: &Limits, t: f64) -> Supervised {
    let mut m = Supervised::default();
    assert_eq!(m.step(Input::Start, s(t), l), vec![Action::Spawn]);
    m.step(Input::Spawned, s(t), l);
    assert_eq!(m.state, State::Running);
    m
}

fn has(actions: &[Action], want: &Action) -> bool {
    actions.iter().any(|a| a == want)
}

#[test]
fn exit_code_table() {
    // (exit, restart_on_fatal, state after, stop reason, restart scheduled after)
    type Row = (Exit, bool, State, Option<StopReason>, Option<f64>);
    let rows: &[Row] = &[
        (
            Exit::code(0),
            false,
            State::Stopped,
            Some(StopReason::CleanExit),
            None,
        ),
        (Exit::code(1), false, State::Restarting, None, Some(10.0)),
        (Exit::signal(9), false, State::Restarting, None, Some(10.0)),
        (Exit::signal(11), false, State::Restarting, None, Some(10.0)),
        (Exit::code(75), false, State::Restarting, None, Some(5.0)),
        (
            Exit::code(2),
            false,
            State::Stopped,
            Some(StopReason::ConfigError),
            None,
        ),
        (
            Exit::code(78),
            false,
            State::Stopped,
            Some(StopReason::ConfigError),
            None,
        ),
        (
            Exit::code(3),
            false,
            State::Stopped,
            Some(StopReason::Fatal),
            None,
        ),
        (Exit::code(3), true, State::Restarting, None, Some(10.0)),
        (Exit::code(42), false, State::Restarting, None, Some(10.0)),
    ];
    for &(exit, fatal_restarts, state, reason, retry) in rows {
        let l = Limits::new(
            &WatchdogConfig::default(),
            None,
            &[2, 78],
            fatal_restarts,
            false,
        );
        let mut m = running(&l, 0.0);
        m.step(Input::Exited(exit), s(1.0), &l);
        assert_eq!(m.state, state, "{exit:?}");
        assert_eq!(m.stop_reason, reason, "{exit:?}");
        assert_eq!(m.retry_at, retry.map(|r| s(1.0 + r)), "{exit:?}");
        assert!(!m.alive);
    }
}

#[test]
fn custom_no_restart_codes() {
    let l = Limits::new(&WatchdogConfig::default(), None, &[2, 78, 64], false, false);
    let mut m = running(&l, 0.0);
    m.step(Input::Exited(Exit::code(64)), s(1.0), &l);
    assert_eq!(m.stop_reason, Some(StopReason::ConfigError));
}

#[test]
fn restarts_after_backoff_and_counts() {
    let l = limits();
    let mut m = running(&l, 0.0);
    let a = m.step(Input::Exited(Exit::code(1)), s(1.0), &l);
    assert!(has(
        &a,
        &Action::Transition {
            from: State::Running,
            to: State::Crashed,
            reason: "exit 1".into()
        }
    ));
    assert_eq!(m.step(Input::Tick, s(10.9), &l), vec![]);
    assert_eq!(m.step(Input::Tick, s(11.0), &l), vec![Action::Spawn]);
    m.step(Input::Spawned, s(11.0), &l);
    assert_eq!(
        (m.state, m.restarts, m.consecutive_failures),
        (State::Running, 1, 1)
    );
    // The second failure doubles the delay.
    m.step(Input::Exited(Exit::code(1)), s(12.0), &l);
    assert_eq!(m.retry_at, Some(s(32.0)));
}

#[test]
fn consecutive_failures_reset_after_healthy_uptime() {
    let l = limits(); // healthy_after 60 s
    let mut m = running(&l, 0.0);
    for t in [1.0, 20.0] {
        m.step(Input::Exited(Exit::code(1)), s(t), &l);
        let at = m.retry_at.unwrap();
        m.step(Input::Tick, at, &l);
        m.step(Input::Spawned, at, &l);
    }
    assert_eq!(m.consecutive_failures, 2);
    let started = m.started_at.unwrap();
    m.step(Input::Tick, started + s(59.9), &l);
    assert_eq!(m.consecutive_failures, 2);
    m.step(Input::Tick, started + s(60.0), &l);
    assert_eq!(m.consecutive_failures, 0);
    // The next crash starts the backoff over: base × 2^1.
    let t = started + s(61.0);
    m.step(Input::Exited(Exit::code(1)), t, &l);
    assert_eq!(m.retry_at, Some(t + s(10.0)));
}

#[test]
fn healthy_uptime_counts_even_without_a_tick() {
    let l = limits();
    let mut m = running(&l, 0.0);
    m.consecutive_failures = 4;
    m.step(Input::Exited(Exit::code(1)), s(100.0), &l);
    assert_eq!(m.consecutive_failures, 1);
    assert_eq!(m.retry_at, Some(s(110.0)));
}

/// Crashes at the given times (restarting in between, ignoring backoff) and returns the state.
fn crash_at(l: &Limits, times: &[f64]) -> Supervised {
    let mut m = running(l, 0.0);
    for &t in times {
        if !m.alive {
            m.step(Input::Start, s(t), l);
            m.step(Input::Spawned, s(t), l);
        }
        m.step(Input::Exited(Exit::code(1)), s(t), l);
    }
    m
}

#[test]
fn crash_loop_window_edges() {
    let mut w = WatchdogConfig::default();
    w.backoff_base_s = 0.0;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    // Five failures inside 300 s: loop.
    let m = crash_at(&l, &[0.0, 10.0, 20.0, 30.0, 299.9]);
    assert_eq!(m.state, State::LoopDetected);
    assert_eq!(m.retry_at, None);
    // The first one exactly 300 s before the fifth has left the window.
    let m = crash_at(&l, &[0.0, 10.0, 20.0, 30.0, 300.0]);
    assert_eq!(m.state, State::Restarting);
    // Four is not a loop.
    let m = crash_at(&l, &[0.0, 1.0, 2.0, 3.0]);
    assert_eq!(m.state, State::Restarting);
}

#[test]
fn loop_detected_waits_for_reset() {
    let mut w = WatchdogConfig::default();
    w.backoff_base_s = 0.0;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = crash_at(&l, &[0.0, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m.state, State::LoopDetected);
    assert_eq!(m.step(Input::Tick, s(10_000.0), &l), vec![]);
    assert_eq!(m.step(Input::Reset, s(10_001.0), &l), vec![Action::Spawn]);
    m.step(Input::Spawned, s(10_001.0), &l);
    assert_eq!(
        (m.state, m.restarts, m.consecutive_failures, m.crashes.len()),
        (State::Running, 0, 0, 0)
    );
}

#[test]
fn max_restarts_stops_for_good() {
    let mut w = WatchdogConfig::default();
    w.backoff_base_s = 0.0;
    w.max_restarts = 2;
    w.crash_loop_count = 100;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    for i in 0..3 {
        let t = i as f64 * 10.0;
        m.step(Input::Exited(Exit::code(1)), s(t + 1.0), &l);
        if m.state == State::Restarting {
            assert_eq!(m.step(Input::Tick, s(t + 1.0), &l), vec![Action::Spawn]);
            m.step(Input::Spawned, s(t + 1.0), &l);
        }
    }
    assert_eq!(
        (m.state, m.stop_reason, m.restarts),
        (State::Stopped, Some(StopReason::MaxRestarts), 2)
    );
    assert_eq!(m.step(Input::Tick, s(1000.0), &l), vec![]);
    assert_eq!(m.step(Input::Reset, s(1000.0), &l), vec![Action::Spawn]);
}

#[test]
fn transient_exits_never_trip_loop_or_max_restarts() {
    let mut w = WatchdogConfig::default();
    w.max_restarts = 1;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    let mut t = 0.0;
    for _ in 0..20 {
        t += 1.0;
        m.step(Input::Exited(Exit::code(75)), s(t), &l);
        assert_eq!(m.state, State::Restarting);
        assert_eq!(m.retry_at, Some(s(t + 5.0)));
        t += 5.0;
        m.step(Input::Tick, s(t), &l);
        m.step(Input::Spawned, s(t), &l);
    }
    assert_eq!(
        (m.restarts, m.failure_restarts, m.crashes.len()),
        (20, 0, 0)
    );
}

#[test]
fn stale_heartbeat_is_killed_and_restarted() {
    let mut w = WatchdogConfig::default();
    w.heartbeat_ttl_s = 10.0;
    w.stop_grace_s = 2.0;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    m.step(Input::Heartbeat, s(5.0), &l);
    assert_eq!(m.next_deadline(&l), Some(s(15.0)));
    assert_eq!(m.step(Input::Tick, s(14.9), &l), vec![]);
    let a = m.step(Input::Tick, s(15.0), &l);
    assert!(
        matches!(&a[0], Action::RecordCrash { reason } if reason.contains("stale heartbeat")),
        "{a:?}"
    );
    assert_eq!(a[1], Action::Term);
    assert_eq!(m.step(Input::Tick, s(16.0), &l), vec![]);
    assert_eq!(m.step(Input::Tick, s(17.0), &l), vec![Action::Kill]);
    m.step(Input::Exited(Exit::signal(9)), s(17.1), &l);
    assert_eq!(m.state, State::Restarting);
    assert!(m
        .last_exit
        .as_ref()
        .unwrap()
        .reason
        .starts_with("stale heartbeat"));
    assert_eq!(m.consecutive_failures, 1);
}

#[test]
fn memory_limit_stops_gracefully_and_restarts_as_a_failure() {
    let mut w = WatchdogConfig::default();
    w.stop_grace_s = 2.0;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::MemoryLimit, s(30.0), &l), vec![Action::Term]);
    // A second look above the limit while it stops changes nothing; an operator stop wins.
    assert_eq!(m.step(Input::MemoryLimit, s(31.0), &l), vec![]);
    assert_eq!(m.step(Input::Tick, s(32.0), &l), vec![Action::Kill]);
    m.step(Input::Exited(Exit::signal(15)), s(32.1), &l);
    assert_eq!(m.state, State::Restarting);
    assert_eq!(m.last_exit.as_ref().unwrap().reason, MEMORY_LIMIT);
    assert_eq!(m.consecutive_failures, 1);
    assert!(m.step(Input::Tick, s(60.0), &l).contains(&Action::Spawn));
    m.step(Input::Spawned, s(60.0), &l);
    assert_eq!(m.restarts, 1);
    // Not alive: nothing to stop.
    let mut idle = Supervised::default();
    assert_eq!(idle.step(Input::MemoryLimit, s(1.0), &l), vec![]);
    // The operator's stop is not downgraded by a memory look.
    let mut m = running(&l, 0.0);
    m.step(Input::Stop, s(1.0), &l);
    m.step(Input::MemoryLimit, s(1.5), &l);
    m.step(Input::Exited(Exit::code(0)), s(2.0), &l);
    assert_eq!(m.stop_reason, Some(StopReason::StoppedByOperator));
}

#[test]
fn heartbeat_override_and_disable() {
    let w = WatchdogConfig::default();
    let l = Limits::new(&w, Some(0.0), &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::Tick, s(1e6), &l), vec![]);
    let l = Limits::new(&w, Some(3.0), &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::Tick, s(3.0), &l)[1], Action::Term);
}

#[test]
fn only_monotonic_time_matters() {
    // Heartbeats are observed as "the file changed" on the monotonic clock; whatever the wall
    // clock did in between (a jump of hours), the policy only sees these offsets.
    let mut w = WatchdogConfig::default();
    w.heartbeat_ttl_s = 10.0;
    let l = Limits::new(&w, None, &[2, 78], false, false);
    let mut m = running(&l, 0.0);
    for t in 1..100 {
        m.step(Input::Heartbeat, s(t as f64 * 5.0), &l);
        assert_eq!(m.step(Input::Tick, s(t as f64 * 5.0 + 9.9), &l), vec![]);
    }
}

#[test]
fn operator_stop_escalates_to_kill() {
    let l = limits(); // grace 10 s
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::Stop, s(1.0), &l), vec![Action::Term]);
    assert_eq!(m.step(Input::Stop, s(2.0), &l), vec![]);
    assert_eq!(m.step(Input::Tick, s(10.9), &l), vec![]);
    assert_eq!(m.step(Input::Tick, s(11.0), &l), vec![Action::Kill]);
    m.step(Input::Exited(Exit::signal(9)), s(11.0), &l);
    assert_eq!(
        (m.state, m.stop_reason),
        (State::Stopped, Some(StopReason::StoppedByOperator))
    );
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!(m.step(Input::Start, s(20.0), &l), vec![Action::Spawn]);
}

#[test]
fn operator_restart_is_immediate_and_not_counted() {
    let l = limits();
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::Restart, s(1.0), &l), vec![Action::Term]);
    let a = m.step(Input::Exited(Exit::signal(15)), s(1.5), &l);
    assert_eq!(a.last(), Some(&Action::Spawn));
    m.step(Input::Spawned, s(1.5), &l);
    assert_eq!(
        (m.state, m.restarts, m.consecutive_failures),
        (State::Running, 0, 0)
    );
}

#[test]
fn shutdown_stops_everything() {
    let l = limits();
    let mut m = running(&l, 0.0);
    assert_eq!(m.step(Input::Shutdown, s(1.0), &l), vec![Action::Term]);
    m.step(Input::Exited(Exit::code(0)), s(1.2), &l);
    assert_eq!(m.stop_reason, Some(StopReason::Shutdown));
    // A module waiting for its retry just stops.
    let mut m = running(&l, 0.0);
    m.step(Input::Exited(Exit::code(1)), s(1.0), &l);
    m.step(Input::Shutdown, s(2.0), &l);
    assert_eq!((m.state, m.retry_at), (State::Stopped, None));
}

#[test]
fn once_mode_never_restarts() {
    let l = Limits::new(&WatchdogConfig::default(), None, &[2, 78], false, true);
    let rows = [
        (Exit::code(0), StopReason::CleanExit),
        (Exit::code(1), StopReason::Failed),
        (Exit::code(75), StopReason::Failed),
        (Exit::signal(9), StopReason::Failed),
        (Exit::code(2), StopReason::ConfigError),
        (Exit::code(3), StopReason::Fatal),
    ];
    for (exit, reason) in rows {
        let mut m = running(&l, 0.0);
        m.step(Input::Exited(exit), s(1.0), &l);
        assert_eq!(
            (m.state, m.stop_reason),
            (State::Stopped, Some(reason)),
            "{exit:?}"
        );
    }
}

#[test]
fn spawn_failures() {
    let l = limits();
    let mut m = Supervised::default();
    m.step(Input::Start, s(0.0), &l);
    m.step(
        Input::SpawnFailed {
            config: true,
            message: "missing AIVEX_X".into(),
        },
        s(0.0),
        &l,
    );
    assert_eq!(m.stop_reason, Some(StopReason::ConfigError));
    let mut m = Supervised::default();
    m.step(Input::Start, s(0.0), &l);
    m.step(
        Input::SpawnFailed {
            config: false,
            message: "ENOENT".into(),
        },
        s(0.0),
        &l,
    );
    assert_eq!(m.state, State::Restarting);
}

#[test]
fn transitions_are_legal() {
    use State::*;
    assert!(legal(Running, Crashed));
    assert!(!legal(Stopped, LoopDetected));
    assert!(!legal(LoopDetected, Restarting));
}
