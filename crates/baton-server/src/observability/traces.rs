//! OpenTelemetry traces (feature `otel`, flag `--otlp-endpoint`): the span layer and its OTLP
//! exporter, and the two places spans are taken, beside the metrics:
//!
//! - [`trace_mcp`], an HTTP layer right outside [`super::track_mcp`] (the body is in memory
//!   there, and the caller authenticated): one `SERVER` span per MCP request, a child of the
//!   caller's span when the request carries a W3C `traceparent`, with the attributes
//!   `mcp.method.name`, `gen_ai.tool.name` (for `tools/call`), `baton.outcome` (`ok`,
//!   `tool_error`, `protocol_error`, `http_error`), `http.response.status_code` and
//!   `baton.principal` (the audit log's hash of the principal, never the principal);
//! - [`store_call`], called by the store wrapper ([`super::ObservedStore`]): one `CLIENT` span
//!   per research-store call, `db.operation.name` and `baton.outcome`, a child of the
//!   request's span (rmcp runs the handler inside the span current when it was called).
//!
//! Both are installed only when the exporter is ([`crate::telemetry::traces_enabled`]):
//! without `--otlp-endpoint` no span is created. Method and tool names come from the same
//! bounded sets as the metrics' labels.

use std::{future::Future, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use baton_store::StoreError;
use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Instrument, Subscriber, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::Targets, registry::LookupSpan};

use super::layers::{McpLabels, outcome};
use crate::{audit, principal::Principal};

/// The tracing target of baton's spans; the span layer takes these only.
pub const TARGET: &str = "baton::trace";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where spans are sent: `--otlp-endpoint` is the collector's base URL (as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), so `/v1/traces` is added unless it is there already.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// The span layer (baton's spans only, whatever `RUST_LOG` says) and the provider that
/// batches and exports them by OTLP/HTTP (protobuf) to `endpoint`.
pub fn layer<S>(
    endpoint: &str,
) -> anyhow::Result<(Box<dyn Layer<S> + Send + Sync>, SdkTracerProvider)>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint {}: {e}", crate::store::redact(endpoint)))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("baton")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("baton");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Parents come from the tracing span tree, skipping spans this layer does not take
        // (rmcp's `serve_inner`, which its handler tasks run in): activating the OpenTelemetry
        // context on entry would lose the request span across those.
        .with_context_activation(false)
        // The attributes documented, not source locations, threads or busy/idle times.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO))
        .boxed();
    Ok((layer, provider))
}

/// The HTTP layer taking one span per MCP request (see the module's documentation).
pub async fn trace_mcp(State(labels): State<McpLabels>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let principal = request
        .extensions()
        .get::<Principal>()
        .map(|p| audit::principal_ref(p.as_str()))
        .unwrap_or_default();
    let (parts, body) = request.into_parts();
    // The body was read whole by an outer layer: this only takes it.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let request_labels = labels.of_request(&parts.extensions, &bytes);
    let (method, tool) = (request_labels.method, request_labels.tool());
    let name = if tool.is_empty() {
        method.to_owned()
    } else {
        format!("{method} {tool}")
    };
    let span = tracing::info_span!(
        target: TARGET,
        "mcp.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        mcp.method.name = method,
        gen_ai.tool.name = Empty,
        baton.principal = %principal,
        baton.outcome = Empty,
        http.response.status_code = Empty,
    );
    if !tool.is_empty() {
        span.record("gen_ai.tool.name", tool);
    }
    // Without a valid `traceparent` the context is empty and the span starts a trace.
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = %e, "cannot set the span's parent");
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .instrument(span.clone())
        .await;
    let (response, outcome) = outcome(response).await;
    span.record("baton.outcome", outcome);
    span.record("http.response.status_code", response.status().as_u16());
    if outcome != "ok" {
        span.record("otel.status_code", "error");
    }
    response
}

/// The closest enclosing span of baton's own (the request's), if any. The span layer cannot
/// find it by itself when a span it does not take is current: rmcp's handler tasks run in
/// rmcp's `serve_inner` span whenever `RUST_LOG` enables it for the logs, and the layer only
/// looks at the spans entered on this thread, not at their parents.
fn enclosing_span() -> Option<tracing::Id> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = dispatch.current_span();
        let span = registry.span(current.id()?)?;
        span.scope()
            .find(|s| s.metadata().target() == TARGET)
            .map(|s| s.id())
    })
}

/// Runs one store call inside its span (see the module's documentation).
pub async fn store_call<T>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let span = tracing::info_span!(
        target: TARGET,
        parent: enclosing_span(),
        "store",
        otel.name = %format_args!("store {op}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.operation.name = op,
        baton.outcome = Empty,
    );
    let result = call.instrument(span.clone()).await;
    match &result {
        Ok(_) => span.record("baton.outcome", "ok"),
        Err(e) => {
            span.record("otel.status_code", "error");
            span.record("baton.outcome", super::store::error_label(e))
        }
    };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
