//! Bytes to UTF-8 text for feed documents: BOMs, the XML encoding declaration, and the
//! windows-1252 table (ISO-8859-1 labels are read as windows-1252, as browsers do, because
//! feeds labelled Latin-1 routinely contain 1252 smart quotes).
//!
//! Pure functions; no I/O. Must not guess beyond UTF-8/UTF-16/Latin-1/1252.

use std::borrow::Cow;

/// windows-1252 bytes 0x80..=0x9F; the rest of the byte range is identical to Latin-1.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// The character a windows-1252 byte stands for.
pub fn cp1252_char(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

fn decode_cp1252(bytes: &[u8]) -> String {
    // Sized exactly up front: high bytes become 2-3 UTF-8 bytes, and growing by doubling
    // would hold two copies at the end.
    let len = bytes.iter().map(|&b| cp1252_char(b).len_utf8()).sum();
    let mut out = String::with_capacity(len);
    out.extend(bytes.iter().map(|&b| cp1252_char(b)));
    out
}

/// The encoding named by an `<?xml ... encoding="..."?>` declaration at the start of the
/// document, lower-cased.
pub fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let decl_end = head.find("?>")?;
    let decl = &head[..decl_end];
    if !decl.trim_start().starts_with("<?xml") {
        return None;
    }
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    let end = body.find(quote)?;
    Some(body[..end].trim().to_ascii_lowercase())
}

/// Decodes a feed document to UTF-8. Returns an error message for a declared encoding this
/// crate does not support when the bytes are not valid UTF-8 either.
pub fn decode_document(bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return Ok(String::from_utf8_lossy(rest));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return Ok(Cow::Owned(decode_utf16(rest, u16::from_le_bytes)));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return Ok(Cow::Owned(decode_utf16(rest, u16::from_be_bytes)));
    }
    let declared = declared_encoding(bytes);
    match declared.as_deref() {
        Some("iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "windows-1252"
        | "cp1252" | "x-cp1252" | "us-ascii" | "ascii") => Ok(Cow::Owned(decode_cp1252(bytes))),
        None | Some("utf-8" | "utf8") => Ok(match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            // Undeclared or mislabelled single-byte text is far more common in feeds than
            // genuinely broken UTF-8, so fall back the way lenient feed readers do.
            Err(_) => Cow::Owned(decode_cp1252(bytes)),
        }),
        Some(other) => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e) => Err(format!(
                "unsupported encoding {other:?} (supported: UTF-8, UTF-16 with BOM, ISO-8859-1, windows-1252) and the bytes are not UTF-8 either (first bad byte at offset {})",
                e.valid_up_to()
            )),
        },
    }
}

fn decode_utf16(bytes: &[u8], conv: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|p| conv([p[0], p[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{FFFD}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_declared_and_fallback_encodings() {
        let table: &[(&[u8], &str)] = &[
            (
                b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x93hi\x94 caf\xe9</a>",
                "“hi” café",
            ),
            (
                b"<?xml version='1.0' encoding='ISO-8859-1'?><a>caf\xe9 \x92</a>",
                "café ’",
            ),
            (b"\xEF\xBB\xBF<a>caf\xC3\xA9</a>", "café"),
            (b"<a>caf\xC3\xA9</a>", "café"),
            (b"<a>caf\xe9</a>", "café"),
            (b"\xFF\xFE<\x00a\x00>\x00\xe9\x00", "<a>é"),
        ];
        for (bytes, want) in table {
            let got = decode_document(bytes).map(|c| c.into_owned());
            let got = got.unwrap_or_else(|e| e);
            assert!(got.contains(want), "{got:?} lacks {want:?}");
        }
        assert!(
            decode_document(b"<?xml version=\"1.0\" encoding=\"shift_jis\"?><a>\x82\xa0</a>")
                .is_err()
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?>"), None);
    }
}
