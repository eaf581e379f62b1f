//! The MySQL/MariaDB backend: a small explicit connection pool over TCP, optionally TLS.
//!
//! It owns connection options (pool 1..4, timeouts, rustls/ring TLS), the MySQL write
//! statements (`ON DUPLICATE KEY UPDATE col = VALUES(col)`, which MySQL 8 and MariaDB both
//! accept), the migration lock (`GET_LOCK`, because MySQL DDL is not transactional) and the
//! mapping of driver errors to `StoreError`. Every driver message passes through `scrub` so
//! the password can never leak. It must not decide anything the SQLite backend would decide
//! differently: validation and shared query text live in `model` and `sql`.

use crate::error::{scrub, Result, StoreError};
use crate::migrations::{self, Applied, Migration};
use crate::model::{
    self, Article, Bar, BarRef, Candle, Component, Feedback, Fundamental, GovernorLogRecord,
    MigrateReport, SignalFilter, SignalRecord, UpsertCounts,
};
use crate::sql::{self, Param};
use crate::url::MysqlParams;
use mysql::prelude::{FromRow, Queryable};
use mysql::{
    from_row_opt, IsolationLevel, OptsBuilder, Pool, PoolConstraints, PoolOpts, PooledConn, Row,
    SslOpts, Transaction, TxOpts, Value,
};
use std::time::Duration;

/// Rows per multi-row INSERT: 10 parameters each, well under the 65535 placeholder limit,
/// and about 100 kB per round trip.
const BAR_CHUNK: usize = 1000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the 60 s migration lock wait, so a waiting `aivex migrate` is not cut off.
const READ_TIMEOUT: Duration = Duration::from_secs(90);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const POOL_WAIT: Duration = Duration::from_secs(30);
const MIGRATE_LOCK_WAIT_S: i64 = 60;

pub(crate) struct Mysql {
    pool: Pool,
    /// Kept only to scrub driver messages; never formatted.
    password: String,
    tls: bool,
}

fn value(p: &Param) -> Value {
    match p {
        Param::Int(i) => Value::Int(*i),
        Param::Real(f) => Value::Double(*f),
        Param::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
    }
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::NULL, Value::Double)
}

fn opt_i64(v: Option<i64>) -> Value {
    v.map_or(Value::NULL, Value::Int)
}

/// ER_LOCK_DEADLOCK: InnoDB rolled the transaction back.
const DEADLOCK: u16 = 1213;

/// What a transaction body can fail with: a driver error (maybe a retryable deadlock) or a
/// store error already decided.
enum TxError {
    Db(mysql::Error),
    Store(StoreError),
}

impl From<mysql::Error> for TxError {
    fn from(e: mysql::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// Server error codes that mean the caller's data was refused.
const CONSTRAINT_CODES: [u16; 12] = [
    1048, // column cannot be null
    1062, // duplicate entry
    1264, // out of range
    1265, // data truncated
    1292, // incorrect value
    1366, // incorrect value for column
    1406, // data too long
    1451, // foreign key (parent row)
    1452, // foreign key (child row)
    3819, // check constraint (MySQL)
    4025, // check constraint (MariaDB)
    1216, // foreign key (child row, old servers)
];
/// Server error codes that mean the credentials or database name are wrong: an operator
/// must fix the URL, a retry will not help.
const CONFIG_CODES: [u16; 3] = [1044, 1045, 1049];

impl Mysql {
    pub(crate) fn open(p: MysqlParams) -> Result<Mysql> {
        let constraints = PoolConstraints::new(1, 4)
            .ok_or_else(|| StoreError::BadUrl("pool constraints 1..4 rejected".into()))?;
        let pool_opts = PoolOpts::default()
            .with_constraints(constraints)
            // Resetting on every return would drop the prepared-statement cache each time.
            .with_reset_connection(false);
        let ssl = p.tls.require.then(|| {
            SslOpts::default()
                .with_root_cert_path(p.tls.ca_path.clone())
                .with_danger_accept_invalid_certs(p.tls.accept_invalid_certs)
        });
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(p.host.clone()))
            .tcp_port(p.port)
            .user(Some(p.user.clone()))
            .pass(Some(p.password.clone()))
            .db_name(Some(p.database.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(READ_TIMEOUT))
            .write_timeout(Some(WRITE_TIMEOUT))
            .ssl_opts(ssl)
            .pool_opts(pool_opts);
        let password = p.password.clone();
        let pool = Pool::new(opts).map_err(|e| map_err(e, &password))?;
        Ok(Mysql {
            pool,
            password,
            tls: p.tls.require,
        })
    }

    fn err(&self, e: mysql::Error) -> StoreError {
        map_err(e, &self.password)
    }

    fn conn(&self) -> Result<PooledConn> {
        self.pool.try_get_conn(POOL_WAIT).map_err(|e| self.err(e))
    }

    fn rows<T: FromRow>(
        &self,
        conn: &mut impl Queryable,
        q: &str,
        params: Vec<Value>,
    ) -> Result<Vec<T>> {
        let rows: Vec<Row> = conn.exec(q, params).map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|r| {
                from_row_opt::<T>(r).map_err(|e| {
                    StoreError::InvalidValue(format!("stored row does not decode: {e}"))
                })
            })
            .collect()
    }

    fn query<T: FromRow>(&self, q: &str, params: &[Param]) -> Result<Vec<T>> {
        let mut conn = self.conn()?;
        self.rows(&mut conn, q, params.iter().map(value).collect())
    }

    pub(crate) fn embedded(&self) -> &'static [Migration] {
        migrations::MYSQL
    }

    pub(crate) fn ping(&self) -> Result<()> {
        let _: Vec<i64> = self.query("SELECT 1", &[])?;
        Ok(())
    }

    pub(crate) fn tls_in_use(&self) -> Result<bool> {
        let rows: Vec<(String, String)> =
            self.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])?;
        let on = rows.first().is_some_and(|(_, cipher)| !cipher.is_empty());
        Ok(on && self.tls)
    }

    fn read_applied(&self, conn: &mut PooledConn) -> Result<Vec<Applied>> {
        let exists: Vec<i64> = self.rows(
            conn,
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'",
            vec![],
        )?;
        if exists.first().copied().unwrap_or(0) == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(u32, String)> = self.rows(
            conn,
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            vec![],
        )?;
        Ok(rows
            .into_iter()
            .map(|(version, checksum)| Applied { version, checksum })
            .collect())
    }

    pub(crate) fn applied_migrations(&self) -> Result<Vec<Applied>> {
        let mut conn = self.conn()?;
        self.read_applied(&mut conn)
    }

    pub(crate) fn migrate(&mut self) -> Result<MigrateReport> {
        let mut conn = self.conn()?;
        let got: Vec<Option<i64>> = self.rows(
            &mut conn,
            "SELECT GET_LOCK('aivex_migrate', ?)",
            vec![Value::Int(MIGRATE_LOCK_WAIT_S)],
        )?;
        if got.first().copied().flatten() != Some(1) {
            return Err(StoreError::Unavailable(format!(
                "another aivex migrate held the migration lock for {MIGRATE_LOCK_WAIT_S}s"
            )));
        }
        let result = self.migrate_locked(&mut conn);
        // Released even after a failure; if the connection itself died the server has
        // already released the lock with it.
        let _ = conn.query_drop("SELECT RELEASE_LOCK('aivex_migrate')");
        result
    }

    fn migrate_locked(&self, conn: &mut PooledConn) -> Result<MigrateReport> {
        conn.query_drop(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                name VARCHAR(255) NOT NULL,
                checksum CHAR(64) NOT NULL,
                applied_at BIGINT NOT NULL
            ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
        )
        .map_err(|e| self.err(e))?;
        let applied = self.read_applied(conn)?;
        let pending = migrations::plan(migrations::MYSQL, &applied)?;
        let mut report = MigrateReport {
            applied: Vec::new(),
            version: migrations::current_version(&applied),
        };
        for m in pending {
            for stmt in migrations::statements(m.sql) {
                conn.query_drop(&stmt)
                    .map_err(|e| StoreError::MigrationFailed {
                        version: m.version,
                        name: m.name.to_string(),
                        detail: scrub(e.to_string(), &self.password),
                    })?;
            }
            conn.exec_drop(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES (?, ?, ?, UNIX_TIMESTAMP())",
                vec![
                    Value::UInt(u64::from(m.version)),
                    text(m.name),
                    text(&migrations::checksum(m.sql)),
                ],
            )
            .map_err(|e| self.err(e))?;
            report.applied.push(m.version);
            report.version = m.version;
        }
        Ok(report)
    }

    /// Runs `body` in one transaction on a pooled connection and commits. InnoDB answers a
    /// deadlock by rolling back the whole transaction, so running it again is safe: up to
    /// three attempts before the deadlock is reported as Unavailable.
    fn write<T>(
        &self,
        mut body: impl FnMut(&mut Transaction<'_>) -> std::result::Result<T, TxError>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.conn()?;
            let outcome = conn
                .start_transaction(Self::tx_opts())
                .map_err(TxError::Db)
                .and_then(|mut tx| {
                    let value = body(&mut tx)?;
                    tx.commit()?;
                    Ok(value)
                });
            match outcome {
                Ok(v) => return Ok(v),
                Err(TxError::Db(mysql::Error::MySqlError(e)))
                    if e.code == DEADLOCK && attempt < 3 =>
                {
                    log::warn!("mysql: deadlock, retrying the transaction (attempt {attempt})");
                }
                Err(TxError::Db(e)) => return Err(self.err(e)),
                Err(TxError::Store(e)) => return Err(e),
            }
        }
    }

    fn tx_opts() -> TxOpts {
        TxOpts::default().set_isolation_level(Some(IsolationLevel::ReadCommitted))
    }

    pub(crate) fn upsert_bars(&mut self, bars: &[BarRef<'_>]) -> Result<UpsertCounts> {
        let (kept, superseded) = sql::dedupe_bars(bars);
        self.write(|tx| {
            // Inside the closure: a retried transaction counts from scratch.
            let mut counts = UpsertCounts {
                unchanged: superseded,
                ..Default::default()
            };
            for chunk in kept.chunks(BAR_CHUNK) {
                let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 10);
                for b in chunk {
                    args.extend([
                        text(b.symbol),
                        text(b.interval),
                        Value::Int(b.ts),
                        Value::Double(b.open),
                        Value::Double(b.high),
                        Value::Double(b.low),
                        Value::Double(b.close),
                        opt_f64(b.adj_close),
                        Value::Double(b.volume),
                        text(b.source),
                    ]);
                }
                let q = format!(
                    "INSERT INTO ohlcv ({}) VALUES {} ON DUPLICATE KEY UPDATE \
                     open = VALUES(open), high = VALUES(high), low = VALUES(low), \
                     close = VALUES(close), adj_close = VALUES(adj_close), \
                     volume = VALUES(volume), source = VALUES(source)",
                    sql::BAR_COLS,
                    sql::placeholders(chunk.len(), 10)
                );
                tx.exec_drop(&q, args)?;
                let c = split_counts(chunk.len() as u64, tx.affected_rows(), &tx.info_str())?;
                counts.add(c);
            }
            Ok(counts)
        })
    }

    pub(crate) fn bars(
        &self,
        symbol: &str,
        interval: &str,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<Bar>> {
        let (q, p) = sql::bars_query(symbol, interval, since, limit);
        type R = (
            String,
            String,
            i64,
            f64,
            f64,
            f64,
            f64,
            Option<f64>,
            f64,
            String,
        );
        let rows: Vec<R> = self.query(&q, &p)?;
        Ok(rows
            .into_iter()
            .map(
                |(symbol, interval, ts, open, high, low, close, adj_close, volume, source)| Bar {
                    symbol,
                    interval,
                    ts,
                    open,
                    high,
                    low,
                    close,
                    adj_close,
                    volume,
                    source,
                },
            )
            .collect())
    }

    pub(crate) fn recent_candles(
        &self,
        symbol: &str,
        interval: &str,
        limit: i64,
    ) -> Result<Vec<Candle>> {
        let (q, params) = sql::candles_query(symbol, interval, limit);
        type R = (i64, f64, f64, f64, f64, Option<f64>, f64);
        let rows: Vec<R> = self.query(q, &params)?;
        Ok(rows
            .into_iter()
            .map(|(ts, open, high, low, close, adj_close, volume)| Candle {
                ts,
                open,
                high,
                low,
                close,
                adj_close,
                volume,
            })
            .collect())
    }

    pub(crate) fn latest_bar_ts(&self, symbol: &str, interval: &str) -> Result<Option<i64>> {
        let rows: Vec<Option<i64>> = self.query(
            "SELECT MAX(ts) FROM ohlcv WHERE symbol = ? AND `interval` = ?",
            &[Param::Text(symbol.into()), Param::Text(interval.into())],
        )?;
        Ok(rows.into_iter().next().flatten())
    }

    pub(crate) fn symbols_with_bars(&self, interval: &str) -> Result<Vec<String>> {
        self.query(
            "SELECT DISTINCT symbol FROM ohlcv WHERE `interval` = ? ORDER BY symbol",
            &[Param::Text(interval.into())],
        )
    }

    pub(crate) fn upsert_articles(&mut self, articles: &[Article]) -> Result<UpsertCounts> {
        self.write(|tx| {
            let mut counts = UpsertCounts::default();
            for a in articles {
                // ingested_at is only written on insert: the first ingest time is kept.
                tx.exec_drop(
                    "INSERT INTO news_articles (id, source, url, title, summary, published_at, \
                     ingested_at, sentiment, sentiment_method, tickers) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                     source = VALUES(source), url = VALUES(url), title = VALUES(title), \
                     summary = VALUES(summary), published_at = VALUES(published_at), \
                     sentiment = VALUES(sentiment), sentiment_method = VALUES(sentiment_method), \
                     tickers = VALUES(tickers)",
                    vec![
                        text(&a.id),
                        text(&a.source),
                        text(&a.url),
                        text(&a.title),
                        text(&a.summary),
                        opt_i64(a.published_at),
                        Value::Int(a.ingested_at),
                        Value::Double(a.sentiment),
                        text(&a.sentiment_method),
                        text(&model::join_tickers(&a.tickers)),
                    ],
                )?;
                let c = row_counts(tx.affected_rows());
                if c.unchanged == 0 {
                    tx.exec_drop(
                        "DELETE FROM news_tickers WHERE article_id = ?",
                        vec![text(&a.id)],
                    )?;
                    let tickers = model::distinct_tickers(&a.tickers);
                    if !tickers.is_empty() {
                        let q = format!(
                            "INSERT INTO news_tickers (article_id, ticker) VALUES {}",
                            sql::placeholders(tickers.len(), 2)
                        );
                        let args: Vec<Value> = tickers
                            .iter()
                            .flat_map(|t| [text(&a.id), text(t)])
                            .collect();
                        tx.exec_drop(&q, args)?;
                    }
                }
                counts.add(c);
            }
            Ok(counts)
        })
    }

    pub(crate) fn articles_for(&self, ticker: &str, since: Option<i64>) -> Result<Vec<Article>> {
        let (q, p) = sql::articles_query(ticker, since);
        type R = (
            String,
            String,
            String,
            String,
            String,
            Option<i64>,
            i64,
            f64,
            String,
            String,
        );
        let rows: Vec<R> = self.query(&q, &p)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    source,
                    url,
                    title,
                    summary,
                    published_at,
                    ingested_at,
                    sentiment,
                    sentiment_method,
                    tickers,
                )| Article {
                    id,
                    source,
                    url,
                    title,
                    summary,
                    published_at,
                    ingested_at,
                    sentiment,
                    sentiment_method,
                    tickers: model::split_tickers(&tickers),
                },
            )
            .collect())
    }

    pub(crate) fn upsert_fundamentals(&mut self, rows: &[Fundamental]) -> Result<UpsertCounts> {
        self.write(|tx| {
            let mut counts = UpsertCounts::default();
            for f in rows {
                tx.exec_drop(
                    "INSERT INTO fundamentals (symbol, metric, period_end, value, unit, filed, source) \
                     VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value), \
                     unit = VALUES(unit), filed = VALUES(filed)",
                    vec![
                        text(&f.symbol),
                        text(&f.metric),
                        text(&f.period_end),
                        Value::Double(f.value),
                        text(&f.unit),
                        text(&f.filed),
                        text(&f.source),
                    ],
                )
                ?;
                counts.add(row_counts(tx.affected_rows()));
            }
            Ok(counts)
        })
    }

    pub(crate) fn fundamentals_for(&self, symbol: &str) -> Result<Vec<Fundamental>> {
        type R = (String, String, String, f64, String, String, String);
        let rows: Vec<R> = self.query(
            &format!(
                "SELECT {} FROM fundamentals WHERE symbol = ? ORDER BY metric, period_end, source",
                sql::FUNDAMENTAL_COLS
            ),
            &[Param::Text(symbol.into())],
        )?;
        Ok(rows
            .into_iter()
            .map(
                |(symbol, metric, period_end, value, unit, filed, source)| Fundamental {
                    symbol,
                    metric,
                    period_end,
                    value,
                    unit,
                    filed,
                    source,
                },
            )
            .collect())
    }

    pub(crate) fn upsert_components(&mut self, rows: &[Component]) -> Result<UpsertCounts> {
        self.write(|tx| {
            let mut counts = UpsertCounts::default();
            for c in rows {
                tx.exec_drop(
                    "INSERT INTO components (symbol, kind, value, as_of, computed_at, detail) \
                     VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value), \
                     as_of = VALUES(as_of), computed_at = VALUES(computed_at), detail = VALUES(detail)",
                    vec![
                        text(&c.symbol),
                        text(&c.kind),
                        Value::Double(c.value),
                        Value::Int(c.as_of),
                        Value::Int(c.computed_at),
                        text(&c.detail),
                    ],
                )
                ?;
                counts.add(row_counts(tx.affected_rows()));
            }
            Ok(counts)
        })
    }

    pub(crate) fn components_for(&self, symbol: Option<&str>) -> Result<Vec<Component>> {
        type R = (String, String, f64, i64, i64, String);
        let rows: Vec<R> = match symbol {
            Some(s) => self.query(
                &format!(
                    "SELECT {} FROM components WHERE symbol = ? ORDER BY kind",
                    sql::COMPONENT_COLS
                ),
                &[Param::Text(s.into())],
            )?,
            None => self.query(
                &format!(
                    "SELECT {} FROM components ORDER BY symbol, kind",
                    sql::COMPONENT_COLS
                ),
                &[],
            )?,
        };
        Ok(rows
            .into_iter()
            .map(
                |(symbol, kind, value, as_of, computed_at, detail)| Component {
                    symbol,
                    kind,
                    value,
                    as_of,
                    computed_at,
                    detail,
                },
            )
            .collect())
    }

    pub(crate) fn record_decision(
        &mut self,
        s: &SignalRecord,
        g: &GovernorLogRecord,
    ) -> Result<bool> {
        self.write(|tx| {
            // `id = id` makes a repeat a no-op with 0 affected rows instead of an error.
            tx.exec_drop(
                format!(
                    "INSERT INTO signals ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE id = id",
                    sql::SIGNAL_COLS
                ),
                vec![
                    text(&s.id),
                    text(&s.symbol),
                    Value::Int(s.created_at),
                    Value::Int(i64::from(s.direction)),
                    Value::Double(s.score),
                    Value::Double(s.confidence),
                    Value::Int(s.horizon_s),
                    text(&s.components_json),
                    text(&s.decision),
                    text(&s.reasons),
                ],
            )?;
            let inserted = tx.affected_rows() == 1;
            if inserted {
                tx.exec_drop(
                    format!(
                        "INSERT INTO governor_log ({}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        sql::GOVLOG_COLS
                    ),
                    vec![
                        text(&g.signal_id),
                        text(&g.symbol),
                        text(&g.decision),
                        text(&g.reason_codes),
                        text(&g.rules_json),
                        text(&g.config_hash),
                        Value::Int(g.at),
                    ],
                )?;
            }
            Ok(inserted)
        })
    }

    pub(crate) fn allowed_count_since(&self, symbol: Option<&str>, since: i64) -> Result<u64> {
        let rows: Vec<i64> = match symbol {
            Some(sym) => self.query(
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND symbol = ? AND created_at >= ?",
                &[Param::Text(sym.into()), Param::Int(since)],
            )?,
            None => self.query(
                "SELECT COUNT(*) FROM signals WHERE decision = 'allow' AND created_at >= ?",
                &[Param::Int(since)],
            )?,
        };
        Ok(rows
            .first()
            .copied()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0))
    }

    pub(crate) fn last_allowed_at(&self, symbol: &str) -> Result<Option<i64>> {
        let rows: Vec<Option<i64>> = self.query(
            "SELECT MAX(created_at) FROM signals WHERE decision = 'allow' AND symbol = ?",
            &[Param::Text(symbol.into())],
        )?;
        Ok(rows.into_iter().next().flatten())
    }

    fn signals(&self, q: &str, p: &[Param]) -> Result<Vec<SignalRecord>> {
        type R = (
            String,
            String,
            i64,
            i32,
            f64,
            f64,
            i64,
            String,
            String,
            String,
        );
        let rows: Vec<R> = self.query(q, p)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    symbol,
                    created_at,
                    direction,
                    score,
                    confidence,
                    horizon_s,
                    components_json,
                    decision,
                    reasons,
                )| SignalRecord {
                    id,
                    symbol,
                    created_at,
                    direction,
                    score,
                    confidence,
                    horizon_s,
                    components_json,
                    decision,
                    reasons,
                },
            )
            .collect())
    }

    pub(crate) fn signals_query(&self, f: &SignalFilter) -> Result<Vec<SignalRecord>> {
        let (q, p) = sql::signals_query(f, sql::Latest::PerRow);
        self.signals(&q, &p)
    }

    pub(crate) fn signal(&self, id: &str) -> Result<Option<SignalRecord>> {
        let rows = self.signals(
            &format!("SELECT {} FROM signals WHERE id = ?", sql::SIGNAL_COLS),
            &[Param::Text(id.into())],
        )?;
        Ok(rows.into_iter().next())
    }

    /// The log lines of `ids` (at most `sql::GOVLOG_IDS_PER_QUERY`), by signal then id.
    pub(crate) fn governor_logs(&self, ids: &[&str]) -> Result<Vec<GovernorLogRecord>> {
        let (q, params) = sql::govlog_query(ids);
        type R = (String, String, String, String, String, String, i64);
        let rows: Vec<R> = self.query(&q, &params)?;
        Ok(rows
            .into_iter()
            .map(
                |(signal_id, symbol, decision, reason_codes, rules_json, config_hash, at)| {
                    GovernorLogRecord {
                        signal_id,
                        symbol,
                        decision,
                        reason_codes,
                        rules_json,
                        config_hash,
                        at,
                    }
                },
            )
            .collect())
    }

    fn feedback_rows(
        &self,
        conn: &mut impl Queryable,
        q: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Feedback>> {
        type R = (
            String,
            String,
            String,
            Option<f64>,
            Option<i64>,
            Option<String>,
            i64,
        );
        let rows: Vec<R> = self.rows(conn, q, params)?;
        Ok(rows
            .into_iter()
            .map(
                |(signal_id, source, outcome, realized_return, horizon_s, note, at)| Feedback {
                    signal_id,
                    source,
                    outcome,
                    realized_return,
                    horizon_s,
                    note,
                    at,
                },
            )
            .collect())
    }

    pub(crate) fn insert_feedback(&mut self, f: &Feedback) -> Result<(Feedback, bool)> {
        self.write(|tx| {
            tx.exec_drop(
                format!(
                    "INSERT INTO signal_feedback ({}) VALUES (?, ?, ?, ?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE id = id",
                    sql::FEEDBACK_COLS
                ),
                vec![
                    text(&f.signal_id),
                    text(&f.source),
                    text(&f.outcome),
                    opt_f64(f.realized_return),
                    opt_i64(f.horizon_s),
                    f.note.as_deref().map_or(Value::NULL, text),
                    Value::Int(f.at),
                ],
            )?;
            let created = tx.affected_rows() == 1;
            let stored = self
                .feedback_rows(
                    tx,
                    &format!(
                        "SELECT {} FROM signal_feedback WHERE signal_id = ? AND source = ?",
                        sql::FEEDBACK_COLS
                    ),
                    vec![text(&f.signal_id), text(&f.source)],
                )?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "feedback ({}, {}) vanished right after its insert",
                        f.signal_id, f.source
                    ))
                })?;
            Ok((stored, created))
        })
    }

    pub(crate) fn feedback_since(&self, since: Option<i64>) -> Result<Vec<Feedback>> {
        let mut conn = self.conn()?;
        self.feedback_rows(
            &mut conn,
            &format!(
                "SELECT {} FROM signal_feedback WHERE at >= ? ORDER BY at, id",
                sql::FEEDBACK_COLS
            ),
            vec![Value::Int(since.unwrap_or(i64::MIN))],
        )
    }
}

/// Counts for one row written with `ON DUPLICATE KEY UPDATE`: the server reports 1 for an
/// insert, 2 for an update and 0 when the row already held these values.
fn row_counts(affected: u64) -> UpsertCounts {
    match affected {
        1 => UpsertCounts {
            inserted: 1,
            ..Default::default()
        },
        0 => UpsertCounts {
            unchanged: 1,
            ..Default::default()
        },
        _ => UpsertCounts {
            updated: 1,
            ..Default::default()
        },
    }
}

/// Counts for a multi-row `ON DUPLICATE KEY UPDATE` of `n` rows from the server's affected
/// rows (1 per insert, 2 per update, 0 per unchanged row) and its info line
/// ("Records: n  Duplicates: d ..."). Without CLIENT_FOUND_ROWS (the driver's default),
/// MySQL 8 and MariaDB both count only the rows actually updated as duplicates.
pub(crate) fn split_counts(n: u64, affected: u64, info: &str) -> Result<UpsertCounts> {
    let dups = info
        .split_whitespace()
        .skip_while(|w| *w != "Duplicates:")
        .nth(1)
        .and_then(|d| d.parse::<u64>().ok());
    let bad = || {
        StoreError::Unavailable(format!(
            "server reported {affected} affected rows and info {info:?} for {n} rows"
        ))
    };
    let updated = match dups {
        Some(d) => d,
        // No info line: only an all-new or an all-unchanged batch can be told apart.
        None if affected == n || affected == 0 => 0,
        None => return Err(bad()),
    };
    let inserted = affected.checked_sub(2 * updated).ok_or_else(bad)?;
    let unchanged = n
        .checked_sub(inserted)
        .and_then(|r| r.checked_sub(updated))
        .ok_or_else(bad)?;
    Ok(UpsertCounts {
        inserted,
        updated,
        unchanged,
    })
}

fn map_err(e: mysql::Error, password: &str) -> StoreError {
    let msg = scrub(e.to_string(), password);
    match &e {
        mysql::Error::MySqlError(se) if CONSTRAINT_CODES.contains(&se.code) => {
            StoreError::Constraint(format!("mysql: {msg}"))
        }
        mysql::Error::MySqlError(se) if CONFIG_CODES.contains(&se.code) => {
            StoreError::BadUrl(format!("mysql: {msg}"))
        }
        mysql::Error::UrlError(_) => StoreError::BadUrl(format!("mysql: {msg}")),
        mysql::Error::FromValueError(_) | mysql::Error::FromRowError(_) => {
            StoreError::InvalidValue(format!("mysql: stored value does not decode: {msg}"))
        }
        _ => StoreError::Unavailable(format!("mysql: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_table() {
        let table = [
            (3, 3, "Records: 3  Duplicates: 0  Warnings: 0", (3, 0, 0)),
            (3, 0, "Records: 3  Duplicates: 0  Warnings: 0", (0, 0, 3)),
            (3, 2, "Records: 3  Duplicates: 0  Warnings: 0", (2, 0, 1)),
            (4, 3, "Records: 4  Duplicates: 1  Warnings: 0", (1, 1, 2)),
            (2, 4, "Records: 2  Duplicates: 2  Warnings: 0", (0, 2, 0)),
            (2, 2, "", (2, 0, 0)),
            (2, 0, "", (0, 0, 2)),
        ];
        for (n, affected, info, (i, u, c)) in table {
            let got = split_counts(n, affected, info).expect(info);
            assert_eq!(
                (got.inserted, got.updated, got.unchanged),
                (i, u, c),
                "{info}"
            );
        }
        assert!(split_counts(3, 1, "").is_err());
        assert!(split_counts(2, 9, "Records: 2  Duplicates: 1  Warnings: 0").is_err());
    }

    #[test]
    fn row_counts_table() {
        for (affected, want) in [(0, (0, 0, 1)), (1, (1, 0, 0)), (2, (0, 1, 0))] {
            let c = row_counts(affected);
            assert_eq!((c.inserted, c.updated, c.unchanged), want);
        }
    }
}
