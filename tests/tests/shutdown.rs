//! SIGTERM on the real binary: an idle server exits 0; a request in flight at SIGTERM
//! finishes (within `--shutdown-grace`) before the process exits 0; one that outlasts the
//! grace is cut, logged, and the process exits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    net::TcpStream,
    time::{Duration, Instant},
};

use baton_e2e::support::{
    held::{self, hold_write, start_task},
    http,
    rpc::{Outcome, Rpc},
    server::{Server, sqlite_path},
    wait,
};
use serde_json::json;

fn holdable_server(dir: &tempfile::TempDir, grace: &str) -> Server {
    held::holdable_server(dir.path(), &["--shutdown-grace", grace])
}

/// Waits until the server no longer accepts connections: it has begun shutting down.
fn wait_until_refusing(server: &Server) {
    let refusing = wait::until_blocking(Duration::from_secs(60), || {
        TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_err()
    });
    assert!(
        refusing.is_some(),
        "still accepting connections a minute after SIGTERM; logs:\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn an_idle_server_is_healthy_ready_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &[]);
    let web = http::client(Duration::from_secs(60));
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let reply = web.get(server.http_url(path)).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{path}");
        assert_eq!(reply.text().await.unwrap().trim(), body, "{path}");
    }
    let stopped = server.terminate(Duration::from_secs(30));
    assert!(
        stopped.exited_cleanly(),
        "baton exits 0 on SIGTERM: {stopped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_sigterm_finishes_and_then_the_process_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = holdable_server(&dir, "300s");
    let rpc = Rpc::new(Duration::from_secs(300));
    let handle = start_task(&server, "drain").await;

    let held = hold_write(&server, &sqlite_path(dir.path()), &handle).await;
    server.sigterm();
    wait_until_refusing(&server);
    if held.call.is_finished() {
        let outcome = held.call.await.unwrap();
        panic!(
            "the request in flight was answered at SIGTERM instead of finishing: {outcome:?}\n{}",
            server.logs()
        );
    }

    // The request finishes, successfully, once it can; only then does the process exit, 0.
    held.lock.release();
    let outcome = held.call.await.unwrap();
    assert_eq!(
        outcome.ok()["findings_count"],
        1,
        "the request in flight at SIGTERM: {outcome:?}"
    );
    let stopped = server.wait_stopped(Duration::from_secs(60));
    assert!(stopped.exited_cleanly(), "{stopped:?}");

    // What it acknowledged is stored.
    let server = Server::sqlite(dir.path(), &[]);
    let status = rpc
        .call(&server.url(), "get_task_status", json!({"handle": handle}))
        .await;
    assert_eq!(status.ok()["findings_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasting_the_shutdown_grace_is_cut_and_the_process_exits() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_secs(2);
    let server = holdable_server(&dir, "2s");
    let handle = start_task(&server, "drain").await;

    // The lock is never released: the request cannot finish.
    let held = hold_write(&server, &sqlite_path(dir.path()), &handle).await;
    let sent = Instant::now();
    server.sigterm();
    let stopped = server.wait_stopped(Duration::from_secs(120));
    let took = sent.elapsed();
    assert!(
        stopped.status.is_some(),
        "still running two minutes after SIGTERM with a {grace:?} grace: {stopped:?}"
    );
    assert!(
        took >= grace,
        "exited {took:?} after SIGTERM, before the {grace:?} grace was over"
    );
    let outcome = held.call.await.unwrap();
    assert!(
        matches!(outcome, Outcome::Failed(_)),
        "the request outlasting the grace was cut: {outcome:?}"
    );
    assert!(
        stopped.logs.to_lowercase().contains("grace"),
        "the cut is logged:\n{}",
        stopped.logs
    );
    drop(held.lock);
}
