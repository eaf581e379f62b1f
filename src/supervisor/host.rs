//! Host setup: what the supervisor arranges with the operating system before its loop runs
//! and around it. The data-directory lock, leftover cleanup, the child-subreaper flag, the
//! open-files limit, paging out start-up code, the signal thread, the disk budget, and
//! `Supervisor::new`, which assembles a supervisor from them.
//!
//! It must not decide anything about modules: slots start in the policy's initial state and
//! the loop (`mod.rs`) drives them.

use super::{
    leftovers, limits_for, output, rundir, Event, Mode, Slot, Supervisor, SupervisorError,
    BUDGET_EVERY,
};
use crate::config::Config;
use crate::control;
use aivex_platform::time::now_rfc3339;
use crossbeam_channel::Sender;
use std::path::Path;
use std::time::{Duration, Instant};

/// Keeps `runs/` within `[runtime] keep_runs` and `max_disk_mb`: old runs go first, then the
/// live run's rotated logs and oldest crash records. The live run itself is never removed.
pub(super) fn enforce_budget(cfg: &Config, live: &Path) {
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

/// How long a new supervisor waits for the lock a dead one's dying children still hold.
const LOCK_HANDOVER: Duration = Duration::from_secs(3);

/// Whether `pid` is a live process (not gone, not a zombie).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => !matches!(
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X")
        ),
    }
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
    let path = aivex_core::contract::RunLayout::new(data_dir).lock();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| SupervisorError::Io(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on an fd we own.
    let try_lock = || unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    // A supervisor SIGKILLed while forking a module leaves a child between fork and exec that
    // still holds a copy of the lock's descriptor until its parent-death signal lands, a moment
    // later: when the recorded holder is dead, wait that moment out instead of refusing.
    let mut waited = Duration::ZERO;
    while !try_lock() {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        let holder = holder.trim();
        let dead = holder.parse::<i32>().is_ok_and(|pid| !process_alive(pid));
        if !dead || waited >= LOCK_HANDOVER {
            return Err(SupervisorError::Busy(if dead {
                format!(
                    "data dir {} is locked by a process left behind by the dead supervisor \
                     (pid {holder}), still after {:.0}s",
                    data_dir.display(),
                    LOCK_HANDOVER.as_secs_f64()
                )
            } else {
                format!(
                    "another aivex supervisor (pid {holder}) is already running on data dir {}",
                    data_dir.display()
                )
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
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

impl Supervisor {
    pub fn new(
        cfg: Config,
        mode: Mode,
        registry: &'static crate::config::Registry,
    ) -> Result<Supervisor, SupervisorError> {
        let data_dir = cfg.runtime.data_dir.clone();
        // Signals first: a SIGTERM during start-up (leftover cleanup, run directory) is then
        // queued for the loop's first turn instead of killing the process by default action.
        let (tx, rx) = crossbeam_channel::unbounded();
        start_signal_thread(tx.clone())?;
        let lock = lock_data_dir(&data_dir)?;
        leftovers::reap_previous(&data_dir);
        become_subreaper_and_raise_nofile();
        let run = rundir::RunDir::create(&data_dir).map_err(|e| {
            SupervisorError::Io(format!(
                "cannot create run directory under {}: {e}",
                data_dir.display()
            ))
        })?;
        // The group record names this run before any module of it exists: a module forked in
        // the moment before its group is recorded is then still found by its run id.
        leftovers::save(&data_dir, &run.id, &[]);
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
            .map(|(i, spec)| {
                Slot::new(
                    spec.clone(),
                    limits_for(&cfg, spec, mode),
                    run.heartbeat_file(&spec.name),
                    Some(Duration::from_secs_f64(stagger * i as f64)),
                )
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
            registry,
            notifier: aivex_platform::notify::Notifier::from_env(),
            all_started_notified: false,
            loop_passes: 0,
            last_watchdog: None,
            _lock: lock,
        })
    }
}
