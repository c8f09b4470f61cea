//! The protocol ceiling for `cargo xtask bench`: the least an rmcp 3.11 server can do per
//! request, configured like baton (stateless 2026-07-28 Streamable HTTP, legacy sessions off,
//! JSON responses, `NeverSessionManager`, TCP_NODELAY on accepted sockets, tool router built
//! once), with the store replaced by an in-memory map.
//!
//! Tools: `noop`; `get_task_status{handle}` on the map; and in-memory `start_research_task`,
//! `add_findings`, `complete_research_task` so the lifecycle workload has a ceiling too.
//! Pre-seeded handles (`--seed N`): `task_seed_0` .. `task_seed_{N-1}`.
//! Routes: POST /mcp, GET /healthz. Prints `ready http://ADDR/mcp` to stdout once listening.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, routing::get, serve::ListenerExt};
use clap::Parser;
use rmcp::{
    Json, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{Implementation, ServerCapabilities, ServerConfig},
    schemars::{self, JsonSchema},
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::never::NeverSessionManager,
    },
};
use serde::{Deserialize, Serialize};

const CREATED_AT: &str = "2026-11-25T15:00:00Z";
const EXPIRES_AT: &str = "2026-11-26T15:00:00Z";

#[derive(Parser, Debug)]
#[command(
    name = "baton-bench-ceiling",
    about = "Protocol-ceiling MCP server for benchmarks"
)]
struct Cli {
    /// Address to listen on (loopback only makes sense for benchmarks).
    #[arg(long, default_value = "127.0.0.1:8766")]
    listen: SocketAddr,
    /// Number of pre-seeded tasks (`task_seed_0` ..).
    #[arg(long, default_value_t = 1000)]
    seed: usize,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Debug)]
struct ResearchTask {
    topic: String,
    depth: u8,
    status: &'static str,
    findings: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
struct HandleArgs {
    /// The handle from start_research_task.
    handle: String,
}

#[derive(Deserialize, JsonSchema)]
struct StartArgs {
    /// What to research.
    topic: String,
    /// Research depth, 1 to 5.
    depth: Option<u8>,
    /// Optional idempotency key (ignored by the fixture).
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct FindingsArgs {
    /// The handle from start_research_task.
    handle: String,
    /// Findings to append.
    findings: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Started {
    handle: String,
    status: &'static str,
    expires_at: &'static str,
    replayed: bool,
}

#[derive(Serialize, JsonSchema)]
struct StatusView {
    handle: String,
    topic: String,
    depth: u8,
    status: &'static str,
    findings_count: usize,
    created_at: &'static str,
    updated_at: &'static str,
    expires_at: &'static str,
}

#[derive(Serialize, JsonSchema)]
struct Added {
    handle: String,
    status: &'static str,
    added: usize,
    findings_count: usize,
}

#[derive(Serialize, JsonSchema)]
struct Completed {
    handle: String,
    status: &'static str,
    result_count: usize,
}

#[derive(Serialize, JsonSchema)]
struct NoopResult {
    ok: bool,
}

const UNKNOWN: &str = "unknown or expired handle";

#[derive(Clone)]
struct Ceiling {
    store: Arc<RwLock<HashMap<String, ResearchTask>>>,
    next_id: Arc<AtomicU64>,
    tool_router: Arc<ToolRouter<Ceiling>>,
    info: Arc<ServerConfig>,
}

#[tool_router(router = tool_router)]
impl Ceiling {
    fn new(seed: usize) -> Self {
        let mut m = HashMap::with_capacity(seed);
        for i in 0..seed {
            m.insert(
                format!("task_seed_{i}"),
                ResearchTask {
                    topic: format!("seeded topic {i}"),
                    depth: 2,
                    status: "running",
                    findings: Vec::new(),
                },
            );
        }
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "baton-bench-ceiling",
                env!("CARGO_PKG_VERSION"),
            ));
        Self {
            store: Arc::new(RwLock::new(m)),
            next_id: Arc::new(AtomicU64::new(0)),
            tool_router: Arc::new(Self::tool_router()),
            info: Arc::new(info),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ResearchTask>> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ResearchTask>> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Do nothing; return a small structured result.
    #[tool(name = "noop", annotations(read_only_hint = true))]
    async fn noop(&self) -> Json<NoopResult> {
        Json(NoopResult { ok: true })
    }

    /// Start a research task (in memory) and return its handle.
    #[tool(name = "start_research_task")]
    async fn start_research_task(&self, Parameters(a): Parameters<StartArgs>) -> Json<Started> {
        let handle = format!("task_mem_{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.write().insert(
            handle.clone(),
            ResearchTask {
                topic: a.topic,
                depth: a.depth.unwrap_or(2),
                status: "running",
                findings: Vec::new(),
            },
        );
        Json(Started {
            handle,
            status: "running",
            expires_at: EXPIRES_AT,
            replayed: false,
        })
    }

    /// Get a research task's status by its handle.
    #[tool(name = "get_task_status", annotations(read_only_hint = true))]
    async fn get_task_status(
        &self,
        Parameters(a): Parameters<HandleArgs>,
    ) -> Result<Json<StatusView>, String> {
        let g = self.read();
        let t = g.get(&a.handle).ok_or(UNKNOWN)?;
        Ok(Json(StatusView {
            topic: t.topic.clone(),
            depth: t.depth,
            status: t.status,
            findings_count: t.findings.len(),
            created_at: CREATED_AT,
            updated_at: CREATED_AT,
            expires_at: EXPIRES_AT,
            handle: a.handle,
        }))
    }

    /// Append findings to a running task.
    #[tool(name = "add_findings")]
    async fn add_findings(
        &self,
        Parameters(a): Parameters<FindingsArgs>,
    ) -> Result<Json<Added>, String> {
        let mut g = self.write();
        let t = g.get_mut(&a.handle).ok_or(UNKNOWN)?;
        let added = a.findings.len();
        t.findings.extend(a.findings);
        Ok(Json(Added {
            findings_count: t.findings.len(),
            status: t.status,
            added,
            handle: a.handle,
        }))
    }

    /// Complete a task with its final findings.
    #[tool(name = "complete_research_task")]
    async fn complete_research_task(
        &self,
        Parameters(a): Parameters<FindingsArgs>,
    ) -> Result<Json<Completed>, String> {
        let mut g = self.write();
        let t = g.get_mut(&a.handle).ok_or(UNKNOWN)?;
        t.findings.extend(a.findings);
        t.status = "complete";
        Ok(Json(Completed {
            result_count: t.findings.len(),
            status: t.status,
            handle: a.handle,
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Ceiling {
    fn get_info(&self) -> ServerConfig {
        (*self.info).clone()
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n);
    }
    rt.build()?.block_on(async move {
        let handler = Ceiling::new(cli.seed);
        let cfg = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(["127.0.0.1", "localhost"]);
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(NeverSessionManager::default()),
            cfg,
        );
        let app = Router::new()
            .nest_service("/mcp", mcp)
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|s| {
            let _ = s.set_nodelay(true);
        });
        println!("ready http://{addr}/mcp seeded={}", cli.seed);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
