//! Bar documents (`aivex_market::parse_bars`: Stooq/Yahoo CSV, Binance klines): must not
//! panic; bars come sorted by time without duplicates, with finite prices, high >= low and
//! volume >= 0; bad rows are listed within MAX_ERRORS.
#![no_main]

use aivex_market::{parse_bars, MAX_ERRORS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = parse_bars(data, "fuzz.csv") else {
        return;
    };
    assert!(p.errors.len() <= MAX_ERRORS);
    assert!(p.bars.windows(2).all(|w| w[0].ts < w[1].ts));
    for b in &p.bars {
        for v in [b.open, b.high, b.low, b.close, b.volume] {
            assert!(v.is_finite());
        }
        assert!(b.high >= b.low && b.volume >= 0.0);
    }
});
