//! The symbol: what a ticker may look like anywhere in aivex (ingest, brain, the store, every
//! Eye route, exports).
//!
//! The alphabet covers real tickers: `AAPL`, `BRK.B`, `BTC-USD`, `BTC/USD`, `ES=F`, `^GSPC`,
//! `7203.T`, `EUR_USD`, `NASDAQ:AAPL`. A symbol is 1-32 ASCII characters from letters, digits
//! and `. - / = ^ _ :`; it starts with a letter, a digit or `^`, ends with a letter or a digit,
//! and never has two punctuation characters in a row (so no `..`, `//`, `-/`: a symbol can never
//! look like a path step). The store and Eye keep case as given (`btc` and `BTC` differ); the
//! signal modules upper-case the symbols they ingest (configured or derived from a file name),
//! so stored symbols are upper-case in practice. In a URL path a symbol is percent-encoded
//! (`/signals/BTC%2FUSD`, `/signals/%5EGSPC`); Eye also takes `/signals/BTC/USD` as it is.
//!
//! This file owns the alphabet and its checks. It must not know where symbols come from.

use std::fmt;

/// The longest symbol, in characters (= bytes: the alphabet is ASCII).
pub const MAX_LEN: usize = 32;
/// The punctuation a symbol may hold besides letters and digits.
pub const PUNCTUATION: &str = ".-/=^_:";
/// The same rules as a regular expression (for OpenAPI schemas; with `MAX_LEN` as maxLength).
pub const PATTERN: &str = r"^\^?[A-Za-z0-9]([./=^_:-]?[A-Za-z0-9])*$";

/// A checked symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

/// Why a text is not a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolError {
    pub text: String,
    pub why: &'static str,
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text is shown with escapes and cut, so a hostile value cannot flood a log line.
        let shown: String = self.text.chars().take(40).collect();
        write!(f, "symbol {shown:?} is not valid: it {}", self.why)
    }
}

impl std::error::Error for SymbolError {}

fn punct(b: u8) -> bool {
    PUNCTUATION.as_bytes().contains(&b)
}

impl Symbol {
    pub fn parse(text: &str) -> Result<Symbol, SymbolError> {
        let err = |why| {
            Err(SymbolError {
                text: text.to_string(),
                why,
            })
        };
        let b = text.as_bytes();
        if b.is_empty() {
            return err("is empty");
        }
        if b.len() > MAX_LEN {
            return err("is longer than 32 characters");
        }
        if !b.iter().all(|&c| c.is_ascii_alphanumeric() || punct(c)) {
            return err("may hold only letters, digits and . - / = ^ _ :");
        }
        if !(b[0].is_ascii_alphanumeric() || b[0] == b'^') {
            return err("must start with a letter, a digit or ^");
        }
        if !b[b.len() - 1].is_ascii_alphanumeric() {
            return err("must end with a letter or a digit");
        }
        if b.windows(2).any(|w| punct(w[0]) && punct(w[1])) {
            return err("has two punctuation characters in a row");
        }
        Ok(Symbol(text.to_string()))
    }

    /// Whether `text` is a valid symbol.
    pub fn is_valid(text: &str) -> bool {
        Symbol::parse(text).is_ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The symbol as one URL path segment: letters, digits and `. - _` stay, the rest is
    /// percent-encoded (`BTC/USD` → `BTC%2FUSD`).
    pub fn path_segment(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 6);
        for &c in self.0.as_bytes() {
            if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_') {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
        }
        out
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Symbol, SymbolError> {
        Symbol::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tickers_pass() {
        for s in [
            "AAPL",
            "BRK.B",
            "BTC-USD",
            "BTC/USD",
            "ES=F",
            "^GSPC",
            "7203.T",
            "EUR_USD",
            "NASDAQ:AAPL",
            "BTCUSDT",
            "a",
            "X1",
            "^N225",
        ] {
            assert_eq!(
                Symbol::parse(s).map(|x| x.to_string()),
                Ok(s.to_string()),
                "{s}"
            );
        }
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let long = "A".repeat(33);
        for (s, why) in [
            ("", "is empty"),
            (long.as_str(), "is longer than 32 characters"),
            ("AA PL", "may hold only"),
            ("AAPL?x", "may hold only"),
            ("a%2F", "may hold only"),
            ("Ä", "may hold only"),
            ("../etc", "must start"),
            ("/etc", "must start"),
            (".A", "must start"),
            ("AAPL.", "must end"),
            ("^", "must end"),
            ("A..B", "has two punctuation"),
            ("A/.B", "has two punctuation"),
            ("BTC//USD", "has two punctuation"),
        ] {
            let e = Symbol::parse(s).unwrap_err();
            assert!(e.why.starts_with(why), "{s:?}: {}", e.why);
            assert!(e.to_string().contains("is not valid"), "{e}");
        }
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        for (s, seg) in [
            ("BTC/USD", "BTC%2FUSD"),
            ("^GSPC", "%5EGSPC"),
            ("ES=F", "ES%3DF"),
            ("BRK.B", "BRK.B"),
            ("BTC-USD", "BTC-USD"),
            ("NASDAQ:AAPL", "NASDAQ%3AAAPL"),
        ] {
            assert_eq!(Symbol::parse(s).unwrap().path_segment(), seg);
        }
    }
}
