//! The HTTP layers that take request metrics.

use std::{collections::HashSet, fmt, sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{Extensions, HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use serde::Deserialize;

use metrics::{Counter, Histogram};

use super::{handles::Handles, names};
use crate::rpc_head::RequestHead;

/// The JSON-RPC methods counted by name; any other is `other`.
const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// The label sets of MCP requests: the tools this server has (a `tools/call` of any other
/// name is counted as `other`, so callers cannot grow the label set), and the handles of the
/// MCP request metrics by labels.
#[derive(Clone)]
pub struct McpLabels {
    tools: Arc<HashSet<Arc<str>>>,
    /// The label of every tool this server does not have, made once.
    other: Arc<str>,
    handles: Arc<McpHandles>,
}

impl Default for McpLabels {
    /// Labels for a server without tools.
    fn default() -> Self {
        McpLabels::new([])
    }
}

impl fmt::Debug for McpLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpLabels")
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

/// The handles of the MCP request metrics, by method, tool (and outcome).
#[derive(Default)]
struct McpHandles {
    durations: Handles<(&'static str, Option<Arc<str>>), Histogram>,
    requests: Handles<(&'static str, Option<Arc<str>>, &'static str), Counter>,
}

impl McpLabels {
    /// Labels for a server with these tools.
    pub fn new(tools: impl IntoIterator<Item = String>) -> Self {
        McpLabels {
            tools: Arc::new(tools.into_iter().map(Arc::from).collect()),
            other: Arc::from("other"),
            handles: Arc::default(),
        }
    }

    fn method(&self, method: &str) -> &'static str {
        METHODS
            .iter()
            .find(|m| **m == method)
            .copied()
            .unwrap_or("other")
    }

    fn tool(&self, name: &str) -> Arc<str> {
        match self.tools.get(name) {
            Some(tool) => Arc::clone(tool),
            None => Arc::clone(&self.other),
        }
    }

    /// The labels of a JSON-RPC request read by [`RequestHead::parse`].
    pub(crate) fn of_head(&self, head: &RequestHead<'_>) -> RequestLabels {
        let method = self.method(head.method.as_deref().unwrap_or(""));
        let tool = match (method, head.name.as_deref()) {
            ("tools/call", Some(name)) => Some(self.tool(name)),
            _ => None,
        };
        RequestLabels { method, tool }
    }

    /// The labels of a request whose body is in memory: those the body check left in its
    /// extensions (it reads every JSON body once, see [`crate::http`]), else read from the
    /// body.
    pub(crate) fn of_request(&self, extensions: &Extensions, body: &[u8]) -> RequestLabels {
        if let Some(labels) = extensions.get::<RequestLabels>() {
            return labels.clone();
        }
        match RequestHead::parse(body) {
            Ok(head) => self.of_head(&head),
            Err(_) => RequestLabels {
                method: "other",
                tool: None,
            },
        }
    }
}

/// The method and tool labels of an MCP request (`tool` is `None` unless `tools/call`).
#[derive(Clone, Debug)]
pub(crate) struct RequestLabels {
    pub(crate) method: &'static str,
    pub(crate) tool: Option<Arc<str>>,
}

impl RequestLabels {
    /// The `tool` label's value (empty unless `tools/call`).
    pub(crate) fn tool(&self) -> &str {
        self.tool.as_deref().unwrap_or("")
    }
}

/// The handles of the HTTP request metrics, by route (and status).
#[derive(Default)]
pub struct HttpMetrics {
    durations: Handles<&'static str, Histogram>,
    requests: Handles<(&'static str, StatusCode), Counter>,
}

/// The route label of a path (a bounded set).
fn route(path: &str) -> &'static str {
    match path {
        "/mcp" => "/mcp",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        p if p.starts_with("/mcp/") => "/mcp",
        p if p.starts_with("/.well-known/") => "/.well-known",
        _ => "other",
    }
}

/// The outermost layer: every request by route and status, with its latency; and the
/// rejections the layers inside answer, by reason:
///
/// - 401 on `/mcp`: `baton_auth_failures_total{reason}` (`missing_credentials` or the
///   `WWW-Authenticate` error, e.g. `invalid_token`);
/// - 429: `baton_rate_limited_requests_total`;
/// - 503 on `/mcp`: `baton_shed_requests_total{reason}`, `overloaded` when it carries
///   `Retry-After` (load shedding), `timeout` otherwise (`--request-timeout`).
pub async fn track_http(
    State(handles): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    handles
        .durations
        .get(
            &route,
            || metrics::histogram!(names::HTTP_DURATION, "route" => route),
        )
        .record(started.elapsed().as_secs_f64());
    handles
        .requests
        .get(&(route, status), || {
            metrics::counter!(names::HTTP_REQUESTS, "route" => route, "status" => status.as_str().to_owned())
        })
        .increment(1);
    if route == "/mcp" {
        match status {
            StatusCode::UNAUTHORIZED => {
                let reason = auth_failure_reason(response.headers());
                metrics::counter!(names::AUTH_FAILURES, "reason" => reason).increment(1);
            }
            StatusCode::TOO_MANY_REQUESTS => metrics::counter!(names::RATE_LIMITED).increment(1),
            StatusCode::SERVICE_UNAVAILABLE => {
                let reason = if response.headers().contains_key(header::RETRY_AFTER) {
                    "overloaded"
                } else {
                    "timeout"
                };
                metrics::counter!(names::SHED, "reason" => reason).increment(1);
            }
            _ => {}
        }
    }
    response
}

/// The reason of a 401, from its `WWW-Authenticate` challenge.
fn auth_failure_reason(headers: &HeaderMap) -> &'static str {
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if challenge.contains("error=\"invalid_token\"") {
        "invalid_token"
    } else if challenge.contains("error=") {
        "other"
    } else {
        "missing_credentials"
    }
}

/// The parts of a JSON-RPC answer the outcome needs.
#[derive(Deserialize)]
struct RpcReply {
    error: Option<serde::de::IgnoredAny>,
    result: Option<RpcResult>,
}

#[derive(Deserialize)]
struct RpcResult {
    #[serde(rename = "isError", default)]
    is_error: bool,
}

/// The innermost layer, right before rmcp (the body is in memory by then): every MCP request
/// by method, tool (for `tools/call`) and outcome (`ok`, `tool_error`, `protocol_error`, or
/// `http_error` when rmcp refuses the request itself), with its latency by method and tool.
pub async fn track_mcp(State(labels): State<McpLabels>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The body was read whole by an outer layer: this only takes it.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let request_labels = labels.of_request(&parts.extensions, &bytes);
    let started = Instant::now();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (response, outcome) = outcome(response).await;
    let RequestLabels { method, tool } = &request_labels;
    let tool_label = request_labels.tool();
    labels
        .handles
        .durations
        .get(&(method, tool.clone()), || {
            metrics::histogram!(names::MCP_DURATION, "method" => *method, "tool" => tool_label.to_owned())
        })
        .record(started.elapsed().as_secs_f64());
    labels
        .handles
        .requests
        .get(&(method, tool.clone(), outcome), || {
            metrics::counter!(names::MCP_REQUESTS, "method" => *method, "tool" => tool_label.to_owned(), "outcome" => outcome)
        })
        .increment(1);
    response
}

/// Reads the outcome of a JSON answer (passing it on unchanged); other answers are `ok` when
/// successful (202 for a notification), `http_error` otherwise.
pub(crate) async fn outcome(response: Response) -> (Response, &'static str) {
    if !response.status().is_success() {
        return (response, "http_error");
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return (response, "ok");
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::debug!(error = %e, "could not read an MCP answer");
            return (Response::from_parts(parts, Body::empty()), "http_error");
        }
    };
    let outcome = match serde_json::from_slice::<RpcReply>(&bytes) {
        Ok(RpcReply { error: Some(_), .. }) => "protocol_error",
        Ok(RpcReply {
            result: Some(RpcResult { is_error: true }),
            ..
        }) => "tool_error",
        _ => "ok",
    };
    (Response::from_parts(parts, Body::from(bytes)), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        let labels = McpLabels::new(["add_findings".to_owned()]);
        assert_eq!(labels.method("tools/call"), "tools/call");
        assert_eq!(labels.method("tools/call2"), "other");
        assert_eq!(&*labels.tool("add_findings"), "add_findings");
        assert_eq!(&*labels.tool("task_0123456789"), "other");
        assert_eq!(&*McpLabels::default().tool("add_findings"), "other");
        assert_eq!(route("/mcp"), "/mcp");
        assert_eq!(route("/secret/task_abc"), "other");
    }

    /// The rejections of the layers inside `track_http` are counted by reason, each request
    /// once, and only on `/mcp`.
    #[tokio::test]
    async fn rejections_are_counted_by_reason() {
        use axum::{Router, routing::post};
        use tower::ServiceExt;
        let handle = crate::observability::handle();
        let app = Router::new()
            .route(
                "/mcp",
                post(|request: Request| async move {
                    let answer = |status, headers: &[(header::HeaderName, &'static str)]| {
                        let mut response = Response::new(Body::empty());
                        *response.status_mut() = status;
                        for (name, value) in headers {
                            response
                                .headers_mut()
                                .insert(name.clone(), header::HeaderValue::from_static(value));
                        }
                        response
                    };
                    match request.uri().query().unwrap_or("") {
                        "shed" => answer(
                            StatusCode::SERVICE_UNAVAILABLE,
                            &[(header::RETRY_AFTER, "1")],
                        ),
                        "timeout" => answer(StatusCode::SERVICE_UNAVAILABLE, &[]),
                        "limited" => answer(StatusCode::TOO_MANY_REQUESTS, &[]),
                        "token" => answer(
                            StatusCode::UNAUTHORIZED,
                            &[(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
                        ),
                        _ => answer(StatusCode::OK, &[]),
                    }
                }),
            )
            .route(
                "/readyz",
                post(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(HttpMetrics::default()),
                track_http,
            ));
        let scrape = || {
            let text = handle.render();
            let value = |series: &str| -> f64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
                    .unwrap_or(0.0)
            };
            [
                value("baton_shed_requests_total{reason=\"overloaded\"}"),
                value("baton_shed_requests_total{reason=\"timeout\"}"),
                value("baton_rate_limited_requests_total"),
                value("baton_auth_failures_total{reason=\"invalid_token\"}"),
            ]
        };
        let before = scrape();
        for query in ["shed", "shed", "timeout", "limited", "token", "ok"] {
            let request = Request::post(format!("/mcp?{query}"))
                .body(Body::empty())
                .expect("request");
            app.clone().oneshot(request).await.expect("answer");
        }
        // A 503 elsewhere is not a shed request.
        let readyz = Request::post("/readyz")
            .body(Body::empty())
            .expect("request");
        app.clone().oneshot(readyz).await.expect("answer");
        let after = scrape();
        let moved: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        assert_eq!(moved, [2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn auth_failures_are_told_apart_by_their_challenge() {
        let mut headers = HeaderMap::new();
        assert_eq!(auth_failure_reason(&headers), "missing_credentials");
        headers.insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(
                "Bearer error=\"invalid_token\", error_description=\"expired\"",
            ),
        );
        assert_eq!(auth_failure_reason(&headers), "invalid_token");
    }
}
