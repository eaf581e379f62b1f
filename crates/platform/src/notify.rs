//! sd_notify without libsystemd: READY, STATUS, RELOADING, STOPPING and watchdog pings.
//!
//! It owns the notify protocol (newline-separated `KEY=VALUE` datagrams to the socket named by
//! `NOTIFY_SOCKET`, a path or an abstract `@name`), reading `WATCHDOG_USEC`/`WATCHDOG_PID`, and
//! the rule for when a watchdog ping is due. It must not decide *when* aivex is ready or
//! stopping (the supervisor does) and it must never make notification failures fatal: a box
//! without systemd, or a manager that went away, only costs one warning.

use crate::PlatformError;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Environment variables systemd sets for the main process only. The supervisor removes them
/// from its children's environment so modules never talk to the manager themselves (with
/// `NotifyAccess=main` systemd would ignore them anyway, with a log line each time).
pub const NOTIFY_ENV_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddr {
    /// A socket file, e.g. `/run/systemd/notify`.
    Path(PathBuf),
    /// An abstract socket: the name without the leading `@`.
    Abstract(Vec<u8>),
}

/// Parses `NOTIFY_SOCKET`. `Ok(None)` means unset (notifications are off); an unusable value
/// is an error so the caller can say what was wrong.
pub fn parse_notify_socket(value: Option<&str>) -> Result<Option<NotifyAddr>, PlatformError> {
    let Some(v) = value else { return Ok(None) };
    let bad = |reason| PlatformError::BadEnv {
        var: "NOTIFY_SOCKET",
        value: v.to_string(),
        reason,
    };
    if let Some(name) = v.strip_prefix('@') {
        if name.is_empty() {
            return Err(bad("abstract socket name is empty"));
        }
        return Ok(Some(NotifyAddr::Abstract(name.as_bytes().to_vec())));
    }
    if v.is_empty() {
        return Ok(None);
    }
    if !v.starts_with('/') {
        // systemd only ever hands out absolute paths; a relative one would depend on our cwd.
        return Err(bad("must be an absolute path or start with @"));
    }
    Ok(Some(NotifyAddr::Path(PathBuf::from(v))))
}

/// The watchdog ping interval: half of `WATCHDOG_USEC`, when the watchdog is meant for `our_pid`
/// (`WATCHDOG_PID` absent or equal). `Ok(None)`: no watchdog for this process.
pub fn parse_watchdog(
    usec: Option<&str>,
    pid: Option<&str>,
    our_pid: u32,
) -> Result<Option<Duration>, PlatformError> {
    let Some(usec) = usec else { return Ok(None) };
    let micros: u64 = usec.trim().parse().map_err(|_| PlatformError::BadEnv {
        var: "WATCHDOG_USEC",
        value: usec.to_string(),
        reason: "not a whole number of microseconds",
    })?;
    if let Some(pid) = pid {
        let target: u32 = pid.trim().parse().map_err(|_| PlatformError::BadEnv {
            var: "WATCHDOG_PID",
            value: pid.to_string(),
            reason: "not a process id",
        })?;
        if target != our_pid {
            return Ok(None);
        }
    }
    if micros == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_micros(micros / 2)))
}

/// The rule for watchdog pings: due once `interval` (already half of WATCHDOG_USEC) has passed
/// since the last ping, but only if the supervisor loop completed a full pass since then. A
/// wedged loop therefore stops pinging and systemd restarts aivex.
pub fn watchdog_due(
    last_ping: Instant,
    loop_pass_completed_since_ping: bool,
    interval: Duration,
    now: Instant,
) -> bool {
    loop_pass_completed_since_ping && now.saturating_duration_since(last_ping) >= interval
}

/// `STATUS=` payload: the protocol separates assignments by newlines, so a status line must not
/// contain any.
pub fn status_message(status: &str) -> String {
    let one_line: String = status
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("STATUS={one_line}")
}

/// `RELOADING=1` with the CLOCK_MONOTONIC timestamp that `Type=notify-reload` (systemd ≥ 253)
/// requires to match the reload to this message; older managers ignore the extra field.
pub fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

/// CLOCK_MONOTONIC in microseconds (the clock systemd compares against).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}

struct Channel {
    sock: UnixDatagram,
    addr: SocketAddr,
    shown: String,
}

/// Sends notifications to the service manager; every call is a no-op when disabled.
pub struct Notifier {
    channel: Option<Channel>,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("socket", &self.channel.as_ref().map(|c| c.shown.as_str()))
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

impl Notifier {
    /// A notifier that sends nothing (no systemd, tests, `aivex module`).
    pub fn disabled() -> Self {
        Notifier {
            channel: None,
            watchdog: None,
            warned: AtomicBool::new(false),
        }
    }

    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Unusable values are logged as
    /// warnings and turn the affected part off: notification problems are never fatal.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self::from_vars(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    /// `from_env` with the values passed in (what tests and embedders use).
    pub fn from_vars(
        notify_socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        our_pid: u32,
    ) -> Self {
        let mut n = Notifier::disabled();
        let addr = match parse_notify_socket(notify_socket) {
            Ok(a) => a,
            Err(e) => {
                log::warn!("sd_notify disabled: {e}");
                None
            }
        };
        let Some(addr) = addr else { return n };
        match open_channel(&addr) {
            Ok(ch) => n.channel = Some(ch),
            Err(e) => {
                log::warn!("sd_notify disabled: cannot use NOTIFY_SOCKET {notify_socket:?}: {e}");
                return n;
            }
        }
        // Watchdog pings go over the notify socket: without one there is nothing to ping.
        n.watchdog = match parse_watchdog(watchdog_usec, watchdog_pid, our_pid) {
            Ok(w) => w,
            Err(e) => {
                log::warn!("systemd watchdog ignored: {e}");
                None
            }
        };
        n
    }

    pub fn is_enabled(&self) -> bool {
        self.channel.is_some()
    }

    /// How often to ping (half of WATCHDOG_USEC), or None when no watchdog is armed for us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Every enabled module has started.
    pub fn ready(&self) {
        self.notify("READY=1")
    }

    /// The one-line status systemctl shows.
    pub fn status(&self, status: &str) {
        self.notify(&status_message(status))
    }

    /// A reload began; send `ready()` again when it is done.
    pub fn reloading(&self) {
        self.notify(&reloading_message(monotonic_usec()))
    }

    /// Shutdown began.
    pub fn stopping(&self) {
        self.notify("STOPPING=1")
    }

    /// Watchdog keep-alive; use `WatchdogGate` to send it only after a full loop pass.
    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1")
    }

    /// Sends one raw message; failures are returned, not logged. Ok(false) when disabled.
    pub fn send(&self, message: &str) -> std::io::Result<bool> {
        let Some(ch) = &self.channel else {
            return Ok(false);
        };
        ch.sock.send_to_addr(message.as_bytes(), &ch.addr)?;
        Ok(true)
    }

    fn notify(&self, message: &str) {
        if let Err(e) = self.send(message) {
            // The manager may be gone (or restarting): one warning, then silence, because the
            // same failure would otherwise repeat on every watchdog tick.
            if !self.warned.swap(true, Ordering::Relaxed) {
                let shown = self.channel.as_ref().map_or("", |c| c.shown.as_str());
                log::warn!("sd_notify to {shown} failed (further failures not logged): {e}");
            }
        }
    }
}

fn open_channel(addr: &NotifyAddr) -> std::io::Result<Channel> {
    let (addr, shown) = match addr {
        NotifyAddr::Path(p) => (SocketAddr::from_pathname(p)?, p.display().to_string()),
        NotifyAddr::Abstract(name) => (
            SocketAddr::from_abstract_name(name)?,
            format!("@{}", String::from_utf8_lossy(name)),
        ),
    };
    let sock = UnixDatagram::unbound()?;
    Ok(Channel { sock, addr, shown })
}

/// Ties `watchdog_due` to a notifier: the supervisor calls `pass_completed` at the end of every
/// loop pass and `tick` whenever it likes; pings only flow while passes keep completing.
#[derive(Debug)]
pub struct WatchdogGate {
    interval: Option<Duration>,
    last_ping: Instant,
    pass_completed: bool,
}

impl WatchdogGate {
    /// `interval` is `Notifier::watchdog_interval()`; `now` is when the loop started.
    pub fn new(interval: Option<Duration>, now: Instant) -> Self {
        WatchdogGate {
            interval,
            last_ping: now,
            pass_completed: false,
        }
    }

    /// A full pass of the supervisor loop finished.
    pub fn pass_completed(&mut self) {
        self.pass_completed = true;
    }

    /// Sends WATCHDOG=1 when due; returns whether it did.
    pub fn tick(&mut self, notifier: &Notifier, now: Instant) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        if !watchdog_due(self.last_ping, self.pass_completed, interval, now) {
            return false;
        }
        notifier.watchdog();
        self.last_ping = now;
        self.pass_completed = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn notify_socket_values() {
        type Case<'a> = (Option<&'a str>, Result<Option<NotifyAddr>, ()>);
        let cases: &[Case] = &[
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (
                Some("/run/systemd/notify"),
                Ok(Some(NotifyAddr::Path("/run/systemd/notify".into()))),
            ),
            (
                Some("@/org/freedesktop/systemd1/notify/42"),
                Ok(Some(NotifyAddr::Abstract(
                    b"/org/freedesktop/systemd1/notify/42".to_vec(),
                ))),
            ),
            (Some("@"), Err(())),
            (Some("run/notify"), Err(())),
        ];
        for (input, want) in cases {
            let got = parse_notify_socket(*input).map_err(|_| ());
            assert_eq!(&got, want, "NOTIFY_SOCKET={input:?}");
        }
    }

    #[test]
    fn watchdog_values() {
        let s = Duration::from_secs;
        // (WATCHDOG_USEC, WATCHDOG_PID, expected interval); our pid is 77
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Result<Option<Duration>, ()>,
        );
        let cases: &[Case] = &[
            (None, None, Ok(None)),
            (Some("30000000"), None, Ok(Some(s(15)))),
            (Some("30000000"), Some("77"), Ok(Some(s(15)))),
            (Some("30000000"), Some("78"), Ok(None)),
            (Some("0"), None, Ok(None)),
            (Some("3"), None, Ok(Some(Duration::from_micros(1)))),
            (Some("thirty"), None, Err(())),
            (Some("-5"), None, Err(())),
            (Some("30000000"), Some("me"), Err(())),
            (None, Some("77"), Ok(None)),
        ];
        for (usec, pid, want) in cases {
            let got = parse_watchdog(*usec, *pid, 77).map_err(|_| ());
            assert_eq!(&got, want, "WATCHDOG_USEC={usec:?} WATCHDOG_PID={pid:?}");
        }
    }

    #[test]
    fn watchdog_due_rule() {
        let t0 = Instant::now();
        let iv = Duration::from_secs(15);
        let at = |s: u64| t0 + Duration::from_secs(s);
        // (pass completed since ping, seconds since ping, due)
        let cases = [
            (true, 0, false),
            (true, 14, false),
            (true, 15, true),
            (true, 100, true),
            (false, 15, false),
            (false, 1000, false),
        ];
        for (pass, secs, want) in cases {
            assert_eq!(
                watchdog_due(t0, pass, iv, at(secs)),
                want,
                "pass={pass} after {secs}s"
            );
        }
        // A clock that reads earlier than the last ping is never due (no underflow panic).
        assert!(!watchdog_due(at(10), true, iv, t0));
    }

    #[test]
    fn status_and_reload_payloads() {
        let cases = [
            ("[AIVEX] news=RUNNING(0)", "STATUS=[AIVEX] news=RUNNING(0)"),
            ("two\nlines\r\n", "STATUS=two lines  "),
            ("", "STATUS="),
        ];
        for (input, want) in cases {
            assert_eq!(status_message(input), want);
        }
        assert_eq!(
            reloading_message(1_234_567),
            "RELOADING=1\nMONOTONIC_USEC=1234567"
        );
    }

    /// A manager end: a bound datagram socket with a hard read deadline.
    fn recv_all(manager: &UnixDatagram, n: usize) -> Vec<String> {
        manager
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set timeout");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..n {
            let len = manager.recv(&mut buf).expect("message within 5 s");
            out.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        out
    }

    fn assert_nothing_pending(manager: &UnixDatagram) {
        manager.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 64];
        let got = manager.recv(&mut buf);
        assert!(
            got.is_err(),
            "unexpected message: {:?}",
            got.map(|n| &buf[..n])
        );
        manager.set_nonblocking(false).expect("blocking");
    }

    fn drive_lifecycle(n: &Notifier) {
        n.status("starting modules");
        n.ready();
        n.watchdog();
        n.reloading();
        n.ready();
        n.status("[AIVEX] news=RUNNING(0)\nchart=RUNNING(1)");
        n.stopping();
    }

    fn check_lifecycle(msgs: &[String]) {
        let fixed = [
            (0, "STATUS=starting modules"),
            (1, "READY=1"),
            (2, "WATCHDOG=1"),
            (4, "READY=1"),
            (5, "STATUS=[AIVEX] news=RUNNING(0) chart=RUNNING(1)"),
            (6, "STOPPING=1"),
        ];
        assert_eq!(msgs.len(), 7, "{msgs:?}");
        for (i, want) in fixed {
            assert_eq!(msgs.get(i).map(String::as_str), Some(want), "message {i}");
        }
        let reload = msgs.get(3).map(String::as_str).unwrap_or_default();
        let usec = reload
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("reload message {reload:?}"));
        let usec: u64 = usec.parse().expect("MONOTONIC_USEC is a number");
        assert!(usec > 0);
    }

    #[test]
    fn path_socket_receives_messages_in_order() {
        let dir = TempDir::new("notify");
        let path = dir.path().join("notify.sock");
        let manager = UnixDatagram::bind(&path).expect("bind manager socket");
        let n = Notifier::from_vars(path.to_str(), Some("30000000"), None, 1);
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        drive_lifecycle(&n);
        check_lifecycle(&recv_all(&manager, 7));
        assert_nothing_pending(&manager);
    }

    #[test]
    fn abstract_socket_receives_messages_in_order() {
        let name = format!(
            "aivex-test-notify-{}-{:?}",
            std::process::id(),
            Instant::now()
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract addr");
        let manager = UnixDatagram::bind_addr(&addr).expect("bind abstract manager socket");
        let n = Notifier::from_vars(Some(&format!("@{name}")), None, None, 1);
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        drive_lifecycle(&n);
        check_lifecycle(&recv_all(&manager, 7));
    }

    #[test]
    fn disabled_and_broken_notifiers_are_harmless() {
        let off = Notifier::from_vars(None, Some("30000000"), None, 1);
        assert!(!off.is_enabled());
        // No socket to ping on means no watchdog either.
        assert_eq!(off.watchdog_interval(), None);
        assert!(!off.send("READY=1").expect("disabled send is Ok"));
        drive_lifecycle(&off);

        let bad = Notifier::from_vars(Some("relative/path"), None, None, 1);
        assert!(!bad.is_enabled());

        // A manager that went away: every call fails, none panics or errors out.
        let dir = TempDir::new("notify-gone");
        let gone = Notifier::from_vars(dir.path().join("nobody").to_str(), None, None, 1);
        assert!(gone.is_enabled());
        assert!(gone.send("READY=1").is_err());
        drive_lifecycle(&gone);
        assert!(gone.warned.load(Ordering::Relaxed));
    }

    #[test]
    fn watchdog_pings_stop_when_loop_is_wedged() {
        let dir = TempDir::new("notify-wd");
        let path = dir.path().join("notify.sock");
        let manager = UnixDatagram::bind(&path).expect("bind manager socket");
        let n = Notifier::from_vars(path.to_str(), Some("2000000"), None, 1);
        let iv = n.watchdog_interval().expect("watchdog armed");
        assert_eq!(iv, Duration::from_secs(1));

        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut gate = WatchdogGate::new(Some(iv), t0);
        // Healthy loop: a pass every 250 ms, ticks in between.
        let mut pings = 0;
        for step in 1..=12u64 {
            gate.pass_completed();
            if gate.tick(&n, at(step * 250)) {
                pings += 1;
            }
        }
        assert_eq!(pings, 3, "one ping per second over 3 s");
        assert_eq!(recv_all(&manager, 3), vec!["WATCHDOG=1"; 3]);

        // Wedged loop (the test hook: passes stop completing) while the clock runs for 10 s.
        for step in 13..=52u64 {
            assert!(
                !gate.tick(&n, at(step * 250)),
                "pinged while wedged at step {step}"
            );
        }
        assert_nothing_pending(&manager);

        // The loop recovers: the next tick after a pass pings at once.
        gate.pass_completed();
        assert!(gate.tick(&n, at(53 * 250)));
        assert_eq!(recv_all(&manager, 1), vec!["WATCHDOG=1"]);

        // Without an armed watchdog the gate never pings.
        let mut off = WatchdogGate::new(None, t0);
        off.pass_completed();
        assert!(!off.tick(&n, at(100_000)));
        assert_nothing_pending(&manager);
    }
}
