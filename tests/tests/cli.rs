//! The `baton` command's other subcommands and key rotation, on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use baton_e2e::{Server, baton_bin, call, err, modern_client, ok};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::json;

fn baton(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(baton_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    assert_ne!(code, 0);
    assert!(err.contains("unsupported --database-url scheme"), "{err}");
}

#[tokio::test]
async fn gc_deletes_expired_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gc.db").display());
    let server = Server::start(&[
        "--database-url",
        &url,
        "--idle-ttl",
        "1s",
        "--absolute-ttl",
        "1s",
        "--sweep-interval",
        "1h",
    ]);
    let client = modern_client(&server.url()).await;
    for i in 0..3 {
        ok(&call(
            &client,
            "start_research_task",
            json!({"topic": format!("t{i}")}),
        )
        .await);
    }
    client.cancel().await.unwrap();
    server.kill();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let (code, out, err) = baton(&["gc", "--database-url", &url]);
    assert_eq!((code, out.trim()), (0, "deleted 3 expired tasks"), "{err}");
    let (_, out, _) = baton(&["gc", "--database-url", &url]);
    assert_eq!(out.trim(), "deleted 0 expired tasks");
}

#[tokio::test]
async fn handle_keys_rotate_by_config() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let key1 = format!("1:{}", "A".repeat(43)); // 32 bytes, base64url
    let key2 = format!("2:{}", "E".repeat(43));

    // Key 1 signs.
    let server = Server::start(&["--database-url", &url, "--handle-keys", &key1]);
    let client = modern_client(&server.url()).await;
    let old = ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "before rotation"}),
    )
    .await)["handle"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let new = ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "after rotation"}),
    )
    .await)["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        old[5..10],
        new[5..10],
        "the key id inside the handle changed"
    );
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
    // Secrets never reach the logs.
    assert!(!server.logs().contains(&"E".repeat(43)));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stored_key_rotation_with_baton_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stored.db").display());
    let server = Server::start(&["--database-url", &url]);
    let client = modern_client(&server.url()).await;
    let old = ok(&call(&client, "start_research_task", json!({"topic": "k1"})).await)["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    client.cancel().await.unwrap();
    drop(server);

    let (code, out, _) = baton(&["keys", "rotate", "--database-url", &url]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "added handle-signing key 2; restart instances to sign with it"
        )
    );
    let (_, listed, _) = baton(&["keys", "list", "--database-url", &url]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.lines().all(|l| l.split('\t').count() == 2),
        "ids and times only: {listed}"
    );

    let server = Server::start(&["--database-url", &url]);
    let client = modern_client(&server.url()).await;
    ok(&call(&client, "get_task_status", json!({"handle": old})).await);
    let new = ok(&call(&client, "start_research_task", json!({"topic": "k2"})).await)["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old[5..10], new[5..10]);
    client.cancel().await.unwrap();
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("logs.db").display());
    let server = Server::start(&["--database-url", &url, "--log-format", "json"]);
    let logs = server.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(logs.contains("listening on http://"));
}
