//! Eye's request head: `HeadScan` (crates/eye/src/head.rs, which splits the target with
//! crates/eye/src/http.rs) fed the input the way a socket delivers it, in pieces.
//! Both modules are private to aivex-eye, so they are included here by path, with
//! `crate::error::ApiError` re-exported from aivex-eye. Must not panic, and the pieces must not
//! matter: the same bytes scanned whole and scanned as they trickle in give the same answer.
#![no_main]
#![allow(dead_code)]

mod error {
    pub use aivex_eye::ApiError;
}

#[path = "../../crates/eye/src/http.rs"]
mod http;

#[path = "../../crates/eye/src/head.rs"]
mod head;

use head::{HeadScan, Scan};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fn limits() -> http::Limits {
    let t = Duration::from_secs(1);
    http::Limits {
        request_line: 256,
        header_bytes: 1024,
        headers: 16,
        body: 4096,
        header_timeout: t,
        body_timeout: t,
        idle_timeout: t,
        write_timeout: t,
    }
}

/// The first answer other than `Partial` for `data` grown `step` bytes at a time, or the last.
fn scan_in_steps(data: &[u8], step: usize) -> String {
    let lim = limits();
    let mut scan = HeadScan::default();
    let mut end = 0;
    loop {
        end = (end + step).min(data.len());
        match scan.scan(&data[..end], &lim) {
            Scan::Partial if end < data.len() => continue,
            other => return format!("{other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size; the rest is what the client sent.
    let Some((&step, data)) = data.split_first() else { return };
    let whole = scan_in_steps(data, data.len().max(1));
    let pieces = scan_in_steps(data, usize::from(step % 16) + 1);
    assert_eq!(whole, pieces, "the head's answer depends on how its bytes arrived");
});
