//! Eye's HTTP request head: the request line, header lines, target (path and query) and the
//! body length, through crates/eye/src/http.rs's parsing functions (the module is private to
//! aivex-eye, so it is included here by path, with `crate::error::ApiError` re-exported from
//! aivex-eye). Must not panic.
#![no_main]
#![allow(dead_code)]

mod error {
    pub use aivex_eye::ApiError;
}

#[path = "../../crates/eye/src/http.rs"]
mod http;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(first) = lines.next() else { return };
    if let Ok((_method, target, _minor)) = http::parse_request_line(first) {
        let _ = http::split_target(&target);
    }
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| http::parse_header_line(l).ok())
        .collect();
    let _ = http::body_length(&headers, 1 << 20);
});
