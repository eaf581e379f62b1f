//! aivex: one static binary that supervises a market-signal pipeline on an edge box.
//!
//! `main` only hands the command line to `cli` and exits with the code `cli` decides. The code
//! map and the invariants are in ARCHITECTURE.md.

mod cli;
mod config;
mod control;
mod modules;
mod records;
mod runner;
mod supervisor;
mod tools;

fn main() {
    std::process::exit(cli::main());
}
