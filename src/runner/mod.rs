//! The module runner: `aivex module <name> [--once]`, what the supervisor runs for a built-in.
//!
//! Reads the environment contract (modules/README.md), constructs the module, and runs its cycle
//! at `AIVEX_INTERVAL_S`, rewriting the heartbeat file after every cycle and while it waits.
//! Every error a cycle returns is recorded (crash record + log line) and mapped to the exit code
//! aivex-core's table gives it; DataValidation errors are recorded and the module goes on. A
//! panic is recorded and exits 1. SIGTERM between cycles exits 0 at once; during a cycle the
//! module sees `should_stop()`, and a keeper thread exits the process before the supervisor's
//! grace runs out.

mod env;
mod keeper;

use aivex_core::{Ctx, CtxHooks, ModuleEnv, ModuleError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the runner knows besides the module's own `ModuleEnv`.
pub struct RunnerEnv {
    pub module: ModuleEnv,
    pub heartbeat_file: Option<PathBuf>,
    pub heartbeat_ttl: Option<Duration>,
    pub stop_grace: Duration,
    pub cycle_timeout: Option<Duration>,
    pub crash_keep: usize,
}

/// Runs a built-in module until it stops; returns the process exit code.
pub fn main(name: &str, once_flag: bool) -> i32 {
    let _ = aivex_platform::logging::init(aivex_platform::logging::LogOptions {
        default_level: "info",
        verbose: false,
    });
    let env = match env::read(name, once_flag) {
        Ok(e) => e,
        Err(err) => return finish_with(&fallback_env(name), &err, 0),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            log::warn!("cannot install signal handler: {e}");
        }
    }
    install_panic_hook(&env);
    let mut module = match crate::modules::construct(name, &env.module) {
        Ok(m) => m,
        Err(err) => return finish_with(&env, &err, 0),
    };
    let keeper = keeper::Keeper::start(&env, stop.clone());
    let mut hooks = Hooks {
        env: &env,
        stop: stop.clone(),
        last_beat: None,
        cycle: 0,
    };
    // No beat before the first cycle: a module's first heartbeat says its first cycle is done,
    // which is when the modules that depend on it may start (the keeper still beats during a
    // long first cycle, so it is never stale).
    log::info!(
        "module {name} running (interval {}s{})",
        env.module.interval_s,
        if env.module.once { ", once" } else { "" }
    );
    let mut cycle = 0u64;
    loop {
        cycle += 1;
        hooks.cycle = cycle;
        keeper.cycle_started(cycle);
        let started = Instant::now();
        let result = {
            let mut ctx = Ctx::new(&env.module, cycle, &mut hooks);
            module.cycle(&mut ctx)
        };
        keeper.cycle_ended();
        hooks.beat_now();
        match result {
            Ok(()) => log::debug!(
                "cycle {cycle} done in {:.3}s",
                started.elapsed().as_secs_f64()
            ),
            Err(err @ ModuleError::DataValidation(_)) => hooks.record(&err),
            Err(err) => return finish_with(&env, &err, cycle),
        }
        if env.module.once || stop.load(Ordering::SeqCst) {
            return aivex_core::exit::OK;
        }
        if !wait_interval(&mut hooks, &env, &stop) {
            log::info!("module {name}: stop requested, exiting");
            return aivex_core::exit::OK;
        }
    }
}

/// Sleeps one interval in short steps, beating as needed; false when a stop arrived.
fn wait_interval(hooks: &mut Hooks, env: &RunnerEnv, stop: &AtomicBool) -> bool {
    let end = Instant::now() + Duration::from_secs_f64(env.module.interval_s.max(0.0));
    while Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        hooks.beat();
        std::thread::sleep(
            Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
        );
    }
    !stop.load(Ordering::SeqCst)
}

/// Where a module whose environment could not be read records that error: the contract's
/// defaults for a module run by hand.
fn fallback_env(name: &str) -> RunnerEnv {
    let child = aivex_core::contract::ChildEnv {
        module: name.into(),
        ..Default::default()
    };
    env::from_child(&child, false).unwrap_or_else(|_| RunnerEnv {
        module: ModuleEnv {
            name: name.into(),
            ..Default::default()
        },
        heartbeat_file: None,
        heartbeat_ttl: None,
        stop_grace: Duration::from_secs_f64(child.stop_grace_s),
        cycle_timeout: None,
        crash_keep: child.crash_keep,
    })
}

/// Records a terminal error and returns its exit code.
fn finish_with(env: &RunnerEnv, err: &ModuleError, cycle: u64) -> i32 {
    record(env, err, (cycle > 0).then_some(cycle));
    err.exit_code().unwrap_or(aivex_core::exit::RECOVERABLE)
}

/// record_exception: one crash record + one line in errors/<module>.log, and a log line.
pub fn record(env: &RunnerEnv, err: &ModuleError, cycle: Option<u64>) {
    match err {
        ModuleError::DataValidation(_) => log::warn!("{err}"),
        _ => log::error!("{err}"),
    }
    let Some(run_dir) = env.module.run_dir.as_ref() else {
        return;
    };
    let rec = crate::records::CrashRecord {
        module: env.module.name.clone(),
        class: err.class().into(),
        message: err.message().into(),
        exit_code: err.exit_code(),
        signal: None,
        cycle,
        at: aivex_platform::time::now_rfc3339(),
        pid: std::process::id(),
        settings_hash: Some(settings_hash(&env.module.settings)),
        source: "module",
        output_tail: vec![],
    };
    if let Err(e) = crate::records::write(run_dir, &rec, env.crash_keep) {
        log::warn!("cannot write crash record: {e}");
    }
}

pub fn settings_hash(settings: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(settings.to_string().as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl RunnerEnv {
    /// What a record needs, for threads and hooks that outlive a borrow.
    fn snapshot(&self) -> RunnerEnv {
        RunnerEnv {
            module: self.module.clone(),
            heartbeat_file: None,
            heartbeat_ttl: None,
            stop_grace: self.stop_grace,
            cycle_timeout: None,
            crash_keep: self.crash_keep,
        }
    }
}

fn install_panic_hook(env: &RunnerEnv) {
    let snapshot = env.snapshot();
    std::panic::set_hook(Box::new(move |info| {
        let msg = format!("panic: {info}");
        record(&snapshot, &ModuleError::Recoverable(msg), None);
        // The release build aborts on panic; exit with the RecoverableError code instead so the
        // supervisor restarts with backoff like any crash.
        std::process::exit(aivex_core::exit::RECOVERABLE);
    }));
}

/// The runner's side of `Ctx`: throttled heartbeats, records, stop flag.
struct Hooks<'a> {
    env: &'a RunnerEnv,
    stop: Arc<AtomicBool>,
    last_beat: Option<Instant>,
    cycle: u64,
}

/// Rewrites the heartbeat file (temp file + rename: a new inode every time, so the
/// supervisor sees a change even on filesystems with coarse mtimes). `who` keeps the temp files
/// of the main thread and the keeper apart.
pub(crate) fn write_heartbeat(f: &std::path::Path, cycle: u64, who: &str) {
    let body = format!(
        "{} {} {}\n",
        std::process::id(),
        cycle,
        aivex_platform::time::now_rfc3339()
    );
    let tmp = f.with_extension(format!("{who}.tmp"));
    if std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, f))
        .is_err()
    {
        // A full disk has no room for a new file, but a new modification time needs none: the
        // supervisor sees the change, and a healthy module is not taken for a hung one.
        let _ = std::fs::remove_file(&tmp);
        let touched = std::fs::OpenOptions::new()
            .write(true)
            .open(f)
            .and_then(|h| h.set_modified(std::time::SystemTime::now()));
        if touched.is_err() {
            log::debug!("cannot write heartbeat file {}", f.display());
        }
    }
}

impl Hooks<'_> {
    fn beat_now(&mut self) {
        if let Some(f) = &self.env.heartbeat_file {
            write_heartbeat(f, self.cycle, "main");
        }
        self.last_beat = Some(Instant::now());
    }
}

impl CtxHooks for Hooks<'_> {
    fn beat(&mut self) {
        // Often enough for any TTL (a quarter of it), rarely enough to cost nothing.
        let every = self.env.heartbeat_ttl.map_or(Duration::from_secs(1), |t| {
            (t / 4).min(Duration::from_secs(1))
        });
        if self.last_beat.is_none_or(|t| t.elapsed() >= every) {
            self.beat_now();
        }
    }
    fn record(&mut self, err: &ModuleError) {
        record(self.env, err, Some(self.cycle));
    }
    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
