//! URL handling for articles: resolving relative links against a base (RFC 3986 section 5.2,
//! enough for feed links) and the canonical form used for identity (lower-case scheme and
//! host, no default port, no fragment, no tracking parameters, sorted query).
//!
//! Pure string functions; no network, no percent-decoding (two URLs that differ only in
//! percent-encoding are different articles, which is the safe side for dedupe).

/// The parts of an absolute URL.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn scheme_of(s: &str) -> Option<(&str, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| (scheme, &s[colon + 1..]))
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = scheme_of(url)?;
    let rest = rest.split('#').next().unwrap_or("");
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        },
        None => ("", rest),
    };
    Some(Parts {
        scheme,
        authority,
        path,
        query,
    })
}

/// True when `s` starts with a URL scheme (`https:`, `mailto:` ...).
pub fn is_absolute(s: &str) -> bool {
    scheme_of(s).is_some()
}

/// Resolves `reference` against `base`. Returns the reference unchanged when it is already
/// absolute or the base is not an absolute URL.
pub fn resolve(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    if is_absolute(reference) {
        return reference.to_string();
    }
    let Some(b) = split(base.trim()) else {
        return reference.to_string();
    };
    if let Some(r) = reference.strip_prefix("//") {
        return format!("{}://{r}", b.scheme);
    }
    let (ref_main, frag) = match reference.split_once('#') {
        Some((m, f)) => (m, Some(f)),
        None => (reference, None),
    };
    let (ref_path, ref_query) = match ref_main.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (ref_main, None),
    };
    let (path, query) = if ref_path.is_empty() {
        (b.path.to_string(), ref_query.or(b.query))
    } else if ref_path.starts_with('/') {
        (remove_dots(ref_path), ref_query)
    } else {
        let dir = match b.path.rfind('/') {
            Some(i) => &b.path[..=i],
            None => "/",
        };
        (remove_dots(&format!("{dir}{ref_path}")), ref_query)
    };
    let mut out = format!(
        "{}://{}{}",
        b.scheme,
        b.authority,
        if path.is_empty() { "/" } else { &path }
    );
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = frag {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// RFC 3986 section 5.2.4, written into one buffer: a `..` cuts the buffer back to its last
/// `/`, so memory stays one copy of the path whatever its segments.
fn remove_dots(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    let segments = path.split('/');
    let last = path.split('/').count().saturating_sub(1);
    for (i, seg) in segments.enumerate() {
        match seg {
            "." => {
                if i == last {
                    out.push('/');
                }
            }
            ".." => {
                // Drop the last segment, never the root.
                if let Some(cut) = out.rfind('/') {
                    out.truncate(cut);
                }
                if i == last {
                    out.push('/');
                }
            }
            s if i == 0 && s.is_empty() => {}
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Query parameters that only track the reader, never identify the article.
fn is_tracking_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_")
        || matches!(
            k.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gclsrc"
                | "msclkid"
                | "mc_cid"
                | "mc_eid"
                | "ref"
                | "ref_src"
                | "cmpid"
                | "cmp"
                | "yptr"
                | "guccounter"
                | "guce_referrer"
                | "guce_referrer_sig"
                | "soc_src"
                | "soc_trk"
                | "ncid"
                | "taid"
                | "icid"
                | "_hsenc"
                | "_hsmi"
                | "mkt_tok"
                | "igshid"
                | "ito"
                | "smid"
                | "sr_share"
                | "feedtype"
                | "feedname"
                | "xtor"
                | "ocid"
                | "spm"
        )
}

/// The canonical form of an absolute http(s) URL used for article identity. Other strings
/// (relative links, other schemes) are returned trimmed with only the fragment removed.
pub fn canonical_url(url: &str) -> String {
    let url = url.trim();
    let Some(p) = split(url) else {
        return url.split('#').next().unwrap_or("").to_string();
    };
    let scheme = p.scheme.to_ascii_lowercase();
    let (userinfo, hostport) = match p.authority.rfind('@') {
        Some(i) => (&p.authority[..=i], &p.authority[i + 1..]),
        None => ("", p.authority),
    };
    let mut host = hostport.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port {
        if let Some(h) = host.strip_suffix(port) {
            host = h.to_string();
        }
    }
    if let Some(h) = host.strip_suffix('.') {
        host = h.to_string();
    }
    let path = if p.path.is_empty() { "/" } else { p.path };
    let mut params: Vec<&str> = p
        .query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !is_tracking_param(kv.split('=').next().unwrap_or("")))
        .collect();
    params.sort_unstable();
    let mut out = format!("{scheme}://{userinfo}{host}{path}");
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_url_table() {
        let table = [
            (
                "HTTPS://Example.COM:443/a/B?x=1#frag",
                "https://example.com/a/B?x=1",
            ),
            ("http://example.com:80", "http://example.com/"),
            ("http://example.com:8080/p", "http://example.com:8080/p"),
            (
                "https://news.example.com/story?utm_source=rss&id=42&utm_medium=feed&fbclid=abc",
                "https://news.example.com/story?id=42",
            ),
            (
                "https://x.com/s?b=2&a=1&gclid=z&mc_cid=1&mc_eid=2",
                "https://x.com/s?a=1&b=2",
            ),
            (
                "https://x.com/s?ref=rss&cmpid=rss&UTM_Campaign=x",
                "https://x.com/s",
            ),
            ("https://x.com/s?", "https://x.com/s"),
            ("  https://x.com/s  ", "https://x.com/s"),
            ("/relative/path#x", "/relative/path"),
            ("https://user@Host.com./p", "https://user@host.com/p"),
        ];
        for (input, want) in table {
            assert_eq!(canonical_url(input), want, "input {input:?}");
        }
    }

    #[test]
    fn resolve_table() {
        let base = "https://example.com/news/feed.xml?x=1";
        let table = [
            ("https://other.org/a", "https://other.org/a"),
            ("/story/1", "https://example.com/story/1"),
            ("story/2", "https://example.com/news/story/2"),
            ("../story/3", "https://example.com/story/3"),
            ("./a/../b", "https://example.com/news/b"),
            ("//cdn.example.com/x", "https://cdn.example.com/x"),
            ("?page=2", "https://example.com/news/feed.xml?page=2"),
            ("#top", "https://example.com/news/feed.xml?x=1#top"),
            ("../../../../up", "https://example.com/up"),
        ];
        for (reference, want) in table {
            assert_eq!(resolve(base, reference), want, "ref {reference:?}");
        }
        assert_eq!(resolve("not a url", "/x"), "/x");
        assert_eq!(resolve("https://example.com", "a"), "https://example.com/a");
    }
}
