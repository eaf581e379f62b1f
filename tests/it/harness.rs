//! The test harness: a throwaway directory with a config and modules, the real `aivex` binary
//! run in it, and waits with hard deadlines that fail with the last thing seen.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_aivex");

/// A test's own directory: `aivex.toml`, `modules/`, `data/`. Removed on drop.
pub struct Env {
    pub dir: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("aivex-it-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("modules")).unwrap();
        Env { dir }
    }

    /// Writes `aivex.toml`: the given text after a fast test `[watchdog]` unless it has its own.
    pub fn config(&self, toml: &str) -> &Env {
        let mut text = String::new();
        if !toml.contains("[watchdog]") {
            text.push_str(FAST_WATCHDOG);
        }
        text.push_str(toml);
        self.write("aivex.toml", &text);
        self
    }

    pub fn module(&self, name: &str, manifest: &str) -> &Env {
        self.write(&format!("modules/{name}/module.toml"), manifest);
        self
    }

    /// A module running `sh -c SCRIPT`.
    pub fn sh_module(&self, name: &str, script: &str, extra: &str) -> &Env {
        let script = script.replace('\\', "\\\\").replace('"', "\\\"");
        self.module(
            name,
            &format!("command = [\"sh\", \"-c\", \"{script}\"]\n{extra}"),
        )
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("aivex.toml")
    }

    /// `aivex ARGS` with a clean environment, run from the test directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&self.dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("AIVEX_")
                || k.starts_with("WATCHDOG_")
                || k == "NOTIFY_SOCKET"
                || k == "JOURNAL_STREAM"
            {
                c.env_remove(k);
            }
        }
        c.env("AIVEX_CONFIG", self.config_path());
        c
    }

    /// Runs a command to completion (with a deadline) and returns its output. The output is
    /// read while the command runs, so a chatty command cannot block on a full pipe.
    pub fn run(&self, args: &[&str], deadline: Duration) -> Output {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(deadline) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let out = rx
                    .recv_timeout(Duration::from_secs(10))
                    .ok()
                    .and_then(|o| o.ok());
                let (o, e) = out.as_ref().map(text).unwrap_or_default();
                panic!(
                    "aivex {args:?} did not finish within {deadline:?}\nstdout:\n{o}\nstderr:\n{e}"
                );
            }
        }
    }

    /// Starts `aivex run --config aivex.toml ARGS` in the background.
    pub fn start(&self, args: &[&str]) -> Supervisor {
        self.start_with(args, &[])
    }

    /// `start` with extra variables in the supervisor's environment.
    pub fn start_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Supervisor {
        let mut all = vec!["run", "--config", "aivex.toml"];
        all.extend_from_slice(args);
        self.start_args(&all, vars)
    }

    /// `aivex ARGS` (a `run` with its own `--config`) in the background, output to
    /// `stdout.txt`/`stderr.txt`.
    pub fn start_args(&self, args: &[&str], vars: &[(&str, &str)]) -> Supervisor {
        let out = std::fs::File::create(self.dir.join("stdout.txt")).unwrap();
        let err = std::fs::File::create(self.dir.join("stderr.txt")).unwrap();
        let mut cmd = self.cmd(args);
        cmd.envs(vars.iter().copied());
        let child = cmd.stdout(out).stderr(err).spawn().unwrap();
        Supervisor {
            child: Some(child),
            dir: self.dir.clone(),
        }
    }

    /// Starts a prepared command (from `cmd`) in the background as the test's supervisor,
    /// its output going to `stdout.txt` and `stderr.txt` like `start`'s.
    pub fn start_cmd(&self, mut cmd: Command) -> Supervisor {
        let out = std::fs::File::create(self.dir.join("stdout.txt")).unwrap();
        let err = std::fs::File::create(self.dir.join("stderr.txt")).unwrap();
        let child = cmd.stdout(out).stderr(err).spawn().unwrap();
        Supervisor {
            child: Some(child),
            dir: self.dir.clone(),
        }
    }

    /// Starts `aivex run --config CONFIG` (a path relative to the test directory) in the
    /// background with extra variables, e.g. a copy of the shipped `config/aivex.toml`.
    pub fn start_config(&self, config: &str, vars: &[(&str, &str)]) -> Supervisor {
        let out = std::fs::File::create(self.dir.join("stdout.txt")).unwrap();
        let err = std::fs::File::create(self.dir.join("stderr.txt")).unwrap();
        let mut cmd = self.cmd(&["run", "--config", config]);
        cmd.envs(vars.iter().copied());
        let child = cmd.stdout(out).stderr(err).spawn().unwrap();
        Supervisor {
            child: Some(child),
            dir: self.dir.clone(),
        }
    }

    pub fn state(&self) -> Option<Value> {
        let p = self.dir.join("data/runs/current/state/runtime_state.json");
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    }

    pub fn run_dir(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.join("data/runs/current")).unwrap()
    }

    /// Waits until `f` holds for the runtime state; panics with the last state after `deadline`.
    pub fn wait_state(
        &self,
        what: &str,
        deadline: Duration,
        mut f: impl FnMut(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + deadline;
        let mut last = None;
        while Instant::now() < end {
            if let Some(s) = self.state() {
                if f(&s) {
                    return s;
                }
                last = Some(s);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "timed out after {deadline:?} waiting for {what}\nlast state: {}\nstderr:\n{}",
            last.map(|s| serde_json::to_string_pretty(&s).unwrap())
                .unwrap_or_else(|| "none".into()),
            self.stderr()
        );
    }

    /// Waits until module `m` is in `state`.
    pub fn wait_module(&self, m: &str, state: &str, deadline: Duration) -> Value {
        self.wait_state(&format!("{m} to be {state}"), deadline, |s| {
            s["modules"][m]["state"] == state
        })
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.txt")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default()
    }

    /// Reads a pid a module wrote into a file under the test dir (waits for it).
    pub fn read_pid(&self, rel: &str, deadline: Duration) -> i32 {
        wait_for(&format!("pid file {rel}"), deadline, || {
            std::fs::read_to_string(self.path(rel))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Supervisor settings that make tests fast.
pub const FAST_WATCHDOG: &str =
    "[watchdog]\nbackoff_base_s = 0.1\nbackoff_cap_s = 2\nstop_grace_s = 2\n\
status_interval_s = 0.5\nheartbeat_ttl_s = 0\nstart_stagger_s = 0\n";

/// A running supervisor; killed (with its modules) if the test did not stop it.
pub struct Supervisor {
    pub child: Option<Child>,
    dir: PathBuf,
}

impl Supervisor {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for the supervisor to exit; returns its exit code (None: killed by a signal).
    pub fn wait(&mut self, deadline: Duration) -> Option<i32> {
        let child = self.child.as_mut().unwrap();
        let end = Instant::now() + deadline;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st.code();
            }
            if Instant::now() > end {
                let err = std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
                panic!("supervisor did not exit within {deadline:?}\nstderr:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(20))
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `f` until it returns Some, or panics after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
    }
}

pub fn wait_dead(pid: i32, deadline: Duration) {
    wait_for(&format!("process {pid} to die"), deadline, || {
        (!alive(pid)).then_some(())
    });
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A free loopback port (bound and released: another process could take it, which a test
/// would notice as a bind error).
pub fn free_port() -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    assert_ne!(port, 0, "no free port");
    port
}

/// One HTTP/1.1 request over a fresh connection: (status, body as JSON, or as a string when it
/// is not JSON), or None when nothing answers (yet). Every socket wait is bounded.
pub fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, Value)> {
    http_auth(addr, method, path, body, None)
}

/// `http` with a bearer token.
pub fn http_auth(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Option<(u16, Value)> {
    use std::io::{Read, Write};
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.unwrap_or("");
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    Some((status, value))
}

/// Copies a directory tree (the repository's `config/` and `modules/` into a test's dir).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
