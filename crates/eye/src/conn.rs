//! One client connection as it moves between Eye's threads (front stage → worker → front
//! stage, or → an event-stream thread), how workers hand it back (`Back`, `Returns`), and the
//! count of open connections per peer that the front stage caps.
//!
//! It owns the non-blocking socket calls every stage shares: reading what is there, writing
//! what fits, writing with one total deadline, and telling whether a client has gone. A `Conn`
//! holds its place in the count until it is dropped, wherever that happens, so the count
//! cannot drift. It must not parse HTTP or decide responses.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Open connections, in total and per peer address. The peers are a short list (at most one
/// entry per open connection, looked at on accept and close only), not a hash map.
#[derive(Default)]
pub struct Tally {
    total: AtomicUsize,
    peers: Mutex<Vec<(IpAddr, usize)>>,
}

impl Tally {
    fn peers(&self) -> MutexGuard<'_, Vec<(IpAddr, usize)>> {
        // Updated by single changes: still consistent after a panic elsewhere.
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub fn of_peer(&self, ip: &IpAddr) -> usize {
        self.peers()
            .iter()
            .find(|(p, _)| p == ip)
            .map_or(0, |(_, n)| *n)
    }
}

/// A connection's place in the tally, given back on drop.
struct Place {
    tally: Arc<Tally>,
    peer: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.tally.total.fetch_sub(1, Ordering::SeqCst);
        let mut peers = self.tally.peers();
        if let Some(i) = peers.iter().position(|(p, _)| *p == self.peer) {
            if let Some((_, n)) = peers.get_mut(i) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    peers.swap_remove(i);
                }
            }
        }
    }
}

/// A client connection: its non-blocking socket and the bytes received but not yet consumed
/// (a request being read, or the next one pipelined behind the current one).
pub struct Conn {
    pub stream: TcpStream,
    pub peer: IpAddr,
    pub buf: Vec<u8>,
    _place: Place,
}

/// What a read gave.
#[derive(Debug, PartialEq)]
pub enum Got {
    /// This many bytes were added (0: nothing was there, or the buffer is at `max`).
    Bytes(usize),
    /// The client closed its side, or the connection failed.
    Closed,
}

impl Conn {
    /// Counts a freshly accepted (already non-blocking) connection in `tally`.
    pub fn new(stream: TcpStream, peer: IpAddr, tally: &Arc<Tally>) -> Conn {
        tally.total.fetch_add(1, Ordering::SeqCst);
        let mut peers = tally.peers();
        match peers.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, n)) => *n += 1,
            None => peers.push((peer, 1)),
        }
        drop(peers);
        Conn {
            stream,
            peer,
            buf: Vec::new(),
            _place: Place {
                tally: tally.clone(),
                peer,
            },
        }
    }

    /// Reads what the socket has, without blocking, until the buffer holds `max` bytes.
    pub fn fill(&mut self, max: usize) -> Got {
        let mut chunk = [0u8; 16 * 1024];
        let mut added = 0;
        while self.buf.len() < max {
            let room = (max - self.buf.len()).min(chunk.len());
            let Some(dst) = chunk.get_mut(..room) else {
                break;
            };
            match (&self.stream).read(dst) {
                Ok(0) => return Got::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(dst.get(..n).unwrap_or_default());
                    added += n;
                    if n < room {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Got::Closed,
            }
        }
        Got::Bytes(added)
    }

    /// Reads and drops up to `max` bytes; Closed once the client has closed its side.
    pub fn discard(&mut self, max: usize) -> Got {
        let mut chunk = [0u8; 8192];
        let mut dropped = 0;
        while dropped < max {
            match (&self.stream).read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(n) => dropped += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Got::Closed,
            }
        }
        Got::Bytes(dropped)
    }

    /// True when the client has closed its side or the connection failed: a request it sent
    /// before is not worth serving. (A client that half-closes after its request looks the
    /// same and is treated the same, as nginx does.)
    pub fn gone(&self) -> bool {
        let rev = poll_one(self.stream.as_raw_fd(), libc::POLLIN | libc::POLLRDHUP, 0);
        rev & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }
}

/// Polls one descriptor for `events` up to `timeout_ms` (0: just look); the returned events.
pub fn poll_one(fd: i32, events: libc::c_short, timeout_ms: i32) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; the caller owns the descriptor.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n > 0 {
        pfd.revents
    } else {
        0
    }
}

/// Writes as much of `bytes` as the socket takes now; the count written.
pub fn write_some(mut w: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
        match w.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Writes all of `bytes` to a non-blocking socket by `deadline`, however slowly the client
/// reads: the deadline is for the whole write, not per call.
pub fn write_all_by(w: &TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    let mut done = 0;
    loop {
        done += write_some(w, bytes.get(done..).unwrap_or_default())?;
        if done >= bytes.len() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "write deadline passed",
            ));
        }
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        let rev = poll_one(w.as_raw_fd(), libc::POLLOUT, ms);
        if rev & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
    }
}

/// What a worker gives back to the front stage with a connection.
pub enum Back {
    /// The response went out whole: read the connection's next request.
    KeepAlive(Conn),
    /// The response went out whole and the connection ends: drain, then close.
    Close(Conn),
    /// The client did not take the whole response at once: the rest, from `pos`, must be
    /// written by `deadline`.
    Write {
        conn: Conn,
        out: Vec<u8>,
        pos: usize,
        deadline: Instant,
        keep: bool,
    },
}

/// How workers hand connections back and wake the front stage: a list under a mutex and an
/// eventfd the front stage polls. (A plain list rather than an mpsc channel: the channel's
/// three flavours cost kilobytes of the binary's size budget for nothing needed here.)
pub struct Returns {
    backs: Mutex<Vec<Back>>,
    wake_fd: OwnedFd,
}

impl Returns {
    pub fn new() -> io::Result<Returns> {
        // SAFETY: eventfd creates a new descriptor or fails; nothing else is touched.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Returns {
            backs: Mutex::new(Vec::new()),
            // SAFETY: `fd` was just created and is owned by nobody else.
            wake_fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn backs(&self) -> MutexGuard<'_, Vec<Back>> {
        // Single pushes and a swap: consistent after a panic elsewhere.
        self.backs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send(&self, b: Back) {
        let mut backs = self.backs();
        let first = backs.is_empty();
        backs.push(b);
        drop(backs);
        // A non-empty list has a wake-up on its way already (see `take`).
        if first {
            self.wake();
        }
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd; a full counter (it never
        // is) would only fail the write, and the front stage is awake then anyway.
        let _ = unsafe { libc::write(self.wake_fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The descriptor the front stage polls for wake-ups.
    pub fn fd(&self) -> i32 {
        self.wake_fd.as_raw_fd()
    }

    /// Everything handed back since the last call. The wake-up is consumed first: a `send`
    /// racing with this either lands in this take or wakes the next poll.
    pub fn take(&self) -> Vec<Back> {
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        let _ = unsafe { libc::read(self.wake_fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
        std::mem::take(&mut *self.backs())
    }
}
