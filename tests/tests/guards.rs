//! The HTTP guards of the real binary, one at a time, each with its exact status: the Host
//! allow-list (DNS rebinding), `--any-host`, the Origin check and `--allowed-origins`, the
//! concurrency limit (503 with `Retry-After`) and `--request-timeout` (a write answers
//! "outcome unknown" within it; any other request that outlasts it gets 503).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use baton_e2e::support::{
    held::{hold_write, holdable_server, start_task},
    http::{self, Reply, discover_body, post, tool_call_body},
    rpc::Rpc,
    server::{Server, sqlite_path},
    sqlite::{self, WriteLock},
    wait,
};
use serde_json::json;

/// `server/discover` at `server` with `extra` headers.
async fn discover(server: &Server, extra: &[(&str, &str)]) -> Reply {
    let web = http::client(Duration::from_secs(60));
    post(
        &web,
        &server.url(),
        "server/discover",
        discover_body(1),
        extra,
    )
    .await
}

/// A `server/discover` that was served: 200 and the supported versions.
fn assert_served(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 200, "{what}: {reply:?}");
    let versions = reply.body["result"]["supportedVersions"].as_array();
    assert!(
        versions.is_some_and(|v| v.contains(&json!(http::VERSION))),
        "{what}: {reply:?}"
    );
}

#[tokio::test]
async fn a_foreign_host_is_refused_with_403() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &[]);
    let port = server.addr.port().to_string();
    // The allowed hosts pass, with or without the port ...
    for host in ["127.0.0.1", "localhost", &format!("localhost:{port}")] {
        assert_served(&discover(&server, &[("host", host)]).await, host);
    }
    // ... any other Host is refused, alone (no Origin header).
    for host in [
        "evil.example.com",
        &format!("evil.example.com:{port}"),
        "127.0.0.2",
    ] {
        let reply = discover(&server, &[("host", host)]).await;
        assert_eq!(reply.status, 403, "Host {host}: {reply:?}");
    }
}

#[tokio::test]
async fn allowed_hosts_replaces_the_default_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &["--allowed-hosts", "mcp.example.com"]);
    assert_served(
        &discover(&server, &[("host", "mcp.example.com")]).await,
        "listed host",
    );
    let reply = discover(&server, &[("host", "127.0.0.1")]).await;
    assert_eq!(
        reply.status, 403,
        "a default host no longer listed: {reply:?}"
    );
}

#[tokio::test]
async fn any_host_accepts_every_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &["--any-host"]);
    for host in ["evil.example.com", "10.1.2.3:8080", "localhost"] {
        assert_served(&discover(&server, &[("host", host)]).await, host);
    }
    // And the tools work behind such a Host.
    let web = http::client(Duration::from_secs(60));
    let reply = post(
        &web,
        &server.url(),
        "tools/call",
        tool_call_body(2, "start_research_task", json!({"topic": "behind a proxy"})),
        &[("host", "baton.internal.example")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"]["isError"], false, "{reply:?}");
    assert_eq!(
        reply.body["result"]["structuredContent"]["status"], "running",
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    // Without --allowed-origins: requests without an Origin, or from the allowed hosts, are
    // served; any other Origin gets 403 (README, `baton serve --help`).
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(dir.path(), &[]);
    let port = server.addr.port();
    assert_served(&discover(&server, &[]).await, "no Origin");
    let own = format!("http://127.0.0.1:{port}");
    assert_served(&discover(&server, &[("origin", &own)]).await, &own);
    for origin in [
        "http://evil.example.com",
        "https://evil.example.com:8443",
        "null",
    ] {
        let reply = discover(&server, &[("origin", origin)]).await;
        assert_eq!(
            reply.status, 403,
            "Origin {origin} (Host allowed): {reply:?}"
        );
    }
}

#[tokio::test]
async fn allowed_origins_admits_exactly_the_listed_origins() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(
        dir.path(),
        &[
            "--allowed-origins",
            "https://app.example.com,http://localhost:3000",
        ],
    );
    assert_served(&discover(&server, &[]).await, "no Origin");
    for origin in ["https://app.example.com", "http://localhost:3000"] {
        assert_served(&discover(&server, &[("origin", origin)]).await, origin);
    }
    for origin in [
        "https://evil.example.com",
        "http://app.example.com:8443", // another scheme
        "http://localhost:3001",       // another port
        "https://app.example.com.evil.example",
    ] {
        let reply = discover(&server, &[("origin", origin)]).await;
        assert_eq!(reply.status, 403, "Origin {origin}: {reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = holdable_server(dir.path(), &[]);
    let handle = start_task(&server, "busy").await;

    // One request in flight fills the server: the next ones are shed at once, with a delay
    // to retry after.
    let held = hold_write(&server, &sqlite_path(dir.path()), &handle).await;
    let shed = [held.shed, {
        let web = http::client(Duration::from_secs(60));
        let body = tool_call_body(7, "get_task_status", json!({"handle": handle}));
        post(&web, &server.url(), "tools/call", body, &[]).await
    }];
    for reply in &shed {
        assert_eq!(reply.status, 503, "{reply:?}");
        let retry_after = reply
            .header("retry-after")
            .unwrap_or_else(|| panic!("no Retry-After: {reply:?}"));
        let seconds: u64 = retry_after
            .parse()
            .unwrap_or_else(|e| panic!("Retry-After {retry_after:?}: {e}"));
        assert!(seconds >= 1, "Retry-After {seconds}");
    }
    assert!(
        !held.call.is_finished(),
        "the held write is still in flight"
    );

    // The held request was not harmed: it completes once the lock goes, and the slot is free
    // again.
    held.lock.release();
    let outcome = held.call.await.unwrap();
    assert_eq!(outcome.ok()["findings_count"], 1, "{outcome:?}");
    assert_served(&discover(&server, &[]).await, "after the load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_outlasting_the_request_timeout_answers_outcome_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::sqlite(
        dir.path(),
        // The write waits for the lock up to 30 s: far longer than the request may take.
        &["--request-timeout", "2s", "--db-statement-timeout", "30s"],
    );
    let rpc = Rpc::new(Duration::from_secs(300));
    let handle = start_task(&server, "slow").await;

    let lock = WriteLock::hold(&sqlite_path(dir.path()));
    let web = http::client(Duration::from_secs(300));
    let sent = Instant::now();
    let body = tool_call_body(
        1,
        "add_findings",
        json!({"handle": handle, "findings": ["too slow"]}),
    );
    let reply = post(&web, &server.url(), "tools/call", body, &[]).await;
    let took = sent.elapsed();
    // Answered inside the request timeout (its last second is kept to answer in), as a tool
    // error that says the outcome is unknown: the write stays queued and may still commit.
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"]["isError"], true, "{reply:?}");
    assert_eq!(
        reply.body["result"]["content"][0]["text"],
        baton_protocol::ToolError::TimedOut.to_string(),
        "{reply:?}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(2),
        "answered after {took:?}"
    );
    lock.release();

    // The server goes on serving, and the queued write did commit once the lock was gone:
    // "may or may not have been applied" is the honest answer.
    assert_served(&discover(&server, &[]).await, "after the timeout");
    let applied = wait::until(Duration::from_secs(60), || async {
        let status = rpc
            .call(&server.url(), "get_task_status", json!({"handle": handle}))
            .await;
        status.ok()["findings_count"] == 1
    })
    .await;
    assert!(applied.is_some(), "the queued write never committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasting_the_request_timeout_answers_503() {
    // Writes answer "outcome unknown" inside the deadline (test above); any other request
    // that outlasts `--request-timeout` is cut by the HTTP layer with 503. A read whose
    // expiry refresh is stuck behind the write lock is such a request.
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_path(dir.path());
    let server = Server::sqlite(
        dir.path(),
        &["--request-timeout", "2s", "--db-statement-timeout", "60s"],
    );
    let rpc = Rpc::new(Duration::from_secs(300));
    let handle = start_task(&server, "slow read").await;
    // Make the stored idle deadline lag an hour behind (still in the future, idle TTL 24 h):
    // the next read must store a refreshed one, which is a write.
    sqlite::query(
        &db,
        "UPDATE research_tasks SET expires_at = expires_at - 3600000",
    )
    .unwrap();

    let lock = WriteLock::hold(&db);
    let web = http::client(Duration::from_secs(300));
    let sent = Instant::now();
    let body = tool_call_body(1, "get_task_status", json!({"handle": handle}));
    let reply = post(&web, &server.url(), "tools/call", body, &[]).await;
    let took = sent.elapsed();
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.text().trim(), "request timed out", "{reply:?}");
    assert!(took >= Duration::from_secs(2), "answered after {took:?}");
    lock.release();

    // The server goes on serving, and the same read now succeeds.
    assert_served(&discover(&server, &[]).await, "after the timeout");
    let status = rpc
        .call(&server.url(), "get_task_status", json!({"handle": handle}))
        .await;
    assert_eq!(status.ok()["status"], "running", "{status:?}");
}
