//! Secrets out of the output tail an alert carries: a module's last lines may print a database
//! URL, a feed URL with its key, an `Authorization` header or a token it was given. Each line
//! is cleaned three ways: known secret values (the database password, the supervisor's
//! secret-looking variables, sink keys) become `***`; URLs go through the same redaction as
//! feed URLs (`aivex_source::redact`: user info and token-like query values); and the value after
//! a secret-looking key (`password=`, `token: `, `Bearer `) is replaced. Pure but for building
//! the list of known values; linear in the line, no regex.

use crate::config::Config;

/// The longest line an alert carries (longer ones are cut, with `…`).
pub const MAX_LINE: usize = 500;

/// Parts of names of variables whose values are treated as secrets.
const SECRET_NAMES: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "AUTH",
    "CREDENTIAL",
];

/// Words after which a value is a secret (`key=value`, `key: value`, `"key": "value"`), alone
/// or as a part of a longer key split at `_` or `-` (`db_password`, `x-api-key`).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "key",
    "auth",
    "authorization",
    "credential",
    "credentials",
];

/// Values known to be secret, longest first (so a longer secret is not half-replaced through a
/// shorter one it contains).
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub fn new(mut values: Vec<String>) -> Secrets {
        values.retain(|v| v.len() >= 4);
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// The database password, the sinks' URLs and header values, and the values of the
    /// supervisor's variables whose names look secret.
    pub fn gather(cfg: &Config, env: impl Iterator<Item = (String, String)>) -> Secrets {
        let mut v = Vec::new();
        if let Some(p) = url_password(&cfg.database.url) {
            v.push(p);
        }
        for s in &cfg.alerts.sinks {
            v.push(s.url.clone());
            v.extend(s.headers.iter().map(|(_, h)| h.clone()));
        }
        for (k, val) in env {
            let upper = k.to_ascii_uppercase();
            if SECRET_NAMES.iter().any(|n| upper.contains(n)) && val.len() >= 6 {
                // A list (AIVEX_EYE_TOKEN=a,b) holds several secrets.
                v.extend(val.split(',').map(|s| s.trim().to_string()));
                v.push(val);
            }
        }
        Secrets::new(v)
    }

    /// One line of output, safe to send.
    pub fn line(&self, line: &str) -> String {
        let mut s = line.to_string();
        for secret in &self.values {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), "***");
            }
        }
        let s = redact_urls(&s);
        let mut s = redact_keys(&s);
        if s.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
}

/// The password of `scheme://user:password@host/...`, if any.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let before_query = rest.split('?').next()?;
    let userinfo = &before_query[..before_query.rfind('@')?];
    let pw = userinfo.split_once(':')?.1;
    (!pw.is_empty()).then(|| pw.to_string())
}

fn is_token_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')' | '[' | ']' | '`')
}

/// Every `scheme://...` token through the feed-URL redaction.
fn redact_urls(s: &str) -> String {
    if !s.contains("://") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("://") {
        // The token starts after the last separator before "://".
        let start = rest[..p].rfind(is_token_end).map_or(0, |i| i + 1);
        let end = rest[p..].find(is_token_end).map_or(rest.len(), |i| p + i);
        out.push_str(&rest[..start]);
        out.push_str(&aivex_source::redact(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn secret_word(word: &str) -> bool {
    word.split(['_', '-'])
        .any(|part| SECRET_KEYS.iter().any(|k| part.eq_ignore_ascii_case(k)))
}

/// The value after a secret-looking key (or after `Bearer `) becomes `***`.
fn redact_keys(s: &str) -> String {
    let bytes = s.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        let word = &s[start..i];
        let bearer = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic");
        if !bearer && !secret_word(word) {
            continue;
        }
        let mut k = i;
        while k < bytes.len() && matches!(bytes[k], b'"' | b'\'') {
            k += 1;
        }
        let sep = if bearer {
            k < bytes.len() && bytes[k] == b' '
        } else {
            k < bytes.len() && matches!(bytes[k], b'=' | b':')
        };
        if !sep {
            continue;
        }
        k += 1;
        while k < bytes.len() && matches!(bytes[k], b' ' | b'"' | b'\'') {
            k += 1;
        }
        // "Authorization: Bearer x": the scheme word stays, the next rule takes its value.
        let next_word = s[k..]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if next_word.eq_ignore_ascii_case("bearer") || next_word.eq_ignore_ascii_case("basic") {
            i = k;
            continue;
        }
        let end = s[k..]
            .find(|c: char| is_token_end(c) || matches!(c, '&' | ',' | ';'))
            .map_or(s.len(), |e| k + e);
        if end > k && &s[k..end] != "***" {
            out.push_str(&s[copied..k]);
            out.push_str("***");
            copied = end;
        }
        i = end.max(k);
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_table() {
        let secrets = Secrets::new(vec!["hunter22".into(), "tok-abcdef".into(), "ab".into()]);
        let rows = [
            ("plain line, nothing here", "plain line, nothing here"),
            ("connecting with hunter22 now", "connecting with *** now"),
            (
                "db mysql://aivex:s3cret@db:3306/aivex down",
                "db mysql://***@db:3306/aivex down",
            ),
            (
                "GET https://api.x/q?symbol=A&apikey=K3Y (status 500)",
                "GET https://api.x/q?symbol=A&apikey=*** (status 500)",
            ),
            ("password=pa55 user=bob", "password=*** user=bob"),
            ("PASSWORD: pa55", "PASSWORD: ***"),
            (
                "{\"api_token\": \"zzz\", \"n\": 1}",
                "{\"api_token\": \"***\", \"n\": 1}",
            ),
            (
                "Authorization: Bearer eyJhbGci.x.y",
                "Authorization: Bearer ***",
            ),
            ("token tok-abcdef leaked", "token *** leaked"),
            ("tokens=3 is fine", "tokens=3 is fine"),
            ("mytoken=x and author: Jane", "mytoken=x and author: Jane"),
            (
                "X-Api-Key: k9 db_password=p2",
                "X-Api-Key: *** db_password=***",
            ),
            (
                "ab is too short to be a secret",
                "ab is too short to be a secret",
            ),
        ];
        for (input, want) in rows {
            assert_eq!(secrets.line(input), want, "{input}");
        }
        let long = "x".repeat(2000);
        let cut = secrets.line(&long);
        assert!(cut.len() <= MAX_LINE + 3 && cut.ends_with('…'));
        assert_eq!(url_password("mysql://u:p@ss@h/d"), Some("p@ss".into()));
        assert_eq!(url_password("sqlite:///x"), None);
    }
}
