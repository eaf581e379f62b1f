//! The watchdog supervisor: the imperative shell around `policy`.
//!
//! One loop on the main thread owns all supervision state. It waits on one channel of `Event`s
//! (signals from signal-hook, control requests from the socket thread) with a timeout that is the
//! earliest timer any module has, reads the monotonic clock once per turn, feeds the policy and
//! executes the actions it returns: spawn, signal, record, write state. Child exits are reaped
//! with waitpid(-1) when SIGCHLD wakes the loop. The loop runs on the main thread on purpose:
//! the parent-death signal of a child fires when the thread that forked it exits.

pub mod child;
mod heartbeat;
pub mod leftovers;
mod output;
pub mod policy;
pub mod rundir;
mod state;

use crate::config::{self, Config, ModuleSpec, Run};
use crate::control::{self, protocol::Request, server::Envelope};
use crate::records::{self, CrashRecord};
use aivex_platform::time::now_rfc3339;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use policy::{Action, Exit, Input, Limits, Mono, State, StopReason};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the supervisor runs its modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Continuous,
    Once,
    Dev,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "continuous" => Some(Mode::Continuous),
            "once" => Some(Mode::Once),
            "dev" => Some(Mode::Dev),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Continuous => "continuous",
            Mode::Once => "once",
            Mode::Dev => "dev",
        }
    }
}

/// Everything that can wake the loop. Timers are not events: they are the loop's timeout.
pub enum Event {
    Signal(i32),
    Control(Envelope),
}

/// How a supervisor run ended; the CLI turns it into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by SIGTERM/SIGINT after every module stopped.
    Stopped,
    /// Once mode: every module exited 0.
    OnceOk,
    /// Once mode: at least one module failed.
    OnceFailed,
    /// A second stop signal: modules were killed without waiting.
    Forced,
}

/// Why the supervisor could not run at all.
#[derive(Debug)]
pub enum SupervisorError {
    /// Another supervisor holds the data directory.
    Busy(String),
    Io(String),
}

impl std::fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SupervisorError::Busy(m) | SupervisorError::Io(m) => f.write_str(m),
        }
    }
}

/// How often the state file is rewritten even when nothing changed, so that readers (Eye's
/// health check) can tell a live supervisor from a dead one by `updated_at`.
const STATE_REFRESH: Duration = Duration::from_secs(5);

/// How often the disk budget of the data directory is enforced.
const BUDGET_EVERY: Duration = Duration::from_secs(60);

/// Keeps `runs/` within `[runtime] keep_runs` and `max_disk_mb`: old runs go first, then the
/// live run's rotated logs and oldest crash records. The live run itself is never removed.
fn enforce_budget(cfg: &Config, live: &Path) {
    let budget = aivex_platform::budget::Budget {
        max_total_bytes: cfg.runtime.max_disk_bytes,
        max_runs: cfg.runtime.keep_runs.max(1),
        protect: vec![live.to_path_buf()],
    };
    match aivex_platform::budget::enforce(&cfg.runtime.data_dir, &budget) {
        Ok(r) if !r.deleted.is_empty() => log::info!(
            "disk budget: removed {} item(s), freed {} bytes (runs/ now {} bytes{})",
            r.deleted.len(),
            r.freed_bytes,
            r.bytes_after,
            if r.over_budget {
                ", still over budget"
            } else {
                ""
            }
        ),
        Ok(r) if r.over_budget => log::warn!(
            "disk budget: runs/ uses {} bytes, over the budget, nothing left to remove",
            r.bytes_after
        ),
        Ok(_) => {}
        Err(e) => log::warn!("disk budget: {e}"),
    }
}

struct Slot {
    spec: ModuleSpec,
    limits: Limits,
    m: policy::Supervised,
    pid: Option<i32>,
    starttime: u64,
    hb_path: PathBuf,
    hb_sig: Option<heartbeat::Sig>,
    /// When the initial start is due (startup stagger).
    start_at: Option<Mono>,
    /// Removed from the config by a reload: forget the slot once it has stopped.
    removing: bool,
    /// A reload changed the spec while the process ran: use it for the next spawn.
    next_spec: Option<ModuleSpec>,
    last_exit_at: Option<String>,
    started_at: Option<String>,
}

pub struct Supervisor {
    cfg: Config,
    mode: Mode,
    run: rundir::RunDir,
    slots: Vec<Slot>,
    hub: output::Hub,
    self_exe: PathBuf,
    epoch: Instant,
    rx: Receiver<Event>,
    shutting_down: bool,
    dirty: bool,
    next_status: Mono,
    next_state_write: Mono,
    next_hb_poll: Mono,
    next_budget: Mono,
    builtins: &'static [&'static str],
    notifier: aivex_platform::notify::Notifier,
    all_started_notified: bool,
    loop_passes: u64,
    last_watchdog: Option<Instant>,
    _lock: std::fs::File,
}

fn limits_for(cfg: &Config, spec: &ModuleSpec, mode: Mode) -> Limits {
    Limits::new(
        &cfg.watchdog,
        spec.heartbeat_ttl_s,
        &spec.no_restart_exit_codes,
        spec.restart_on_fatal,
        mode == Mode::Once,
    )
}

/// Takes an exclusive lock on the data directory so two supervisors never share it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, SupervisorError> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(data_dir).map_err(|e| {
        SupervisorError::Io(format!(
            "cannot create data dir {}: {e}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join("supervisor.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| SupervisorError::Io(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(SupervisorError::Busy(format!(
            "another aivex supervisor (pid {}) is already running on data dir {}",
            holder.trim(),
            data_dir.display()
        )));
    }
    let _ = f.set_len(0);
    let _ = std::fs::write(&path, std::process::id().to_string());
    Ok(f)
}

/// Marks this executable's own file mappings MADV_RANDOM. The kernel then maps only the code
/// pages the supervisor really runs instead of "faulting around" each one (16 pages at a time),
/// which otherwise makes most of a multi-megabyte static binary resident in a process that
/// mostly sleeps. Modules (same binary) are unaffected: this is per process.
pub fn trim_resident_code() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let exe = exe.to_string_lossy();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if !line.ends_with(exe.as_ref()) || perms.contains('w') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        // SAFETY: advice on a mapping of our own, read-only; it changes no contents.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM);
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_PAGEOUT);
        }
    }
}

fn become_subreaper_and_raise_nofile() {
    // SAFETY: plain prctl/getrlimit/setrlimit calls with valid arguments.
    unsafe {
        // Orphaned grandchildren are re-parented to us, so we can reap them and they never
        // become init's zombies.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // Two descriptors per module (pipe, log): raise the soft limit to the hard one.
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

impl Supervisor {
    pub fn new(
        cfg: Config,
        mode: Mode,
        builtins: &'static [&'static str],
    ) -> Result<Supervisor, SupervisorError> {
        let data_dir = cfg.runtime.data_dir.clone();
        let lock = lock_data_dir(&data_dir)?;
        leftovers::reap_previous(&data_dir);
        become_subreaper_and_raise_nofile();
        let run = rundir::RunDir::create(&data_dir).map_err(|e| {
            SupervisorError::Io(format!(
                "cannot create run directory under {}: {e}",
                data_dir.display()
            ))
        })?;
        enforce_budget(&cfg, &run.dir);
        let names: Vec<String> = cfg.modules.iter().map(|m| m.name.clone()).collect();
        let boot = rundir::bootstrap_text(
            &run.id,
            &now_rfc3339(),
            &cfg.path,
            &cfg.hash,
            mode.as_str(),
            &names,
        );
        run.write_bootstrap(&boot)
            .map_err(|e| SupervisorError::Io(format!("cannot write BOOTSTRAP.md: {e}")))?;

        let (tx, rx) = crossbeam_channel::unbounded();
        start_signal_thread(tx.clone())?;
        let sock = control::socket_path(&data_dir);
        control::server::start(&sock, tx, Event::Control).map_err(|e| {
            SupervisorError::Io(format!(
                "cannot listen on control socket {}: {e}",
                sock.display()
            ))
        })?;
        let hub = output::Hub::start()
            .map_err(|e| SupervisorError::Io(format!("cannot start output capture: {e}")))?;
        let self_exe = std::env::current_exe()
            .map_err(|e| SupervisorError::Io(format!("cannot find own executable: {e}")))?;

        let stagger = if mode == Mode::Continuous {
            cfg.watchdog.start_stagger_s.max(0.0)
        } else {
            0.0
        };
        let slots = cfg
            .modules
            .iter()
            .enumerate()
            .map(|(i, spec)| Slot {
                limits: limits_for(&cfg, spec, mode),
                hb_path: run.heartbeat_file(&spec.name),
                spec: spec.clone(),
                m: policy::Supervised::default(),
                pid: None,
                starttime: 0,
                hb_sig: None,
                start_at: Some(Duration::from_secs_f64(stagger * i as f64)),
                removing: false,
                next_spec: None,
                last_exit_at: None,
                started_at: None,
            })
            .collect();
        log::info!(
            "supervisor started: run {} mode {} data dir {} ({} module(s))",
            run.id,
            mode.as_str(),
            data_dir.display(),
            cfg.modules.len()
        );
        Ok(Supervisor {
            cfg,
            mode,
            run,
            slots,
            hub,
            self_exe,
            epoch: Instant::now(),
            rx,
            shutting_down: false,
            dirty: true,
            next_status: Duration::ZERO,
            next_state_write: Duration::ZERO,
            next_hb_poll: Duration::ZERO,
            next_budget: BUDGET_EVERY,
            builtins,
            notifier: aivex_platform::notify::Notifier::from_env(),
            all_started_notified: false,
            loop_passes: 0,
            last_watchdog: None,
            _lock: lock,
        })
    }

    fn now(&self) -> Mono {
        self.epoch.elapsed()
    }

    /// Runs until stopped (continuous/dev) or until every module finished (once).
    pub fn run(mut self) -> Outcome {
        let outcome = loop {
            let now = self.now();
            let timeout = self.next_wakeup(now).saturating_sub(now);
            let event = match self.rx.recv_timeout(timeout) {
                Ok(e) => Some(e),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => None,
            };
            let now = self.now();
            if let Some(e) = event {
                if let Some(out) = self.handle(e, now) {
                    break out;
                }
            }
            // Drain whatever else arrived, so a burst of signals is one turn.
            while let Ok(e) = self.rx.try_recv() {
                if let Some(out) = self.handle(e, now) {
                    return self.finish(out);
                }
            }
            self.timers(now);
            if let Some(out) = self.finished() {
                break out;
            }
            self.loop_passes += 1;
            self.notify_watchdog();
            #[cfg(debug_assertions)]
            debug_wedge();
        };
        self.finish(outcome)
    }

    fn finish(mut self, outcome: Outcome) -> Outcome {
        self.write_state(self.now());
        leftovers::save(&self.cfg.runtime.data_dir, &[]);
        let _ = std::fs::remove_file(control::socket_path(&self.cfg.runtime.data_dir));
        let line = self.status_line();
        println!("{line}");
        log::info!("supervisor exiting: {outcome:?}");
        outcome
    }

    fn finished(&self) -> Option<Outcome> {
        let all_down = self.slots.iter().all(|s| !s.m.alive && s.pid.is_none());
        if self.shutting_down && all_down {
            return Some(Outcome::Stopped);
        }
        if self.mode == Mode::Once
            && all_down
            && self.slots.iter().all(|s| {
                s.start_at.is_none()
                    && s.m.state == State::Stopped
                    && s.m.stop_reason != Some(StopReason::NotStarted)
            })
        {
            let ok = self
                .slots
                .iter()
                .all(|s| s.m.stop_reason == Some(StopReason::CleanExit));
            return Some(if ok {
                Outcome::OnceOk
            } else {
                Outcome::OnceFailed
            });
        }
        None
    }

    fn next_wakeup(&self, now: Mono) -> Mono {
        let mut t = now + Duration::from_secs(60);
        t = t
            .min(self.next_status)
            .min(self.next_state_write)
            .min(self.next_budget);
        if self.slots.iter().any(|s| s.m.alive) {
            t = t.min(self.next_hb_poll);
        }
        for s in &self.slots {
            if let Some(a) = s.start_at {
                t = t.min(a);
            }
            if let Some(d) = s.m.next_deadline(&s.limits) {
                t = t.min(d);
            }
        }
        if let (Some(iv), Some(last)) = (self.notifier.watchdog_interval(), self.last_watchdog) {
            let due = last + iv;
            let in_ = due.saturating_duration_since(Instant::now());
            t = t.min(now + in_);
        }
        t.max(now)
    }

    /// Handles one event; `Some` ends the run.
    fn handle(&mut self, e: Event, now: Mono) -> Option<Outcome> {
        match e {
            Event::Signal(libc::SIGCHLD) => self.reap(now),
            Event::Signal(libc::SIGTERM) | Event::Signal(libc::SIGINT) => {
                if self.shutting_down {
                    log::warn!("second stop signal: killing every module now");
                    for s in &self.slots {
                        if let Some(pid) = s.pid {
                            child::signal_group(pid, libc::SIGKILL);
                        }
                    }
                    self.reap_blocking(Duration::from_secs(2));
                    return Some(Outcome::Forced);
                }
                self.shutdown(now);
            }
            Event::Signal(libc::SIGHUP) => {
                if let Err(e) = self.reload(now) {
                    log::error!(
                        "reload refused, still running on the previous configuration:\n{e}"
                    );
                }
            }
            Event::Signal(_) => {}
            Event::Control(env) => {
                let reply = self.control(env.request, now);
                let _ = env.reply.send(reply);
            }
        }
        None
    }

    fn shutdown(&mut self, now: Mono) {
        log::info!(
            "stopping: sending SIGTERM to every module (grace {:.1}s)",
            self.cfg.watchdog.stop_grace_s
        );
        self.shutting_down = true;
        self.notifier.stopping();
        for i in 0..self.slots.len() {
            self.slots[i].start_at = None;
            self.input(i, Input::Shutdown, now);
        }
    }

    /// Reaps every exited child; module leaders become Exited inputs, grandchildren re-parented
    /// to us (we are a subreaper) are just collected.
    fn reap(&mut self, now: Mono) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let exit = if libc::WIFEXITED(status) {
                Exit::code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Exit::signal(libc::WTERMSIG(status))
            } else {
                continue;
            };
            if let Some(i) = self.slots.iter().position(|s| s.pid == Some(pid)) {
                self.on_exit(i, exit, now);
            }
        }
    }

    fn reap_blocking(&mut self, deadline: Duration) {
        let end = Instant::now() + deadline;
        while self.slots.iter().any(|s| s.pid.is_some()) && Instant::now() < end {
            let now = self.now();
            self.reap(now);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn on_exit(&mut self, i: usize, exit: Exit, now: Mono) {
        let name = self.slots[i].spec.name.clone();
        // Whatever the module started dies with it: no orphan outlives its module.
        if let Some(pid) = self.slots[i].pid.take() {
            child::signal_group(pid, libc::SIGKILL);
        }
        self.hub.drain(&name, Duration::from_millis(200));
        self.slots[i].last_exit_at = Some(now_rfc3339());
        log::info!("module {name} exited: {}", policy::describe(exit));
        self.run
            .history(json!({"at": now_rfc3339(), "module": name, "event": "exit",
            "code": exit.code, "signal": exit.signal}));
        self.input(i, Input::Exited(exit), now);
        self.save_groups();
        if self.slots[i].removing && !self.slots[i].m.alive {
            self.slots.remove(i);
            self.dirty = true;
        }
    }

    /// Feeds one input to a module's policy and executes the resulting actions.
    fn input(&mut self, i: usize, input: Input, now: Mono) {
        let actions = {
            let s = &mut self.slots[i];
            s.m.step(input, now, &s.limits)
        };
        for a in actions {
            self.act(i, a, now);
        }
    }

    fn act(&mut self, i: usize, a: Action, now: Mono) {
        let name = self.slots[i].spec.name.clone();
        match a {
            Action::Spawn => self.spawn(i, now),
            Action::Term => {
                if let Some(pid) = self.slots[i].pid {
                    child::signal_group(pid, libc::SIGTERM);
                }
            }
            Action::Kill => {
                if let Some(pid) = self.slots[i].pid {
                    log::warn!(
                        "module {name} did not stop within {:.1}s: SIGKILL",
                        self.cfg.watchdog.stop_grace_s
                    );
                    child::signal_group(pid, libc::SIGKILL);
                }
            }
            Action::RecordCrash { reason } => self.record_crash(i, &reason),
            Action::IllegalTransition { from, to, reason } => log::error!(
                "module {name}: the policy asked for the illegal transition {} -> {} ({reason}); \
                 ignored, the module stays {} (a bug: please report it)",
                from.as_str(),
                to.as_str(),
                from.as_str()
            ),
            Action::Transition { from, to, reason } => {
                self.dirty = true;
                let level = if matches!(to, State::Crashed | State::LoopDetected) {
                    log::Level::Warn
                } else {
                    log::Level::Info
                };
                log::log!(
                    level,
                    "module {name}: {} -> {} ({reason})",
                    from.as_str(),
                    to.as_str()
                );
                self.run.history(
                    json!({"at": now_rfc3339(), "module": name, "event": "transition",
                    "from": from.as_str(), "to": to.as_str(), "reason": reason,
                    "restarts": self.slots[i].m.restarts}),
                );
            }
        }
    }

    fn record_crash(&mut self, i: usize, reason: &str) {
        let s = &self.slots[i];
        self.hub.drain(&s.spec.name, Duration::from_millis(200));
        let last = s.m.last_exit.as_ref();
        let stale = reason.starts_with("stale heartbeat");
        let rec = CrashRecord {
            module: s.spec.name.clone(),
            class: if stale {
                "StaleHeartbeat"
            } else if last.is_some_and(|e| e.exit.signal.is_some()) {
                "Signal"
            } else {
                "Exit"
            }
            .into(),
            message: reason.to_string(),
            exit_code: if stale {
                None
            } else {
                last.and_then(|e| e.exit.code)
            },
            signal: if stale {
                None
            } else {
                last.and_then(|e| e.exit.signal)
            },
            cycle: None,
            at: now_rfc3339(),
            pid: s.pid.map(|p| p as u32).unwrap_or(0),
            settings_hash: None,
            source: "supervisor",
            output_tail: output::tail(&self.run.log_file(&s.spec.name), 20, 8192),
        };
        if let Err(e) = records::write(&self.run.dir, &rec, self.cfg.runtime.crash_keep) {
            log::warn!("cannot write crash record for {}: {e}", rec.module);
        }
    }

    fn child_env(&self, spec: &ModuleSpec, limits: &Limits) -> child::ChildEnv {
        let mut vars: Vec<(String, OsString)> = vec![
            ("AIVEX_MODULE".into(), spec.name.clone().into()),
            ("AIVEX_RUN_DIR".into(), self.run.dir.clone().into()),
            ("AIVEX_RUN_ID".into(), self.run.id.clone().into()),
            (
                "AIVEX_DATA_DIR".into(),
                self.cfg.runtime.data_dir.clone().into(),
            ),
            ("AIVEX_CONFIG".into(), absolute(&self.cfg.path).into()),
            ("AIVEX_CONFIG_DIR".into(), absolute(&self.cfg.dir).into()),
            ("AIVEX_MODULE_DIR".into(), spec.dir.clone().into()),
            (
                "AIVEX_HEARTBEAT_FILE".into(),
                self.run.heartbeat_file(&spec.name).into(),
            ),
            (
                "AIVEX_HEARTBEAT_TTL_S".into(),
                limits
                    .heartbeat_ttl
                    .map_or(0.0, |d| d.as_secs_f64())
                    .to_string()
                    .into(),
            ),
            (
                "AIVEX_INTERVAL_S".into(),
                spec.interval_s.to_string().into(),
            ),
            ("AIVEX_SETTINGS".into(), spec.settings.to_string().into()),
            (
                "AIVEX_DATABASE_URL".into(),
                self.cfg.database.url.clone().into(),
            ),
            (
                "AIVEX_SUPERVISOR_PID".into(),
                std::process::id().to_string().into(),
            ),
            (
                "AIVEX_EXPORTS".into(),
                self.cfg.runtime.exports.to_string().into(),
            ),
            (
                "AIVEX_REQUIRED_ENV".into(),
                spec.required_env.join(",").into(),
            ),
            (
                "AIVEX_STOP_GRACE_S".into(),
                self.cfg.watchdog.stop_grace_s.to_string().into(),
            ),
            (
                "AIVEX_CRASH_KEEP".into(),
                self.cfg.runtime.crash_keep.to_string().into(),
            ),
        ];
        if let Some(t) = spec.sandbox.cycle_timeout_s {
            vars.push(("AIVEX_CYCLE_TIMEOUT_S".into(), t.to_string().into()));
        }
        if self.mode == Mode::Once {
            vars.push(("AIVEX_ONCE".into(), "1".into()));
        }
        if self.mode == Mode::Dev
            && std::env::var_os("AIVEX_LOG").is_none()
            && std::env::var_os("RUST_LOG").is_none()
        {
            vars.push(("AIVEX_LOG".into(), "debug".into()));
        }
        child::ChildEnv { vars }
    }

    fn spawn(&mut self, i: usize, now: Mono) {
        if let Some(next) = self.slots[i].next_spec.take() {
            self.slots[i].limits = limits_for(&self.cfg, &next, self.mode);
            self.slots[i].spec = next;
        }
        let spec = self.slots[i].spec.clone();
        let missing: Vec<&str> = spec
            .required_env
            .iter()
            .filter(|v| std::env::var_os(v).is_none())
            .map(String::as_str)
            .collect();
        let result = if !missing.is_empty() {
            Err(child::SpawnError {
                config: true,
                message: format!(
                    "missing required environment variable(s): {}",
                    missing.join(", ")
                ),
            })
        } else if spec.sandbox.mode == config::SandboxMode::Docker {
            child::docker_reachable().map_err(|m| child::SpawnError {
                config: true,
                message: m,
            })
        } else {
            Ok(())
        }
        .and_then(|()| {
            let env = self.child_env(&spec, &self.slots[i].limits);
            let log = self.run.log_file(&spec.name);
            let pipe = self
                .hub
                .pipe_for(
                    &spec.name,
                    log,
                    self.cfg.runtime.log_max_bytes,
                    self.cfg.runtime.log_keep,
                )
                .map_err(|e| child::SpawnError {
                    config: false,
                    message: format!("cannot create output pipe: {e}"),
                })?;
            if spec.sandbox.mode == config::SandboxMode::None {
                if let Run::Command(_) = spec.run {
                    warn_unsandboxed_once(&spec.name);
                }
            }
            child::spawn(&spec, &self.self_exe, &env, pipe, &self.run.dir)
        });
        match result {
            Ok(started) => {
                let s = &mut self.slots[i];
                s.pid = Some(started.pid);
                s.starttime = started.starttime;
                // Record the group before anything else: if we are SIGKILLed from here on, the
                // next supervisor can still clean up what this module starts.
                self.save_groups();
                let s = &mut self.slots[i];
                s.hb_sig = heartbeat::look(&s.hb_path);
                s.started_at = Some(now_rfc3339());
                log::info!("module {} started: pid {}", spec.name, started.pid);
                self.run.history(json!({"at": now_rfc3339(), "module": spec.name, "event": "start", "pid": started.pid}));
                self.input(i, Input::Spawned, now);
            }
            Err(e) => {
                log::error!("module {}: {}", spec.name, e.message);
                self.input(
                    i,
                    Input::SpawnFailed {
                        config: e.config,
                        message: e.message,
                    },
                    now,
                );
            }
        }
    }

    fn save_groups(&self) {
        let groups: Vec<leftovers::Group> = self
            .slots
            .iter()
            .filter_map(|s| {
                Some(leftovers::Group {
                    module: s.spec.name.clone(),
                    pgid: s.pid?,
                    starttime: s.starttime,
                })
            })
            .collect();
        leftovers::save(&self.cfg.runtime.data_dir, &groups);
    }

    /// Runs every timer that is due: starts, heartbeat looks, policy ticks, status, state.
    fn timers(&mut self, now: Mono) {
        for i in 0..self.slots.len() {
            if self.slots[i].start_at.is_some_and(|t| t <= now) && !self.shutting_down {
                // Once mode is a pipeline run: modules go one after another in `enabled`
                // order, so each one sees what the ones before it stored.
                if self.mode == Mode::Once && self.slots.iter().any(|s| s.m.alive) {
                    break;
                }
                self.slots[i].start_at = None;
                self.input(i, Input::Start, now);
                if self.mode == Mode::Once {
                    break;
                }
            }
        }
        if now >= self.next_hb_poll {
            for i in 0..self.slots.len() {
                if self.slots[i].m.alive {
                    let sig = heartbeat::look(&self.slots[i].hb_path);
                    if heartbeat::changed(self.slots[i].hb_sig, sig) {
                        self.slots[i].hb_sig = sig;
                        self.input(i, Input::Heartbeat, now);
                    }
                }
            }
            self.next_hb_poll = now + self.hb_poll_interval();
        }
        for i in 0..self.slots.len() {
            self.input(i, Input::Tick, now);
        }
        if now >= self.next_status {
            let line = self.status_line();
            println!("{line}");
            self.notifier.status(&line);
            self.next_status =
                now + Duration::from_secs_f64(self.cfg.watchdog.status_interval_s.max(0.1));
        }
        if now >= self.next_budget {
            enforce_budget(&self.cfg, &self.run.dir);
            self.next_budget = now + BUDGET_EVERY;
        }
        if self.dirty || now >= self.next_state_write {
            self.write_state(now);
        }
        // READY once every enabled module has been started (and the state file says so).
        if !self.all_started_notified && self.slots.iter().all(|s| s.start_at.is_none()) {
            self.all_started_notified = true;
            self.notifier.ready();
            // Start-up code (config parsing, spawning) is done: let its pages go.
            trim_resident_code();
        }
    }

    fn hb_poll_interval(&self) -> Duration {
        let min_ttl = self
            .slots
            .iter()
            .filter_map(|s| s.limits.heartbeat_ttl)
            .min()
            .unwrap_or(Duration::from_secs(120));
        (min_ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(2))
    }

    fn notify_watchdog(&mut self) {
        // A ping only after a full pass of the loop: a wedged loop stops pinging and systemd
        // restarts us.
        if let Some(iv) = self.notifier.watchdog_interval() {
            let due = self.last_watchdog.is_none_or(|t| t.elapsed() >= iv);
            if due {
                self.notifier.watchdog();
                self.last_watchdog = Some(Instant::now());
            }
        }
    }

    fn views(&self) -> Vec<state::View<'_>> {
        self.slots
            .iter()
            .map(|s| state::View {
                name: &s.spec.name,
                m: &s.m,
                pid: s.pid,
                kind: match s.spec.run {
                    Run::Builtin(_) => "builtin",
                    Run::Command(_) => "command",
                },
                heartbeat_ttl_s: s.limits.heartbeat_ttl.map(|d| d.as_secs_f64()),
                last_exit_at: s.last_exit_at.as_deref(),
                started_at: s.started_at.as_deref(),
            })
            .collect()
    }

    fn status_line(&self) -> String {
        state::status_line(&self.views())
    }

    fn state_json(&self, now: Mono) -> Value {
        let mut modules = serde_json::Map::new();
        for v in self.views() {
            modules.insert(v.name.to_string(), state::module_json(&v, now));
        }
        json!({
            "run_id": self.run.id,
            "pid": std::process::id(),
            "mode": self.mode.as_str(),
            "version": env!("CARGO_PKG_VERSION"),
            "updated_at": now_rfc3339(),
            "updated_at_unix": aivex_platform::time::now_unix(),
            "uptime_s": now.as_secs_f64(),
            "config_path": absolute(&self.cfg.path),
            "config_hash": self.cfg.hash,
            "data_dir": self.cfg.runtime.data_dir,
            "shutting_down": self.shutting_down,
            "modules": modules,
        })
    }

    fn write_state(&mut self, now: Mono) {
        let st = self.state_json(now);
        if let Err(e) = self.run.write_state(&st) {
            log::warn!("cannot write runtime state: {e}");
        }
        self.dirty = false;
        self.next_state_write = now + STATE_REFRESH;
    }

    fn find(&self, module: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == module)
    }

    fn control(&mut self, req: Request, now: Mono) -> Value {
        use control::protocol::{err, ok};
        let by_name = |me: &Self, m: &str| -> Result<usize, Value> {
            me.find(m).ok_or_else(|| {
                let known: Vec<&str> = me.slots.iter().map(|s| s.spec.name.as_str()).collect();
                err(format!(
                    "unknown module {m:?} (modules: {})",
                    known.join(", ")
                ))
            })
        };
        let result = match req {
            Request::Status => return ok(json!({ "state": self.state_json(now) })),
            Request::Reload => {
                return match self.reload(now) {
                    Ok(summary) => ok(json!({ "reload": summary })),
                    Err(e) => err(format!(
                        "reload refused, still running on the previous configuration: {e}"
                    )),
                }
            }
            Request::Start { module } => by_name(self, &module).map(|i| {
                self.slots[i].start_at = None;
                (i, Input::Start, "start")
            }),
            Request::Stop { module } => by_name(self, &module).map(|i| {
                self.slots[i].start_at = None;
                (i, Input::Stop, "stop")
            }),
            Request::Restart { module } => {
                by_name(self, &module).map(|i| (i, Input::Restart, "restart"))
            }
            Request::Reset { module } => by_name(self, &module).map(|i| (i, Input::Reset, "reset")),
        };
        match result {
            Err(e) => e,
            Ok(_) if self.shutting_down => err("supervisor is shutting down"),
            Ok((i, input, verb)) => {
                log::info!("control: {verb} {}", self.slots[i].spec.name);
                self.run.history(
                    json!({"at": now_rfc3339(), "module": self.slots[i].spec.name, "event": verb}),
                );
                self.input(i, input, now);
                let v = self.views();
                ok(json!({ "module": v[i].name, "status": state::module_json(&v[i], now) }))
            }
        }
    }

    /// Reloads the configuration: restarts only modules whose spec changed, starts added ones,
    /// stops removed ones. On an invalid config nothing changes.
    fn reload(&mut self, now: Mono) -> Result<Value, String> {
        self.notifier.reloading();
        let loaded = config::load(&self.cfg.path, self.builtins, &|k| std::env::var(k).ok())
            .map_err(|e| e.to_string());
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                self.notifier.ready();
                return Err(e);
            }
        };
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        let new = loaded.config;
        if new.runtime.data_dir != self.cfg.runtime.data_dir {
            log::warn!("reload: data_dir changed; it takes effect at the next start of aivex");
        }
        let (mut changed, mut added, mut removed) = (vec![], vec![], vec![]);
        let old_cfg = std::mem::replace(&mut self.cfg, new);
        self.cfg.runtime.data_dir = old_cfg.runtime.data_dir.clone();
        for i in 0..self.slots.len() {
            let name = self.slots[i].spec.name.clone();
            match self.cfg.module(&name).cloned() {
                None => {
                    removed.push(name);
                    self.slots[i].removing = true;
                    self.slots[i].start_at = None;
                    self.input(i, Input::Stop, now);
                }
                Some(spec) if spec.fingerprint() != self.slots[i].spec.fingerprint() => {
                    changed.push(name);
                    let operator_stopped =
                        self.slots[i].m.stop_reason == Some(StopReason::StoppedByOperator);
                    if self.slots[i].m.alive {
                        self.slots[i].next_spec = Some(spec);
                        self.input(i, Input::Restart, now);
                    } else {
                        self.slots[i].limits = limits_for(&self.cfg, &spec, self.mode);
                        self.slots[i].spec = spec;
                        if !operator_stopped && self.slots[i].start_at.is_none() {
                            self.input(i, Input::Restart, now);
                        }
                    }
                }
                Some(spec) => {
                    // Global watchdog knobs may have changed: new limits, same state.
                    self.slots[i].limits = limits_for(&self.cfg, &spec, self.mode);
                }
            }
        }
        self.slots
            .retain(|s| !(s.removing && !s.m.alive && s.pid.is_none()));
        for spec in self.cfg.modules.clone() {
            if self.find(&spec.name).is_none() {
                added.push(spec.name.clone());
                self.slots.push(Slot {
                    limits: limits_for(&self.cfg, &spec, self.mode),
                    hb_path: self.run.heartbeat_file(&spec.name),
                    spec,
                    m: policy::Supervised::default(),
                    pid: None,
                    starttime: 0,
                    hb_sig: None,
                    start_at: Some(now),
                    removing: false,
                    next_spec: None,
                    last_exit_at: None,
                    started_at: None,
                });
            }
        }
        self.dirty = true;
        let summary = json!({"changed": changed, "added": added, "removed": removed, "config_hash": self.cfg.hash});
        log::info!("reloaded configuration: {summary}");
        self.run
            .history(json!({"at": now_rfc3339(), "event": "reload", "summary": summary}));
        self.notifier.ready();
        Ok(summary)
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn warn_unsandboxed_once(module: &str) {
    use std::sync::Mutex;
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if let Ok(mut w) = WARNED.lock() {
        if !w.iter().any(|m| m == module) {
            w.push(module.to_string());
            log::warn!(
                "module {module} is an external command running without isolation (sandbox = \"none\"); \
                 set sandbox = \"rlimit\" or \"docker\" in its module.toml to limit it"
            );
        }
    }
}

/// Test hook (debug builds only): while the file named by `AIVEX_DEBUG_WEDGE_FILE` exists the
/// loop hangs, so a test can prove that a wedged loop stops the systemd watchdog pings.
#[cfg(debug_assertions)]
fn debug_wedge() {
    if let Some(f) = std::env::var_os("AIVEX_DEBUG_WEDGE_FILE") {
        while Path::new(&f).exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn start_signal_thread(tx: Sender<Event>) -> Result<(), SupervisorError> {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        .map_err(|e| SupervisorError::Io(format!("cannot install signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(Event::Signal(sig)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| SupervisorError::Io(format!("cannot start signal thread: {e}")))?;
    Ok(())
}
