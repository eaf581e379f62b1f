//! `GET /modules/{name}/log?lines=`: the last lines of a module's captured output
//! (`runs/<run>/logs/<name>.log`, and its previous rotation when the current file is short).
//!
//! It owns which modules may be named (only those in the supervisor's state file, so no name
//! becomes a path of its choosing), how much is read (at most `MAX_TAIL_BYTES` from the end of
//! each file, whatever its size), and how a line is shown: terminal escape sequences and other
//! control characters removed, the password of any `scheme://user:password@` URL replaced by
//! `***` (modules must not print secrets; this is a second line of defence), at most
//! `MAX_LINE_CHARS` characters. `tail` and `clean` are pure; `serve` reads the files.

use crate::app::{read_state, App};
use crate::dash::Query;
use crate::error::ApiError;
use crate::http::{Request, Response};
use serde_json::json;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const DEFAULT_LINES: usize = 100;
pub const MAX_LINES: usize = 1000;
pub const MAX_TAIL_BYTES: u64 = 256 * 1024;
pub const MAX_LINE_CHARS: usize = 2000;

/// The last `n` complete lines of `bytes`; `whole` says `bytes` starts at the file's start (so
/// its first line is complete).
pub fn tail(bytes: &[u8], whole: bool, n: usize) -> Vec<String> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // After the last newline: a line still being written, shown as it is.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if !whole && !lines.is_empty() {
        // Starts mid-line: drop the fragment.
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines
        .iter()
        .skip(skip)
        .map(|l| clean(&String::from_utf8_lossy(l)))
        .collect()
}

/// A line fit to show: no escape sequences or control characters (tabs stay), URL passwords
/// masked, at most `MAX_LINE_CHARS` characters.
pub fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(MAX_LINE_CHARS));
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte (@ to ~); other escapes: ESC and one character.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        out.push(c);
    }
    let mut masked = mask_url_passwords(out.trim_end());
    if let Some((i, _)) = masked.char_indices().nth(MAX_LINE_CHARS) {
        masked.truncate(i);
        masked.push('…');
    }
    masked
}

/// Replaces the password in every `scheme://user:password@host` with `***`.
fn mask_url_passwords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The URL runs to the next space or quote. Its userinfo is everything before the last
        // `@` in it, so a password with a raw `/`, `?` or `@` is masked whole too (a path
        // holding `user:x@` is masked needlessly, which is harmless).
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .unwrap_or(tail.len());
        let (authority, after) = tail.split_at(end);
        match authority.rfind('@') {
            Some(at) => {
                let (userinfo, host) = authority.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The last `MAX_TAIL_BYTES` of a file, and whether that is the whole file. None when it does
/// not exist.
fn read_tail(path: &Path) -> Result<Option<(Vec<u8>, bool)>, std::io::Error> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let from = len.saturating_sub(MAX_TAIL_BYTES);
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.take(MAX_TAIL_BYTES).read_to_end(&mut buf)?;
    Ok(Some((buf, from == 0)))
}

pub fn serve(app: &App, name: &str, req: &Request) -> Result<Response, ApiError> {
    let q = Query::parse(&req.query, &["lines"])?;
    let n = q.int("lines", 1, MAX_LINES, DEFAULT_LINES)?;
    let st = read_state(&app.state_file).map_err(|why| {
        ApiError::new(
            503,
            "state_unavailable",
            format!("supervisor state unavailable: {why}"),
        )
    })?;
    if !st.modules.contains_key(name) {
        return Err(ApiError::not_found(format!(
            "no module named {name:?} in this run"
        )));
    }
    let current = app.run.log_file(name);
    let io = |e: std::io::Error| {
        ApiError::new(503, "state_unavailable", format!("logs/{name}.log: {e}"))
    };
    let mut lines = Vec::new();
    let mut truncated = false;
    if let Some((bytes, whole)) = read_tail(&current).map_err(io)? {
        lines = tail(&bytes, whole, n);
        truncated = !whole && lines.len() < n;
        if whole && lines.len() < n {
            // The rest comes from the previous rotation, if any.
            let previous = current.with_extension("log.1");
            if let Some((bytes, whole)) = read_tail(&previous).map_err(io)? {
                let mut older = tail(&bytes, whole, n - lines.len());
                truncated = !whole && older.len() < n - lines.len();
                older.append(&mut lines);
                lines = older;
            }
        }
    }
    let body = json!({
        "module": name,
        "file": format!("logs/{name}.log"),
        "count": lines.len(),
        "lines": lines,
        "truncated": truncated,
    });
    Ok(Response::json(200, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_table() {
        let table: &[(&[u8], bool, usize, &[&str])] = &[
            (b"", true, 5, &[]),
            (b"a\nb\nc\n", true, 2, &["b", "c"]),
            (b"a\nb\nc\n", true, 9, &["a", "b", "c"]),
            (b"a\nb\npartial", true, 1, &["partial"]),
            (b"ment\nb\nc\n", false, 9, &["b", "c"]),
            (b"\xffx\n", true, 1, &["\u{fffd}x"]),
        ];
        for (bytes, whole, n, want) in table {
            assert_eq!(
                tail(bytes, *whole, *n),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn clean_table() {
        let table = [
            ("plain line", "plain line"),
            ("\u{1b}[31mred\u{1b}[0m text", "red text"),
            ("bell\u{7} and\ttab\r", "bell and\ttab"),
            (
                "store mysql://aivex:s3cr3t@db:3306/aivex ok",
                "store mysql://aivex:***@db:3306/aivex ok",
            ),
            ("url https://example.org/x", "url https://example.org/x"),
            ("two a://u:p@h b://v:q@i", "two a://u:***@h b://v:***@i"),
            ("user only ftp://anon@h/", "user only ftp://anon@h/"),
            ("p@ss in ://x:y:z@h", "p@ss in ://x:***@h"),
            ("raw mysql://u:pa/ss?w@h/db", "raw mysql://u:***@h/db"),
            ("quoted \"pg://u:p@h\" end", "quoted \"pg://u:***@h\" end"),
        ];
        for (line, want) in table {
            assert_eq!(clean(line), want, "{line:?}");
        }
        let long = "x".repeat(MAX_LINE_CHARS + 10);
        assert_eq!(clean(&long).chars().count(), MAX_LINE_CHARS + 1);
    }
}
