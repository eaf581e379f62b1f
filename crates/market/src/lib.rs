//! aivex-market: market data: bar parsing (CSV, Binance klines), TA-Lib-compatible indicators, the chart component, fundamentals parsing and the metrics component
