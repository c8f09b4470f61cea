//! Every tool schema the real `baton` binary publishes is strict JSON Schema 2020-12: valid
//! against the meta-schema, standard vocabulary only, no unknown `format`
//! (`baton_protocol::strict_schema`). Read from the wire: `tools/list` (every page, with
//! `--conformance-fixtures` and a `--catalog` of 500 catalog-only definitions), the
//! definitions `search_tools` returns in search mode, and `tools/list` of the 2025-11-25 era.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use baton_e2e::support::{
    http::{self, meta},
    mcp::legacy_client,
    rpc::Rpc,
    server::Server,
};
use baton_protocol::strict_schema::check_tool;
use serde_json::{Value, json};

fn catalog_file() -> String {
    format!(
        "{}/../bench/catalog/tools-500.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Every tool of `tools/list` (2026-07-28), following `nextCursor` (at most 100 pages).
async fn list_all(url: &str) -> Vec<Value> {
    let client = http::client(std::time::Duration::from_secs(30));
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 1..=100 {
        let mut params = json!({"_meta": meta()});
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
        let reply = http::post(&client, url, "tools/list", body.to_string(), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let result = &reply.body["result"];
        tools.extend(result["tools"].as_array().expect("tools").iter().cloned());
        match result["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return tools,
        }
    }
    panic!("tools/list still had more pages after 100");
}

/// Checks every tool; panics with all problems of all tools. Returns the names.
fn assert_strict(tools: &[Value]) -> Vec<String> {
    let problems: Vec<String> = tools
        .iter()
        .filter_map(|t| check_tool(t).err().map(|p| p.to_string()))
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} published tool definitions are not strict JSON Schema 2020-12:\n{}",
        problems.len(),
        tools.len(),
        problems.join("\n")
    );
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn tools_list_with_fixtures_and_a_catalog_is_strict_2020_12() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file();
    let server = Server::sqlite(
        dir.path(),
        &["--conformance-fixtures", "--catalog", &catalog],
    );
    let tools = list_all(&server.url()).await;
    let names = assert_strict(&tools);
    for name in baton_protocol::tool::ALL
        .into_iter()
        .chain(["json_schema_2020_12_tool", "test_simple_text"])
    {
        assert!(names.iter().any(|n| n == name), "{name} is not listed");
    }
    assert!(names.len() > 500, "{} tools listed", names.len());
    // The research tools' results are described too, with their ranges.
    let status = tools
        .iter()
        .find(|t| t["name"] == "get_task_status")
        .unwrap();
    let depth = &status["outputSchema"]["properties"]["depth"];
    assert_eq!(
        (depth["minimum"].as_u64(), depth["maximum"].as_u64()),
        (Some(1), Some(5))
    );

    // The initialize era lists the same definitions.
    let legacy = legacy_client(&server.url()).await;
    let listed: Vec<Value> = legacy
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(assert_strict(&listed).len(), names.len());
    legacy.cancel().await.unwrap();
}

#[tokio::test]
async fn search_mode_meta_tools_and_search_results_are_strict_2020_12() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file();
    let server = Server::sqlite(
        dir.path(),
        &[
            "--tool-exposure",
            "search",
            "--conformance-fixtures",
            "--catalog",
            &catalog,
        ],
    );
    let listed = assert_strict(&list_all(&server.url()).await);
    // The two meta-tools, and the catalog's pinned tools.
    for name in ["call_tool", "search_tools", "web_search"] {
        assert!(
            listed.iter().any(|n| n == name),
            "{name} not listed: {listed:?}"
        );
    }

    // search_tools hands out full definitions: those are published schemas too.
    let rpc = Rpc::default();
    let mut found = Vec::new();
    for query in [
        "start a research task",
        "read the findings of a task",
        "json schema person with an address",
        "open a pull request",
        "refund a payment",
    ] {
        let result = rpc
            .call(
                &server.url(),
                "search_tools",
                json!({"query": query, "limit": 10}),
            )
            .await;
        found.extend(
            result.ok()["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .cloned(),
        );
    }
    let names = assert_strict(&found);
    for name in [
        "start_research_task",
        "get_task_results",
        "json_schema_2020_12_tool",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} not found: {names:?}"
        );
    }
}
