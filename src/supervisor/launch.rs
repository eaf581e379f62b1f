//! Creating a module process: `clone(CLONE_VM | CLONE_VFORK)` and `execve`, the way posix_spawn
//! does it, with the steps posix_spawn cannot take (a new session, the parent-death signal,
//! rlimits, a new network namespace) done in the child between the two.
//!
//! Why not `std::process::Command`: with a `pre_exec` closure std forks, and a fork copies the
//! supervisor's page tables and then takes a copy-on-write fault for every page either side
//! touches before the exec. With hundreds of modules that was most of the supervisor's start-up
//! CPU. Here the child borrows the parent's memory and the calling thread sleeps until the
//! child has exec'd or failed, so there is nothing to copy.
//!
//! What this file must not do: anything in the child but raw system calls on data prepared by
//! the parent. The child shares the parent's memory (a lock taken, an allocation or a panic there
//! would corrupt the supervisor), so it runs one `extern "C"` function that reads a plan of raw
//! pointers and writes back only the error slot. Every signal is blocked around the clone and
//! the child resets the dispositions it inherited before it unblocks, so no handler of the
//! supervisor ever runs in it. Deciding argv, environment or limits is `child.rs`'s job.

use super::raw::sys;
use std::ffi::{c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

/// What the child runs, prepared in the parent.
pub struct Plan {
    /// Paths tried in order with `execve` (one, or one per `PATH` entry for a bare name).
    pub candidates: Vec<CString>,
    pub argv: Vec<CString>,
    /// `NAME=value` strings: the child's whole environment.
    pub envp: Vec<CString>,
    pub cwd: CString,
    /// Becomes stdin.
    pub stdin: OwnedFd,
    /// Becomes stdout and stderr.
    pub output: OwnedFd,
    /// `(resource, value)` pairs set as both soft and hard limit.
    pub rlimits: Vec<(c_int, u64)>,
    pub new_netns: bool,
}

/// Which step of the child failed; with the errno it says why a start failed. The child
/// writes the step's number (never 0, which means no failure) into the parent's error slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Step {
    Session = 1,
    DeathSignal,
    Limits,
    Namespace,
    Directory,
    Descriptors,
    Exec,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Session,
        Step::DeathSignal,
        Step::Limits,
        Step::Namespace,
        Step::Directory,
        Step::Descriptors,
        Step::Exec,
    ];

    fn from_slot(n: c_int) -> Step {
        Step::ALL
            .into_iter()
            .find(|s| *s as c_int == n)
            .unwrap_or(Step::Exec)
    }
}

/// A start that failed: in `clone` (no step) or in the child.
#[derive(Debug)]
pub struct LaunchError {
    pub step: Option<Step>,
    pub error: io::Error,
}

/// The candidates for `program`: itself when it names a path (resolved after the child's
/// `chdir`, as `execvp` would), else each directory of `path` (the child's `PATH`, or musl's
/// default) joined with it. Empty entries mean the current directory, as in `execvp`.
pub fn candidates(program: &OsStr, path: Option<&OsStr>) -> Vec<CString> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        return CString::new(bytes).into_iter().collect();
    }
    let path = path.map_or(&b"/usr/local/bin:/bin:/usr/bin"[..], OsStr::as_bytes);
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(bytes);
            CString::new(full).ok()
        })
        .collect()
}

/// The child's stack. The calling thread sleeps while the child runs, so one stack serves every
/// start; the lock keeps two threads (tests) from sharing it.
static STACK: Mutex<Vec<u8>> = Mutex::new(Vec::new());
const STACK_BYTES: usize = 64 * 1024;

/// The plan as the child reads it: raw pointers into the parent's memory, and the error slot
/// the child writes.
#[repr(C)]
struct Raw {
    candidates: *const *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    stdin: c_int,
    output: c_int,
    rlimits: *const (c_int, u64),
    n_rlimits: usize,
    new_netns: bool,
    parent: libc::pid_t,
    step: c_int,
    errno: c_int,
}

/// Starts the process; returns its pid once it has exec'd. Its session, group and pid are equal.
pub fn launch(plan: &Plan) -> Result<i32, LaunchError> {
    // The descriptors the child moves to 0, 1 and 2 must not be 0, 1 or 2 themselves (the
    // supervisor may run with a standard descriptor closed): copies at 3 and up, close-on-exec.
    let stdin = above_standard(&plan.stdin)?;
    let output = above_standard(&plan.output)?;
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (candidates, argv, envp) = (ptrs(&plan.candidates), ptrs(&plan.argv), ptrs(&plan.envp));
    let mut raw = Raw {
        candidates: candidates.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: plan.cwd.as_ptr(),
        stdin: stdin.as_raw_fd(),
        output: output.as_raw_fd(),
        rlimits: plan.rlimits.as_ptr(),
        n_rlimits: plan.rlimits.len(),
        new_netns: plan.new_netns,
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        step: 0,
        errno: 0,
    };
    let mut stack = STACK.lock().unwrap_or_else(|p| p.into_inner());
    if stack.len() < STACK_BYTES {
        *stack = vec![0u8; STACK_BYTES];
    }
    // The stack grows down from its 16-byte aligned top.
    let top = {
        let end = stack.as_mut_ptr() as usize + stack.len();
        (end & !15) as *mut c_void
    };
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: raw rt_sigprocmask on this thread with valid pointers to 8-byte sets (the raw call
    // also blocks the C library's internal signals, as posix_spawn does). clone with CLONE_VM |
    // CLONE_VFORK runs `child` on `stack`, which nothing else uses while this thread sleeps
    // (we hold its lock); `raw` and everything it points to outlive the call because this thread
    // does not return from clone before the child has exec'd or exited.
    let (pid, clone_errno) = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            &mut old as *mut u64,
            8,
        );
        let pid = libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &mut raw as *mut Raw as *mut c_void,
        );
        let e = io::Error::last_os_error();
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &old as *const u64,
            std::ptr::null_mut::<u64>(),
            8,
        );
        (pid, e)
    };
    drop(stack);
    if pid < 0 {
        return Err(LaunchError {
            step: None,
            error: clone_errno,
        });
    }
    // SAFETY: the child wrote the slot before it exited; it no longer runs.
    let (step, errno) = unsafe {
        (
            std::ptr::read_volatile(&raw.step),
            std::ptr::read_volatile(&raw.errno),
        )
    };
    if step == 0 {
        return Ok(pid);
    }
    // The child exited without exec'ing: reap it here, the supervisor never knew its pid.
    loop {
        // SAFETY: waitpid on our own child with a null status pointer.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    Err(LaunchError {
        step: Some(Step::from_slot(step)),
        error: io::Error::from_raw_os_error(errno),
    })
}

fn above_standard(fd: &OwnedFd) -> Result<OwnedFd, LaunchError> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; the new one is owned by the result.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(LaunchError {
            step: None,
            error: io::Error::last_os_error(),
        });
    }
    // SAFETY: `n` is a fresh descriptor nobody else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(n) })
}

/// The child: raw system calls only, on the plan the parent prepared. Never returns when the
/// exec succeeds; otherwise records the step and errno and exits 127.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Raw`, alive and not touched by the sleeping parent; every
    // pointer in it is valid and null-terminated where it is a list (see `launch`).
    unsafe {
        let raw = arg as *mut Raw;
        let fail = |step: Step, errno: c_int| -> ! {
            std::ptr::write_volatile(&mut (*raw).errno, errno);
            std::ptr::write_volatile(&mut (*raw).step, step as c_int);
            let _ = sys(libc::SYS_exit_group, 127, 0, 0, 0);
            loop {
                std::hint::spin_loop();
            }
        };
        // Default dispositions for every caught signal (the supervisor's handlers must never
        // run here) and for SIGPIPE, which the Rust runtime ignores and a module should not
        // inherit ignored. A zeroed kernel sigaction is SIG_DFL with no flags.
        let dfl = [0u64; 4];
        let mut sig = 1usize;
        while sig <= 64 {
            if sig != libc::SIGKILL as usize && sig != libc::SIGSTOP as usize {
                let mut cur = [0u64; 4];
                let ok = sys(libc::SYS_rt_sigaction, sig, 0, cur.as_mut_ptr() as usize, 8).is_ok();
                let ignored = cur[0] == libc::SIG_IGN as u64;
                if ok
                    && cur[0] != libc::SIG_DFL as u64
                    && (!ignored || sig == libc::SIGPIPE as usize)
                {
                    let _ = sys(libc::SYS_rt_sigaction, sig, dfl.as_ptr() as usize, 0, 8);
                }
            }
            sig += 1;
        }
        // A session of its own (and so a group of its own, as s6 does): its id is the module's
        // pid, always visible to the supervisor, even when the supervisor's own session leader
        // is outside its pid namespace (a container's runner) and would read as 0 in /proc.
        if let Err(e) = sys(libc::SYS_setsid, 0, 0, 0, 0) {
            fail(Step::Session, e);
        }
        // Die with the supervisor: the kernel sends SIGKILL when the creating thread exits...
        if let Err(e) = sys(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG as usize,
            libc::SIGKILL as usize,
            0,
            0,
        ) {
            fail(Step::DeathSignal, e);
        }
        // ...which it may have done before the prctl: then nothing would kill us.
        if sys(libc::SYS_getppid, 0, 0, 0, 0) != Ok((*raw).parent as usize) {
            fail(Step::DeathSignal, libc::ESRCH);
        }
        let mut i = 0;
        while i < (*raw).n_rlimits {
            let (res, v) = *(*raw).rlimits.add(i);
            let lim = [v, v];
            if let Err(e) = sys(
                libc::SYS_prlimit64,
                0,
                res as usize,
                lim.as_ptr() as usize,
                0,
            ) {
                fail(Step::Limits, e);
            }
            i += 1;
        }
        if (*raw).new_netns {
            if let Err(e) = sys(libc::SYS_unshare, libc::CLONE_NEWNET as usize, 0, 0, 0) {
                fail(Step::Namespace, e);
            }
        }
        if let Err(e) = sys(libc::SYS_chdir, (*raw).cwd as usize, 0, 0, 0) {
            fail(Step::Directory, e);
        }
        for (from, to) in [((*raw).stdin, 0), ((*raw).output, 1), ((*raw).output, 2)] {
            // Both sources are 3 or above (see `launch`), so dup3 never sees equal descriptors.
            if let Err(e) = sys(libc::SYS_dup3, from as usize, to, 0, 0) {
                fail(Step::Descriptors, e);
            }
        }
        let none: u64 = 0;
        let _ = sys(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &none as *const u64 as usize,
            0,
            8,
        );
        // execvp's rule: a missing candidate tries the next; a denied one is remembered.
        let mut errno = libc::ENOENT;
        let mut denied = false;
        let mut c = (*raw).candidates;
        while !(*c).is_null() {
            let e = match sys(
                libc::SYS_execve,
                *c as usize,
                (*raw).argv as usize,
                (*raw).envp as usize,
                0,
            ) {
                Err(e) => e,
                Ok(_) => libc::ENOEXEC,
            };
            match e {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => denied = true,
                other => {
                    errno = other;
                    break;
                }
            }
            c = c.add(1);
        }
        if denied && errno == libc::ENOENT {
            errno = libc::EACCES;
        }
        fail(Step::Exec, errno)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    #[test]
    fn candidates_follow_execvp() {
        let s = |v: Vec<CString>| -> Vec<String> {
            v.into_iter().map(|c| c.into_string().unwrap()).collect()
        };
        assert_eq!(s(candidates(OsStr::new("./run.sh"), None)), ["./run.sh"]);
        assert_eq!(s(candidates(OsStr::new("/bin/sh"), None)), ["/bin/sh"]);
        assert_eq!(
            s(candidates(OsStr::new("sh"), Some(OsStr::new("/a::/b")))),
            ["/a/sh", "./sh", "/b/sh"]
        );
        assert_eq!(
            s(candidates(OsStr::new("sh"), None)),
            ["/usr/local/bin/sh", "/bin/sh", "/usr/bin/sh"]
        );
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both are fresh descriptors.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    fn plan(args: &[&str], dir: &str, rlimits: Vec<(c_int, u64)>) -> (Plan, OwnedFd) {
        let (r, w) = pipe();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let plan = Plan {
            candidates: candidates(OsStr::new(args[0]), std::env::var_os("PATH").as_deref()),
            argv: args.iter().map(|a| CString::new(*a).unwrap()).collect(),
            envp: vec![CString::new("GREETING=hello").unwrap()],
            cwd: CString::new(dir).unwrap(),
            stdin: devnull.into(),
            output: w,
            rlimits,
            new_netns: false,
        };
        (plan, r)
    }

    fn wait(pid: i32) -> i32 {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    #[test]
    fn the_child_gets_its_plan() {
        // Runs one plan to its end and returns what it wrote to stdout and stderr.
        let run = |args: &[&str], dir: &str, rlimits: Vec<(c_int, u64)>| -> String {
            let (plan, r) = plan(args, dir, rlimits);
            let pid = launch(&plan).unwrap();
            drop(plan);
            assert_eq!(wait(pid), 0);
            let mut out = String::new();
            std::fs::File::from(r).read_to_string(&mut out).unwrap();
            out
        };
        // Its own session, the directory, the environment, the limits, stdout and stderr on
        // the pipe, stdin from /dev/null.
        let script = "echo \"$GREETING $(pwd)\"; \
            ps_sid=$(cut -d' ' -f6 /proc/$$/stat); [ \"$ps_sid\" = $$ ] && echo leader; \
            ulimit -n; read x || echo eof; echo err >&2";
        assert_eq!(
            run(
                &["sh", "-c", script],
                "/tmp",
                vec![(libc::RLIMIT_NOFILE as c_int, 77)]
            ),
            "hello /tmp\nleader\n77\neof\nerr\n"
        );
        // No signal blocked; ignored signals other than SIGPIPE are inherited, as with std's
        // Command (the test runner may start us with some ignored). Read by the launched
        // program itself: a shell reading its own status may catch itself blocking every
        // signal while it waits for a child.
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        let ign = own
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:\t"))
            .map(|h| u64::from_str_radix(h, 16).unwrap())
            .unwrap();
        let ign = ign & !(1 << (libc::SIGPIPE - 1));
        assert_eq!(
            run(
                &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
                "/",
                vec![]
            ),
            format!("SigBlk:\t0000000000000000\nSigIgn:\t{ign:016x}\n")
        );
        // `ls` lists its own 0, 1, 2, the directory it reads and whatever this test process
        // itself holds without close-on-exec (the test runner's): nothing of the plan leaked.
        let mut fds = vec!["0".to_string(), "1".into(), "2".into(), "3".into()];
        for e in std::fs::read_dir("/proc/self/fdinfo").unwrap() {
            let e = e.unwrap();
            let n: i32 = e.file_name().to_str().unwrap().parse().unwrap();
            let info = std::fs::read_to_string(e.path()).unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:\t"))
                .map_or(0, |f| u32::from_str_radix(f, 8).unwrap());
            if n > 2 && flags & libc::O_CLOEXEC as u32 == 0 {
                fds.push(n.to_string());
            }
        }
        fds.sort();
        fds.dedup();
        assert_eq!(
            run(&["ls", "/proc/self/fd"], "/", vec![]),
            format!("{}\n", fds.join("\n"))
        );
    }

    #[test]
    fn failures_name_their_step() {
        let (p, _r) = plan(&["no-such-program-aivex"], "/", vec![]);
        let e = launch(&p).unwrap_err();
        assert_eq!(e.step, Some(Step::Exec));
        assert_eq!(e.error.raw_os_error(), Some(libc::ENOENT));
        let text = std::env::temp_dir().join(format!("aivex-launch-{}", std::process::id()));
        std::fs::write(&text, "not a program").unwrap();
        let (p, _r) = plan(&[text.to_str().unwrap()], "/", vec![]);
        let e = launch(&p).unwrap_err();
        assert_eq!(e.error.raw_os_error(), Some(libc::EACCES));
        std::fs::remove_file(&text).unwrap();
        let (p, _r) = plan(&["sh"], "/no/such/dir", vec![]);
        let e = launch(&p).unwrap_err();
        assert_eq!(e.step, Some(Step::Directory));
    }
}
