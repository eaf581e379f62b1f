//! The command line: parses arguments into a `Command`, runs it, and decides the process exit
//! code. Exit codes are decided here and nowhere else (module runner codes come from
//! aivex-core's table through `runner`).

mod args;
mod commands;

use std::fmt;

/// The CLI layer's error. Each variant has one exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad command line (exit 2).
    Usage(String),
    /// Invalid or unreadable configuration (exit 2).
    Config(crate::config::ConfigError),
    /// Something failed at run time (exit 1).
    Failed(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n(see `aivex --help`)"),
            CliError::Config(e) => write!(f, "invalid configuration:\n{e}"),
            CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<crate::tools::ToolError> for CliError {
    fn from(e: crate::tools::ToolError) -> Self {
        use crate::tools::ToolError;
        match e {
            ToolError::Usage(m) => CliError::Usage(m),
            ToolError::Config(c) => CliError::Config(c),
            ToolError::Failed(m) => CliError::Failed(m),
        }
    }
}

impl CliError {
    fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Config(_) => aivex_core::exit::CONFIG,
            CliError::Failed(_) => 1,
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cmd = match args::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aivex: {e}");
            return e.exit_code();
        }
    };
    match commands::dispatch(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aivex: {e}");
            e.exit_code()
        }
    }
}
