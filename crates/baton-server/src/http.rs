//! Streamable HTTP: the axum app around rmcp's service, with its layers.
//!
//! Request flow at `/mcp`, each step before the next (the listener's connection caps and
//! header-read timeout come first, see [`crate::listener`]):
//!
//! 1. tracing;
//! 2. Host and Origin ([`crate::origin`]): 403, from the headers alone;
//! 3. authentication ([`crate::auth`]): 401, from the headers alone; a client address whose
//!    requests keep failing it gets 429 instead ([`crate::limits`]);
//! 4. the caller's rate limit: 429 with `Retry-After`;
//! 5. the body, read whole within `--body-read-timeout` (408) and `--max-body-bytes` (413),
//!    before the request takes one of the `--max-concurrent-requests` slots, so slow uploads
//!    hold none;
//! 6. load shedding (503 with `Retry-After`), the concurrency limit and `--request-timeout`
//!    (503);
//! 7. the JSON check (-32700) and tool scopes (403);
//! 8. rmcp's `StreamableHttpService` (its own Host/Origin checks, headers and `_meta`
//!    validation, JSON-RPC) → the handler ([`crate::app::Baton`]) → tool → store.
//!
//! `/healthz`, `/readyz`, `/metrics` and the Protected Resource Metadata skip steps 2 to 7:
//! they are never shed. Metrics are taken around everything (route, status, latency,
//! rejections) and right before rmcp (MCP method, tool, outcome): see
//! [`crate::observability`]. With `--otlp-endpoint` (feature `otel`), a span per MCP request
//! is taken right outside the latter.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use baton_store::ResearchStore;
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::never::NeverSessionManager,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::{
    auth::{self, Granted, HttpAuth, ToolScopes},
    config::{AuthMethodArg, ServeArgs},
    limits::{self, RateLimits},
    listener::{self, ConnectionLimits},
    origin::{self, OriginGuard},
    rpc_head::RequestHead,
};

/// What the HTTP app needs besides the handler.
pub struct HttpOptions {
    /// Host names accepted in `Host` (empty with `any_host`).
    pub allowed_hosts: Vec<String>,
    /// Accept any `Host`.
    pub any_host: bool,
    /// Origins accepted in `Origin`.
    pub allowed_origins: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Most requests at once.
    pub max_concurrent_requests: usize,
    /// Longest a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// Rate limits per caller and per failing client address.
    pub rate_limits: RateLimits,
    /// Connection caps and the header-read timeout.
    pub connections: ConnectionLimits,
    /// The label sets of MCP request metrics.
    pub mcp_labels: crate::observability::McpLabels,
    /// Serve `GET /metrics` on this listener (never shed, rate-limited or authenticated).
    pub metrics_route: Option<crate::observability::MetricsState>,
}

impl HttpOptions {
    /// From `baton serve` flags. Spawns the rate limits' pruning, so it runs in a runtime.
    /// Callers are rate-limited per principal only when they authenticate: with `--auth none`
    /// every caller is the one principal `anonymous`, so its budget would be the instance's.
    pub fn from_args(args: &ServeArgs) -> Self {
        let limits = &args.http_limits;
        let authenticated =
            !args.auth.methods.is_empty() && !args.auth.methods.contains(&AuthMethodArg::None);
        let per_principal = if authenticated {
            limits.rate_limit.quota(limits.rate_burst)
        } else {
            None
        };
        let auth_failures = limits
            .auth_failure_rate_limit
            .quota(limits.auth_failure_burst);
        let per_principal_shown = match per_principal {
            Some(_) => limits.rate_limit,
            None => limits::RateLimit::Off,
        };
        tracing::info!(
            per_principal = %per_principal_shown,
            burst = limits.rate_burst.get(),
            auth_failures_per_address = %limits.auth_failure_rate_limit,
            max_connections = limits.max_connections,
            max_connections_per_ip = limits.max_connections_per_ip,
            "HTTP rate limits and connection caps"
        );
        HttpOptions {
            body_read_timeout: limits.body_read_timeout,
            rate_limits: RateLimits::new(per_principal, auth_failures),
            connections: ConnectionLimits {
                max_connections: limits.max_connections,
                max_connections_per_ip: limits.max_connections_per_ip,
                idle_timeout: limits.idle_timeout,
                header_read_timeout: limits.header_read_timeout,
            },
            allowed_hosts: args.allowed_hosts.clone(),
            any_host: args.any_host,
            allowed_origins: args.allowed_origins.clone(),
            max_body_bytes: args.max_body_bytes,
            request_timeout: args.request_timeout,
            max_concurrent_requests: args.max_concurrent_requests,
            mcp_labels: Default::default(),
            metrics_route: None,
        }
    }
}

/// Builds the axum app: `/mcp`, `/healthz`, `/readyz`. `cut` is cancelled when requests
/// still in flight must be abandoned (the shutdown grace is over): rmcp then ends their
/// handlers and open listen streams.
pub fn app<H: rmcp::ServerHandler + Clone>(
    handler: H,
    store: Arc<dyn ResearchStore>,
    options: &HttpOptions,
    auth: Arc<HttpAuth>,
    scopes: Arc<ToolScopes>,
    cut: CancellationToken,
) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_legacy_session_mode(false)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(cut);
    config = if options.any_host {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(options.allowed_hosts.iter().cloned())
    };
    let origins = allowed_origins(options);
    let origin_guard = Arc::new(OriginGuard::new(
        if options.any_host {
            &[]
        } else {
            &options.allowed_hosts
        },
        &origins,
    ));
    config = config
        .with_allowed_origins(origins)
        .enforce_origin_validation();
    let mcp = Arc::new(StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    ));
    // Shared, not cloned: tower clones a service for every request, and every layer above
    // clones the one it wraps, and rmcp's service clones its whole configuration (the
    // allowed hosts and origins) each time. A clone of this one is a reference count.
    let mcp = tower::service_fn(move |request: Request| {
        let mcp = Arc::clone(&mcp);
        async move { Ok::<_, std::convert::Infallible>(mcp.handle(request).await) }
    });

    let overload = ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            |e: tower::BoxError| async move { overloaded(e) },
        ))
        .load_shed()
        .concurrency_limit(options.max_concurrent_requests)
        .timeout(options.request_timeout);

    let body_check = BodyCheck {
        auth: Arc::clone(&auth),
        scopes,
        labels: options.mcp_labels.clone(),
    };
    let guards = Guards {
        origin: origin_guard,
        rate_limits: options.rate_limits.clone(),
        auth: Arc::clone(&auth),
        body: BodyRead {
            max_body_bytes: options.max_body_bytes,
            timeout: options.body_read_timeout,
        },
    };
    // `layer` wraps what is there so far: the last one added runs first.
    let router = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(
            options.mcp_labels.clone(),
            crate::observability::track_mcp,
        ));
    // The request's span, only when traces are exported (no layer otherwise).
    #[cfg(feature = "otel")]
    let router = if crate::telemetry::traces_enabled() {
        router.layer(middleware::from_fn_with_state(
            options.mcp_labels.clone(),
            crate::observability::traces::trace_mcp,
        ))
    } else {
        router
    };
    // One stack for the guards, applied to the router at once: axum boxes the service at
    // every `Router::layer`, and each `from_fn` layer clones what it wraps and boxes its
    // future for every request, so steps 2 to 5 are one layer and the stack has three.
    // The first layer listed runs first.
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(guards, run_guards))
        .layer(overload)
        .layer(middleware::from_fn_with_state(body_check, check_body));
    let mut router = router
        .layer(layers)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if let Some((paths, document)) = auth.metadata() {
        let document: Arc<str> = Arc::from(document);
        for path in &paths {
            let document = Arc::clone(&document);
            router = router.route(
                path,
                get(move || async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                }),
            );
        }
    }
    if let Some(state) = &options.metrics_route {
        // A route of its own, like the probes: outside the layers above (the fallback, which
        // answers every other path, stays behind them).
        router = router.route(
            "/metrics",
            get(crate::observability::metrics_endpoint).with_state(state.clone()),
        );
    }
    router
        .with_state(store)
        .layer(middleware::from_fn_with_state(
            Arc::new(crate::observability::HttpMetrics::default()),
            crate::observability::track_http,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    principal = tracing::field::Empty,
                )
            }),
        )
}

/// The origins accepted in `Origin`: the configured ones; by default the pages of the
/// allowed hosts (any scheme of `http`/`https`, any port), or of loopback hosts with
/// `--any-host`. Requests without an `Origin` (every non-browser client) always pass.
fn allowed_origins(options: &HttpOptions) -> Vec<String> {
    if !options.allowed_origins.is_empty() {
        return options.allowed_origins.clone();
    }
    let loopback = [
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let hosts = if options.any_host {
        &loopback[..]
    } else {
        &options.allowed_hosts[..]
    };
    hosts
        .iter()
        .flat_map(|host| {
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            [format!("http://{host}:*"), format!("https://{host}:*")]
        })
        .collect()
}

fn overloaded(e: tower::BoxError) -> Response {
    if e.is::<tower::timeout::error::Elapsed>() {
        (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response()
    } else if e.is::<tower::load_shed::error::Overloaded>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "1")],
            "server busy, retry shortly\n",
        )
            .into_response()
    } else {
        tracing::error!(error = %e, "request failed in a layer");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
    }
}

/// What steps 2 to 5 of the request flow need.
#[derive(Clone)]
struct Guards {
    origin: Arc<OriginGuard>,
    rate_limits: RateLimits,
    auth: Arc<HttpAuth>,
    body: BodyRead,
}

/// Steps 2 to 5, each before the next: Host and Origin, authentication (a refusal spends the
/// client address's failure budget, see [`limits::after_auth_refusal`]), the caller's rate
/// limit, the body read whole. The first refusal is the answer.
async fn run_guards(State(guards): State<Guards>, mut request: Request, next: Next) -> Response {
    if let Some(refused) = origin::check(&guards.origin, &request) {
        return refused;
    }
    let client = limits::client_of(&request);
    if let Some(refused) = auth::authenticate(&guards.auth, &mut request).await {
        return limits::after_auth_refusal(&guards.rate_limits, client, refused);
    }
    if let Some(refused) = limits::check_principal(&guards.rate_limits, &request) {
        return refused;
    }
    match read_body(guards.body, request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// What reading the body needs.
#[derive(Clone, Copy)]
struct BodyRead {
    max_body_bytes: usize,
    timeout: Duration,
}

/// Reads the whole body, so that what follows never waits on the client: a body larger than
/// the limit gets 413 as soon as the limit is passed, one not received within the timeout
/// gets 408. The client is authenticated and within its rate limit by now, and holds no
/// concurrency slot yet. (A body declared too large is still read up to the limit rather
/// than refused from its `Content-Length`: closing a connection with unread data makes the
/// kernel reset it, and the client would lose the 413.)
async fn read_body(read: BodyRead, request: Request) -> Result<Request, Response> {
    let max = read.max_body_bytes;
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {max} bytes\n"),
        )
            .into_response()
    };
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(read.timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            // Over the limit, or the client went away (then nobody reads this answer).
            tracing::debug!(error = %e, "could not read a request body");
            return Err(too_large());
        }
        Err(_) => {
            tracing::info!(
                timeout_ms = read.timeout.as_millis() as u64,
                "request body not received in time"
            );
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                [(axum::http::header::CONNECTION, "close")],
                format!(
                    "request body not received within {}\n",
                    humantime::format_duration(read.timeout)
                ),
            )
                .into_response());
        }
    };
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// What the body check needs.
#[derive(Clone)]
struct BodyCheck {
    auth: Arc<HttpAuth>,
    scopes: Arc<ToolScopes>,
    labels: crate::observability::McpLabels,
}

/// Checks a JSON-RPC body before rmcp reads it. JSON-RPC says a body that is not JSON gets
/// `-32700 Parse error`, but rmcp answers such a body with a plain-text 415, so the body
/// (already read whole by [`read_body`]) is checked here first. Then a `tools/call` by a
/// caller whose scopes do not cover the tool gets 403 `insufficient_scope`.
///
/// One pass ([`RequestHead`]) validates the JSON and reads what the scopes and the request
/// metrics need; the metrics' labels are left in the request's extensions for
/// [`crate::observability::track_mcp`], so the body is parsed here and by rmcp, no more.
///
/// The scope check looks at every POST of a caller who lacks a scope, whatever its
/// `Content-Type`: media types are case-insensitive, and a body rmcp accepts must never skip
/// the check because this layer spelled the type differently (`Application/JSON` once did).
async fn check_body(State(check): State<BodyCheck>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let is_json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    let holds_every_scope = request
        .extensions()
        .get::<Granted>()
        .is_some_and(|g| g.0 == baton_auth::Scopes::all());
    if !is_json && holds_every_scope {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    // The body is in memory already: this only takes it.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body\n").into_response();
    };
    match RequestHead::parse(&bytes) {
        Err(e) if is_json => {
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {e}")}
            });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        // Not JSON, and not sent as JSON: rmcp refuses its media type; it calls no tool.
        Err(_) => {}
        Ok(head) => {
            if !holds_every_scope
                && let Some((tool, target)) = head.called_tool()
                && let Some(refused) = auth::check_scopes(
                    &check.auth,
                    &check.scopes,
                    parts.extensions.get::<Granted>(),
                    tool,
                    target,
                )
            {
                return refused;
            }
            let labels = check.labels.of_head(&head);
            parts.extensions.insert(labels);
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Whether a `Content-Type` value is `application/json` (parameters ignored; type and
/// subtype case-insensitive, RFC 9110 §8.3.1), the rule rmcp applies too.
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
    essence.trim().eq_ignore_ascii_case("application/json")
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(store): State<Arc<dyn ResearchStore>>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store did not answer\n").into_response(),
    }
}

/// Binds `addr` and serves `app` there (see [`listener::serve`]) until `shutdown` is
/// cancelled; then drains for up to `grace`, cancels `cut`, and returns.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    connections: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
    cut: CancellationToken,
    on_bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    listener::ensure_open_files(connections.max_connections)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    on_bound(listener.local_addr()?);
    listener::serve(listener, app, connections, shutdown, grace, cut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_matched_as_rfc_9110_says() {
        for yes in [
            "application/json",
            "Application/JSON",
            "APPLICATION/JSON; charset=utf-8",
            "application/json ;charset=utf-8",
        ] {
            assert!(is_json_media_type(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonl",
            "application/json-seq",
            "",
        ] {
            assert!(!is_json_media_type(no), "{no}");
        }
    }
}
