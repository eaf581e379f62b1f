//! Fundamentals documents: the plain CSV and SEC companyfacts JSON (with the default concept
//! lists). Must not panic; values are finite, period ends are YYYY-MM-DD, bad records are
//! listed within MAX_ERRORS.
#![no_main]

use aivex_market::{default_concepts, parse_companyfacts, parse_fundamentals_csv, MAX_ERRORS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let concepts = default_concepts();
    for parsed in [
        parse_fundamentals_csv(data, "fuzz.csv"),
        parse_companyfacts(data, "fuzz.json", "FUZZ", &concepts),
    ]
    .into_iter()
    .flatten()
    {
        assert!(parsed.errors.len() <= MAX_ERRORS);
        for f in &parsed.records {
            assert!(f.value.is_finite());
            assert_eq!(f.period_end.len(), 10, "{f:?}");
        }
    }
});
