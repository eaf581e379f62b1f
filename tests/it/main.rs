//! aivex's integration tests: one binary, organised by feature, each test driving the real
//! `aivex` executable through `harness`. Every wait has a hard deadline.

mod browser;
mod dash_store;
mod fixtures;
mod harness;
mod receiver;

mod alerts;
mod brain;
mod cluster;
mod cluster_nodes;
mod config;
mod control;
mod cost;
mod dashboard;
mod demo;
mod eye;
mod eye_read_model;
mod faults;
mod history;
mod hostile;
mod leftovers;
mod order;
mod pipeline;
mod runner;
mod sandbox;
mod schema;
mod secrets;
mod signals;
mod supervisor;
mod symbols;
mod systemd;
