//! A captured element's content: built as HTML-ish text while the element is open (text as
//! read, child elements as bare tags), then made plain text by its mode: HTML, escaped text
//! (Atom `type="text"`/`"xhtml"`) or base64 (Atom 0.3 `mode="base64"`, Atom 1.0 non-text
//! types).
//!
//! Pure; must not know which item field the content is for beyond carrying its `Slot`.

use super::item::Slot;
use super::{Attrs, Ns};
use crate::text::clean_html;

/// How a captured element's text is turned into plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Escaped or CDATA HTML (RSS, Atom `type="html"`): tags stripped, entities decoded.
    Html,
    /// Text (Atom `type="text"`, and the text nodes of `type="xhtml"`): a `<` in it is a
    /// character, not markup; child elements still count as tags.
    Text,
    /// Base64 (Atom 0.3 `mode="base64"`, Atom 1.0 non-text media types): decoded, then read
    /// as plain text (`type` text/plain) or as HTML.
    Base64 { text: bool },
}

/// Atom's text-construct rules for `type` (and Atom 0.3's `mode`).
pub(crate) fn atom_mode(attrs: &Attrs) -> Mode {
    if let Some(m) = &attrs.mode {
        match m.trim().to_ascii_lowercase().as_str() {
            "base64" => {
                // Atom 0.3's default type is text/plain.
                let t = attrs.kind.as_deref().unwrap_or("text/plain").trim();
                let text = t.eq_ignore_ascii_case("text/plain") || t.eq_ignore_ascii_case("text");
                return Mode::Base64 { text };
            }
            "escaped" => {
                let plain = attrs
                    .kind
                    .as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"));
                return if plain { Mode::Text } else { Mode::Html };
            }
            _ => {}
        }
    }
    let t = attrs
        .kind
        .as_deref()
        .unwrap_or("text")
        .trim()
        .to_ascii_lowercase();
    match t.as_str() {
        // An empty type is a mistake for the default, not a binary media type.
        "" => Mode::Text,
        "html" | "text/html" => Mode::Html,
        "text" | "text/plain" | "xhtml" | "application/xhtml+xml" => Mode::Text,
        t if t.starts_with("text/") || t.ends_with("+xml") || t.ends_with("/xml") => Mode::Text,
        _ => Mode::Base64 { text: false },
    }
}

/// A captured element: its content as HTML-ish text, built while the element is open.
#[derive(Debug)]
pub(crate) struct Field {
    pub slot: Slot,
    mode: Mode,
    buf: String,
    /// `isPermaLink="false"` on a `<guid>`.
    pub not_permalink: bool,
}

impl Field {
    pub fn new(slot: Slot, mode: Mode) -> Field {
        Field {
            slot,
            mode,
            buf: String::new(),
            not_permalink: false,
        }
    }

    /// A field of an item; `atom_rules` when the element is Atom's (its `type` decides how
    /// its text reads).
    pub fn for_slot(slot: Slot, atom_rules: bool, ns: Ns, local: &str, attrs: &Attrs) -> Field {
        let mode = if atom_rules && matches!(local, "title" | "summary" | "content") {
            atom_mode(attrs)
        } else if ns == Ns::Xhtml {
            // XHTML's text nodes are text: a `&lt;` in them is a character.
            Mode::Text
        } else {
            Mode::Html
        };
        let mut f = Field::new(slot, mode);
        f.not_permalink = attrs
            .permalink
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        f
    }

    pub fn push_text(&mut self, s: &str) {
        if self.mode != Mode::Text {
            self.buf.push_str(s);
            return;
        }
        for c in s.chars() {
            match c {
                '<' => self.buf.push_str("&lt;"),
                // Not `&amp;`: the HTML decoder reads `&amp;` + a name as a double escape.
                '&' => self.buf.push_str("&#38;"),
                c => self.buf.push(c),
            }
        }
    }

    /// Text that is already in the buffer's syntax (an undecoded `&name;`).
    pub fn push_raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// A child element, re-emitted as a bare tag (its attributes are of no use to the text).
    pub fn open_tag(&mut self, local: &str) {
        if !local.is_empty() && !matches!(self.mode, Mode::Base64 { .. }) {
            self.buf.push('<');
            self.buf.push_str(local);
            self.buf.push('>');
        }
    }

    pub fn close_tag(&mut self, local: &str) {
        if !local.is_empty() && !matches!(self.mode, Mode::Base64 { .. }) {
            self.buf.push_str("</");
            self.buf.push_str(local);
            self.buf.push('>');
        }
    }

    /// The content as written (links, ids, dates).
    pub fn into_raw(self) -> String {
        self.buf
    }

    /// The content as plain text.
    pub fn into_plain(self) -> String {
        match self.mode {
            Mode::Base64 { text } => match decode_base64(&self.buf) {
                Some(bytes) => {
                    let decoded = String::from_utf8_lossy(&bytes);
                    if text {
                        let mut f = Field::new(self.slot, Mode::Text);
                        f.push_text(&decoded);
                        clean_html(&f.buf)
                    } else {
                        clean_html(&decoded)
                    }
                }
                // Not base64 after all: read it as it stands.
                None => clean_html(&self.buf),
            },
            Mode::Html | Mode::Text => clean_html(&self.buf),
        }
    }
}

/// Standard base64 (whitespace ignored, padding optional); None when it is not base64.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = false;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        let table: [(&str, Option<&[u8]>); 5] = [
            ("RXhhbXBsZSA8Yj5BdG9tPC9iPg==", Some(b"Example <b>Atom</b>")),
            ("  RXhh\n  bXBsZQ  ", Some(b"Example")),
            ("", Some(b"")),
            ("not base64!", None),
            ("QQ==QQ", None),
        ];
        for (input, want) in table {
            assert_eq!(decode_base64(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn atom_mode_table() {
        let attrs = |kind: Option<&str>, mode: Option<&str>| Attrs {
            kind: kind.map(str::to_string),
            mode: mode.map(str::to_string),
            ..Attrs::default()
        };
        let table = [
            (None, None, Mode::Text),
            (Some("html"), None, Mode::Html),
            (Some("xhtml"), None, Mode::Text),
            (Some("text/html"), Some("escaped"), Mode::Html),
            (None, Some("base64"), Mode::Base64 { text: true }),
            (
                Some("text/html"),
                Some("base64"),
                Mode::Base64 { text: false },
            ),
            (
                Some("application/octet-stream"),
                None,
                Mode::Base64 { text: false },
            ),
            (Some(""), None, Mode::Text),
            (Some("image/svg+xml"), None, Mode::Text),
            (Some("text/csv"), None, Mode::Text),
        ];
        for (kind, mode, want) in table {
            assert_eq!(atom_mode(&attrs(kind, mode)), want, "{kind:?} {mode:?}");
        }
    }
}
