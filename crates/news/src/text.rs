//! Turning the HTML-ish text found in feeds into plain text: strip tags, decode entities
//! (named, numeric, and the double-escaped `&amp;#8217;` that CMSes emit inside CDATA),
//! collapse whitespace.
//!
//! Pure string functions only. This module must not know about feed formats; it is used for
//! titles, summaries and attribute values alike.

/// Plain text from an HTML fragment: tags removed (block tags become a space so words do not
/// merge, `<script>`/`<style>` bodies dropped), entities decoded, whitespace collapsed.
pub fn clean_html(s: &str) -> String {
    // Each stage's input is dropped as soon as the next has read it: two copies at most.
    let decoded = decode_entities(&strip_tags(s));
    collapse_ws(&decoded)
}

/// Collapses runs of whitespace (including NBSP) into one space and trims; drops zero-width
/// characters and control characters that only confuse tokenisers and terminals.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if matches!(
            c,
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' | '\u{AD}'
        ) || c.is_control()
        {
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

const BLOCK_TAGS: &[&str] = &[
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "table",
    "blockquote",
    "hr",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "img",
    "dd",
    "dt",
    "pre",
];

/// Removes HTML tags and comments. A `<` that does not start a tag (`5 < 6`, `<!'`) is kept.
///
/// Linear in the input: every search starts where the previous one ended, and the end of a
/// `<script>`/`<style>` body is found without lower-casing the rest of the text.
pub fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(body) = after.strip_prefix("<!--") {
            rest = match body.find("-->") {
                Some(end) => &body[end + 3..],
                None => "",
            };
            out.push(' ');
            continue;
        }
        let mut next = after[1..].chars();
        let is_tag = match next.next() {
            Some(c) if c.is_ascii_alphabetic() || c == '/' || c == '?' => true,
            // `<!DOCTYPE`, `<![CDATA[`: markup; `<!'` or `<! ` is text.
            Some('!') => matches!(next.next(), Some(c) if c.is_ascii_alphabetic() || c == '['),
            _ => false,
        };
        if !is_tag {
            out.push('<');
            rest = &after[1..];
            continue;
        }
        let Some(end) = after.find('>') else {
            if after.starts_with("<!") {
                // A declaration never closed (`<!DOCTYPE` alone) is text, as browsers show it.
                out.push_str(after);
            }
            // An unterminated tag at the end of a (probably truncated) summary: drop it.
            rest = "";
            break;
        };
        let tag = &after[1..end];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        rest = &after[end + 1..];
        let raw_text = ["script", "style"]
            .into_iter()
            .find(|t| name.eq_ignore_ascii_case(t));
        if let (Some(raw), false) = (raw_text, closing) {
            rest = match find_close_tag(rest, raw) {
                Some(i) => match rest[i..].find('>') {
                    Some(j) => &rest[i + j + 1..],
                    None => "",
                },
                None => "",
            };
            continue;
        }
        if BLOCK_TAGS.iter().any(|b| name.eq_ignore_ascii_case(b)) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// Byte offset of the first `</name` (any case) in `s`.
fn find_close_tag(s: &str, name: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s.get(from..)?.find("</") {
        let at = from + i;
        let cand = bytes.get(at + 2..at + 2 + name.len())?;
        if cand.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// Decodes HTML entities: named (a common subset of HTML5), decimal and hex. Unknown names
/// are left as written. `&amp;` directly followed by another entity is treated as a
/// double-escaped entity and decoded through (`&amp;#8217;` gives `’`).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match decode_one(after) {
            Some((decoded, used)) => {
                out.push_str(&decoded);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `s` (just after `&`): returns the text and the number
/// of bytes consumed, including the `;`.
fn decode_one(s: &str) -> Option<(String, usize)> {
    let semi = entity_end(s)?;
    let name = &s[..semi];
    if name == "amp" {
        // Double escaping: `&amp;#8217;` or `&amp;nbsp;`.
        if let Some((inner, used)) = decode_one_no_amp(&s[semi + 1..]) {
            return Some((inner, semi + 1 + used));
        }
        return Some(("&".to_string(), semi + 1));
    }
    decode_one_no_amp(s)
}

fn decode_one_no_amp(s: &str) -> Option<(String, usize)> {
    if s.starts_with("amp;") {
        return Some(("&".to_string(), 4));
    }
    let semi = entity_end(s)?;
    let name = &s[..semi];
    let ch = if let Some(num) = name.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            u32::from_str_radix(hex, 16).ok()?
        } else {
            num.parse::<u32>().ok()?
        };
        numeric_char(code)
    } else {
        named_entity(name)?
    };
    Some((ch.to_string(), semi + 1))
}

/// The offset of the `;` ending an entity name at the start of `s`. Names are 1-32 letters,
/// digits or `#`, so the scan stops at the first other byte or after 32 (searching the whole
/// rest for `;` made `&&&...` quadratic).
fn entity_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let n = bytes
        .iter()
        .take(MAX_ENTITY_NAME)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'#')
        .count();
    (n > 0 && bytes.get(n) == Some(&b';')).then_some(n)
}

/// The longest entity name looked for.
const MAX_ENTITY_NAME: usize = 32;

/// HTML maps numeric references in 0x80..0x9F to windows-1252 (`&#146;` is a quote, not a
/// C1 control), and invalid code points to U+FFFD.
pub(crate) fn numeric_char(code: u32) -> char {
    if (0x80..=0x9F).contains(&code) {
        return crate::encoding::cp1252_char(code as u8);
    }
    if code == 0 {
        return '\u{FFFD}';
    }
    char::from_u32(code).unwrap_or('\u{FFFD}')
}

fn named_entity(name: &str) -> Option<char> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "shy" => '\u{AD}',
        "zwj" => '\u{200D}',
        "zwnj" => '\u{200C}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "prime" => '′',
        "Prime" => '″',
        "bull" => '•',
        "middot" => '·',
        "dagger" => '†',
        "Dagger" => '‡',
        "permil" => '‰',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "curren" => '¤',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "minus" => '−',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sup1" => '¹',
        "sup2" => '²',
        "sup3" => '³',
        "micro" => 'µ',
        "sect" => '§',
        "para" => '¶',
        "iexcl" => '¡',
        "iquest" => '¿',
        "ordf" => 'ª',
        "ordm" => 'º',
        "not" => '¬',
        "brvbar" => '¦',
        "uml" => '¨',
        "macr" => '¯',
        "acute" => '´',
        "cedil" => '¸',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "harr" => '↔',
        "le" => '≤',
        "ge" => '≥',
        "ne" => '≠',
        "asymp" => '≈',
        "infin" => '∞',
        "szlig" => 'ß',
        "aacute" => 'á',
        "Aacute" => 'Á',
        "agrave" => 'à',
        "Agrave" => 'À',
        "acirc" => 'â',
        "Acirc" => 'Â',
        "auml" => 'ä',
        "Auml" => 'Ä',
        "atilde" => 'ã',
        "Atilde" => 'Ã',
        "aring" => 'å',
        "Aring" => 'Å',
        "aelig" => 'æ',
        "AElig" => 'Æ',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "ecirc" => 'ê',
        "Ecirc" => 'Ê',
        "euml" => 'ë',
        "Euml" => 'Ë',
        "iacute" => 'í',
        "Iacute" => 'Í',
        "igrave" => 'ì',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "oacute" => 'ó',
        "Oacute" => 'Ó',
        "ograve" => 'ò',
        "ocirc" => 'ô',
        "ouml" => 'ö',
        "Ouml" => 'Ö',
        "otilde" => 'õ',
        "oslash" => 'ø',
        "Oslash" => 'Ø',
        "uacute" => 'ú',
        "Uacute" => 'Ú',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        "yacute" => 'ý',
        "yuml" => 'ÿ',
        _ => return None,
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_html_table() {
        let table = [
            (
                "<p>Apple <b>beats</b> estimates</p>",
                "Apple beats estimates",
            ),
            ("line<br/>break", "line break"),
            (
                "Apple&#8217;s &amp; Microsoft&nbsp;rally",
                "Apple’s & Microsoft rally",
            ),
            (
                "double &amp;#8217; escaped &amp;nbsp;x",
                "double ’ escaped x",
            ),
            ("AT&T and S&P 500", "AT&T and S&P 500"),
            ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
            ("<script>alert(1)</script>clean", "clean"),
            ("a <!-- hidden --> b", "a b"),
            ("  spaced \n\t out  ", "spaced out"),
            ("&#x2019;&#146;&#0;", "’’\u{FFFD}"),
            ("&unknown; &", "&unknown; &"),
            ("truncated <a href=\"x", "truncated"),
            ("<STYLE>p{}</STYLE>Upper", "Upper"),
            ("<!' <a href=\"foo\">", "<!'"),
            (" <!DOCTYPE ", "<!DOCTYPE"),
            ("<!DOCTYPE html><p>x</p>", "x"),
            ("&&&&amp;&#38;", "&&&&&"),
            ("<scRIPT>x</SCRIPT >y<script>z", "y"),
        ];
        for (input, want) in table {
            assert_eq!(clean_html(input), want, "input {input:?}");
        }
    }
}
