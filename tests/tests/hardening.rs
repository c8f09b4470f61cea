//! The HTTP hardening of the real binary (issue 12): rate limits per principal and per failing
//! client address (429 with Retry-After), the order of checks (Host, Origin and
//! authentication before the body), `/healthz` and `/readyz` never shed, the body-read
//! timeout (408), the idle and header-read timeouts, and the
//! connection caps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use baton_e2e::support::{
    held::{hold_write, holdable_server, start_task},
    http::{self, discover_body},
    net::{
        OTHER_LOOPBACK, THIRD_LOOPBACK, connect_from, post_head, read_reply, send_and_read,
        wait_closed,
    },
    server::{Server, run_baton, sqlite_path, sqlite_url},
};
use tokio::io::AsyncWriteExt;

/// Creates an API key for `principal` in the SQLite database of `dir`; returns the key.
fn api_key(dir: &tempfile::TempDir, principal: &str) -> String {
    let url = sqlite_url(dir.path());
    let out = run_baton(&[
        "token",
        "create",
        "--database-url",
        &url,
        "--principal",
        principal,
    ]);
    out.stdout.trim().to_owned()
}

/// A client that sends `key` as a bearer token from `local`.
fn client_from(local: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .local_address(local)
        .build()
        .unwrap()
}

/// POSTs a `server/discover` with `key`; returns the status and `Retry-After`.
async fn discover_as(web: &reqwest::Client, server: &Server, key: &str) -> (u16, Option<u64>) {
    let bearer = format!("Bearer {key}");
    let reply = http::post(
        web,
        &server.url(),
        "server/discover",
        discover_body(1),
        &[("authorization", &bearer)],
    )
    .await;
    let retry_after = reply.header("retry-after").map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("Retry-After {v:?} is not whole seconds: {e}"))
    });
    (reply.status, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_admits_the_burst_then_the_rate_per_principal() {
    const RATE: f64 = 10.0; // per second
    const BURST: u64 = 30;
    const WINDOW: Duration = Duration::from_secs(4);
    let dir = tempfile::tempdir().unwrap();
    let alice = api_key(&dir, "alice");
    let bob = api_key(&dir, "bob");
    let server = Server::sqlite(
        dir.path(),
        &[
            "--auth",
            "api-key",
            "--rate-limit",
            "10/s",
            "--rate-burst",
            "30",
        ],
    );
    let web = http::client(Duration::from_secs(60));

    // Alice sends one request after another for WINDOW. The burst outlasts any stall of this
    // client shorter than BURST / RATE = 3 s, so the count admitted depends only on the time
    // between her first and last request as the server saw them, which lies between the
    // bounds measured here.
    let mut accepted = 0u64;
    let mut limited = 0u64;
    let mut retry_afters = Vec::new();
    let first_sent = Instant::now();
    let mut first_answered = None;
    let mut last_sent = first_sent;
    for _ in 0..5_000 {
        if first_sent.elapsed() >= WINDOW {
            break;
        }
        last_sent = Instant::now();
        let (status, retry_after) = discover_as(&web, &server, &alice).await;
        first_answered.get_or_insert_with(Instant::now);
        match status {
            200 => accepted += 1,
            429 => {
                limited += 1;
                retry_afters.push(retry_after.expect("a 429 has Retry-After"));
            }
            other => panic!("status {other}; logs:\n{}", server.logs()),
        }
    }
    let last_answered = Instant::now();
    let first_answered = first_answered.unwrap();
    let shortest = last_sent
        .saturating_duration_since(first_answered)
        .as_secs_f64();
    let longest = last_answered.duration_since(first_sent).as_secs_f64();
    let low = BURST as f64 + RATE * shortest - 2.0;
    let high = BURST as f64 + RATE * longest + 2.0;
    // GCRA admits the burst at once, then one request per 1/RATE: BURST + ⌊RATE × window⌋.
    let expected = BURST as f64 + (RATE * (shortest + longest) / 2.0).floor();
    println!(
        "rate limit {RATE}/s burst {BURST}: {accepted} admitted and {limited} refused in \
         {longest:.3} s; expected {expected:.1} (bounds {low:.1}..={high:.1}), error {:+.1} \
         ({:+.2} %)",
        accepted as f64 - expected,
        100.0 * (accepted as f64 - expected) / expected
    );
    assert!(
        (low..=high).contains(&(accepted as f64)),
        "{accepted} admitted, not within {low:.1}..={high:.1}"
    );
    assert!(limited > 0, "the rate was exceeded, so some were refused");
    // One request per 100 ms: never more than a second to wait.
    assert!(
        retry_afters.iter().all(|s| *s == 1),
        "Retry-After rounds 100 ms up to 1 s: {retry_afters:?}"
    );

    // While Alice is refused, Bob is served: budgets are per principal. (Alice may have
    // earned a request back since the loop ended; she spends it at once.)
    let mut refused = false;
    for _ in 0..100 {
        if discover_as(&web, &server, &alice).await.0 == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "Alice was not refused again");
    for _ in 0..10 {
        assert_eq!(
            discover_as(&web, &server, &bob).await.0,
            200,
            "another principal is not limited"
        );
    }
    // After Retry-After, Alice is admitted again.
    let (status, retry_after) = discover_as(&web, &server, &alice).await;
    if status == 429 {
        tokio::time::sleep(Duration::from_secs(retry_after.unwrap())).await;
        assert_eq!(discover_as(&web, &server, &alice).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_limited_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let alice = api_key(&dir, "alice");
    let server = Server::sqlite(
        dir.path(),
        &[
            "--auth",
            "api-key",
            "--auth-failure-rate-limit",
            "1/m",
            "--auth-failure-burst",
            "5",
        ],
    );
    let attacker = client_from(OTHER_LOOPBACK);
    // A well-formed key this server does not know (made for another database).
    let elsewhere = tempfile::tempdir().unwrap();
    let unknown = api_key(&elsewhere, "mallory");
    let bad = unknown.as_str();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(discover_as(&attacker, &server, bad).await);
    }
    // The burst of failures gets 401; then 429 with Retry-After (up to a minute, at 1/m).
    assert!(statuses[..5].iter().all(|(s, _)| *s == 401), "{statuses:?}");
    for (status, retry_after) in &statuses[5..] {
        assert_eq!(*status, 429, "{statuses:?}");
        let seconds = retry_after.unwrap();
        assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    }
    // A valid key from that same address is served: only failures are limited.
    assert_eq!(discover_as(&attacker, &server, &alice).await.0, 200);
    // Another address's failures have their own budget.
    let other = client_from("127.0.0.1".parse().unwrap());
    assert_eq!(discover_as(&other, &server, bad).await.0, 401);
    assert_eq!(discover_as(&other, &server, &alice).await.0, 200);
}

/// The first 64 KiB of a malformed 1 MiB body: the rest is never needed, because the answer
/// must come from the headers alone.
const BODY_START: usize = 64 * 1024;

/// Sends the head of a 1 MiB malformed `server/discover` body with `extra` headers and the
/// body's first [`BODY_START`] bytes, then reads the answer.
async fn malformed_megabyte(server: &Server, host: &str, extra: &[(&str, &str)]) -> u16 {
    let mut stream = connect_from("127.0.0.1".parse().unwrap(), server.addr)
        .await
        .unwrap();
    let head = post_head(host, 1 << 20, extra);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'{'; BODY_START]).await.unwrap();
    read_reply(&mut stream, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no answer to the head of a 1 MiB body (Host {host}, {extra:?}): {e}; logs:\n{}",
                server.logs()
            )
        })
        .status
}

#[tokio::test]
async fn host_origin_and_authentication_are_checked_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &[]);
    assert_eq!(
        malformed_megabyte(&server, "evil.example.com", &[]).await,
        403
    );
    assert_eq!(
        malformed_megabyte(
            &server,
            "127.0.0.1",
            &[("Origin", "https://evil.example.com")]
        )
        .await,
        403
    );
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &["--auth", "api-key"]);
    assert_eq!(malformed_megabyte(&server, "127.0.0.1", &[]).await, 401);
    assert_eq!(
        malformed_megabyte(
            &server,
            "127.0.0.1",
            &[("Authorization", "Bearer nonsense")]
        )
        .await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_are_never_shed() {
    let dir = tempfile::tempdir().unwrap();
    let server = holdable_server(dir.path(), &[]);
    let handle = start_task(&server, "busy").await;
    // The only slot is taken: MCP requests are shed ...
    let held = hold_write(&server, &sqlite_path(dir.path()), &handle).await;
    assert_eq!(held.shed.status, 503);
    // ... but the probes answer.
    let web = http::client(Duration::from_secs(60));
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let reply = web.get(server.http_url(path)).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{path} while saturated");
        assert_eq!(reply.text().await.unwrap().trim(), body, "{path}");
    }
    assert!(!held.call.is_finished(), "the write was still in flight");
    held.lock.release();
    assert_eq!(held.call.await.unwrap().ok()["findings_count"], 1);
}

#[tokio::test]
async fn a_body_too_slow_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &["--body-read-timeout", "2s"]);

    // 10 of 100 bytes, then nothing.
    let mut stream = connect_from(OTHER_LOOPBACK, server.addr).await.unwrap();
    let sent = Instant::now();
    let reply = send_and_read(
        &mut stream,
        format!("{}{{\"jsonrpc\":", post_head("127.0.0.1", 100, &[])).as_bytes(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let took = sent.elapsed();
    assert_eq!(reply.status, 408, "{reply:?}");
    assert!(took >= Duration::from_secs(2), "answered after {took:?}");
    assert!(
        reply.body.contains("request body not received within 2s"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed_each_by_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(
        dir.path(),
        &["--idle-timeout", "20s", "--header-read-timeout", "2s"],
    );
    let opened = Instant::now();
    // Connected, never a byte.
    let mut silent = connect_from(OTHER_LOOPBACK, server.addr).await.unwrap();
    // One request answered, then idle on a keep-alive connection.
    let mut idle = connect_from(OTHER_LOOPBACK, server.addr).await.unwrap();
    let reply = send_and_read(
        &mut idle,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    // Half a request head, then nothing: cut by the header-read timeout, long before the
    // idle timeout.
    let mut partial = connect_from(OTHER_LOOPBACK, server.addr).await.unwrap();
    let sent = Instant::now();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let cut = wait_closed(&mut partial, Duration::from_secs(15)).await;
    let cut = cut.unwrap_or_else(|| {
        panic!("a half-sent head was not cut within 15 s (--header-read-timeout 2s)")
    });
    assert!(
        sent.elapsed() >= Duration::from_secs(2),
        "cut after {cut:?}"
    );

    for (what, stream) in [("silent", &mut silent), ("idle keep-alive", &mut idle)] {
        let closed = wait_closed(stream, Duration::from_secs(80)).await;
        assert!(closed.is_some(), "the {what} connection was still open");
        assert!(
            opened.elapsed() >= Duration::from_secs(20),
            "the {what} connection was closed before --idle-timeout"
        );
    }
    println!(
        "half-sent head cut {cut:?} after its first byte; idle connections closed {:?} after \
         opening",
        opened.elapsed()
    );
}

/// Whether the server answers `/healthz` on a new connection from `local`.
async fn healthz_from(local: std::net::IpAddr, addr: SocketAddr) -> Result<u16, String> {
    let mut stream = connect_from(local, addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    send_and_read(
        &mut stream,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    )
    .await
    .map(|r| r.status)
}

/// A connection from `local` that the server has accepted and counts: it was answered once
/// (a keep-alive `/healthz`) and stays open, idle. A bare connect proves nothing: the kernel
/// completes it before the server accepts it, and the server may refuse it then while the
/// previous probe's connection is still being closed. Retries for up to 60 s.
async fn held_from(local: std::net::IpAddr, addr: SocketAddr) -> tokio::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match connect_from(local, addr).await {
            Ok(mut stream) => {
                let reply = send_and_read(
                    &mut stream,
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    Duration::from_secs(20),
                )
                .await;
                match reply {
                    Ok(r) if r.status == 200 => return stream,
                    Ok(r) => format!("status {}", r.status),
                    Err(e) => e,
                }
            }
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "no connection from {local} was held within 60 s: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connections_over_the_caps_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(
        dir.path(),
        &[
            "--max-connections",
            "5",
            "--max-connections-per-ip",
            "3",
            "--idle-timeout",
            "600s",
        ],
    );
    let here = "127.0.0.1".parse().unwrap();
    let mut from_other = Vec::new();
    for _ in 0..3 {
        from_other.push(held_from(OTHER_LOOPBACK, server.addr).await);
    }
    // Three are held: a fourth from that address is refused.
    let refused = baton_e2e::support::wait::until(Duration::from_secs(60), || async {
        healthz_from(OTHER_LOOPBACK, server.addr).await.is_err()
    })
    .await;
    assert!(
        refused.is_some(),
        "a fourth connection from one address was served; logs:\n{}",
        server.logs()
    );
    // Another address is served.
    assert_eq!(healthz_from(here, server.addr).await, Ok(200));

    // Two from a third address fill the server: nobody else gets in.
    let mut from_third = Vec::new();
    for _ in 0..2 {
        from_third.push(held_from(THIRD_LOOPBACK, server.addr).await);
    }
    let full = baton_e2e::support::wait::until(Duration::from_secs(60), || async {
        healthz_from(here, server.addr).await.is_err()
    })
    .await;
    assert!(full.is_some(), "a sixth connection was served");

    // One closes: its place is free again.
    drop(from_third.pop());
    let served = baton_e2e::support::wait::until(Duration::from_secs(60), || async {
        healthz_from(here, server.addr).await == Ok(200)
    })
    .await;
    assert!(
        served.is_some(),
        "no connection was served after one closed"
    );
    // The held ones were never closed by the server.
    for stream in &mut from_other {
        assert!(
            wait_closed(stream, Duration::from_millis(100))
                .await
                .is_none(),
            "a held connection was closed"
        );
    }
    assert!(
        server
            .logs()
            .contains("refused connections over the connection cap"),
        "refusals are logged:\n{}",
        server.logs()
    );
}
