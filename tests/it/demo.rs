//! The shipped demo tells its story (issue 15): `aivex run` on a copy of the repository's
//! `config/` and `modules/` exactly as shipped (the demo data undated: it ends 2026-11-20,
//! whatever today is), and within 60 s `/signals/SPY?limit=1000` holds at least 200 signals,
//! allows and denials appear across the demo symbols with several reason codes, and most
//! back-filled signals carry their scored outcome; then `aivex replay --from 2026-01-01
//! --to 2026-11-20` on that store prints the report. It must pass on any date: the back-fill
//! window ends at the earliest of now and the newest bar close, and the demo's bars start
//! early enough that a year of warmed-up signals fits before either.

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every signal of `symbol` Eye serves in one page of up to 1000.
fn signals(addr: std::net::SocketAddr, symbol: &str) -> Option<Vec<Value>> {
    let (status, body) = http(addr, "GET", &format!("/signals/{symbol}?limit=1000"), None)?;
    (status == 200).then(|| body["signals"].as_array().cloned().unwrap_or_default())
}

#[test]
fn the_shipped_demo_has_a_scored_track_record_within_60_s() {
    let env = Env::new("demo-story");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("config"), &env.path("config"));
    copy_dir(&repo.join("modules"), &env.path("modules"));
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    let mut sup = env.start_config(
        "config/aivex.toml",
        &[("AIVEX_EYE_ADDR", &format!("127.0.0.1:{port}"))],
    );
    let deadline = Duration::from_secs(60);
    let spy = wait_for("200 scored SPY signals on /signals/SPY", deadline, || {
        let s = signals(addr, "SPY")?;
        let scored = s.iter().filter(|x| !x["outcome"].is_null()).count();
        (s.len() >= 200 && scored * 2 > s.len()).then_some(s)
    });
    assert!(started.elapsed() <= deadline);
    let mut decisions = BTreeSet::new();
    let mut reasons = BTreeSet::new();
    let (mut backfilled, mut scored) = (0, 0);
    let mut per_symbol = BTreeMap::new();
    for symbol in ["AAPL", "MSFT", "NVDA", "SPY", "BTCUSDT"] {
        let all = if symbol == "SPY" {
            spy.clone()
        } else {
            signals(addr, symbol).unwrap_or_default()
        };
        per_symbol.insert(symbol, all.len());
        for s in &all {
            decisions.insert(s["decision"].as_str().unwrap_or("").to_string());
            for r in s["reason_codes"].as_array().into_iter().flatten() {
                reasons.insert(r.as_str().unwrap_or("").to_string());
            }
            if s["origin"] == "backfill" {
                backfilled += 1;
                if let Some(o) = s["outcome"].as_object() {
                    scored += 1;
                    assert!(["hit", "miss", "flat"].contains(&o["kind"].as_str().unwrap_or("")));
                    assert!(o["realized_return"].is_number() && o["scored_at"].is_string());
                }
            }
        }
    }
    assert!(
        decisions.contains("allow") && decisions.contains("deny"),
        "{decisions:?}"
    );
    assert!(reasons.len() >= 2, "varied reason codes: {reasons:?}");
    assert!(
        per_symbol.values().all(|n| *n >= 200),
        "a year of signals per symbol: {per_symbol:?}"
    );
    assert!(
        scored * 10 >= backfilled * 8,
        "{scored} of {backfilled} back-filled scored"
    );
    assert_eq!(sup.stop(), Some(0));

    let out = env.run(
        &[
            "replay",
            "--config",
            "config/aivex.toml",
            "--from",
            "2026-01-01",
            "--to",
            "2026-11-20",
        ],
        secs(120.0),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("replay 2026-01-01T00:00:00Z .. 2026-11-20T00:00:00Z, step 86400s"),
        "{stdout}"
    );
    for row in [
        "AAPL",
        "BTCUSDT",
        "MSFT",
        "NVDA",
        "SPY",
        "all",
        "denials by reason",
        "reliability",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(row)),
            "{row}: {stdout}"
        );
    }
}
