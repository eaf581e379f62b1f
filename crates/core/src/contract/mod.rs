//! The contracts between aivex's processes, each a type in one place: what the supervisor puts
//! in a module's environment (`env`), where every file under the data directory lives
//! (`layout`), the runtime state file the supervisor writes and Eye and `aivex status` read
//! (`state`), the stored shape of a signal and its decision (`signal`), and what a symbol may
//! be (`symbol`).
//!
//! Each type round-trips (written by one process, read by another) and is tested that way here.
//! Nobody else spells out a variable name, a path under `data_dir/`, a state field or a reason
//! code separator. This module must not do I/O or read the clock: the shells around it do.

pub mod env;
pub mod layout;
pub mod signal;
pub mod state;
pub mod symbol;

pub use env::{ChildEnv, ClusterEnv};
pub use layout::{RunLayout, RunPaths};
pub use signal::{
    ComponentContribution, ConfidenceFactors, Kind, Origin, OutcomeKind, ReasonCodes,
    SignalOutcome, StoredComponents, Verdict, AUTO_FEEDBACK_SOURCE,
};
pub use state::{AlertStats, HealthVerdict, LastExit, ModuleState, ModuleStatus, RuntimeState};
pub use symbol::{Symbol, SymbolError};
