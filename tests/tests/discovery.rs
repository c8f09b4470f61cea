//! On-demand tool discovery end to end: search exposure mode with `search_tools` and
//! `call_tool`, driven by an rmcp client against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use baton_e2e::support::{
    mcp::{call, err, modern_client, ok},
    server::{Server, baton_bin, sqlite_url},
};
use rmcp::model::PaginatedRequestParams;
use serde_json::json;

fn catalog_file() -> String {
    format!(
        "{}/../bench/catalog/tools-500.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn search_server(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--tool-exposure", "search"];
    args.extend_from_slice(extra);
    Server::sqlite(dir.path(), &args)
}

#[tokio::test]
async fn search_mode_lists_little_and_finds_the_research_tools() {
    let dir = tempfile::tempdir().unwrap();
    let server = search_server(&dir, &[]);
    let client = modern_client(&server.url()).await;

    let listed: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(listed, ["call_tool", "search_tools"]);
    let instructions = client
        .peer_info()
        .and_then(|i| i.instructions.clone())
        .unwrap_or_default();
    assert!(instructions.contains("search_tools"), "{instructions}");

    let found = ok(&call(
        &client,
        "search_tools",
        json!({"query": "begin researching a new topic", "limit": 3}),
    )
    .await);
    let tools = found["tools"].as_array().expect("tools");
    assert!(!tools.is_empty() && tools.len() <= 3);
    assert_eq!(tools[0]["name"], "start_research_task", "{found}");
    assert_eq!(tools[0]["inputSchema"]["type"], "object");

    // Found tools are callable directly, although tools/list does not show them ...
    let direct = ok(&call(&client, "start_research_task", json!({"topic": "direct"})).await);
    assert!(direct["handle"].as_str().unwrap().starts_with("task_"));

    // ... and through call_tool, whose result is the target's, unchanged.
    let proxied = ok(&call(
        &client,
        "call_tool",
        json!({"name": "start_research_task", "arguments": {"topic": "proxied", "depth": 4}}),
    )
    .await);
    let handle = proxied["handle"].as_str().unwrap();
    let status = ok(&call(
        &client,
        "call_tool",
        json!({"name": "get_task_status", "arguments": {"handle": handle}}),
    )
    .await);
    assert_eq!(status["topic"], "proxied");
    assert_eq!(status["depth"], 4);

    // call_tool validates arguments against the target's input schema before calling it.
    let invalid = err(&call(
        &client,
        "call_tool",
        json!({"name": "start_research_task", "arguments": {"topic": "t", "depth": "deep"}}),
    )
    .await);
    assert!(
        invalid.starts_with("invalid argument `arguments.depth`"),
        "{invalid}"
    );
    let missing = err(&call(
        &client,
        "call_tool",
        json!({"name": "start_research_task", "arguments": {}}),
    )
    .await);
    assert!(
        missing.starts_with("invalid argument `arguments`") && missing.contains("topic"),
        "{missing}"
    );
    let unknown = err(&call(&client, "call_tool", json!({"name": "no_such_tool"})).await);
    assert!(unknown.starts_with("invalid argument `name`"), "{unknown}");

    // Empty and absurd queries are errors, not empty successes.
    for query in ["", "   ", &"x".repeat(501)] {
        let e = err(&call(&client, "search_tools", json!({"query": query})).await);
        assert!(e.starts_with("invalid argument `query`"), "{e}");
    }
    let e = err(&call(
        &client,
        "search_tools",
        json!({"query": "task", "limit": 0}),
    )
    .await);
    assert!(e.starts_with("invalid argument `limit`"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_mode_tools_list_is_stable_across_instances_and_searches_a_catalog_file() {
    let catalog = catalog_file();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers: Vec<Server> = dirs
        .iter()
        .map(|d| search_server(d, &["--catalog", &catalog]))
        .collect();
    let mut lists = Vec::new();
    for server in &servers {
        let client = modern_client(&server.url()).await;
        lists.push(serde_json::to_string(&client.list_all_tools().await.unwrap()).unwrap());
        let found = ok(&call(
            &client,
            "search_tools",
            json!({"query": "open a pull request on github"}),
        )
        .await);
        let names: Vec<&str> = found["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            names.iter().any(|n| n.contains("pull_request")),
            "{names:?}"
        );
        // Catalog-only definitions answer with a clear tool error when called, directly or
        // through call_tool (with valid arguments: this one requires none).
        let catalog_only = |name: &str| {
            format!(
                "`{name}` is a catalog-only definition (loaded from --catalog); this server has no implementation for it"
            )
        };
        assert_eq!(
            err(&call(&client, names[0], json!({})).await),
            catalog_only(names[0])
        );
        assert_eq!(
            err(&call(
                &client,
                "call_tool",
                json!({"name": "asana_list_projects", "arguments": {}}),
            )
            .await),
            catalog_only("asana_list_projects")
        );
        client.cancel().await.unwrap();
    }
    assert_eq!(lists[0], lists[1], "tools/list differs between instances");
    assert!(
        lists[0].len() < 4_000,
        "search-mode tools/list is small: {} bytes",
        lists[0].len()
    );
}

#[tokio::test]
async fn full_mode_pages_a_large_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file();
    let server = Server::sqlite(dir.path(), &["--catalog", &catalog]);
    let client = modern_client(&server.url()).await;
    let first = client.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 100);
    assert!(first.next_cursor.is_some());
    // Page by page, following the catalog's cursors: 500 + baton's own tools in pages of 100.
    let total = 500 + baton_protocol::tool::ALL.len();
    let (mut paged, mut pages, mut cursor) = (Vec::new(), 0, None);
    for _ in 0..20 {
        let page = client
            .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
            .await
            .unwrap();
        pages += 1;
        paged.extend(page.tools.iter().map(|t| t.name.to_string()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!((paged.len(), pages), (total, 6), "every tool, in 6 pages");
    let refused = client
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("not-a-cursor".to_owned())),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("invalid cursor for tools/list: it was not issued by this server"),
        "{refused}"
    );
    let all = client.list_all_tools().await.unwrap();
    assert_eq!(
        all.len(),
        500 + baton_protocol::tool::ALL.len(),
        "500 catalog tools + baton's research tools"
    );
    let mut names: Vec<_> = all.iter().map(|t| t.name.to_string()).collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "deterministic name order");
    assert_eq!(names, paged, "list_all_tools sees the pages above");
    names.dedup();
    assert_eq!(names.len(), 500 + baton_protocol::tool::ALL.len());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn another_teams_tool_is_listed_searchable_and_validated() {
    // examples/custom_tool.rs embeds baton and adds `count_words` through baton-catalog.
    let example = baton_bin().with_file_name("examples").join("custom_tool");
    assert!(
        example.exists(),
        "build it with `cargo build -p baton-server --examples`"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start_program(
        example,
        &["--database-url", &url, "--tool-exposure", "search"],
        &[],
    );
    let client = modern_client(&server.url()).await;
    let found = ok(&call(
        &client,
        "search_tools",
        json!({"query": "how many words are in this text", "limit": 3}),
    )
    .await);
    assert_eq!(found["tools"][0]["name"], "count_words", "{found}");
    let counted = ok(&call(&client, "count_words", json!({"text": "one two  three"})).await);
    assert_eq!(counted["words"], 3);
    let proxied = ok(&call(
        &client,
        "call_tool",
        json!({"name": "count_words", "arguments": {"text": "a b"}}),
    )
    .await);
    assert_eq!(proxied["words"], 2);
    let invalid = err(&call(
        &client,
        "call_tool",
        json!({"name": "count_words", "arguments": {"text": 5}}),
    )
    .await);
    assert!(
        invalid.starts_with("invalid argument `arguments.text`"),
        "{invalid}"
    );
    // baton's own tools are still there.
    ok(&call(
        &client,
        "start_research_task",
        json!({"topic": "still here"}),
    )
    .await);
    client.cancel().await.unwrap();
}
