//! The control socket's server side: accepts connections on a thread, reads one bounded request
//! with a deadline, hands it to the supervisor loop as an event and writes back the reply.
//! Malformed or slow clients are answered (or dropped) here and never reach the loop.

use super::protocol::{self, Request};
use crossbeam_channel::Sender;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A request on its way to the supervisor loop, with where to send the answer.
pub struct Envelope {
    pub request: Request,
    pub reply: Sender<serde_json::Value>,
}

const MAX_CLIENTS: usize = 8;

/// Binds the socket (replacing a stale one: the caller holds the data-dir lock) with mode 0600
/// and serves it on a background thread.
pub fn start<E: Send + 'static>(
    path: &Path,
    events: Sender<E>,
    wrap: fn(Envelope) -> E,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                if busy.load(Ordering::SeqCst) >= MAX_CLIENTS {
                    let mut s = stream;
                    let _ = writeln!(
                        s,
                        "{}",
                        protocol::err("supervisor busy: too many control connections")
                    );
                    continue;
                }
                busy.fetch_add(1, Ordering::SeqCst);
                let (events, mine) = (events.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        serve(stream, &events, wrap);
                        mine.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
    Ok(())
}

fn serve<E>(stream: UnixStream, events: &Sender<E>, wrap: fn(Envelope) -> E) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half.take(protocol::MAX_REQUEST as u64 + 1));
    let mut line = Vec::new();
    let reply = match reader.read_until(b'\n', &mut line) {
        Err(e) => protocol::err(format!("could not read request: {e}")),
        Ok(_) => match protocol::parse(&line) {
            Err(e) => protocol::err(e),
            Ok(request) => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                if events.send(wrap(Envelope { request, reply: tx })).is_err() {
                    protocol::err("supervisor is shutting down")
                } else {
                    rx.recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| protocol::err("supervisor did not answer within 10s"))
                }
            }
        },
    };
    let mut w = stream;
    let _ = writeln!(w, "{reply}");
}
