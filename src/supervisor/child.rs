//! Starting and signalling module processes.
//!
//! Owns what a module process is created with: its argv, stdin from /dev/null, stdout+stderr
//! into the capture pipe, the environment contract (modules/README.md) and the sandbox
//! (rlimits, a network namespace, or `docker run`), and what a failed start means for the
//! operator. The creation itself (new session, parent-death signal, the clone and exec) is
//! `launch.rs`. It must not wait for children (the supervisor loop reaps with waitpid) nor
//! decide policy.

use super::launch;
use crate::config::{ModuleSpec, NetworkMode, Run, SandboxMode, SandboxSpec};
use aivex_core::contract::env::inherits;
use aivex_core::contract::ChildEnv;
use std::ffi::CString;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A module process's whole environment: what it inherits from the supervisor (by the rule of
/// `contract::env::inherits`) and the contract variables, nothing else. `container` names the
/// variables a docker sandbox passes into the container (the contract and the named ones; the
/// rest only serve the docker client).
pub struct ProcessEnv {
    pub vars: Vec<(OsString, OsString)>,
    pub container: Vec<OsString>,
}

impl ProcessEnv {
    pub fn new(
        spec: &ModuleSpec,
        contract: &ChildEnv,
        inherited: impl Iterator<Item = (OsString, OsString)>,
    ) -> ProcessEnv {
        let builtin =
            matches!(spec.run, Run::Builtin(_)) && spec.sandbox.mode != SandboxMode::Docker;
        let named: Vec<&str> = spec
            .env
            .iter()
            .chain(&spec.required_env)
            .map(String::as_str)
            .collect();
        let set = contract.to_vars();
        let mut vars: Vec<(OsString, OsString)> = inherited
            .filter(|(k, _)| {
                k.to_str().is_some_and(|k| {
                    (inherits(k, builtin, &named) || is_docker_client_var(spec, k))
                        && !set.iter().any(|(c, _)| *c == k)
                })
            })
            .collect();
        let mut container: Vec<OsString> = set.iter().map(|(k, _)| OsString::from(k)).collect();
        container.extend(
            vars.iter()
                .filter(|(k, _)| k.to_str().is_some_and(|k| named.contains(&k)))
                .map(|(k, _)| k.clone()),
        );
        vars.extend(set.into_iter().map(|(k, v)| (OsString::from(k), v)));
        ProcessEnv { vars, container }
    }
}

/// The docker client (not the container) needs to find its engine and its configuration.
fn is_docker_client_var(spec: &ModuleSpec, name: &str) -> bool {
    spec.sandbox.mode == SandboxMode::Docker && name.starts_with("DOCKER_")
}

/// A started process.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub pid: i32,
    /// The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    /// pid it identifies the process even after the pid is reused.
    pub starttime: u64,
    /// Its session id (field 6): recorded so leftover cleanup can tell our group from an
    /// unrelated one that reuses its id.
    pub sid: i32,
}

/// Why a spawn failed; `config` when only a configuration change can fix it.
#[derive(Debug)]
pub struct SpawnError {
    pub config: bool,
    pub message: String,
}

/// Builds the argv for a module: a built-in re-executes this binary as `aivex module <name>`,
/// behind `AIVEX_BUILTIN_LAUNCHER` when that is set (words split on spaces). The launcher exists
/// for running a foreign-architecture binary under user-mode emulation (`qemu-aarch64-static`)
/// where the host has no binfmt_misc entry, so a plain re-exec would fail with ENOEXEC.
pub fn argv(spec: &ModuleSpec, self_exe: &Path) -> Vec<OsString> {
    match &spec.run {
        Run::Builtin(b) => {
            let mut v: Vec<OsString> = std::env::var("AIVEX_BUILTIN_LAUNCHER")
                .map(|l| l.split_whitespace().map(OsString::from).collect())
                .unwrap_or_default();
            v.extend([self_exe.into(), "module".into(), b.into()]);
            v
        }
        Run::Command(cmd) => cmd.iter().map(OsString::from).collect(),
    }
}

/// Starts one module process with `output` (the write end of its capture pipe) as stdout and
/// stderr. The process leads a new session and process group whose ids equal its pid.
pub fn spawn(
    spec: &ModuleSpec,
    self_exe: &Path,
    env: &ProcessEnv,
    output: OwnedFd,
    docker_run_dir: &Path,
) -> Result<Started, SpawnError> {
    let mut args = argv(spec, self_exe);
    if spec.sandbox.mode == SandboxMode::Docker {
        args = docker_argv(spec, &args, env, docker_run_dir);
    }
    let (prog, _) = args.split_first().ok_or_else(|| SpawnError {
        config: true,
        message: "empty command".into(),
    })?;
    let devnull = std::fs::File::open("/dev/null").map_err(|e| SpawnError {
        config: false,
        message: format!("open /dev/null: {e}"),
    })?;
    let limits = Rlimits::from(&spec.sandbox);
    let new_netns =
        spec.sandbox.mode == SandboxMode::Rlimit && spec.sandbox.network == NetworkMode::None;
    let nul = |what: &str| SpawnError {
        config: true,
        message: format!("module {}: {what} contains a NUL byte", spec.name),
    };
    let cstr = |b: &[u8], what: &str| CString::new(b).map_err(|_| nul(what));
    let path = env
        .vars
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let plan = launch::Plan {
        candidates: launch::candidates(prog, path),
        argv: args
            .iter()
            .map(|a| cstr(a.as_bytes(), "the command"))
            .collect::<Result<_, _>>()?,
        envp: env
            .vars
            .iter()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                cstr(&kv, "the environment")
            })
            .collect::<Result<_, _>>()?,
        cwd: cstr(spec.dir.as_os_str().as_bytes(), "the module directory")?,
        stdin: devnull.into(),
        output,
        rlimits: limits.pairs(),
        new_netns,
    };
    match launch::launch(&plan) {
        Ok(pid) => {
            let stat = proc_stat(pid);
            Ok(Started {
                pid,
                starttime: stat.as_ref().map_or(0, |s| s.starttime),
                sid: stat.as_ref().map_or(0, |s| s.sid),
            })
        }
        Err(e) => Err(classify_spawn_error(spec, prog, e, new_netns)),
    }
}

fn classify_spawn_error(
    spec: &ModuleSpec,
    prog: &std::ffi::OsStr,
    launch::LaunchError { step, error: e }: launch::LaunchError,
    netns: bool,
) -> SpawnError {
    let prog = Path::new(prog).display().to_string();
    match (step, e.raw_os_error()) {
        (Some(launch::Step::Directory), _) => SpawnError {
            config: true,
            message: format!(
                "module {}: cannot enter its directory {}: {e}",
                spec.name,
                spec.dir.display()
            ),
        },
        (Some(launch::Step::Limits), _) => SpawnError {
            config: true,
            message: format!("module {}: cannot set its sandbox limits: {e}", spec.name),
        },
        (Some(launch::Step::Namespace), Some(libc::EPERM) | Some(libc::EINVAL)) if netns => SpawnError {
            config: true,
            message: format!(
                "module {}: network = \"none\" needs a new network namespace, which this host does not allow ({e}); \
                 run aivex with CAP_SYS_ADMIN or user namespaces, or set network = \"host\"",
                spec.name
            ),
        },
        (Some(launch::Step::Exec), Some(libc::ENOENT)) => SpawnError { config: true, message: format!("module {}: program {prog} not found", spec.name) },
        (Some(launch::Step::Exec), Some(libc::EACCES)) => {
            SpawnError { config: true, message: format!("module {}: program {prog} is not executable", spec.name) }
        }
        (Some(launch::Step::Exec), Some(libc::ENOEXEC)) => SpawnError { config: true, message: format!("module {}: program {prog} is not an executable this machine can run", spec.name) },
        _ => SpawnError { config: false, message: format!("module {}: cannot start {prog}: {e}", spec.name) },
    }
}

/// Resource limits applied in the child before exec (sandbox = "rlimit").
#[derive(Clone, Copy, Default)]
struct Rlimits {
    address_space: Option<u64>,
    cpu_seconds: Option<u64>,
    open_files: Option<u64>,
    processes: Option<u64>,
}

impl Rlimits {
    fn from(sb: &SandboxSpec) -> Rlimits {
        if sb.mode != SandboxMode::Rlimit {
            return Rlimits::default();
        }
        Rlimits {
            address_space: sb.memory_limit,
            cpu_seconds: sb.cpu_seconds,
            open_files: sb.open_files,
            processes: sb.max_processes,
        }
    }

    /// The limits to set, as `(resource, value)` for both the soft and the hard limit.
    fn pairs(&self) -> Vec<(std::ffi::c_int, u64)> {
        [
            (libc::RLIMIT_AS, self.address_space),
            (libc::RLIMIT_CPU, self.cpu_seconds),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_NPROC, self.processes),
        ]
        .into_iter()
        .filter_map(|(r, v)| Some((r as std::ffi::c_int, v?)))
        .collect()
    }
}

/// `docker run --rm` with the sandbox's limits; the run directory is mounted at the same path so
/// the heartbeat file and crash records work unchanged.
fn docker_argv(
    spec: &ModuleSpec,
    inner: &[OsString],
    env: &ProcessEnv,
    run_dir: &Path,
) -> Vec<OsString> {
    let sb = &spec.sandbox;
    let mut a: Vec<OsString> = ["docker", "run", "--rm", "--init"]
        .iter()
        .map(OsString::from)
        .collect();
    a.push(format!("--name=aivex-{}-{}", spec.name, std::process::id()).into());
    if let Some(m) = sb.memory_limit {
        a.push(format!("--memory={m}").into());
    }
    if let Some(c) = sb.cpu_limit {
        a.push(format!("--cpus={c}").into());
    }
    if let Some(n) = sb.open_files {
        a.push(format!("--ulimit=nofile={n}:{n}").into());
    }
    if let Some(n) = sb.max_processes {
        a.push(format!("--pids-limit={n}").into());
    }
    if let Some(c) = sb.cpu_seconds {
        a.push(format!("--ulimit=cpu={c}:{c}").into());
    }
    a.push(
        format!(
            "--network={}",
            if sb.network == NetworkMode::None {
                "none"
            } else {
                "host"
            }
        )
        .into(),
    );
    let rd = run_dir.display();
    a.push(format!("--volume={rd}:{rd}").into());
    let mut inner = inner.to_vec();
    if let Run::Builtin(_) = spec.run {
        // The static binary runs in any image: mount it read-only.
        let exe = PathBuf::from(&inner[0]);
        a.push(format!("--volume={}:/usr/local/bin/aivex:ro", exe.display()).into());
        inner[0] = "/usr/local/bin/aivex".into();
    }
    for k in &env.container {
        // `-e NAME` passes the value from docker's own environment, which we set for it.
        a.push("-e".into());
        a.push(k.clone());
    }
    a.push(sb.image.clone().unwrap_or_default().into());
    a.extend(inner);
    a
}

/// Signals a whole process group. ESRCH (already gone) is not an error.
pub fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid addresses the group; no memory is involved.
        unsafe { libc::kill(-pgid, sig) };
    }
}

/// The fields of /proc/PID/stat the supervisor uses, read now.
pub fn proc_stat(pid: i32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// The fields of /proc/PID/stat the supervisor uses.
#[derive(Debug, PartialEq)]
pub struct Stat {
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
}

/// Parses /proc/PID/stat; the command name may hold spaces and parentheses, so fields are
/// counted from the last ')'.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(3) ppid(4) pgrp(5) session(6) ... starttime(22) => indexes 0-based
    // from field 3.
    Some(Stat {
        pgid: f.get(2)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// Whether the docker engine answers on its socket (no subprocess: the supervisor reaps every
/// child with waitpid(-1), so it must not run helper commands of its own).
pub fn docker_reachable() -> Result<(), String> {
    use std::io::{Read, Write};
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let Some(path) = host.strip_prefix("unix://") else {
        return Err(format!(
            "DOCKER_HOST={host} is not a unix socket; only local engines are supported"
        ));
    };
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("no Docker engine reachable at {path}: {e}"))?;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(3)));
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("docker ping: {e}"))?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).map_err(|e| format!("docker ping: {e}"))?;
    if buf[..n].starts_with(b"HTTP/1.0 200") || buf[..n].starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("Docker engine at {path} did not answer its ping"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                pgid: 4242,
                sid: 4242,
                starttime: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        let me = std::process::id() as i32;
        let mine = proc_stat(me).unwrap();
        assert!(mine.starttime > 0);
        // SAFETY: getsid(0) reads our own session id.
        assert_eq!(mine.sid, unsafe { libc::getsid(0) });
    }
}
