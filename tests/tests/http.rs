//! The real `baton` binary over Streamable HTTP, driven by rmcp clients in both protocol
//! eras and by raw HTTP for what a well-behaved client never sends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use baton_e2e::support::{
    http::{self, VERSION, meta, post},
    mcp::{SessionWatch, call, err, handle_of, initialize_client, lifecycle, modern_client, ok},
    server::Server,
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use rmcp::model::ProtocolVersion;
use serde_json::json;

fn sqlite_server(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
    Server::sqlite(dir.path(), extra)
}

#[tokio::test]
async fn modern_client_discovers_lists_and_runs_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;

    let info = client.peer_info().expect("discover result");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("baton")
    );
    assert!(
        info.instructions
            .as_deref()
            .unwrap_or_default()
            .contains("start_research_task")
    );

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "add_findings",
            "cancel_research_task",
            "compile_research_report",
            "complete_research_task",
            "get_task_results",
            "get_task_status",
            "list_research_task_shares",
            "list_research_tasks",
            "revoke_research_task_share",
            "share_research_task",
            "start_research_task"
        ]
    );
    for tool in &tools {
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
    }
    let start = tools
        .iter()
        .find(|t| t.name == "start_research_task")
        .unwrap();
    assert!(
        start
            .description
            .as_deref()
            .unwrap()
            .contains("Handles expire after 1 day without use and 7 days")
    );

    let handle = lifecycle(&client).await;
    client.cancel().await.unwrap();
    // Stopped, the server has written all it will: no full handle in it.
    let logs = server.terminate(Duration::from_secs(30)).logs;
    assert!(logs.contains("listening on http://"), "{logs}");
    assert!(
        !logs.contains(&handle),
        "a full handle reached the logs:\n{logs}"
    );
}

/// An `initialize`-era rmcp client pinned to `version` runs the whole lifecycle, and no
/// answer carries an `Mcp-Session-Id`: the server keeps no session for it.
async fn initialize_era_client_is_served_without_a_session(version: ProtocolVersion) {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let watch = SessionWatch::default();
    let client = initialize_client(watch.clone(), &server.url(), version.clone()).await;
    let info = client.peer_info().expect("initialize result");
    assert_eq!(
        info.protocol_version, version,
        "the version the client asked for"
    );
    lifecycle(&client).await;
    client.cancel().await.unwrap();
    let traffic = watch.traffic();
    // Every POST went through the watch: initialize, notifications/initialized and the
    // lifecycle's eight tool calls.
    assert_eq!(traffic.answered_posts, 10, "{traffic:?}");
    assert_eq!(
        traffic.session_ids_received,
        Vec::<String>::new(),
        "answers carried Mcp-Session-Id"
    );
    assert_eq!(traffic.session_ids_sent, Vec::<String>::new());
}

#[tokio::test]
async fn client_of_2025_11_25_is_served_without_a_session() {
    initialize_era_client_is_served_without_a_session(ProtocolVersion::V_2025_11_25).await;
}

#[tokio::test]
async fn client_of_2025_06_18_is_served_without_a_session() {
    initialize_era_client_is_served_without_a_session(ProtocolVersion::V_2025_06_18).await;
}

#[tokio::test]
async fn handles_survive_a_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;
    let started = ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "durability"}),
    )
    .await);
    let handle = started["handle"].as_str().unwrap().to_owned();
    ok(&call(
        &client,
        "add_findings",
        json!({"handle": handle, "findings": ["written before the crash"]}),
    )
    .await);
    drop(client);
    server.kill(); // SIGKILL: no graceful anything

    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;
    let status = ok(&call(&client, "get_task_status", json!({"handle": handle})).await);
    assert_eq!(status["topic"], "durability");
    assert_eq!(status["findings_count"], 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_bad_handle_gets_the_identical_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;
    let started = ok(&call(&client, "start_research_task", json!({"topic": "t"})).await);
    let good = started["handle"].as_str().unwrap().to_owned();

    let mut mutated = good.clone().into_bytes();
    let last = mutated.len() - 1;
    mutated[last] = if mutated[last] == b'a' { b'b' } else { b'a' };
    let mutated = String::from_utf8(mutated).unwrap();
    let truncated = good[..good.len() - 1].to_owned();
    let extended = format!("{good}a");
    let wrong_kind = good.replacen("task_", "tusk_", 1);
    let long = "task_".to_owned() + &"a".repeat(10_000);

    let mut messages = Vec::new();
    for bad in [
        mutated.as_str(),
        &truncated,
        &extended,
        &wrong_kind,
        "task_",
        "",
        "xyz",
        "💥",
        &long,
    ] {
        for tool in ["get_task_status", "cancel_research_task"] {
            messages.push(err(&call(&client, tool, json!({"handle": bad})).await));
        }
        messages.push(err(&call(
            &client,
            "add_findings",
            json!({"handle": bad, "findings": ["f"]}),
        )
        .await));
    }
    assert!(
        messages.iter().all(|m| m == UNKNOWN_HANDLE_MESSAGE),
        "{messages:#?}"
    );
    // The good handle still works, and the failures changed nothing.
    let status = ok(&call(&client, "get_task_status", json!({"handle": good})).await);
    assert_eq!(status["status"], "running");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;
    let cases = [
        (
            "start_research_task",
            json!({"topic": "  "}),
            "invalid argument `topic`: must not be blank",
        ),
        (
            "start_research_task",
            json!({"topic": "t", "depth": 9}),
            "invalid argument `depth`: must be between 1 and 5, got 9",
        ),
        (
            "start_research_task",
            json!({"topic": "t", "depth": "deep"}),
            "invalid argument `depth`: invalid type: string \"deep\", expected u8",
        ),
        (
            "start_research_task",
            json!({}),
            "invalid arguments: missing field `topic`",
        ),
        (
            "start_research_task",
            json!({"topic": "t", "colour": 1}),
            "invalid argument `colour`: unknown field `colour`, expected one of `topic`, `depth`, `idempotency_key`",
        ),
        (
            "add_findings",
            json!({"handle": "task_x", "findings": ["ok", 7]}),
            "invalid argument `findings[1]`: invalid type: integer `7`, expected a string",
        ),
        (
            "get_task_results",
            json!({"handle": "task_x", "limit": 0}),
            "invalid argument `limit`: must be between 1 and 200, got 0",
        ),
        (
            "list_research_tasks",
            json!({"cursor": "garbage"}),
            "invalid argument `cursor`: is not a cursor returned by list_research_tasks",
        ),
        (
            "list_research_tasks",
            json!({"status": "finished"}),
            "invalid argument `status`: unknown variant `finished`, expected one of `running`, `complete`, `cancelled`",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = err(&call(&client, tool, args.clone()).await);
        assert_eq!(message, expected, "{tool} {args}");
    }
    // Limits name the field and the limit.
    let started = ok(&call(&client, "start_research_task", json!({"topic": "limits"})).await);
    let handle = handle_of(&started);
    let many: Vec<String> = (0..101).map(|i| format!("f{i}")).collect();
    let message = err(&call(
        &client,
        "add_findings",
        json!({"handle": handle, "findings": many}),
    )
    .await);
    assert_eq!(
        message,
        "limit exceeded for `findings`: at most 100 findings per call"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn idempotency_key_returns_the_same_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = modern_client(&server.url()).await;
    let args = json!({"topic": "retry me", "idempotency_key": "req-42"});
    let first = ok(&call(&client, "start_research_task", args.clone()).await);
    let second = ok(&call(&client, "start_research_task", args).await);
    assert_eq!(first["handle"], second["handle"]);
    assert_eq!(first["replayed"], false);
    assert_eq!(second["replayed"], true);
    let conflict = err(&call(
        &client,
        "start_research_task",
        json!({"topic": "other", "idempotency_key": "req-42"}),
    )
    .await);
    assert_eq!(
        conflict,
        "invalid argument `idempotency_key`: was already used with other arguments (a start with another topic or depth, an add_findings call with other findings)"
    );
    client.cancel().await.unwrap();
}

// ---- raw HTTP: what rmcp's own client never sends ----

#[tokio::test]
async fn protocol_errors_over_raw_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &["--max-body-bytes", "4096"]);
    let (web, url) = (http::client(Duration::from_secs(60)), server.url());

    // Malformed JSON: 400 and -32700.
    let reply = post(
        &web,
        &url,
        "tools/list",
        "{\"jsonrpc\":\"2.0\",".into(),
        &[],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].clone()),
        (400, json!(-32700)),
        "{reply:?}"
    );

    // Body over the limit: 413.
    let big = http::tool_call_body(1, "start_research_task", json!({"topic": "x".repeat(8000)}));
    let reply = post(&web, &url, "tools/call", big, &[]).await;
    assert_eq!(reply.status, 413, "{reply:?}");

    // Unsupported version: 400 + -32022 with the supported list.
    let body = json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}});
    let reply = post(
        &web,
        &url,
        "server/discover",
        body.to_string(),
        &[("mcp-protocol-version", "2099-01-01")],
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.body["error"]["code"], -32022);
    assert!(
        reply.body["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(VERSION))
    );
    assert_eq!(reply.body["id"], 2);

    // Missing _meta: 400 + -32602.
    let body = json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}});
    let reply = post(&web, &url, "tools/list", body.to_string(), &[]).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].clone()),
        (400, json!(-32602)),
        "{reply:?}"
    );

    // Unknown method: 404 + -32601.
    let body = json!({"jsonrpc":"2.0","id":4,"method":"ping","params":{"_meta":meta()}});
    let reply = post(&web, &url, "ping", body.to_string(), &[]).await;
    assert_eq!(
        (reply.status, reply.body["error"]["code"].clone()),
        (404, json!(-32601)),
        "{reply:?}"
    );

    // Discover and tools/list carry cache hints.
    let reply = post(&web, &url, "server/discover", http::discover_body(5), &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body["result"]["ttlMs"].as_u64().unwrap() > 0);
    assert_eq!(reply.body["result"]["cacheScope"], "public");
    let body = json!({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":meta()}});
    let reply = post(&web, &url, "tools/list", body.to_string(), &[]).await;
    assert!(reply.body["result"]["ttlMs"].as_u64().unwrap() > 0);
    assert_eq!(reply.body["result"]["cacheScope"], "public");

    // GET and DELETE: 405.
    let get = web
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let delete = web
        .delete(&url)
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 405);
}
