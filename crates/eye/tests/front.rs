//! The front stage over real sockets: idle and slowloris floods do not starve `/health`, the
//! head deadline counts from accept, idle keep-alive connections hold no worker and stay open
//! under load, the connection caps close the oldest idle connections first, and a client that
//! never reads its response does not hold a worker past the write deadline.

mod common;

use common::{connect, connect_with, read_one, read_to_close, Backend, Fixture};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixture(tweak: impl FnOnce(&mut aivex_eye::EyeConfig)) -> Fixture {
    Fixture::new(Backend::Sqlite, tweak).unwrap_or_else(|| panic!("sqlite fixture"))
}

/// GET /health on a new connection; how long until the whole answer was in.
fn timed_health(f: &Fixture) -> Duration {
    let t0 = Instant::now();
    let r = f.get("/health", None);
    assert!(matches!(r.status, 200 | 503), "{}", r.body);
    t0.elapsed()
}

/// True when the server has closed `s` (EOF or reset within `wait`).
fn closed(s: &mut TcpStream, wait: Duration) -> bool {
    let _ = s.set_read_timeout(Some(wait));
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[test]
fn health_answers_within_a_second_under_idle_and_slowloris_floods() {
    let f = fixture(|c| c.header_timeout_s = 10.0);
    let idle: Vec<TcpStream> = (0..200).map(|_| connect(f.addr)).collect();
    let mut slow: Vec<TcpStream> = (0..20).map(|_| connect(f.addr)).collect();
    for s in &mut slow {
        let _ = s.write_all(b"GET /health HTTP/1.1\r\n");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // One header byte per client every 100 ms: every read succeeds, none completes.
            while !stop.load(Ordering::SeqCst) {
                for s in &mut slow {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            slow
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..5 {
        let took = timed_health(&f);
        assert!(took < Duration::from_secs(1), "request {i} took {took:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    let slow = trickle.join().unwrap_or_default();
    // Nobody was closed to make room: 200 + 20 connections are within the default caps.
    assert_eq!((idle.len(), slow.len()), (200, 20));
    let mut first = idle.into_iter().next().unwrap_or_else(|| connect(f.addr));
    let _ = first.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_one(&mut first).status, 200);
}

#[test]
fn the_head_deadline_counts_from_accept() {
    let f = fixture(|c| c.header_timeout_s = 1.0);
    let t0 = Instant::now();
    let mut s = connect(f.addr);
    // Silent for most of the deadline, then a first byte: the deadline must not restart.
    std::thread::sleep(Duration::from_millis(800));
    let _ = s.write_all(b"G");
    let r = read_to_close(&mut s);
    let took = t0.elapsed();
    assert_eq!((r.status, r.code().as_str()), (408, "request_timeout"));
    assert!(took < Duration::from_millis(1600), "408 after {took:?}");
    // A connection that sends nothing at all gets the same answer at the same time.
    let t0 = Instant::now();
    let mut s = connect(f.addr);
    let r = read_to_close(&mut s);
    assert_eq!(r.status, 408);
    assert!(
        t0.elapsed() < Duration::from_millis(1600),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn idle_keep_alive_connections_hold_no_worker_and_stay_open() {
    let f = fixture(|c| {
        c.workers = 1;
        c.idle_timeout_s = 30.0;
    });
    let mut kept: Vec<TcpStream> = (0..50).map(|_| connect(f.addr)).collect();
    for s in &mut kept {
        let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = read_one(s);
        assert_eq!(
            (r.status, r.header("connection")),
            (200, Some("keep-alive"))
        );
    }
    // 50 idle kept-alive connections and one worker: a newcomer is served at once...
    let took = timed_health(&f);
    assert!(took < Duration::from_secs(1), "{took:?}");
    // ...and every idle connection is still open and served again.
    for s in &mut kept {
        let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(read_one(s).status, 200);
    }
}

#[test]
fn keep_alive_connections_stay_open_under_load() {
    let f = fixture(|c| c.workers = 1);
    let addr = f.addr;
    let clients: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut closes = 0;
                for _ in 0..25 {
                    let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
                    let r = read_one(&mut s);
                    assert_eq!(r.status, 200);
                    if r.header("connection") != Some("keep-alive") {
                        closes += 1;
                    }
                }
                closes
            })
        })
        .collect();
    let closes: Vec<usize> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or(99))
        .collect();
    // 16 clients on one worker, 25 requests each on one connection: none was closed.
    assert!(closes.iter().all(|&n| n == 0), "{closes:?}");
}

#[test]
fn the_caps_close_the_oldest_idle_connections_first() {
    let f = fixture(|c| {
        c.max_connections = 6;
        c.max_connections_per_peer = 4;
    });
    let other = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let mut mine: Vec<TcpStream> = Vec::new();
    for _ in 0..4 {
        mine.push(connect(f.addr));
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut theirs: Vec<TcpStream> = (0..2).map(|_| connect_with(f.addr, other, None)).collect();
    std::thread::sleep(Duration::from_millis(100));
    // A fifth connection from 127.0.0.1: over its peer cap (and the total): its oldest goes.
    let mut fifth = connect(f.addr);
    let _ = fifth.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_one(&mut fifth).status, 200);
    assert!(
        closed(&mut mine[0], Duration::from_secs(2)),
        "oldest of 127.0.0.1 closed"
    );
    for (i, s) in mine.iter_mut().enumerate().skip(1) {
        let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(read_one(s).status, 200, "127.0.0.1 #{i} still open");
    }
    for s in &mut theirs {
        let _ = s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(read_one(s).status, 200, "127.0.0.2 untouched");
    }
    // All six busy (bodies half sent, nothing idle to close): a seventh is refused with a 503.
    drop(mine);
    drop(theirs);
    drop(fifth);
    std::thread::sleep(Duration::from_millis(200));
    let half = b"POST /signals/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let busy: Vec<TcpStream> = (0..6)
        .map(|i| {
            let src = if i < 3 { None } else { other };
            let mut s = connect_with(f.addr, src, None);
            let _ = s.write_all(half);
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut seventh = connect_with(f.addr, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))), None);
    let r = read_to_close(&mut seventh);
    assert_eq!((r.status, r.code().as_str()), (503, "overloaded"));
    drop(busy);
}

#[test]
fn a_client_that_never_reads_does_not_hold_a_worker() {
    let mut f = fixture(|c| {
        c.workers = 1;
        c.write_timeout_s = 1.5;
    });
    let sym = f.symbol(0);
    for i in 0..300 {
        f.signal(&sym, f.base + i, i as usize, false);
    }
    let req = format!("GET /signals/{sym}?limit=300 HTTP/1.1\r\nHost: x\r\n\r\n");
    let size = {
        let mut s = connect(f.addr);
        let _ = s.write_all(req.as_bytes());
        read_one(&mut s).body.len()
    };
    // A tiny receive window and 40 pipelined requests for `size` bytes each (~10 MB, more than
    // the kernel buffers on both sides hold: at most 4 MiB send buffer here), never read.
    let mut slow = connect_with(f.addr, None, Some(4096));
    let one = req.repeat(40);
    let t0 = Instant::now();
    slow.write_all(one.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    // The only worker answers others at once while the slow client's response is stuck.
    while t0.elapsed() < Duration::from_millis(1200) {
        let took = timed_health(&f);
        assert!(took < Duration::from_millis(500), "{took:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Past the write deadline the stuck connection is closed: reading it now gets what the
    // kernel had buffered (well short of 40 responses), then the end.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = slow.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = 0usize;
    let mut b = vec![0u8; 65536];
    let ended = loop {
        match slow.read(&mut b) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    };
    assert!(
        ended,
        "the stuck connection is still open after {got} bytes"
    );
    assert!(size > 150_000, "response of {size} bytes");
    assert!(got < 30 * size, "received {got} bytes of {}", 40 * size);
    assert!(matches!(f.get("/health", None).status, 200 | 503));
}
