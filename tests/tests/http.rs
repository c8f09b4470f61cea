//! The real `baton` binary over Streamable HTTP, driven by rmcp clients in both protocol
//! eras and by raw HTTP for what a well-behaved client never sends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use baton_e2e::{Server, call, err, legacy_client, lifecycle, modern_client, ok};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::{Value, json};

fn sqlite_server(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
    let url = format!("sqlite://{}", dir.path().join("baton.db").display());
    let mut args = vec!["--database-url", url.as_str()];
    args.extend_from_slice(extra);
    Server::start(&args)
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
            "complete_research_task",
            "get_task_results",
            "get_task_status",
            "list_research_tasks",
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
    let logs = server.logs();
    assert!(
        !logs.contains(&handle),
        "a full handle reached the logs:\n{logs}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn initialize_era_client_is_served_statelessly() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let client = legacy_client(&server.url()).await;
    let info = client.peer_info().expect("initialize result");
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");
    lifecycle(&client).await;
    client.cancel().await.unwrap();
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
async fn expired_handles_answer_like_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &["--idle-ttl", "1s", "--absolute-ttl", "2s"]);
    let client = modern_client(&server.url()).await;
    let started = ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "short-lived"}),
    )
    .await);
    let handle = started["handle"].as_str().unwrap().to_owned();
    ok(&call(&client, "get_task_status", json!({"handle": handle})).await);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        err(&call(&client, "get_task_status", json!({"handle": handle})).await),
        UNKNOWN_HANDLE_MESSAGE
    );
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
            "invalid argument `depth`",
        ),
        ("start_research_task", json!({}), "`topic`"),
        (
            "start_research_task",
            json!({"topic": "t", "colour": 1}),
            "`colour`",
        ),
        (
            "add_findings",
            json!({"handle": "task_x", "findings": ["ok", 7]}),
            "invalid argument `findings[1]`",
        ),
        (
            "get_task_results",
            json!({"handle": "task_x", "limit": 0}),
            "invalid argument `limit`",
        ),
        (
            "list_research_tasks",
            json!({"cursor": "garbage"}),
            "invalid argument `cursor`",
        ),
        (
            "list_research_tasks",
            json!({"status": "finished"}),
            "invalid argument `status`",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = err(&call(&client, tool, args.clone()).await);
        assert!(
            message.starts_with(expected) || message.contains(expected),
            "{tool} {args}: {message}"
        );
    }
    // Limits name the field and the limit.
    let started = ok(&call(&client, "start_research_task", json!({"topic": "limits"})).await);
    let handle = started["handle"].as_str().unwrap();
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
    assert!(
        conflict.starts_with("invalid argument `idempotency_key`"),
        "{conflict}"
    );
    client.cancel().await.unwrap();
}

// ---- raw HTTP: what rmcp's own client never sends ----

const V: &str = "2026-07-28";

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}})
}

fn raw(server: &Server) -> (reqwest::Client, String) {
    (reqwest::Client::new(), server.url())
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    body: String,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", V),
        ("mcp-method", method),
    ]
    .iter()
    .chain(extra)
    {
        // Later entries replace earlier ones, so a test can override a default header.
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let resp = client
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn protocol_errors_over_raw_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &["--max-body-bytes", "4096"]);
    let (http, url) = raw(&server);

    // Malformed JSON: -32700.
    let (status, body) = post(
        &http,
        &url,
        "tools/list",
        "{\"jsonrpc\":\"2.0\",".into(),
        &[],
    )
    .await;
    assert_eq!(body["error"]["code"], -32700, "status {status}: {body}");

    // Body over the limit: 413.
    let big = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"start_research_task","arguments":{"topic":"x".repeat(8000)},"_meta":meta()}});
    let (status, _) = post(
        &http,
        &url,
        "tools/call",
        big.to_string(),
        &[("mcp-name", "start_research_task")],
    )
    .await;
    assert_eq!(status, 413);

    // Unsupported version: 400 + -32022 with the supported list.
    let body = json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}});
    let (status, resp) = post(
        &http,
        &url,
        "server/discover",
        body.to_string(),
        &[("mcp-protocol-version", "2099-01-01")],
    )
    .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], -32022);
    assert!(
        resp["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(V))
    );
    assert_eq!(resp["id"], 2);

    // Missing _meta: 400 + -32602.
    let body = json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}});
    let (status, resp) = post(&http, &url, "tools/list", body.to_string(), &[]).await;
    assert_eq!(
        (status, resp["error"]["code"].clone()),
        (400, json!(-32602)),
        "{resp}"
    );

    // Unknown method: 404 + -32601.
    let body = json!({"jsonrpc":"2.0","id":4,"method":"ping","params":{"_meta":meta()}});
    let (status, resp) = post(&http, &url, "ping", body.to_string(), &[]).await;
    assert_eq!(
        (status, resp["error"]["code"].clone()),
        (404, json!(-32601)),
        "{resp}"
    );

    // Discover carries cache hints.
    let body = json!({"jsonrpc":"2.0","id":5,"method":"server/discover","params":{"_meta":meta()}});
    let (status, resp) = post(&http, &url, "server/discover", body.to_string(), &[]).await;
    assert_eq!(status, 200);
    assert!(resp["result"]["ttlMs"].as_u64().unwrap() > 0);
    assert_eq!(resp["result"]["cacheScope"], "public");
    let body = json!({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":meta()}});
    let (_, resp) = post(&http, &url, "tools/list", body.to_string(), &[]).await;
    assert!(resp["result"]["ttlMs"].as_u64().unwrap() > 0);
    assert_eq!(resp["result"]["cacheScope"], "public");

    // Bad Origin: 403. Foreign Host: rejected.
    let (status, _) = post(
        &http,
        &url,
        "server/discover",
        json!({"jsonrpc":"2.0","id":7,"method":"server/discover","params":{"_meta":meta()}})
            .to_string(),
        &[
            ("origin", "http://evil.example.com"),
            ("host", "evil.example.com"),
        ],
    )
    .await;
    assert!((400..500).contains(&status), "status {status}");

    // GET and DELETE: 405.
    let get = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let delete = http
        .delete(&url)
        .header("mcp-protocol-version", V)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 405);
}

#[tokio::test]
async fn health_readiness_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, &[]);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = http
        .get(format!("http://{}/readyz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert!(
        server.terminate(Duration::from_secs(10)),
        "baton exits 0 on SIGTERM"
    );
}
