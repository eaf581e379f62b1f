//! aivex-store: the one store interface every module uses, over embedded SQLite (the
//! default) or MySQL/MariaDB, with embedded schema migrations and idempotent batched writes.
//!
//! It owns all SQL of aivex: nothing outside this crate builds a query. The backend is chosen
//! by the URL (`sqlite://PATH`, `mysql://` / `mariadb://`). It must not read configuration
//! files, the environment or the clock (callers pass timestamps in), and it must never put a
//! password in an error, a log line or Debug output (`redact_url` is the only way a URL leaves
//! this crate).
//!
//! Where things are: `tables/<table>.rs` holds everything about one table (row type, checks,
//! both dialects' statements side by side, its `Store` methods), so a new column touches that
//! file plus a migration per dialect (`migrations.rs`). `db.rs` is the seam the table files
//! write against; `sqlite.rs` and `mysql.rs` implement it (connection, transaction,
//! parameter binding, error mapping). This file holds the `Store` handle and its dispatch.
//!
//! MySQL/MariaDB URL parameters: `require_ssl=true` (TLS via rustls/ring, fail without it),
//! `ssl_ca=/path/ca.pem` (extra trusted CA, PEM or DER), `ssl_accept_invalid_certs=true`
//! (accept any certificate: self-signed test servers only).

#![forbid(unsafe_code)]

/// Runs `$body` with `$db` bound to the store's backend as a `db::Db` (a connection, no
/// explicit transaction). One closure per backend arm, so the generic table code is
/// monomorphised for each driver and dispatch stays static.
macro_rules! db_read {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite(b) => b.read(|$db| $body),
            $crate::Backend::Mysql(b) => b.read(|$db| $body),
        }
    };
}

/// `db_read!` inside one write transaction, committed when `$body` returns Ok. On MySQL/
/// MariaDB `$body` runs again after a deadlock, so it must start from scratch.
macro_rules! db_write {
    ($store:expr, |$db:ident| $body:expr) => {
        match &mut $store.backend {
            $crate::Backend::Sqlite(b) => b.write(|$db| $body),
            $crate::Backend::Mysql(b) => b.write(|$db| $body),
        }
    };
}

/// `db_read!` inside one read-only transaction: every statement of `$body` reads the same
/// committed state (a page and its context never torn by a writer in between).
macro_rules! db_snapshot {
    ($store:expr, |$db:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite(b) => b.snapshot(|$db| $body),
            $crate::Backend::Mysql(b) => b.snapshot(|$db| $body),
        }
    };
}

mod counts;
mod db;
mod error;
mod migrations;
mod mysql;
mod sqlite;
mod tables;
mod url;
mod workers;

pub use counts::UpsertCounts;
pub use error::{Result, StoreError};
pub use migrations::{MigrateReport, SCHEMA_VERSION};
pub use tables::backfill_progress::BackfillProgress;
pub use tables::cluster::LeaseStamp;
pub use tables::components::Component;
pub use tables::fundamentals::Fundamental;
pub use tables::governor_log::{GovernorCount, GovernorFilter, GovernorLogRecord};
pub use tables::news_articles::{Article, ArticleSentiment};
pub use tables::ohlcv::{Candle, OhlcvRow};
pub use tables::signal_feedback::{Feedback, FeedbackWrite, OutcomeFilter, OutcomeRow};
pub use tables::signals::{SignalFilter, SignalRecord};
pub use tables::signals_latest::{LatestRow, ModelChanges, SignalContext, SignalPage};
pub use url::redact_url;
pub use workers::Workers;

/// The private dialect split: `db_read!` / `db_write!` dispatch on it.
enum Backend {
    Sqlite(sqlite::Sqlite),
    Mysql(mysql::Mysql),
}

/// A handle on the store. One per module process; not shared between threads (open one per
/// thread: SQLite serialises writers with its busy timeout, MySQL has a small pool).
///
/// Its table methods live with their tables (`tables/*.rs`); this file has the rest.
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
        match &self.backend {
            Backend::Sqlite(b) => b.ping(),
            Backend::Mysql(b) => b.ping(),
        }
    }

    /// True when the connection is encrypted (always false for SQLite, a local file).
    pub fn tls_in_use(&self) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(b) => b.tls_in_use(),
            Backend::Mysql(b) => b.tls_in_use(),
        }
    }

    /// Applies pending migrations in order. Safe to run twice and from two processes at once;
    /// refuses when an applied migration's checksum differs from the embedded one.
    pub fn migrate(&mut self) -> Result<MigrateReport> {
        match &mut self.backend {
            Backend::Sqlite(b) => b.migrate(|db| migrations::run(db)),
            Backend::Mysql(b) => b.migrate(|db| migrations::run(db)),
        }
    }

    /// The applied schema version (0 for an empty database).
    pub fn schema_version(&self) -> Result<u32> {
        let applied = db_read!(self, |db| migrations::applied(db))?;
        Ok(migrations::current_version(&applied))
    }

    /// Ok when the schema is exactly what this binary needs; a Config-class error saying
    /// "run aivex migrate" when it is behind.
    pub fn check_schema(&self) -> Result<()> {
        let applied = db_read!(self, |db| migrations::applied(db))?;
        migrations::check(migrations::embedded(self.dialect()), &applied)
    }

    fn dialect(&self) -> db::Dialect {
        match self.backend {
            Backend::Sqlite(_) => db::Dialect::Sqlite,
            Backend::Mysql(_) => db::Dialect::Mysql,
        }
    }
}
