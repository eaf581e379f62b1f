//! The control socket's server side: accepts connections on a thread, checks who is calling,
//! reads one bounded request with a deadline, hands it to the supervisor loop as an event and
//! writes back the reply. Malformed, slow or foreign clients are answered (or dropped) here and
//! never reach the loop.
//!
//! Who may talk to the supervisor is decided twice: the socket file is created owner-only (under
//! umask 077, so there is no moment at which a group member could connect), and every accepted
//! peer's uid (`SO_PEERCRED`) must be root's or the supervisor's own. When `accept` fails (out of
//! file descriptors, say) the thread backs off instead of spinning and logs once per condition.

use super::protocol::{self, Request};
use crossbeam_channel::Sender;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request on its way to the supervisor loop, with where to send the answer.
pub struct Envelope {
    pub request: Request,
    pub reply: Sender<serde_json::Value>,
}

const MAX_CLIENTS: usize = 8;

/// First and longest pause after a failed `accept`.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Refusals of one uid are logged at most this often (a local user must not flood the log).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Hands a request to the supervisor loop; false when the loop is gone.
pub type Deliver = Arc<dyn Fn(Envelope) -> bool + Send + Sync>;

/// Binds the socket (replacing a stale one: the caller holds the data-dir lock) with mode 0600
/// and serves it on a background thread. Call it before starting threads that create files:
/// the umask is the process's.
pub fn start(path: &Path, deliver: Deliver) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    // SAFETY: umask(2) only swaps the process's file-mode creation mask; restored right after.
    let old = unsafe { libc::umask(0o077) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // SAFETY: geteuid(2) cannot fail.
    let owner = unsafe { libc::geteuid() };
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || accept_loop(listener, owner, busy, deliver))?;
    Ok(())
}

fn accept_loop(listener: UnixListener, owner: u32, busy: Arc<AtomicUsize>, deliver: Deliver) {
    let mut failing = Failing::default();
    let mut refusals = RefusalLog::default();
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                if let Some(pause) = failing.failed(&e) {
                    std::thread::sleep(pause);
                }
                continue;
            }
        };
        failing.recovered();
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let uid = peer_uid(&stream);
        if !allowed(uid, owner) {
            let who = uid.map_or("an unknown uid".to_string(), |u| format!("uid {u}"));
            if let Some(suppressed) = refusals.note(uid, Instant::now()) {
                let more = if suppressed > 0 {
                    format!(" ({suppressed} more refusal(s) of it since the last line)")
                } else {
                    String::new()
                };
                log::warn!(
                    "control socket: refused a connection from {who}: only root and uid {owner} \
                     may control this supervisor{more}"
                );
            }
            let mut s = stream;
            let _ = writeln!(
                s,
                "{}",
                protocol::err(format!(
                    "permission denied: this supervisor answers only root and uid {owner} (its \
                     own user); the request came from {who}"
                ))
            );
            continue;
        }
        if busy.load(Ordering::SeqCst) >= MAX_CLIENTS {
            let mut s = stream;
            let _ = writeln!(
                s,
                "{}",
                protocol::err("supervisor busy: too many control connections")
            );
            continue;
        }
        busy.fetch_add(1, Ordering::SeqCst);
        let (deliver, mine) = (deliver.clone(), busy.clone());
        let spawned = std::thread::Builder::new()
            .name("control-conn".into())
            .spawn(move || {
                serve(stream, &*deliver);
                mine.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Root and the supervisor's own user may control it; an unknown peer may not. Pure.
pub fn allowed(peer_uid: Option<u32>, owner: u32) -> bool {
    matches!(peer_uid, Some(u) if u == 0 || u == owner)
}

/// The uid of the process that connected (`SO_PEERCRED`, taken at connect time).
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a local of that size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// `accept` failing: how long to pause, and one log line when a condition starts and one when
/// it ends (not one per failure).
#[derive(Debug, Default)]
struct Failing {
    /// The errno of the current condition and how many accepts failed with it.
    condition: Option<(i32, u64)>,
    pause: Duration,
}

impl Failing {
    /// Notes a failed accept; `None` when it is worth retrying at once (a signal, a client that
    /// gave up before being accepted), else how long to wait.
    fn failed(&mut self, e: &std::io::Error) -> Option<Duration> {
        let errno = e.raw_os_error().unwrap_or(0);
        if matches!(errno, libc::EINTR | libc::ECONNABORTED) {
            return None;
        }
        match self.condition.as_mut() {
            Some((c, n)) if *c == errno => *n += 1,
            _ => {
                let hint = if matches!(errno, libc::EMFILE | libc::ENFILE) {
                    " (out of file descriptors: raise LimitNOFILE / ulimit -n)"
                } else {
                    ""
                };
                log::error!(
                    "control socket: cannot accept connections: {e}{hint}; retrying with up to \
                     {}s between attempts, logged again only when it recovers",
                    BACKOFF_MAX.as_secs()
                );
                self.condition = Some((errno, 1));
                self.pause = BACKOFF_MIN;
            }
        }
        let pause = self.pause;
        self.pause = next_pause(self.pause);
        Some(pause)
    }

    fn recovered(&mut self) {
        if let Some((_, n)) = self.condition.take() {
            log::info!("control socket: accepting connections again (after {n} failed attempts)");
        }
        self.pause = BACKOFF_MIN;
    }
}

/// The pause after the next failure: doubled, capped. Pure.
fn next_pause(p: Duration) -> Duration {
    (p * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
}

/// Which refusals are logged: the first of a uid, then at most one per `REFUSAL_LOG_EVERY` with
/// the count of those not logged. Bounded: it forgets everything past 64 uids. (A short list,
/// not a map: a handful of uids at most, and no extra map code in a size-budgeted binary.)
#[derive(Debug, Default)]
struct RefusalLog {
    /// (uid, when last logged, refusals since not logged)
    by_uid: Vec<(Option<u32>, Instant, u64)>,
}

impl RefusalLog {
    /// `Some(suppressed)` when this refusal should be logged.
    fn note(&mut self, uid: Option<u32>, now: Instant) -> Option<u64> {
        if self.by_uid.len() >= 64 {
            self.by_uid.clear();
        }
        match self.by_uid.iter_mut().find(|(u, _, _)| *u == uid) {
            Some((_, last, n)) if now.duration_since(*last) < REFUSAL_LOG_EVERY => {
                *n += 1;
                None
            }
            Some((_, last, n)) => {
                let suppressed = *n;
                *last = now;
                *n = 0;
                Some(suppressed)
            }
            None => {
                self.by_uid.push((uid, now, 0));
                Some(0)
            }
        }
    }
}

fn serve(stream: UnixStream, deliver: &(dyn Fn(Envelope) -> bool + Send + Sync)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half.take(protocol::MAX_REQUEST as u64 + 1));
    let mut line = Vec::new();
    let reply = match reader.read_until(b'\n', &mut line) {
        Err(e) => protocol::err(format!("could not read request: {e}")),
        Ok(_) => match protocol::parse(&line) {
            Err(e) => protocol::err(e),
            Ok(request) => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                if !deliver(Envelope { request, reply: tx }) {
                    protocol::err("supervisor is shutting down")
                } else {
                    rx.recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| protocol::err("supervisor did not answer within 10s"))
                }
            }
        },
    };
    let mut w = stream;
    let _ = writeln!(w, "{reply}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_the_owner_are_allowed() {
        let table = [
            (Some(0), 1000, true),
            (Some(1000), 1000, true),
            (Some(1001), 1000, false),
            (Some(65534), 0, false),
            (Some(0), 0, true),
            (None, 1000, false),
            (None, 0, false),
        ];
        for (peer, owner, want) in table {
            assert_eq!(allowed(peer, owner), want, "{peer:?} {owner}");
        }
    }

    #[test]
    fn failed_accepts_back_off_and_log_once_per_condition() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let mut f = Failing::default();
        let pauses: Vec<u128> = (0..10)
            .map(|_| f.failed(&emfile).unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(f.condition, Some((libc::EMFILE, 10)));
        // Another errno is another condition: the pause starts over.
        let enfile = std::io::Error::from_raw_os_error(libc::ENFILE);
        assert_eq!(f.failed(&enfile), Some(BACKOFF_MIN));
        f.recovered();
        assert_eq!(f.condition, None);
        assert_eq!(f.failed(&emfile), Some(BACKOFF_MIN));
        // A client that gave up, or a signal: retry at once, no condition.
        let mut g = Failing::default();
        let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(g.failed(&aborted), None);
        assert_eq!(g.condition, None);
    }

    #[test]
    fn refusals_are_logged_first_then_at_most_once_a_minute() {
        let mut r = RefusalLog::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(r.note(Some(7), at(0)), Some(0));
        assert_eq!(r.note(Some(7), at(1)), None);
        assert_eq!(r.note(Some(7), at(59)), None);
        assert_eq!(r.note(Some(8), at(59)), Some(0));
        assert_eq!(r.note(Some(7), at(61)), Some(2));
        assert_eq!(r.note(Some(7), at(62)), None);
        for uid in 100..200 {
            r.note(Some(uid), at(70));
        }
        assert!(r.by_uid.len() <= 64);
    }
}
