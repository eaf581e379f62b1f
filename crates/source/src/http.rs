//! Fetching an http(s) URL: ureq with explicit timeouts, the size cap, the status mapping, and
//! redirects followed here, hop by hop, so that every hop's resolved addresses go through the
//! policy of `redirect.rs` before ureq connects to them (ureq's own redirect following is off).
//!
//! The check sits in the resolver ureq connects with (`Guard`), so the addresses checked are
//! the ones connected to: a name cannot resolve to a public address for the check and to
//! 127.0.0.1 for the connection. Behind an HTTP proxy the resolver sees the proxy's address,
//! not the target's. It must not parse what it fetched or log.

use crate::redirect::{hop_allowed, is_private, next_url};
use crate::{read_capped, redact, CapError, FetchOptions, Fetched, SourceError};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Where a fetch is in its redirect chain, shared with the resolver.
#[derive(Debug, Default)]
struct Hops {
    /// 0 for the configured URL.
    hop: u32,
    /// Whether the configured URL's host resolved to a private address.
    origin_private: bool,
    /// The host and address of a hop that was refused.
    refused: Option<(String, IpAddr)>,
}

fn lock(h: &Mutex<Hops>) -> MutexGuard<'_, Hops> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// ureq's resolver with the redirect policy applied to what it resolved.
#[derive(Debug)]
struct Guard {
    inner: DefaultResolver,
    allow_private: bool,
    hops: Arc<Mutex<Hops>>,
}

impl Resolver for Guard {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
        let mut h = lock(&self.hops);
        if h.hop == 0 {
            h.origin_private = ips.iter().any(|ip| is_private(*ip));
        }
        match hop_allowed(h.hop, h.origin_private, self.allow_private, &ips) {
            Ok(()) => Ok(addrs),
            Err(ip) => {
                h.refused = Some((uri.host().unwrap_or_default().to_string(), ip));
                Err(ureq::Error::Other(Box::new(std::io::Error::other(
                    "redirect to a private address refused",
                ))))
            }
        }
    }
}

pub(crate) fn fetch_http(source: &str, opts: &FetchOptions) -> Result<Fetched, SourceError> {
    let shown = redact(source);
    // Checked up front so a BadUri from the call can only come from a redirect target.
    if let Err(e) = source.parse::<Uri>() {
        return Err(SourceError::BadSource {
            source: shown,
            detail: format!("bad URL: {e}"),
        });
    }
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_resolve(Some(opts.connect_timeout))
        .timeout_recv_response(Some(opts.read_timeout))
        .timeout_recv_body(Some(opts.read_timeout))
        .user_agent(opts.user_agent.as_str())
        // We map statuses ourselves so a 404 is not confused with a transport error.
        .http_status_as_error(false)
        // Redirects are followed below, so each hop passes the address policy.
        .max_redirects(0)
        .build();
    let hops = Arc::new(Mutex::new(Hops::default()));
    let guard = Guard {
        inner: DefaultResolver::default(),
        allow_private: opts.allow_private_redirects,
        hops: hops.clone(),
    };
    let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), guard);
    let mut url = source.to_string();
    let mut hop = 0u32;
    let response = loop {
        lock(&hops).hop = hop;
        let response = agent
            .get(&url)
            .call()
            .map_err(|e| match lock(&hops).refused.take() {
                Some((host, ip)) => SourceError::RedirectRefused {
                    source: shown.clone(),
                    detail: format!(
                        "redirected to {host}, which resolves to the private address {ip}: \
                         refused (set allow_private_redirects = true in the module's settings \
                         to allow it)"
                    ),
                },
                None => map_ureq(e, &shown, opts.max_bytes),
            })?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok());
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            break response;
        };
        if hop >= opts.max_redirects {
            return Err(SourceError::Network {
                source: shown,
                detail: format!("more than {} redirects", opts.max_redirects),
            });
        }
        // The target is not shown: a signed redirect URL can carry a token.
        let next = next_url(&url, location)
            .filter(|n| n.parse::<Uri>().is_ok())
            .ok_or_else(|| SourceError::Network {
                source: shown.clone(),
                detail: format!("redirect {} to a URL that is not http(s)", hop + 1),
            })?;
        url = next;
        hop += 1;
    };
    let status = response.status().as_u16();
    if status >= 400 {
        return Err(SourceError::HttpStatus {
            source: shown,
            status,
        });
    }
    if (300..400).contains(&status) {
        // A redirect without a Location, or a 3xx that is not a redirect (304, 305...).
        return Err(SourceError::Network {
            source: shown,
            detail: format!("unfollowed redirect (HTTP status {status})"),
        });
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(len) = response.body().content_length() {
        // Refuse early when the server announces an oversized body: nothing is read at all.
        if len > opts.max_bytes {
            return Err(SourceError::TooLarge {
                source: shown,
                cap: opts.max_bytes,
            });
        }
    }
    let reader = response.into_body().into_reader();
    let bytes = read_capped(reader, opts.max_bytes).map_err(|e| match e {
        CapError::Over => SourceError::TooLarge {
            source: shown.clone(),
            cap: opts.max_bytes,
        },
        CapError::Io(e) => map_io(e, &shown, opts.max_bytes),
    })?;
    Ok(Fetched {
        bytes,
        source: shown,
        content_type,
    })
}

fn map_io(e: std::io::Error, shown: &str, cap: u64) -> SourceError {
    // ureq wraps its own errors (timeouts included) in io::Error while the body is read.
    let inner_is_ureq = e.get_ref().map(|r| r.is::<ureq::Error>()).unwrap_or(false);
    if inner_is_ureq {
        if let Some(inner) = e.into_inner() {
            if let Ok(ue) = inner.downcast::<ureq::Error>() {
                return map_ureq(*ue, shown, cap);
            }
        }
        return SourceError::Network {
            source: shown.to_string(),
            detail: "body read failed".into(),
        };
    }
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => SourceError::Timeout {
            source: shown.to_string(),
            detail: format!("reading body: {e}"),
        },
        _ => SourceError::Network {
            source: shown.to_string(),
            detail: format!("reading body: {e}"),
        },
    }
}

pub(crate) fn map_ureq(e: ureq::Error, shown: &str, cap: u64) -> SourceError {
    let source = shown.to_string();
    match e {
        ureq::Error::StatusCode(status) => SourceError::HttpStatus { source, status },
        ureq::Error::Timeout(t) => SourceError::Timeout {
            source,
            detail: t.to_string(),
        },
        ureq::Error::BodyExceedsLimit(_) => SourceError::TooLarge { source, cap },
        ureq::Error::BadUri(d) => SourceError::Network {
            source,
            detail: format!("bad URL: {d}"),
        },
        ureq::Error::HostNotFound => SourceError::Network {
            source,
            detail: "host not found".into(),
        },
        ureq::Error::ConnectionFailed => SourceError::Network {
            source,
            detail: "connection failed".into(),
        },
        ureq::Error::Io(io) => map_io(io, shown, cap),
        // Everything else (TLS, protocol, redirects) is the remote side misbehaving. ureq's
        // messages carry no URL, so no secret can leak through them.
        other => SourceError::Network {
            source,
            detail: other.to_string(),
        },
    }
}
