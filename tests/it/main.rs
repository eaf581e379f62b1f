//! aivex's integration tests: one binary, organised by feature, each test driving the real
//! `aivex` executable through `harness`. Every wait has a hard deadline.

mod harness;

mod config;
mod control;
mod runner;
mod sandbox;
mod supervisor;
mod systemd;
