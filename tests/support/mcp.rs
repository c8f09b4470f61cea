//! rmcp clients connected to a baton server, and the research-task lifecycle they run.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::{
        CallToolRequestParams, CallToolResult, ClientConfig, ClientJsonRpcMessage, ProtocolVersion,
    },
    service::RunningService,
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{
            SseError, StreamableHttpClient, StreamableHttpClientTransportConfig,
            StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
        },
    },
};
use serde_json::{Value, json};

/// An rmcp client connected to a baton server.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// Connects an rmcp client in the 2026-07-28 era (`server/discover`, per-request `_meta`).
pub async fn modern_client(url: &str) -> McpClient {
    connect_modern(url, None)
        .await
        .unwrap_or_else(|e| panic!("modern client connects: {e}"))
}

/// Connects an rmcp client in the 2026-07-28 era that sends `token` as
/// `Authorization: Bearer <token>` on every request (rmcp's `auth_header` option).
pub async fn modern_client_with_token(url: &str, token: &str) -> McpClient {
    connect_modern(url, Some(token))
        .await
        .unwrap_or_else(|e| panic!("modern client with a token connects: {e}"))
}

/// Connects an rmcp client in the 2026-07-28 era, with `token` if any; the error is rmcp's.
pub async fn connect_modern(url: &str, token: Option<&str>) -> Result<McpClient, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// Connects an rmcp client in the initialize era (2025-11-25 handshake).
pub async fn legacy_client(url: &str) -> McpClient {
    initialize_client(reqwest::Client::new(), url, ProtocolVersion::V_2025_11_25).await
}

/// Connects an rmcp client that asks for `version` with the `initialize` handshake, through
/// `http` (any [`StreamableHttpClient`], e.g. one that records what it sees).
pub async fn initialize_client<C: StreamableHttpClient>(
    http: C,
    url: &str,
    version: ProtocolVersion,
) -> McpClient {
    let mut config = ClientConfig::default();
    config.protocol_version = version.clone();
    config
        .serve_with_lifecycle(
            StreamableHttpClientTransport::with_client(
                http,
                StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
            ),
            ClientLifecycleMode::Initialize,
        )
        .await
        .unwrap_or_else(|e| panic!("{version} client connects: {e}"))
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

/// The `handle` field of a tool result.
pub fn handle_of(v: &Value) -> String {
    v["handle"]
        .as_str()
        .unwrap_or_else(|| panic!("no handle in {v}"))
        .to_owned()
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
    let handle = handle_of(&started);
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

/// What a [`SessionWatch`] saw pass through it.
#[derive(Clone, Debug, Default)]
pub struct SessionTraffic {
    /// How many POSTs were answered.
    pub answered_posts: usize,
    /// Every `Mcp-Session-Id` the server answered with.
    pub session_ids_received: Vec<String>,
    /// Every `Mcp-Session-Id` the client sent.
    pub session_ids_sent: Vec<String>,
}

/// rmcp's reqwest client, watched: it records every session id that goes either way, so a
/// test can show that a client was served without a session.
#[derive(Clone, Default)]
pub struct SessionWatch {
    inner: reqwest::Client,
    traffic: Arc<Mutex<SessionTraffic>>,
}

impl SessionWatch {
    /// What went through so far.
    pub fn traffic(&self) -> SessionTraffic {
        self.traffic.lock().expect("traffic lock").clone()
    }

    fn sent(&self, session_id: Option<&Arc<str>>) {
        if let Some(id) = session_id {
            let mut t = self.traffic.lock().expect("traffic lock");
            t.session_ids_sent.push(id.to_string());
        }
    }

    fn answered(&self, response: &StreamableHttpPostResponse) {
        let mut t = self.traffic.lock().expect("traffic lock");
        t.answered_posts += 1;
        if let StreamableHttpPostResponse::Json(_, Some(id))
        | StreamableHttpPostResponse::Sse(_, Some(id)) = response
        {
            t.session_ids_received.push(id.clone());
        }
    }
}

impl StreamableHttpClient for SessionWatch {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.sent(session_id.as_ref());
        let response = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await?;
        self.answered(&response);
        Ok(response)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.sent(Some(&session_id));
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        BoxStream<'static, Result<sse_stream::Sse, SseError>>,
        StreamableHttpError<Self::Error>,
    > {
        self.sent(session_id.as_ref());
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }
}
