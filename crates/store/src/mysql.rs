//! The MySQL/MariaDB backend: a small explicit connection pool over TCP, optionally TLS.
//!
//! It owns connection options (pool 1..4, timeouts, rustls/ring TLS), its transactions
//! (READ COMMITTED, retried after an InnoDB deadlock), the migration lock (`GET_LOCK`, because
//! MySQL DDL is not transactional), binding `Param`s and reading cells with the driver, and
//! the mapping of driver errors to `StoreError`. Every driver message passes through `scrub`
//! so the password can never leak. It must not hold a table's statements or checks: those
//! live in `tables/`, next to the SQLite ones.

use crate::db::{Cells, Db, Decode, Dialect, Param};
use crate::error::{scrub, Result, StoreError};
use crate::url::MysqlParams;
use mysql::prelude::Queryable;
use mysql::{
    AccessMode, IsolationLevel, OptsBuilder, Pool, PoolConstraints, PoolOpts, PooledConn, Row,
    SslOpts, Transaction, TxOpts, Value,
};
use std::time::Duration;

/// What `db::Cell` asks of this driver: a type the driver can convert a value into.
pub(crate) use mysql::prelude::FromValue as Cell;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than the 60 s migration lock wait, so a waiting `aivex migrate` is not cut off.
const READ_TIMEOUT: Duration = Duration::from_secs(90);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const POOL_WAIT: Duration = Duration::from_secs(30);
const MIGRATE_LOCK_WAIT_S: i64 = 60;
/// ER_LOCK_DEADLOCK: InnoDB rolled the transaction back.
const DEADLOCK: u16 = 1213;

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

pub(crate) struct Mysql {
    pool: Pool,
    /// Kept only to scrub driver messages; never formatted.
    password: String,
    tls: bool,
}

/// `Db` over a pooled connection or an open transaction. Statements go through the driver's
/// per-connection statement cache (prepared once, executed many times).
pub(crate) struct MysqlDb<'a, Q: Queryable> {
    q: &'a mut Q,
    password: &'a str,
    /// Set when a statement failed with a deadlock: `Mysql::write` then runs the whole
    /// transaction again.
    deadlocked: bool,
}

fn value(p: &Param<'_>) -> Value {
    match *p {
        Param::Null => Value::NULL,
        Param::Int(i) => Value::Int(i),
        Param::Real(f) => Value::Double(f),
        Param::Text(s) => Value::Bytes(s.as_bytes().to_vec()),
    }
}

fn values(params: &[Param<'_>]) -> Vec<Value> {
    params.iter().map(value).collect()
}

fn is_deadlock(e: &mysql::Error) -> bool {
    matches!(e, mysql::Error::MySqlError(se) if se.code == DEADLOCK)
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

struct MysqlRow(Row);

impl Cells for MysqlRow {
    fn get<T: crate::db::Cell>(&mut self, i: usize) -> Result<T> {
        match self.0.take_opt::<T, usize>(i) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(bad_cell(i, Some(e))),
            None => Err(bad_cell(i, None)),
        }
    }
}

/// Out of line: `get` runs for every cell of every row read.
#[cold]
fn bad_cell(i: usize, e: Option<mysql::FromValueError>) -> StoreError {
    StoreError::InvalidValue(match e {
        Some(e) => format!("stored row does not decode: column {i}: {e}"),
        None => format!("stored row does not decode: no column {i}"),
    })
}

impl<'a, Q: Queryable> MysqlDb<'a, Q> {
    fn new(q: &'a mut Q, password: &'a str) -> Self {
        MysqlDb {
            q,
            password,
            deadlocked: false,
        }
    }

    fn err(&mut self, e: mysql::Error) -> StoreError {
        self.deadlocked |= is_deadlock(&e);
        map_err(e, self.password)
    }
}

impl<Q: Queryable> Db for MysqlDb<'_, Q> {
    const DIALECT: Dialect = Dialect::Mysql;

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let done = if params.is_empty() {
            // The text protocol: DDL and lock functions need no prepared statement.
            self.q.query_iter(sql).map(|r| r.affected_rows())
        } else {
            self.q
                .exec_iter(sql, values(params))
                .map(|r| r.affected_rows())
        };
        done.map_err(|e| self.err(e))
    }

    fn exec_info(&mut self, sql: &str, params: &[Param<'_>]) -> Result<(u64, String)> {
        let done = self
            .q
            .exec_iter(sql, values(params))
            .map(|r| (r.affected_rows(), r.info_str().into_owned()));
        done.map_err(|e| self.err(e))
    }

    fn rows<T: Decode>(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>> {
        // Each row is decoded as it arrives and dropped, so at most one driver row is held.
        let mut out = Vec::new();
        let mut failed = None;
        match self.q.exec_iter(sql, values(params)) {
            Ok(result) => {
                for row in result {
                    match row {
                        Ok(r) => out.push(T::decode(&mut MysqlRow(r))?),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            Err(e) => failed = Some(e),
        }
        match failed {
            Some(e) => Err(self.err(e)),
            None => Ok(out),
        }
    }

    fn batch(&mut self, sql: &str) -> std::result::Result<(), String> {
        self.q
            .query_drop(sql)
            .map_err(|e| scrub(e.to_string(), self.password))
    }
}

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

    /// A driver error as `write` needs it: the store error and whether it was a deadlock.
    fn classify(&self, e: mysql::Error) -> (StoreError, bool) {
        let deadlocked = is_deadlock(&e);
        (self.err(e), deadlocked)
    }

    fn conn(&self) -> Result<PooledConn> {
        self.pool.try_get_conn(POOL_WAIT).map_err(|e| self.err(e))
    }

    pub(crate) fn ping(&self) -> Result<()> {
        self.read(|db| db.rows::<(i64,)>("SELECT 1", &[]).map(drop))
    }

    pub(crate) fn tls_in_use(&self) -> Result<bool> {
        let rows: Vec<(String, String)> =
            self.read(|db| db.rows("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[]))?;
        let on = rows.first().is_some_and(|(_, cipher)| !cipher.is_empty());
        Ok(on && self.tls)
    }

    /// Runs `body` on a pooled connection, outside any explicit transaction.
    pub(crate) fn read<T>(
        &self,
        body: impl FnOnce(&mut MysqlDb<'_, PooledConn>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        body(&mut MysqlDb::new(&mut conn, &self.password))
    }

    /// Runs `body` in one READ COMMITTED transaction on a pooled connection and commits.
    /// InnoDB answers a deadlock by rolling back the whole transaction, so running it again
    /// is safe: up to three attempts before the deadlock is reported as Unavailable. `body`
    /// must therefore start from scratch each time (count inside it, not around it).
    pub(crate) fn write<T>(
        &self,
        mut body: impl FnMut(&mut MysqlDb<'_, Transaction<'_>>) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.conn()?;
            let (err, deadlocked) = match conn.start_transaction(Self::tx_opts()) {
                Err(e) => self.classify(e),
                Ok(mut tx) => {
                    let (outcome, deadlocked) = {
                        let mut db = MysqlDb::new(&mut tx, &self.password);
                        let outcome = body(&mut db);
                        (outcome, db.deadlocked)
                    };
                    match outcome {
                        Ok(v) => match tx.commit() {
                            Ok(()) => return Ok(v),
                            Err(e) => self.classify(e),
                        },
                        Err(e) => (e, deadlocked),
                    }
                }
            };
            if !(deadlocked && attempt < 3) {
                return Err(err);
            }
            log::warn!("mysql: deadlock, retrying the transaction (attempt {attempt})");
        }
    }

    /// Runs `body` in one read-only REPEATABLE READ transaction started WITH CONSISTENT
    /// SNAPSHOT: every statement in it reads the same committed state.
    pub(crate) fn snapshot<T>(
        &self,
        body: impl FnOnce(&mut MysqlDb<'_, Transaction<'_>>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let opts = TxOpts::default()
            .set_isolation_level(Some(IsolationLevel::RepeatableRead))
            .set_with_consistent_snapshot(true)
            .set_access_mode(Some(AccessMode::ReadOnly));
        let mut tx = conn.start_transaction(opts).map_err(|e| self.err(e))?;
        let value = body(&mut MysqlDb::new(&mut tx, &self.password))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(value)
    }

    fn tx_opts() -> TxOpts {
        TxOpts::default().set_isolation_level(Some(IsolationLevel::ReadCommitted))
    }

    /// Runs `body` on one connection while holding the server-wide migration lock, so two
    /// `aivex migrate` runs never apply the same migration (MySQL DDL commits implicitly, so
    /// a transaction cannot serialise them). No transaction around `body`.
    pub(crate) fn migrate<T>(
        &mut self,
        body: impl FnOnce(&mut MysqlDb<'_, PooledConn>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let mut db = MysqlDb::new(&mut conn, &self.password);
        let got: Vec<(Option<i64>,)> = db.rows(
            "SELECT GET_LOCK('aivex_migrate', ?)",
            &[Param::Int(MIGRATE_LOCK_WAIT_S)],
        )?;
        if got.first().and_then(|(v,)| *v) != Some(1) {
            return Err(StoreError::Unavailable(format!(
                "another aivex migrate held the migration lock for {MIGRATE_LOCK_WAIT_S}s"
            )));
        }
        let result = body(&mut db);
        // Released even after a failure; if the connection itself died the server has
        // already released the lock with it.
        let _ = conn.query_drop("SELECT RELEASE_LOCK('aivex_migrate')");
        result
    }
}
