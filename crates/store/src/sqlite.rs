//! The SQLite backend: one connection to a WAL-mode file shared by several module processes.
//!
//! It owns SQLite's connection settings (WAL, busy timeout, synchronous=NORMAL, foreign
//! keys), its write statements and the mapping of SQLite errors to `StoreError`. Every write
//! runs in a `BEGIN IMMEDIATE` transaction: taking the write lock up front lets the busy
//! timeout queue writers instead of failing them on a read-to-write lock upgrade. It must
//! not decide anything the MySQL backend would decide differently: validation and shared
//! query text live in `model` and `sql`.

use crate::error::{Result, StoreError};
use crate::migrations::{self, Applied, Migration};
use crate::model::{
    self, Article, Bar, BarRef, Candle, Component, Feedback, Fundamental, GovernorLogRecord,
    MigrateReport, SignalFilter, SignalRecord, UpsertCounts,
};
use crate::sql::{self, Param};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OpenFlags, ToSql, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bars per multi-row statement: 10 parameters each stays far below SQLite's 32766 limit.
const BAR_CHUNK: usize = 500;

pub(crate) struct Sqlite {
    conn: Connection,
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Param::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            C::ConstraintViolation => StoreError::Constraint(e.to_string()),
            C::TooBig | C::TypeMismatch => StoreError::InvalidValue(e.to_string()),
            C::DatabaseBusy | C::DatabaseLocked => StoreError::Unavailable(format!(
                "sqlite: still locked after the {}s busy timeout: {e}",
                BUSY_TIMEOUT.as_secs()
            )),
            _ => StoreError::Unavailable(format!("sqlite: {e}")),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::InvalidValue(format!("stored value: {e}"))
        }
        _ => StoreError::Unavailable(format!("sqlite: {e}")),
    }
}

fn bar_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bar> {
    Ok(Bar {
        symbol: r.get(0)?,
        interval: r.get(1)?,
        ts: r.get(2)?,
        open: r.get(3)?,
        high: r.get(4)?,
        low: r.get(5)?,
        close: r.get(6)?,
        adj_close: r.get(7)?,
        volume: r.get(8)?,
        source: r.get(9)?,
    })
}

fn article_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Article> {
    let tickers: String = r.get(9)?;
    Ok(Article {
        id: r.get(0)?,
        source: r.get(1)?,
        url: r.get(2)?,
        title: r.get(3)?,
        summary: r.get(4)?,
        published_at: r.get(5)?,
        ingested_at: r.get(6)?,
        sentiment: r.get(7)?,
        sentiment_method: r.get(8)?,
        tickers: model::split_tickers(&tickers),
    })
}

fn fundamental_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Fundamental> {
    Ok(Fundamental {
        symbol: r.get(0)?,
        metric: r.get(1)?,
        period_end: r.get(2)?,
        value: r.get(3)?,
        unit: r.get(4)?,
        filed: r.get(5)?,
        source: r.get(6)?,
    })
}

fn component_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Component> {
    Ok(Component {
        symbol: r.get(0)?,
        kind: r.get(1)?,
        value: r.get(2)?,
        as_of: r.get(3)?,
        computed_at: r.get(4)?,
        detail: r.get(5)?,
    })
}

fn signal_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignalRecord> {
    Ok(SignalRecord {
        id: r.get(0)?,
        symbol: r.get(1)?,
        created_at: r.get(2)?,
        direction: r.get(3)?,
        score: r.get(4)?,
        confidence: r.get(5)?,
        horizon_s: r.get(6)?,
        components_json: r.get(7)?,
        decision: r.get(8)?,
        reasons: r.get(9)?,
    })
}

fn govlog_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<GovernorLogRecord> {
    Ok(GovernorLogRecord {
        signal_id: r.get(0)?,
        symbol: r.get(1)?,
        decision: r.get(2)?,
        reason_codes: r.get(3)?,
        rules_json: r.get(4)?,
        config_hash: r.get(5)?,
        at: r.get(6)?,
    })
}

fn feedback_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feedback> {
    Ok(Feedback {
        signal_id: r.get(0)?,
        source: r.get(1)?,
        outcome: r.get(2)?,
        realized_return: r.get(3)?,
        horizon_s: r.get(4)?,
        note: r.get(5)?,
        at: r.get(6)?,
    })
}

/// Counts for a row written with "insert, else update when different".
fn count(inserted: bool, updated: bool) -> UpsertCounts {
    UpsertCounts {
        inserted: u64::from(inserted),
        updated: u64::from(!inserted && updated),
        unchanged: u64::from(!inserted && !updated),
    }
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::Unavailable(format!("sqlite: cannot open {}: {e}", path.display()))
        })?;
        // The busy timeout comes first so that switching to WAL waits for a concurrent
        // opener instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") && path != Path::new(":memory:") {
            return Err(StoreError::Unavailable(format!(
                "sqlite: {} refused WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(map_err)?;
        Ok(Sqlite { conn })
    }

    pub(crate) fn embedded(&self) -> &'static [Migration] {
        migrations::SQLITE
    }

    pub(crate) fn ping(&self) -> Result<()> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(map_err)
    }

    pub(crate) fn tls_in_use(&self) -> Result<bool> {
        Ok(false)
    }

    fn read_applied(conn: &Connection) -> Result<Vec<Applied>> {
        let exists: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let mut st = conn
            .prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .map_err(map_err)?;
        let rows = st
            .query_map([], |r| {
                Ok(Applied {
                    version: r.get(0)?,
                    checksum: r.get(1)?,
                })
            })
            .map_err(map_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_err)
    }

    pub(crate) fn applied_migrations(&self) -> Result<Vec<Applied>> {
        Self::read_applied(&self.conn)
    }

    pub(crate) fn migrate(&mut self) -> Result<MigrateReport> {
        // BEGIN IMMEDIATE serialises concurrent `aivex migrate` runs: the second one waits
        // for the first to commit, then finds nothing pending.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )",
        )
        .map_err(map_err)?;
        let applied = Self::read_applied(&tx)?;
        let pending = migrations::plan(migrations::SQLITE, &applied)?;
        let mut report = MigrateReport {
            applied: Vec::new(),
            version: migrations::current_version(&applied),
        };
        for m in pending {
            tx.execute_batch(m.sql)
                .map_err(|e| StoreError::MigrationFailed {
                    version: m.version,
                    name: m.name.to_string(),
                    detail: e.to_string(),
                })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES (?, ?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
                params![m.version, m.name, migrations::checksum(m.sql)],
            )
            .map_err(map_err)?;
            report.applied.push(m.version);
            report.version = m.version;
        }
        tx.commit().map_err(map_err)?;
        Ok(report)
    }

    pub(crate) fn upsert_bars(&mut self, bars: &[BarRef<'_>]) -> Result<UpsertCounts> {
        let (kept, superseded) = sql::dedupe_bars(bars);
        let mut counts = UpsertCounts {
            unchanged: superseded,
            ..Default::default()
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        for chunk in kept.chunks(BAR_CHUNK) {
            let mut args: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 10);
            for b in chunk {
                args.extend_from_slice(&[
                    &b.symbol as &dyn ToSql,
                    &b.interval,
                    &b.ts,
                    &b.open,
                    &b.high,
                    &b.low,
                    &b.close,
                    &b.adj_close,
                    &b.volume,
                    &b.source,
                ]);
            }
            let values = sql::placeholders(chunk.len(), 10);
            let insert = format!(
                "INSERT INTO ohlcv ({}) VALUES {values} \
                 ON CONFLICT (symbol, `interval`, ts) DO NOTHING",
                sql::BAR_COLS
            );
            let inserted = tx
                .prepare_cached(&insert)
                .and_then(|mut st| st.execute(params_from_iter(args.iter())))
                .map_err(map_err)?;
            let mut updated = 0;
            // Rows just inserted equal their input, so the update only touches rows that
            // existed before and differ; skip it when every row was new.
            if inserted < chunk.len() {
                let update = format!(
                    "UPDATE ohlcv SET open = v.column4, high = v.column5, low = v.column6, \
                     close = v.column7, adj_close = v.column8, volume = v.column9, \
                     source = v.column10 FROM (VALUES {values}) AS v \
                     WHERE ohlcv.symbol = v.column1 AND ohlcv.`interval` = v.column2 \
                     AND ohlcv.ts = v.column3 AND (ohlcv.open IS NOT v.column4 \
                     OR ohlcv.high IS NOT v.column5 OR ohlcv.low IS NOT v.column6 \
                     OR ohlcv.close IS NOT v.column7 OR ohlcv.adj_close IS NOT v.column8 \
                     OR ohlcv.volume IS NOT v.column9 OR ohlcv.source IS NOT v.column10)"
                );
                updated = tx
                    .prepare_cached(&update)
                    .and_then(|mut st| st.execute(params_from_iter(args.iter())))
                    .map_err(map_err)?;
            }
            counts.inserted += inserted as u64;
            counts.updated += updated as u64;
            counts.unchanged += chunk.len().saturating_sub(inserted + updated) as u64;
        }
        tx.commit().map_err(map_err)?;
        Ok(counts)
    }

    fn query<T>(
        &self,
        sql: &str,
        params: &[Param],
        f: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(map_err)?;
        let rows = st
            .query_map(params_from_iter(params.iter()), f)
            .map_err(map_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_err)
    }

    pub(crate) fn bars(
        &self,
        symbol: &str,
        interval: &str,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<Bar>> {
        let (q, p) = sql::bars_query(symbol, interval, since, limit);
        self.query(&q, &p, bar_from)
    }

    pub(crate) fn limit_cache(&mut self, kib: u32) -> Result<()> {
        // A negative cache_size is in KiB; a pragma takes no bound parameters.
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{}", kib.max(64)))
            .map_err(map_err)
    }

    pub(crate) fn recent_candles(
        &self,
        symbol: &str,
        interval: &str,
        limit: i64,
    ) -> Result<Vec<Candle>> {
        let (q, params) = sql::candles_query(symbol, interval, limit);
        self.query(q, &params, |r| {
            Ok(Candle {
                ts: r.get(0)?,
                open: r.get(1)?,
                high: r.get(2)?,
                low: r.get(3)?,
                close: r.get(4)?,
                adj_close: r.get(5)?,
                volume: r.get(6)?,
            })
        })
    }

    pub(crate) fn latest_bar_ts(&self, symbol: &str, interval: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MAX(ts) FROM ohlcv WHERE symbol = ? AND `interval` = ?",
                params![symbol, interval],
                |r| r.get(0),
            )
            .map_err(map_err)
    }

    pub(crate) fn symbols_with_bars(&self, interval: &str) -> Result<Vec<String>> {
        self.query(
            "SELECT DISTINCT symbol FROM ohlcv WHERE `interval` = ? ORDER BY symbol",
            &[Param::Text(interval.into())],
            |r| r.get(0),
        )
    }

    pub(crate) fn upsert_articles(&mut self, articles: &[Article]) -> Result<UpsertCounts> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let mut counts = UpsertCounts::default();
        for a in articles {
            let tickers = model::join_tickers(&a.tickers);
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO news_articles (id, source, url, title, summary, published_at, \
                     ingested_at, sentiment, sentiment_method, tickers) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        a.id,
                        a.source,
                        a.url,
                        a.title,
                        a.summary,
                        a.published_at,
                        a.ingested_at,
                        a.sentiment,
                        a.sentiment_method,
                        tickers
                    ])
                })
                .map_err(map_err)?
                == 1;
            let updated = !inserted
                && tx
                    .prepare_cached(
                        "UPDATE news_articles SET source = ?2, url = ?3, title = ?4, \
                         summary = ?5, published_at = ?6, sentiment = ?7, \
                         sentiment_method = ?8, tickers = ?9 WHERE id = ?1 AND \
                         (source IS NOT ?2 OR url IS NOT ?3 OR title IS NOT ?4 OR \
                         summary IS NOT ?5 OR published_at IS NOT ?6 OR sentiment IS NOT ?7 \
                         OR sentiment_method IS NOT ?8 OR tickers IS NOT ?9)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            a.id,
                            a.source,
                            a.url,
                            a.title,
                            a.summary,
                            a.published_at,
                            a.sentiment,
                            a.sentiment_method,
                            tickers
                        ])
                    })
                    .map_err(map_err)?
                    == 1;
            if inserted || updated {
                tx.execute("DELETE FROM news_tickers WHERE article_id = ?", [&a.id])
                    .map_err(map_err)?;
                for t in model::distinct_tickers(&a.tickers) {
                    tx.prepare_cached(
                        "INSERT INTO news_tickers (article_id, ticker) VALUES (?, ?)",
                    )
                    .and_then(|mut st| st.execute(params![a.id, t]))
                    .map_err(map_err)?;
                }
            }
            counts.add(count(inserted, updated));
        }
        tx.commit().map_err(map_err)?;
        Ok(counts)
    }

    pub(crate) fn articles_for(&self, ticker: &str, since: Option<i64>) -> Result<Vec<Article>> {
        let (q, p) = sql::articles_query(ticker, since);
        self.query(&q, &p, article_from)
    }

    pub(crate) fn upsert_fundamentals(&mut self, rows: &[Fundamental]) -> Result<UpsertCounts> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let mut counts = UpsertCounts::default();
        for f in rows {
            let args = params![
                f.symbol,
                f.metric,
                f.period_end,
                f.value,
                f.unit,
                f.filed,
                f.source
            ];
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO fundamentals (symbol, metric, period_end, value, unit, filed, source) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (symbol, metric, period_end, source) DO NOTHING",
                )
                .and_then(|mut st| st.execute(args))
                .map_err(map_err)?
                == 1;
            let updated = !inserted
                && tx
                    .prepare_cached(
                        "UPDATE fundamentals SET value = ?4, unit = ?5, filed = ?6 \
                         WHERE symbol = ?1 AND metric = ?2 AND period_end = ?3 AND source = ?7 \
                         AND (value IS NOT ?4 OR unit IS NOT ?5 OR filed IS NOT ?6)",
                    )
                    .and_then(|mut st| st.execute(args))
                    .map_err(map_err)?
                    == 1;
            counts.add(count(inserted, updated));
        }
        tx.commit().map_err(map_err)?;
        Ok(counts)
    }

    pub(crate) fn fundamentals_for(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        self.query(
            &format!(
                "SELECT {} FROM fundamentals WHERE symbol = ? ORDER BY metric, period_end, source",
                sql::FUNDAMENTAL_COLS
            ),
            &[Param::Text(symbol.into())],
            fundamental_from,
        )
    }

    pub(crate) fn upsert_components(&mut self, rows: &[Component]) -> Result<UpsertCounts> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let mut counts = UpsertCounts::default();
        for c in rows {
            let args = params![c.symbol, c.kind, c.value, c.as_of, c.computed_at, c.detail];
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO components (symbol, kind, value, as_of, computed_at, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (symbol, kind) DO NOTHING",
                )
                .and_then(|mut st| st.execute(args))
                .map_err(map_err)?
                == 1;
            let updated = !inserted
                && tx
                    .prepare_cached(
                        "UPDATE components SET value = ?3, as_of = ?4, computed_at = ?5, detail = ?6 \
                         WHERE symbol = ?1 AND kind = ?2 AND (value IS NOT ?3 OR as_of IS NOT ?4 \
                         OR computed_at IS NOT ?5 OR detail IS NOT ?6)",
                    )
                    .and_then(|mut st| st.execute(args))
                    .map_err(map_err)?
                    == 1;
            counts.add(count(inserted, updated));
        }
        tx.commit().map_err(map_err)?;
        Ok(counts)
    }

    pub(crate) fn components_for(&self, symbol: Option<&str>) -> Result<Vec<Component>> {
        match symbol {
            Some(s) => self.query(
                &format!(
                    "SELECT {} FROM components WHERE symbol = ? ORDER BY kind",
                    sql::COMPONENT_COLS
                ),
                &[Param::Text(s.into())],
                component_from,
            ),
            None => self.query(
                &format!(
                    "SELECT {} FROM components ORDER BY symbol, kind",
                    sql::COMPONENT_COLS
                ),
                &[],
                component_from,
            ),
        }
    }

    pub(crate) fn record_decision(
        &mut self,
        s: &SignalRecord,
        g: &GovernorLogRecord,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let inserted = tx
            .execute(
                &format!(
                    "INSERT INTO signals ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (id) DO NOTHING",
                    sql::SIGNAL_COLS
                ),
                params![
                    s.id,
                    s.symbol,
                    s.created_at,
                    s.direction,
                    s.score,
                    s.confidence,
                    s.horizon_s,
                    s.components_json,
                    s.decision,
                    s.reasons
                ],
            )
            .map_err(map_err)?
            == 1;
        if inserted {
            tx.execute(
                &format!(
                    "INSERT INTO governor_log ({}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    sql::GOVLOG_COLS
                ),
                params![
                    g.signal_id,
                    g.symbol,
                    g.decision,
                    g.reason_codes,
                    g.rules_json,
                    g.config_hash,
                    g.at
                ],
            )
            .map_err(map_err)?;
        }
        tx.commit().map_err(map_err)?;
        Ok(inserted)
    }

    pub(crate) fn allowed_count_since(&self, symbol: Option<&str>, since: i64) -> Result<u64> {
        let n: i64 = match symbol {
            Some(sym) => self.conn.query_row(
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND symbol = ? AND created_at >= ?",
                params![sym, since],
                |r| r.get(0),
            ),
            None => self.conn.query_row(
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND created_at >= ?",
                params![since],
                |r| r.get(0),
            ),
        }
        .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) fn last_allowed_at(&self, symbol: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MAX(created_at) FROM signals WHERE decision = 'allow' AND symbol = ?",
                params![symbol],
                |r| r.get(0),
            )
            .map_err(map_err)
    }

    pub(crate) fn signals_query(&self, f: &SignalFilter) -> Result<Vec<SignalRecord>> {
        let (q, p) = sql::signals_query(f, sql::Latest::PerSymbol);
        self.query(&q, &p, signal_from)
    }

    pub(crate) fn signal(&self, id: &str) -> Result<Option<SignalRecord>> {
        let rows = self.query(
            &format!("SELECT {} FROM signals WHERE id = ?", sql::SIGNAL_COLS),
            &[Param::Text(id.into())],
            signal_from,
        )?;
        Ok(rows.into_iter().next())
    }

    /// The log lines of `ids` (at most `sql::GOVLOG_IDS_PER_QUERY`), by signal then id.
    pub(crate) fn governor_logs(&self, ids: &[&str]) -> Result<Vec<GovernorLogRecord>> {
        let (q, params) = sql::govlog_query(ids);
        self.query(&q, &params, govlog_from)
    }

    pub(crate) fn insert_feedback(&mut self, f: &Feedback) -> Result<(Feedback, bool)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let created = tx
            .execute(
                &format!(
                    "INSERT INTO signal_feedback ({}) VALUES (?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (signal_id, source) DO NOTHING",
                    sql::FEEDBACK_COLS
                ),
                params![
                    f.signal_id,
                    f.source,
                    f.outcome,
                    f.realized_return,
                    f.horizon_s,
                    f.note,
                    f.at
                ],
            )
            .map_err(map_err)?
            == 1;
        let stored = tx
            .query_row(
                &format!(
                    "SELECT {} FROM signal_feedback WHERE signal_id = ? AND source = ?",
                    sql::FEEDBACK_COLS
                ),
                params![f.signal_id, f.source],
                feedback_from,
            )
            .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        Ok((stored, created))
    }

    pub(crate) fn feedback_since(&self, since: Option<i64>) -> Result<Vec<Feedback>> {
        self.query(
            &format!(
                "SELECT {} FROM signal_feedback WHERE at >= ? ORDER BY at, id",
                sql::FEEDBACK_COLS
            ),
            &[Param::Int(since.unwrap_or(i64::MIN))],
            feedback_from,
        )
    }
}
