//! aivex-cluster: the pure core of several aivex boxes sharing one MySQL/MariaDB store.
//!
//! It owns the shard of a symbol (`shard`), which live node should hold which shard
//! (`balance`: rendezvous hashing with a bounded load) and what a node does about its leases on
//! one tick (`lease`: acquire, renew, release), plus how a lease table reads as health
//! (`health`). Every function is a pure function of what was read from the database and of
//! times the database computed (ages and "expires in" seconds on the database's clock): this
//! crate must not do I/O, read any clock, log or depend on another aivex crate. The shell (the
//! supervisor's lease thread, brain's fencing, `aivex cluster status`, Eye) reads the rows and
//! carries the actions out through `aivex-store`.

#![forbid(unsafe_code)]

pub mod balance;
pub mod health;
pub mod lease;
pub mod shard;

pub use balance::assign;
pub use health::{judge, Health};
pub use lease::{plan, Action, Lease, Node, Params};
pub use shard::{shard_of, symbols_of, MAX_SHARDS};
