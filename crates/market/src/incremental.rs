//! What the chart module remembers about each source between cycles, so that an incremental
//! cycle writes only the bars that can have changed instead of re-upserting whole files.
//!
//! A source's memory is the bar count, the SHA-256 of every bar but the last, and the last
//! bar's time. When a new fetch starts with exactly those bars (same digest) and the store
//! still ends at that time, only the last remembered bar (which may have been a partial bar
//! that is now final) and the bars after it are written. Anything else writes everything.
//!
//! For text (CSV) sources it also remembers where the document's last line starts and a fast
//! 128-bit hash of everything before it: when a new fetch starts with exactly those bytes,
//! only the header and the lines from there on are parsed, so a cycle that adds one bar per
//! file does not re-parse the whole history (parsing is most of a full cycle's CPU). The hash
//! only guards a cache: a collision would at worst skip re-parsing unchanged-looking bytes,
//! and the store's newest bar time is checked as well.
//!
//! Everything here is pure: the chart module keeps the memory in a cache file (deleting it
//! costs one full cycle, and it never decides what the store holds). This file must not read
//! files, the store or the clock.

use crate::bars::{parse_bars, ParsedBars};
use crate::error::{MarketError, Position};
use crate::Bar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The memory of one source (key: symbol, interval and source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub count: usize,
    /// Hex SHA-256 of bars `[0, count - 1)`.
    pub prefix: String,
    pub last_ts: i64,
    /// Byte marks of a text document (absent for JSON, or when the document is too short).
    #[serde(default)]
    pub text: Option<TextMarks>,
}

/// Where a CSV document's header ends and its last line starts, and the hash before that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextMarks {
    /// Bytes of the header line, with its newline.
    pub head_len: usize,
    /// Offset where the last non-empty line starts.
    pub cut: usize,
    /// 1-based line number of that line.
    pub cut_line: u64,
    /// `fast_hash` of the bytes before `cut`.
    pub hash: String,
    /// Bars parsed from the lines before `cut` (set by the caller once it has parsed).
    #[serde(default)]
    pub bars_before_cut: usize,
}

pub type SeenMap = BTreeMap<String, Seen>;

pub fn key(symbol: &str, interval: &str, source: &str) -> String {
    format!("{symbol}|{interval}|{source}")
}

fn feed(h: &mut Sha256, b: &Bar) {
    h.update(b.ts.to_le_bytes());
    for v in [
        b.open,
        b.high,
        b.low,
        b.close,
        b.volume,
        b.adj_close.unwrap_or(f64::NAN),
    ] {
        h.update(v.to_bits().to_le_bytes());
    }
    h.update([u8::from(b.adj_close.is_some())]);
}

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plan for one fetch: write `bars[start..]`, and what to remember once that is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub start: usize,
    pub next: Option<Seen>,
}

/// Decides which bars (sorted by time, as parsed) must be written. `stored_last` is the
/// newest bar time the store holds for the symbol and interval.
pub fn plan(prev: Option<&Seen>, bars: &[Bar], stored_last: Option<i64>) -> Plan {
    let mut h = Sha256::new();
    let mut start = 0;
    let check_at =
        prev.filter(|p| p.count >= 1 && p.count <= bars.len() && stored_last == Some(p.last_ts));
    for (i, b) in bars.iter().enumerate() {
        if let Some(p) = check_at {
            if i + 1 == p.count {
                let ok = b.ts == p.last_ts && hex(&h.clone().finalize()) == p.prefix;
                if ok {
                    start = i;
                }
            }
        }
        if i + 1 == bars.len() {
            let next = Seen {
                count: bars.len(),
                prefix: hex(&h.clone().finalize()),
                last_ts: b.ts,
                text: None,
            };
            return Plan {
                start,
                next: Some(next),
            };
        }
        feed(&mut h, b);
    }
    Plan {
        start: 0,
        next: None,
    }
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn mix(a: u64, b: u64, w: u64) -> (u64, u64) {
    (
        (a ^ w).wrapping_mul(K1).rotate_left(31),
        (b ^ w.rotate_left(23)).wrapping_mul(K2).rotate_left(27) ^ a,
    )
}

fn finish(mut a: u64, mut b: u64, tail: &[u8], len: usize) -> String {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(tail) {
        *d = *s;
    }
    (a, b) = mix(a, b, u64::from_le_bytes(w));
    // The length on its own: XORed into the tail word it could cancel against tail bytes.
    (a, b) = mix(a, b, len as u64);
    for _ in 0..2 {
        a ^= a >> 33;
        a = a.wrapping_mul(K2);
        b ^= b >> 29;
        b = b.wrapping_mul(K1);
        (a, b) = (a ^ b.rotate_left(17), b ^ a);
    }
    format!("{a:016x}{b:016x}")
}

/// A fast non-cryptographic 128-bit hash of `bytes[..c]` for every `c` in `cuts`, in one pass
/// (a cut past the end is taken as the end).
pub fn fast_hashes<const N: usize>(bytes: &[u8], cuts: [usize; N]) -> [String; N] {
    let cuts = cuts.map(|c| c.min(bytes.len()));
    let end = cuts.iter().copied().max().unwrap_or(0);
    let (mut a, mut b) = (K1, K2);
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    let words = bytes.get(..end).unwrap_or_default().chunks(8);
    let mut at = 0;
    for w in words {
        for (o, &c) in out.iter_mut().zip(&cuts) {
            if c >= at && c < at + 8 {
                *o = finish(a, b, bytes.get(at..c).unwrap_or_default(), c);
            }
        }
        if w.len() == 8 {
            let mut x = [0u8; 8];
            x.copy_from_slice(w);
            (a, b) = mix(a, b, u64::from_le_bytes(x));
        }
        at += w.len();
    }
    for (o, &c) in out.iter_mut().zip(&cuts) {
        // A cut at the very end after a full word (or of an empty input): no chunk covered it.
        if c == at && at % 8 == 0 {
            *o = finish(a, b, &[], c);
        }
    }
    out
}

/// Header length and the start of the last non-empty line of a CSV-like document, or None
/// when it is JSON, starts with a blank line, or has fewer than two lines after the header.
pub fn text_marks(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first == b'[' || first == b'{' || first.is_ascii_whitespace() {
        return None;
    }
    let head_len = bytes.iter().position(|&c| c == b'\n')? + 1;
    let body_end = bytes.iter().rposition(|c| !c.is_ascii_whitespace())? + 1;
    let cut = bytes.get(..body_end)?.iter().rposition(|&c| c == b'\n')? + 1;
    (cut > head_len).then_some((head_len, cut))
}

/// How much of a fetched document to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// Parse everything.
    Whole,
    /// Parse `bytes[..head_len] + bytes[cut..]`; its line n is line `n + line_offset` of the
    /// document, and `known_bars` bars before the cut are already stored.
    Tail {
        head_len: usize,
        cut: usize,
        line_offset: u64,
        known_bars: usize,
    },
}

/// Decides whether the bytes before the remembered cut are unchanged (then only the tail is
/// parsed), and computes the marks to remember after this fetch is stored.
pub fn reuse(
    prev: Option<&Seen>,
    bytes: &[u8],
    stored_last: Option<i64>,
) -> (Reuse, Option<TextMarks>) {
    let marks = text_marks(bytes);
    let old = prev.and_then(|p| p.text.as_ref().map(|t| (p, t)));
    let new_cut = marks.map_or(0, |(_, c)| c);
    let old_cut = old.map_or(0, |(_, t)| t.cut);
    let [old_hash, new_hash] = fast_hashes(bytes, [old_cut, new_cut]);
    let reused = old.filter(|(p, t)| {
        stored_last == Some(p.last_ts)
            && p.count >= 1
            && t.cut < bytes.len()
            && t.cut > t.head_len
            && old_hash == t.hash
            && bytes.get(..t.head_len).is_some()
    });
    let newlines = |r: &[u8]| r.iter().filter(|&&c| c == b'\n').count() as u64;
    let next = marks.map(|(head_len, cut)| {
        let cut_line = match reused {
            Some((_, t)) if cut >= t.cut => {
                t.cut_line + newlines(bytes.get(t.cut..cut).unwrap_or_default())
            }
            _ => 1 + newlines(bytes.get(..cut).unwrap_or_default()),
        };
        TextMarks {
            head_len,
            cut,
            cut_line,
            hash: new_hash.clone(),
            bars_before_cut: 0,
        }
    });
    let plan = match reused {
        Some((_, t)) => Reuse::Tail {
            head_len: t.head_len,
            cut: t.cut,
            line_offset: t.cut_line.saturating_sub(2),
            known_bars: t.bars_before_cut,
        },
        None => Reuse::Whole,
    };
    (plan, next)
}

/// Parses what `reuse` decided: the whole document, or its header plus the tail from the
/// remembered cut (resuming the parse there). Line numbers in the errors are the document's.
/// Returns the parsed bars and how many bars before the cut are already known.
pub fn parse_planned(
    bytes: &[u8],
    reuse: &Reuse,
    source: &str,
) -> Result<(ParsedBars, usize), MarketError> {
    match *reuse {
        Reuse::Whole => Ok((parse_bars(bytes, source)?, 0)),
        Reuse::Tail {
            head_len,
            cut,
            line_offset,
            known_bars,
        } => {
            let mut doc = bytes.get(..head_len).unwrap_or_default().to_vec();
            doc.extend_from_slice(bytes.get(cut..).unwrap_or_default());
            let mut parsed = parse_bars(&doc, source)?;
            for e in &mut parsed.errors {
                if let Position::Line(n) = &mut e.at {
                    // Line 1 is the header, the same in both documents.
                    if *n >= 2 {
                        *n += line_offset;
                    }
                }
            }
            Ok((parsed, known_bars))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize, bump_at: Option<usize>) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let c = 100.0 + i as f64 + if Some(i) == bump_at { 0.5 } else { 0.0 };
                Bar {
                    ts: 86_400 * i as i64,
                    open: c,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: c,
                    adj_close: None,
                    volume: 10.0,
                }
            })
            .collect()
    }

    #[test]
    fn plan_table() {
        let first = plan(None, &bars(10, None), None);
        assert_eq!(first.start, 0);
        let seen = first.next.clone().unwrap();
        assert_eq!((seen.count, seen.last_ts), (10, 9 * 86_400));
        let last = Some(9 * 86_400);
        // (case, new fetch, store's last ts, expected start)
        let table = [
            ("same file", bars(10, None), last, 9),
            ("one new bar", bars(11, None), last, 9),
            ("last bar revised", bars(10, Some(9)), last, 9),
            ("an old bar revised", bars(11, Some(3)), last, 0),
            ("file got shorter", bars(8, None), last, 0),
            ("store lost bars", bars(11, None), Some(5 * 86_400), 0),
            ("store empty", bars(11, None), None, 0),
        ];
        for (case, b, stored, want) in table {
            assert_eq!(plan(Some(&seen), &b, stored).start, want, "{case}");
        }
        assert_eq!(
            plan(Some(&seen), &[], last),
            Plan {
                start: 0,
                next: None
            }
        );
    }

    #[test]
    fn fast_hashes_agree_with_single_cuts_and_differ_on_change() {
        let data: Vec<u8> = (0..100u8).collect();
        for cut in [0, 1, 7, 8, 9, 63, 64, 99, 100, 150] {
            let [both, _] = fast_hashes(&data, [cut, 100]);
            let [alone] = fast_hashes(&data, [cut]);
            assert_eq!(both, alone, "cut {cut}");
            assert_eq!(alone.len(), 32);
        }
        let mut other = data.clone();
        other[50] ^= 1;
        assert_ne!(fast_hashes(&data, [100]), fast_hashes(&other, [100]));
        assert_ne!(fast_hashes(&data, [8]), fast_hashes(&data, [9]));
        assert_ne!(
            fast_hashes(&[0u8; 8], [8]),
            fast_hashes(&[0u8; 16], [8, 16])[1..]
        );
    }

    /// A document and its expected (header length, last line start).
    type MarksCase = (&'static [u8], Option<(usize, usize)>);

    #[test]
    fn text_marks_table() {
        let table: [MarksCase; 6] = [
            (b"Date,Close\n1,2\n3,4\n", Some((11, 15))),
            (b"Date,Close\n1,2\n3,4", Some((11, 15))),
            (b"Date,Close\n1,2\n3,4\n\n  \n", Some((11, 15))),
            (b"Date,Close\n1,2\n", None),
            (b"[[1,2]]\n", None),
            (b"\nDate\n1\n2\n", None),
        ];
        for (doc, want) in table {
            assert_eq!(text_marks(doc), want, "{:?}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn reuse_only_when_the_prefix_is_unchanged() {
        let doc1 = b"Date,Close\nd1,1\nd2,2\nd3,3\n".to_vec();
        let (plan, marks) = reuse(None, &doc1, None);
        assert_eq!(plan, Reuse::Whole);
        let mut marks = marks.unwrap();
        assert_eq!((marks.head_len, marks.cut, marks.cut_line), (11, 21, 4));
        marks.bars_before_cut = 2;
        let seen = Seen {
            count: 3,
            prefix: String::new(),
            last_ts: 3,
            text: Some(marks),
        };
        let mut appended = doc1.clone();
        appended.extend_from_slice(b"d4,4\n");
        let mut edited = appended.clone();
        edited[12] = b'X';
        // (case, document, store's last ts, expected plan)
        let tail = Reuse::Tail {
            head_len: 11,
            cut: 21,
            line_offset: 2,
            known_bars: 2,
        };
        let table = [
            ("same bytes", doc1.clone(), Some(3), tail.clone()),
            ("one line appended", appended.clone(), Some(3), tail),
            ("an earlier line edited", edited, Some(3), Reuse::Whole),
            ("store behind", appended.clone(), Some(2), Reuse::Whole),
            ("file truncated", doc1[..15].to_vec(), Some(3), Reuse::Whole),
        ];
        for (case, doc, stored, want) in table {
            assert_eq!(reuse(Some(&seen), &doc, stored).0, want, "{case}");
        }
        let next = reuse(Some(&seen), &appended, Some(3)).1.unwrap();
        assert_eq!((next.cut, next.cut_line), (26, 5));
        assert_eq!(next.hash, fast_hashes(&appended, [26])[0]);
    }
}
