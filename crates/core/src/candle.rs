//! `Candle`: one OHLCV bar as plain numbers, the value the market parsers produce, the store
//! writes and reads back, and the indicators consume, so no layer converts between copies.
//!
//! It owns only the type: no parsing, validation or formatting lives here.

/// One bar. `ts` is the bar's open time in unix seconds UTC (midnight for daily bars).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Stored when the source has it; indicators never use it.
    pub adj_close: Option<f64>,
    pub volume: f64,
}
