//! The SQLite backend: one connection to a WAL-mode file shared by several module processes.
//!
//! It owns SQLite's connection settings (WAL, busy timeout, synchronous=NORMAL, foreign
//! keys), its transactions, binding `Param`s and reading cells with rusqlite, and the mapping
//! of SQLite errors to `StoreError`. Every write runs in a `BEGIN IMMEDIATE` transaction:
//! taking the write lock up front lets the busy timeout queue writers instead of failing them
//! on a read-to-write lock upgrade. It must not hold a table's statements or checks: those
//! live in `tables/`, next to the MySQL/MariaDB ones.

use crate::db::{Cells, Db, Decode, Dialect, Param};
use crate::error::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OpenFlags, ToSql, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// What `db::Cell` asks of this driver: a type rusqlite can read a cell into.
pub(crate) use rusqlite::types::FromSql as Cell;

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between tries of the switch to WAL that lost a lock race (`Sqlite::open`).
const WAL_RETRY: Duration = Duration::from_millis(20);

pub(crate) struct Sqlite {
    conn: Connection,
}

/// `Db` over the connection, or over an open transaction on it (a `rusqlite::Transaction`
/// derefs to its connection). Statements are prepared once per connection and cached.
pub(crate) struct SqliteDb<'c> {
    conn: &'c Connection,
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(i),
            Param::Real(f) => ValueRef::Real(f),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
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

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Cells for SqliteRow<'_, '_> {
    fn get<T: crate::db::Cell>(&mut self, i: usize) -> Result<T> {
        self.0.get(i).map_err(map_err)
    }
}

impl Db for SqliteDb<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let changed = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(params_from_iter(params.iter())))
            .map_err(map_err)?;
        Ok(changed as u64)
    }

    fn exec_info(&mut self, sql: &str, params: &[Param<'_>]) -> Result<(u64, String)> {
        Ok((self.exec(sql, params)?, String::new()))
    }

    fn rows<T: Decode>(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = st.query(params_from_iter(params.iter())).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(map_err)? {
            out.push(T::decode(&mut SqliteRow(r))?);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> std::result::Result<(), String> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
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
        // Two connections switching a fresh file to WAL at once can deadlock on the lock
        // upgrade (each holds the shared lock the other must see go); SQLite then answers BUSY
        // at once, without the busy handler. The other one finishes the switch, so trying
        // again (bounded by the busy timeout) finds the file in WAL mode.
        let mut tries = BUSY_TIMEOUT.as_millis() / WAL_RETRY.as_millis();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy && tries > 0 =>
                {
                    tries -= 1;
                    std::thread::sleep(WAL_RETRY);
                }
                other => break other.map_err(map_err)?,
            }
        };
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

    pub(crate) fn ping(&self) -> Result<()> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(map_err)
    }

    pub(crate) fn tls_in_use(&self) -> Result<bool> {
        Ok(false)
    }

    pub(crate) fn limit_cache(&mut self, kib: u32) -> Result<()> {
        // A negative cache_size is in KiB; a pragma takes no bound parameters.
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{}", kib.max(64)))
            .map_err(map_err)
    }

    /// Runs `body` on the connection, outside any explicit transaction.
    pub(crate) fn read<T>(&self, body: impl FnOnce(&mut SqliteDb<'_>) -> Result<T>) -> Result<T> {
        body(&mut SqliteDb { conn: &self.conn })
    }

    /// Runs `body` in one read transaction (`BEGIN DEFERRED`): in WAL mode every statement in
    /// it reads the same snapshot, the one its first read saw, while writers go on.
    pub(crate) fn snapshot<T>(
        &self,
        body: impl FnOnce(&mut SqliteDb<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self.conn.unchecked_transaction().map_err(map_err)?;
        let value = body(&mut SqliteDb { conn: &tx })?;
        // Nothing was written: ending it only releases the snapshot.
        tx.commit().map_err(map_err)?;
        Ok(value)
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction and commits; an error rolls it back.
    pub(crate) fn write<T>(
        &mut self,
        body: impl FnOnce(&mut SqliteDb<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let value = body(&mut SqliteDb { conn: &tx })?;
        tx.commit().map_err(map_err)?;
        Ok(value)
    }

    /// Runs the migrations in one write transaction: SQLite's DDL is transactional, and
    /// BEGIN IMMEDIATE serialises concurrent `aivex migrate` runs (the second one waits for
    /// the first to commit, then finds nothing pending).
    pub(crate) fn migrate<T>(
        &mut self,
        body: impl FnOnce(&mut SqliteDb<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write(body)
    }
}
