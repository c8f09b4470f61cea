//! The `baton` command's other subcommands and key rotation, on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use baton_e2e::support::{
    handle,
    mcp::{McpClient, call, err, handle_of, modern_client, ok},
    server::{Server, run_baton},
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::json;

/// Runs `baton ARGS…`; returns its exit code, stdout and stderr.
fn baton(args: &[&str]) -> (i32, String, String) {
    let out = run_baton(args);
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

async fn start_task(client: &McpClient, topic: &str) -> String {
    handle_of(&ok(&call(
        client,
        "start_research_task",
        json!({"topic": topic}),
    )
    .await))
}

#[test]
fn migrate_check_then_apply() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let (code, out, _) = baton(&["migrate", "--check", "--database-url", &url]);
    assert_eq!(code, 1, "pending migrations make --check fail: {out}");
    assert!(out.contains("pending: 1"), "{out}");
    let (code, out, err) = baton(&["migrate", "--database-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = baton(&["migrate", "--check", "--database-url", &url]);
    assert_eq!((code, out.trim()), (0, "no pending migrations"));
}

#[test]
fn help_lists_every_command_and_bad_urls_are_explained() {
    let (code, out, _) = baton(&["--help"]);
    assert_eq!(code, 0);
    for command in ["serve", "migrate", "gc", "seed", "keys"] {
        assert!(out.contains(command), "--help mentions {command}:\n{out}");
    }
    let (code, _, err) = baton(&["migrate", "--database-url", "mysql://x/y"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unsupported --database-url scheme"), "{err}");
}

#[tokio::test]
async fn handle_keys_rotate_by_config() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let secret1 = "A".repeat(43); // 32 bytes, base64url
    let secret2 = "E".repeat(43);
    let key1 = format!("1:{secret1}");
    let key2 = format!("2:{secret2}");

    // Key 1 signs.
    let server = Server::start(&["--database-url", &url, "--handle-keys", &key1]);
    let client = modern_client(&server.url()).await;
    let old = start_task(&client, "before rotation").await;
    assert_eq!(handle::header(&old).key_id, 1, "signed with key 1: {old}");
    client.cancel().await.unwrap();
    drop(server);

    // Keys 1 and 2: 2 signs, 1 still verifies.
    let server = Server::start(&[
        "--database-url",
        &url,
        "--handle-keys",
        &format!("{key1},{key2}"),
    ]);
    let client = modern_client(&server.url()).await;
    ok(&call(&client, "get_task_status", json!({"handle": old})).await);
    let new = start_task(&client, "after rotation").await;
    assert_eq!(handle::header(&new).key_id, 2, "signed with key 2: {new}");
    client.cancel().await.unwrap();
    drop(server);

    // Key 1 retired: its handles get the one unknown-handle answer; key 2's keep working.
    let server = Server::start(&["--database-url", &url, "--handle-keys", &key2]);
    let client = modern_client(&server.url()).await;
    assert_eq!(
        err(&call(&client, "get_task_status", json!({"handle": old})).await),
        UNKNOWN_HANDLE_MESSAGE
    );
    ok(&call(&client, "get_task_status", json!({"handle": new})).await);
    client.cancel().await.unwrap();
    // Secrets never reach the logs (all of them, read to the end).
    let logs = server.terminate(Duration::from_secs(30)).logs;
    assert!(logs.contains("listening on http://"), "{logs}");
    for secret in [&secret1, &secret2] {
        assert!(
            !logs.contains(secret.as_str()),
            "a key secret was logged:\n{logs}"
        );
    }
}

#[tokio::test]
async fn stored_key_rotation_with_baton_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stored.db").display());
    let server = Server::start(&["--database-url", &url]);
    let client = modern_client(&server.url()).await;
    let old = start_task(&client, "k1").await;
    assert_eq!(
        handle::header(&old).key_id,
        1,
        "the first stored key: {old}"
    );
    client.cancel().await.unwrap();
    drop(server);

    let (code, out, _) = baton(&["keys", "rotate", "--database-url", &url]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "added handle-signing key 2 and made it the signer; running instances sign with it within --key-reload-interval"
        )
    );
    let (_, listed, _) = baton(&["keys", "list", "--database-url", &url]);
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["ID", "CREATED", "STATE"], "{listed}");
    let states: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[0], r[2])).collect();
    assert_eq!(
        states,
        [("1", "verifying (was signing)"), ("2", "signing")],
        "ids and states, never secrets: {listed}"
    );

    let server = Server::start(&["--database-url", &url]);
    let client = modern_client(&server.url()).await;
    ok(&call(&client, "get_task_status", json!({"handle": old})).await);
    let new = start_task(&client, "k2").await;
    assert_eq!(
        handle::header(&new).key_id,
        2,
        "signed with the new key: {new}"
    );
    client.cancel().await.unwrap();
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("logs.db").display());
    let server = Server::start(&["--database-url", &url, "--log-format", "json"]);
    // Stopping the server is the barrier: afterwards every line it wrote has been read.
    let stopped = server.terminate(Duration::from_secs(30));
    assert!(stopped.exited_cleanly(), "{stopped:?}");
    let lines: Vec<&str> = stopped
        .logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut messages = Vec::new();
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
        messages.push(entry["message"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        messages.iter().any(|m| m.contains("listening on http://")),
        "the listening line is a JSON object too: {messages:?}"
    );
}

#[test]
fn bad_durations_and_sizes_are_refused_at_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bad.db").display());
    // (arguments, what the error must say)
    let cases: &[(&[&str], &str)] = &[
        (
            &["--absolute-ttl", "200years"],
            "--absolute-ttl 200years is too long",
        ),
        (
            &["--idle-ttl", "200years", "--absolute-ttl", "300years"],
            "at most 100 years",
        ),
        (&["--idle-ttl", "0s"], "--idle-ttl must be positive"),
        (
            &["--idle-ttl", "2d", "--absolute-ttl", "1d"],
            "--absolute-ttl 1day is shorter than --idle-ttl 2days",
        ),
        (
            &["--sweep-interval", "0s"],
            "--sweep-interval 0s is too short",
        ),
        (
            &["--sweep-interval", "100years"],
            "--sweep-interval 100years is too long",
        ),
        (
            &["--request-timeout", "0s"],
            "--request-timeout 0s is too short",
        ),
        (
            &["--request-timeout", "2days"],
            "--request-timeout 2days is too long",
        ),
        (
            &["--db-acquire-timeout", "0s"],
            "--db-acquire-timeout 0s is too short",
        ),
        (
            &["--db-statement-timeout", "0s"],
            "--db-statement-timeout 0s is too short",
        ),
        (
            &["--shutdown-grace", "2days"],
            "--shutdown-grace 2days is too long",
        ),
        (
            &["--api-key-cache-ttl", "3days"],
            "--api-key-cache-ttl 3days is too long",
        ),
        (
            &["--oauth-leeway", "1year"],
            "--oauth-leeway 1year is too long",
        ),
        (
            &["--header-read-timeout", "0s"],
            "--header-read-timeout 0s is too short",
        ),
        (
            &["--idle-timeout", "2days"],
            "--idle-timeout 2days is too long",
        ),
        (
            &["--body-read-timeout", "0s"],
            "--body-read-timeout 0s is too short",
        ),
        (
            &["--max-body-bytes", "0"],
            "--max-body-bytes 0 is out of range",
        ),
        (
            &["--max-body-bytes", "99999999999"],
            "--max-body-bytes 99999999999 is out of range",
        ),
        (
            &["--max-concurrent-requests", "0"],
            "--max-concurrent-requests 0 is out of range",
        ),
        (&["--sweep-batch", "0"], "--sweep-batch 0 is out of range"),
        (
            &["--max-findings-per-call", "0"],
            "--max-findings-per-call 0 is out of range",
        ),
        (
            &["--max-finding-chars", "0"],
            "--max-finding-chars 0 is out of range",
        ),
        (
            &["--max-findings-per-task", "0"],
            "--max-findings-per-task 0 is out of range",
        ),
        (
            &["--db-max-connections", "0"],
            "--db-max-connections 0 is out of range",
        ),
        (
            &["--max-connections", "0"],
            "--max-connections 0 is out of range",
        ),
        (
            &[
                "--max-connections",
                "100",
                "--max-connections-per-ip",
                "101",
            ],
            "--max-connections-per-ip 101 is out of range",
        ),
        (&["--rate-burst", "0"], "--rate-burst"),
        (&["--rate-limit", "0/s"], "the count must be at least 1"),
        (&["--rate-limit", "fast"], "expected N/s, N/m or N/h"),
        (&["--auth-failure-rate-limit", "5/d"], "unknown period `d`"),
        (&["--worker-threads", "0"], "--worker-threads 0"),
    ];
    for (args, says) in cases {
        let mut all = vec!["serve", "--database-url", &url, "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        // Runs to its end within a bounded time: a server that keeps running instead of
        // refusing fails here.
        let out = run_baton(&all);
        let (status, stderr) = (out.status, out.stderr);
        assert!(
            !status.success(),
            "baton serve {args:?} exited 0:\n{stderr}"
        );
        assert!(
            stderr.contains(says),
            "baton serve {args:?}: the error does not say {says:?}:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "baton serve {args:?} panicked:\n{stderr}"
        );
    }
}
