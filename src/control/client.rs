//! The CLI side of the control socket: send one request, read one reply, with deadlines, and
//! turn socket failures into messages an operator can act on (a refusal by the supervisor is
//! its reply, shown as is).

use super::protocol::Request;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub fn call(socket: &Path, req: &Request) -> Result<serde_json::Value, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
            "no supervisor is running for this config (no control socket at {}); start one with `aivex run`",
            socket.display()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "permission denied on the control socket {} (it is owner-only: run as the user that runs aivex)",
            socket.display()
        ),
        _ => format!("cannot connect to the control socket {}: {e}", socket.display()),
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let line = serde_json::to_string(req).map_err(|e| e.to_string())?;
    // The supervisor may answer before reading (a refusal, "busy") and close: then sending
    // fails, but its answer is waiting to be read and says more than "broken pipe".
    let sent = writeln!(s, "{line}");
    let mut reply = String::new();
    let read = BufReader::new(s).read_line(&mut reply);
    match (sent, read) {
        (_, Ok(n)) if n > 0 => serde_json::from_str(&reply)
            .map_err(|e| format!("unreadable reply from the supervisor: {e}")),
        (Err(e), _) => Err(format!("sending to the supervisor: {e}")),
        (Ok(()), Err(e)) => Err(format!("reading the supervisor's reply: {e}")),
        (Ok(()), Ok(_)) => Err("the supervisor closed the connection without a reply".into()),
    }
}
