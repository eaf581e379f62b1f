//! Canonical JSON and sha256 hex digests, for signal ids and the governor's config hash.
//!
//! It owns the canonical form (object keys sorted at every level, serde_json's shortest
//! round-trip number formatting), so a hash never depends on field order or on whether some
//! other crate turned on serde_json's `preserve_order`. No I/O.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        // Two table lookups, not a format! per byte: every signal id is one of these.
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// JSON text with object keys sorted recursively and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(k) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let table = [
            (
                json!({"b": 1, "a": [{"z": true, "y": null}]}),
                r#"{"a":[{"y":null,"z":true}],"b":1}"#,
            ),
            (json!({"x": 0.1, "s": "q\""}), r#"{"s":"q\"","x":0.1}"#),
            (json!([]), "[]"),
        ];
        for (v, want) in table {
            assert_eq!(canonical_json(&v), want);
        }
    }

    #[test]
    fn sha256_of_known_input() {
        // sha256("abc") from FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
