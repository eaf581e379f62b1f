//! OHLCV bars from the formats people actually download: Stooq/Yahoo CSV exports (daily or
//! intraday, any column order, case-insensitive names) and Binance klines JSON.
//!
//! Pure parsing: bytes in, bars and per-record errors out. A bad row never spoils the good
//! ones; only a document that is no recognised format at all (or JSON that does not parse) is
//! an error. It must never panic on any input and never reads the clock. Linear in the
//! input, and the bar vector is sized once from the document (no doubling, no second copy
//! for sorting or deduplicating); the klines reader is `klines.rs`.

use crate::error::{push_error, quote, MarketError, Position, RowError};
use crate::time::parse_instant;

/// One bar: the shared `aivex_core::Candle` (the store writes and returns the same type).
pub type Bar = aivex_core::Candle;

/// Which format a document was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarFormat {
    Csv,
    BinanceKlines,
}

/// Bars sorted by `ts` with duplicates collapsed (the later record wins), plus the records
/// that were rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBars {
    pub bars: Vec<Bar>,
    /// At most `MAX_ERRORS`: the first ones and the latest.
    pub errors: Vec<RowError>,
    /// Rejected records beyond `MAX_ERRORS`, counted but not listed.
    pub omitted_errors: usize,
    pub format: BarFormat,
}

/// Parses a bar document, detecting its format from its first non-blank byte.
pub fn parse_bars(bytes: &[u8], source_name: &str) -> Result<ParsedBars, MarketError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let (bars, errors, omitted_errors, format) = match first {
        None => {
            return Err(MarketError::UnknownFormat {
                source: source_name.to_string(),
                detail: "empty document".into(),
            })
        }
        Some(b'[') | Some(b'{') => {
            let k = crate::klines::parse_klines(body, source_name)?;
            (k.bars, k.errors, k.omitted, BarFormat::BinanceKlines)
        }
        Some(_) => {
            let (bars, errors, omitted) = parse_csv(body, source_name)?;
            (bars, errors, omitted, BarFormat::Csv)
        }
    };
    Ok(ParsedBars {
        bars: sort_dedup(bars),
        errors,
        omitted_errors,
        format,
    })
}

/// Sorts by time (stably, and only when not sorted already: exports usually are), then keeps
/// the last record of each timestamp, in place.
fn sort_dedup(mut bars: Vec<Bar>) -> Vec<Bar> {
    if !bars.is_sorted_by_key(|b| b.ts) {
        bars.sort_by_key(|b| b.ts);
    }
    // `dedup_by` hands (later, kept earlier): copy the later over the earlier, drop the later.
    bars.dedup_by(|later, earlier| {
        let same = later.ts == earlier.ts;
        if same {
            *earlier = *later;
        }
        same
    });
    bars
}

/// Column positions found in a CSV header.
#[derive(Debug, Default)]
struct Columns {
    date: Option<usize>,
    time: Option<usize>,
    open: Option<usize>,
    high: Option<usize>,
    low: Option<usize>,
    close: Option<usize>,
    adj_close: Option<usize>,
    volume: Option<usize>,
}

/// Lower-cases a header name and drops Stooq's `<...>` brackets, spaces and underscores,
/// so `Adj Close`, `adj_close` and `<CLOSE>` all compare plainly.
fn normalise_name(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '<' | '>' | ' ' | '_' | '-' | '"'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn find_columns(header: &csv::StringRecord) -> Columns {
    let mut c = Columns::default();
    for (i, raw) in header.iter().enumerate() {
        let slot = match normalise_name(raw).as_str() {
            "date" | "datetime" | "timestamp" | "opentime" => &mut c.date,
            "time" => &mut c.time,
            "open" => &mut c.open,
            "high" => &mut c.high,
            "low" => &mut c.low,
            "close" => &mut c.close,
            "adjclose" | "adjustedclose" => &mut c.adj_close,
            "volume" | "vol" => &mut c.volume,
            _ => continue,
        };
        // The first column of a name wins; a repeated name is ignored like any extra column.
        if slot.is_none() {
            *slot = Some(i);
        }
    }
    // A file with only `Time` (no `Date`) carries full datetimes in it.
    if c.date.is_none() {
        c.date = c.time.take();
    }
    c
}

/// Picks `;` for files whose header line has semicolons but no commas (some locales' exports).
fn delimiter(body: &[u8]) -> u8 {
    let line = first_line(body);
    if !line.contains(&b',') && line.contains(&b';') {
        b';'
    } else {
        b','
    }
}

/// The first non-blank line of a CSV body.
pub(crate) fn first_line(body: &[u8]) -> &[u8] {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = body.get(start..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest)
}

/// Most columns a header may have. Checked before the csv reader runs: it copies the first
/// record twice more (as its "headers"), so a megabyte header would cost twenty.
pub(crate) const MAX_COLUMNS: usize = 1000;

/// An error when the first line has more than `MAX_COLUMNS` fields (`delim`-separated).
pub(crate) fn check_width(body: &[u8], delim: u8, source: &str) -> Result<(), MarketError> {
    let fields = first_line(body).iter().filter(|&&b| b == delim).count() + 1;
    if fields > MAX_COLUMNS {
        return Err(MarketError::UnknownFormat {
            source: source.to_string(),
            detail: format!("the header has {fields} columns (at most {MAX_COLUMNS})"),
        });
    }
    Ok(())
}

/// The shortest bar row (`1,1,1,1,1` and a newline).
const MIN_ROW_BYTES: usize = 10;

/// Rows of bars a CSV body can hold at most: its lines, and no more than its bytes allow.
fn bar_capacity(body: &[u8]) -> usize {
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
    lines.min(body.len() / MIN_ROW_BYTES + 1)
}

type CsvBars = (Vec<Bar>, Vec<RowError>, usize);

fn parse_csv(body: &[u8], source: &str) -> Result<CsvBars, MarketError> {
    let delim = delimiter(body);
    check_width(body, delim, source)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(body);
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => {
                return Err(MarketError::UnknownFormat {
                    source: source.to_string(),
                    detail: "no header line".into(),
                })
            }
            Some(Ok(r)) if r.iter().all(|f| f.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
            Some(Err(e)) => {
                return Err(MarketError::UnknownFormat {
                    source: source.to_string(),
                    detail: format!("unreadable header: {e}"),
                })
            }
        }
    };
    let cols = find_columns(&header);
    let required = [
        ("date", cols.date),
        ("open", cols.open),
        ("high", cols.high),
        ("low", cols.low),
        ("close", cols.close),
    ];
    let missing: Vec<&'static str> = required
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.len() == required.len() {
        return Err(MarketError::UnknownFormat {
            source: source.to_string(),
            detail: "neither a bar CSV header (Date,Open,High,Low,Close,...) nor JSON".into(),
        });
    }
    if !missing.is_empty() {
        return Err(MarketError::MissingColumns {
            source: source.to_string(),
            missing,
        });
    }
    let mut bars = Vec::with_capacity(bar_capacity(body));
    let (mut errors, mut omitted) = (Vec::new(), 0);
    // One record reused for every row: a file of a million bars is not a million allocations.
    let mut r = csv::StringRecord::new();
    let reader = records.reader_mut();
    loop {
        match reader.read_record(&mut r) {
            Ok(false) => break,
            Ok(true) => {
                let line = r.position().map(|p| p.line()).unwrap_or(0);
                if r.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                match csv_bar(&r, &cols) {
                    Ok(bar) => bars.push(bar),
                    Err(message) => push_error(
                        &mut errors,
                        &mut omitted,
                        RowError {
                            source: source.to_string(),
                            at: Position::Line(line),
                            message,
                        },
                    ),
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let error = RowError {
                    source: source.to_string(),
                    at: Position::Line(line),
                    message: format!("unreadable record: {e}"),
                };
                push_error(&mut errors, &mut omitted, error);
            }
        }
    }
    Ok((bars, errors, omitted))
}

fn field<'a>(r: &'a csv::StringRecord, idx: Option<usize>, name: &str) -> Result<&'a str, String> {
    match idx {
        Some(i) => r
            .get(i)
            .ok_or_else(|| format!("missing field '{name}' (short row)")),
        None => Err(format!("no column '{name}'")),
    }
}

/// Parses a price or volume cell: empty, `null`, `NaN` and infinities are errors, because a
/// silently zeroed price would poison every indicator downstream.
pub(crate) fn number(text: &str, name: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("null") || t == "-" {
        return Err(format!("field '{name}' is empty"));
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!(
            "field '{name}' is not a finite number: {}",
            quote(t)
        )),
        Err(_) => Err(format!("field '{name}' is not a number: {}", quote(t))),
    }
}

fn csv_bar(r: &csv::StringRecord, c: &Columns) -> Result<Bar, String> {
    let date = field(r, c.date, "date")?;
    let time = match c.time {
        Some(i) => Some(r.get(i).ok_or("missing field 'time' (short row)")?),
        None => None,
    };
    let ts = parse_instant(date, time).map_err(|e| format!("field 'date': {e}"))?;
    let open = number(field(r, c.open, "open")?, "open")?;
    let high = number(field(r, c.high, "high")?, "high")?;
    let low = number(field(r, c.low, "low")?, "low")?;
    let close = number(field(r, c.close, "close")?, "close")?;
    let adj_close = match c.adj_close {
        Some(_) => Some(number(field(r, c.adj_close, "adj close")?, "adj close")?),
        None => None,
    };
    // Index files (e.g. Stooq's ^SPX) have no volume column: volume 0, not an error.
    let volume = match c.volume {
        Some(_) => number(field(r, c.volume, "volume")?, "volume")?,
        None => 0.0,
    };
    check_bar(Bar {
        ts,
        open,
        high,
        low,
        close,
        adj_close,
        volume,
    })
}

/// Rejects bars no exchange can print: high below low, or negative volume.
pub(crate) fn check_bar(b: Bar) -> Result<Bar, String> {
    if b.high < b.low {
        return Err(format!("high {} is below low {}", b.high, b.low));
    }
    if b.volume < 0.0 {
        return Err(format!("volume {} is negative", b.volume));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ParsedBars, MarketError> {
        parse_bars(s.as_bytes(), "t")
    }

    #[test]
    fn csv_variants_table() {
        // (document, expected (ts, close, adj, volume) of each bar, number of row errors)
        type Want = Vec<(i64, f64, Option<f64>, f64)>;
        let d1 = 1_704_153_600; // 2024-01-02
        let table: Vec<(&str, &str, Want, usize)> = vec![
            (
                "yahoo",
                "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,2,0.5,1.5,1.4,100\n",
                vec![(d1, 1.5, Some(1.4), 100.0)],
                0,
            ),
            (
                "stooq daily, reordered, lower case, extra cols",
                "\u{feff}ticker,volume,date,close,low,high,open,openint\nX,7,2024-01-02,3,1,4,2,0\n",
                vec![(d1, 3.0, None, 7.0)],
                0,
            ),
            (
                "stooq intraday with Time column",
                "Date,Time,Open,High,Low,Close,Volume\n2024-01-02,10:30:15,1,2,1,2,5\n",
                vec![(d1 + 37_815, 2.0, None, 5.0)],
                0,
            ),
            (
                "stooq bulk brackets",
                "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\nAAPL.US,5,20240102,103015,1,2,1,2,9,0\n",
                vec![(d1 + 37_815, 2.0, None, 9.0)],
                0,
            ),
            (
                "rfc3339 datetimes, CRLF, semicolons",
                "Date;Open;High;Low;Close;Volume\r\n2024-01-02T10:30:15Z;1;2;1;2;5\r\n",
                vec![(d1 + 37_815, 2.0, None, 5.0)],
                0,
            ),
            (
                "bad rows kept apart",
                "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\nnot-a-date,1,2,1,2,5\n2024-01-03,1,2,1,null,5\n2024-01-04,1,2,1,,5\n2024-01-05,1,x,1,2,5\n2024-01-06,1,2\n2024-01-07,1,1,2,1,5\n2024-01-08,1,2,1,2,-1\n2024-01-09,1,2,1,NaN,5\n",
                vec![(d1, 2.0, None, 5.0)],
                8,
            ),
            (
                "unsorted with duplicate: last wins",
                "Date,Open,High,Low,Close,Volume\n2024-01-03,1,2,1,2,5\n2024-01-02,1,2,1,2,5\n2024-01-03,1,9,1,9,6\n\n",
                vec![(d1, 2.0, None, 5.0), (d1 + 86_400, 9.0, None, 6.0)],
                0,
            ),
            ("header only", "Date,Open,High,Low,Close,Volume\n", vec![], 0),
            (
                "no volume column",
                "Date,Open,High,Low,Close\n2024-01-02,1,2,1,2\n",
                vec![(d1, 2.0, None, 0.0)],
                0,
            ),
        ];
        for (name, doc, want, nerr) in table {
            let got = parse(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.format, BarFormat::Csv, "{name}");
            let have: Want = got
                .bars
                .iter()
                .map(|b| (b.ts, b.close, b.adj_close, b.volume))
                .collect();
            assert_eq!(have, want, "{name}");
            assert_eq!(got.errors.len(), nerr, "{name}: {:?}", got.errors);
        }
    }

    #[test]
    fn row_errors_name_line_and_field() {
        let doc = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\n2024-01-03,1,2,1,abc,5\n";
        let got = parse(doc).expect("parses");
        assert_eq!(got.errors.len(), 1);
        let e = &got.errors[0];
        assert_eq!(e.at, Position::Line(3));
        assert_eq!(
            e.to_string(),
            "t line 3: field 'close' is not a number: 'abc'"
        );
    }

    #[test]
    fn klines_table() {
        let ms = 1_704_153_600_000i64;
        let doc = format!(
            r#"[[{ms},"1.0","2.0","0.5","1.5","10.5",{},"0",1,"0","0","0"],
               [{},"1","2","1","3","11",0],
               [{}, 1, 2, 1, 4.5, 12],
               "junk",
               [{ms},"1","2","1","x","1"],
               [{ms},"1","2"]]"#,
            ms + 86_399_999,
            (ms + 86_400_000) * 1000,
            ms + 2 * 86_400_000,
        );
        let got = parse(&doc).expect("parses");
        assert_eq!(got.format, BarFormat::BinanceKlines);
        let have: Vec<(i64, f64, f64)> =
            got.bars.iter().map(|b| (b.ts, b.close, b.volume)).collect();
        let d = ms / 1000;
        assert_eq!(
            have,
            vec![
                (d, 1.5, 10.5),
                (d + 86_400, 3.0, 11.0),
                (d + 172_800, 4.5, 12.0)
            ]
        );
        let at: Vec<Position> = got.errors.iter().map(|e| e.at.clone()).collect();
        assert_eq!(
            at,
            vec![
                Position::Item("3".into()),
                Position::Item("4".into()),
                Position::Item("5".into())
            ]
        );
    }

    #[test]
    fn whole_document_errors() {
        let table: [(&str, &str); 7] = [
            ("", "empty document"),
            ("   \n", "empty document"),
            ("hello world\nfoo", "unrecognised document"),
            (
                "Date,Open,Close\n2024-01-02,1,2\n",
                "header lacks column(s) high, low",
            ),
            ("[[1704153600000,\"1\",\"2\"", "invalid JSON"),
            (
                "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}",
                "provider returned an error",
            ),
            ("{\"a\":1}", "unrecognised document"),
        ];
        for (doc, want) in table {
            match parse(doc) {
                Err(e) => assert!(e.to_string().contains(want), "{doc:?}: {e}"),
                Ok(p) => panic!("{doc:?}: parsed {p:?}"),
            }
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap deterministic fuzz: mutate a valid document byte by byte.
        let base =
            b"Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\n[[1,\"2\"]]\xff\x00,;\"\n";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut doc = base.to_vec();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % doc.len();
                doc[at] = (seed >> 32) as u8;
            }
            let len = (seed as usize >> 3) % (doc.len() + 1);
            let _ = parse_bars(&doc[..len], "fuzz");
            let _ = parse_bars(&doc, "fuzz");
        }
    }
}
