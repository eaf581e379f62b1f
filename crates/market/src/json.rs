//! Reading JSON values without a `serde_json::Value` tree (which costs 10-30 bytes of memory
//! per byte of small values): `Cell`, one scalar as the parsers need it (nested values are
//! read past and only their kind is kept), and the number rules shared by klines and SEC
//! companyfacts.
//!
//! Pure; must not know which document a value comes from.

use crate::bars::number;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The scalar visits (string, numbers, boolean, null) of a visitor that maps each to `$v`.
macro_rules! scalars_are {
    ($v:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
}
pub(crate) use scalars_are;

/// One JSON value, reduced to what a field of a record can use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Null,
    /// An array, object or boolean, by its name in messages.
    Other(&'static str),
}

/// A JSON number or numeric string (Binance sends prices as strings); empty, null, missing
/// and non-finite are errors.
pub(crate) fn cell_number(c: &Cell, name: &str) -> Result<f64, String> {
    let v = match c {
        Cell::Int(i) => *i as f64,
        Cell::Uint(u) => *u as f64,
        Cell::Float(f) => *f,
        Cell::Str(s) => return number(s, name),
        Cell::Null => return Err(format!("field '{name}' is missing")),
        Cell::Other(kind) => return Err(format!("field '{name}' is not a number: {kind}")),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("field '{name}' is not a finite number"))
    }
}

/// Reads a `Cell`; nested values are read through (serde_json bounds their depth).
pub(crate) struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Cell;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Uint(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell, E> {
        Ok(Cell::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cell, E> {
        Ok(Cell::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Cell, E> {
        Ok(Cell::Other("a boolean"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_table() {
        let table = [
            (r#"1.5"#, Ok(1.5)),
            (r#"-3"#, Ok(-3.0)),
            (r#"18446744073709551615"#, Ok(18_446_744_073_709_551_615.0)),
            (r#""2.25""#, Ok(2.25)),
            (r#""""#, Err("field 'x' is empty")),
            (r#"null"#, Err("field 'x' is missing")),
            (r#""NaN""#, Err("field 'x' is not a finite number: 'NaN'")),
            // serde_json itself refuses numbers beyond f64 (the whole document is bad JSON).
            (r#"1e999"#, Err("number out of range at line 1 column 5")),
            (r#"[1]"#, Err("field 'x' is not a number: an array")),
            (r#"{"a":1}"#, Err("field 'x' is not a number: an object")),
            (r#"true"#, Err("field 'x' is not a number: a boolean")),
        ];
        for (json, want) in table {
            let mut de = serde_json::Deserializer::from_str(json);
            let got = CellSeed
                .deserialize(&mut de)
                .map_err(|e| e.to_string())
                .and_then(|c| cell_number(&c, "x"));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{json}"),
                (Err(e), Err(w)) => assert_eq!(e, w, "{json}"),
                (g, w) => panic!("{json}: got {g:?}, want {w:?}"),
            }
        }
    }
}
