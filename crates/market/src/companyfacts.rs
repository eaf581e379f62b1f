//! SEC companyfacts JSON (`facts.us-gaap.<Concept>.units.<unit>[...]`), read with serde
//! visitors: only the concepts some metric names are looked at, each concept's unit is chosen
//! while its keys go by, and the facts of that unit are borrowed as raw JSON and read one at a
//! time, so a large or hostile document never becomes a `Value` tree.
//!
//! It owns the choice of which facts count: per metric, the first concept of its fallback list
//! that has data; one value per period end, the most recently filed (or, for a point-in-time
//! store, one per period end and filing: `Keep::EveryFiling`); quarterly (~3-month)
//! facts under the metric's own name, annual (~1-year) facts under `<metric>_annual`, instant
//! facts (balance sheet) under the metric's name, and year-to-date 6- and 9-month facts
//! skipped. Pure; must not do I/O or read the clock.

use crate::error::{push_error, quote, MarketError, Position, RowError};
use crate::fundamentals::{valid_day, Fundamental, ParsedFundamentals};
use crate::json::{cell_number, scalars_are, Cell, CellSeed};
use crate::time::parse_day;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// How a companyfacts fact's period is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Instant,
    Quarter,
    Year,
    /// Year-to-date 6 or 9 months, or anything else: cumulative figures that would double
    /// count against quarters, so they are skipped.
    Other,
}

fn span(start: Option<&str>, end: &str) -> Result<Span, String> {
    let Some(start) = start else {
        return Ok(Span::Instant);
    };
    let s =
        parse_day(start).ok_or_else(|| format!("field 'start' is not a date: {}", quote(start)))?;
    let e = parse_day(end).ok_or_else(|| format!("field 'end' is not a date: {}", quote(end)))?;
    let days = (e - s).get_days();
    // Fiscal quarters run 13 weeks (91 days) or a calendar quarter (89-92); fiscal years 52 or
    // 53 weeks (364/371 days) or 365/366. The margins absorb both conventions.
    Ok(match days {
        80..=100 => Span::Quarter,
        350..=380 => Span::Year,
        _ => Span::Other,
    })
}

/// Preferred unit of a concept: the first of these present, else the alphabetically first.
const UNIT_PREFERENCE: [&str; 4] = ["USD", "USD/shares", "shares", "pure"];

/// A unit's rank: lower is preferred.
fn unit_rank(unit: &str) -> (usize, &str) {
    let pref = UNIT_PREFERENCE
        .iter()
        .position(|u| *u == unit)
        .unwrap_or(UNIT_PREFERENCE.len());
    (pref, unit)
}

/// A concept found in the document: its chosen unit and that unit's facts, as raw JSON.
type Found<'de> = HashMap<String, Option<(String, &'de RawValue)>>;

/// Which filings of one period a parse keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The most recently filed value (among equal filing dates, the later item): what the live
    /// metrics component reads.
    Latest,
    /// One value per filing date (a filing repeating a fact: its later item), for a store that
    /// answers "as known at".
    EveryFiling,
}

/// Reads SEC companyfacts JSON for `symbol`, picking for each metric of `concepts` the first
/// concept with usable facts (see the module docs for which facts count).
pub fn parse_companyfacts(
    bytes: &[u8],
    source_name: &str,
    symbol: &str,
    concepts: &BTreeMap<String, Vec<String>>,
) -> Result<ParsedFundamentals, MarketError> {
    parse(bytes, source_name, symbol, concepts, Keep::Latest)
}

/// `parse_companyfacts` keeping the filings `keep` says; records sorted by metric, period end
/// and filing date.
pub(crate) fn parse(
    bytes: &[u8],
    source_name: &str,
    symbol: &str,
    concepts: &BTreeMap<String, Vec<String>>,
    keep: Keep,
) -> Result<ParsedFundamentals, MarketError> {
    let bad_json = |e: serde_json::Error| MarketError::BadJson {
        source: source_name.to_string(),
        detail: e.to_string(),
    };
    let wanted: BTreeSet<&str> = concepts.values().flatten().map(String::as_str).collect();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = de
        .deserialize_any(Object(Level::Top, &wanted))
        .map_err(bad_json)?;
    de.end().map_err(bad_json)?;
    let Some(found) = found else {
        return Err(MarketError::UnknownFormat {
            source: source_name.to_string(),
            detail: "no 'facts' object (not a companyfacts document)".into(),
        });
    };
    let symbol = symbol.trim().to_ascii_uppercase();
    let mut out = ParsedFundamentals {
        records: Vec::new(),
        errors: Vec::new(),
        omitted_errors: 0,
    };
    for (metric, fallbacks) in concepts {
        for concept in fallbacks {
            let Some(Some((unit, raw))) = found.get(concept) else {
                continue;
            };
            // (metric name, period end, filed) -> value; a filing repeating a fact keeps its
            // later item.
            let mut filings: BTreeMap<(String, String, String), f64> = BTreeMap::new();
            let mut facts = serde_json::Deserializer::from_str(raw.get());
            let is_array = facts
                .deserialize_any(Facts(&mut |i, item| match fact(item, metric) {
                    Ok(Some((name, end, filed, value))) => {
                        filings.insert((name, end, filed), value);
                    }
                    Ok(None) => {}
                    Err(message) => {
                        let error = RowError {
                            source: source_name.to_string(),
                            at: Position::Item(format!("us-gaap.{concept}.units.{unit}[{i}]")),
                            message,
                        };
                        push_error(&mut out.errors, &mut out.omitted_errors, error);
                    }
                }))
                .map_err(bad_json)?;
            if !is_array {
                continue;
            }
            if filings.is_empty() {
                continue;
            }
            let mut kept: Vec<_> = filings.into_iter().collect();
            if keep == Keep::Latest {
                // Sorted by filing date within a period: the last of each period is the latest
                // (a missing date, "", sorts first and so loses to any dated filing).
                let mut latest: Vec<((String, String, String), f64)> = Vec::new();
                for (key, value) in kept {
                    match latest.last_mut() {
                        Some(last) if last.0 .0 == key.0 && last.0 .1 == key.1 => {
                            *last = (key, value)
                        }
                        _ => latest.push((key, value)),
                    }
                }
                kept = latest;
            }
            for ((name, end, filed), value) in kept {
                out.records.push(Fundamental {
                    symbol: symbol.clone(),
                    metric: name,
                    period_end: end,
                    value,
                    unit: unit.clone(),
                    filed: Some(filed).filter(|f| !f.is_empty()),
                    source: source_name.to_string(),
                });
            }
            break;
        }
    }
    Ok(out)
}

/// The text fields and the value of one fact.
#[derive(Debug, Default)]
struct FactFields {
    end: Option<String>,
    start: Option<String>,
    filed: Option<String>,
    val: Option<Cell>,
}

/// One companyfacts item as (metric name, period end, filed, value), None when its span is
/// not one we keep.
fn fact(item: &FactFields, metric: &str) -> Result<Option<(String, String, String, f64)>, String> {
    let end = item.end.as_deref().ok_or("field 'end' is missing")?;
    let end = valid_day(end, "end")?;
    let value = cell_number(item.val.as_ref().unwrap_or(&Cell::Null), "val")?;
    let filed = match &item.filed {
        Some(f) => valid_day(f, "filed")?,
        None => String::new(),
    };
    let name = match span(item.start.as_deref(), &end)? {
        Span::Instant | Span::Quarter => metric.to_string(),
        Span::Year => format!("{metric}_annual"),
        Span::Other => return Ok(None),
    };
    Ok(Some((name, end, filed, value)))
}

/// Where an object sits in the document.
#[derive(Clone, Copy)]
enum Level {
    /// The document: its `facts`.
    Top,
    /// `facts`: its `us-gaap`.
    Facts,
}

/// The top level or `facts`: None when it (or what it leads to) is not an object.
struct Object<'w>(Level, &'w BTreeSet<&'w str>);

impl<'de> Visitor<'de> for Object<'_> {
    type Value = Option<Found<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a companyfacts object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (level, wanted) = (self.0, self.1);
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (level, key.as_ref()) {
                (Level::Top, "facts") => {
                    found = map.next_value_seed(Object(Level::Facts, wanted))?;
                }
                (Level::Facts, "us-gaap") => {
                    let gaap = map.next_value_seed(Gaap(wanted))?;
                    found = Some(gaap.unwrap_or_default());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // `facts` without `us-gaap` is a companyfacts document with no usable concept.
        Ok(match level {
            Level::Facts => Some(found.unwrap_or_default()),
            Level::Top => found,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CellSeed.visit_seq(seq).map(|_| None)
    }
    scalars_are!(None);
}

impl<'de> DeserializeSeed<'de> for Object<'_> {
    type Value = Option<Found<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// `us-gaap`: the wanted concepts, each with its chosen unit's facts (None when a concept has
/// no `units` object or no unit).
struct Gaap<'w>(&'w BTreeSet<&'w str>);

impl<'de> Visitor<'de> for Gaap<'_> {
    type Value = Option<Found<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the us-gaap object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.0.contains(key.as_ref()) {
                // A repeated concept: the last one counts, as in an object read whole.
                let units = map.next_value_seed(Units(true))?;
                found.insert(key.into_owned(), units);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(found))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CellSeed.visit_seq(seq).map(|_| None)
    }
    scalars_are!(None);
}

impl<'de> DeserializeSeed<'de> for Gaap<'_> {
    type Value = Option<Found<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A concept (`Units(true)`: its `units`) or its `units` object (`Units(false)`): the best
/// unit and its facts, kept as raw JSON while the keys go by.
struct Units(bool);

type Chosen<'de> = Option<(String, &'de RawValue)>;

impl<'de> Visitor<'de> for Units {
    type Value = Chosen<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a concept")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut best: Chosen<'de> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.0 {
                if key == "units" {
                    best = map.next_value_seed(Units(false))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            let better = best
                .as_ref()
                .is_none_or(|(b, _)| unit_rank(&key) <= unit_rank(b));
            if better {
                best = Some((key.into_owned(), raw));
            }
        }
        Ok(best)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CellSeed.visit_seq(seq).map(|_| None)
    }
    scalars_are!(None);
}

impl<'de> DeserializeSeed<'de> for Units {
    type Value = Chosen<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A unit's facts: each handed to the callback with its index; false when not an array.
struct Facts<'f>(&'f mut dyn FnMut(usize, &FactFields));

impl<'de> Visitor<'de> for Facts<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of facts")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut i = 0;
        while let Some(item) = seq.next_element_seed(FactSeed)? {
            (self.0)(i, &item);
            i += 1;
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        CellSeed.visit_map(map).map(|_| false)
    }
    scalars_are!(false);
}

/// One fact: its fields when it is an object (strings for `end`/`start`/`filed`, a `Cell`
/// for `val`), nothing for any other value (then `end` is missing).
struct FactSeed;

impl<'de> DeserializeSeed<'de> for FactSeed {
    type Value = FactFields;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FactFields, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FactSeed {
    type Value = FactFields;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fact")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FactFields, A::Error> {
        let mut f = FactFields::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "end" => &mut f.end,
                "start" => &mut f.start,
                "filed" => &mut f.filed,
                "val" => {
                    f.val = Some(map.next_value_seed(CellSeed)?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // Only strings count as dates; anything else is as good as missing.
            *slot = match map.next_value_seed(CellSeed)? {
                Cell::Str(s) => Some(s),
                _ => None,
            };
        }
        Ok(f)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FactFields, A::Error> {
        CellSeed.visit_seq(seq).map(|_| FactFields::default())
    }
    scalars_are!(FactFields::default());
}
