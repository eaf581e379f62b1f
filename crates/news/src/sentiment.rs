//! Lexicon-and-rules sentiment (VADER-like, finance-aware): a word/phrase list with valences
//! in [-4, 4], negation, intensifiers and dampeners, "but" clauses, exclamation emphasis,
//! normalised to [-1, 1] with s / sqrt(s² + 15).
//!
//! Pure scoring over text. The only I/O is `Lexicon::from_file`, the thin shell for a user's
//! `lexicon_path`; parsing that file is `Lexicon::parse`, which is pure. No model download.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

/// Bump when the rules or the built-in lexicon change: stored scores carry it.
pub const METHOD_VERSION: u32 = 1;

const BUILTIN: &str = include_str!("../lexicon/finance.txt");

/// VADER's constants: booster increment, negation scalar, normalisation alpha.
const BOOST: f64 = 0.293;
const NEGATE: f64 = -0.74;
const ALPHA: f64 = 15.0;
/// Weight of the clause before / after "but".
const BEFORE_BUT: f64 = 0.5;
const AFTER_BUT: f64 = 1.5;
/// Titles say what the story is about; summaries often pad with boilerplate.
const TITLE_WEIGHT: f64 = 2.0;
const NEGATION_SPAN: usize = 3;

const NEGATORS: &[&str] = &[
    "not", "no", "never", "without", "neither", "nor", "none", "nobody", "nothing", "cannot",
    "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "wont", "cant", "couldnt",
    "shouldnt", "wouldnt", "hasnt", "havent", "hadnt", "aint", "lack", "lacks", "lacked",
];

const BOOSTERS: &[(&str, f64)] = &[
    ("very", 1.0),
    ("sharply", 1.0),
    ("significantly", 1.0),
    ("substantially", 1.0),
    ("extremely", 1.0),
    ("hugely", 1.0),
    ("strongly", 1.0),
    ("highly", 1.0),
    ("much", 1.0),
    ("deeply", 1.0),
    ("massively", 1.0),
    ("dramatically", 1.0),
    ("steeply", 1.0),
    ("heavily", 1.0),
    ("really", 1.0),
    ("most", 1.0),
    ("more", 0.5),
    ("slightly", -1.0),
    ("somewhat", -1.0),
    ("marginally", -1.0),
    ("modestly", -1.0),
    ("barely", -1.0),
    ("little", -1.0),
    ("mildly", -1.0),
    ("partly", -1.0),
];

/// The result of scoring a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentiment {
    /// In [-1, 1]; 0 when nothing in the text carries sentiment.
    pub score: f64,
    /// `lexicon@<version>` for the built-in list, `lexicon@<version>+<hash>` for a user list.
    pub method: String,
}

/// A bad line in a lexicon file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexiconError {
    Io {
        path: String,
        message: String,
    },
    BadLine {
        source: String,
        line: usize,
        message: String,
    },
}

impl fmt::Display for LexiconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LexiconError::Io { path, message } => {
                write!(f, "cannot read lexicon {path}: {message}")
            }
            LexiconError::BadLine {
                source,
                line,
                message,
            } => write!(f, "{source} line {line}: {message}"),
        }
    }
}

impl std::error::Error for LexiconError {}

/// Words and phrases with valences.
#[derive(Debug, Clone)]
pub struct Lexicon {
    words: HashMap<String, f64>,
    /// Phrases keyed by their space-joined tokens.
    phrases: HashMap<String, f64>,
    /// First words of phrases: most words start none, which skips the phrase lookups.
    phrase_starts: HashSet<String>,
    max_phrase: usize,
    method: String,
}

impl Lexicon {
    /// The built-in finance-aware list (`lexicon/finance.txt`).
    pub fn builtin() -> Lexicon {
        // The embedded file is tested to parse; should it ever not, an empty lexicon scores 0
        // rather than panicking in a running module.
        Lexicon::parse(BUILTIN, "builtin finance.txt")
            .unwrap_or_else(|_| Lexicon::empty())
            .with_method(format!("lexicon@{METHOD_VERSION}"))
    }

    fn empty() -> Lexicon {
        Lexicon {
            words: HashMap::new(),
            phrases: HashMap::new(),
            phrase_starts: HashSet::new(),
            max_phrase: 1,
            method: String::new(),
        }
    }

    fn with_method(mut self, method: String) -> Lexicon {
        self.method = method;
        self
    }

    /// Parses `word<TAB>valence` lines (`#` comments, blank lines ignored; a phrase is
    /// several space-separated words before the tab). Valences must be in [-4, 4].
    /// The method string names a hash of the text, so scores from different user lists are
    /// distinguishable in the store.
    pub fn parse(text: &str, source: &str) -> Result<Lexicon, LexiconError> {
        let mut lex = Lexicon::empty();
        for (i, line) in text.lines().enumerate() {
            let bad = |message: String| LexiconError::BadLine {
                source: source.to_string(),
                line: i + 1,
                message,
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (term, val) = line
                .split_once('\t')
                .ok_or_else(|| bad(format!("expected `word<TAB>valence`, got {line:?}")))?;
            let val = val.trim();
            let valence: f64 = val
                .parse()
                .map_err(|_| bad(format!("valence {val:?} is not a number")))?;
            if !(-4.0..=4.0).contains(&valence) {
                return Err(bad(format!("valence {valence} is outside [-4, 4]")));
            }
            let tokens = tokenize(term);
            let words: Vec<&str> = tokens.iter().filter_map(Token::word).collect();
            match words.len() {
                0 => return Err(bad(format!("no word in {term:?}"))),
                1 => {
                    lex.words.insert(words.concat(), valence);
                }
                n => {
                    lex.max_phrase = lex.max_phrase.max(n);
                    lex.phrase_starts
                        .extend(words.first().map(|w| w.to_string()));
                    lex.phrases.insert(words.join(" "), valence);
                }
            }
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(text.as_bytes());
        let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Ok(lex.with_method(format!("lexicon@{METHOD_VERSION}+{short}")))
    }

    /// Reads a user lexicon (same format as the built-in one).
    pub fn from_file(path: &Path) -> Result<Lexicon, LexiconError> {
        let text = std::fs::read_to_string(path).map_err(|e| LexiconError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Lexicon::parse(&text, &path.display().to_string())
    }

    /// The method string stored with every score made with this lexicon.
    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn len(&self) -> usize {
        self.words.len() + self.phrases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// Sentence or clause punctuation: negation and boosters do not reach across it.
    Break,
}

impl Token {
    fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w) => Some(w),
            Token::Break => None,
        }
    }
}

/// Lower-cased words (letters, digits, inner apostrophes and hyphens kept, apostrophes then
/// dropped so "don't" and "dont" are one word) and clause breaks.
fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Token>| {
        let trimmed = cur.trim_matches(|c| c == '\'' || c == '-');
        // "didn't" reads as "did not", so every n't contraction negates without a list.
        let (stem, negated) = match trimmed.strip_suffix("n't") {
            Some(stem) if !stem.is_empty() => (stem, true),
            _ => (trimmed, false),
        };
        let w: String = stem.chars().filter(|c| *c != '\'').collect();
        if !w.is_empty() {
            out.push(Token::Word(w));
        }
        if negated {
            out.push(Token::Word("not".to_string()));
        }
        cur.clear();
    };
    for c in text.chars() {
        let c = if c == '’' || c == '‘' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            cur.extend(c.to_lowercase());
        } else {
            flush(&mut cur, &mut out);
            if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '—' | '–' | '(' | ')')
                && out.last() != Some(&Token::Break)
            {
                out.push(Token::Break);
            }
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn is_negator(w: &str) -> bool {
    NEGATORS.contains(&w)
}

fn booster(w: &str) -> Option<f64> {
    BOOSTERS.iter().find(|(b, _)| *b == w).map(|(_, v)| *v)
}

/// The unnormalised sum of a text: the VADER-style raw score.
fn raw_score(text: &str, lex: &Lexicon) -> f64 {
    let tokens = tokenize(text);
    // (token index, valence) of every sentiment-bearing word or phrase.
    let mut hits: Vec<(usize, f64)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Some(first) = tokens.get(i).and_then(Token::word) else {
            i += 1;
            continue;
        };
        let mut matched = None;
        let max_phrase = if lex.phrase_starts.contains(first) {
            lex.max_phrase
        } else {
            1
        };
        for n in (2..=max_phrase).rev() {
            let Some(window) = tokens.get(i..i + n) else {
                continue;
            };
            let words: Option<Vec<&str>> = window.iter().map(Token::word).collect();
            if let Some(v) = words.and_then(|w| lex.phrases.get(&w.join(" "))) {
                matched = Some((n, *v));
                break;
            }
        }
        let (len, valence) = match matched {
            Some(m) => m,
            None => match tokens
                .get(i)
                .and_then(Token::word)
                .and_then(|w| lex.words.get(w))
            {
                Some(v) => (1, *v),
                None => {
                    i += 1;
                    continue;
                }
            },
        };
        hits.push((i, adjust(&tokens, i, valence)));
        i += len;
    }
    // "X but Y": the clause after the contrast carries the writer's point.
    let but = tokens
        .iter()
        .position(|t| matches!(t.word(), Some("but" | "however")));
    let sum: f64 = hits
        .iter()
        .map(|&(idx, v)| match but {
            Some(b) if idx < b => v * BEFORE_BUT,
            Some(b) if idx > b => v * AFTER_BUT,
            _ => v,
        })
        .sum();
    let bangs = text.chars().filter(|c| *c == '!').count().min(3) as f64;
    if sum > 0.0 {
        sum + bangs * 0.292
    } else if sum < 0.0 {
        sum - bangs * 0.292
    } else {
        0.0
    }
}

/// Applies boosters and negation found in the up-to-3 words before token `i`.
fn adjust(tokens: &[Token], i: usize, valence: f64) -> f64 {
    let mut v = valence;
    let mut negated = false;
    for back in 1..=NEGATION_SPAN {
        let Some(idx) = i.checked_sub(back) else {
            break;
        };
        let Some(w) = tokens.get(idx).and_then(Token::word) else {
            break;
        };
        if let Some(b) = booster(w) {
            // Boosters further away count less (VADER's 1, 0.95, 0.9).
            let decay = 1.0 - 0.05 * (back as f64 - 1.0);
            v += v.signum() * BOOST * b * decay;
        }
        if is_negator(w) {
            negated = true;
        }
    }
    if negated {
        v *= NEGATE;
    }
    v
}

fn normalise(s: f64) -> f64 {
    if s == 0.0 || !s.is_finite() {
        return 0.0;
    }
    (s / (s * s + ALPHA).sqrt()).clamp(-1.0, 1.0)
}

/// Scores one text.
pub fn score(text: &str, lex: &Lexicon) -> Sentiment {
    Sentiment {
        score: normalise(raw_score(text, lex)),
        method: lex.method.clone(),
    }
}

/// Scores an article: the title counts `TITLE_WEIGHT` times the summary before normalising.
pub fn score_item(title: &str, summary: &str, lex: &Lexicon) -> Sentiment {
    let s = TITLE_WEIGHT * raw_score(title, lex) + raw_score(summary, lex);
    Sentiment {
        score: normalise(s),
        method: lex.method.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f64 {
        score(text, &Lexicon::builtin()).score
    }

    #[test]
    fn builtin_lexicon_parses_and_is_large() {
        let lex = Lexicon::parse(BUILTIN, "finance.txt");
        assert!(lex.is_ok(), "{:?}", lex.err());
        assert!(
            Lexicon::builtin().len() >= 300,
            "{}",
            Lexicon::builtin().len()
        );
        assert_eq!(Lexicon::builtin().method(), "lexicon@1");
    }

    #[test]
    fn sign_table() {
        // (text, expected sign)
        let table = [
            ("Apple beats expectations", 1),
            ("Microsoft shares surge after record quarter", 1),
            ("Nvidia raises guidance", 1),
            ("Analyst upgrades Nvidia to buy", 1),
            ("Company files for bankruptcy", -1),
            ("Shares plunge after earnings miss", -1),
            ("Regulator opens probe, lawsuit filed", -1),
            ("Apple cuts guidance", -1),
            ("Microsoft downgraded to sell", -1),
            ("Results were not good", -1),
            ("The company didn't miss estimates", 1),
            ("Shares closed at 180 on Tuesday", 0),
            ("", 0),
            ("Revenue rose but margins collapsed", -1),
            ("Revenue fell but the outlook is strong", 1),
            ("Stock hits record high", 1),
            ("no growth without profit", -1),
        ];
        for (text, sign) in table {
            let got = s(text);
            let got_sign = if got > 1e-9 {
                1
            } else if got < -1e-9 {
                -1
            } else {
                0
            };
            assert_eq!(got_sign, sign, "{text:?} scored {got}");
            assert!((-1.0..=1.0).contains(&got));
        }
    }

    #[test]
    fn ordering_table() {
        // Each row: a < b.
        let table = [
            ("not good", "good"),
            ("good", "very good"),
            ("slightly good", "good"),
            ("bad", "not bad"),
            ("very bad", "bad"),
            ("strong", "strong!"),
            ("good but bad", "bad but good"),
            ("sharply lower", "lower"),
            ("lower", "slightly lower"),
            ("earnings miss", "earnings beat"),
        ];
        for (a, b) in table {
            assert!(
                s(a) < s(b),
                "{a:?} ({}) should be below {b:?} ({})",
                s(a),
                s(b)
            );
        }
        assert!(s("not good") < 0.0 && 0.0 < s("good"));
    }

    #[test]
    fn phrase_beats_single_words() {
        let lex = Lexicon::parse("cut\t-1\ncut guidance\t-3\nguidance\t1\n", "t")
            .unwrap_or_else(|_| Lexicon::empty());
        assert!(score("cut guidance", &lex).score < score("cut", &lex).score);
        assert!(score("cut guidance", &lex).score < 0.0);
    }

    #[test]
    fn title_weighs_more_than_summary() {
        let lex = Lexicon::builtin();
        let pos_title = score_item("Shares surge", "Shares fall", &lex).score;
        let neg_title = score_item("Shares fall", "Shares surge", &lex).score;
        assert!(
            pos_title > 0.0 && neg_title < 0.0,
            "{pos_title} {neg_title}"
        );
    }

    #[test]
    fn lexicon_errors_name_the_line() {
        let table = [
            ("good\t1\nbad 2\n", 2, "expected"),
            ("# c\n\ngood\tx\n", 3, "not a number"),
            ("good\t5\n", 1, "outside"),
            ("...\t1\n", 1, "no word"),
        ];
        for (text, line, needle) in table {
            match Lexicon::parse(text, "user.txt") {
                Err(LexiconError::BadLine {
                    line: l,
                    message,
                    source,
                }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(message.contains(needle), "{message}");
                    assert_eq!(source, "user.txt");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let user = Lexicon::parse("moon\t3\n", "u").map(|l| l.method().to_string());
        assert!(
            user.as_deref().is_ok_and(|m| m.starts_with("lexicon@1+")),
            "{user:?}"
        );
    }
}
