//! Binance klines JSON (`[[openTime, "open", "high", "low", "close", "volume", ...], ...]`)
//! and Binance's error body, read kline by kline with serde visitors: no `Value` tree, so
//! memory is the bars kept plus a few fields, and a document of junk items costs nothing but
//! the (capped) errors.
//!
//! Pure; must not touch the clock. A bad kline is a `RowError` with its index.

use crate::bars::{check_bar, Bar};
use crate::error::{push_error, MarketError, Position, RowError};
use crate::json::{cell_number, scalars_are, Cell, CellSeed};
use crate::time::epoch_units_to_seconds;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Characters of Binance's error `code`/`msg` kept in the message.
const MAX_PROVIDER_TEXT: usize = 200;

/// The shortest kline (`[0,1,1,1,1,1],`): bounds how many bars a document can hold, so the
/// bar vector is sized once instead of doubling.
const MIN_KLINE_BYTES: usize = 14;

/// What the klines of a document gave.
pub(crate) struct Klines {
    pub bars: Vec<Bar>,
    pub errors: Vec<RowError>,
    pub omitted: usize,
}

pub(crate) fn parse_klines(body: &[u8], source: &str) -> Result<Klines, MarketError> {
    let mut out = Klines {
        bars: Vec::with_capacity(body.len() / MIN_KLINE_BYTES + 1),
        errors: Vec::new(),
        omitted: 0,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let top = de
        .deserialize_any(Top {
            out: &mut out,
            source,
        })
        .and_then(|t| de.end().map(|()| t))
        .map_err(|e| MarketError::BadJson {
            source: source.to_string(),
            detail: e.to_string(),
        })?;
    let detail = match top {
        Shape::Klines => return Ok(out),
        // Binance's error body: {"code": -1121, "msg": "Invalid symbol."}.
        Shape::Provider(detail) => {
            return Err(MarketError::ProviderError {
                source: source.to_string(),
                detail,
            })
        }
        Shape::Object => "a JSON object, expected a klines array of arrays",
        Shape::Other => "JSON that is not a klines array",
    };
    Err(MarketError::UnknownFormat {
        source: source.to_string(),
        detail: detail.into(),
    })
}

enum Shape {
    Klines,
    Provider(String),
    Object,
    Other,
}

struct Top<'a> {
    out: &'a mut Klines,
    source: &'a str,
}

fn short(raw: &RawValue) -> String {
    let t = raw.get();
    match t.char_indices().nth(MAX_PROVIDER_TEXT) {
        Some((cut, _)) => format!("{}...", &t[..cut]),
        None => t.to_string(),
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a klines array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut i = 0usize;
        while let Some(kline) = seq.next_element_seed(KlineSeed)? {
            match kline.and_then(|cells| kline_bar(&cells)) {
                Ok(bar) => self.out.bars.push(bar),
                Err(message) => push_error(
                    &mut self.out.errors,
                    &mut self.out.omitted,
                    RowError {
                        source: self.source.to_string(),
                        at: Position::Item(i.to_string()),
                        message,
                    },
                ),
            }
            i += 1;
        }
        Ok(Shape::Klines)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let (mut code, mut msg): (Option<&RawValue>, Option<&RawValue>) = (None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "code" => code = Some(map.next_value()?),
                "msg" => msg = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match (code, msg) {
            (Some(c), Some(m)) => Shape::Provider(format!("code {}: {}", short(c), short(m))),
            _ => Shape::Object,
        })
    }
    scalars_are!(Shape::Other);
}

/// The first six fields of a kline and how many it has; `Err` when it is not an array.
struct KlineSeed;

type KlineCells = Result<(Vec<Cell>, usize), String>;

impl<'de> DeserializeSeed<'de> for KlineSeed {
    type Value = KlineCells;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KlineCells, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KlineSeed {
    type Value = KlineCells;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kline")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KlineCells, A::Error> {
        let mut cells = Vec::with_capacity(6);
        let mut n = 0usize;
        while cells.len() < 6 {
            match seq.next_element_seed(CellSeed)? {
                Some(c) => cells.push(c),
                None => return Ok(Ok((cells, n))),
            }
            n += 1;
        }
        // Close time, quote volume, trades...: counted, not kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Ok((cells, n)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KlineCells, A::Error> {
        CellSeed.visit_map(map).map(|_| Err("not an array".into()))
    }
    scalars_are!(Err("not an array".into()));
}

fn kline_bar((cells, n): &(Vec<Cell>, usize)) -> Result<Bar, String> {
    if *n < 6 {
        return Err(format!("{n} fields, a kline has at least 6"));
    }
    let open_time = match cells.first() {
        Some(Cell::Int(i)) => Some(*i),
        Some(Cell::Uint(u)) => i64::try_from(*u).ok(),
        Some(Cell::Str(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or("field 'open time' is not an integer")?;
    let ts = epoch_units_to_seconds(open_time);
    if jiff::Timestamp::from_second(ts).is_err() {
        return Err(format!("field 'open time' out of range: {open_time}"));
    }
    let field = |i: usize, name: &str| cell_number(cells.get(i).unwrap_or(&Cell::Null), name);
    check_bar(Bar {
        ts,
        open: field(1, "open")?,
        high: field(2, "high")?,
        low: field(3, "low")?,
        close: field(4, "close")?,
        adj_close: None,
        volume: field(5, "volume")?,
    })
}
