//! Start order with readiness, and stop order: when a module counts as ready for the modules
//! that `depends_on` it, which dependencies a waiting module still waits for, which modules may
//! be stopped now at shutdown (dependants first), and how often the shell looks for a
//! dependency's readiness. Pure functions of what the shell observed and of `now`; the graph
//! itself (cycles, unknown names, once mode's order) is checked by `config::deps`.
//!
//! It must not start, stop or look at anything: the loop (`timers.rs`) gathers the facts and
//! acts on the answers. A dependency that crash-loops only ever holds back modules that have
//! not started yet; nothing here restarts a running module.

use super::policy::{Mono, State, StopReason};
use crate::config::Ready;
use std::time::Duration;

/// What the shell knows of a dependency when it asks whether it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// RUNNING with a live process.
    pub running: bool,
    /// Its heartbeat file changed since its current process started.
    pub beaten: bool,
    /// STOPPED after exiting 0.
    pub exited_clean: bool,
    /// Its `ready = "file:PATH"` file exists (only looked at for that kind).
    pub file_exists: bool,
}

impl Facts {
    pub fn of(state: State, alive: bool, stop_reason: Option<StopReason>, beaten: bool) -> Facts {
        Facts {
            running: alive && state == State::Running,
            beaten,
            exited_clean: !alive
                && state == State::Stopped
                && stop_reason == Some(StopReason::CleanExit),
            file_exists: false,
        }
    }
}

/// Whether a dependency whose manifest says `ready` is ready now.
pub fn ready(ready: &Ready, f: Facts) -> bool {
    match ready {
        Ready::Heartbeat => f.running && f.beaten,
        Ready::Exit0 => f.exited_clean,
        Ready::File(_) => (f.running || f.exited_clean) && f.file_exists,
    }
}

/// The dependencies of a module that are not ready, in `depends_on` order, as the state shows
/// them (`chart, news`); None when it may start.
pub fn waiting_for<'a>(
    depends_on: &'a [String],
    is_ready: impl Fn(&str) -> bool,
) -> Option<String> {
    let missing: Vec<&'a str> = depends_on
        .iter()
        .map(String::as_str)
        .filter(|d| !is_ready(d))
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// At shutdown, whether `module` may be told to stop now: no module that depends on it is still
/// alive (dependants stop first, so the reverse of the start order). `modules` is
/// `(name, depends_on, alive)` of every module.
pub fn may_stop(module: &str, modules: &[(&str, &[String], bool)]) -> bool {
    !modules
        .iter()
        .any(|(_, deps, alive)| *alive && deps.iter().any(|d| d == module))
}

/// When to look again at a dependency someone waits for (its first heartbeat, its ready file):
/// soon after it started, then less and less often, so a module that is ready at once starts
/// its dependants within milliseconds and one that never gets ready costs about a look a
/// second.
pub fn next_readiness_look(now: Mono, started_at: Mono) -> Mono {
    let since = now.saturating_sub(started_at);
    now + (since / 2).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// The next point of a grid of `period` (counted from the supervisor's start) after `now`:
/// periodic work that is due on the same grid point runs in one wake-up.
pub fn grid_next(now: Mono, period: Duration) -> Mono {
    let p = period.as_nanos().max(1);
    let n = now.as_nanos() / p + 1;
    Duration::from_nanos(u64::try_from(n * p).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(running: bool, beaten: bool, exited_clean: bool, file_exists: bool) -> Facts {
        Facts {
            running,
            beaten,
            exited_clean,
            file_exists,
        }
    }

    #[test]
    fn readiness_table() {
        let file = Ready::File("ready.flag".into());
        // (ready kind, facts, ready?)
        let rows: &[(&Ready, Facts, bool)] = &[
            (&Ready::Heartbeat, f(true, true, false, false), true),
            (&Ready::Heartbeat, f(true, false, false, false), false),
            // Crashed, restarting or loop-detected: not ready, whatever it did before.
            (&Ready::Heartbeat, f(false, true, false, false), false),
            (&Ready::Heartbeat, f(false, false, true, false), false),
            (&Ready::Exit0, f(false, false, true, false), true),
            (&Ready::Exit0, f(true, true, false, false), false),
            (&Ready::Exit0, f(false, false, false, false), false),
            (&file, f(true, false, false, true), true),
            (&file, f(false, false, true, true), true),
            (&file, f(true, true, false, false), false),
            // A file left from an earlier run does not make a stopped module ready.
            (&file, f(false, false, false, true), false),
        ];
        for (kind, facts, want) in rows {
            assert_eq!(ready(kind, *facts), *want, "{kind:?} {facts:?}");
        }
        let st = |s, alive, r| Facts::of(s, alive, r, true);
        assert!(st(State::Running, true, None).running);
        assert!(!st(State::Restarting, false, None).running);
        assert!(st(State::Stopped, false, Some(StopReason::CleanExit)).exited_clean);
        assert!(!st(State::Stopped, false, Some(StopReason::Fatal)).exited_clean);
        assert!(!st(State::LoopDetected, false, None).exited_clean);
    }

    #[test]
    fn waiting_and_stop_order() {
        let deps = [
            "chart".to_string(),
            "news".to_string(),
            "metrics".to_string(),
        ];
        assert_eq!(
            waiting_for(&deps, |d| d == "news"),
            Some("chart, metrics".into())
        );
        assert_eq!(waiting_for(&deps, |_| true), None);
        assert_eq!(waiting_for(&[], |_| false), None);
        let brain = deps.to_vec();
        let none: Vec<String> = vec![];
        let mods = [
            ("chart", none.as_slice(), true),
            ("news", none.as_slice(), true),
            ("brain", brain.as_slice(), true),
            ("eye", none.as_slice(), true),
        ];
        // (module, may stop now?) while brain runs, then once brain is down.
        for (m, want) in [
            ("chart", false),
            ("news", false),
            ("brain", true),
            ("eye", true),
        ] {
            assert_eq!(may_stop(m, &mods), want, "{m}");
        }
        let mut down = mods;
        down[2].2 = false;
        assert!(may_stop("chart", &down));
    }

    #[test]
    fn look_schedules() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        // (now, started) -> next look
        for (now, started, next) in [
            (s(10), s(10), s(10) + ms(5)),
            (s(10) + ms(100), s(10), s(10) + ms(150)),
            (s(14), s(10), s(15)),
            (s(100), s(10), s(101)),
        ] {
            assert_eq!(next_readiness_look(now, started), next, "{now:?}");
        }
        for (now, period, next) in [
            (s(0), s(10), s(10)),
            (s(9), s(10), s(10)),
            (s(10), s(10), s(20)),
            (ms(12_345), s(30), s(30)),
            (s(31), ms(2500), ms(32_500)),
        ] {
            assert_eq!(grid_next(now, period), next, "{now:?} {period:?}");
        }
    }
}
