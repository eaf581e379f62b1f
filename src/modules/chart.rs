//! The `chart` built-in module (being written).
use aivex_core::{Module, ModuleEnv, ModuleError};

pub fn construct(_env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Err(ModuleError::Config("the chart module is not built yet".into()))
}
