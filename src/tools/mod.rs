//! One-shot operator tools behind `aivex migrate`, `aivex indicators`, `aivex news-preview` and
//! `aivex calibrate`. Each is a thin shell over its layer's crate, in its own file.

mod calibrate;
mod indicators;
pub mod migrate;
mod news_preview;

pub use calibrate::calibrate;
pub use indicators::indicators;
pub use migrate::migrate;
pub use news_preview::news_preview;
