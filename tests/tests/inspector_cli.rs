//! The MCP Inspector CLI (npm `@modelcontextprotocol/inspector` 2.x, headless `--cli`,
//! `protocolEra: "modern"` from `tests/clients/inspector/config.json.in`) against the real
//! `baton` over Streamable HTTP: list tools, then start → status → complete a research
//! task, each call a separate Inspector process, asserting on its JSON output.

use baton_e2e::support::{clients::Inspector, server::Server};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;

#[test]
fn inspector_cli_lists_tools_and_runs_a_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::sqlite(dir.path(), &[]);
    let Some(inspector) = Inspector::install(dir.path(), &server.url()) else {
        return;
    };

    let (code, listed) = inspector.run(&["--method", "tools/list"]);
    assert_eq!(code, 0, "{listed}");
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "start_research_task",
        "get_task_status",
        "complete_research_task",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }

    let (code, started) = inspector.call("start_research_task", &[("topic", "inspector run")]);
    assert_eq!(code, 0, "{started}");
    let result = &started["result"];
    assert_eq!(result["isError"], false, "{started}");
    // The modern era: baton stamps serverInfo into 2026-07-28 results only.
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "baton",
        "not served in the 2026-07-28 era: {started}"
    );
    let handle = result["structuredContent"]["handle"]
        .as_str()
        .expect("handle")
        .to_owned();
    assert!(handle.starts_with("task_"), "{handle}");

    // A second, independent Inspector process uses the handle: no session in between.
    let (code, status) = inspector.call("get_task_status", &[("handle", &handle)]);
    assert_eq!(code, 0, "{status}");
    let status = &status["result"]["structuredContent"];
    assert_eq!(status["topic"], "inspector run");
    assert_eq!(status["status"], "running");

    let args = serde_json::json!({"handle": handle, "findings": ["seen through the Inspector"]});
    let (code, done) = inspector.call_json("complete_research_task", &args);
    assert_eq!(code, 0, "{done}");
    assert_eq!(
        done["result"]["structuredContent"]["status"], "complete",
        "{done}"
    );

    let (code, again) = inspector.call("get_task_status", &[("handle", &handle)]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["result"]["structuredContent"]["status"], "complete");
    assert_eq!(again["result"]["structuredContent"]["findings_count"], 1);

    // An unknown handle is a tool error: the Inspector exits 5 and shows the message.
    let (code, unknown) = inspector.call("get_task_status", &[("handle", "task_unknown")]);
    assert_eq!(code, 5, "{unknown}");
    assert!(
        unknown.to_string().contains(UNKNOWN_HANDLE_MESSAGE),
        "the one unknown-handle message: {unknown}"
    );
    drop(server);
}
