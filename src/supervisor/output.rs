//! Capturing module output: one pipe per module process, one thread that polls them all and
//! writes each module's bytes to `runs/<id>/logs/<module>.log`, rotated by size.
//!
//! One thread with poll(2) instead of a thread per pipe keeps the supervisor small with hundreds
//! of modules; the pipe gives back-pressure, so a chatty module cannot outrun the size cap. This
//! file owns the pipes and the log files and nothing else: no policy, no process control.

use aivex_platform::{WriteChange, WriteLatch};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A size-capped log file rotated to `.1`..`.keep`. The file is created with the first byte
/// a module writes: a silent module has no log file (creating hundreds of files at start-up
/// costs more than starting the modules).
pub struct RotatingLog {
    path: PathBuf,
    file: Option<File>,
    opened: bool,
    size: u64,
    max_bytes: u64,
    keep: u32,
    latch: WriteLatch,
}

impl RotatingLog {
    pub fn open(path: PathBuf, max_bytes: u64, keep: u32) -> RotatingLog {
        RotatingLog {
            path,
            file: None,
            opened: false,
            size: 0,
            max_bytes: max_bytes.max(1024),
            keep,
            latch: WriteLatch::default(),
        }
    }

    pub fn write(&mut self, mut buf: &[u8]) {
        if !self.opened {
            self.opened = true;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
            self.size = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(0, |m| m.len());
        }
        while !buf.is_empty() {
            if self.size >= self.max_bytes {
                self.rotate();
            }
            let room = (self.max_bytes - self.size.min(self.max_bytes)) as usize;
            let n = buf.len().min(room.max(1));
            if self.file.is_none() {
                self.file = append(&self.path);
            }
            // A full disk must not stop supervision: the bytes are dropped, the module runs,
            // and the log says so when it starts and when it ends, not per write.
            let r = match self.file.as_mut() {
                Some(f) => f.write_all(&buf[..n]),
                None => Err(io::Error::other("the file cannot be opened")),
            };
            match (self.latch.note(r.is_ok(), std::time::Instant::now()), &r) {
                (Some(WriteChange::Failing), Err(e)) => log::warn!(
                    "cannot write {}: {e}; module output is dropped, and this is not logged again \
                     until a write succeeds",
                    self.path.display()
                ),
                (Some(WriteChange::Recovered), _) => {
                    log::info!("{} can be written again", self.path.display())
                }
                _ => {}
            }
            self.size += n as u64;
            buf = &buf[n..];
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for i in (1..self.keep).rev() {
                let _ = std::fs::rename(numbered(&self.path, i), numbered(&self.path, i + 1));
            }
            let _ = std::fs::rename(&self.path, numbered(&self.path, 1));
        }
        self.file = append(&self.path);
        self.size = 0;
    }
}

fn append(path: &Path) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

pub fn numbered(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// The last `n` lines (at most `max_bytes` of them) of a log file, for crash records.
pub fn tail(path: &Path, n: usize, max_bytes: u64) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return vec![];
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(max_bytes);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return vec![];
    }
    let mut buf = Vec::new();
    let _ = f.take(max_bytes).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // a partial first line
    }
    let from = lines.len().saturating_sub(n);
    lines[from..].iter().map(|l| l.to_string()).collect()
}

enum Msg {
    Add {
        module: String,
        fd: OwnedFd,
        log: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
    Drain {
        module: String,
        done: Sender<()>,
    },
}

/// Handle to the output thread.
pub struct Hub {
    tx: Sender<Msg>,
    wake: File,
}

impl Hub {
    pub fn start() -> io::Result<Hub> {
        let (wake_r, wake_w) = pipe(true)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || run(rx, wake_r))?;
        Ok(Hub {
            tx,
            wake: File::from(wake_w),
        })
    }

    /// Creates a capture pipe for a module process and returns the write end for its
    /// stdout/stderr. The read end is polled by the output thread from now on.
    pub fn pipe_for(
        &mut self,
        module: &str,
        log: PathBuf,
        max_bytes: u64,
        keep: u32,
    ) -> io::Result<OwnedFd> {
        let (r, w) = pipe(false)?;
        let _ = self.tx.send(Msg::Add {
            module: module.into(),
            fd: r,
            log,
            max_bytes,
            keep,
        });
        self.poke();
        Ok(w)
    }

    /// Waits (up to `timeout`) until everything a module wrote so far is in its log file.
    pub fn drain(&mut self, module: &str, timeout: Duration) {
        let (done, wait) = crossbeam_channel::bounded(1);
        let _ = self.tx.send(Msg::Drain {
            module: module.into(),
            done,
        });
        self.poke();
        let _ = wait.recv_timeout(timeout);
    }

    fn poke(&mut self) {
        let _ = self.wake.write(&[1]);
    }
}

/// A pipe with close-on-exec on both ends; the read end is non-blocking.
fn pipe(nonblock_both: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    set_nonblock(r.as_raw_fd());
    if nonblock_both {
        set_nonblock(w.as_raw_fd());
    }
    Ok((r, w))
}

fn set_nonblock(fd: i32) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

struct Source {
    module: String,
    file: File,
}

fn run(rx: Receiver<Msg>, wake: OwnedFd) {
    let mut wake = File::from(wake);
    let mut sources: Vec<Source> = Vec::new();
    let mut logs: HashMap<String, RotatingLog> = HashMap::new();
    let mut latches: HashMap<String, WriteLatch> = HashMap::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(sources.len() + 1);
        pfds.push(libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for s in &sources {
            pfds.push(libc::pollfd {
                fd: s.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut closed = Vec::new();
        for (i, p) in pfds.iter().enumerate().skip(1) {
            if p.revents != 0 && !pump(&mut sources[i - 1], &mut logs, &mut buf) {
                closed.push(i - 1);
            }
        }
        for i in closed.into_iter().rev() {
            let s = sources.swap_remove(i);
            if !sources.iter().any(|o| o.module == s.module) {
                // The next process of the module inherits whether its log is failing, so a
                // full disk is reported once per condition, not once per restart.
                if let Some(log) = logs.remove(&s.module) {
                    latches.insert(s.module.clone(), log.latch);
                }
            }
        }
        if pfds[0].revents != 0 {
            let mut sink = [0u8; 64];
            while matches!(wake.read(&mut sink), Ok(n) if n > 0) {}
            loop {
                match rx.try_recv() {
                    Ok(Msg::Add {
                        module,
                        fd,
                        log,
                        max_bytes,
                        keep,
                    }) => {
                        logs.entry(module.clone()).or_insert_with(|| {
                            let mut l = RotatingLog::open(log, max_bytes, keep);
                            l.latch = latches.remove(&module).unwrap_or_default();
                            l
                        });
                        sources.push(Source {
                            module,
                            file: File::from(fd),
                        });
                    }
                    Ok(Msg::Drain { module, done }) => {
                        for s in sources.iter_mut().filter(|s| s.module == module) {
                            pump(s, &mut logs, &mut buf);
                        }
                        let _ = done.send(());
                    }
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                }
            }
        }
    }
}

/// Reads what is available from one pipe into its log. False at end of file.
fn pump(s: &mut Source, logs: &mut HashMap<String, RotatingLog>, buf: &mut [u8]) -> bool {
    loop {
        match s.file.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if let Some(log) = logs.get_mut(&s.module) {
                    log.write(&buf[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_cap_and_keeps_n() {
        let dir = std::env::temp_dir().join(format!("aivex-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.log");
        let mut log = RotatingLog::open(p.clone(), 1024, 2);
        assert!(!p.exists(), "no file before the first byte");
        for i in 0..100 {
            log.write(format!("line {i:04} {}\n", "x".repeat(40)).as_bytes());
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&p) <= 1024);
        assert_eq!(size(&numbered(&p, 1)), 1024);
        assert_eq!(size(&numbered(&p, 2)), 1024);
        assert!(!numbered(&p, 3).exists());
        let t = tail(&p, 2, 4096);
        assert_eq!(t.len(), 2);
        assert!(t[1].starts_with("line 0099"), "{t:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
