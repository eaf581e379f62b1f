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
}
