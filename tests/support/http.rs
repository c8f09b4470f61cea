//! Raw HTTP to a baton server: what a well-behaved MCP client never sends (foreign Host and
//! Origin headers, bad bodies), and the plain probes (`/healthz`, `/readyz`).

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    time::Duration,
};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// The protocol revision the raw requests speak.
pub const VERSION: &str = "2026-07-28";

/// The per-request `_meta` of a 2026-07-28 request.
pub fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

/// A `server/discover` request body: touches no store, so it answers at once.
pub fn discover_body(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": {"_meta": meta()}})
        .to_string()
}

/// A `tools/call` request body.
pub fn tool_call_body(id: u64, tool: &str, arguments: Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta()}
    })
    .to_string()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body: its JSON when it is JSON, else its text as a JSON string.
    pub body: Value,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (a JSON body rendered).
    pub fn text(&self) -> String {
        match &self.body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A reqwest client that never goes through a proxy and gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .expect("http client")
}

/// POSTs `body` to `url` with the headers of a 2026-07-28 request for `method` (`Mcp-Name`
/// too, for a `tools/call` body); `extra` headers are added last and replace defaults of the
/// same name. Panics when no HTTP answer comes.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    body: String,
    extra: &[(&str, &str)],
) -> Reply {
    try_post(http, url, method, body, extra)
        .await
        .unwrap_or_else(|e| panic!("POST {url} ({method}) got no answer: {e}"))
}

/// Like [`post`], returning the transport error instead of panicking.
pub async fn try_post(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    body: String,
    extra: &[(&str, &str)],
) -> Result<Reply, reqwest::Error> {
    let tool = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["params"]["name"].as_str().map(str::to_owned));
    let mut headers = HeaderMap::new();
    let defaults = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", VERSION),
        ("mcp-method", method),
    ];
    let name_header = tool.as_deref().map(|t| ("mcp-name", t));
    for (k, v) in defaults
        .into_iter()
        .chain(name_header)
        .chain(extra.iter().copied())
    {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    let response = http.post(url).headers(headers).body(body).send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    Ok(Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    })
}

/// A free port on 127.0.0.1 (bound and released; a race with another binder is retried by
/// the caller).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A blocking `GET` on 127.0.0.1:`port` (HTTP/1.0, for threads without a runtime); returns
/// the status and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET /readyz` on 127.0.0.1:`port`: its status, or 0 when unreachable.
pub fn readyz(port: u16) -> u16 {
    http_get(port, "/readyz").map_or(0, |(status, _)| status)
}
