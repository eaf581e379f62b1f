//! The backlog of complete requests, over real HTTP against SQLite and MariaDB: a request whose
//! client has gone is dropped before any work is done (its feedback is never stored), and after
//! a burst of clients that gave up, new clients are queued and served, not shed with 503.
//! A worker is kept busy by holding the store's write lock under a feedback POST.

mod common;

use common::{read_one, send_feedback, Backend, FeedbackLock, Fixture};
use std::net::Shutdown;
use std::time::Duration;

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $mysql:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(Backend::Sqlite);
        }
        #[test]
        fn $mysql() {
            $scenario(Backend::Mysql);
        }
    };
}

both!(
    a_gone_clients_request_is_not_served,
    a_gone_clients_request_is_not_served_sqlite,
    a_gone_clients_request_is_not_served_mysql
);
both!(
    no_503_storm_after_a_burst_that_gave_up,
    no_503_storm_after_a_burst_that_gave_up_sqlite,
    no_503_storm_after_a_burst_that_gave_up_mysql
);

fn sources(f: &Fixture) -> Vec<String> {
    f.store
        .feedback_since(None)
        .unwrap_or_else(|e| panic!("feedback: {e}"))
        .into_iter()
        .map(|fb| fb.source)
        .collect()
}

fn a_gone_clients_request_is_not_served(b: Backend) {
    let Some(mut f) = Fixture::new(b, |c| c.workers = 1) else {
        return;
    };
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    let lock = FeedbackLock::take(&f);
    let mut busy = send_feedback(f.addr, &id, "holds-the-worker");
    std::thread::sleep(Duration::from_millis(300));
    // Complete, queued behind the busy one, and then its client goes away.
    let gone = send_feedback(f.addr, &id, "client-gave-up");
    std::thread::sleep(Duration::from_millis(200));
    let _ = gone.shutdown(Shutdown::Both);
    drop(gone);
    std::thread::sleep(Duration::from_millis(100));
    let mut live = send_feedback(f.addr, &id, "client-still-there");
    std::thread::sleep(Duration::from_millis(100));
    lock.release();
    assert_eq!(read_one(&mut busy).status, 201);
    assert_eq!(read_one(&mut live).status, 201);
    let got = sources(&f);
    assert!(got.contains(&"holds-the-worker".to_string()), "{got:?}");
    assert!(got.contains(&"client-still-there".to_string()), "{got:?}");
    assert!(
        !got.contains(&"client-gave-up".to_string()),
        "the request of a client that had gone was served: {got:?}"
    );
}

fn no_503_storm_after_a_burst_that_gave_up(b: Backend) {
    let Some(mut f) = Fixture::new(b, |c| {
        c.workers = 1;
        c.queue = 4;
    }) else {
        return;
    };
    let id = f.signal(&f.symbol(0), f.base, 0, false);
    let lock = FeedbackLock::take(&f);
    let mut busy = send_feedback(f.addr, &id, "burst-busy");
    std::thread::sleep(Duration::from_millis(300));
    // A burst fills the queue, then gives up.
    let burst: Vec<_> = (0..4)
        .map(|i| send_feedback(f.addr, &id, &format!("burst-gone-{i}")))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for s in burst {
        let _ = s.shutdown(Shutdown::Both);
    }
    std::thread::sleep(Duration::from_millis(100));
    // New clients while the worker is still busy: queued, not turned away.
    let mut fresh: Vec<_> = (0..4)
        .map(|i| send_feedback(f.addr, &id, &format!("burst-new-{i}")))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    lock.release();
    assert_eq!(read_one(&mut busy).status, 201);
    let statuses: Vec<u16> = fresh.iter_mut().map(|s| read_one(s).status).collect();
    assert_eq!(statuses, vec![201; 4]);
    let got = sources(&f);
    assert!(got.iter().all(|s| !s.starts_with("burst-gone-")), "{got:?}");
}
