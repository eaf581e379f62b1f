//! Every filing of every fact in SEC companyfacts JSON, for a store that keeps what was known
//! when: a quarter first reported in its 10-Q and repeated (or restated) as a comparative in
//! later filings gives one record per filing, each with its own `filed` date.
//!
//! `parse_companyfacts` (fundamentals.rs) keeps only the latest filing of each period, which is
//! what the live metrics component reads; but stored that way, a replay would not know a
//! quarter's number until its last re-filing, often a year later. This reads the document the
//! same way (the same streaming reader, concept fallbacks, unit preference and period
//! classification: `companyfacts::parse`) and keeps every (metric, period end, filed) value
//! (the later item when one filing repeats it). Pure parsing; it must not do I/O or read the clock.

use crate::companyfacts::{parse, Keep};
use crate::error::MarketError;
use crate::fundamentals::ParsedFundamentals;
use std::collections::BTreeMap;

/// Reads SEC companyfacts JSON for `symbol` keeping every filing of each fact: for each
/// metric of `concepts`, the first concept with usable facts; records sorted by metric,
/// period end, filed.
pub fn parse_companyfacts_filings(
    bytes: &[u8],
    source_name: &str,
    symbol: &str,
    concepts: &BTreeMap<String, Vec<String>>,
) -> Result<ParsedFundamentals, MarketError> {
    parse(bytes, source_name, symbol, concepts, Keep::EveryFiling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_concepts, parse_companyfacts};

    const DOC: &str = r#"{"facts": {"us-gaap": {
        "Revenues": {"units": {"USD": [
            {"start": "2025-01-01", "end": "2025-03-31", "val": 10, "form": "10-Q", "filed": "2025-05-01"},
            {"start": "2025-01-01", "end": "2025-03-31", "val": 11, "form": "10-Q", "filed": "2026-05-01"},
            {"start": "2025-01-01", "end": "2025-06-30", "val": 25, "form": "10-Q", "filed": "2025-08-01"},
            {"start": "2025-04-01", "end": "2025-06-30", "val": 14, "form": "10-Q", "filed": "2025-08-01"},
            {"start": "2025-04-01", "end": "2025-06-30", "val": 15, "form": "10-Q/A", "filed": "2025-08-01"},
            {"start": "2025-04-01", "end": "2025-06-30", "val": "oops", "filed": "2025-09-01"}]}}}}}"#;

    #[test]
    fn every_filing_is_kept_and_the_latest_matches_the_live_parser() {
        let p = parse_companyfacts_filings(DOC.as_bytes(), "cf", "acme", &default_concepts())
            .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, &str, Option<&str>, f64)> = p
            .records
            .iter()
            .map(|f| {
                (
                    f.metric.as_str(),
                    f.period_end.as_str(),
                    f.filed.as_deref(),
                    f.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("revenue", "2025-03-31", Some("2025-05-01"), 10.0),
                ("revenue", "2025-03-31", Some("2026-05-01"), 11.0),
                // A filing repeating a fact: its later item (the amendment).
                ("revenue", "2025-06-30", Some("2025-08-01"), 15.0),
            ]
        );
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(p
            .records
            .iter()
            .all(|f| f.symbol == "ACME" && f.unit == "USD"));
        // The latest filing of each period is what the live parser keeps.
        let live = parse_companyfacts(DOC.as_bytes(), "cf", "acme", &default_concepts())
            .unwrap_or_else(|e| panic!("{e}"));
        for f in &live.records {
            let latest = p
                .records
                .iter()
                .filter(|g| g.metric == f.metric && g.period_end == f.period_end)
                .max_by(|a, b| a.filed.cmp(&b.filed));
            assert_eq!(latest, Some(f), "{f:?}");
        }
    }
}
