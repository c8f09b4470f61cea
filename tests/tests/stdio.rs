//! The real `baton` binary over stdio, as a child process of an rmcp client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use baton_e2e::support::{
    mcp::{McpClient, call, err, lifecycle, ok},
    server::{baton_bin, sqlite_url},
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use rmcp::{
    ClientLifecycleMode, ClientServiceExt,
    model::{ClientConfig, ProtocolVersion},
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::json;

async fn stdio_client(db: &str, principal: &str) -> McpClient {
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(baton_bin()).configure(|cmd| {
            cmd.args([
                "serve",
                "--stdio",
                "--database-url",
                db,
                "--stdio-principal",
                principal,
            ])
            .env("RUST_LOG", "warn");
        }))
        .expect("spawn baton --stdio");
    ClientConfig::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        )
        .await
        .expect("stdio client connects")
}

#[tokio::test]
async fn stdio_lifecycle_and_principal_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());

    let alice = stdio_client(&db, "alice").await;
    assert_eq!(
        alice
            .peer_info()
            .map(|i| i.protocol_version.as_str().to_owned())
            .as_deref(),
        Some("2026-07-28")
    );
    let handle = lifecycle(&alice).await;
    let open = ok(&call(&alice, "start_research_task", json!({"topic": "alice's"})).await);
    let open_handle = open["handle"].as_str().unwrap().to_owned();

    // Another principal on the same database: alice's handles are unknown to bob, and his
    // list is empty.
    let bob = stdio_client(&db, "bob").await;
    for h in [&handle, &open_handle] {
        assert_eq!(
            err(&call(&bob, "get_task_status", json!({"handle": h})).await),
            UNKNOWN_HANDLE_MESSAGE
        );
        assert_eq!(
            err(&call(&bob, "cancel_research_task", json!({"handle": h})).await),
            UNKNOWN_HANDLE_MESSAGE
        );
    }
    let listed = ok(&call(&bob, "list_research_tasks", json!({})).await);
    assert_eq!(listed["tasks"], json!([]));
    // Bob's failed attempts changed nothing for alice.
    let status = ok(&call(&alice, "get_task_status", json!({"handle": open_handle})).await);
    assert_eq!(status["status"], "running");

    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
}
