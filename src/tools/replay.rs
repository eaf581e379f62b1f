//! `aivex replay [--config PATH] --from DATE --to DATE [--step DURATION] [--symbols A,B,...]
//! [--governor FILE.toml] [--json] [--out FILE] [--signals FILE]`: the brain run over the
//! stored history as it was known at each step, with the live code (aivex-brain's replay
//! engine), and its quality report.
//!
//! This file is the shell: it reads the configuration (brain's and news' settings, a "what
//! if" governor file overlaid on brain's `[settings.governor]`), loads the history through
//! the brain module's loader (`modules::brain::history`, the one back-fill uses), steps the
//! engine, and writes the report (table or JSON), the `--signals` lines and the progress line.
//! It must not compute anything itself, and it writes nothing to the store: a replay is read
//! only. Bad dates, flags or files are usage errors (exit 2) naming what.

use super::replay_output::{Outputs, Progress};
use super::ToolError;
use crate::config::{redact_url, Config, Run};
use crate::modules::brain::{history, settings::Settings};
use aivex_brain::replay::{
    self, History, Replay, ReplayConfig, Replayed, ReplayedRow, ReportBuilder, ReportHead,
};
use aivex_core::contract::{Symbol, Verdict};
use aivex_store::Store;
use serde_json::Value;
use std::path::PathBuf;

/// The command line of `aivex replay`, as given (checked here).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayArgs {
    pub from: Option<String>,
    pub to: Option<String>,
    pub step: Option<String>,
    pub symbols: Option<String>,
    pub governor: Option<PathBuf>,
    pub json: bool,
    pub out: Option<PathBuf>,
    pub signals: Option<PathBuf>,
}

/// Steps replayed per block (symbols' components on several threads, then the governor).
const BLOCK: usize = 32;

/// Every symbol's history, read on `threads()` store connections at once; in `symbols` order.
fn load_all(url: &str, symbols: &[String], interval: &str) -> Result<Vec<History>, ToolError> {
    let threads = threads().clamp(1, symbols.len().max(1));
    let chunk = symbols.len().div_ceil(threads).max(1);
    let load = |part: &[String]| -> Result<Vec<History>, ToolError> {
        let store = Store::open(url).map_err(|e| {
            ToolError::Failed(format!("cannot open the store {}: {e}", redact_url(url)))
        })?;
        part.iter()
            .map(|symbol| {
                history::load(&store, symbol, interval)
                    .map_err(|e| ToolError::Failed(format!("reading the history of {symbol}: {e}")))
            })
            .collect()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = symbols
            .chunks(chunk)
            .map(|part| scope.spawn(move || load(part)))
            .collect();
        let mut all = Vec::with_capacity(symbols.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| ToolError::Failed("a loading thread failed".into()))??;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Everything a replay needs, checked.
struct Plan {
    from: i64,
    to: i64,
    step_s: i64,
    settings: Settings,
    cfg: ReplayConfig,
}

fn usage(m: impl Into<String>) -> ToolError {
    ToolError::Usage(m.into())
}

pub fn replay(cfg: &Config, args: &ReplayArgs) -> Result<(), ToolError> {
    let plan = plan(cfg, args)?;
    let outputs = Outputs::open(args.out.as_deref(), args.signals.as_deref(), args.json)?;
    let store = super::open_store(cfg)?;
    let symbols = match &args.symbols {
        Some(list) => parse_symbols(list)?,
        None => {
            history::default_symbols(&store, &plan.settings.symbols, &plan.settings.bar_interval)
                .map_err(|e| ToolError::Failed(format!("reading the symbols: {e}")))?
        }
    };
    drop(store);
    let loaded = load_all(&cfg.database.url, &symbols, &plan.settings.bar_interval)?;
    let mut histories = Vec::with_capacity(loaded.len());
    for h in loaded {
        if h.bars.is_empty() {
            eprintln!(
                "aivex replay: warning: {} has no {} bars in the store",
                h.symbol, plan.settings.bar_interval
            );
        }
        histories.push((h, (plan.from, plan.to)));
    }
    let config_hash = replay::config_hash(&plan.cfg);
    let mut engine =
        Replay::new(histories, plan.cfg).map_err(|e| ToolError::Failed(e.to_string()))?;
    let symbols: Vec<String> = engine.symbols().iter().map(|s| s.to_string()).collect();
    let steps: Vec<i64> = replay::grid(plan.from, plan.to, plan.step_s).collect();
    let total = steps.len() as u64 * symbols.len() as u64;
    let report = ReportBuilder::new(ReportHead {
        from: plan.from,
        to: plan.to,
        step_s: plan.step_s,
        symbols: symbols.clone(),
        config_hash,
        steps: steps.len() as u64,
        symbol_steps: total,
    });
    let mut progress = Progress::new(total);
    // The engine steps block after block on this thread (its components on several); the
    // report and the `--signals` lines are built on another from the blocks handed over, so
    // the two overlap. A bounded channel keeps at most a couple of blocks in flight.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Replayed>>(2);
    let consumer = std::thread::spawn(move || -> Result<(ReportBuilder, Outputs), ToolError> {
        let (mut report, mut outputs) = (report, outputs);
        for block in rx {
            for r in &block {
                let row = ReplayedRow {
                    symbol: &r.signal.symbol,
                    at: r.signal.created_at,
                    id: &r.signal.id,
                    direction: r.signal.direction,
                    score: r.signal.score,
                    confidence: r.signal.confidence,
                    decision: Verdict::from_allow(r.decision.allow),
                    reason_codes: &r.decision.reason_codes,
                    outcome: r.outcome,
                };
                outputs.signal(&row)?;
                report.add(&row);
            }
        }
        Ok((report, outputs))
    });
    let mut done = 0u64;
    for block in steps.chunks(BLOCK) {
        let mut out = Vec::new();
        engine.step_block(block, &mut out);
        if tx.send(out).is_err() {
            // The consumer stopped on a write error: it is reported below.
            break;
        }
        done += block.len() as u64 * symbols.len() as u64;
        progress.done(done);
    }
    drop(tx);
    progress.finish();
    let (report, outputs) = consumer
        .join()
        .map_err(|_| ToolError::Failed("the report thread failed".into()))??;
    for e in engine.errors() {
        eprintln!("aivex replay: warning: {e}");
    }
    outputs.report(&report.finish())
}

/// Checks the arguments and reads the settings.
fn plan(cfg: &Config, args: &ReplayArgs) -> Result<Plan, ToolError> {
    let from = args
        .from
        .as_deref()
        .ok_or_else(|| usage("`aivex replay` needs --from DATE"))?;
    let to = args
        .to
        .as_deref()
        .ok_or_else(|| usage("`aivex replay` needs --to DATE"))?;
    let from = super::parse_date("--from", from).map_err(usage)?;
    let to = super::parse_date("--to", to).map_err(usage)?;
    if from > to {
        return Err(usage(format!(
            "--from ({from}) is after --to ({to}): nothing to replay"
        )));
    }
    let (base, manifest) =
        builtin(cfg, "brain").unwrap_or_else(|| (Value::Null, "defaults".to_string()));
    let mut settings =
        Settings::parse(&base).map_err(|e| ToolError::Failed(format!("{manifest}: {e}")))?;
    if let Some(file) = &args.governor {
        let merged = overlay_governor(&base, file)?;
        settings = Settings::parse(&merged)
            .map_err(|e| usage(format!("--governor {}: {e}", file.display())))?;
    }
    let bar_interval_s = settings.bar_interval_s.ok_or_else(|| {
        ToolError::Failed(format!(
            "{manifest}: brain settings: bar_interval {:?} is not a duration (\"1d\", \"4h\"); replay needs one",
            settings.bar_interval
        ))
    })?;
    let step_s = match &args.step {
        None => bar_interval_s,
        Some(s) => replay::parse_duration(s).ok_or_else(|| {
            usage(format!(
                "--step {s:?} is not a duration (seconds, or a number with s, m, h, d or w)"
            ))
        })?,
    };
    let (news_window_s, news_half_life_s) = match builtin(cfg, "news") {
        Some((s, m)) => crate::modules::news::component_params(&s)
            .map_err(|e| ToolError::Failed(format!("{m}: {e}")))?,
        None => (
            crate::modules::news::DEFAULT_WINDOW_S,
            crate::modules::news::DEFAULT_HALF_LIFE_S,
        ),
    };
    let cfg = ReplayConfig {
        brain: settings.brain.clone(),
        governor: settings.governor.clone(),
        min_value_change: settings.min_value_change,
        bar_interval_s,
        news_window_s,
        news_half_life_s,
        audit: false,
        // Ids only for the `--signals` lines (cross-referencing the store's signals): the
        // hash is the largest single cost of a step.
        ids: args.signals.is_some(),
        threads: threads(),
        // Outcomes from the bars closed by the replay's end: a replay to T is the same
        // whatever the store holds after T.
        score_at: Some(to),
    };
    Ok(Plan {
        from,
        to,
        step_s,
        settings,
        cfg,
    })
}

/// Threads for loading and replaying: the machine's, at most 8 (an operator's one-shot
/// command may use the box; the governor part stays on one thread anyway).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// The `[settings]` of an enabled built-in module and its manifest's path.
fn builtin(cfg: &Config, name: &str) -> Option<(Value, String)> {
    cfg.modules
        .iter()
        .find(|m| matches!(&m.run, Run::Builtin(b) if b == name))
        .map(|m| (m.settings.clone(), m.manifest.display().to_string()))
}

/// Brain's settings with the keys of a governor file (TOML, `[settings.governor]` keys at its
/// top level) laid over `governor`: a table merges key by key, any other value replaces.
fn overlay_governor(base: &Value, file: &std::path::Path) -> Result<Value, ToolError> {
    let name = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| usage(format!("cannot read --governor {name}: {e}")))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| usage(format!("--governor {name}: {e}")))?;
    let over = serde_json::to_value(table).map_err(|e| usage(format!("--governor {name}: {e}")))?;
    let mut merged = match base {
        Value::Object(_) => base.clone(),
        _ => Value::Object(serde_json::Map::new()),
    };
    if let Value::Object(m) = &mut merged {
        let governor = m
            .entry("governor")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        merge(governor, over);
    }
    Ok(merged)
}

fn merge(into: &mut Value, over: Value) {
    match (into, over) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// `--symbols A,B,...`: each checked against the symbol alphabet, duplicates dropped.
fn parse_symbols(list: &str) -> Result<Vec<String>, ToolError> {
    let mut out: Vec<String> = Vec::new();
    for s in list.split(',').map(str::trim) {
        Symbol::parse(s).map_err(|e| usage(format!("--symbols: {e}")))?;
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn governor_overlay_merges_tables_and_replaces_values() {
        let dir = std::env::temp_dir().join(format!("aivex-replay-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("what-if.toml");
        std::fs::write(&file, "halted = true\n[max_input_age_s]\nchart = 100\n").unwrap();
        let base = json!({"symbols": ["AAPL"], "governor": {"min_confidence": 0.4,
            "max_input_age_s": {"chart": 1, "news": 2, "metrics": 3}}});
        let merged = overlay_governor(&base, &file).unwrap();
        assert_eq!(
            merged,
            json!({"symbols": ["AAPL"], "governor": {"min_confidence": 0.4, "halted": true,
                "max_input_age_s": {"chart": 100, "news": 2, "metrics": 3}}})
        );
        let merged = overlay_governor(&Value::Null, &file).unwrap();
        assert_eq!(merged["governor"]["halted"], true);
        std::fs::write(&file, "halted = \n").unwrap();
        assert!(
            matches!(overlay_governor(&base, &file), Err(ToolError::Usage(m)) if m.contains("what-if.toml"))
        );
        let missing = dir.join("nope.toml");
        assert!(
            matches!(overlay_governor(&base, &missing), Err(ToolError::Usage(m)) if m.contains("cannot read --governor"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn symbols_are_checked() {
        assert_eq!(
            parse_symbols("AAPL, BRK.B,AAPL").unwrap(),
            vec!["AAPL".to_string(), "BRK.B".to_string()]
        );
        for bad in ["AAPL,,MSFT", "A B", ""] {
            assert!(
                matches!(parse_symbols(bad), Err(ToolError::Usage(m)) if m.starts_with("--symbols")),
                "{bad}"
            );
        }
    }
}
