//! Parsing and redacting database URLs.
//!
//! It owns the URL grammar the store accepts (`sqlite://PATH`, `mysql://` / `mariadb://` with
//! TLS parameters) and `redact_url`. Pure functions only: no file, network or environment
//! access. A parse error never quotes the password.

use crate::error::{Result, StoreError};
use std::path::PathBuf;

/// TLS settings for a MySQL/MariaDB connection, from URL query parameters.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct TlsParams {
    /// `require_ssl=true`: connect with TLS and fail when the server does not offer it.
    pub require: bool,
    /// `ssl_ca=/path/ca.pem`: trust this CA (PEM or DER) in addition to the built-in roots.
    pub ca_path: Option<PathBuf>,
    /// `ssl_accept_invalid_certs=true`: accept any server certificate (self-signed test
    /// servers only: it gives encryption without authentication).
    pub accept_invalid_certs: bool,
}

/// A parsed MySQL/MariaDB URL. Debug is hand-written so the password never prints.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MysqlParams {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub tls: TlsParams,
}

impl std::fmt::Debug for MysqlParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MysqlParams {{ user: {:?}, password: ***, host: {:?}, port: {}, database: {:?}, require_ssl: {} }}",
            self.user, self.host, self.port, self.database, self.tls.require
        )
    }
}

/// Which backend a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbUrl {
    Sqlite(PathBuf),
    Mysql(MysqlParams),
}

/// Parses a store URL. Relative SQLite paths are returned as given: the caller resolves
/// them against its data directory before calling `Store::open`.
pub(crate) fn parse(url: &str) -> Result<DbUrl> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::BadUrl(
                "sqlite:// needs a file path (sqlite:///abs/path or sqlite://rel/path)".into(),
            ));
        }
        return Ok(DbUrl::Sqlite(PathBuf::from(path)));
    }
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .ok_or_else(|| {
            StoreError::BadUrl(format!(
                "unknown scheme in {}: expected sqlite://, mysql:// or mariadb://",
                redact_whole(url)
            ))
        })?;
    parse_mysql(rest, url).map(DbUrl::Mysql)
}

/// A parse error: the URL did not parse, so it is shown redacted whole.
fn bad(url: &str, what: &str) -> StoreError {
    StoreError::BadUrl(format!("{}: {what}", redact_whole(url)))
}

fn parse_mysql(rest: &str, url: &str) -> Result<MysqlParams> {
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    // The password may contain '@' when percent-encoding was forgotten; the host part never
    // does, so the last '@' separates them.
    let (userinfo, hostpart) = main
        .rsplit_once('@')
        .ok_or_else(|| bad(url, "missing user@ before the host"))?;
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (decode(u, url, "user")?, decode(p, url, "password")?),
        None => (decode(userinfo, url, "user")?, String::new()),
    };
    if user.is_empty() {
        return Err(bad(url, "empty user name"));
    }
    let (hostport, database) = hostpart
        .split_once('/')
        .ok_or_else(|| bad(url, "missing /database after the host"))?;
    let database = decode(database, url, "database")?;
    if database.is_empty() {
        return Err(bad(url, "empty database name"));
    }
    let (host, port) = split_host_port(hostport).ok_or_else(|| bad(url, "bad host:port"))?;
    if host.is_empty() {
        return Err(bad(url, "empty host"));
    }
    let mut tls = TlsParams::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v, url, k)?;
        match k {
            "require_ssl" => tls.require = parse_bool(&v).ok_or_else(|| bad(url, "require_ssl must be true or false"))?,
            "ssl_ca" => tls.ca_path = Some(PathBuf::from(v)),
            "ssl_accept_invalid_certs" => {
                tls.accept_invalid_certs = parse_bool(&v)
                    .ok_or_else(|| bad(url, "ssl_accept_invalid_certs must be true or false"))?
            }
            other => {
                return Err(bad(
                    url,
                    &format!(
                        "unknown parameter {other:?} (known: require_ssl, ssl_ca, ssl_accept_invalid_certs)"
                    ),
                ))
            }
        }
    }
    if (tls.ca_path.is_some() || tls.accept_invalid_certs) && !tls.require {
        return Err(bad(
            url,
            "ssl_ca / ssl_accept_invalid_certs only apply with require_ssl=true",
        ));
    }
    Ok(MysqlParams {
        user,
        password,
        host,
        port,
        database,
        tls,
    })
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 3306,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((s.to_string(), 3306)),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Percent-decodes one URL component; `what` names it in the error.
fn decode(s: &str, url: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad(url, &format!("bad percent-escape in {what}")))?;
                out.push(hex);
                i += 3;
            }
            Some(&b) => {
                out.push(b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8(out).map_err(|_| bad(url, &format!("{what} is not UTF-8 after decoding")))
}

/// Returns `url` with the password (if any) replaced by `***`, for logs, errors and status
/// output. A URL `parse` accepts has its password slot (exactly the one `parse` reads)
/// replaced; anything it cannot parse is redacted whole, `<scheme>://***` (or `***` without a
/// recognisable scheme), because where a password starts and ends in a malformed URL is a
/// guess, and a wrong guess prints it (a raw `?` in it, a scheme typo like `mysql//u:pw@h/db`).
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    match parse(url) {
        Ok(DbUrl::Sqlite(_)) => url.to_string(),
        Ok(DbUrl::Mysql(_)) => redact_parsed(url).unwrap_or_else(|| redact_whole(url)),
        Err(_) => redact_whole(url),
    }
}

/// The password slot of a URL `parse_mysql` accepted, found by the same splits it makes.
fn redact_parsed(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let main_end = rest.find('?').unwrap_or(rest.len());
    let at = rest.get(..main_end)?.rfind('@')?;
    let (userinfo, host_and_tail) = rest.split_at(at);
    Some(match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{host_and_tail}"),
        None => format!("{scheme}://{rest}"),
    })
}

fn redact_whole(url: &str) -> String {
    let scheme = url.split_once("://").map(|(s, _)| s).filter(|s| {
        s.len() <= 16
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    match scheme {
        Some(s) => format!("{s}://***"),
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        let table = [
            (
                "sqlite:///var/lib/aivex/aivex.db",
                "/var/lib/aivex/aivex.db",
            ),
            ("sqlite://data/aivex.db", "data/aivex.db"),
            ("sqlite://aivex.db", "aivex.db"),
        ];
        for (url, path) in table {
            assert_eq!(parse(url), Ok(DbUrl::Sqlite(PathBuf::from(path))), "{url}");
        }
    }

    #[test]
    fn mysql_urls() {
        let table = [
            (
                "mysql://u:p%40ss@db.local:3307/aivex",
                "u",
                "p@ss",
                "db.local",
                3307,
                "aivex",
                false,
            ),
            (
                "mariadb://u:pw@127.0.0.1/aivex?require_ssl=true",
                "u",
                "pw",
                "127.0.0.1",
                3306,
                "aivex",
                true,
            ),
            ("mysql://u@[::1]:3310/x", "u", "", "::1", 3310, "x", false),
            ("mysql://u:p@w@h:1/d", "u", "p@w", "h", 1, "d", false),
        ];
        for (url, user, pass, host, port, db, ssl) in table {
            let Ok(DbUrl::Mysql(p)) = parse(url) else {
                panic!("{url} did not parse as mysql");
            };
            assert_eq!(
                (
                    p.user.as_str(),
                    p.password.as_str(),
                    p.host.as_str(),
                    p.port,
                    p.database.as_str(),
                    p.tls.require
                ),
                (user, pass, host, port, db, ssl),
                "{url}"
            );
        }
        let Ok(DbUrl::Mysql(p)) = parse(
            "mysql://u:p@h:1/d?require_ssl=true&ssl_ca=/tmp/ca.pem&ssl_accept_invalid_certs=false",
        ) else {
            panic!("tls url did not parse");
        };
        assert_eq!(p.tls.ca_path, Some(PathBuf::from("/tmp/ca.pem")));
    }

    #[test]
    fn bad_urls_are_config_errors_without_password() {
        let table = [
            "postgres://u:hunter22@h/d",
            "sqlite://",
            "mysql://u:hunter22@h",
            "mysql://u:hunter22@h:notaport/d",
            "mysql://u:hunter22@h:1/",
            "mysql://u:hunter22@h:1/d?verify=yes",
            "mysql://u:hunter22@h:1/d?ssl_ca=/x",
            "mysql://u:hunter22@h:1/d?require_ssl=maybe",
            "mysql://u:hunter22%zz@h:1/d",
        ];
        for url in table {
            let err = parse(url).expect_err(url);
            assert!(matches!(err, StoreError::BadUrl(_)), "{url}: {err:?}");
            assert!(!err.to_string().contains("hunter22"), "{url}: {err}");
            assert!(!format!("{err:?}").contains("hunter22"), "{url}: {err:?}");
        }
    }

    #[test]
    fn redaction_table() {
        let table = [
            (
                "mysql://u:secret@h:3306/d?require_ssl=true",
                "mysql://u:***@h:3306/d?require_ssl=true",
            ),
            ("mariadb://u:p@ss@h/d", "mariadb://u:***@h/d"),
            ("mysql://u@h/d", "mysql://u@h/d"),
            ("mysql://u:pa/ss@h/d", "mysql://u:***@h/d"),
            ("  mysql://u:secret@h/d\n", "mysql://u:***@h/d"),
            ("sqlite:///var/lib/aivex.db", "sqlite:///var/lib/aivex.db"),
            ("not a url", "***"),
            ("sqlite://", "sqlite://***"),
        ];
        for (url, want) in table {
            assert_eq!(redact_url(url), want);
        }
    }

    /// Ugly URLs: whatever the shape, no piece of the password is printed. Each password is
    /// `Zq9x` + something awkward + `Kv3w`; `Zq9x`, `Kv3w` and the awkward part must all vanish.
    #[test]
    fn ugly_urls_never_show_the_password() {
        let table = [
            ("raw ?", "mysql://u:Zq9x?Kv3w@db:3306/aivex", "mysql://***"),
            (
                "raw ? after a good one",
                "mysql://u:Zq9x@h/d?x=1?Kv3w@h/d",
                "mysql://***",
            ),
            (
                "raw #",
                "mysql://u:Zq9x#Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "@ in the password",
                "mysql://u:Zq9x@Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "/ in the password",
                "mysql://u:Zq9x/Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            ("missing //", "mysql:u:Zq9xKv3w@db/aivex", "***"),
            ("typo'd scheme", "mysql//u:Zq9xKv3w@db/aivex", "***"),
            ("unknown scheme", "mysq://u:Zq9xKv3w@db/aivex", "mysq://***"),
            (
                "postgres",
                "postgres://u:Zq9xKv3w@db/aivex",
                "postgres://***",
            ),
            (
                "percent-encoded",
                "mysql://u:Zq9x%3FKv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "bad percent escape",
                "mysql://u:Zq9x%zzKv3w@db/aivex",
                "mysql://***",
            ),
            (
                "IPv6 host",
                "mysql://u:Zq9xKv3w@[::1]:3307/aivex",
                "mysql://u:***@[::1]:3307/aivex",
            ),
            ("no user", "mysql://:Zq9xKv3w@db/aivex", "mysql://***"),
            ("no database", "mysql://u:Zq9xKv3w@db", "mysql://***"),
            (
                "empty password",
                "mysql://u:@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "unicode",
                "mysql://u:Zq9xé密码Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "space",
                "mysql://u:Zq9x Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "newline",
                "mysql://u:Zq9x\nKv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "scheme-like password",
                "mysql://u:Zq9x://Kv3w@db/aivex",
                "mysql://u:***@db/aivex",
            ),
            (
                "unknown parameter",
                "mysql://u:Zq9xKv3w@db/aivex?pw=Zq9x",
                "mysql://***",
            ),
            ("garbage scheme", "m y://u:Zq9xKv3w@db/aivex", "***"),
        ];
        for (what, url, want) in table {
            let got = redact_url(url);
            assert_eq!(got, want, "{what}");
            for piece in ["Zq9x", "Kv3w", "é密码", "%3F", "%zz"] {
                assert!(!got.contains(piece), "{what}: {got}");
            }
            if let Err(e) = parse(url) {
                let text = format!("{e} {e:?}");
                for piece in ["Zq9x", "Kv3w"] {
                    assert!(!text.contains(piece), "{what}: {text}");
                }
            }
        }
    }

    #[test]
    fn params_debug_hides_password() {
        let Ok(DbUrl::Mysql(p)) = parse("mysql://u:topsecret@h/d") else {
            panic!("did not parse");
        };
        assert!(!format!("{p:?}").contains("topsecret"));
    }
}
