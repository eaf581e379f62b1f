//! The control socket's wire format (src/control/protocol.rs, in the binary crate, included
//! here by path: it is pure and needs only serde). Must not panic; an accepted request
//! serializes back to a line that parses to the same request.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/control/protocol.rs"]
mod protocol;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = protocol::parse(data) {
        let line = serde_json::to_string(&req).expect("a request serializes");
        assert_eq!(protocol::parse(line.as_bytes()), Ok(req));
    }
});
