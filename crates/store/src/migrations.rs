//! The schema migrations embedded in the binary, the `schema_migrations` table that records
//! them, and the rules for applying them.
//!
//! It owns the list of migrations per dialect (compiled in with `include_str!`, so the static
//! binary carries them), their sha256 checksums, `plan` (pure: given what a database says it
//! has applied, which migrations are pending or why the run must be refused), and `run`,
//! which applies the plan through `db::Db` with both dialects' `schema_migrations` statements
//! side by side. It must not lock or open transactions: the backend wraps `run` in what makes
//! it safe there (SQLite: one write transaction; MySQL/MariaDB: a named server lock).

use crate::db::{column, Db, Dialect, Param};
use crate::error::{Result, StoreError};
use sha2::{Digest, Sha256};

/// What `Store::migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this run, in order.
    pub applied: Vec<u32>,
    /// The schema version after the run.
    pub version: u32,
}

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A row of `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub version: u32,
    pub checksum: String,
}

/// One dialect's migration list: `embedded!("sqlite", 1 "initial", ...)`.
macro_rules! embedded {
    ($dir:literal, $($version:literal $name:literal $file:literal),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../migrations/", $dir, "/", $file)),
        }),*]
    };
}

pub(crate) const SQLITE: &[Migration] = embedded!(
    "sqlite",
    1 "initial" "0001_initial.sql",
    2 "signal_origin" "0002_signal_origin.sql",
    3 "signal_recorded_at" "0003_signal_recorded_at.sql",
    4 "fundamental_filings" "0004_fundamental_filings.sql",
    5 "backfill_progress" "0005_backfill_progress.sql",
    6 "signals_latest" "0006_signals_latest.sql",
    7 "signals_version" "0007_signals_version.sql",
    8 "cluster" "0008_cluster.sql",
);

pub(crate) const MYSQL: &[Migration] = embedded!(
    "mysql",
    1 "initial" "0001_initial.sql",
    2 "signal_origin" "0002_signal_origin.sql",
    3 "signal_recorded_at" "0003_signal_recorded_at.sql",
    4 "fundamental_filings" "0004_fundamental_filings.sql",
    5 "backfill_progress" "0005_backfill_progress.sql",
    6 "signals_latest" "0006_signals_latest.sql",
    7 "signals_version" "0007_signals_version.sql",
    8 "cluster" "0008_cluster.sql",
);

/// The schema version this binary needs (the highest embedded migration).
pub const SCHEMA_VERSION: u32 = 8;

/// The migrations of a dialect.
pub(crate) fn embedded(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Mysql => MYSQL,
    }
}

/// The rows of `schema_migrations`, none when the table does not exist yet.
pub(crate) fn applied<D: Db>(db: &mut D) -> Result<Vec<Applied>> {
    let exists = match D::DIALECT {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        }
        Dialect::Mysql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'"
        }
    };
    let n: Vec<i64> = column(db, exists, &[])?;
    if n.first().copied().unwrap_or(0) == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<(u32, String)> = db.rows(
        "SELECT version, checksum FROM schema_migrations ORDER BY version",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(version, checksum)| Applied { version, checksum })
        .collect())
}

/// Applies the pending migrations of `D`'s dialect in order and records each in
/// `schema_migrations`; the backend holds its lock or transaction around this.
pub(crate) fn run<D: Db>(db: &mut D) -> Result<MigrateReport> {
    let create = match D::DIALECT {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )"
        }
        Dialect::Mysql => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                name VARCHAR(255) NOT NULL,
                checksum CHAR(64) NOT NULL,
                applied_at BIGINT NOT NULL
            ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
        }
    };
    db.exec(create, &[])?;
    let done = applied(db)?;
    let pending = plan(embedded(D::DIALECT), &done)?;
    let mut report = MigrateReport {
        applied: Vec::new(),
        version: current_version(&done),
    };
    let record = match D::DIALECT {
        Dialect::Sqlite => {
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES (?, ?, ?, CAST(strftime('%s', 'now') AS INTEGER))"
        }
        Dialect::Mysql => {
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES (?, ?, ?, UNIX_TIMESTAMP())"
        }
    };
    for m in pending {
        let failed = |detail: String| StoreError::MigrationFailed {
            version: m.version,
            name: m.name.to_string(),
            detail,
        };
        match D::DIALECT {
            // SQLite runs a whole file in one call (inside the backend's transaction).
            Dialect::Sqlite => db.batch(m.sql).map_err(failed)?,
            // MySQL/MariaDB take one statement per call.
            Dialect::Mysql => {
                for stmt in statements(m.sql) {
                    db.batch(&stmt).map_err(failed)?;
                }
            }
        }
        let sum = checksum(m.sql);
        db.exec(
            record,
            &[
                Param::from(m.version),
                Param::Text(m.name),
                Param::Text(&sum),
            ],
        )?;
        report.applied.push(m.version);
        report.version = m.version;
    }
    Ok(report)
}

/// sha256 hex of a migration's text.
pub(crate) fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The highest applied version, 0 for an empty database.
pub(crate) fn current_version(applied: &[Applied]) -> u32 {
    applied.iter().map(|a| a.version).max().unwrap_or(0)
}

/// Checks the applied rows against the embedded set and returns the pending migrations in
/// order. Refuses on a changed checksum or on a version this binary does not know.
pub(crate) fn plan(embedded: &'static [Migration], applied: &[Applied]) -> Result<Vec<Migration>> {
    for a in applied {
        match embedded.iter().find(|m| m.version == a.version) {
            Some(m) if checksum(m.sql) == a.checksum => {}
            Some(m) => {
                return Err(StoreError::ChecksumDrift {
                    version: m.version,
                    name: m.name.to_string(),
                })
            }
            None => {
                return Err(StoreError::SchemaAhead {
                    current: current_version(applied),
                    known: SCHEMA_VERSION,
                })
            }
        }
    }
    Ok(embedded
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .copied()
        .collect())
}

/// What `check_schema` concludes from the applied rows.
pub(crate) fn check(embedded: &'static [Migration], applied: &[Applied]) -> Result<()> {
    let pending = plan(embedded, applied)?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError::SchemaBehind {
            current: current_version(applied),
            needed: SCHEMA_VERSION,
        })
    }
}

/// Splits a migration into statements for drivers that run one statement per call. Our
/// migration files keep `;` only at the end of a statement and use `--` line comments, so a
/// line-based split is exact for them.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if trimmed.ends_with(';') {
            let stmt = cur.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            cur.clear();
        }
    }
    let rest = cur.trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_have_the_same_versions_in_order() {
        let s: Vec<(u32, &str)> = SQLITE.iter().map(|m| (m.version, m.name)).collect();
        let m: Vec<(u32, &str)> = MYSQL.iter().map(|m| (m.version, m.name)).collect();
        assert_eq!(s, m);
        let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(s.iter().map(|(v, _)| *v).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn plan_table() {
        let good = Applied {
            version: 1,
            checksum: checksum(SQLITE[0].sql),
        };
        let drifted = Applied {
            version: 1,
            checksum: "00".into(),
        };
        let unknown = Applied {
            version: 99,
            checksum: "00".into(),
        };
        let table: Vec<(Vec<Applied>, std::result::Result<usize, &str>)> = vec![
            (vec![], Ok(SQLITE.len())),
            (vec![good.clone()], Ok(SQLITE.len() - 1)),
            (
                vec![drifted],
                Err("applied migration 0001 (initial) differs"),
            ),
            (vec![good, unknown], Err("schema is at version 99, newer")),
        ];
        for (applied, want) in table {
            match (plan(SQLITE, &applied), want) {
                (Ok(p), Ok(n)) => assert_eq!(p.len(), n),
                (Err(e), Err(prefix)) => assert!(e.to_string().starts_with(prefix), "{e}"),
                (got, want) => panic!("{applied:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn check_says_run_migrate_when_behind() {
        let err = check(SQLITE, &[]).expect_err("empty database is behind");
        assert!(err.to_string().contains("run aivex migrate"), "{err}");
    }

    #[test]
    fn statements_split_the_mysql_file() {
        let stmts = statements(MYSQL[0].sql);
        assert_eq!(stmts.len(), 8, "{stmts:#?}");
        assert!(stmts
            .iter()
            .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS")));
        assert_eq!(statements("-- c\nA;\n\nB\n;\nC"), vec!["A", "B", "C"]);
        // MySQL DDL is not transactional: every later migration ends in one statement that is
        // applied whole or not at all, and whatever comes before it is CREATE ... IF NOT
        // EXISTS, so a migration cut short simply runs again.
        for m in &MYSQL[1..] {
            let stmts = statements(m.sql);
            let (_last, before) = stmts.split_last().expect("a statement");
            assert!(
                before
                    .iter()
                    .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS")),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
