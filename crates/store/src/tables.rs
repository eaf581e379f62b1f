//! The tables of the store, one file each (`tables/<table>.rs`), and the checks they share.
//!
//! A table's file owns everything about that table: its public row type, the checks a row
//! must pass before any SQL runs (so both backends give the same answer for bad input), its
//! column list, its statements for SQLite and MySQL/MariaDB side by side, how a stored row is
//! decoded, and the `Store` methods that read and write it. A new column therefore touches
//! that one file plus a new migration per dialect (`migrations.rs` lists them). A table file
//! must not open connections or transactions (the backends do, through `db::Db`) or read
//! the clock.
//!
//! This file owns the shared check helpers; they are pure and name the record, its position
//! in the batch and the field in every error.

pub(crate) mod backfill_progress;
pub(crate) mod cluster;
pub(crate) mod components;
pub(crate) mod fundamentals;
pub(crate) mod governor_log;
pub(crate) mod news_articles;
pub(crate) mod ohlcv;
pub(crate) mod signal_feedback;
pub(crate) mod signals;
pub(crate) mod signals_latest;

use crate::error::{Result, StoreError};

pub(crate) fn invalid(what: &str, index: usize, field: &str, why: &str) -> StoreError {
    StoreError::InvalidValue(format!("{what} #{index}: field {field} {why}"))
}

/// Not empty and at most `max` characters.
pub(crate) fn non_empty(what: &str, i: usize, field: &str, v: &str, max: usize) -> Result<()> {
    if v.is_empty() {
        return Err(invalid(what, i, field, "is empty"));
    }
    at_most(what, i, field, v, max)
}

/// A symbol of the one alphabet (`aivex_core::contract::Symbol`): the store accepts exactly
/// what ingest, brain and Eye accept.
pub(crate) fn symbol(what: &str, i: usize, v: &str) -> Result<()> {
    aivex_core::contract::Symbol::parse(v)
        .map(drop)
        .map_err(|e| invalid(what, i, "symbol", e.why))
}

/// At most `max` characters (empty allowed).
pub(crate) fn at_most(what: &str, i: usize, field: &str, v: &str, max: usize) -> Result<()> {
    if v.chars().count() > max {
        return Err(invalid(
            what,
            i,
            field,
            &format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn finite(what: &str, i: usize, field: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(
            what,
            i,
            field,
            &format!("is not a finite number ({v})"),
        ))
    }
}

pub(crate) fn one_of(what: &str, i: usize, field: &str, v: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(invalid(
            what,
            i,
            field,
            &format!("is {v:?}, expected one of {allowed:?}"),
        ))
    }
}

/// 'YYYY-MM-DD' in shape (digits and dashes); the calendar is the writer's business.
pub(crate) fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_table() {
        for (d, ok) in [
            ("2024-03-31", true),
            ("2024-3-31", false),
            ("2024/03/31", false),
            ("", false),
        ] {
            assert_eq!(is_date(d), ok, "{d}");
        }
    }

    #[test]
    fn check_messages_name_record_index_and_field() {
        let e = non_empty("bar", 2, "symbol", "", 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value: bar #2: field symbol is empty"
        );
        let e = at_most("bar", 0, "unit", "abc", 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value: bar #0: field unit is longer than 2 characters"
        );
        assert!(at_most("bar", 0, "unit", "", 2).is_ok());
        assert!(one_of("c", 0, "kind", "news", &["chart", "news"]).is_ok());
    }
}
