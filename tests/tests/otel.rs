//! OpenTelemetry traces end to end: the real `baton` binary (built with the `otel` feature, as
//! `cargo xtask test` builds it) exports by OTLP/HTTP to a receiver on loopback that decodes
//! the protobuf with the official OTLP types. A request carrying a W3C `traceparent` gets a
//! server span in the caller's trace, with the caller's span as its parent and the method,
//! tool, outcome and hashed principal as attributes; the store call is that span's child.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use baton_e2e::support::{
    auth::create_api_key,
    http::{self, tool_call_body},
    server::{Server, sqlite_url},
    wait,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use serde_json::{Value, json};

/// How long exported spans may take to arrive (the exporter batches every 100 ms here).
const ARRIVE_WITHIN: Duration = Duration::from_secs(20);

/// The spans received so far, with their service name.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP receiver on 127.0.0.1: `POST /v1/traces` with a protobuf body.
async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    async fn traces(State(received): State<Received>, body: Bytes) -> (StatusCode, Vec<u8>) {
        let Ok(request) = ExportTraceServiceRequest::decode(body) else {
            return (StatusCode::BAD_REQUEST, Vec::new());
        };
        let mut spans = received.lock().unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        let answer = ExportTraceServiceResponse {
            partial_success: None,
        };
        (StatusCode::OK, answer.encode_to_vec())
    }
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, received, task)
}

fn text(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(n) => Some(n.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A span's attributes as text.
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?)?)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server spans (one per MCP request) received in trace `trace_id`.
fn in_trace<'a>(spans: &'a [(String, Span)], trace_id: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|(_, s)| hex(&s.trace_id) == trace_id)
        .map(|(_, s)| s)
        .collect()
}

// Several threads: the receiver answers while the test blocks on the server's process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_by_otlp_in_the_callers_trace_with_the_store_call_as_a_child() {
    // rmcp's own spans on for the logs: its handler tasks then run in a span the exporter
    // does not take, between the request's span and the store's.
    spans_arrive("info,baton_server=debug").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_whatever_rust_log_says() {
    // Logs at warn but for the listening line and the audit trail: rmcp's spans are off, and
    // the spans are exported all the same.
    spans_arrive("warn,baton_server=info,baton::audit=info").await;
}

async fn spans_arrive(rust_log: &str) {
    let (endpoint, received, receiver_task) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let key = create_api_key(&url, "alice", &[], None);
    let server = Server::start_with_env(
        &[
            "--database-url",
            &url,
            "--auth",
            "api-key",
            "--log-format",
            "json",
            "--otlp-endpoint",
            &endpoint,
        ],
        // Export every 100 ms instead of every 5 s.
        &[("OTEL_BSP_SCHEDULE_DELAY", "100"), ("RUST_LOG", rust_log)],
    );
    let http_client = http::client(Duration::from_secs(30));
    let bearer = format!("Bearer {}", key.key);

    // A call in the caller's trace: a span of its own and its store call.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let started = http::post(
        &http_client,
        &server.url(),
        "tools/call",
        tool_call_body(1, "start_research_task", json!({"topic": "tides"})),
        &[
            ("authorization", bearer.as_str()),
            ("traceparent", traceparent.as_str()),
        ],
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(
        started.body["result"]["isError"],
        json!(false),
        "{}",
        started.text()
    );

    // A call refused by the tool (no store call: the handle is checked first), in a second
    // trace of the caller's.
    let other_trace = "0af7651916cd43dd8448eb211c80319c";
    let other_parent = "b7ad6b7169203331";
    let refused = http::post(
        &http_client,
        &server.url(),
        "tools/call",
        tool_call_body(2, "get_task_status", json!({"handle": "task_not-a-handle"})),
        &[
            ("authorization", bearer.as_str()),
            (
                "traceparent",
                &format!("00-{other_trace}-{other_parent}-01"),
            ),
        ],
    )
    .await;
    assert_eq!(
        refused.body["result"]["isError"],
        json!(true),
        "{}",
        refused.text()
    );

    // Without a traceparent, the request starts a trace of its own.
    let discovered = http::post(
        &http_client,
        &server.url(),
        "server/discover",
        http::discover_body(3),
        &[("authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(discovered.status, 200, "{}", discovered.text());

    let arrived = wait::until(ARRIVE_WITHIN, || {
        let spans = received.lock().unwrap();
        let all_there = in_trace(&spans, trace_id).len() >= 2
            && !in_trace(&spans, other_trace).is_empty()
            && spans.iter().any(|(_, s)| {
                attributes(s).get("mcp.method.name").map(String::as_str) == Some("server/discover")
            });
        std::future::ready(all_there)
    })
    .await;
    let spans = received.lock().unwrap().clone();
    let logs = server.logs();
    let summary: Vec<String> = spans
        .iter()
        .map(|(_, s)| {
            format!(
                "{} trace {} parent {:?} {:?}",
                s.name,
                hex(&s.trace_id),
                hex(&s.parent_span_id),
                attributes(s)
            )
        })
        .collect();
    assert!(
        arrived.is_some(),
        "the spans did not arrive within {ARRIVE_WITHIN:?}; received:\n{}\nlogs:\n{logs}",
        summary.join("\n")
    );
    assert!(
        spans.iter().all(|(service, _)| service == "baton"),
        "{spans:#?}"
    );

    // The request's span: a server span whose parent is the caller's span.
    let first = in_trace(&spans, trace_id);
    let request = first
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("no server span in {first:#?}"));
    assert_eq!(hex(&request.parent_span_id), caller_span, "{request:#?}");
    assert_eq!(request.name, "tools/call start_research_task");
    let attrs = attributes(request);
    assert_eq!(attrs["mcp.method.name"], "tools/call", "{attrs:?}");
    assert_eq!(
        attrs["gen_ai.tool.name"], "start_research_task",
        "{attrs:?}"
    );
    assert_eq!(attrs["baton.outcome"], "ok", "{attrs:?}");
    assert_eq!(attrs["http.response.status_code"], "200", "{attrs:?}");
    // The principal is the audit log's hash of it, never its name.
    let audit_principal = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["target"] == "baton::audit" && e["action"] == "research.start")
        .and_then(|e| e["principal"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no audit event of the start in:\n{logs}"));
    assert_eq!(attrs["baton.principal"], audit_principal, "{attrs:?}");
    for span in &spans {
        let text = format!("{:?}", span.1);
        assert!(
            !text.contains("alice") && !text.contains(&key.key),
            "{text}"
        );
    }

    // The store call: a client span, the request span's child, in the same trace.
    let store = first
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("no store span in {first:#?}"));
    assert_eq!(store.parent_span_id, request.span_id, "{store:#?}");
    let store_attrs = attributes(store);
    assert_eq!(store_attrs["db.operation.name"], "start", "{store_attrs:?}");
    assert_eq!(store_attrs["baton.outcome"], "ok", "{store_attrs:?}");
    assert!(store.start_time_unix_nano >= request.start_time_unix_nano);
    assert!(store.end_time_unix_nano <= request.end_time_unix_nano);

    // The refused call: its outcome, and no store call.
    let second = in_trace(&spans, other_trace);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(hex(&second[0].parent_span_id), other_parent);
    let attrs = attributes(second[0]);
    assert_eq!(attrs["gen_ai.tool.name"], "get_task_status", "{attrs:?}");
    assert_eq!(attrs["baton.outcome"], "tool_error", "{attrs:?}");

    // No traceparent: a root span in a new trace.
    let discover = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| {
            attributes(s).get("mcp.method.name").map(String::as_str) == Some("server/discover")
        })
        .unwrap();
    assert!(discover.parent_span_id.is_empty(), "{discover:#?}");
    assert_ne!(hex(&discover.trace_id), trace_id);
    assert!(!attributes(discover).contains_key("gen_ai.tool.name"));

    let stopped = server.terminate(Duration::from_secs(20));
    assert!(stopped.exited_cleanly(), "{}", stopped.logs);
    receiver_task.abort();
}

#[test]
fn an_otlp_endpoint_that_is_not_a_url_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let out = baton_e2e::support::server::run_baton(&[
        "config",
        "check",
        "--database-url",
        &url,
        "--otlp-endpoint",
        "collector:4318",
    ]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("--otlp-endpoint collector:4318: expected an http:// or https:// URL"),
        "{out:?}"
    );
}

#[test]
fn the_otlp_endpoint_comes_from_the_config_file_with_its_password_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let file = dir.path().join("baton.toml");
    std::fs::write(
        &file,
        format!(
            "database-url = \"{url}\"\notlp-endpoint = \"http://otel:s3cret@127.0.0.1:4318\"\n"
        ),
    )
    .unwrap();
    let out = baton_e2e::support::server::run_baton(&[
        "config",
        "check",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("otlp-endpoint = "))
        .unwrap_or_else(|| panic!("no otlp-endpoint in:\n{}", out.stdout));
    assert!(line.contains("http://otel:***@127.0.0.1:4318"), "{line}");
    assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
}
