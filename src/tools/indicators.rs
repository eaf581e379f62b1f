//! `aivex indicators FILE`: prints the TA-Lib indicator table of a bar file (any format the
//! chart module accepts) as CSV on stdout, so a user can inspect and check it.
//!
//! A thin shell over aivex-market: it reads the file and prints; it must not compute anything
//! itself. Bad rows are warnings on stderr (the good rows still print); a file that cannot be
//! read or parsed at all is an error (exit 1).

use super::ToolError;
use std::io::Write;
use std::path::Path;

pub fn indicators(file: &Path) -> Result<(), ToolError> {
    let name = file.display().to_string();
    let bytes =
        std::fs::read(file).map_err(|e| ToolError::Failed(format!("cannot read {name}: {e}")))?;
    let parsed =
        aivex_market::parse_bars(&bytes, &name).map_err(|e| ToolError::Failed(e.to_string()))?;
    for e in &parsed.errors {
        eprintln!("warning: {e}");
    }
    if parsed.bars.is_empty() {
        return Err(ToolError::Failed(format!("{name}: no usable bars")));
    }
    let table = aivex_market::indicator_table(&parsed.bars);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    aivex_market::write_indicator_csv(&table, &mut out)
        .and_then(|()| out.flush())
        .map_err(|e| ToolError::Failed(format!("cannot write the table: {e}")))?;
    Ok(())
}
