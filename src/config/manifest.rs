//! `modules/<name>/module.toml`: how to run one module. Parses and validates a manifest into a
//! `ModuleSpec`; never starts anything.

use super::locate::line_of;
use super::sandbox::{self, SandboxSpec};
use super::{ConfigError, Problem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How a module is started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Run {
    /// A built-in module: this binary re-executed as `aivex module <name>`.
    Builtin(String),
    /// An external program and its arguments (program resolved against the module dir).
    Command(Vec<String>),
}

/// When a module counts as ready for the modules that `depends_on` it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum Ready {
    /// After its first heartbeat (the default).
    #[default]
    Heartbeat,
    /// After it exited 0 (a one-shot job: a migration, a download).
    Exit0,
    /// Once this file exists (relative paths: the module's directory) while it runs or after
    /// it exited 0.
    File(PathBuf),
}

/// How the supervisor orders and watches a module, as opposed to how the module runs: a
/// change here is applied by a reload without restarting the module.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Supervision {
    /// Modules that must be ready before this one starts (and that stop after it).
    pub depends_on: Vec<String>,
    /// When this module counts as ready for its dependants.
    pub ready: Ready,
    /// Above this resident memory (its process group's RSS) for two consecutive looks, the
    /// module is stopped gracefully and restarted (`memory_limit`).
    pub max_rss_mb: Option<u64>,
}

/// Everything the supervisor needs to run one module.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleSpec {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: PathBuf,
    pub run: Run,
    pub interval_s: f64,
    pub heartbeat_ttl_s: Option<f64>,
    pub required_env: Vec<String>,
    /// Variables of the supervisor's environment the module inherits besides the basics
    /// (`contract::env::inherits`); `required_env` ones are inherited too.
    pub env: Vec<String>,
    pub no_restart_exit_codes: Vec<i32>,
    pub restart_on_fatal: bool,
    pub settings: serde_json::Value,
    pub sandbox: SandboxSpec,
    /// Order and limits the supervisor applies; not part of `fingerprint`.
    #[serde(skip)]
    pub supervision: Supervision,
}

impl ModuleSpec {
    /// A stable hash of everything that affects how the module runs: a reload restarts a
    /// module exactly when this changes (`supervision` is left out: it changes nothing in the
    /// process).
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(json.as_bytes()))
    }

    /// A stable hash of `supervision`: a reload applies a change of it in place.
    pub fn supervision_fingerprint(&self) -> String {
        let json = serde_json::to_string(&self.supervision).unwrap_or_default();
        hex(&Sha256::digest(json.as_bytes()))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    builtin: Option<String>,
    command: Option<Vec<String>>,
    description: Option<String>,
    interval_s: Option<f64>,
    heartbeat_ttl_s: Option<f64>,
    #[serde(default)]
    required_env: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    no_restart_exit_codes: Option<Vec<i32>>,
    #[serde(default)]
    restart_on_fatal: bool,
    sandbox: Option<String>,
    memory_limit: Option<toml::Value>,
    cpu_seconds: Option<u64>,
    cpu_limit: Option<f64>,
    open_files: Option<u64>,
    max_processes: Option<u64>,
    network: Option<String>,
    cycle_timeout_s: Option<f64>,
    image: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    ready: Option<String>,
    max_rss_mb: Option<u64>,
    settings: Option<toml::Table>,
}

/// Sandbox defaults from `AIVEX_SANDBOX_*`, applied where a manifest sets nothing.
#[derive(Debug, Clone, Default)]
pub struct SandboxDefaults {
    pub mode: Option<String>,
    pub memory_limit: Option<String>,
    pub network: Option<String>,
    pub timeout: Option<String>,
}

/// Parses one manifest. `text` is the file's contents (already read by the caller).
pub fn parse(
    name: &str,
    dir: &Path,
    manifest: &Path,
    text: &str,
    defaults: &SandboxDefaults,
) -> Result<ModuleSpec, ConfigError> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| toml_error(manifest, text, &e))?;
    let mut problems = Vec::new();
    let mut bad = |key: &str, message: String| {
        problems.push(Problem {
            file: manifest.to_path_buf(),
            line: line_of(text, "", key),
            message,
        })
    };

    let run = match (raw.builtin, raw.command) {
        (Some(b), None) if !b.trim().is_empty() => Run::Builtin(b),
        (None, Some(cmd)) if !cmd.is_empty() && !cmd[0].is_empty() => {
            Run::Command(resolve_program(dir, cmd))
        }
        (Some(_), Some(_)) => {
            bad(
                "command",
                "set either `builtin` or `command`, not both".into(),
            );
            Run::Command(vec![])
        }
        (None, Some(_)) => {
            bad(
                "command",
                "`command` must be a non-empty list: [\"program\", \"arg\", ...]".into(),
            );
            Run::Command(vec![])
        }
        _ => {
            bad(
                "builtin",
                "a module needs `builtin = \"<name>\"` or `command = [...]`".into(),
            );
            Run::Command(vec![])
        }
    };
    let interval_s = raw.interval_s.unwrap_or(60.0);
    if !(interval_s.is_finite() && interval_s >= 0.0) {
        bad(
            "interval_s",
            format!("interval_s must be a number >= 0, got {interval_s}"),
        );
    }
    if let Some(ttl) = raw.heartbeat_ttl_s {
        if !(ttl.is_finite() && ttl >= 0.0) {
            bad(
                "heartbeat_ttl_s",
                format!("heartbeat_ttl_s must be >= 0 (0 disables), got {ttl}"),
            );
        }
    }
    for (key, vars) in [("required_env", &raw.required_env), ("env", &raw.env)] {
        for var in vars {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                bad(key, format!("{key} entry {var:?} is not a variable name"));
            }
        }
    }

    let mut sb = SandboxSpec::default();
    let mode = raw.sandbox.clone().or_else(|| defaults.mode.clone());
    if let Some(m) = mode {
        match sandbox::parse_mode(&m) {
            Ok(m) => sb.mode = m,
            Err(e) => bad("sandbox", e),
        }
    }
    let mem = match raw.memory_limit {
        Some(toml::Value::Integer(n)) if n >= 0 => Some(n.to_string()),
        Some(toml::Value::String(s)) => Some(s),
        Some(other) => {
            bad(
                "memory_limit",
                format!(
                    "memory_limit must be a size like \"512M\", got a {}",
                    other.type_str()
                ),
            );
            None
        }
        None => defaults.memory_limit.clone(),
    };
    if let Some(m) = mem {
        match sandbox::parse_bytes(&m) {
            Ok(v) => sb.memory_limit = Some(v),
            Err(e) => bad("memory_limit", e),
        }
    }
    if let Some(n) = raw.network.clone().or_else(|| defaults.network.clone()) {
        match sandbox::parse_network(&n) {
            Ok(n) => sb.network = n,
            Err(e) => bad("network", e),
        }
    }
    sb.cycle_timeout_s = raw.cycle_timeout_s;
    if sb.cycle_timeout_s.is_none() {
        if let Some(t) = &defaults.timeout {
            match t.trim().parse::<f64>() {
                Ok(v) if v >= 0.0 => sb.cycle_timeout_s = Some(v),
                _ => bad(
                    "cycle_timeout_s",
                    format!("AIVEX_SANDBOX_TIMEOUT={t:?} is not seconds"),
                ),
            }
        }
    }
    sb.cpu_seconds = raw.cpu_seconds;
    sb.cpu_limit = raw.cpu_limit;
    sb.open_files = raw.open_files;
    sb.max_processes = raw.max_processes;
    sb.image = raw.image;
    if sb.cpu_limit.is_some() && sb.mode != sandbox::SandboxMode::Docker {
        bad(
            "cpu_limit",
            "cpu_limit (cores) only applies to sandbox = \"docker\"; use cpu_seconds for rlimit"
                .into(),
        );
    }
    if sb.mode == sandbox::SandboxMode::Docker && sb.image.is_none() {
        bad(
            "image",
            "sandbox = \"docker\" needs `image = \"...\"`".into(),
        );
    }
    let _ = raw.description;
    let ready = match raw.ready.as_deref().map(parse_ready) {
        None => Ready::Heartbeat,
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            bad("ready", e);
            Ready::Heartbeat
        }
    };
    for (i, d) in raw.depends_on.iter().enumerate() {
        if raw.depends_on[..i].contains(d) {
            bad("depends_on", format!("depends_on names {d:?} twice"));
        }
    }
    if raw.max_rss_mb == Some(0) {
        bad(
            "max_rss_mb",
            "max_rss_mb must be at least 1 (leave it out for no limit)".into(),
        );
    }

    let settings = match raw.settings {
        Some(t) => serde_json::to_value(t).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Object(Default::default()),
    };
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(ModuleSpec {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        manifest: manifest.to_path_buf(),
        run,
        interval_s,
        heartbeat_ttl_s: raw.heartbeat_ttl_s,
        required_env: raw.required_env,
        env: raw.env,
        no_restart_exit_codes: raw.no_restart_exit_codes.unwrap_or_else(|| vec![2, 78]),
        restart_on_fatal: raw.restart_on_fatal,
        settings,
        sandbox: sb,
        supervision: Supervision {
            depends_on: raw.depends_on,
            ready,
            max_rss_mb: raw.max_rss_mb,
        },
    })
}

/// `"heartbeat"`, `"exit0"` or `"file:PATH"`.
fn parse_ready(s: &str) -> Result<Ready, String> {
    match s {
        "heartbeat" => Ok(Ready::Heartbeat),
        "exit0" => Ok(Ready::Exit0),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.trim().is_empty() => Ok(Ready::File(PathBuf::from(p))),
            _ => Err(format!(
                "ready must be \"heartbeat\", \"exit0\" or \"file:PATH\", got {s:?}"
            )),
        },
    }
}

/// A relative program path resolves against the module directory when the file exists there;
/// a bare name that is not in the module directory is looked up in PATH at spawn time.
fn resolve_program(dir: &Path, mut cmd: Vec<String>) -> Vec<String> {
    let prog = Path::new(&cmd[0]);
    if prog.is_relative() {
        let local = dir.join(prog);
        if prog.components().count() > 1 || local.exists() {
            cmd[0] = local.to_string_lossy().into_owned();
        }
    }
    cmd
}

/// Turns a TOML error into a Problem with the file and the line the parser pointed at.
pub(crate) fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = e.message().to_string();
    ConfigError::one(file, line, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<ModuleSpec, ConfigError> {
        parse(
            "m",
            Path::new("/mods/m"),
            Path::new("/mods/m/module.toml"),
            text,
            &Default::default(),
        )
    }

    #[test]
    fn builtin_and_command() {
        let m = p("builtin = \"chart\"\ninterval_s = 5\n[settings]\nx = 1\n").unwrap();
        assert_eq!(m.run, Run::Builtin("chart".into()));
        assert_eq!(m.settings["x"], 1);
        assert_eq!(m.no_restart_exit_codes, vec![2, 78]);
        let m = p("command = [\"./run.sh\", \"a\"]\n").unwrap();
        assert_eq!(
            m.run,
            Run::Command(vec!["/mods/m/./run.sh".into(), "a".into()])
        );
        let m = p("command = [\"sh\", \"-c\", \"exit 0\"]\n").unwrap();
        assert_eq!(
            m.run,
            Run::Command(vec!["sh".into(), "-c".into(), "exit 0".into()])
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = p("builtin = \"x\"\ninterval_s = \"soon\"\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/mods/m/module.toml:2:"), "{s}");
        let e = p("builtin = \"x\"\nbogus = 1\n").unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("bogus"), "{e}");
        let e = p("interval_s = 1\n").unwrap_err().to_string();
        assert!(e.contains("builtin"), "{e}");
        let e = p("builtin = \"x\"\nsandbox = \"kubernetes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("not supported"), "{e}");
    }

    #[test]
    fn order_keys() {
        let m = p(
            "builtin = \"x\"\ndepends_on = [\"a\", \"b\"]\nready = \"exit0\"\nmax_rss_mb = 64\n",
        )
        .unwrap();
        assert_eq!(m.supervision.depends_on, ["a", "b"]);
        assert_eq!(m.supervision.ready, Ready::Exit0);
        assert_eq!(m.supervision.max_rss_mb, Some(64));
        let m = p("builtin = \"x\"\nready = \"file:ready.flag\"\n").unwrap();
        assert_eq!(m.supervision.ready, Ready::File("ready.flag".into()));
        assert_eq!(
            p("builtin = \"x\"\n").unwrap().supervision,
            Supervision::default()
        );
        for (text, line, what) in [
            ("builtin = \"x\"\nready = \"soon\"\n", 2, "ready must be"),
            ("builtin = \"x\"\nready = \"file:\"\n", 2, "ready must be"),
            (
                "builtin = \"x\"\n\ndepends_on = [\"a\", \"a\"]\n",
                3,
                "twice",
            ),
            ("builtin = \"x\"\nmax_rss_mb = 0\n", 2, "at least 1"),
            ("builtin = \"x\"\nmax_rss_mb = -5\n", 2, ""),
        ] {
            let e = p(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!(":{line}:")) && e.contains(what),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn fingerprint_tracks_changes() {
        let a = p("builtin = \"chart\"\n[settings]\nx = 1\n").unwrap();
        let b = p("builtin = \"chart\"\n[settings]\nx = 2\n").unwrap();
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        // Supervision keys change the supervision fingerprint only.
        let c = p("builtin = \"chart\"\nmax_rss_mb = 9\n[settings]\nx = 1\n").unwrap();
        assert_eq!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.supervision_fingerprint(), c.supervision_fingerprint());
    }
}
