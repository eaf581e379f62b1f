//! Showing a URL without its secrets: `redact` for source URLs (user info and token-like query
//! values), `redact_endpoint` for alert endpoints (everything after the host too, where
//! webhook keys and ntfy topics live). Pure text functions.

/// Splits a URL into its scheme (with `://`), authority and the rest; None for a non-URL.
fn split_url(source: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = source.find("://")?;
    let (scheme, rest) = source.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    Some((scheme, authority, tail))
}

/// `authority` with any user info replaced by `***`.
fn redact_authority(authority: &str) -> String {
    match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    }
}

/// Returns an endpoint (a webhook or ntfy URL) safe to show: user info and everything after the
/// host are replaced with `***`, because such URLs carry their secret in the path as often as in
/// the query (`hooks.slack.com/services/T/B/KEY`, an ntfy topic). Non-URLs become `***`.
pub fn redact_endpoint(url: &str) -> String {
    let Some((scheme, authority, tail)) = split_url(url.trim()) else {
        return if url.is_empty() {
            String::new()
        } else {
            "***".into()
        };
    };
    let rest = if tail.is_empty() || tail == "/" {
        tail
    } else {
        "/***"
    };
    format!("{scheme}{}{rest}", redact_authority(authority))
}

/// Query parameter names whose values are treated as secrets when a URL is shown.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "apikey",
    "api_key",
    "api-key",
    "token",
    "access_token",
    "auth",
    "secret",
    "password",
    "pass",
    "pwd",
    "sig",
    "signature",
    "client_secret",
];

/// Returns `source` safe to log: URL userinfo and the values of token-like query parameters
/// are replaced with `***`. Non-URLs are returned unchanged.
pub fn redact(source: &str) -> String {
    let Some((scheme, authority, tail)) = split_url(source) else {
        return source.to_string();
    };
    let authority = redact_authority(authority);
    let (before_query, query_and_frag) = match tail.find('?') {
        Some(q) => tail.split_at(q),
        None => return format!("{scheme}{authority}{tail}"),
    };
    let query_and_frag = &query_and_frag[1..];
    let (query, frag) = match query_and_frag.find('#') {
        Some(h) => (&query_and_frag[..h], &query_and_frag[h..]),
        None => (query_and_frag, ""),
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!(
        "{scheme}{authority}{before_query}?{}{frag}",
        redacted.join("&")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_table() {
        let table = [
            ("config/demo/bars/aapl.csv", "config/demo/bars/aapl.csv"),
            ("https://example.com/a.csv", "https://example.com/a.csv"),
            (
                "https://u:pw@example.com/q?function=NEWS&apikey=SECRET1#x",
                "https://***@example.com/q?function=NEWS&apikey=***#x",
            ),
            (
                "http://h/p?Token=abc&symbol=AAPL",
                "http://h/p?Token=***&symbol=AAPL",
            ),
            ("http://h?key=abc", "http://h?key=***"),
        ];
        for (input, want) in table {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn redact_endpoint_table() {
        let table = [
            (
                "https://hooks.slack.com/services/T00/B00/XXXXSECRET",
                "https://hooks.slack.com/***",
            ),
            ("https://ntfy.sh/mytopic?auth=SECRET", "https://ntfy.sh/***"),
            ("http://u:pw@127.0.0.1:8080/", "http://***@127.0.0.1:8080/"),
            ("http://127.0.0.1:9", "http://127.0.0.1:9"),
            ("not a url with SECRET", "***"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(redact_endpoint(input), want, "{input}");
        }
    }
}
