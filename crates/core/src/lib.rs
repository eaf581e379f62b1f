//! aivex-core: the few types every layer of aivex shares.
//!
//! It owns the module error hierarchy, the single table that turns those errors into process
//! exit codes, and the `Module` trait that built-in modules implement. It must not do I/O,
//! read the clock, or depend on any other aivex crate: everything else depends on it.

pub mod error;
pub mod exit;
pub mod module;

pub use error::ModuleError;
pub use module::{Ctx, CtxHooks, Module, ModuleEnv};
