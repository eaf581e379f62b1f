//! aivex-market: pure market-data logic shared by the chart and metrics modules.
//!
//! It owns parsing of bar files (Stooq/Yahoo CSV, Binance klines JSON) and fundamentals
//! (CSV, SEC companyfacts JSON, the latter also with every filing kept: `filings`), the TA-Lib-compatible indicators, and the chart and metrics
//! components derived from them. It must not touch files, the network, the database or the
//! clock: callers hand in bytes (and a source name for messages) and get values back.

#![forbid(unsafe_code)]

pub mod bars;
pub mod chart;
mod companyfacts;
pub mod error;
pub mod filings;
pub mod fundamentals;
pub mod incremental;
pub mod indicators;
mod json;
mod klines;
pub mod metrics;
mod time;

pub use bars::{parse_bars, Bar, BarFormat, ParsedBars};
pub use chart::{
    chart_component, chart_from_table, chart_inputs, chart_parts, chart_score, ChartComponent,
    ChartInputs, ChartParts,
};
pub use error::{MarketError, Position, RowError, MAX_ERRORS};
pub use filings::parse_companyfacts_filings;
pub use fundamentals::{
    default_concepts, parse_companyfacts, parse_fundamentals_csv, Fundamental, ParsedFundamentals,
};
pub use indicators::{indicator_table, write_indicator_csv, IndicatorRow, INDICATOR_CSV_HEADER};
pub use metrics::{metrics_component, MetricsComponent};
