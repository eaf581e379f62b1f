//! `aivex news-preview SOURCE [--config PATH]`: prints what the news module would ingest from
//! a feed file or URL, one JSON object per item (`id`, `title`, `url`, `published_at`,
//! `tickers`, `sentiment`).
//!
//! It uses the news module's own scorer (`aivex_news::Scorer`, built from the module's settings by
//! `modules::news::scorer_from_settings`) so the preview cannot drift
//! from what is stored: with a configuration that enables `news`, its symbols, aliases and
//! lexicon apply; without one, cashtags only. It never writes to the store. Bad items are
//! warnings on stderr; a document that is not a feed is an error (exit 1).

use super::ToolError;
use aivex_news::Scorer;
use std::io::Write;
use std::path::Path;

fn scorer(config: &Path) -> Result<Scorer, ToolError> {
    if !config.exists() {
        eprintln!(
            "note: no configuration at {}; tickers are cashtags only",
            config.display()
        );
        return Ok(Scorer::cashtags_only());
    }
    let getenv = |k: &str| std::env::var(k).ok();
    let loaded = crate::config::load(config, &crate::modules::REGISTRY, &getenv)
        .map_err(ToolError::Config)?;
    let cfg = loaded.config;
    match cfg.module("news") {
        Some(spec) => {
            crate::modules::news::scorer_from_settings(&spec.settings, &|p| cfg.dir.join(p))
                .map_err(|e| ToolError::Failed(format!("{}: {e}", spec.manifest.display())))
        }
        None => {
            eprintln!(
                "note: `news` is not enabled in {}; tickers are cashtags only",
                config.display()
            );
            Ok(Scorer::cashtags_only())
        }
    }
}

pub fn news_preview(source: &str, config: &Path) -> Result<(), ToolError> {
    let scorer = scorer(config)?;
    let fetched = aivex_source::fetch(
        source,
        Path::new("."),
        &aivex_source::FetchOptions::default(),
    )
    .map_err(|e| ToolError::Failed(e.to_string()))?;
    let feed = aivex_news::parse_feed(&fetched.bytes, source)
        .map_err(|e| ToolError::Failed(format!("{}: {e}", fetched.source)))?;
    for e in &feed.errors {
        eprintln!("warning: {}: {e}", fetched.source);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for item in &feed.items {
        let mut item = item.clone();
        item.id = aivex_news::article_id(&item);
        let sentiment = aivex_news::score_item(&item.title, &item.summary, &scorer.lexicon).score;
        let line = aivex_news::preview_line(&item, &scorer.tickers(&item), sentiment);
        writeln!(out, "{line}").map_err(|e| ToolError::Failed(format!("cannot write: {e}")))?;
    }
    out.flush()
        .map_err(|e| ToolError::Failed(format!("cannot write: {e}")))?;
    Ok(())
}
