//! Fundamentals records: the `Fundamental` type, the default companyfacts concepts, and the
//! plain CSV reader (`symbol,metric,period_end,value[,unit,filed]`). SEC companyfacts JSON is
//! read in `companyfacts.rs`.
//!
//! Pure parsing, linear in the input, bad rows listed within `MAX_ERRORS`. It must not do I/O
//! or read the clock.

use crate::bars::{check_width, number};
use crate::error::{push_error, quote, MarketError, Position, RowError};
use crate::time::parse_day;
use std::collections::BTreeMap;

pub use crate::companyfacts::parse_companyfacts;

/// One fundamentals value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fundamental {
    /// Upper-cased ticker.
    pub symbol: String,
    pub metric: String,
    /// `YYYY-MM-DD`.
    pub period_end: String,
    pub value: f64,
    /// e.g. `USD`, `USD/shares`; empty when the file gives none.
    pub unit: String,
    /// `YYYY-MM-DD` the value was filed, when known.
    pub filed: Option<String>,
    /// The source name it came from.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFundamentals {
    pub records: Vec<Fundamental>,
    /// At most `MAX_ERRORS`: the first ones and the latest.
    pub errors: Vec<RowError>,
    /// Rejected records beyond `MAX_ERRORS`, counted but not listed.
    pub omitted_errors: usize,
}

/// The default metric → companyfacts concept fallback lists (us-gaap taxonomy).
pub fn default_concepts() -> BTreeMap<String, Vec<String>> {
    let table: [(&str, &[&str]); 8] = [
        (
            "revenue",
            &[
                "Revenues",
                "RevenueFromContractWithCustomerExcludingAssessedTax",
                "SalesRevenueNet",
                "RevenueFromContractWithCustomerIncludingAssessedTax",
            ],
        ),
        ("net_income", &["NetIncomeLoss", "ProfitLoss"]),
        ("operating_income", &["OperatingIncomeLoss"]),
        ("total_liabilities", &["Liabilities"]),
        (
            "equity",
            &[
                "StockholdersEquity",
                "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
            ],
        ),
        ("eps_diluted", &["EarningsPerShareDiluted"]),
        ("total_assets", &["Assets"]),
        (
            "operating_cash_flow",
            &["NetCashProvidedByUsedInOperatingActivities"],
        ),
    ];
    table
        .iter()
        .map(|(m, cs)| (m.to_string(), cs.iter().map(|c| c.to_string()).collect()))
        .collect()
}

pub(crate) fn valid_day(s: &str, field: &str) -> Result<String, String> {
    let t = s.trim();
    match parse_day(t) {
        Some(d) => Ok(d.to_string()),
        None => Err(format!(
            "field '{field}' is not a YYYY-MM-DD date: {}",
            quote(t)
        )),
    }
}

/// Parses `symbol,metric,period_end,value[,unit,filed]` (names case-insensitive, any order,
/// extra columns ignored). A bad row is a `RowError`; a header without the four required
/// columns is an error for the document.
pub fn parse_fundamentals_csv(
    bytes: &[u8],
    source_name: &str,
) -> Result<ParsedFundamentals, MarketError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    check_width(body, b',', source_name)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            Some(Ok(r)) if r.iter().all(|f| f.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
            Some(Err(e)) => {
                return Err(MarketError::UnknownFormat {
                    source: source_name.to_string(),
                    detail: format!("unreadable header: {e}"),
                })
            }
            None => {
                return Err(MarketError::UnknownFormat {
                    source: source_name.to_string(),
                    detail: "empty document".into(),
                })
            }
        }
    };
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (symbol, metric, period_end, value) = (
        find("symbol"),
        find("metric"),
        find("period_end"),
        find("value"),
    );
    let (unit, filed) = (find("unit"), find("filed"));
    let required = [
        ("symbol", symbol),
        ("metric", metric),
        ("period_end", period_end),
        ("value", value),
    ];
    let missing: Vec<&'static str> = required
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(MarketError::MissingColumns {
            source: source_name.to_string(),
            missing,
        });
    }
    let mut out = ParsedFundamentals {
        records: Vec::new(),
        errors: Vec::new(),
        omitted_errors: 0,
    };
    for rec in records {
        let (line, row) = match rec {
            Ok(r) => (r.position().map(|p| p.line()).unwrap_or(0), Ok(r)),
            Err(e) => (
                e.position().map(|p| p.line()).unwrap_or(0),
                Err(format!("unreadable record: {e}")),
            ),
        };
        let parsed = row.and_then(|r| {
            if r.iter().all(|f| f.trim().is_empty()) {
                return Ok(None);
            }
            let get = |idx: Option<usize>, name: &str| -> Result<String, String> {
                idx.and_then(|i| r.get(i))
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| format!("missing field '{name}' (short row)"))
            };
            let sym = get(symbol, "symbol")?.to_ascii_uppercase();
            let met = get(metric, "metric")?;
            if sym.is_empty() || met.is_empty() {
                return Err("empty symbol or metric".into());
            }
            let pe = valid_day(&get(period_end, "period_end")?, "period_end")?;
            let val = number(&get(value, "value")?, "value")?;
            let u = match unit {
                Some(_) => get(unit, "unit")?,
                None => String::new(),
            };
            let f = match filed {
                Some(_) => Some(get(filed, "filed")?).filter(|s| !s.is_empty()),
                None => None,
            };
            let f = f.map(|s| valid_day(&s, "filed")).transpose()?;
            Ok(Some(Fundamental {
                symbol: sym,
                metric: met,
                period_end: pe,
                value: val,
                unit: u,
                filed: f,
                source: source_name.to_string(),
            }))
        });
        match parsed {
            Ok(Some(f)) => out.records.push(f),
            Ok(None) => {}
            Err(message) => push_error(
                &mut out.errors,
                &mut out.omitted_errors,
                RowError {
                    source: source_name.to_string(),
                    at: Position::Line(line),
                    message,
                },
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_table() {
        let doc = "Value,Symbol,period_end,METRIC,unit,filed,note\n\
                   100.5,aapl,2026-06-30,revenue,USD,2026-07-30,x\n\
                   7,MSFT,2026-06-30,net_income,USD,,\n\
                   abc,MSFT,2026-06-30,revenue,USD,,\n\
                   7,MSFT,2026/06/30,revenue,USD,,\n\
                   7,MSFT,2026-06-30,revenue,USD,yesterday,\n\
                   7,,2026-06-30,revenue,USD,,\n\
                   7,MSFT\n";
        let p = parse_fundamentals_csv(doc.as_bytes(), "f.csv").expect("parses");
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            p.records[0],
            Fundamental {
                symbol: "AAPL".into(),
                metric: "revenue".into(),
                period_end: "2026-06-30".into(),
                value: 100.5,
                unit: "USD".into(),
                filed: Some("2026-07-30".into()),
                source: "f.csv".into(),
            }
        );
        assert_eq!(p.records[1].filed, None);
        let lines: Vec<Position> = p.errors.iter().map(|e| e.at.clone()).collect();
        assert_eq!(lines, (4..=8).map(Position::Line).collect::<Vec<_>>());
        assert!(
            p.errors[0]
                .to_string()
                .contains("f.csv line 4: field 'value' is not a number"),
            "{}",
            p.errors[0]
        );
        let bad =
            parse_fundamentals_csv(b"symbol,metric,value\n", "g.csv").expect_err("missing column");
        assert_eq!(bad.to_string(), "g.csv: header lacks column(s) period_end");
    }

    #[test]
    fn companyfacts_selection() {
        let doc = r#"{"cik": 1, "entityName": "X", "facts": {"us-gaap": {
          "SalesRevenueNet": {"units": {"USD": [
            {"start": "2020-01-01", "end": "2020-03-31", "val": 1, "filed": "2020-05-01", "form": "10-Q"}]}},
          "RevenueFromContractWithCustomerExcludingAssessedTax": {"units": {"USD": [
            {"start": "2025-01-01", "end": "2025-03-31", "val": 10, "fy": 2025, "fp": "Q1", "form": "10-Q", "filed": "2025-05-01"},
            {"start": "2025-01-01", "end": "2025-03-31", "val": 11, "fy": 2026, "fp": "Q1", "form": "10-Q", "filed": "2026-05-01"},
            {"start": "2025-01-01", "end": "2025-06-30", "val": 25, "fp": "Q2", "form": "10-Q", "filed": "2025-08-01"},
            {"start": "2025-04-01", "end": "2025-06-30", "val": 14, "fp": "Q2", "form": "10-Q", "filed": "2025-08-01"},
            {"start": "2024-01-01", "end": "2024-12-31", "val": 40, "fp": "FY", "form": "10-K", "filed": "2025-02-01"},
            {"start": "2024-01-01", "end": "2024-12-31", "val": "oops", "filed": "2025-02-01"},
            {"end": "2024-12-31", "val": 3}]}},
          "Liabilities": {"units": {"USD": [
            {"end": "2025-06-30", "val": 500, "filed": "2025-08-01"}]}},
          "EarningsPerShareDiluted": {"units": {"USD/shares": [
            {"start": "2025-04-01", "end": "2025-06-30", "val": 1.25, "filed": "2025-08-01"}]}}
        }}}"#;
        let p = parse_companyfacts(doc.as_bytes(), "cf.json", "aapl", &default_concepts())
            .expect("parses");
        let got: Vec<(&str, &str, f64, &str)> = p
            .records
            .iter()
            .map(|f| {
                (
                    f.metric.as_str(),
                    f.period_end.as_str(),
                    f.value,
                    f.unit.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("eps_diluted", "2025-06-30", 1.25, "USD/shares"),
                // Revenues is absent, so the second concept is used and SalesRevenueNet ignored.
                ("revenue", "2024-12-31", 3.0, "USD"),
                ("revenue", "2025-03-31", 11.0, "USD"),
                ("revenue", "2025-06-30", 14.0, "USD"),
                ("revenue_annual", "2024-12-31", 40.0, "USD"),
                ("total_liabilities", "2025-06-30", 500.0, "USD"),
            ]
        );
        assert!(p.records.iter().all(|f| f.symbol == "AAPL"));
        assert_eq!(p.errors.len(), 1);
        assert_eq!(
            p.errors[0].at,
            Position::Item(
                "us-gaap.RevenueFromContractWithCustomerExcludingAssessedTax.units.USD[5]".into()
            )
        );
        for (doc, want) in [("{\"facts\":", "invalid JSON"), ("[]", "no 'facts' object")] {
            let e =
                parse_companyfacts(doc.as_bytes(), "x", "A", &default_concepts()).expect_err(doc);
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
