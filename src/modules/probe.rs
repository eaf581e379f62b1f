//! `probe`: a built-in module that checks the things a signal box depends on (a file, a TCP
//! port, an HTTP endpoint) every cycle and reports the result to the log and to
//! `runs/<id>/exports/probe.json`. Each target says which error class a failure is
//! (`on_fail`), so an operator can choose between "record and keep going" (invalid), "transient,
//! retry soon" (external, the default) and the rest of the error hierarchy.

use aivex_core::{Ctx, Module, ModuleEnv, ModuleError};
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Target {
    kind: Kind,
    /// file: a path (relative to the config dir); tcp: host:port; http: a URL.
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    addr: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// file: fail when the file is older than this.
    #[serde(default)]
    max_age_s: Option<f64>,
    #[serde(default = "default_timeout")]
    timeout_s: f64,
    #[serde(default)]
    on_fail: OnFail,
}

fn default_timeout() -> f64 {
    5.0
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    File,
    Tcp,
    Http,
}

#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum OnFail {
    #[default]
    External,
    Recoverable,
    Fatal,
    Config,
    Invalid,
}

impl OnFail {
    fn error(self, msg: String) -> ModuleError {
        match self {
            OnFail::External => ModuleError::ExternalService(msg),
            OnFail::Recoverable => ModuleError::Recoverable(msg),
            OnFail::Fatal => ModuleError::Fatal(msg),
            OnFail::Config => ModuleError::Config(msg),
            OnFail::Invalid => ModuleError::DataValidation(msg),
        }
    }
}

pub struct Probe {
    targets: Vec<Target>,
}

impl Probe {
    pub fn new(env: &ModuleEnv) -> Result<Probe, ModuleError> {
        Ok(Probe {
            targets: targets(&env.settings)?,
        })
    }
}

/// Checks the settings without I/O (`aivex check-config`, reload).
pub fn check(settings: &serde_json::Value) -> Result<(), ModuleError> {
    targets(settings).map(drop)
}

/// Parses and checks the settings.
fn targets(settings: &serde_json::Value) -> Result<Vec<Target>, ModuleError> {
    {
        let s: Settings = serde_json::from_value(settings.clone())
            .map_err(|e| ModuleError::Config(format!("probe settings: {e}")))?;
        for (i, t) in s.targets.iter().enumerate() {
            let needed = match t.kind {
                Kind::File => t.path.is_some(),
                Kind::Tcp => t.addr.is_some(),
                Kind::Http => t.url.is_some(),
            };
            if !needed {
                return Err(ModuleError::Config(format!(
                    "probe target {i} ({:?}) needs {}",
                    t.kind,
                    match t.kind {
                        Kind::File => "`path`",
                        Kind::Tcp => "`addr` (host:port)",
                        Kind::Http => "`url`",
                    }
                )));
            }
        }
        Ok(s.targets)
    }
}

impl Probe {
    fn check(&self, t: &Target, env: &ModuleEnv) -> Result<String, String> {
        let timeout = Duration::from_secs_f64(t.timeout_s.max(0.001));
        match t.kind {
            Kind::File => {
                let p = env.resolve_path(t.path.as_deref().unwrap_or_default());
                let m = std::fs::metadata(&p).map_err(|e| format!("file {}: {e}", p.display()))?;
                let age = m
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                match t.max_age_s {
                    Some(max) if age.as_secs_f64() > max => Err(format!(
                        "file {} is {:.0}s old (max {max}s)",
                        p.display(),
                        age.as_secs_f64()
                    )),
                    _ => Ok(format!("file {} ok ({} bytes)", p.display(), m.len())),
                }
            }
            Kind::Tcp => {
                use std::net::ToSocketAddrs;
                let a = t.addr.as_deref().unwrap_or_default();
                let addr = a
                    .to_socket_addrs()
                    .map_err(|e| format!("tcp {a}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("tcp {a}: no address"))?;
                let start = Instant::now();
                std::net::TcpStream::connect_timeout(&addr, timeout)
                    .map_err(|e| format!("tcp {a}: {e}"))?;
                Ok(format!(
                    "tcp {a} ok in {:.1}ms",
                    start.elapsed().as_secs_f64() * 1000.0
                ))
            }
            Kind::Http => {
                let url = t.url.as_deref().unwrap_or_default();
                let opts = aivex_source::FetchOptions {
                    connect_timeout: timeout,
                    read_timeout: timeout,
                    max_bytes: 1 << 20,
                    ..Default::default()
                };
                let start = Instant::now();
                let f =
                    aivex_source::fetch(url, &env.config_dir, &opts).map_err(|e| e.to_string())?;
                Ok(format!(
                    "http {} ok: {} bytes in {:.1}ms",
                    aivex_source::redact(url),
                    f.bytes.len(),
                    start.elapsed().as_secs_f64() * 1000.0
                ))
            }
        }
    }
}

impl Module for Probe {
    fn cycle(&mut self, ctx: &mut Ctx<'_>) -> Result<(), ModuleError> {
        let mut report = Vec::new();
        let mut first_failure = None;
        for t in &self.targets {
            if ctx.should_stop() {
                break;
            }
            let result = self.check(t, ctx.env);
            ctx.beat();
            match &result {
                Ok(msg) => log::info!("probe: {msg}"),
                Err(msg) if t.on_fail == OnFail::Invalid => {
                    ctx.invalid(ModuleError::DataValidation(msg.clone()))
                }
                Err(msg) => {
                    if first_failure.is_none() {
                        first_failure = Some(t.on_fail.error(msg.clone()));
                    }
                }
            }
            report.push(serde_json::json!({
                "kind": format!("{:?}", t.kind).to_lowercase(),
                "ok": result.is_ok(),
                "detail": result.unwrap_or_else(|e| e),
            }));
        }
        if ctx.env.run_dir.is_some() {
            let doc = serde_json::json!({"at": aivex_platform::time::now_rfc3339(), "cycle": ctx.cycle, "targets": report});
            let run = ctx.env.run();
            let path = run.export("probe.json");
            let _ = std::fs::create_dir_all(run.exports_dir());
            let _ = aivex_platform::write_atomic(&path, doc.to_string().as_bytes());
        }
        match first_failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
