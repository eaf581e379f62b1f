//! Checks every indicator against TA-Lib's output for the same bars, from golden files that
//! scripts/gen-talib-golden.py wrote with TA-Lib; no Python is needed at test time.
//!
//! Tolerance: 1e-6 relative where TA-Lib's value is above 1 in magnitude, 1e-6 absolute
//! below; a value on one side and none on the other is a failure.

use aivex_market::{indicator_table, parse_bars, write_indicator_csv, Bar, INDICATOR_CSV_HEADER};
use std::path::PathBuf;

const COLUMNS: [&str; 14] = [
    "sma_20",
    "sma_50",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "bb_pctb",
    "atr_14",
    "volume_z_20",
];

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

struct Golden {
    bars: Vec<Bar>,
    dates: Vec<String>,
    expected: Vec<[Option<f64>; 14]>,
}

fn load(name: &str) -> Golden {
    let path = manifest_path(&format!("tests/golden/{name}.csv"));
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header[..6],
        ["date", "open", "high", "low", "close", "volume"]
    );
    assert_eq!(header[6..], COLUMNS);
    let mut g = Golden {
        bars: Vec::new(),
        dates: Vec::new(),
        expected: Vec::new(),
    };
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
        let num = |k: usize| -> f64 {
            rec[k]
                .parse()
                .unwrap_or_else(|e| panic!("{name} row {i} col {k}: {e}"))
        };
        let day: jiff::civil::Date = rec[0].parse().expect("date");
        let ts = day
            .to_zoned(jiff::tz::TimeZone::UTC)
            .expect("utc")
            .timestamp()
            .as_second();
        g.bars.push(Bar {
            ts,
            open: num(1),
            high: num(2),
            low: num(3),
            close: num(4),
            adj_close: None,
            volume: num(5),
        });
        g.dates.push(rec[0].to_string());
        let mut row = [None; 14];
        for (k, slot) in row.iter_mut().enumerate() {
            let cell = &rec[6 + k];
            *slot = (!cell.is_empty()).then(|| num(6 + k));
        }
        g.expected.push(row);
    }
    g
}

fn check(name: &str) -> usize {
    let g = load(name);
    let table = indicator_table(&g.bars);
    let mut compared = 0;
    for (i, (row, want)) in table.iter().zip(&g.expected).enumerate() {
        for (k, (got, want)) in row.values().iter().zip(want).enumerate() {
            match (got, want) {
                (Some(a), Some(b)) => {
                    let err = if b.abs() > 1.0 {
                        (a - b).abs() / b.abs()
                    } else {
                        (a - b).abs()
                    };
                    assert!(
                        err <= 1e-6,
                        "{name} {} {}: got {a}, TA-Lib {b}",
                        g.dates[i],
                        COLUMNS[k]
                    );
                    compared += 1;
                }
                (None, None) => {}
                _ => panic!(
                    "{name} {} {}: got {got:?}, TA-Lib {want:?}",
                    g.dates[i], COLUMNS[k]
                ),
            }
        }
    }
    assert_eq!(table.len(), g.expected.len());
    compared
}

#[test]
fn indicators_match_talib() {
    // (golden file, minimum number of values compared: guards against an empty golden file)
    for (name, min) in [
        ("random_walk", 3500),
        ("flat_stretches", 900),
        ("demo_aapl", 2900),
    ] {
        let n = check(name);
        assert!(n >= min, "{name}: only {n} values compared");
    }
}

#[test]
fn demo_file_parses_to_the_golden_inputs() {
    let bytes = std::fs::read(manifest_path("../../config/demo/bars/AAPL.csv")).expect("demo file");
    let parsed = parse_bars(&bytes, "AAPL.csv").expect("parses");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let golden = load("demo_aapl");
    let strip = |b: &Bar| (b.ts, b.open, b.high, b.low, b.close, b.volume);
    let got: Vec<_> = parsed.bars.iter().map(strip).collect();
    let want: Vec<_> = golden.bars.iter().map(strip).collect();
    assert_eq!(got, want);
    assert!(parsed.bars.iter().all(|b| b.adj_close.is_some()));
}

#[test]
fn indicator_csv_round_trips_the_golden_values() {
    let g = load("random_walk");
    let mut out = Vec::new();
    write_indicator_csv(&indicator_table(&g.bars), &mut out).expect("write");
    let text = String::from_utf8(out).expect("utf8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(INDICATOR_CSV_HEADER));
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 16, "line {i}");
        assert_eq!(cells[0], g.dates[i]);
        for (k, want) in g.expected[i].iter().enumerate() {
            let got: Option<f64> =
                (!cells[2 + k].is_empty()).then(|| cells[2 + k].parse().expect("number"));
            match (got, want) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "line {i} {}",
                    COLUMNS[k]
                ),
                (None, None) => {}
                _ => panic!("line {i} {}: {got:?} vs {want:?}", COLUMNS[k]),
            }
        }
    }
}
