//! The HTTP listener: accepts connections, caps them, serves each with hyper's HTTP/1.1
//! server (with a header-read timeout), and drains them on shutdown.
//!
//! - **TCP_NODELAY** on every connection: without it, replies written in pieces wait for
//!   delayed ACKs (~40 ms each).
//! - **Connection caps**: at most `max_connections` open connections, and at most
//!   `max_connections_per_ip` from one client address (IPv6: one /64); 0 turns the per-address
//!   cap off. A connection beyond a cap is accepted and closed at once (the client sees the
//!   connection closed before any answer), rather than left waiting in the kernel's queue:
//!   a load balancer then tries another instance at once, and waiting clients cannot pile up.
//!   Refusals are logged at most once per [`REFUSAL_LOG_EVERY`], with their count.
//! - **Idle and header-read timeouts.** A connection waiting for a request (accepted, or its
//!   previous response sent) is closed after `idle_timeout` without a byte; once the first
//!   byte of a request arrives, its head must be complete within `header_read_timeout`.
//!   hyper has one timer for both (`header_read_timeout`: its source, `proto/h1/conn.rs`,
//!   arms it in `poll_read_head`, which runs as soon as a connection is idle, so it counts
//!   idle time and head time together). One value cannot be both a short slow-header bound
//!   and a keep-alive idle time longer than a load balancer's (which must be longer, or the
//!   balancer sends requests on connections baton is closing), so each connection tracks
//!   its own [`Phase`] and enforces the two separately; hyper's timer stays on, set to
//!   their sum, as a backstop.
//! - **Drain**: on shutdown the listener closes (new connections are refused), idle
//!   connections close, requests in flight may finish within the grace; then `cut` is
//!   cancelled (rmcp ends the handlers still running), and it is logged.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{
    body::{Bytes, Frame, Incoming, SizeHint},
    server::conn::http1,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::limits::client_key;

/// How often refused connections (and accept errors) are logged at most.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Open files kept free for everything but client connections (database connections, the
/// SQLite files, logs, the listener).
pub const RESERVED_FILES: u64 = 256;

/// How connections are handled.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// Most open connections from one client address; 0: no per-address cap.
    pub max_connections_per_ip: usize,
    /// Longest a connection may wait without a byte of a request.
    pub idle_timeout: Duration,
    /// Longest a request head may take, from its first byte.
    pub header_read_timeout: Duration,
}

/// Raises this process's open-file limit to its hard limit, and checks that it leaves room
/// for `max_connections`. Returns the limit.
pub fn ensure_open_files(max_connections: usize) -> anyhow::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let needed = (max_connections as u64).saturating_add(RESERVED_FILES);
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        // The hard limit, or (where the kernel refuses that, e.g. an unlimited hard limit on
        // macOS) just what is needed.
        for current in [limit.maximum, Some(needed)] {
            let raised = rustix::process::Rlimit {
                current,
                maximum: limit.maximum,
            };
            // `None` is no limit at all.
            let more = current.unwrap_or(u64::MAX) > limit.current.unwrap_or(u64::MAX);
            if more && setrlimit(Resource::Nofile, raised).is_ok() {
                break;
            }
        }
    }
    let current = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    anyhow::ensure!(
        current >= needed,
        "--max-connections {max_connections} needs about {needed} open files, but this process \
         may open only {current} (RLIMIT_NOFILE, already raised to its hard limit): raise the \
         limit (ulimit -n, systemd LimitNOFILE=) or lower --max-connections"
    );
    Ok(current)
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place in [`PerAddress`], given back when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    fn claim(table: &Arc<PerAddress>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let key = client_key(ip);
        let mut open = table.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if cap != 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: Arc::clone(table),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What a connection is doing, for its idle and header-read timeouts: waiting for a request
/// (idle), reading a request head, or serving a request (from the moment its head is parsed
/// until its response body has been written). Packed in one word: the phase in the top two
/// bits, the milliseconds since the connection opened when it began in the rest.
struct Phase {
    state: AtomicU64,
    opened: Instant,
    changed: Notify,
}

const PHASE_BITS: u64 = 0b11 << 62;
const IDLE: u64 = 0;
const HEAD: u64 = 1 << 62;
const BUSY: u64 = 2 << 62;

impl Phase {
    fn new() -> Arc<Phase> {
        Arc::new(Phase {
            state: AtomicU64::new(IDLE),
            opened: Instant::now(),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        (self.opened.elapsed().as_millis() as u64) & !PHASE_BITS
    }

    fn set(&self, phase: u64) {
        self.state.store(phase | self.now(), Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn bytes_read(&self) {
        let current = self.state.load(Ordering::Acquire);
        if current & PHASE_BITS == IDLE
            && self
                .state
                .compare_exchange(
                    current,
                    HEAD | self.now(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// Resolves when the connection has been idle for `idle`, or reading one head for `head`;
    /// says which.
    async fn expired(&self, idle: Duration, head: Duration) -> &'static str {
        loop {
            let state = self.state.load(Ordering::Acquire);
            let (limit, what) = match state & PHASE_BITS {
                IDLE => (idle, "idle"),
                HEAD => (head, "reading a request head"),
                _ => {
                    self.changed.notified().await;
                    continue;
                }
            };
            let since = Duration::from_millis(state & !PHASE_BITS);
            let deadline = self.opened + since + limit;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {
                    if self.state.load(Ordering::Acquire) == state {
                        return what;
                    }
                }
                _ = self.changed.notified() => {}
            }
        }
    }
}

/// A client connection that tells its [`Phase`] when bytes arrive.
struct Watched {
    tcp: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A response body that puts its connection back to idle once written (or dropped).
struct Tracked {
    body: Body,
    phase: Arc<Phase>,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.phase.set(IDLE);
    }
}

/// Logs a recurring event at most once per [`REFUSAL_LOG_EVERY`], with how often it happened.
struct Throttled {
    what: &'static str,
    count: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Throttled {
    const fn new(what: &'static str) -> Self {
        Throttled {
            what,
            count: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }

    fn record(&self, detail: &dyn std::fmt::Display) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
            *last = Some(Instant::now());
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(count, "{}: {detail}", self.what);
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains: no new connections;
/// requests in flight may finish for up to `grace`; when the grace is over it cancels `cut`
/// (the app's in-flight work), logs it, waits a moment for the cut handlers to answer, and
/// returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
    cut: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let connections = TaskTracker::new();
    let drain = CancellationToken::new();
    let refused = Throttled::new("refused connections over the connection cap");
    let accept_failed = Throttled::new("could not accept connections");
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout)
        .keep_alive(true);

    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    accept_failed.record(&e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refused.record(&format_args!(
                "{} open connections (--max-connections)",
                limits.max_connections
            ));
            continue;
        };
        let Some(address_slot) =
            PerAddress::claim(&per_address, peer.ip(), limits.max_connections_per_ip)
        else {
            refused.record(&format_args!(
                "{} open connections from {} (--max-connections-per-ip)",
                limits.max_connections_per_ip,
                client_key(peer.ip())
            ));
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let phase = Phase::new();
        let (busy, done) = (Arc::clone(&phase), Arc::clone(&phase));
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    busy.set(BUSY);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                })
                .map_response(move |response: axum::response::Response| {
                    let phase = Arc::clone(&done);
                    response.map(|body| Body::new(Tracked { body, phase }))
                }),
        );
        let io = TokioIo::new(Watched {
            tcp,
            phase: Arc::clone(&phase),
        });
        let connection = http.serve_connection(io, service);
        let drain = drain.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                what = phase.expired(limits.idle_timeout, limits.header_read_timeout) => {
                    tracing::debug!(%peer, "closing a connection that timed out {what}");
                    Ok(())
                }
                _ = drain.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop((slot, address_slot));
        });
    }

    // Draining: no new connections; requests in flight may finish within the grace.
    drop(listener);
    drain.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "the shutdown grace is over: cutting the requests still in flight"
        );
        cut.cancel();
        // Give the cut handlers a moment to answer before the connections close.
        let _ = tokio::time::timeout(Duration::from_millis(500), connections.wait()).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn per_address_slots_are_capped_and_given_back() {
        let table = Arc::new(PerAddress::default());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = PerAddress::claim(&table, a, 2).unwrap();
        let _second = PerAddress::claim(&table, a, 2).unwrap();
        assert!(PerAddress::claim(&table, a, 2).is_none(), "the cap holds");
        assert!(PerAddress::claim(&table, b, 2).is_some(), "per address");
        drop(first);
        assert!(
            PerAddress::claim(&table, a, 2).is_some(),
            "a slot came back"
        );
        assert!(PerAddress::claim(&table, a, 0).is_some(), "0: no cap");
    }

    #[tokio::test]
    async fn a_connection_times_out_idle_or_reading_a_head_but_never_while_busy() {
        let (short, long) = (Duration::from_millis(30), Duration::from_secs(600));
        let phase = Phase::new();
        assert_eq!(phase.expired(short, long).await, "idle");

        let phase = Phase::new();
        phase.bytes_read();
        assert_eq!(phase.expired(long, short).await, "reading a request head");

        // Busy: no timeout runs until the response is done, whatever the limits.
        let phase = Phase::new();
        phase.set(BUSY);
        let done = Arc::clone(&phase);
        let started = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            done.set(IDLE);
        });
        assert_eq!(phase.expired(short, short).await, "idle");
        assert!(started.elapsed() >= Duration::from_millis(200));

        // Bytes while busy (a request body) do not start a head.
        let phase = Phase::new();
        phase.set(BUSY);
        phase.bytes_read();
        assert_eq!(phase.state.load(Ordering::Acquire) & PHASE_BITS, BUSY);
    }

    #[test]
    fn empty_addresses_leave_the_table() {
        let table = Arc::new(PerAddress::default());
        let slots: Vec<_> = (1..=50u8)
            .map(|i| PerAddress::claim(&table, IpAddr::from([10, 0, 0, i]), 1).unwrap())
            .collect();
        assert_eq!(table.open.lock().unwrap().len(), 50);
        drop(slots);
        assert!(table.open.lock().unwrap().is_empty());
    }
}
