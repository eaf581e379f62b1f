//! aivex's integration tests: one binary, organised by feature, each test driving the real
//! `aivex` executable through `harness`. Every wait has a hard deadline.

mod fixtures;
mod harness;

mod brain;
mod config;
mod control;
mod eye;
mod hostile;
mod pipeline;
mod runner;
mod sandbox;
mod signals;
mod supervisor;
mod systemd;
