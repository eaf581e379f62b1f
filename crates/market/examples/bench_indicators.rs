//! Benchmark: parse + indicator table + chart component for 500 symbols × 2,000 daily bars of
//! Yahoo-style CSV, all in memory (file and database I/O are the chart module's, measured
//! there). Prints the median of 5 runs. Run with
//! `cargo run --release -p aivex-market --example bench_indicators [symbols] [bars] [runs]`.

use aivex_market::{chart_from_table, indicator_table, parse_bars};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A deterministic random-walk CSV for one symbol (xorshift, so no extra dependency).
fn synthetic_csv(seed: u64, bars: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut out = String::from("Date,Open,High,Low,Close,Adj Close,Volume\n");
    let mut day = jiff::civil::date(2019, 1, 1);
    let mut close = 100.0;
    for _ in 0..bars {
        let open = close * (1.0 + rnd() * 0.01);
        close = open * (1.0 + rnd() * 0.04);
        let high = open.max(close) * (1.0 + rnd().abs() * 0.01);
        let low = open.min(close) * (1.0 - rnd().abs() * 0.01);
        let volume = (1e6 * (1.5 + rnd())).round();
        let _ = writeln!(
            out,
            "{day},{open:.6},{high:.6},{low:.6},{close:.6},{close:.6},{volume}"
        );
        day = day.tomorrow().unwrap_or(day);
    }
    out.into_bytes()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let symbols = args.first().copied().unwrap_or(500);
    let bars = args.get(1).copied().unwrap_or(2000);
    let runs = args.get(2).copied().unwrap_or(5).max(1);
    let files: Vec<Vec<u8>> = (0..symbols as u64)
        .map(|i| synthetic_csv(i + 1, bars))
        .collect();
    let mb = files.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let mut times: Vec<(Duration, Duration)> = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..runs {
        let (mut parse_t, mut total) = (Duration::ZERO, Duration::ZERO);
        for (i, f) in files.iter().enumerate() {
            let t0 = Instant::now();
            let parsed = match parse_bars(f, &format!("sym{i}.csv")) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("bench input failed to parse: {e}");
                    std::process::exit(1);
                }
            };
            let t1 = Instant::now();
            let table = indicator_table(&parsed.bars);
            checksum += table.last().and_then(|r| r.rsi_14).unwrap_or(0.0);
            checksum += chart_from_table(&table).map(|c| c.value).unwrap_or(0.0);
            parse_t += t1 - t0;
            total += t1.elapsed() + (t1 - t0);
        }
        times.push((parse_t, total));
    }
    times.sort_by_key(|t| t.1);
    let (parse_t, total) = times[times.len() / 2];
    println!(
        "{symbols} symbols x {bars} bars ({mb:.1} MB CSV), median of {runs}: total {:.3} s (parse {:.3} s, indicators + chart {:.3} s) [checksum {checksum:.3}]",
        total.as_secs_f64(),
        parse_t.as_secs_f64(),
        (total - parse_t).as_secs_f64()
    );
}
