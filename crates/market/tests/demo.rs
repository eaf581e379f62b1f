//! The shipped demo data (config/demo) goes through every parser and component cleanly: a
//! first run on it must produce chart and metrics components for each symbol.

use aivex_market::{
    chart_component, default_concepts, metrics_component, parse_bars, parse_companyfacts,
    parse_fundamentals_csv, BarFormat,
};
use std::path::PathBuf;

fn demo(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/demo")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn demo_bars() {
    let last_day = 1_795_132_800; // 2026-11-20T00:00:00Z
    for (file, format, min_bars) in [
        ("bars/AAPL.csv", BarFormat::Csv, 240),
        ("bars/MSFT.csv", BarFormat::Csv, 240),
        ("bars/NVDA.csv", BarFormat::Csv, 240),
        ("bars/SPY.csv", BarFormat::Csv, 240),
        ("bars/BTCUSDT.json", BarFormat::BinanceKlines, 360),
    ] {
        let bytes = demo(file);
        assert!(bytes.len() < 100 * 1024, "{file} is {} bytes", bytes.len());
        let p = parse_bars(&bytes, file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.format, format, "{file}");
        assert!(p.errors.is_empty(), "{file}: {:?}", p.errors);
        assert!(p.bars.len() >= min_bars, "{file}: {} bars", p.bars.len());
        let c = chart_component(&p.bars).unwrap_or_else(|| panic!("{file}: no chart component"));
        assert_eq!(c.as_of, last_day, "{file}");
        assert!((-1.0..=1.0).contains(&c.value), "{file}: {}", c.value);
    }
}

/// The generated history before each shipped series (config/demo/bars/history/, written by
/// scripts/gen-demo-history.py) parses cleanly and ends the day before the series starts, so
/// the two files of a symbol join without a gap or an overlap.
#[test]
fn demo_history_joins_the_shipped_bars() {
    for (symbol, shipped) in [
        ("AAPL", "bars/AAPL.csv"),
        ("MSFT", "bars/MSFT.csv"),
        ("NVDA", "bars/NVDA.csv"),
        ("SPY", "bars/SPY.csv"),
        ("BTCUSDT", "bars/BTCUSDT.json"),
    ] {
        let file = format!("bars/history/{symbol}.csv");
        let bytes = demo(&file);
        assert!(bytes.len() < 100 * 1024, "{file} is {} bytes", bytes.len());
        let h = parse_bars(&bytes, &file).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.errors.is_empty(), "{file}: {:?}", h.errors);
        assert!(h.bars.len() >= 300, "{file}: {} bars", h.bars.len());
        assert!(h
            .bars
            .iter()
            .all(|b| b.low <= b.high && b.close > 0.0 && b.volume > 0.0));
        let s = parse_bars(&demo(shipped), shipped).unwrap_or_else(|e| panic!("{e}"));
        let (last, first) = (h.bars.last().map(|b| b.ts), s.bars.first().map(|b| b.ts));
        let gap = first.zip(last).map(|(f, l)| f - l);
        // The next day, or the next trading day after a weekend.
        assert!(
            matches!(gap, Some(86_400) | Some(259_200)),
            "{symbol}: gap {gap:?}"
        );
    }
}

#[test]
fn demo_fundamentals() {
    let p = parse_fundamentals_csv(&demo("fundamentals/fundamentals.csv"), "fundamentals.csv")
        .expect("csv");
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    for sym in ["AAPL", "MSFT", "NVDA"] {
        let c = metrics_component(&p.records, sym)
            .unwrap_or_else(|| panic!("{sym}: no metrics component"));
        assert!((-1.0..=1.0).contains(&c.value));
        for part in [
            "earnings_growth",
            "revenue_growth",
            "margin_trend",
            "leverage",
        ] {
            assert!(
                !c.detail[part].is_null(),
                "{sym}: {part} missing in {}",
                c.detail
            );
        }
    }

    let cf = parse_companyfacts(
        &demo("fundamentals/AAPL-companyfacts.json"),
        "cf",
        "AAPL",
        &default_concepts(),
    )
    .expect("companyfacts");
    assert!(cf.errors.is_empty(), "{:?}", cf.errors);
    // The 2025-06-28 quarter is reported in two filings: one record, from the later one.
    let q: Vec<_> = cf
        .records
        .iter()
        .filter(|f| f.metric == "revenue" && f.period_end == "2025-06-28")
        .collect();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].filed.as_deref(), Some("2026-07-31"));
    // The nine-month year-to-date figure is not mistaken for a quarter.
    assert!(cf.records.iter().all(|f| f.value != 313_695_000_000.0));
    assert_eq!(
        cf.records
            .iter()
            .filter(|f| f.metric == "revenue_annual")
            .count(),
        2
    );
    let c = metrics_component(&cf.records, "AAPL").expect("metrics from companyfacts");
    assert!(
        !c.detail["earnings_growth"].is_null() && !c.detail["leverage"].is_null(),
        "{}",
        c.detail
    );
}
