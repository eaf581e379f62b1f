//! Benchmark of the pure core: one brain + governor cycle over 500 symbols (compose, the
//! change check against the last signal, governor history from a Ledger, evaluate, and the
//! JSON the glue would store), and calibration over 10 000 feedback rows.
//!
//! It measures only this crate's CPU cost; the store round trips of a real cycle are measured
//! by the module-level benchmark. Prints the median of several runs.

use aivex_brain::{
    calibrate, compose, config_hash, evaluate, inputs_changed, BrainConfig, ComponentInput,
    FeedbackComponent, FeedbackRow, GovernorConfig, Kind, Ledger, OutcomeKind, Weights,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SYMBOLS: usize = 500;
const NOW: i64 = 1_795_446_000;

/// A deterministic value in [-1, 1] per (symbol, kind), without a random-number dependency.
fn value(i: usize, k: usize) -> f64 {
    let x = ((i * 7919 + k * 104_729) % 2001) as f64;
    x / 1000.0 - 1.0
}

fn one_cycle(symbols: &[String], brain: &BrainConfig, gov: &GovernorConfig) -> usize {
    let hash = config_hash(gov);
    // History as the glue would load it: every symbol allowed twice in the last day.
    let mut ledger = Ledger::new(
        symbols
            .iter()
            .flat_map(|s| [(s.clone(), NOW - 80_000), (s.clone(), NOW - 7200)]),
    );
    let mut allowed = 0;
    for (i, symbol) in symbols.iter().enumerate() {
        let inputs: Vec<ComponentInput> = Kind::ALL
            .into_iter()
            .enumerate()
            .map(|(k, kind)| ComponentInput {
                kind,
                value: value(i, k),
                as_of: NOW - 3600 * (k as i64 + 1),
            })
            .collect();
        let Ok(Some(signal)) = compose(symbol, &inputs, brain, NOW) else {
            continue;
        };
        if !inputs_changed(None, &signal.components) {
            continue;
        }
        let history = ledger.history(symbol, NOW, gov.window_s);
        let decision = evaluate(&signal, &history, gov, NOW);
        let row = serde_json::to_string(&(&signal, &decision, &hash)).unwrap_or_default();
        black_box(row);
        if decision.allow {
            ledger.record(symbol.clone(), NOW);
            allowed += 1;
        }
    }
    allowed
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let symbols: Vec<String> = (0..SYMBOLS).map(|i| format!("SYM{i:04}")).collect();
    let brain = BrainConfig::default();
    let gov = GovernorConfig {
        max_global_in_window: 2000,
        ..GovernorConfig::default()
    };
    let runs = 21;
    let mut times = Vec::with_capacity(runs);
    let mut allowed = 0;
    for _ in 0..runs {
        let t = Instant::now();
        allowed = black_box(one_cycle(&symbols, &brain, &gov));
        times.push(t.elapsed());
    }
    println!(
        "cycle: {SYMBOLS} symbols, median {:?} over {runs} runs ({allowed} allowed)",
        median(times)
    );

    let rows: Vec<FeedbackRow> = (0..10_000)
        .map(|i| FeedbackRow {
            confidence: (i % 100) as f64 / 100.0,
            direction: [1, -1, 0][i % 3],
            components: Kind::ALL
                .into_iter()
                .enumerate()
                .map(|(k, kind)| FeedbackComponent {
                    kind,
                    value: value(i, k),
                    weight: Weights::default().get(kind),
                })
                .collect(),
            outcome: [OutcomeKind::Hit, OutcomeKind::Miss, OutcomeKind::Flat][i % 3],
            realized_return: Some(value(i, 5) / 20.0),
        })
        .collect();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(calibrate(&rows, &Weights::default(), 30).ok());
        times.push(t.elapsed());
    }
    println!(
        "calibrate: {} rows, median {:?} over {runs} runs",
        rows.len(),
        median(times)
    );
}
