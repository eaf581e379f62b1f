//! Running a command sink: the program with the alert's JSON on stdin, in its own process
//! group, with a timeout after which the group is killed.
//!
//! Inside the supervisor the loop reaps every child with `waitpid(-1)`, so the alert thread
//! cannot wait for its own child: the loop hands the exit status of any child that is not a
//! module to `Exits`, where the alert thread picks it up. The command is started with
//! `posix_spawnp` (no fork of the supervisor's address space, and an exec failure is an error
//! return, never a child the thread would have to reap). Outside the supervisor
//! (`aivex alert-test`) the caller waits for its own child.

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Exit statuses of children that are not modules, from the loop's reaping to the alert thread.
#[derive(Default)]
pub struct Exits {
    inner: Mutex<ExitsInner>,
}

#[derive(Default)]
struct ExitsInner {
    /// Spawns under way: an unknown child reaped now may be one of them.
    spawning: u32,
    /// Statuses reaped while a spawn was under way, not yet claimed (bounded).
    early: Vec<(i32, i32)>,
    /// Children the alert thread waits for.
    waiting: Vec<(i32, crossbeam_channel::Sender<i32>)>,
}

const EARLY_MAX: usize = 64;

impl Exits {
    fn lock(&self) -> std::sync::MutexGuard<'_, ExitsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loop reaped `pid` (not a module) with wait status `status`. Never blocks for long:
    /// the lock only guards a few vector operations.
    pub fn reaped(&self, pid: i32, status: i32) {
        let mut g = self.lock();
        if let Some(i) = g.waiting.iter().position(|(p, _)| *p == pid) {
            let (_, tx) = g.waiting.swap_remove(i);
            let _ = tx.send(status);
        } else if g.spawning > 0 && g.early.len() < EARLY_MAX {
            g.early.push((pid, status));
        }
    }

    fn begin_spawn(&self) {
        self.lock().spawning += 1;
    }

    /// The spawn is done (`pid` when it worked): a receiver of its exit status.
    fn end_spawn(&self, pid: Option<i32>) -> Option<crossbeam_channel::Receiver<i32>> {
        let mut g = self.lock();
        g.spawning = g.spawning.saturating_sub(1);
        let pid = pid?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        match g.early.iter().position(|(p, _)| *p == pid) {
            Some(i) => {
                let (_, st) = g.early.swap_remove(i);
                let _ = tx.send(st);
            }
            None => g.waiting.push((pid, tx)),
        }
        if g.spawning == 0 {
            g.early.clear();
        }
        Some(rx)
    }

    fn forget(&self, pid: i32) {
        self.lock().waiting.retain(|(p, _)| *p != pid);
    }
}

/// The environment a command gets: the basics any program needs, nothing secret.
fn basic_env() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            aivex_core::contract::env::passes_through(&k).then_some(())?;
            let mut kv = k.into_bytes();
            kv.push(b'=');
            kv.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
            CString::new(kv).ok()
        })
        .collect()
}

/// Runs `argv` with `input` on stdin within `timeout`. `exits` is the supervisor's registry
/// (None: the caller reaps its own children). `inherit_stderr` shows the command's stderr
/// (alert-test); otherwise its output goes to /dev/null. Ok names how it ended.
pub fn run(
    argv: &[String],
    input: &[u8],
    timeout: Duration,
    exits: Option<&Arc<Exits>>,
    inherit_stderr: bool,
) -> Result<String, String> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| format!("argument {a:?} holds a NUL")))
        .collect::<Result<_, _>>()?;
    let Some(prog) = args.first() else {
        return Err("empty command".into());
    };
    let env = basic_env();
    let mut argp: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
    argp.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|a| a.as_ptr() as *mut _).collect();
    envp.push(std::ptr::null_mut());

    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (r, w) = (fds[0], fds[1]);
    let null = c"/dev/null";
    if let Some(e) = exits {
        e.begin_spawn();
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // after; every pointer passed lives until posix_spawnp returns; argp/envp end with NULL.
    let rc = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_adddup2(&mut fa, r, 0);
        libc::posix_spawn_file_actions_addopen(&mut fa, 1, null.as_ptr(), libc::O_WRONLY, 0);
        if !inherit_stderr {
            libc::posix_spawn_file_actions_addopen(&mut fa, 2, null.as_ptr(), libc::O_WRONLY, 0);
        }
        // Its own process group (so a timeout kills all of it), default signal dispositions
        // (the supervisor ignores SIGPIPE) and an empty signal mask.
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigemptyset(&mut none);
        libc::posix_spawnattr_setsigdefault(&mut attr, &all);
        libc::posix_spawnattr_setsigmask(&mut attr, &none);
        libc::posix_spawnattr_setpgroup(&mut attr, 0);
        libc::posix_spawnattr_setflags(
            &mut attr,
            (libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short,
        );
        let rc = libc::posix_spawnp(
            &mut pid,
            prog.as_ptr(),
            &fa,
            &attr,
            argp.as_ptr(),
            envp.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        libc::close(r);
        rc
    };
    let rx = exits.and_then(|e| e.end_spawn((rc == 0).then_some(pid)));
    if rc != 0 {
        // SAFETY: closing our write end.
        unsafe { libc::close(w) };
        return Err(format!(
            "cannot run {}: {}",
            argv[0],
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    // The JSON is small (a few KiB, under a pipe's buffer): written at once, then EOF. A
    // command that exits without reading makes this fail with EPIPE, which is its business.
    {
        use std::io::Write;
        use std::os::fd::FromRawFd;
        // SAFETY: `w` is our pipe end, owned by this File from here on.
        let mut f = unsafe { std::fs::File::from_raw_fd(w) };
        let _ = f.write_all(input);
    }
    let deadline = Instant::now() + timeout;
    let status = match (&rx, exits) {
        (Some(rx), Some(e)) => match rx.recv_timeout(timeout) {
            Ok(st) => Some(st),
            Err(_) => {
                kill_group(pid);
                let st = rx.recv_timeout(Duration::from_secs(2)).ok();
                e.forget(pid);
                let _ = st;
                return Err(format!(
                    "timed out after {:.1}s (killed)",
                    timeout.as_secs_f64()
                ));
            }
        },
        _ => wait_own(pid, deadline),
    };
    match status {
        None => {
            kill_group(pid);
            wait_own(pid, Instant::now() + Duration::from_secs(2));
            Err(format!(
                "timed out after {:.1}s (killed)",
                timeout.as_secs_f64()
            ))
        }
        Some(st) if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 => Ok("exit 0".into()),
        Some(st) if libc::WIFEXITED(st) => Err(format!("exit {}", libc::WEXITSTATUS(st))),
        Some(st) => Err(format!(
            "killed by signal {}",
            if libc::WIFSIGNALED(st) {
                libc::WTERMSIG(st)
            } else {
                0
            }
        )),
    }
}

fn kill_group(pid: i32) {
    if pid > 1 {
        // SAFETY: kill(2) on the command's own process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// Waits for our own child until `deadline` (polling: alert-test runs one command at a time).
fn wait_own(pid: i32, deadline: Instant) -> Option<i32> {
    loop {
        let mut st = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            return Some(st);
        }
        if r < 0 || Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn runs_with_stdin_and_reports_how_it_ended() {
        let d = std::env::temp_dir().join(format!("aivex-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let out = d.join("got");
        let t = Duration::from_secs(10);
        let r = run(
            &sh(&format!("cat > {}", out.display())),
            b"{\"a\":1}",
            t,
            None,
            false,
        );
        assert_eq!(r, Ok("exit 0".into()));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"a\":1}");
        assert_eq!(
            run(&sh("exit 4"), b"", t, None, false),
            Err("exit 4".into())
        );
        let r = run(&["/nonexistent/alert".into()], b"", t, None, false);
        assert!(r.as_ref().is_err_and(|e| e.contains("cannot run")), "{r:?}");
        let started = Instant::now();
        let r = run(
            &sh("sleep 30"),
            b"",
            Duration::from_millis(300),
            None,
            false,
        );
        assert!(r.as_ref().is_err_and(|e| e.contains("timed out")), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // Only the basics of the environment reach it.
        std::env::set_var("AIVEX_TEST_ALERT_SECRET", "x");
        let r = run(
            &sh("test -z \"$AIVEX_TEST_ALERT_SECRET\" && test -n \"$PATH\""),
            b"",
            t,
            None,
            false,
        );
        assert_eq!(r, Ok("exit 0".into()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn statuses_reaped_by_the_loop_reach_the_waiter() {
        // The loop's side is `reaped`; the real thing runs in tests/it/alerts.rs (a command
        // sink under a live supervisor). Here the hand-over itself, in both orders.
        let e = Exits::default();
        // Reaped after the thread registered.
        e.begin_spawn();
        let rx = e.end_spawn(Some(100)).unwrap();
        e.reaped(100, 7 << 8);
        assert_eq!(rx.try_recv(), Ok(7 << 8));
        // Reaped while the spawn was still under way: kept until claimed.
        e.begin_spawn();
        e.reaped(200, 0);
        let rx = e.end_spawn(Some(200)).unwrap();
        assert_eq!(rx.try_recv(), Ok(0));
        // Other children reaped outside a spawn are not kept.
        e.reaped(300, 0);
        assert!(e.lock().early.is_empty() && e.lock().waiting.is_empty());
        // A failed spawn gives no receiver; a forgotten waiter is dropped.
        e.begin_spawn();
        assert!(e.end_spawn(None).is_none());
        e.begin_spawn();
        let _rx = e.end_spawn(Some(400));
        e.forget(400);
        assert!(e.lock().waiting.is_empty() && e.lock().spawning == 0);
    }
}
