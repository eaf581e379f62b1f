//! Seeds a store for `scripts/bench-eye`: SYMBOLS symbols x PER signals (each with its
//! governor log line) through the store's signal write path (`signals::record_decision`, as
//! brain writes), 500 signals per transaction (`Store::record_backfill` without progress
//! rows): one commit per signal made seeding MariaDB take minutes on a busy disk.
//! Usage: bench_seed URL SYMBOLS PER. Prints the symbol names' pattern and a few signal ids.
//! Idempotent: ids are deterministic, so a second run writes nothing.

use aivex_store::{GovernorLogRecord, SignalRecord, Store};
use serde_json::json;

const BATCH: usize = 500;

fn arg(i: usize, name: &str) -> Result<String, String> {
    std::env::args()
        .nth(i)
        .ok_or_else(|| format!("usage: bench_seed URL SYMBOLS PER (missing {name})"))
}

fn main() -> Result<(), String> {
    let url = arg(1, "URL")?;
    let symbols: usize = arg(2, "SYMBOLS")?
        .parse()
        .map_err(|e| format!("SYMBOLS: {e}"))?;
    let per: usize = arg(3, "PER")?.parse().map_err(|e| format!("PER: {e}"))?;
    let mut store = Store::open(&url).map_err(|e| e.to_string())?;
    store.migrate().map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().as_second();
    let t0 = std::time::Instant::now();
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    for k in 0..per {
        for i in 0..symbols {
            let symbol = format!("BENCH{i:04}");
            let at = now - ((per - k) as i64) * 3600;
            let id = format!("{symbol}-{at}");
            let deny = (i + k) % 3 == 0;
            let (decision, reasons) = if deny {
                ("deny", "MIN_CONFIDENCE")
            } else {
                ("allow", "")
            };
            let confidence = 0.3 + ((i * 7 + k * 13) % 70) as f64 / 100.0;
            let s = SignalRecord {
                id: id.clone(),
                symbol: symbol.clone(),
                created_at: at,
                direction: if deny { 0 } else { 1 },
                score: 0.25,
                confidence,
                horizon_s: 86_400,
                components_json: json!({
                    "chart": {"value": 0.4, "weight": 0.5, "contribution": 0.2, "input_age_s": 3600},
                    "news": {"value": 0.1, "weight": 0.3, "contribution": 0.03, "input_age_s": 900},
                    "metrics": {"value": 0.2, "weight": 0.2, "contribution": 0.04, "input_age_s": 86400}
                })
                .to_string(),
                decision: decision.into(),
                reasons: reasons.into(),
                origin: "live".into(),
                recorded_at: at,
                lease: None,
            };
            let g = GovernorLogRecord {
                signal_id: id,
                symbol,
                decision: decision.into(),
                reason_codes: reasons.into(),
                rules_json: json!([
                    {"rule": "MIN_CONFIDENCE", "passed": !deny, "inputs": {"confidence": confidence, "min": 0.5}},
                    {"rule": "COOLDOWN_ACTIVE", "passed": true, "inputs": {"last_allowed_s": 7200, "cooldown_s": 3600}}
                ])
                .to_string(),
                config_hash: "bench".into(),
                at,
            };
            batch.push((s, g));
            if batch.len() == BATCH {
                written += store
                    .record_backfill(&batch, &[])
                    .map_err(|e| e.to_string())? as u64;
                batch.clear();
            }
        }
    }
    written += store
        .record_backfill(&batch, &[])
        .map_err(|e| e.to_string())? as u64;
    eprintln!(
        "bench_seed: {written} new signals of {} in {:.1}s",
        symbols * per,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
