//! Expiry end to end, on SQLite: an expired handle answers like an unknown one, the
//! background sweeper deletes expired tasks, and `baton gc` does it by hand.
//!
//! Expiry takes real time, so these tests use lifetimes of a few seconds; they never need a
//! call to beat a deadline, and they wait on conditions (the stored rows, the clock passing a
//! stored instant) with generous bounds instead of sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use baton_e2e::support::{
    mcp::{McpClient, call, err, handle_of, modern_client, ok},
    server::{Server, run_baton, sqlite_path, sqlite_url},
    sqlite, wait,
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::json;

/// Starts three tasks, one with findings and one with an idempotency key, so that every
/// table holds rows that belong to them.
async fn start_three_tasks(client: &McpClient) {
    let first = handle_of(&ok(&call(
        client,
        "start_research_task",
        json!({"topic": "t0"}),
    )
    .await));
    ok(&call(
        client,
        "add_findings",
        json!({"handle": first, "findings": ["f1", "f2"]}),
    )
    .await);
    ok(&call(
        client,
        "start_research_task",
        json!({"topic": "t1", "idempotency_key": "k1"}),
    )
    .await);
    ok(&call(client, "start_research_task", json!({"topic": "t2"})).await);
}

/// Writes three tasks (see [`start_three_tasks`]) that expire one second after their
/// creation, with a server that does not sweep (its hourly sweep runs once at start, before
/// there is anything to sweep), then stops that server.
async fn write_three_short_lived_tasks(dir: &Path) {
    let writer = Server::sqlite(
        dir,
        &[
            "--idle-ttl",
            "1s",
            "--absolute-ttl",
            "1s",
            "--sweep-interval",
            "1h",
        ],
    );
    let client = modern_client(&writer.url()).await;
    start_three_tasks(&client).await;
    client.cancel().await.unwrap();
    writer.kill();
}

fn row_counts(db: &Path) -> [u64; 3] {
    [
        "research_tasks",
        "research_findings",
        "research_idempotency_keys",
    ]
    .map(|table| sqlite::count(db, table))
}

/// Waits until the wall clock is past every stored expiry (milliseconds since the epoch in
/// `tasks.expires_at`, which the hard expiry caps).
fn wait_until_all_expired(db: &Path) {
    let latest: u64 = sqlite::query(db, "SELECT max(expires_at) FROM research_tasks")
        .unwrap()
        .parse()
        .expect("tasks have an expiry");
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    assert!(
        wait::until_blocking(Duration::from_secs(60), || now_ms() > latest + 1).is_some(),
        "the tasks' expiry {latest} is more than a minute away"
    );
}

#[tokio::test]
async fn expired_handles_answer_like_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Reads refresh the idle deadline, never the absolute one: polling cannot keep it alive.
    let lifetime = Duration::from_secs(3);
    let server = Server::sqlite(
        dir.path(),
        &[
            "--idle-ttl",
            "3s",
            "--absolute-ttl",
            "3s",
            "--sweep-interval",
            "1h",
        ],
    );
    let client = modern_client(&server.url()).await;
    let sent = Instant::now();
    let handle = handle_of(&ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "short-lived"}),
    )
    .await));
    // A use well inside the lifetime works. (On a machine so loaded that the answer took
    // longer, this check says nothing, so it is left out rather than raced.)
    let status = call(&client, "get_task_status", json!({"handle": handle})).await;
    if sent.elapsed() < lifetime - Duration::from_secs(1) {
        assert_eq!(ok(&status)["status"], "running");
    }

    // Then, once it has expired, every tool gives the one unknown-handle answer.
    let expired = wait::until(Duration::from_secs(60), || async {
        call(&client, "get_task_status", json!({"handle": handle}))
            .await
            .is_error
            == Some(true)
    })
    .await;
    assert!(expired.is_some(), "the task never expired");
    // Not early: expiry is stored in whole seconds, hence the one-second allowance.
    assert!(
        sent.elapsed() >= lifetime - Duration::from_secs(1),
        "expired after {:?}, before its lifetime of {lifetime:?}",
        sent.elapsed()
    );
    assert_eq!(
        err(&call(&client, "get_task_status", json!({"handle": handle})).await),
        UNKNOWN_HANDLE_MESSAGE
    );
    assert_eq!(
        err(&call(
            &client,
            "add_findings",
            json!({"handle": handle, "findings": ["late"]})
        )
        .await),
        UNKNOWN_HANDLE_MESSAGE
    );
    assert_eq!(
        err(&call(&client, "cancel_research_task", json!({"handle": handle})).await),
        UNKNOWN_HANDLE_MESSAGE
    );
    let listed = ok(&call(&client, "list_research_tasks", json!({})).await);
    assert_eq!(listed["tasks"], json!([]), "an expired task is not listed");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_background_sweeper_deletes_expired_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_path(dir.path());
    write_three_short_lived_tasks(dir.path()).await;
    assert_eq!(
        row_counts(&db),
        [3, 2, 1],
        "tasks, findings, idempotency keys"
    );
    wait_until_all_expired(&db);
    // Nothing but time has passed: the rows are still there.
    assert_eq!(row_counts(&db), [3, 2, 1]);

    // A server that sweeps often, and is sent no request at all: its sweeper alone deletes
    // the tasks, and with them their findings and idempotency keys.
    let sweeper = Server::sqlite(dir.path(), &["--sweep-interval", "200ms"]);
    let swept = wait::until_blocking(Duration::from_secs(60), || row_counts(&db) == [0, 0, 0]);
    assert!(
        swept.is_some(),
        "rows left after a minute of sweeping every 200 ms: {:?}\n{}",
        row_counts(&db),
        sweeper.logs()
    );
    let stopped = sweeper.terminate(Duration::from_secs(30));
    assert!(stopped.exited_cleanly(), "{stopped:?}");
}

#[tokio::test]
async fn gc_deletes_expired_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_path(dir.path());
    let url = sqlite_url(dir.path());
    write_three_short_lived_tasks(dir.path()).await;
    wait_until_all_expired(&db);
    let gc = || run_baton(&["gc", "--database-url", &url]);
    let out = gc();
    assert_eq!(
        (out.status.code(), out.stdout.trim()),
        (Some(0), "deleted 3 expired tasks"),
        "{}",
        out.stderr
    );
    assert_eq!(row_counts(&db), [0, 0, 0]);
    assert_eq!(gc().stdout.trim(), "deleted 0 expired tasks");
}
