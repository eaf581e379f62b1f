//! Ticker extraction from article text: `$CASHTAGS`, configured symbols written as upper-case
//! whole words, and company-name aliases (case-insensitive whole words, possessives allowed).
//!
//! Pure. It must not decide which tickers the module keeps: cashtags of symbols outside the
//! configured list are returned too.

use std::collections::{BTreeMap, BTreeSet};

/// Upper-case words that are also tickers: as bare words they are English far more often,
/// so they only count as a `$CASHTAG`.
const AMBIGUOUS: &[&str] = &[
    "A", "I", "AI", "IT", "ON", "ALL", "ARE", "BE", "CAN", "FOR", "GO", "HAS", "NOW", "ONE", "SO",
    "OUT", "SEE", "AT", "AN", "AS", "BIG", "CAR", "DAY", "EAT", "FUN", "GOOD", "HE", "HOME", "KEY",
    "LOVE", "MAN", "NEW", "OPEN", "PLAY", "REAL", "RUN", "SAFE", "TRUE", "YOU", "CEO", "CFO",
    "EPS", "GDP", "CPI", "USA", "US", "UK", "EU", "IPO", "ETF", "SEC", "FED", "OR", "AND", "BY",
    "TO", "DO", "IN", "IS", "OF", "ME", "MY", "WE", "UP", "NO", "OK", "PM", "AM", "TV", "PC",
    "ANY", "WELL", "LOW", "HIGH", "JOB", "PAY", "BEST", "CASH", "FAST", "FREE", "LIFE", "EARN",
    "TECH", "MAIN", "NICE", "POST", "SAVE", "TELL", "VERY", "WAY", "ELSE",
];

/// Extracts tickers from text for a configured universe.
#[derive(Debug, Clone, Default)]
pub struct TickerMatcher {
    /// Configured symbols matched as bare upper-case words.
    symbols: BTreeSet<String>,
    /// Every configured symbol, for case-insensitive cashtags.
    all_symbols: BTreeSet<String>,
    /// (lower-case alias, symbol).
    aliases: Vec<(String, String)>,
}

impl TickerMatcher {
    /// `symbols` maps each symbol to its company-name aliases, e.g.
    /// `{"AAPL": ["Apple"], "NVDA": ["Nvidia", "NVIDIA"]}`.
    pub fn new(symbols: &BTreeMap<String, Vec<String>>) -> TickerMatcher {
        let mut m = TickerMatcher::default();
        for (sym, aliases) in symbols {
            let sym = sym.trim().to_ascii_uppercase();
            if sym.is_empty() {
                continue;
            }
            m.all_symbols.insert(sym.clone());
            if !AMBIGUOUS.contains(&sym.as_str()) && sym.chars().count() > 1 {
                m.symbols.insert(sym.clone());
            }
            for a in aliases {
                let a = a.trim().to_lowercase();
                if !a.is_empty() {
                    m.aliases.push((a, sym.clone()));
                }
            }
        }
        // Longest first, so "meta platforms" is tried before "meta" (both map the same way,
        // but this keeps the scan order deterministic).
        m.aliases
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.cmp(b)));
        m
    }

    /// Tickers mentioned in `text`, sorted and unique.
    pub fn extract(&self, text: &str) -> Vec<String> {
        let mut found = BTreeSet::new();
        self.cashtags(text, &mut found);
        self.bare_symbols(text, &mut found);
        self.alias_hits(text, &mut found);
        found.into_iter().collect()
    }

    fn cashtags(&self, text: &str, found: &mut BTreeSet<String>) {
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c != '$' {
                continue;
            }
            if i > 0
                && chars
                    .get(i - 1)
                    .is_some_and(|p| p.is_alphanumeric() || *p == '$')
            {
                continue;
            }
            let letters: String = chars
                .iter()
                .skip(i + 1)
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let n = letters.chars().count();
            if !(1..=6).contains(&n) {
                continue;
            }
            let mut end = i + 1 + n;
            let mut tag = letters;
            // Class suffix: $BRK.B, $RDS.A (one or two letters after the dot).
            if chars.get(end) == Some(&'.') {
                let suffix: String = chars
                    .iter()
                    .skip(end + 1)
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if (1..=2).contains(&suffix.len()) && suffix.chars().all(|c| c.is_ascii_uppercase())
                {
                    tag = format!("{tag}.{suffix}");
                    end += 1 + suffix.len();
                }
            }
            if chars
                .get(end)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                continue;
            }
            let upper = tag.to_ascii_uppercase();
            // "$aapl" is fine for a configured symbol; an unknown lower-case one is more likely
            // a template variable or slang than a ticker.
            if tag == upper || self.all_symbols.contains(&upper) {
                found.insert(upper);
            }
        }
    }

    fn bare_symbols(&self, text: &str, found: &mut BTreeSet<String>) {
        if self.symbols.is_empty() {
            return;
        }
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '$')) {
            let word = word.trim_end_matches('.');
            if word.starts_with('$') {
                continue;
            }
            if self.symbols.contains(word) {
                found.insert(word.to_string());
            }
        }
    }

    fn alias_hits(&self, text: &str, found: &mut BTreeSet<String>) {
        if self.aliases.is_empty() {
            return;
        }
        let lower = text.to_lowercase();
        // Byte offsets below index `lower`, which may differ in length from `text`.
        for (alias, sym) in &self.aliases {
            if found.contains(sym) {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = lower.get(from..).and_then(|s| s.find(alias.as_str())) {
                let start = from + pos;
                let end = start + alias.len();
                let before_ok = lower[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric());
                let after_ok = lower[end..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric());
                if before_ok && after_ok {
                    found.insert(sym.clone());
                    break;
                }
                from = start + lower[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> TickerMatcher {
        let mut m = BTreeMap::new();
        m.insert("AAPL".to_string(), vec!["Apple".to_string()]);
        m.insert("MSFT".to_string(), vec!["Microsoft".to_string()]);
        m.insert(
            "NVDA".to_string(),
            vec!["Nvidia".to_string(), "NVIDIA".to_string()],
        );
        m.insert("SPY".to_string(), vec!["S&P 500".to_string()]);
        m.insert("META".to_string(), vec!["Meta Platforms".to_string()]);
        m.insert("IT".to_string(), vec!["Gartner".to_string()]);
        m.insert("A".to_string(), vec![]);
        TickerMatcher::new(&m)
    }

    #[test]
    fn extract_table() {
        let m = matcher();
        let table: &[(&str, &[&str])] = &[
            ("$AAPL rallies", &["AAPL"]),
            ("Apple's iPhone sales", &["AAPL"]),
            ("Apple’s margins", &["AAPL"]),
            ("apples and oranges", &[]),
            ("Pineapple prices", &[]),
            ("NVIDIA and nvidia and Nvidia", &["NVDA"]),
            ("MSFT beats; Microsoft guides higher", &["MSFT"]),
            ("msft lower-case is not a symbol", &[]),
            ("$TSLA and $BRK.B are not configured", &["BRK.B", "TSLA"]),
            ("Costs rose $5 and $5.2bn", &[]),
            (
                "$aapl works for configured symbols, $xyz does not",
                &["AAPL"],
            ),
            ("IT spending rose and A grade", &[]),
            ("$IT rose and $A fell", &["A", "IT"]),
            ("Gartner raises outlook", &["IT"]),
            ("The S&P 500 hit a record", &["SPY"]),
            ("SPY, AAPL. NVDA!", &["AAPL", "NVDA", "SPY"]),
            ("Meta Platforms shares", &["META"]),
            ("AAPLX is a different word", &[]),
            ("$TOOLONGX is not a cashtag", &[]),
            ("price$AAPL glued", &[]),
            ("", &[]),
        ];
        for (text, want) in table {
            assert_eq!(m.extract(text), want.to_vec(), "text {text:?}");
        }
    }
}
