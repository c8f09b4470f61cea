//! The `http_jsonrpc` target: any request through baton's in-process HTTP app.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use baton_server::config::ServeArgs;
use baton_server::{auth, build, http as baton_http};
use clap::Parser;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Longest a JSON answer may take to arrive once its head is there.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// baton's HTTP app (`/mcp`, `/healthz`, `/readyz`, `/metrics`), built the way `baton serve`
/// builds it, on a SQLite database in a temporary directory, with `--auth none`; requests go
/// through `tower::ServiceExt::oneshot`, without a socket.
pub struct HttpApp {
    runtime: tokio::runtime::Runtime,
    app: Router,
    // Holds the database until the app is dropped.
    _dir: tempfile::TempDir,
}

impl HttpApp {
    /// Builds the app. Panics when it cannot (the harness cannot run without it).
    pub fn new() -> HttpApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = format!("sqlite://{}", dir.path().join("baton.db").display());
        let argv = ["baton", "--database-url", &db, "--auth", "none"];
        let args = Cli::try_parse_from(argv).expect("serve flags").serve;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let app = runtime.block_on(async {
            let (handler, stores) = build(&args).await.expect("baton builds");
            let scopes = handler.tool_scopes();
            let mut options = baton_http::HttpOptions::from_args(&args);
            options.metrics_route = Some(baton_server::observability::MetricsState::new(
                stores.counts.clone(),
            ));
            baton_http::app(
                handler,
                stores.research,
                &options,
                Arc::new(auth::HttpAuth::none()),
                Arc::new(scopes),
                CancellationToken::new(),
            )
        });
        HttpApp {
            runtime,
            app,
            _dir: dir,
        }
    }

    /// Sends one request made from `data` and checks the answer: it must come, its status
    /// must not be a 5xx other than 503 (shed, timed out, not ready), and a JSON body must
    /// arrive in full. Returns the status.
    ///
    /// `data` reads like an HTTP/1 request head without the version: a first line
    /// `METHOD TARGET`, header lines `name: value`, an empty line, then the body. Parts that
    /// are not valid are left out (a bad method becomes `POST`, a bad target `/mcp`, a bad
    /// header line is skipped), so every input is a request.
    pub fn request(&self, data: &[u8]) -> StatusCode {
        let request = parse_request(data);
        let (status, body) = self.runtime.block_on(async {
            let response = self
                .app
                .clone()
                .oneshot(request)
                .await
                .expect("the app answers every request");
            let (head, body) = response.into_parts();
            let json = head
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            // Event streams may stay open: only JSON answers are read to the end.
            let body = if json {
                let read =
                    tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, usize::MAX))
                        .await
                        .expect("a JSON answer arrives in full");
                Some(read.expect("a JSON answer's body reads"))
            } else {
                None
            };
            (head.status, body)
        });
        assert!(
            !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "answered {status}: {:?}",
            body.as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        );
        status
    }
}

impl Default for HttpApp {
    fn default() -> Self {
        HttpApp::new()
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[]),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_request(data: &[u8]) -> Request<Body> {
    let (first, mut rest) = split_line(data);
    let first = trim_cr(first);
    let (method, target) = match first.iter().position(|&b| b == b' ') {
        Some(space) => (&first[..space], &first[space + 1..]),
        None => (first, &b""[..]),
    };
    let method = Method::from_bytes(method).unwrap_or(Method::POST);
    let target = std::str::from_utf8(target)
        .ok()
        .filter(|t| t.parse::<http::Uri>().is_ok())
        .unwrap_or("/mcp");
    let mut builder = Request::builder().method(method).uri(target);
    while !rest.is_empty() {
        let (line, after) = split_line(rest);
        rest = after;
        let line = trim_cr(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Body::from(rest.to_vec()))
        .expect("a request of valid parts")
}
