//! Slow clients against the real binary (issue 12): thousands of connections from another
//! loopback address send their request heads, or their bodies, one byte at a time. A normal
//! client on 127.0.0.1 must still complete every call within a second, `/healthz` included,
//! and the server must close every slow connection once its header- or body-read timeout
//! passes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use baton_e2e::support::{
    http,
    mcp::handle_of,
    net::{OTHER_LOOPBACK, connect_from, post_head, raise_open_files},
    rpc::Rpc,
    server::Server,
    wait,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Slow connections wanted at once (fewer if this process may not open that many files).
const SLOW: usize = 3_000;
/// Each slow connection sends one byte this often.
const DRIP: Duration = Duration::from_secs(1);
/// The server's header- and body-read timeouts in this test.
const READ_TIMEOUT: &str = "5s";
/// How long the normal client works while the slow connections are held.
const NORMAL_FOR: Duration = Duration::from_secs(15);
/// The most any normal call may take.
const CALL_WITHIN: Duration = Duration::from_secs(1);

/// What the slow connections did.
#[derive(Default)]
struct Tally {
    /// Open now, as the client sees it (connected, not yet closed by the server).
    open: AtomicUsize,
    /// Connections made.
    made: AtomicUsize,
    /// Connections the server closed.
    closed_by_server: AtomicUsize,
    /// Of those, answered 408 first.
    answered_408: AtomicUsize,
    /// Connections that could not be made.
    failed_connects: AtomicUsize,
}

/// One slow connection after another until `stop`: each sends a request head (`body` false)
/// or a whole head then a body (`body` true) one byte per [`DRIP`], until the server closes it.
async fn slow_client(
    server: std::net::SocketAddr,
    body: bool,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let head = post_head("127.0.0.1", 100_000, &[]).into_bytes();
    for _ in 0..100 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = connect_from(OTHER_LOOPBACK, server).await else {
            tally.failed_connects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        tally.made.fetch_add(1, Ordering::Relaxed);
        tally.open.fetch_add(1, Ordering::Relaxed);
        let (mut read, mut write) = stream.into_split();
        let drip = async {
            let mut at = 0;
            if body && write.write_all(&head).await.is_err() {
                return;
            }
            loop {
                // Heads are sent a byte at a time (and never finish in time); bodies too.
                let byte = if body { b"{"[0] } else { head[at % head.len()] };
                at += 1;
                if write.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(DRIP).await;
            }
        };
        let closed = async {
            // Whatever the server sends until it closes; its first bytes tell a 408.
            let mut first = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                match read.read(&mut chunk).await {
                    Ok(0) | Err(_) => return first.starts_with(b"HTTP/1.1 408"),
                    Ok(n) if first.len() < 12 => first.extend_from_slice(&chunk[..n]),
                    Ok(_) => {}
                }
            }
        };
        tokio::select! {
            answered_408 = closed => {
                tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
                if answered_408 {
                    tally.answered_408.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = drip => {
                // The server closed it while a byte was on its way: wait for the end.
                tally.closed_by_server.fetch_add(1, Ordering::Relaxed);
            }
        }
        tally.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Latencies in milliseconds, sorted: count, median, p99, max.
fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!(
        "{} calls, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_slow_connections_do_not_stop_a_normal_client() {
    let files = raise_open_files();
    let slow = SLOW.min((files as usize).saturating_sub(512));
    assert!(
        slow >= 1_000,
        "this process may open only {files} files: too few for the test"
    );
    let dir = tempfile::tempdir().unwrap();
    // The per-address cap is off so that every slow connection is held at once: the server
    // must cope with all of them, not just refuse them.
    let server = Server::sqlite(
        dir.path(),
        &[
            "--header-read-timeout",
            READ_TIMEOUT,
            "--body-read-timeout",
            READ_TIMEOUT,
            "--max-connections-per-ip",
            "0",
        ],
    );
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    // The slow clients run on their own thread, so that the normal client's timings are the
    // server's, not this process's scheduling of thousands of tasks.
    let attack = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut attackers = Vec::with_capacity(slow);
    for i in 0..slow {
        attackers.push(attack.spawn(slow_client(
            server.addr,
            i % 2 == 1,
            Arc::clone(&tally),
            Arc::clone(&stop),
        )));
        // Spread the connects so the listen queue never overflows.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ramped = wait::until(Duration::from_secs(120), || async {
        tally.open.load(Ordering::Relaxed) >= slow * 9 / 10
    })
    .await;
    assert!(
        ramped.is_some(),
        "only {} of {slow} slow connections open after two minutes ({} failed connects)",
        tally.open.load(Ordering::Relaxed),
        tally.failed_connects.load(Ordering::Relaxed)
    );

    // The normal client: every call answered, each within a second.
    let web = http::client(Duration::from_secs(30));
    let rpc = Rpc::new(Duration::from_secs(30));
    let url = server.url();
    let mut latencies = Vec::new();
    let mut held = (usize::MAX, 0usize);
    let mut handle = None;
    let began = Instant::now();
    for round in 0..10_000u64 {
        if began.elapsed() >= NORMAL_FOR {
            break;
        }
        let open = tally.open.load(Ordering::Relaxed);
        held = (held.0.min(open), held.1.max(open));
        let step = round % 4;
        let sent = Instant::now();
        let outcome = match (step, &handle) {
            (0, _) => {
                let reply = web.get(server.http_url("/healthz")).send().await;
                match reply {
                    Ok(r) if r.status() == 200 => Ok(()),
                    other => Err(format!("/healthz: {other:?}")),
                }
            }
            (1, _) => {
                let reply = http::try_post(
                    &web,
                    &url,
                    "server/discover",
                    http::discover_body(round),
                    &[],
                )
                .await;
                match reply {
                    Ok(r) if r.status == 200 => Ok(()),
                    other => Err(format!("server/discover: {other:?}")),
                }
            }
            (_, None) => {
                let started = rpc
                    .call(
                        &url,
                        "start_research_task",
                        json!({"topic": "under attack"}),
                    )
                    .await;
                if started.is_ok() {
                    handle = Some(handle_of(started.ok()));
                    Ok(())
                } else {
                    Err(format!("start_research_task: {started:?}"))
                }
            }
            (2, Some(h)) => {
                let added = rpc
                    .call(
                        &url,
                        "add_findings",
                        json!({"handle": h, "findings": ["still here"]}),
                    )
                    .await;
                if added.is_ok() {
                    Ok(())
                } else {
                    Err(format!("add_findings: {added:?}"))
                }
            }
            (_, Some(h)) => {
                let status = rpc
                    .call(&url, "get_task_status", json!({"handle": h}))
                    .await;
                if status.is_ok() {
                    Ok(())
                } else {
                    Err(format!("get_task_status: {status:?}"))
                }
            }
        };
        let took = sent.elapsed();
        if let Err(e) = outcome {
            panic!(
                "a normal call failed with {} slow connections open: {e}; logs:\n{}",
                tally.open.load(Ordering::Relaxed),
                server.logs()
            );
        }
        assert!(
            took <= CALL_WITHIN,
            "a normal call (step {step}) took {took:?} with {} slow connections open",
            tally.open.load(Ordering::Relaxed)
        );
        latencies.push(took.as_secs_f64() * 1000.0);
    }
    println!(
        "{slow} slow clients (half heads, half bodies, 1 byte per {DRIP:?}); slow connections \
         held while the normal client worked: {} to {}; {} made in all; normal client: {}",
        held.0,
        held.1,
        tally.made.load(Ordering::Relaxed),
        summary(latencies)
    );

    // Every slow connection is closed by the server once its read timeout passes.
    stop.store(true, Ordering::Relaxed);
    let reaped = wait::until(Duration::from_secs(120), || async {
        tally.open.load(Ordering::Relaxed) == 0
    })
    .await;
    assert!(
        reaped.is_some(),
        "{} slow connections still open two minutes after the attack stopped",
        tally.open.load(Ordering::Relaxed)
    );
    for attacker in attackers {
        attacker.await.unwrap();
    }
    attack.shutdown_background();
    let made = tally.made.load(Ordering::Relaxed);
    assert_eq!(tally.closed_by_server.load(Ordering::Relaxed), made);
    println!(
        "all {made} slow connections closed by the server ({} of them answered 408 first)",
        tally.answered_408.load(Ordering::Relaxed)
    );
    assert!(
        tally.answered_408.load(Ordering::Relaxed) > 0,
        "slow bodies are answered 408"
    );
}
