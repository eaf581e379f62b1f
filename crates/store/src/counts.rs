//! `UpsertCounts`, what an upsert batch did, and how each dialect's driver answer turns into
//! it: SQLite's "insert, else update when different" pair of statements, MySQL/MariaDB's
//! `ON DUPLICATE KEY UPDATE` affected-rows and info line.
//!
//! Pure arithmetic on what the drivers report; it must not run a statement (the table files
//! do, then ask here what the answer means).

use crate::error::{Result, StoreError};

/// What an upsert batch did. `inserted + updated + unchanged` equals the batch length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl UpsertCounts {
    pub fn add(&mut self, other: UpsertCounts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// SQLite: counts for one row written with `INSERT .. DO NOTHING` (did it insert?) and, when
/// it did not, `UPDATE .. WHERE <something differs>` (did it update?).
pub(crate) fn insert_or_update(inserted: bool, updated: bool) -> UpsertCounts {
    UpsertCounts {
        inserted: u64::from(inserted),
        updated: u64::from(!inserted && updated),
        unchanged: u64::from(!inserted && !updated),
    }
}

/// MySQL/MariaDB: counts for one row written with `ON DUPLICATE KEY UPDATE`: the server
/// reports 1 for an insert, 2 for an update and 0 when the row already held these values.
pub(crate) fn row_counts(affected: u64) -> UpsertCounts {
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

/// MySQL/MariaDB: counts for a multi-row `ON DUPLICATE KEY UPDATE` of `n` rows from the
/// server's affected rows (1 per insert, 2 per update, 0 per unchanged row) and its info line
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

    #[test]
    fn insert_or_update_table() {
        for (ins, upd, want) in [
            (true, false, (1, 0, 0)),
            (false, true, (0, 1, 0)),
            (false, false, (0, 0, 1)),
        ] {
            let c = insert_or_update(ins, upd);
            assert_eq!((c.inserted, c.updated, c.unchanged), want);
        }
    }
}
