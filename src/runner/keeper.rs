//! The keeper thread of a module process.
//!
//! While a cycle runs it rewrites the heartbeat every TTL/4, so that a long but healthy cycle
//! (a slow download, a big batch) is not mistaken for a hung module. It does so only up to the
//! cycle timeout (`cycle_timeout_s`, default ten heartbeat TTLs): a cycle that runs longer is
//! recorded as a RecoverableError and the process exits 1, so a wedged module is still caught.
//! Once a stop was requested it exits the process cleanly (0) before the supervisor's grace
//! period ends, instead of waiting to be SIGKILLed.

use super::{write_heartbeat, RunnerEnv};
use aivex_core::ModuleError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Keeper {
    state: Arc<Mutex<Option<(u64, Instant)>>>,
}

/// How long a cycle may run when `cycle_timeout_s` is not set.
pub fn default_cycle_timeout(ttl: Option<Duration>) -> Duration {
    ttl.map_or(Duration::from_secs(3600), |t| {
        (t * 10).max(Duration::from_secs(60))
    })
}

impl Keeper {
    pub fn start(env: &RunnerEnv, stop: Arc<AtomicBool>) -> Keeper {
        let state: Arc<Mutex<Option<(u64, Instant)>>> = Arc::new(Mutex::new(None));
        let shared = state.clone();
        let timeout = env
            .cycle_timeout
            .unwrap_or_else(|| default_cycle_timeout(env.heartbeat_ttl));
        let beat_every = env.heartbeat_ttl.map(|t| t / 4);
        // Leave a margin inside the supervisor's grace for the exit itself.
        let stop_within = env.stop_grace.mul_f64(0.5);
        let snapshot = env.snapshot();
        let hb_file = env.heartbeat_file.clone();
        let _ = std::thread::Builder::new()
            .name("keeper".into())
            .spawn(move || {
                let mut stop_seen: Option<Instant> = None;
                let mut last_beat = Instant::now();
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let current = shared.lock().ok().and_then(|g| *g);
                    if stop.load(Ordering::SeqCst) {
                        let since = *stop_seen.get_or_insert_with(Instant::now);
                        if current.is_some() && since.elapsed() >= stop_within {
                            log::warn!(
                            "stop requested during a cycle that did not finish in {:.1}s: exiting",
                            stop_within.as_secs_f64()
                        );
                            std::process::exit(aivex_core::exit::OK);
                        }
                    }
                    let Some((cycle, started)) = current else {
                        continue;
                    };
                    if started.elapsed() >= timeout {
                        let err = ModuleError::Recoverable(format!(
                            "cycle {cycle} exceeded its timeout ({:.1}s, cycle_timeout_s)",
                            timeout.as_secs_f64()
                        ));
                        super::record(&snapshot, &err, Some(cycle));
                        std::process::exit(aivex_core::exit::RECOVERABLE);
                    }
                    if let (Some(every), Some(f)) = (beat_every, hb_file.as_ref()) {
                        if last_beat.elapsed() >= every {
                            write_heartbeat(f, cycle, "keeper");
                            last_beat = Instant::now();
                        }
                    }
                }
            });
        Keeper { state }
    }

    pub fn cycle_started(&self, cycle: u64) {
        if let Ok(mut g) = self.state.lock() {
            *g = Some((cycle, Instant::now()));
        }
    }

    pub fn cycle_ended(&self) {
        if let Ok(mut g) = self.state.lock() {
            *g = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timeout_scales_with_ttl() {
        assert_eq!(
            default_cycle_timeout(Some(Duration::from_secs(120))),
            Duration::from_secs(1200)
        );
        assert_eq!(
            default_cycle_timeout(Some(Duration::from_secs(1))),
            Duration::from_secs(60)
        );
        assert_eq!(default_cycle_timeout(None), Duration::from_secs(3600));
    }
}
