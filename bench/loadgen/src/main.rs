//! Closed-loop load generator for `cargo xtask bench`.
//!
//! Each of `--concurrency` workers owns one keep-alive HTTP/1.1 connection (hyper, TCP_NODELAY)
//! and sends real 2026-07-28 Streamable HTTP requests back to back: one POST per JSON-RPC
//! request with `Content-Type`, `Accept: application/json, text/event-stream`,
//! `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` (tools/call) and `params._meta` carrying the
//! protocol version and client capabilities. A warm-up phase runs the same loop unrecorded, then
//! every request started in the measured window is accounted for. The run is bounded both by
//! time (`--duration`) and by request count (`--max-requests`), and each request by
//! `--request-timeout`.
//!
//! A request *succeeds* when the answer is HTTP 200 carrying a JSON-RPC response to that request
//! (same id) with a `result` and no `error`, whose result (for `tools/call`) is not
//! `isError: true`, and (for `status`) echoes the handle asked about. Anything else is an error:
//! another HTTP status, a transport failure or time-out, a JSON-RPC error, a tool error, an
//! unreadable body. Only successful requests count in `rps` and in the latency histogram, so a
//! server that fails fast cannot look fast; errors are reported beside them (`errors`, by kind
//! in `error_kinds`, and `error_share` of all measured requests).
//!
//! Workloads: `status` (get_task_status round-robin over `--handles FILE`), `lifecycle`
//! (start_research_task → add_findings → get_task_status → complete_research_task; add_findings
//! is skipped when the server does not list it), `tools-list`, `discover`, and `seed` (calls
//! start_research_task `--count` times and writes the handles to `--handles-out`).
//!
//! Output: one JSON line on stdout. Only loopback targets are accepted.

use std::{
    io::Write as _,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::{
    Method, Request, StatusCode, Uri,
    client::conn::http1::SendRequest,
    header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

const PROTOCOL_VERSION: &str = "2026-07-28";

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    Status,
    Lifecycle,
    ToolsList,
    Discover,
    Seed,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Status => "status",
            Workload::Lifecycle => "lifecycle",
            Workload::ToolsList => "tools-list",
            Workload::Discover => "discover",
            Workload::Seed => "seed",
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "baton-bench-loadgen",
    about = "Closed-loop MCP 2026-07-28 load generator (loopback only)"
)]
struct Cli {
    /// Target endpoint, e.g. http://127.0.0.1:8080/mcp (loopback addresses only).
    #[arg(long)]
    url: String,
    /// What to send.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Number of workers, each with one keep-alive connection.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds of measurement after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unrecorded warm-up.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Upper bound on measured requests (the run stops at whichever bound comes first).
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Per-request time-out in seconds (counted as an error).
    #[arg(long, default_value_t = 10.0)]
    request_timeout: f64,
    /// File of task handles, one per line (workload `status`).
    #[arg(long)]
    handles: Option<PathBuf>,
    /// How many tasks to start (workload `seed`).
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Where to write the started handles (workload `seed`).
    #[arg(long)]
    handles_out: Option<PathBuf>,
    /// Runtime threads for the load generator (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Free-form label echoed in the output.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrKind {
    Transport,
    Timeout,
    Http,
    JsonRpc,
    Tool,
    Parse,
}

#[derive(Default, Debug, Clone)]
struct ErrCounts {
    transport: u64,
    timeout: u64,
    http: u64,
    jsonrpc: u64,
    tool: u64,
    parse: u64,
}

impl ErrCounts {
    fn add(&mut self, k: ErrKind) {
        match k {
            ErrKind::Transport => self.transport += 1,
            ErrKind::Timeout => self.timeout += 1,
            ErrKind::Http => self.http += 1,
            ErrKind::JsonRpc => self.jsonrpc += 1,
            ErrKind::Tool => self.tool += 1,
            ErrKind::Parse => self.parse += 1,
        }
    }
    fn merge(&mut self, o: &ErrCounts) {
        self.transport += o.transport;
        self.timeout += o.timeout;
        self.http += o.http;
        self.jsonrpc += o.jsonrpc;
        self.tool += o.tool;
        self.parse += o.parse;
    }
    fn total(&self) -> u64 {
        self.transport + self.timeout + self.http + self.jsonrpc + self.tool + self.parse
    }
    fn to_json(&self) -> Value {
        json!({
            "transport": self.transport, "timeout": self.timeout, "http": self.http,
            "jsonrpc": self.jsonrpc, "tool": self.tool, "parse": self.parse,
        })
    }
}

struct CallError {
    kind: ErrKind,
    detail: String,
}

type CallResult = Result<Bytes, CallError>;

fn cerr(kind: ErrKind, detail: impl Into<String>) -> CallError {
    CallError {
        kind,
        detail: detail.into(),
    }
}

#[derive(Deserialize)]
struct RpcLite {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    result: Option<ResultLite>,
}

#[derive(Deserialize)]
struct ResultLite {
    #[serde(default, rename = "isError")]
    is_error: Option<bool>,
    #[serde(default, rename = "structuredContent")]
    _structured: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RpcFull {
    #[serde(default)]
    result: Option<Value>,
}

/// The JSON-RPC message in a response body: the body itself for `application/json`, the last
/// `data:` event for `text/event-stream`.
fn jsonrpc_payload(body: &Bytes, sse: bool) -> Bytes {
    if !sse {
        return body.clone();
    }
    let text = String::from_utf8_lossy(body);
    let mut last = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("data:") {
            let d = d.trim();
            if !d.is_empty() {
                last = Some(d.to_string());
            }
        }
    }
    Bytes::from(last.unwrap_or_default())
}

struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
}

fn parse_target(url: &str) -> anyhow::Result<Target> {
    let uri: Uri = url.parse().context("--url is not a valid URL")?;
    if uri.scheme_str() != Some("http") {
        bail!("--url must be http:// (got {url})");
    }
    let host = uri.host().context("--url has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("--url host {host} is not an IP address or localhost"))?
    };
    if !ip.is_loopback() {
        bail!("refusing non-loopback target {host}: this load generator only targets 127.0.0.1");
    }
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: HeaderValue::from_str(&format!("{host}:{port}"))?,
        path: path.parse()?,
    })
}

/// One keep-alive connection and the request encoder.
struct Client {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    next_id: u64,
    timeout: Duration,
    meta: Arc<str>,
}

impl Client {
    fn new(target: Arc<Target>, timeout: Duration, worker: usize) -> Self {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "baton-bench-loadgen", "version": env!("CARGO_PKG_VERSION")},
        })
        .to_string();
        Self {
            target,
            sender: None,
            next_id: (worker as u64) << 40,
            timeout,
            meta: meta.into(),
        }
    }

    async fn connect(&mut self) -> Result<(), CallError> {
        let stream = tokio::net::TcpStream::connect(self.target.addr)
            .await
            .map_err(|e| cerr(ErrKind::Transport, format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| cerr(ErrKind::Transport, format!("handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request; `params` is the params object's members other than `_meta`, each
    /// followed by a comma (or empty). Returns the JSON-RPC message bytes of a 200 response.
    async fn call(&mut self, method: &str, name: Option<&str>, params: &str) -> CallResult {
        let id = self.next_id;
        self.next_id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}"_meta":{}}}}}"#,
            self.meta
        );
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.target.path.clone())
            .header(HOST, self.target.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .header("mcp-method", method);
        if let Some(n) = name {
            req = req.header("mcp-name", n);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| cerr(ErrKind::Parse, format!("build request: {e}")))?;
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.send(req, id)).await {
            Ok(r) => {
                if matches!(&r, Err(e) if e.kind == ErrKind::Transport) {
                    self.sender = None;
                }
                r
            }
            Err(_) => {
                self.sender = None;
                Err(cerr(
                    ErrKind::Timeout,
                    format!("no response within {timeout:?}"),
                ))
            }
        }
    }

    async fn send(&mut self, req: Request<Full<Bytes>>, id: u64) -> CallResult {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(cerr(ErrKind::Transport, "no connection"));
        };
        sender
            .ready()
            .await
            .map_err(|e| cerr(ErrKind::Transport, format!("ready: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| cerr(ErrKind::Transport, format!("send: {e}")))?;
        let status = resp.status();
        let sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| cerr(ErrKind::Transport, format!("body: {e}")))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(cerr(
                ErrKind::Http,
                format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
            ));
        }
        let payload = jsonrpc_payload(&body, sse);
        let lite: RpcLite = serde_json::from_slice(&payload).map_err(|e| {
            cerr(
                ErrKind::Parse,
                format!(
                    "bad JSON-RPC body ({e}): {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(300)])
                ),
            )
        })?;
        if let Some(e) = lite.error {
            return Err(cerr(ErrKind::JsonRpc, format!("JSON-RPC error: {e}")));
        }
        if lite.id.as_ref().and_then(Value::as_u64) != Some(id) {
            return Err(cerr(
                ErrKind::Parse,
                format!(
                    "response id {} is not the request id {id}",
                    lite.id.unwrap_or(Value::Null)
                ),
            ));
        }
        match lite.result {
            None => Err(cerr(
                ErrKind::Parse,
                "response has neither result nor error",
            )),
            Some(r) if r.is_error == Some(true) => Err(cerr(
                ErrKind::Tool,
                format!(
                    "isError: {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(300)])
                ),
            )),
            Some(_) => Ok(payload),
        }
    }

    async fn tool(&mut self, name: &str, args: &Value) -> CallResult {
        let params = format!(r#""name":{},"arguments":{args},"#, json!(name));
        self.call("tools/call", Some(name), &params).await
    }
}

/// The handle in a start_research_task result: `structuredContent.handle`, or the first text
/// content parsed as JSON (servers that return unstructured dicts, like the Python SDK).
fn extract_handle(payload: &Bytes) -> Option<String> {
    let full: RpcFull = serde_json::from_slice(payload).ok()?;
    let result = full.result?;
    if let Some(h) = result
        .pointer("/structuredContent/handle")
        .and_then(Value::as_str)
    {
        return Some(h.to_string());
    }
    let text = result.pointer("/content/0/text")?.as_str()?;
    let v: Value = serde_json::from_str(text).ok()?;
    v.get("handle")?.as_str().map(str::to_string)
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 120 s, 3 significant figures.
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, 120_000_000);
    let _ = h.record(us);
}

fn hist_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    let ms = |us: u64| (us as f64) / 1000.0;
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p95": ms(h.value_at_quantile(0.95)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

struct Shared {
    workload: Workload,
    target: Arc<Target>,
    handles: Arc<Vec<String>>,
    add_findings: bool,
    measure_start: Instant,
    measure_end: Instant,
    max_requests: u64,
    issued: AtomicU64,
    timeout: Duration,
    concurrency: usize,
}

const STEP_NAMES: [&str; 4] = [
    "start_research_task",
    "add_findings",
    "get_task_status",
    "complete_research_task",
];

struct WorkerOut {
    req: Histogram<u64>,
    life: Histogram<u64>,
    steps: [Histogram<u64>; 4],
    ok: u64,
    errors: ErrCounts,
    lifecycles: u64,
    lifecycles_ok: u64,
    warmup_requests: u64,
    warmup_errors: u64,
    first_error: Option<String>,
    finished: Instant,
}

impl WorkerOut {
    fn new() -> Self {
        Self {
            req: new_hist(),
            life: new_hist(),
            steps: [new_hist(), new_hist(), new_hist(), new_hist()],
            ok: 0,
            errors: ErrCounts::default(),
            lifecycles: 0,
            lifecycles_ok: 0,
            warmup_requests: 0,
            warmup_errors: 0,
            first_error: None,
            finished: Instant::now(),
        }
    }

    /// Accounts one request that started at `t0` (recorded only inside the measured window).
    fn account(&mut self, measured: bool, t0: Instant, r: &CallResult, step: Option<usize>) {
        let d = t0.elapsed();
        if !measured {
            self.warmup_requests += 1;
            if let Err(e) = r {
                self.warmup_errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("(warm-up) {}", e.detail));
                }
            }
            return;
        }
        match r {
            Ok(_) => {
                self.ok += 1;
                record(&mut self.req, d);
                if let Some(s) = step {
                    record(&mut self.steps[s], d);
                }
            }
            // A failed request is counted, never timed: a fast failure must not look like
            // fast service.
            Err(e) => {
                self.errors.add(e.kind);
                if self.first_error.is_none() {
                    self.first_error = Some(e.detail.clone());
                }
            }
        }
    }
}

async fn worker(sh: Arc<Shared>, wid: usize) -> WorkerOut {
    let mut out = WorkerOut::new();
    let mut client = Client::new(sh.target.clone(), sh.timeout, wid);
    let n_handles = sh.handles.len().max(1);
    let mut hidx = wid * n_handles / sh.concurrency.max(1);
    let per_iter: u64 = match sh.workload {
        Workload::Lifecycle => {
            if sh.add_findings {
                4
            } else {
                3
            }
        }
        _ => 1,
    };
    let mut iter: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= sh.measure_end {
            break;
        }
        let measured = now >= sh.measure_start;
        if measured && sh.issued.fetch_add(per_iter, Ordering::Relaxed) >= sh.max_requests {
            break;
        }
        iter += 1;
        match sh.workload {
            Workload::Status => {
                let h = &sh.handles[hidx % n_handles];
                hidx += 1;
                let t0 = Instant::now();
                let mut r = client
                    .tool("get_task_status", &json!({ "handle": h }))
                    .await;
                if let Ok(p) = &r
                    && memchr_str(p, h).is_none()
                {
                    r = Err(cerr(
                        ErrKind::Tool,
                        format!(
                            "status result does not echo the handle: {}",
                            String::from_utf8_lossy(&p[..p.len().min(300)])
                        ),
                    ));
                }
                out.account(measured, t0, &r, None);
            }
            Workload::ToolsList => {
                let t0 = Instant::now();
                let r = client.call("tools/list", None, "").await;
                out.account(measured, t0, &r, None);
            }
            Workload::Discover => {
                let t0 = Instant::now();
                let r = client.call("server/discover", None, "").await;
                out.account(measured, t0, &r, None);
            }
            Workload::Lifecycle => {
                let lt0 = Instant::now();
                let ok =
                    lifecycle(&mut client, &mut out, measured, wid, iter, sh.add_findings).await;
                if measured {
                    out.lifecycles += 1;
                    if ok {
                        out.lifecycles_ok += 1;
                        record(&mut out.life, lt0.elapsed());
                    }
                }
            }
            Workload::Seed => unreachable!("seed has its own loop"),
        }
    }
    out.finished = Instant::now();
    out
}

fn memchr_str(hay: &[u8], needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(0);
    }
    hay.windows(n.len()).position(|w| w == n)
}

async fn lifecycle(
    client: &mut Client,
    out: &mut WorkerOut,
    measured: bool,
    wid: usize,
    iter: u64,
    add_findings: bool,
) -> bool {
    let t0 = Instant::now();
    let r = client
        .tool(
            "start_research_task",
            &json!({"topic": format!("bench topic {wid}-{iter}"), "depth": 2}),
        )
        .await;
    let handle = match &r {
        Ok(p) => extract_handle(p),
        Err(_) => None,
    };
    let r = match (r, &handle) {
        (Ok(_), None) => Err(cerr(ErrKind::Parse, "start result has no handle")),
        (r, _) => r,
    };
    out.account(measured, t0, &r, Some(0));
    let Some(h) = handle else { return false };

    if add_findings {
        let t0 = Instant::now();
        let r = client
            .tool(
                "add_findings",
                &json!({"handle": h, "findings": ["first finding", "second finding"]}),
            )
            .await;
        out.account(measured, t0, &r, Some(1));
        if r.is_err() {
            return false;
        }
    }
    let t0 = Instant::now();
    let r = client
        .tool("get_task_status", &json!({ "handle": h }))
        .await;
    out.account(measured, t0, &r, Some(2));
    if r.is_err() {
        return false;
    }
    let t0 = Instant::now();
    let r = client
        .tool(
            "complete_research_task",
            &json!({"handle": h, "findings": ["final finding"]}),
        )
        .await;
    out.account(measured, t0, &r, Some(3));
    r.is_ok()
}

/// Does the server list `add_findings`? (tools/list, one request, before the run.)
async fn server_has_tool(
    target: Arc<Target>,
    timeout: Duration,
    tool: &str,
) -> anyhow::Result<bool> {
    let mut c = Client::new(target, timeout, 999_999);
    let p = c
        .call("tools/list", None, "")
        .await
        .map_err(|e| anyhow::anyhow!("tools/list failed: {}", e.detail))?;
    let v: Value = serde_json::from_slice(&p)?;
    let tools = v
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .context("tools/list result has no tools")?;
    Ok(tools
        .iter()
        .any(|t| t.get("name").and_then(Value::as_str) == Some(tool)))
}

async fn run_seed(cli: &Cli, target: Arc<Target>) -> anyhow::Result<Value> {
    let out_path = cli
        .handles_out
        .clone()
        .context("workload seed needs --handles-out FILE")?;
    let timeout = Duration::from_secs_f64(cli.request_timeout);
    let next = Arc::new(AtomicU64::new(0));
    let handles = Arc::new(Mutex::new(Vec::with_capacity(cli.count as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let deadline = Instant::now() + Duration::from_secs_f64(cli.duration.max(1.0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for wid in 0..cli.concurrency.max(1) {
        let (target, next, handles, errors, first_error, count) = (
            target.clone(),
            next.clone(),
            handles.clone(),
            errors.clone(),
            first_error.clone(),
            cli.count,
        );
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(target, timeout, wid);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    break;
                }
                let r = c
                    .tool(
                        "start_research_task",
                        &json!({"topic": format!("seeded topic {i}"), "depth": 2}),
                    )
                    .await;
                match r.as_ref().ok().and_then(extract_handle) {
                    Some(h) => handles.lock().unwrap_or_else(|e| e.into_inner()).push(h),
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let mut fe = first_error.lock().unwrap_or_else(|e| e.into_inner());
                        if fe.is_none() {
                            *fe = Some(match r {
                                Err(e) => e.detail,
                                Ok(_) => "start result has no handle".into(),
                            });
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let handles = std::mem::take(&mut *handles.lock().unwrap_or_else(|e| e.into_inner()));
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&out_path)
            .with_context(|| format!("create {}", out_path.display()))?,
    );
    for h in &handles {
        writeln!(f, "{h}")?;
    }
    f.flush()?;
    let fe = first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(json!({
        "workload": "seed",
        "label": cli.label,
        "url": cli.url,
        "concurrency": cli.concurrency,
        "requests": handles.len() as u64 + errors.load(Ordering::Relaxed),
        "ok": handles.len(),
        "errors": errors.load(Ordering::Relaxed),
        "elapsed_s": elapsed,
        "rps": handles.len() as f64 / elapsed.max(1e-9),
        "handles_out": out_path,
        "first_error": fe,
    }))
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    let target = Arc::new(parse_target(&cli.url)?);
    if cli.concurrency == 0 || cli.concurrency > 4096 {
        bail!("--concurrency must be 1..=4096");
    }
    let timeout = Duration::from_secs_f64(cli.request_timeout);
    if cli.workload == Workload::Seed {
        return run_seed(&cli, target).await;
    }
    let handles: Vec<String> = if cli.workload == Workload::Status {
        let p = cli
            .handles
            .as_ref()
            .context("workload status needs --handles FILE")?;
        let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
        let v: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        if v.is_empty() {
            bail!("handle file {} is empty", p.display());
        }
        v
    } else {
        Vec::new()
    };
    let add_findings = if cli.workload == Workload::Lifecycle {
        server_has_tool(target.clone(), timeout, "add_findings").await?
    } else {
        false
    };
    let start = Instant::now();
    let measure_start = start + Duration::from_secs_f64(cli.warmup);
    let measure_end = measure_start + Duration::from_secs_f64(cli.duration);
    let shared = Arc::new(Shared {
        workload: cli.workload,
        target,
        handles: Arc::new(handles),
        add_findings,
        measure_start,
        measure_end,
        max_requests: cli.max_requests,
        issued: AtomicU64::new(0),
        timeout,
        concurrency: cli.concurrency,
    });
    let mut tasks = Vec::with_capacity(cli.concurrency);
    for wid in 0..cli.concurrency {
        tasks.push(tokio::spawn(worker(shared.clone(), wid)));
    }
    let mut req = new_hist();
    let mut life = new_hist();
    let mut steps = [new_hist(), new_hist(), new_hist(), new_hist()];
    let (mut ok, mut lifecycles, mut lifecycles_ok, mut wreq, mut werr) = (0, 0, 0, 0, 0);
    let mut errors = ErrCounts::default();
    let mut first_error = None;
    let mut finished = measure_start;
    for t in tasks {
        let o = t.await?;
        req.add(&o.req)?;
        life.add(&o.life)?;
        for (a, b) in steps.iter_mut().zip(o.steps.iter()) {
            a.add(b)?;
        }
        ok += o.ok;
        errors.merge(&o.errors);
        lifecycles += o.lifecycles;
        lifecycles_ok += o.lifecycles_ok;
        wreq += o.warmup_requests;
        werr += o.warmup_errors;
        if first_error.is_none() {
            first_error = o.first_error;
        }
        finished = finished.max(o.finished);
    }
    let elapsed = finished
        .saturating_duration_since(measure_start)
        .as_secs_f64()
        .max(1e-9);
    let requests = ok + errors.total();
    let error_share = if requests == 0 {
        0.0
    } else {
        errors.total() as f64 / requests as f64
    };
    let mut out = json!({
        "workload": cli.workload.name(),
        "label": cli.label,
        "url": cli.url,
        "concurrency": cli.concurrency,
        "warmup_s": cli.warmup,
        "duration_s": elapsed,
        "requests": requests,
        "ok": ok,
        "errors": errors.total(),
        "error_kinds": errors.to_json(),
        "error_share": error_share,
        "rps": ok as f64 / elapsed,
        "latency_ms": hist_json(&req),
        "warmup_requests": wreq,
        "warmup_errors": werr,
        "first_error": first_error,
    });
    if cli.workload == Workload::Lifecycle {
        let mut st = serde_json::Map::new();
        for (i, h) in steps.iter().enumerate() {
            if i == 1 && !add_findings {
                continue;
            }
            st.insert(STEP_NAMES[i].into(), hist_json(h));
        }
        if let Some(o) = out.as_object_mut() {
            o.insert("lifecycles".into(), json!(lifecycles));
            o.insert("lifecycles_ok".into(), json!(lifecycles_ok));
            o.insert(
                "lifecycle_rps".into(),
                json!(lifecycles_ok as f64 / elapsed),
            );
            o.insert("lifecycle_latency_ms".into(), hist_json(&life));
            o.insert(
                "requests_per_lifecycle".into(),
                json!(if add_findings { 4 } else { 3 }),
            );
            o.insert("steps_latency_ms".into(), Value::Object(st));
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !(1e-3..=3600.0).contains(&cli.duration)
        || !(0.0..=600.0).contains(&cli.warmup)
        || !(1e-3..=600.0).contains(&cli.request_timeout)
    {
        bail!(
            "--duration must be in (0, 3600], --warmup in [0, 600], --request-timeout in (0, 600] seconds"
        );
    }
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()?
    };
    // Hard bound on the whole run, whatever the server does.
    let wall = Duration::from_secs_f64(
        cli.warmup + cli.duration.max(1.0) + 2.0 * cli.request_timeout + 10.0,
    );
    let res = rt.block_on(async move {
        match tokio::time::timeout(wall, run(cli)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "load generator exceeded its wall-clock bound {wall:?}"
            )),
        }
    })?;
    println!("{res}");
    // Do not wait for connection tasks still parked in the runtime.
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}
