//! aivex-core: the few types every layer of aivex shares.
//!
//! It owns the module error hierarchy, the single table that turns those errors into process
//! exit codes, the `Module` trait that built-in modules implement, and `Candle`, the OHLCV bar
//! the market, store and chart layers pass between them. It must not do I/O,
//! read the clock, or depend on any other aivex crate: everything else depends on it.

pub mod candle;
pub mod error;
pub mod exit;
pub mod module;

pub use candle::Candle;
pub use error::ModuleError;
pub use module::{Ctx, CtxHooks, Module, ModuleEnv};
