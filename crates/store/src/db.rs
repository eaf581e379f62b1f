//! The seam between the table files and the two backends: the neutral parameter type, how a
//! stored row is decoded, and `Db`, what a backend offers a table file for one connection or
//! one open transaction.
//!
//! It owns nothing dialect-specific and no statement: a table file (`tables/*.rs`) writes its
//! statements for each `Dialect` side by side and runs them through `Db`; a backend
//! (`sqlite.rs`, `mysql.rs`) implements `Db` by binding `Param`s and reading cells with its
//! driver. Every value travels as a bound parameter, never spliced into SQL text.

use crate::error::Result;

/// Which SQL dialect a `Db` speaks; a table file matches on it where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Mysql,
}

/// A bound parameter value. Text is borrowed from the row being written, so binding a batch
/// copies no string (SQLite binds the borrowed bytes; the MySQL driver copies them into its
/// own buffer, as it always did).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<i32> for Param<'_> {
    fn from(v: i32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// A Rust type a stored cell can be read into by both drivers (`i64`, `i32`, `u32`, `f64`,
/// `String` and their `Option`s for nullable columns).
pub(crate) trait Cell: crate::sqlite::Cell + crate::mysql::Cell {}
impl<T: crate::sqlite::Cell + crate::mysql::Cell> Cell for T {}

/// One result row as a backend hands it to `Decode`: cells by position, each read once.
pub(crate) trait Cells {
    fn get<T: Cell>(&mut self, i: usize) -> Result<T>;
}

/// A value built from one result row: each table's row type, and tuples of cells for the
/// few aggregate queries. A bad stored value is `StoreError::InvalidValue`.
pub(crate) trait Decode: Sized {
    fn decode(row: &mut impl Cells) -> Result<Self>;
}

impl<A: Cell> Decode for (A,) {
    fn decode(row: &mut impl Cells) -> Result<Self> {
        Ok((row.get(0)?,))
    }
}

impl<A: Cell, B: Cell> Decode for (A, B) {
    fn decode(row: &mut impl Cells) -> Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: Cell, B: Cell, C: Cell> Decode for (A, B, C) {
    fn decode(row: &mut impl Cells) -> Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

impl<A: Cell, B: Cell, C: Cell, D: Cell> Decode for (A, B, C, D) {
    fn decode(row: &mut impl Cells) -> Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    }
}

/// What a backend offers a table file: one connection, or one transaction the backend
/// opened and will commit (or, on an error, roll back and maybe retry) around the caller.
/// Errors are already `StoreError`s, classified and scrubbed of the password by the backend.
pub(crate) trait Db {
    const DIALECT: Dialect;

    /// Runs one statement and returns the rows the driver reports as affected. SQLite: rows
    /// changed. MySQL/MariaDB with `ON DUPLICATE KEY UPDATE`: 1 per insert, 2 per update, 0
    /// per row that already held these values.
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;

    /// `exec`, plus the server's info line ("Records: n  Duplicates: d  Warnings: w" on
    /// MySQL/MariaDB after a multi-row insert; empty on SQLite).
    fn exec_info(&mut self, sql: &str, params: &[Param<'_>]) -> Result<(u64, String)>;

    /// Runs a query and decodes every row, in the order the database returns them.
    fn rows<T: Decode>(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>>;

    /// Runs SQL text without parameters (SQLite: any number of statements; MySQL/MariaDB: one,
    /// over the text protocol, as DDL needs). On failure, the driver's own message (scrubbed
    /// of the password) so that a migration error can quote it.
    fn batch(&mut self, sql: &str) -> std::result::Result<(), String>;
}

/// The first column of every row of a query.
pub(crate) fn column<T: Cell>(db: &mut impl Db, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>> {
    Ok(db
        .rows::<(T,)>(sql, params)?
        .into_iter()
        .map(|(v,)| v)
        .collect())
}

/// `VALUES` rows of `width` placeholders each, e.g. `(?,?),(?,?)`.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(","));
    vec![row; rows].join(",")
}

/// A column list with every column qualified by a table alias: `a, b` as `t.a, t.b`.
pub(crate) fn qualified(cols: &str, alias: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_shape() {
        assert_eq!(placeholders(2, 3), "(?,?,?),(?,?,?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }

    #[test]
    fn qualified_prefixes_every_column() {
        assert_eq!(
            qualified("id, `interval`, ts", "s"),
            "s.id, s.`interval`, s.ts"
        );
    }

    #[test]
    fn params_from_values() {
        assert_eq!(Param::from(Some(2.5)), Param::Real(2.5));
        assert_eq!(Param::from(None::<i64>), Param::Null);
        assert_eq!(Param::from(Some("x")), Param::Text("x"));
        assert_eq!(Param::from(-1_i32), Param::Int(-1));
    }
}
