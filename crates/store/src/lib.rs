//! aivex-store: the one store interface every module uses, over embedded SQLite (the
//! default) or MySQL/MariaDB, with embedded schema migrations and idempotent batched writes.
//!
//! It owns all SQL of aivex: nothing outside this crate builds a query. The backend is chosen
//! by the URL (`sqlite://PATH`, `mysql://` / `mariadb://`); each backend lives in its own
//! private file behind `Backend`. It must not read configuration files, the environment or
//! the clock (callers pass timestamps in), and it must never put a password in an error, a
//! log line or Debug output (`redact_url` is the only way a URL leaves this crate).
//!
//! MySQL/MariaDB URL parameters: `require_ssl=true` (TLS via rustls/ring, fail without it),
//! `ssl_ca=/path/ca.pem` (extra trusted CA, PEM or DER), `ssl_accept_invalid_certs=true`
//! (accept any certificate: self-signed test servers only).

mod error;
mod migrations;
mod model;
mod mysql;
mod sql;
mod sqlite;
mod url;
mod workers;

pub use error::{Result, StoreError};
pub use migrations::SCHEMA_VERSION;
use model::BarRef;
pub use model::{
    Article, Bar, Candle, Component, Feedback, Fundamental, GovernorLogRecord, MigrateReport,
    SignalFilter, SignalRecord, UpsertCounts,
};
pub use url::redact_url;
pub use workers::Workers;

/// The private dialect split: every public method dispatches to one of these.
enum Backend {
    Sqlite(sqlite::Sqlite),
    Mysql(mysql::Mysql),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*),
            Backend::Mysql(b) => b.$method($($arg),*),
        }
    };
}

macro_rules! dispatch_mut {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &mut $self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*),
            Backend::Mysql(b) => b.$method($($arg),*),
        }
    };
}

/// A handle on the store. One per module process; not shared between threads (open one per
/// thread: SQLite serialises writers with its busy timeout, MySQL has a small pool).
pub struct Store {
    backend: Backend,
    redacted: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .field("url", &self.redacted)
            .finish()
    }
}

impl Store {
    /// Opens the store named by `url`. A relative SQLite path is taken relative to the
    /// process's working directory: callers resolve it against the data directory first.
    /// Does not migrate: call `check_schema` (modules) or `migrate` (`aivex migrate`).
    pub fn open(url: &str) -> Result<Store> {
        let backend = match url::parse(url)? {
            url::DbUrl::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(&path)?),
            url::DbUrl::Mysql(params) => Backend::Mysql(mysql::Mysql::open(params)?),
        };
        Ok(Store {
            backend,
            redacted: redact_url(url),
        })
    }

    /// "sqlite" or "mysql".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Mysql(_) => "mysql",
        }
    }

    /// The URL this store was opened with, password replaced by `***`.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// Caps the memory this handle keeps for cached database pages (and sorts) at about
    /// `kib` KiB. SQLite keeps up to 2 MiB per connection by default, which adds up in a
    /// process with several connections (Eye has one per worker); MySQL/MariaDB cache on the
    /// server, so there it does nothing.
    pub fn limit_cache(&mut self, kib: u32) -> Result<()> {
        match &mut self.backend {
            Backend::Sqlite(b) => b.limit_cache(kib),
            Backend::Mysql(_) => Ok(()),
        }
    }

    /// Round-trips a trivial query.
    pub fn ping(&self) -> Result<()> {
        dispatch!(self.ping())
    }

    /// True when the connection is encrypted (always false for SQLite, a local file).
    pub fn tls_in_use(&self) -> Result<bool> {
        dispatch!(self.tls_in_use())
    }

    /// Applies pending migrations in order. Safe to run twice and from two processes at once;
    /// refuses when an applied migration's checksum differs from the embedded one.
    pub fn migrate(&mut self) -> Result<MigrateReport> {
        dispatch_mut!(self.migrate())
    }

    /// The applied schema version (0 for an empty database).
    pub fn schema_version(&self) -> Result<u32> {
        let applied = dispatch!(self.applied_migrations())?;
        Ok(migrations::current_version(&applied))
    }

    /// Ok when the schema is exactly what this binary needs; a Config-class error saying
    /// "run aivex migrate" when it is behind.
    pub fn check_schema(&self) -> Result<()> {
        let applied = dispatch!(self.applied_migrations())?;
        migrations::check(dispatch!(self.embedded()), &applied)
    }

    /// Inserts new bars and updates changed ones in place, in one transaction (all or
    /// nothing), in multi-row chunks. When a batch holds the same key twice the last one
    /// wins and the earlier one counts as unchanged.
    pub fn upsert_bars(&mut self, bars: &[Bar]) -> Result<UpsertCounts> {
        let rows: Vec<BarRef<'_>> = bars.iter().map(BarRef::of).collect();
        self.upsert_bar_refs(&rows)
    }

    /// `upsert_bars` for bars of one series (symbol, interval, source): the same transaction
    /// and counts, without a copy of the three key strings per bar.
    pub fn upsert_series(
        &mut self,
        symbol: &str,
        interval: &str,
        source: &str,
        candles: &[Candle],
    ) -> Result<UpsertCounts> {
        let rows: Vec<BarRef<'_>> = candles
            .iter()
            .map(|c| BarRef::series(symbol, interval, source, c))
            .collect();
        self.upsert_bar_refs(&rows)
    }

    fn upsert_bar_refs(&mut self, rows: &[BarRef<'_>]) -> Result<UpsertCounts> {
        for (i, b) in rows.iter().enumerate() {
            model::validate_bar(i, b)?;
        }
        dispatch_mut!(self.upsert_bars(rows))
    }

    /// Bars of one symbol and interval at or after `since`, ascending by ts. With `limit`,
    /// the newest `limit` of them (still ascending).
    pub fn bars(
        &self,
        symbol: &str,
        interval: &str,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<Bar>> {
        dispatch!(self.bars(symbol, interval, since, limit))
    }

    /// The newest `limit` bars of one symbol and interval as numbers only, ascending by ts.
    pub fn recent_candles(
        &self,
        symbol: &str,
        interval: &str,
        limit: usize,
    ) -> Result<Vec<Candle>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut newest_first = dispatch!(self.recent_candles(symbol, interval, limit))?;
        newest_first.reverse();
        Ok(newest_first)
    }

    pub fn latest_bar_ts(&self, symbol: &str, interval: &str) -> Result<Option<i64>> {
        dispatch!(self.latest_bar_ts(symbol, interval))
    }

    /// Distinct symbols with at least one bar of `interval`, sorted.
    pub fn symbols_with_bars(&self, interval: &str) -> Result<Vec<String>> {
        dispatch!(self.symbols_with_bars(interval))
    }

    /// Inserts or updates articles (keyed by id) and their ticker index, in one transaction.
    /// `ingested_at` of an existing article is kept, so re-ingesting changes nothing.
    pub fn upsert_articles(&mut self, articles: &[Article]) -> Result<UpsertCounts> {
        for (i, a) in articles.iter().enumerate() {
            model::validate_article(i, a)?;
        }
        dispatch_mut!(self.upsert_articles(articles))
    }

    /// Articles mentioning `ticker` published (or, without a date, ingested) at or after
    /// `since`, oldest first.
    pub fn articles_for(&self, ticker: &str, since: Option<i64>) -> Result<Vec<Article>> {
        dispatch!(self.articles_for(ticker, since))
    }

    pub fn upsert_fundamentals(&mut self, rows: &[Fundamental]) -> Result<UpsertCounts> {
        for (i, f) in rows.iter().enumerate() {
            model::validate_fundamental(i, f)?;
        }
        dispatch_mut!(self.upsert_fundamentals(rows))
    }

    /// All fundamentals of a symbol, by metric, period_end, source.
    pub fn fundamentals_for(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        dispatch!(self.fundamentals_for(symbol))
    }

    pub fn upsert_components(&mut self, rows: &[Component]) -> Result<UpsertCounts> {
        for (i, c) in rows.iter().enumerate() {
            model::validate_component(i, c)?;
        }
        dispatch_mut!(self.upsert_components(rows))
    }

    /// Components of one symbol, by kind.
    pub fn components_for(&self, symbol: &str) -> Result<Vec<Component>> {
        dispatch!(self.components_for(Some(symbol)))
    }

    /// Every component, by symbol then kind.
    pub fn all_components(&self) -> Result<Vec<Component>> {
        dispatch!(self.components_for(None))
    }

    /// Writes a signal and its governor log line in one transaction. Idempotent on the
    /// signal id: returns false and writes nothing when the id already exists.
    pub fn record_decision(&mut self, s: &SignalRecord, g: &GovernorLogRecord) -> Result<bool> {
        model::validate_signal(s, g)?;
        dispatch_mut!(self.record_decision(s, g))
    }

    /// Allowed signals created at or after `since`, for one symbol or all.
    pub fn allowed_count_since(&self, symbol: Option<&str>, since: i64) -> Result<u64> {
        dispatch!(self.allowed_count_since(symbol, since))
    }

    /// created_at of the newest allowed signal of `symbol`.
    pub fn last_allowed_at(&self, symbol: &str) -> Result<Option<i64>> {
        dispatch!(self.last_allowed_at(symbol))
    }

    /// The newest signal of `symbol`, allowed or denied.
    pub fn last_signal_for(&self, symbol: &str) -> Result<Option<SignalRecord>> {
        let f = SignalFilter {
            symbol: Some(symbol.to_string()),
            limit: Some(1),
            ..Default::default()
        };
        Ok(self.signals_query(&f)?.into_iter().next())
    }

    /// Signals matching `filter`, newest first (keyset paging with `after`).
    pub fn signals_query(&self, filter: &SignalFilter) -> Result<Vec<SignalRecord>> {
        dispatch!(self.signals_query(filter))
    }

    pub fn signal(&self, id: &str) -> Result<Option<SignalRecord>> {
        dispatch!(self.signal(id))
    }

    /// The governor log lines of a signal, oldest first.
    pub fn governor_log_for(&self, signal_id: &str) -> Result<Vec<GovernorLogRecord>> {
        dispatch!(self.governor_logs(&[signal_id]))
    }

    /// The governor log lines of each of `ids`, in the order of `ids` (oldest first within
    /// one), in one query per few hundred ids: what a page of signals needs.
    pub fn governor_logs_for(&self, ids: &[&str]) -> Result<Vec<Vec<GovernorLogRecord>>> {
        let mut by_id: std::collections::HashMap<String, Vec<GovernorLogRecord>> =
            std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(sql::GOVLOG_IDS_PER_QUERY) {
            for g in dispatch!(self.governor_logs(chunk))? {
                by_id.entry(g.signal_id.clone()).or_default().push(g);
            }
        }
        Ok(ids
            .iter()
            .map(|id| by_id.remove(*id).unwrap_or_default())
            .collect())
    }

    /// Stores feedback unless feedback from the same source for the same signal exists;
    /// returns the stored row and whether this call created it. Feedback on an unknown
    /// signal is a constraint error (DataValidation).
    pub fn insert_feedback(&mut self, f: &Feedback) -> Result<(Feedback, bool)> {
        model::validate_feedback(f)?;
        dispatch_mut!(self.insert_feedback(f))
    }

    /// Feedback at or after `since` (all without it), oldest first.
    pub fn feedback_since(&self, since: Option<i64>) -> Result<Vec<Feedback>> {
        dispatch!(self.feedback_since(since))
    }
}
