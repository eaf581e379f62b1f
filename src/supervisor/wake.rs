//! The loop's doorbell: an eventfd that every sender of an `Event` rings after it sends, so the
//! loop can sleep in poll(2) instead of inside the channel.
//!
//! Why: after periodic work the loop drops its code pages (`trim_and_sleep`) and sleeps.
//! Whatever code runs between that trim and the sleep is faulted straight back in, and the
//! kernel maps code 16 pages at a time around each fault; the channel's blocking receive
//! touches a dozen functions spread over the binary, which kept about half a megabyte resident
//! in an idle supervisor. Here the trim and the `ppoll` are raw system calls in one small
//! function: one fault brings its page back, nothing else runs before the sleep.
//!
//! Owns the eventfd and the one way to send an event (`Events::send`: send, then ring), so no
//! sender can forget the bell. Events themselves still travel on the channel, which the loop
//! reads with `try_recv` after the bell rang. Must not decide when to trim (the loop's timers
//! do).

use super::raw::sys;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// The doorbell; clones ring the same one.
#[derive(Clone)]
pub struct Bell(Arc<OwnedFd>);

/// The sending side of the loop's event channel: every send rings the bell.
#[derive(Clone)]
pub struct Events {
    tx: crossbeam_channel::Sender<super::Event>,
    bell: Bell,
}

impl Events {
    pub fn new(tx: crossbeam_channel::Sender<super::Event>, bell: Bell) -> Events {
        Events { tx, bell }
    }

    /// Sends `e` and rings; false when the loop is gone.
    pub fn send(&self, e: super::Event) -> bool {
        let sent = self.tx.send(e).is_ok();
        self.bell.ring();
        sent
    }
}

impl Bell {
    pub fn new() -> io::Result<Bell> {
        // SAFETY: eventfd(2) returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(Bell(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Rings: called after every send on the event channel (`Events::send`). Never blocks (the counter
    /// saturating only makes the write fail, and the bell is ringing already then).
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: an 8-byte write from a valid pointer to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Silences it. The loop clears the bell, then looks at the channel, then sleeps: an event
    /// sent after the clear rings again, one sent before it is in the channel.
    pub fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: an 8-byte read into a valid buffer; the descriptor is non-blocking.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }

    /// Lets the code pages the supervisor does not need right now go, then sleeps until the
    /// bell rings or `timeout` passes.
    ///
    /// This executable's read-only file mappings without private pages are dropped from the
    /// page tables (MADV_DONTNEED; the pages stay in the page cache, so touching them again is
    /// a minor fault, never a disk read). A supervisor mostly sleeps, and the kernel maps code
    /// 16 pages at a time around each fault ("fault-around"), so a few faults of periodic work
    /// would otherwise keep most of a multi-megabyte static binary resident. MADV_RANDOM stops
    /// read-ahead when a page must come from disk. The loop calls this once every module has
    /// started and after each pass of periodic work (every 10 s at most). Modules (the same
    /// binary) are unaffected: this is per process.
    #[inline(never)]
    pub fn trim_and_sleep(&self, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let code = super::host::own_code();
        // SAFETY: advice on read-only mappings of our own executable (DONTNEED on a private
        // file mapping drops page-table entries only; the file's contents come back on use),
        // then ppoll with one valid pollfd, a valid timeout and no signal mask. An EINTR simply
        // ends the sleep early; the loop works out what is due.
        unsafe {
            for &(a, b) in code {
                let _ = sys(libc::SYS_madvise, a, b - a, libc::MADV_RANDOM as usize, 0);
                let _ = sys(libc::SYS_madvise, a, b - a, libc::MADV_DONTNEED as usize, 0);
            }
            let _ = sys(
                libc::SYS_ppoll,
                &mut pfd as *mut libc::pollfd as usize,
                1,
                &ts as *const libc::timespec as usize,
                0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_ring_ends_the_sleep_and_a_clear_silences_it() {
        let bell = Bell::new().unwrap();
        let t = Instant::now();
        bell.trim_and_sleep(Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
        bell.ring();
        bell.ring();
        let t = Instant::now();
        bell.trim_and_sleep(Duration::from_secs(30));
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the ring did not wake the sleep"
        );
        bell.clear();
        let t = Instant::now();
        bell.trim_and_sleep(Duration::from_millis(30));
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "a cleared bell still rang"
        );
        let other = bell.clone();
        let ringer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.ring();
        });
        bell.trim_and_sleep(Duration::from_secs(30));
        ringer.join().unwrap();
    }

    #[test]
    fn trimming_keeps_this_process_working() {
        // A test binary is a PIE with relocated RELRO data: trimming it wrongly crashes here.
        let bell = Bell::new().unwrap();
        bell.trim_and_sleep(Duration::ZERO);
        let v: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
        assert_eq!(v.join(",").len(), 289);
        bell.trim_and_sleep(Duration::ZERO);
        assert!(!super::super::host::own_code().is_empty());
    }
}
