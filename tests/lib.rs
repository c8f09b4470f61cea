//! Test support for baton's end-to-end tests: start the real `baton` binary, connect real
//! MCP clients to it, and read its logs.
//!
//! The binary is found next to the test executable (`target/<profile>/baton`), or at
//! `$BATON_BIN`. `cargo xtask test` builds it before running the tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

pub mod fleet_support;
pub mod support_clients;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::{CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion},
    service::RunningService,
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};

/// An rmcp client connected to a baton server.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// Path of the `baton` binary under test.
pub fn baton_bin() -> PathBuf {
    if let Ok(path) = std::env::var("BATON_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/baton
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("baton");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p baton-server` (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// A running `baton` process, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `baton serve` on a free port with the given extra arguments and waits until it
    /// listens. Panics (with its logs) if it does not within 20 s.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        Self::start_program(baton_bin(), &all, env)
    }

    /// Starts any program that takes `baton serve`'s flags (e.g. an example embedding baton)
    /// with `--listen 127.0.0.1:0` appended to `args`.
    pub fn start_program(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "info,baton_server=debug")
            .env_remove("BATON_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn baton");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut logs = sink.lock().expect("logs lock");
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => Server {
                child,
                addr: addr.parse().expect("listen address"),
                logs,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "baton did not start listening; its logs:\n{}",
                    logs.lock().expect("logs lock")
                );
            }
        }
    }

    /// The MCP endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Everything the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs lock").clone()
    }

    /// Sends SIGKILL and waits.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `within` for a clean exit; returns whether it exited 0.
    pub fn terminate(mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects an rmcp client in the 2026-07-28 era (`server/discover`, per-request `_meta`).
pub async fn modern_client(url: &str) -> McpClient {
    ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.to_owned()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("modern client connects")
}

/// Connects an rmcp client in the initialize era (2025-11-25 handshake).
pub async fn legacy_client(url: &str) -> McpClient {
    ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.to_owned()),
            ClientLifecycleMode::Initialize,
        )
        .await
        .expect("legacy client connects")
}

/// Calls a tool with JSON arguments.
pub async fn call(client: &McpClient, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(arguments) = args else {
        panic!("tool arguments must be a JSON object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool} failed at the protocol level: {e}"))
}

/// The structured content of a successful result (panics with the text on a tool error).
pub fn ok(result: &CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "tool error: {}", text(result));
    result
        .structured_content
        .clone()
        .expect("structured content")
}

/// The text of a tool error (panics if the call succeeded).
pub fn err(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error, got {}",
        text(result)
    );
    text(result)
}

/// The concatenated text content of a result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the whole research-task lifecycle through `client` and checks every answer.
/// Returns the handle of the completed task.
pub async fn lifecycle(client: &McpClient) -> String {
    let started = ok(&call(
        client,
        "start_research_task",
        json!({"topic": "  ocean acidification ", "depth": 3}),
    )
    .await);
    let handle = started["handle"].as_str().expect("handle").to_owned();
    assert!(handle.starts_with("task_"), "{handle}");
    assert_eq!(started["status"], "running");
    assert_eq!(started["replayed"], false);

    let status = ok(&call(client, "get_task_status", json!({"handle": handle})).await);
    assert_eq!(status["topic"], "ocean acidification");
    assert_eq!(status["depth"], 3);
    assert_eq!(status["status"], "running");
    assert_eq!(status["findings_count"], 0);

    let added = ok(&call(client, "add_findings", json!({"handle": handle, "findings": ["pH fell 0.1 since 1850", "coral calcification slows"]})).await);
    assert_eq!(added["findings_count"], 2);
    assert_eq!(added["added"], 2);

    let done = ok(&call(
        client,
        "complete_research_task",
        json!({"handle": handle, "findings": ["pteropod shells dissolve"]}),
    )
    .await);
    assert_eq!(done["status"], "complete");
    assert_eq!(done["result_count"], 3);

    let again = err(&call(
        client,
        "complete_research_task",
        json!({"handle": handle, "findings": []}),
    )
    .await);
    assert_eq!(
        again,
        "cannot complete the task: the task is already complete"
    );

    let page1 = ok(&call(
        client,
        "get_task_results",
        json!({"handle": handle, "limit": 2}),
    )
    .await);
    assert_eq!(page1["findings"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["findings"][0]["text"], "pH fell 0.1 since 1850");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("next cursor")
        .to_owned();
    let page2 = ok(&call(
        client,
        "get_task_results",
        json!({"handle": handle, "cursor": cursor}),
    )
    .await);
    assert_eq!(page2["findings"][0]["index"], 3);
    assert_eq!(page2["findings"][0]["text"], "pteropod shells dissolve");
    assert!(page2.get("next_cursor").is_none());

    let listed = ok(&call(client, "list_research_tasks", json!({"status": "complete"})).await);
    assert!(
        listed["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .any(|t| t["handle"] == handle.as_str()),
        "completed task listed: {listed}"
    );
    handle
}
