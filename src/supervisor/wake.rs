//! The loop's doorbell: an eventfd that every sender of an `Event` rings after it sends, so the
//! loop can sleep in poll(2) instead of inside the channel.
//!
//! Why: after periodic work the loop drops its code pages (`host::trim_resident_code`) and
//! sleeps. Whatever code runs between that trim and the sleep is faulted straight back in, and
//! the kernel maps code 16 pages at a time around each fault; the channel's blocking receive
//! touches a dozen functions spread over the binary, which kept about half a megabyte resident
//! in an idle supervisor. Trim and `ppoll` here are one step with nothing in between.
//!
//! Owns the eventfd only: events themselves still travel on the channel, which the loop reads
//! with `try_recv` after the bell rang. Must not decide when to trim (the loop's timers do).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// The doorbell; clones ring the same one.
#[derive(Clone)]
pub struct Bell(Arc<OwnedFd>);

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

    /// Rings: called after every send on the event channel. Never blocks (the counter
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

    /// Drops the code pages, then sleeps until the bell rings or `timeout` passes.
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
        super::host::trim_resident_code();
        // SAFETY: ppoll with one valid pollfd, a valid timeout and no signal mask change. An
        // EINTR simply ends the sleep early; the loop works out what is due.
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
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
}
