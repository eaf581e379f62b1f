//! Finds the line of a key inside a TOML document, so that validation errors found after
//! deserialising can still say `file:line`. Text-only: no parsing state, no I/O.

/// The 1-based line where `key` is assigned inside `[table]` (or at top level when `table` is
/// empty). Returns the table header's line when the key is absent but the table exists.
pub fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let mut table_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            let name = header.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or("").trim();
            current = name.to_string();
            if current == table {
                table_line = Some(i + 1);
            }
            continue;
        }
        if current != table {
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            let k = k.trim().trim_matches('"');
            if k == key {
                return Some(i + 1);
            }
        }
    }
    table_line
}

/// The 1-based line of `key` inside the `n`-th (0-based) `[[table]]` of an array of tables, or
/// that table's header line when the key is not assigned there.
pub fn array_table_line(text: &str, table: &str, n: usize, key: &str) -> Option<usize> {
    let mut seen = 0usize;
    let mut header = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix("[[") {
            let name = h.split("]]").next().unwrap_or("").trim();
            if header.is_some() {
                // The next array element (or any other table) ends ours.
                break;
            }
            if name == table {
                if seen == n {
                    header = Some(i + 1);
                }
                seen += 1;
            }
            continue;
        }
        if line.starts_with('[') {
            if header.is_some() {
                let name = line.trim_start_matches('[').split(']').next().unwrap_or("");
                // A sub-table of this element (`[alerts.sink.headers]`) still belongs to it.
                if !name.trim().starts_with(&format!("{table}.")) {
                    break;
                }
            }
            continue;
        }
        if header.is_none() {
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            if k.trim().trim_matches('"') == key {
                return Some(i + 1);
            }
        }
    }
    header
}

/// The line a validation message is about, inside `[settings]` (and its sub-tables) of a
/// module manifest: the assignment of the key the message names first, else the `[settings]`
/// header.
pub fn settings_line(text: &str, message: &str) -> Option<usize> {
    key_line(text, "settings", message)
}

/// The line a validation message is about inside `[table]` (and its sub-tables `[table.x]`):
/// the assignment of the key that appears first in `message` as a whole word, else the table's
/// header line. Linear in the text times the number of keys it assigns there.
pub fn key_line(text: &str, table: &str, message: &str) -> Option<usize> {
    let mut current = String::new();
    let mut header = None;
    // (position in the message, -key length, line): the earliest mention wins, then the longest.
    let mut best: Option<(usize, isize, usize)> = None;
    let inside = |t: &str| t == table || t.strip_prefix(table).is_some_and(|r| r.starts_with('.'));
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            current = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if current == table && header.is_none() {
                header = Some(i + 1);
            }
            continue;
        }
        if !inside(&current) {
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let key = k.trim().trim_matches('"');
        if key.is_empty() {
            continue;
        }
        if let Some(pos) = word_at(message, key) {
            let cand = (pos, -(key.len() as isize), i + 1);
            if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                best = Some(cand);
            }
        }
    }
    best.map(|b| b.2).or(header)
}

/// Where `word` first appears in `text` not as part of a longer identifier.
fn word_at(text: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(p) = text[from..].find(word) {
        let at = from + p;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn finds_keys_in_tables() {
        let text = "a = 1\n[watchdog]\nmax_restarts = 3\n\n[runtime]\n\"enabled\" = []\n";
        assert_eq!(line_of(text, "", "a"), Some(1));
        assert_eq!(line_of(text, "watchdog", "max_restarts"), Some(3));
        assert_eq!(line_of(text, "runtime", "enabled"), Some(6));
        assert_eq!(line_of(text, "runtime", "missing"), Some(5));
        assert_eq!(line_of(text, "nope", "x"), None);
    }

    #[test]
    fn finds_keys_in_arrays_of_tables() {
        use super::array_table_line;
        let text = "[alerts]\nqueue = 1\n[[alerts.sink]]\nkind = \"a\"\n\n[[alerts.sink]]\nurl = \"u\"\n\
                    [alerts.sink.headers]\nX = \"1\"\n[[alerts.sink]]\nkind = \"c\"\n[eye]\nkind = 1\n";
        assert_eq!(array_table_line(text, "alerts.sink", 0, "kind"), Some(4));
        assert_eq!(array_table_line(text, "alerts.sink", 1, "kind"), Some(6));
        assert_eq!(array_table_line(text, "alerts.sink", 1, "url"), Some(7));
        assert_eq!(array_table_line(text, "alerts.sink", 1, "X"), Some(9));
        assert_eq!(array_table_line(text, "alerts.sink", 2, "kind"), Some(11));
        assert_eq!(array_table_line(text, "alerts.sink", 3, "kind"), None);
    }

    #[test]
    fn settings_lines_follow_the_message() {
        use super::settings_line;
        let text = "builtin = \"brain\"\n[settings]\nsymbols = [\"A\"]\nhorizon_s = 5\n\
                    [settings.governor]\nmin_confidence = 7\nwindow_s = 1\n";
        for (msg, line) in [
            ("brain settings: symbols[0]: must be a symbol", Some(3)),
            (
                "brain settings: governor.min_confidence must be in [0, 1], got 7",
                Some(6),
            ),
            ("unknown field `horizon_s`", Some(4)),
            ("window_s must be > 0", Some(7)),
            ("something else entirely", Some(2)),
            ("my_symbols_x is not a key here", Some(2)),
        ] {
            assert_eq!(settings_line(text, msg), line, "{msg}");
        }
        assert_eq!(settings_line("builtin = \"x\"\n", "symbols"), None);
    }
}
