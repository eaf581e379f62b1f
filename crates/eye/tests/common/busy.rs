//! Keeping Eye's only worker busy on purpose: a feedback POST that waits for the store's
//! write lock, held by the test through the backend's own client (rusqlite, mysql).

use super::{connect, Fixture};
use serde_json::json;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};

/// Holds the store's write lock on feedback while it lives, so a `POST /signals/feedback`
/// keeps a worker busy until it is dropped: SQLite's write lock (the worker waits in its busy
/// timeout), MariaDB's table lock.
pub enum FeedbackLock {
    Sqlite(rusqlite::Connection),
    Mysql(mysql::Conn),
}

impl FeedbackLock {
    pub fn take(f: &Fixture) -> FeedbackLock {
        if let Some(path) = f.db_url.strip_prefix("sqlite://") {
            let c = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open: {e}"));
            c.execute_batch("BEGIN IMMEDIATE")
                .unwrap_or_else(|e| panic!("lock: {e}"));
            FeedbackLock::Sqlite(c)
        } else {
            use mysql::prelude::Queryable;
            let mut c = mysql::Opts::from_url(&f.db_url)
                .map_err(mysql::Error::from)
                .and_then(mysql::Conn::new)
                .unwrap_or_else(|e| panic!("connect: {e}"));
            c.query_drop("LOCK TABLES signal_feedback WRITE")
                .unwrap_or_else(|e| panic!("lock: {e}"));
            FeedbackLock::Mysql(c)
        }
    }

    pub fn release(self) {
        match self {
            FeedbackLock::Sqlite(c) => {
                let _ = c.execute_batch("COMMIT");
            }
            FeedbackLock::Mysql(mut c) => {
                use mysql::prelude::Queryable;
                let _ = c.query_drop("UNLOCK TABLES");
            }
        }
    }
}

/// The raw bytes of a feedback POST for `signal_id` from `source`.
pub fn feedback_request(signal_id: &str, source: &str) -> Vec<u8> {
    let body = json!({"signal_id": signal_id, "outcome": "hit", "source": source}).to_string();
    format!(
        "POST /signals/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends a feedback POST and returns the open connection (the answer comes later).
pub fn send_feedback(addr: SocketAddr, signal_id: &str, source: &str) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(&feedback_request(signal_id, source))
        .unwrap_or_else(|e| panic!("write: {e}"));
    s
}
