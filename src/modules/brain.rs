//! The `brain` built-in module (being written).
use aivex_core::{Module, ModuleEnv, ModuleError};

pub fn construct(_env: &ModuleEnv) -> Result<Box<dyn Module>, ModuleError> {
    Err(ModuleError::Config("the brain module is not built yet".into()))
}
