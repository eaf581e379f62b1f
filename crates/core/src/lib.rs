//! aivex-core: the few types every layer of aivex shares.
//!
//! It owns the module error hierarchy, the single table that turns those errors into process
//! exit codes, the `Module` trait that built-in modules implement, `Candle`, the OHLCV bar
//! the market, store and chart layers pass between them, and `contract`: every contract
//! between aivex's processes (child environment, run layout, runtime state, stored signal,
//! symbol) as one type each. It must not do I/O, read the clock, or depend on any other aivex
//! crate: everything else depends on it.

#![forbid(unsafe_code)]

pub mod candle;
pub mod contract;
pub mod error;
pub mod exit;
pub mod module;

pub use candle::Candle;
pub use error::ModuleError;
pub use module::{Ctx, CtxHooks, Module, ModuleEnv};
