//! A stateless MCP client that speaks raw JSON-RPC over HTTP, for load loops and races:
//! each call is one POST, and a failed call leaves nothing behind (unlike a session-holding
//! client).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use super::http;

/// What one `tools/call` came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The tool succeeded: its structured content.
    Ok(Value),
    /// The tool answered an error: its text.
    ToolError(String),
    /// No tool answer: transport error, non-200 status, or a JSON-RPC error.
    Failed(String),
}

impl Outcome {
    /// The text of a tool error; panics otherwise.
    pub fn tool_error(&self) -> &str {
        match self {
            Outcome::ToolError(m) => m,
            other => panic!("expected a tool error, got {other:?}"),
        }
    }

    /// The structured content; panics otherwise.
    pub fn ok(&self) -> &Value {
        match self {
            Outcome::Ok(v) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    /// Whether the tool succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// The raw JSON-RPC client.
#[derive(Clone)]
pub struct Rpc {
    http: reqwest::Client,
    next_id: Arc<AtomicU64>,
    /// The `Authorization` header value sent with every call, if any.
    authorization: Option<String>,
}

impl Default for Rpc {
    fn default() -> Self {
        Rpc::new(Duration::from_secs(20))
    }
}

impl Rpc {
    /// A client whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Rpc {
        Rpc {
            http: http::client(timeout),
            next_id: Arc::new(AtomicU64::new(1)),
            authorization: None,
        }
    }

    /// This client, presenting `token` (an API key or an OAuth access token) as
    /// `Authorization: Bearer <token>` on every call.
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Rpc {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// `tools/call` of `tool` with `arguments` at `url`: the whole HTTP answer.
    pub async fn call_reply(&self, url: &str, tool: &str, arguments: Value) -> http::Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = http::tool_call_body(id, tool, arguments);
        http::post(&self.http, url, "tools/call", body, &self.headers()).await
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        self.authorization
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect()
    }

    /// `tools/call` of `tool` with `arguments` at `url`.
    pub async fn call(&self, url: &str, tool: &str, arguments: Value) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = http::tool_call_body(id, tool, arguments);
        let reply = match http::try_post(&self.http, url, "tools/call", body, &self.headers()).await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("transport: {e}")),
        };
        if reply.status != 200 {
            return Outcome::Failed(format!("status {}: {}", reply.status, reply.text().trim()));
        }
        if reply.body.get("error").is_some() {
            return Outcome::Failed(format!("JSON-RPC error: {}", reply.body["error"]));
        }
        let result = &reply.body["result"];
        if result.is_null() {
            return Outcome::Failed(format!("status 200, no result: {}", reply.text()));
        }
        if result["isError"] == json!(true) {
            let text = result["content"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|b| b["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            Outcome::ToolError(text)
        } else {
            match result.get("structuredContent") {
                Some(v) => Outcome::Ok(v.clone()),
                None => Outcome::Failed(format!("no structured content: {result}")),
            }
        }
    }

    /// Every finding of a task, following `next_cursor` (pages of 200).
    pub async fn all_findings(&self, url: &str, handle: &str) -> Result<Vec<Value>, String> {
        let mut findings = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let mut args = json!({"handle": handle, "limit": 200});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = match self.call(url, "get_task_results", args).await {
                Outcome::Ok(v) => v,
                other => return Err(format!("get_task_results: {other:?}")),
            };
            findings.extend(page["findings"].as_array().cloned().unwrap_or_default());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(findings),
            }
        }
        Err("more than 1,000 pages".to_owned())
    }

    /// Every task the caller can list at `url` (optionally in one status), following
    /// `next_cursor`.
    pub async fn all_tasks(&self, url: &str, status: Option<&str>) -> Result<Vec<Value>, String> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let mut args = json!({"limit": 200});
            if let Some(s) = status {
                args["status"] = json!(s);
            }
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = match self.call(url, "list_research_tasks", args).await {
                Outcome::Ok(v) => v,
                other => return Err(format!("list_research_tasks: {other:?}")),
            };
            tasks.extend(page["tasks"].as_array().cloned().unwrap_or_default());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(tasks),
            }
        }
        Err("more than 1,000 pages".to_owned())
    }
}
