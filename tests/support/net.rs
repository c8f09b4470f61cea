//! Raw TCP to a server, for what HTTP clients hide: connections from a chosen loopback
//! address (limits may be per client address), requests sent in pieces or never finished,
//! and watching the server close a connection.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A second loopback address: clients there are another client address than 127.0.0.1.
pub const OTHER_LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A third loopback address.
pub const THIRD_LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// Raises this process's open-file limit to its hard limit; returns the limit now in force.
pub fn raise_open_files() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Connects to `server` from `local` (any port).
pub async fn connect_from(local: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(server))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The head of a `POST /mcp` of a 2026-07-28 `server/discover` with a body of `length` bytes.
pub fn post_head(host: &str, length: usize, extra: &[(&str, &str)]) -> String {
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {}\r\n\
         Mcp-Method: server/discover\r\nContent-Length: {length}\r\n",
        super::http::VERSION
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// An HTTP answer read off a raw connection.
#[derive(Debug)]
pub struct RawReply {
    /// The status code.
    pub status: u16,
    /// The head, as text.
    pub head: String,
    /// The body, as text.
    pub body: String,
}

impl RawReply {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// Reads one HTTP/1.1 answer (with a `Content-Length` body) within `within`.
pub async fn read_reply(stream: &mut TcpStream, within: Duration) -> Result<RawReply, String> {
    tokio::time::timeout(within, async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return Err(format!("closed before a whole answer: {buf:?}")),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line: {head:?}"))?;
        let mut reply = RawReply {
            status,
            head,
            body: String::new(),
        };
        let length: usize = reply
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read body: {e}")),
            }
        }
        reply.body = String::from_utf8_lossy(&body).into_owned();
        Ok(reply)
    })
    .await
    .map_err(|_| format!("no answer within {within:?}"))?
}

/// Waits up to `within` for the server to close `stream` (end of stream or reset), reading
/// and discarding whatever it sends; returns how long that took, or `None`.
pub async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// Sends `bytes` then waits up to `within` for an answer; `Err` when the server closed the
/// connection without one, or none came.
pub async fn send_and_read(
    stream: &mut TcpStream,
    bytes: &[u8],
    within: Duration,
) -> Result<RawReply, String> {
    stream
        .write_all(bytes)
        .await
        .map_err(|e| format!("write: {e}"))?;
    read_reply(stream, within).await
}
