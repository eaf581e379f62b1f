//! The keeper thread of a module process. While a cycle runs it enforces `cycle_timeout_s` (a
//! cycle that runs too long is recorded and the process exits 1, so the supervisor restarts it
//! with backoff) and, once a stop was requested, exits the process cleanly before the
//! supervisor's grace period ends instead of waiting to be SIGKILLed.
//!
//! The keeper never writes heartbeats: a cycle that hangs must go stale so the watchdog sees it.

use super::RunnerEnv;
use aivex_core::ModuleError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Keeper {
    state: Arc<Mutex<Option<(u64, Instant)>>>,
}

impl Keeper {
    pub fn start(env: &RunnerEnv, stop: Arc<AtomicBool>) -> Keeper {
        let state: Arc<Mutex<Option<(u64, Instant)>>> = Arc::new(Mutex::new(None));
        let shared = state.clone();
        let timeout = env.cycle_timeout;
        // Leave a margin inside the supervisor's grace for the exit itself.
        let stop_within = env.stop_grace.mul_f64(0.5);
        let snapshot = RunnerEnv {
            module: env.module.clone(),
            heartbeat_file: None,
            heartbeat_ttl: None,
            stop_grace: env.stop_grace,
            cycle_timeout: None,
            crash_keep: env.crash_keep,
        };
        let _ = std::thread::Builder::new().name("keeper".into()).spawn(move || {
            let mut stop_seen: Option<Instant> = None;
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let current = shared.lock().ok().and_then(|g| *g);
                if stop.load(Ordering::SeqCst) {
                    let since = *stop_seen.get_or_insert_with(Instant::now);
                    if current.is_some() && since.elapsed() >= stop_within {
                        log::warn!("stop requested during a cycle that did not finish in {:.1}s: exiting", stop_within.as_secs_f64());
                        std::process::exit(aivex_core::exit::OK);
                    }
                }
                if let (Some(limit), Some((cycle, started))) = (timeout, current) {
                    if started.elapsed() >= limit {
                        let err = ModuleError::Recoverable(format!(
                            "cycle {cycle} exceeded cycle_timeout_s ({:.1}s)",
                            limit.as_secs_f64()
                        ));
                        super::record(&snapshot, &err, Some(cycle));
                        std::process::exit(aivex_core::exit::RECOVERABLE);
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
