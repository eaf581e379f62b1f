//! The control plane: a Unix socket (mode 0600, created under umask 077) in the data directory
//! through which `aivex status|start|stop|restart|reset|reload` talk to the running supervisor;
//! only root and the supervisor's own user are answered (`SO_PEERCRED`).
//!
//! `protocol` is the wire format (one JSON line each way), `server` the socket thread that turns
//! requests into supervisor events, `client` what the CLI uses. The supervisor loop answers
//! requests; nothing here touches module state.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};

/// Where the socket lives for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    aivex_core::contract::RunLayout::new(data_dir).socket()
}
