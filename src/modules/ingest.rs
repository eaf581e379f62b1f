//! The shell pieces the three signal modules (chart, news, metrics) share: reading the
//! `sources` setting, the fetch bounds, fetching one source with its failure sorted into
//! "record and go on" or "report at the end of the cycle", and the one summary line per source.
//!
//! It must not parse documents or talk to the store: each module does that with its own
//! layer crate. Nothing here logs a secret: sources are shown through `aivex_source::redact`.
//!
//! Failure policy (documented in the modules README): a bad document or record is a
//! DataValidationError recorded with `ctx.invalid` and the cycle goes on; a failure of the
//! service or of the operator's setup (HTTP error, timeout, provider error body, missing file)
//! is kept and the other sources are still fetched and stored; at the end of the cycle the most
//! serious kept error is returned, so the supervisor retries (ExternalService, exit 75) or
//! asks for the operator (Config, exit 2). A store that cannot be reached ends the cycle at
//! once: the next sources could not be stored either, and the log names what was not stored.

use aivex_core::{Ctx, ModuleError};
use aivex_source::FetchOptions;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// Bad records recorded one by one per source; the rest are summed up in one more record so a
/// garbage file cannot flood the crash records.
const MAX_RECORDED: usize = 20;
/// Reasons quoted in the summary line.
const MAX_REASONS: usize = 3;
/// The store's `source` column is at most this many characters.
const SOURCE_COLUMN_CHARS: usize = 64;

/// One configured source.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// A path (relative to the config dir) or an http(s) URL, exactly as configured.
    pub location: String,
    /// The symbol the source's records belong to, when the settings name one.
    pub symbol: Option<String>,
    /// The location with secrets redacted: the only form that reaches logs and the store.
    pub name: String,
}

impl Source {
    /// The symbol of a source: the configured one, else the file stem (or last URL path
    /// segment) upper-cased, e.g. `demo/bars/aapl.csv` → `AAPL`.
    pub fn symbol_or_stem(&self) -> Option<String> {
        if let Some(s) = &self.symbol {
            return Some(s.clone());
        }
        stem_symbol(&self.location)
    }

    /// The source as stored in the `source` columns (which are bounded).
    pub fn column(&self) -> String {
        self.name.chars().take(SOURCE_COLUMN_CHARS).collect()
    }
}

/// `AAPL` from `demo/bars/AAPL.csv` or `https://host/data/aapl.json?x=1`.
pub fn stem_symbol(location: &str) -> Option<String> {
    let no_query = location.split(['?', '#']).next().unwrap_or(location);
    let last = no_query.rsplit(['/', '\\']).next().unwrap_or(no_query);
    let stem = match last.rfind('.') {
        Some(0) | None => last,
        Some(dot) => last.get(..dot).unwrap_or(last),
    };
    let sym = stem.trim().to_ascii_uppercase();
    valid_symbol(&sym).then_some(sym)
}

/// A symbol of the one alphabet every part of aivex accepts (`aivex_core::contract::Symbol`).
pub fn valid_symbol(s: &str) -> bool {
    aivex_core::contract::Symbol::is_valid(s)
}

/// The module's `[settings]` table as its `Settings` type; a mistyped or unknown key is a
/// ConfigError naming the module.
pub fn settings<T: serde::de::DeserializeOwned>(
    module: &str,
    settings: &Value,
) -> Result<T, ModuleError> {
    serde_json::from_value(settings.clone())
        .map_err(|e| ModuleError::Config(format!("{module} settings: {e}")))
}

/// Reads `sources`: each entry a string (a path or URL) or a table
/// `{ symbol = "...", url = "..." }` / `{ symbol = "...", path = "..." }`.
pub fn parse_sources(module: &str, v: Option<&Value>) -> Result<Vec<Source>, ModuleError> {
    let bad = |msg: String| ModuleError::Config(format!("{module} settings: {msg}"));
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("`sources` must be a list, got {other}"))),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let (location, symbol) = match entry {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => {
                for k in o.keys() {
                    if !["symbol", "url", "path"].contains(&k.as_str()) {
                        return Err(bad(format!(
                            "sources[{i}]: unknown key `{k}` (expected symbol, url or path)"
                        )));
                    }
                }
                let text = |k: &str| -> Result<Option<String>, ModuleError> {
                    match o.get(k) {
                        None => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(other) => Err(bad(format!(
                            "sources[{i}].{k} must be a string, got {other}"
                        ))),
                    }
                };
                let location = match (text("url")?, text("path")?) {
                    (Some(u), None) => u,
                    (None, Some(p)) => p,
                    (Some(_), Some(_)) => {
                        return Err(bad(format!("sources[{i}]: give `url` or `path`, not both")))
                    }
                    (None, None) => {
                        return Err(bad(format!("sources[{i}]: needs `url` or `path`")))
                    }
                };
                let symbol = text("symbol")?.map(|s| s.trim().to_ascii_uppercase());
                if let Some(s) = &symbol {
                    if !valid_symbol(s) {
                        return Err(bad(format!(
                            "sources[{i}].symbol {s:?} is not a usable symbol"
                        )));
                    }
                }
                (location, symbol)
            }
            other => {
                return Err(bad(format!(
                    "sources[{i}] must be a string or a table, got {other}"
                )))
            }
        };
        if location.trim().is_empty() {
            return Err(bad(format!("sources[{i}] is empty")));
        }
        let name = aivex_source::redact(&location);
        out.push(Source {
            location,
            symbol,
            name,
        });
    }
    Ok(out)
}

/// The fetch bounds from the shared settings `user_agent`, `timeout_s`, `max_bytes`, and the
/// redirect opt-in `allow_private_redirects` (default false: a public source may not redirect
/// to a loopback or private address; see aivex_source::redirect).
pub fn fetch_options(
    module: &str,
    user_agent: Option<&str>,
    timeout_s: Option<f64>,
    max_bytes: Option<u64>,
    allow_private_redirects: Option<bool>,
) -> Result<FetchOptions, ModuleError> {
    let mut opts = FetchOptions {
        allow_private_redirects: allow_private_redirects.unwrap_or(false),
        ..FetchOptions::default()
    };
    if let Some(ua) = user_agent {
        if ua.trim().is_empty() || ua.chars().any(char::is_control) {
            return Err(ModuleError::Config(format!(
                "{module} settings: user_agent must be non-empty printable text"
            )));
        }
        opts.user_agent = ua.to_string();
    }
    if let Some(t) = timeout_s {
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            return Err(ModuleError::Config(format!(
                "{module} settings: timeout_s must be a number of seconds in (0, 3600], got {t}"
            )));
        }
        // One budget for connecting, one for reading: a slow source costs at most ~2×.
        opts.connect_timeout = Duration::from_secs_f64(t);
        opts.read_timeout = Duration::from_secs_f64(t);
    }
    if let Some(m) = max_bytes {
        if m == 0 {
            return Err(ModuleError::Config(format!(
                "{module} settings: max_bytes must be > 0"
            )));
        }
        opts.max_bytes = m;
    }
    Ok(opts)
}

/// Errors a cycle keeps until its sources are done; the most serious one ends the cycle.
#[derive(Debug, Default)]
pub struct Deferred {
    worst: Option<ModuleError>,
}

fn severity(e: &ModuleError) -> u8 {
    match e {
        ModuleError::Config(_) => 4,
        ModuleError::Fatal(_) => 3,
        ModuleError::Recoverable(_) => 2,
        ModuleError::ExternalService(_) => 1,
        ModuleError::DataValidation(_) => 0,
    }
}

impl Deferred {
    /// Keeps `e` when it is more serious than what is kept (the first one wins among equals).
    pub fn keep(&mut self, e: ModuleError) {
        let replace = match &self.worst {
            None => true,
            Some(w) => severity(&e) > severity(w),
        };
        if replace {
            self.worst = Some(e);
        }
    }

    /// Ok, or the most serious kept error.
    pub fn finish(self) -> Result<(), ModuleError> {
        match self.worst {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Sorts a failure: bad data is recorded now (and the summary says why); everything else is
/// kept for the end of the cycle.
pub fn route(ctx: &mut Ctx<'_>, deferred: &mut Deferred, summary: &mut Summary, err: ModuleError) {
    summary.fail(err.message());
    match err {
        ModuleError::DataValidation(_) => ctx.invalid(err),
        other => {
            log::warn!("{other}");
            deferred.keep(other)
        }
    }
}

/// Fetches a source; a failure is routed and `None` returned.
pub fn fetch(
    ctx: &mut Ctx<'_>,
    deferred: &mut Deferred,
    summary: &mut Summary,
    source: &Source,
    opts: &FetchOptions,
) -> Option<Vec<u8>> {
    match aivex_source::fetch(&source.location, &ctx.env.config_dir, opts) {
        Ok(f) => {
            summary.bytes = f.bytes.len();
            Some(f.bytes)
        }
        Err(e) => {
            route(ctx, deferred, summary, ModuleError::from(e));
            None
        }
    }
}

/// Records a source's bad records (the first `MAX_RECORDED` one by one, then one record
/// counting the rest, including the `omitted` ones the parser counted but did not list) and
/// notes them in the summary.
pub fn record_bad(
    ctx: &mut Ctx<'_>,
    summary: &mut Summary,
    source: &str,
    bad: Vec<String>,
    omitted: usize,
) {
    let total = bad.len() + omitted;
    for (i, msg) in bad.into_iter().enumerate() {
        summary.skip(&msg);
        if i < MAX_RECORDED {
            ctx.invalid(ModuleError::DataValidation(msg));
        }
    }
    summary.skipped += omitted;
    if total > MAX_RECORDED {
        ctx.invalid(ModuleError::DataValidation(format!(
            "{source}: {} more bad record(s) not recorded one by one",
            total - MAX_RECORDED
        )));
    }
}

/// What one source did in one cycle: the one summary line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub source: String,
    pub bytes: usize,
    pub parsed: usize,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: usize,
    pub reasons: Vec<String>,
    pub failed: Option<String>,
}

impl Summary {
    pub fn new(source: &str) -> Summary {
        Summary {
            source: source.to_string(),
            ..Default::default()
        }
    }

    pub fn skip(&mut self, reason: &str) {
        self.skipped += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason.to_string());
        }
    }

    pub fn fail(&mut self, reason: &str) {
        self.failed = Some(reason.to_string());
    }

    pub fn add(&mut self, c: aivex_store::UpsertCounts) {
        self.new += c.inserted;
        self.updated += c.updated;
        self.unchanged += c.unchanged;
    }

    /// `source X: fetched 123 bytes, parsed 10, new 2, updated 0, unchanged 8, skipped 1
    /// (line 5: ...)`, or `... FAILED: why` when the source produced nothing.
    pub fn line(&self, module: &str) -> String {
        let mut s = format!(
            "{module}: source {}: fetched {} bytes, parsed {}, new {}, updated {}, unchanged {}, skipped {}",
            self.source, self.bytes, self.parsed, self.new, self.updated, self.unchanged, self.skipped
        );
        if !self.reasons.is_empty() {
            let _ = write!(
                s,
                " ({}{})",
                self.reasons.join("; "),
                if self.skipped > self.reasons.len() {
                    "; ..."
                } else {
                    ""
                }
            );
        }
        if let Some(f) = &self.failed {
            let _ = write!(s, "; failed: {f}");
        }
        s
    }
}

/// Turns a store failure into what the cycle does with it: bad data rejected by the store is
/// recorded and the cycle goes on (`Ok`); anything else ends the cycle (`Err`), after logging
/// what was not stored so nothing is lost silently.
pub fn store_failure(
    ctx: &mut Ctx<'_>,
    summary: &mut Summary,
    module: &str,
    what_was_lost: &str,
    e: aivex_store::StoreError,
) -> Result<(), ModuleError> {
    let err = ModuleError::from(e).context(format!("{}: storing {what_was_lost}", summary.source));
    match err {
        ModuleError::DataValidation(_) => {
            summary.skip(err.message());
            ctx.invalid(err);
            Ok(())
        }
        other => {
            summary.fail(other.message());
            log::error!(
                "{module}: NOT STORED: {what_was_lost} from {} ({})",
                summary.source,
                other.message()
            );
            log::info!("{}", summary.line(module));
            Err(other)
        }
    }
}

/// Opens the module's store and checks its schema (behind → ConfigError "run aivex migrate").
pub fn open_store(module: &str, url: &str) -> Result<aivex_store::Store, ModuleError> {
    let store = aivex_store::Store::open(url).map_err(|e| {
        ModuleError::from(e).context(format!("{module}: store {}", aivex_store::redact_url(url)))
    })?;
    store.check_schema().map_err(|e| {
        ModuleError::from(e).context(format!("{module}: store {}", store.redacted_url()))
    })?;
    Ok(store)
}

/// The symbols that already have a component of `kind` (so a module knows which ones it must
/// compute even when no new input arrived).
pub fn symbols_with_component(
    store: &aivex_store::Store,
    kind: &str,
) -> Result<std::collections::HashSet<String>, ModuleError> {
    Ok(store
        .all_components()?
        .into_iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.symbol)
        .collect())
}

/// The one log line a cycle writes about the components it stored.
pub fn log_components(module: &str, computed: usize, c: &aivex_store::UpsertCounts) {
    log::info!(
        "{module}: {module} components: {computed} computed ({} new, {} updated, {} unchanged)",
        c.inserted,
        c.updated,
        c.unchanged
    );
}

/// Unix seconds now: the clock is read here, in the shell, and passed to the pure code.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stem_symbols() {
        let table = [
            ("demo/bars/AAPL.csv", Some("AAPL")),
            ("demo/bars/aapl.csv", Some("AAPL")),
            ("/abs/BTCUSDT.json", Some("BTCUSDT")),
            ("https://h/x/spy.csv?key=1#f", Some("SPY")),
            ("BRK.B.csv", Some("BRK.B")),
            ("https://h/", None),
            ("dir/we ird.csv", None),
        ];
        for (loc, want) in table {
            assert_eq!(stem_symbol(loc).as_deref(), want, "{loc}");
        }
    }

    #[test]
    fn sources_both_forms_and_errors() {
        let v = json!(["demo/bars/AAPL.csv", {"symbol": "msft", "path": "m.csv"}, {"symbol": "X", "url": "https://u:p@h/x?apikey=S"}]);
        let s = parse_sources("chart", Some(&v)).unwrap_or_default();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].symbol_or_stem().as_deref(), Some("AAPL"));
        assert_eq!(s[1].symbol.as_deref(), Some("MSFT"));
        assert!(
            !s[2].name.contains(":p@") && s[2].name.contains("apikey=***"),
            "{}",
            s[2].name
        );
        let bad = [
            json!("x"),
            json!([1]),
            json!([{"symbol": "A"}]),
            json!([{"url": "a", "path": "b"}]),
            json!([{"path": "a", "sym": "b"}]),
            json!([{"path": "a", "symbol": "bad symbol"}]),
            json!([""]),
        ];
        for b in bad {
            let e = parse_sources("chart", Some(&b));
            assert!(matches!(e, Err(ModuleError::Config(_))), "{b}: {e:?}");
        }
    }

    #[test]
    fn fetch_option_bounds() {
        assert!(fetch_options("m", None, None, None, None).is_ok());
        assert!(fetch_options("m", None, None, None, Some(true))
            .is_ok_and(|o| o.allow_private_redirects));
        assert!(
            fetch_options("m", None, None, None, None).is_ok_and(|o| !o.allow_private_redirects)
        );
        let o = fetch_options("m", Some("bot/1"), Some(2.5), Some(10), None).unwrap_or_default();
        assert_eq!(
            (o.user_agent.as_str(), o.read_timeout, o.max_bytes),
            ("bot/1", Duration::from_millis(2500), 10)
        );
        for (ua, t, m) in [
            (Some(""), None, None),
            (None, Some(0.0), None),
            (None, Some(f64::NAN), None),
            (None, None, Some(0)),
        ] {
            assert!(
                fetch_options("m", ua, t, m, None).is_err(),
                "{ua:?} {t:?} {m:?}"
            );
        }
    }

    #[test]
    fn deferred_keeps_the_most_serious() {
        let table: [(&[ModuleError], Option<&str>); 4] = [
            (&[], None),
            (
                &[
                    ModuleError::ExternalService("a".into()),
                    ModuleError::ExternalService("b".into()),
                ],
                Some("a"),
            ),
            (
                &[
                    ModuleError::ExternalService("a".into()),
                    ModuleError::Config("c".into()),
                ],
                Some("c"),
            ),
            (
                &[
                    ModuleError::Config("c".into()),
                    ModuleError::Recoverable("r".into()),
                ],
                Some("c"),
            ),
        ];
        for (errs, want) in table {
            let mut d = Deferred::default();
            for e in errs {
                d.keep(e.clone());
            }
            assert_eq!(
                d.finish().err().map(|e| e.message().to_string()).as_deref(),
                want
            );
        }
    }

    #[test]
    fn summary_line_names_counts_and_reasons() {
        let mut s = Summary::new("a.csv");
        s.bytes = 10;
        s.parsed = 3;
        s.add(aivex_store::UpsertCounts {
            inserted: 1,
            updated: 1,
            unchanged: 1,
        });
        for r in ["r1", "r2", "r3", "r4"] {
            s.skip(r);
        }
        let l = s.line("chart");
        assert_eq!(l, "chart: source a.csv: fetched 10 bytes, parsed 3, new 1, updated 1, unchanged 1, skipped 4 (r1; r2; r3; ...)");
    }
}
