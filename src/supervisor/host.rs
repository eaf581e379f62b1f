//! Host setup: what the supervisor arranges with the operating system before its loop runs
//! and around it. The data-directory lock, leftover cleanup, the child-subreaper flag, the
//! open-files limit, paging out start-up code, the signal thread, the disk budget, and
//! `Supervisor::new`, which assembles a supervisor from them.
//!
//! It must not decide anything about modules: slots start in the policy's initial state and
//! the loop (`mod.rs`) drives them.

use super::{
    alerts, leftovers, limits_for, output, rundir, wake, Event, Mode, Slot, Supervisor,
    SupervisorError,
};
use crate::config::Config;
use crate::control;
use aivex_platform::time::now_rfc3339;
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

/// The read-only file mappings of this executable (its code and constants), found once in
/// `/proc/self/smaps`: a static binary's mappings do not move. What `wake.rs` drops before
/// the loop sleeps.
pub(super) fn own_code() -> &'static [(usize, usize)] {
    static CODE: std::sync::OnceLock<Vec<(usize, usize)>> = std::sync::OnceLock::new();
    CODE.get_or_init(|| {
        match (
            std::fs::read_link("/proc/self/exe"),
            std::fs::read_to_string("/proc/self/smaps"),
        ) {
            (Ok(exe), Ok(smaps)) => clean_file_mappings(&smaps, &exe.to_string_lossy()),
            _ => Vec::new(),
        }
    })
}

/// The mappings of `exe` in an smaps text that are read-only and hold no private (copied)
/// page. A read-only mapping can still hold written pages: the relocated pointers of
/// `.data.rel.ro` (RELRO) are written at start and then made read-only; dropping those pages
/// would bring back the file's unrelocated bytes, so such a mapping is never trimmed.
fn clean_file_mappings(smaps: &str, exe: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping being read: its range, and whether it may be trimmed so far.
    let mut current: Option<((usize, usize), bool)> = None;
    let mut flush = |c: Option<((usize, usize), bool)>| {
        if let Some((r, true)) = c {
            out.push(r);
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let (Some(first), Some(second)) = (f.next(), f.next()) else {
            continue;
        };
        if let Some((a, b)) = first.split_once('-') {
            // A mapping's header: "start-end perms offset dev inode path".
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                flush(current.take());
                let mine = line.ends_with(exe) && second.len() == 4 && !second.contains('w');
                current = Some(((a, b), mine));
                continue;
            }
        }
        if first == "Anonymous:" && second != "0" {
            if let Some((_, ok)) = current.as_mut() {
                *ok = false;
            }
        }
    }
    flush(current.take());
    out
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

fn start_signal_thread(events: wake::Events) -> Result<(), SupervisorError> {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        .map_err(|e| SupervisorError::Io(format!("cannot install signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if !events.send(Event::Signal(sig)) {
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
        let bell = wake::Bell::new()
            .map_err(|e| SupervisorError::Io(format!("cannot create the loop's eventfd: {e}")))?;
        let events = wake::Events::new(tx, bell.clone());
        start_signal_thread(events.clone())?;
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
        let deliver: control::server::Deliver =
            std::sync::Arc::new(move |env| events.send(Event::Control(env)));
        control::server::start(&sock, deliver).map_err(|e| {
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
        // A cluster node is named as its leases name it (`[cluster] node_id` counts there).
        let node_id = if cfg.cluster.enabled {
            cfg.cluster.node_id.clone()
        } else {
            crate::config::node_id(&|k| std::env::var(k).ok())
        };
        let alerts = alerts::Alerts::start(&cfg, &run.id, node_id.clone());
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
            // The first look at the disk budget is in the first pass, after the first starts:
            // walking old runs must not delay the modules.
            next_budget: Duration::ZERO,
            alerts,
            health_sig: None,
            health: Default::default(),
            node_id,
            registry,
            notifier: aivex_platform::notify::Notifier::from_env(),
            all_started_notified: false,
            loop_passes: 0,
            last_watchdog: None,
            leases: None,
            migration: None,
            groups_saved: None,
            groups_dirty: false,
            trim_due: false,
            bell,
            _lock: lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_mappings_without_private_pages_are_trimmed() {
        let smaps = "\
00400000-00500000 r--p 00000000 08:01 42 /opt/aivex
Rss:                 100 kB
Anonymous:             0 kB
00500000-00900000 r-xp 00100000 08:01 42 /opt/aivex
Anonymous:             0 kB
00900000-00a00000 r--p 00500000 08:01 42 /opt/aivex
Anonymous:            64 kB
00a00000-00a10000 rw-p 00600000 08:01 42 /opt/aivex
Anonymous:             0 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /usr/lib/libc.so
Anonymous:             0 kB
7f0000100000-7f0000200000 r--p 00000000 08:01 43 /opt/aivex-old
";
        assert_eq!(
            clean_file_mappings(smaps, "/opt/aivex"),
            vec![(0x400000, 0x500000), (0x500000, 0x900000)]
        );
    }
}
