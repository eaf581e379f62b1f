//! Socket helpers beyond `raw`: connecting as another loopback peer or with a small receive
//! window, and reading single responses (or heads) off a kept-alive connection.

use super::{parse, Resp, DEADLINE};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// Connects to `addr` from `source` (another loopback address, to be another peer) with a
/// receive buffer of `rcvbuf` bytes if given (set before connecting, so the window stays small:
/// a client that reads nothing then stalls the server's writes early).
pub fn connect_with(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
    rcvbuf: Option<i32>,
) -> TcpStream {
    use std::os::fd::FromRawFd;
    let (SocketAddr::V4(dst), None | Some(std::net::IpAddr::V4(_))) = (addr, source) else {
        panic!("connect_with: IPv4 only");
    };
    let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns until it is wrapped below;
    // the sockaddr structs live across the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        if let Some(n) = rcvbuf {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&n as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
        if let Some(std::net::IpAddr::V4(src)) = source {
            let a = sin(src, 0);
            let r = libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), len);
            assert_eq!(r, 0, "bind {src}: {}", std::io::Error::last_os_error());
        }
        let a = sin(*dst.ip(), dst.port());
        let r = libc::connect(fd, (&a as *const libc::sockaddr_in).cast(), len);
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
        let s = TcpStream::from_raw_fd(fd);
        let _ = s.set_read_timeout(Some(DEADLINE));
        let _ = s.set_write_timeout(Some(DEADLINE));
        s
    }
}

/// Reads exactly one response from a kept-alive connection (by Content-Length).
pub fn read_one(s: &mut TcpStream) -> Resp {
    let head = read_head(s);
    let len = head
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)
        .unwrap_or_else(|e| panic!("read body: {e}"));
    Resp {
        body: String::from_utf8_lossy(&body).into_owned(),
        ..head
    }
}

/// Reads one response head (status and headers, no body) and nothing after it.
pub fn read_head(s: &mut TcpStream) -> Resp {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the end of the head, so nothing of the next response is consumed.
    while !buf.ends_with(b"\r\n\r\n") {
        assert!(start.elapsed() < DEADLINE, "no response head in time");
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            Ok(_) => panic!(
                "connection closed after {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&buf)),
        }
    }
    // A head alone parses as a response with an empty body (its Content-Length dropped).
    let text = String::from_utf8_lossy(&buf).into_owned();
    let no_len: String = text
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let mut head = parse(no_len.as_bytes()).unwrap_or_else(|| panic!("bad head {text:?}"));
    head.headers = text
        .split("\r\n")
        .skip(1)
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    head
}
