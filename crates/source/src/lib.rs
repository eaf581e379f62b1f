//! aivex-source: fetches the bytes of one module source, a local file or an http(s) URL, and
//! posts an alert to an http(s) endpoint (the supervisor's webhook and ntfy sinks).
//!
//! It owns the fetch policy every ingesting module shares: explicit connect and read timeouts,
//! a response size cap enforced while reading (never buffering past it), a User-Agent, HTTP
//! status handling, the redirect policy (at most `max_redirects` hops, none from a public URL
//! to a private address unless allowed: `redirect.rs`, applied in `http.rs`), and the mapping
//! of each failure onto the module error classes. It must not parse what it fetched, retry, or
//! log: callers decide what the bytes mean and what to report.
//! Messages name the source with secrets (URL credentials, token-like query values) redacted.

#![forbid(unsafe_code)]

mod http;
mod post;
mod redact;
pub mod redirect;

pub use post::post;
pub use redact::{redact, redact_endpoint};

use aivex_core::ModuleError;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a fetch is bounded and how it identifies itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Budget for DNS resolution plus TCP/TLS connection setup.
    pub connect_timeout: Duration,
    /// Budget for receiving the response headers, and separately the whole body.
    pub read_timeout: Duration,
    /// Largest body accepted, in bytes; a larger one is rejected without being buffered.
    pub max_bytes: u64,
    pub user_agent: String,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
    /// Follow redirects from a public URL to loopback/private/link-local addresses too (the
    /// modules' `allow_private_redirects` setting); see `redirect`.
    pub allow_private_redirects: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_bytes: 32 * 1024 * 1024,
            user_agent: format!("aivex/{}", env!("CARGO_PKG_VERSION")),
            max_redirects: 5,
            allow_private_redirects: false,
        }
    }
}

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The source as given, with secrets redacted: safe to log.
    pub source: String,
    /// The response's Content-Type header (None for files).
    pub content_type: Option<String>,
}

/// Why a fetch failed. Every variant carries the redacted source so a log line is self-contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The server answered with a status >= 400.
    HttpStatus { source: String, status: u16 },
    /// Connecting, or waiting for headers or body, took longer than its budget.
    Timeout { source: String, detail: String },
    /// DNS, connection, TLS, protocol or redirect failure.
    Network { source: String, detail: String },
    /// The body is larger than `max_bytes`.
    TooLarge { source: String, cap: u64 },
    /// A local path that does not exist: the operator pointed at nothing.
    MissingFile { source: String, path: PathBuf },
    /// A local file that exists but could not be read (permissions, a directory, I/O).
    FileRead { source: String, detail: String },
    /// A source string that is neither an http(s) URL nor a path (e.g. `ftp://...`), or a
    /// malformed URL.
    BadSource { source: String, detail: String },
    /// A redirect from a public URL to a private address, refused by the redirect policy.
    RedirectRefused { source: String, detail: String },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::HttpStatus { source, status } => {
                write!(f, "{source}: HTTP status {status}")
            }
            SourceError::Timeout { source, detail } => write!(f, "{source}: timed out ({detail})"),
            SourceError::Network { source, detail } => write!(f, "{source}: {detail}"),
            SourceError::TooLarge { source, cap } => {
                write!(f, "{source}: response larger than the {cap}-byte cap")
            }
            SourceError::MissingFile { source, path } => {
                write!(f, "{source}: no such file ({})", path.display())
            }
            SourceError::FileRead { source, detail } => {
                write!(f, "{source}: cannot read: {detail}")
            }
            SourceError::BadSource { source, detail }
            | SourceError::RedirectRefused { source, detail } => write!(f, "{source}: {detail}"),
        }
    }
}

impl std::error::Error for SourceError {}

impl From<SourceError> for ModuleError {
    fn from(e: SourceError) -> Self {
        let msg = e.to_string();
        match e {
            // Remote trouble may clear by itself: the supervisor restarts after a short backoff.
            SourceError::HttpStatus { .. }
            | SourceError::Timeout { .. }
            | SourceError::Network { .. } => ModuleError::ExternalService(msg),
            // The document is bad, not the service: record it and keep the module running.
            // A refused redirect is the same: that feed is unusable as it is, the others go on.
            SourceError::TooLarge { .. } | SourceError::RedirectRefused { .. } => {
                ModuleError::DataValidation(msg)
            }
            // Only the operator can fix a wrong path or scheme; restarting will not.
            SourceError::MissingFile { .. } | SourceError::BadSource { .. } => {
                ModuleError::Config(msg)
            }
            SourceError::FileRead { .. } => ModuleError::Recoverable(msg),
        }
    }
}

/// Which way a source string is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Http,
    File(PathBuf),
}

/// Decides how a source is fetched: http(s) URLs go to the network, other `scheme://` strings
/// are rejected, everything else is a path (relative ones are taken from `base_dir`).
pub fn classify(source: &str, base_dir: &Path) -> Result<SourceKind, SourceError> {
    let lower = source.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(SourceKind::Http);
    }
    if let Some(rest) = lower.strip_prefix("file://") {
        // file:// URLs are a common way to write absolute paths; accept them as such.
        let path_part = source.trim_start().get(7..).unwrap_or(rest);
        return Ok(SourceKind::File(PathBuf::from(path_part)));
    }
    if let Some(idx) = lower.find("://") {
        let scheme = &lower[..idx];
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(SourceError::BadSource {
                source: redact(source),
                detail: format!("unsupported scheme '{scheme}' (only http, https and file paths)"),
            });
        }
    }
    if source.trim().is_empty() {
        return Err(SourceError::BadSource {
            source: String::new(),
            detail: "empty source".into(),
        });
    }
    let path = Path::new(source);
    Ok(SourceKind::File(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }))
}

/// Fetches `source` (an http(s) URL, or a file path relative to `base_dir`) within `opts`.
pub fn fetch(source: &str, base_dir: &Path, opts: &FetchOptions) -> Result<Fetched, SourceError> {
    match classify(source, base_dir)? {
        SourceKind::Http => http::fetch_http(source, opts),
        SourceKind::File(path) => fetch_file(source, &path, opts),
    }
}

fn fetch_file(source: &str, path: &Path, opts: &FetchOptions) -> Result<Fetched, SourceError> {
    let shown = redact(source);
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SourceError::MissingFile {
                source: shown.clone(),
                path: path.to_path_buf(),
            }
        } else {
            SourceError::FileRead {
                source: shown.clone(),
                detail: e.to_string(),
            }
        }
    })?;
    let bytes = read_capped(file, opts.max_bytes).map_err(|e| match e {
        CapError::Over => SourceError::TooLarge {
            source: shown.clone(),
            cap: opts.max_bytes,
        },
        CapError::Io(e) => SourceError::FileRead {
            source: shown.clone(),
            detail: e.to_string(),
        },
    })?;
    Ok(Fetched {
        bytes,
        source: shown,
        content_type: None,
    })
}

pub(crate) enum CapError {
    Over,
    Io(std::io::Error),
}

/// Reads at most `cap + 1` bytes: one byte past the cap proves the body is too large without
/// buffering any more of it.
pub(crate) fn read_capped(reader: impl Read, cap: u64) -> Result<Vec<u8>, CapError> {
    let mut bytes = Vec::new();
    reader
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(CapError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(CapError::Over);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let base = Path::new("/etc/aivex");
        let table: [(&str, Result<SourceKind, &str>); 6] = [
            ("http://x/y", Ok(SourceKind::Http)),
            ("HTTPS://x/y", Ok(SourceKind::Http)),
            (
                "demo/a.csv",
                Ok(SourceKind::File(PathBuf::from("/etc/aivex/demo/a.csv"))),
            ),
            (
                "/abs/a.csv",
                Ok(SourceKind::File(PathBuf::from("/abs/a.csv"))),
            ),
            (
                "file:///abs/b.csv",
                Ok(SourceKind::File(PathBuf::from("/abs/b.csv"))),
            ),
            ("ftp://x/y", Err("unsupported scheme 'ftp'")),
        ];
        for (input, want) in table {
            match (classify(input, base), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{input}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{input}: {e}"),
                (got, w) => panic!("{input}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn error_classes() {
        let s = || "src".to_string();
        let table = [
            (
                SourceError::HttpStatus {
                    source: s(),
                    status: 404,
                },
                "ExternalServiceError",
            ),
            (
                SourceError::Timeout {
                    source: s(),
                    detail: "x".into(),
                },
                "ExternalServiceError",
            ),
            (
                SourceError::Network {
                    source: s(),
                    detail: "x".into(),
                },
                "ExternalServiceError",
            ),
            (
                SourceError::TooLarge {
                    source: s(),
                    cap: 9,
                },
                "DataValidationError",
            ),
            (
                SourceError::MissingFile {
                    source: s(),
                    path: "p".into(),
                },
                "ConfigError",
            ),
            (
                SourceError::BadSource {
                    source: s(),
                    detail: "x".into(),
                },
                "ConfigError",
            ),
            (
                SourceError::FileRead {
                    source: s(),
                    detail: "x".into(),
                },
                "RecoverableError",
            ),
            (
                SourceError::RedirectRefused {
                    source: s(),
                    detail: "x".into(),
                },
                "DataValidationError",
            ),
        ];
        for (err, class) in table {
            assert_eq!(ModuleError::from(err.clone()).class(), class, "{err}");
        }
    }
}
