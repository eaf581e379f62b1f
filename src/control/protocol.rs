//! Control-plane wire format: the client sends one JSON object on one line, the supervisor
//! answers with one JSON object on one line. Parsing is strict and bounded; pure.

use serde::{Deserialize, Serialize};

/// Largest request accepted, in bytes.
pub const MAX_REQUEST: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Status,
    Start { module: String },
    Stop { module: String },
    Restart { module: String },
    Reset { module: String },
    Reload,
}

/// Parses a request line; the error says what was wrong.
pub fn parse(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!(
            "request too large ({} bytes, max {MAX_REQUEST})",
            line.len()
        ));
    }
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    serde_json::from_str(text.trim()).map_err(|e| format!("malformed request: {e}"))
}

/// A reply: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
pub fn ok(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(o) = body.as_object_mut() {
        o.insert("ok".into(), true.into());
        body
    } else {
        serde_json::json!({ "ok": true, "result": body })
    }
}

pub fn err(message: impl Into<String>) -> serde_json::Value {
    serde_json::json!({ "ok": false, "error": message.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_and_rejects_junk() {
        assert_eq!(parse(br#"{"cmd":"status"}"#), Ok(Request::Status));
        assert_eq!(
            parse(b"{\"cmd\":\"stop\",\"module\":\"news\"}\n"),
            Ok(Request::Stop {
                module: "news".into()
            })
        );
        for bad in [
            &b"nonsense"[..],
            b"{\"cmd\":\"explode\"}",
            b"{\"cmd\":\"stop\"}",
            b"\xff\xfe",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&vec![b' '; MAX_REQUEST + 1])
            .unwrap_err()
            .contains("too large"));
    }
}
