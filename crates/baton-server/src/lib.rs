//! baton: a stateless MCP (2026-07-28) server for research tasks.
//!
//! This crate is the server: configuration, the MCP handler, the tools, the HTTP and stdio
//! transports and their layers. The protocol contract lives in `baton-protocol`, handles in
//! `baton-handle`, storage in `baton-store` and its backends. Read `ARCHITECTURE.md` at the
//! repository root first.
#![deny(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod config_file;
mod conformance;
pub mod cursor;
pub mod fault;
pub mod http;
pub mod keys;
pub mod limits;
pub mod listener;
pub mod observability;
pub mod origin;
pub mod principal;
mod rpc_head;
pub mod seed;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod tool_tasks;
pub mod tools;

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::{
    app::{Baton, BatonParts},
    config::{ServeArgs, ToolExposure},
    principal::Principal,
    tools::{ToolTable, discovery::Discovery, research::Research},
};

/// What `server/discover` tells a model about this server.
pub fn instructions(exposure: ToolExposure) -> String {
    let mut text = "baton keeps research tasks for you across calls. Start one with start_research_task; it returns a \
     handle (task_…) that names the task: pass it to get_task_status, add_findings, complete_research_task, \
     get_task_results and cancel_research_task. list_research_tasks shows your tasks with their handles. \
     Nothing is remembered between calls except through handles, and any server instance can answer any handle."
        .to_owned();
    if exposure == ToolExposure::Search {
        text.push_str(
            " This server lists only a few tools. To find the others, call search_tools with a short description \
             of what you want to do (for example \"start a research task\"); it returns matching tool definitions. \
             Call a found tool by its name, or through call_tool if your client only calls listed tools.",
        );
    }
    text
}

/// Registers the definitions of `--catalog` as catalog-only tools: listed and searchable,
/// and answering a clear tool error when called, since this server has no code for them.
fn register_catalog_file(tools: &mut ToolTable, path: &std::path::Path) -> anyhow::Result<usize> {
    let catalog = baton_catalog::Catalog::load_json_path(path)
        .map_err(|e| anyhow::anyhow!("--catalog {}: {e}", path.display()))?;
    let mut added = 0;
    for entry in catalog.entries() {
        if tools.get(entry.name()).is_some() {
            anyhow::bail!(
                "--catalog {}: tool `{}` is already served by baton",
                path.display(),
                entry.name()
            );
        }
        let definition = tools::discovery::to_rmcp(entry.definition())?;
        let message = format!(
            "`{}` is a catalog-only definition (loaded from --catalog); this server has no implementation for it",
            entry.name()
        );
        tools.register(
            definition,
            baton_auth::Scopes::empty(),
            Arc::new(move |_, _| {
                let message = message.clone();
                Box::pin(async move {
                    Ok(rmcp::model::CallToolResult::error(vec![
                        rmcp::model::ContentBlock::text(message),
                    ]))
                })
            }),
        )?;
        added += 1;
    }
    Ok(added)
}

/// A tool another team adds to a baton server: its catalog entry (definition, tags, group,
/// pinned) and its handler. See `examples/custom_tool.rs`.
pub struct ExtraTool {
    /// The definition and search metadata.
    pub spec: baton_catalog::ToolSpec,
    /// The scopes a caller needs (empty, the default: any authenticated caller).
    pub scopes: baton_auth::Scopes,
    /// What it does.
    pub handler: tools::ToolFn,
    /// Whether it may run as a task (MCP Tasks extension); see [`ExtraTool::with_task_support`].
    pub task_support: tool_tasks::TaskSupport,
}

impl ExtraTool {
    /// An extra tool from an rmcp definition, with the search metadata its `_meta` carries
    /// (`dev.baton/tags`, `dev.baton/group`, `dev.baton/pinned`).
    pub fn from_rmcp(
        definition: &rmcp::model::Tool,
        handler: tools::ToolFn,
    ) -> anyhow::Result<Self> {
        let definition =
            baton_catalog::ToolDefinition::from_json(serde_json::to_value(definition)?)
                .map_err(|e| anyhow::anyhow!("tool `{}`: {e}", definition.name))?;
        let spec = baton_catalog::ToolSpec::from_definition(definition)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(ExtraTool::new(spec, handler))
    }

    /// An extra tool any authenticated caller may call.
    pub fn new(spec: baton_catalog::ToolSpec, handler: tools::ToolFn) -> Self {
        ExtraTool {
            spec,
            scopes: baton_auth::Scopes::empty(),
            handler,
            task_support: tool_tasks::TaskSupport::Never,
        }
    }

    /// Lets the tool run as a task: for clients that declare the MCP Tasks extension
    /// (`Optional`), or only as one (`Required`: other clients get `-32021`). Its handler
    /// then reports progress, saves checkpoints and asks for input through
    /// [`tool_tasks::context`].
    #[must_use]
    pub fn with_task_support(mut self, support: tool_tasks::TaskSupport) -> Self {
        self.task_support = support;
        self
    }

    /// Requires `scopes` of its callers.
    #[must_use]
    pub fn with_scopes(mut self, scopes: baton_auth::Scopes) -> Self {
        self.scopes = scopes;
        self
    }
}

/// Builds the handler and everything behind it from `baton serve` options.
pub async fn build(args: &ServeArgs) -> anyhow::Result<(Baton, store::Stores)> {
    build_with(args, Vec::new()).await
}

/// Like [`build`], with extra tools: they are listed, searchable and callable like baton's own.
pub async fn build_with(
    args: &ServeArgs,
    extra: Vec<ExtraTool>,
) -> anyhow::Result<(Baton, store::Stores)> {
    let lifetimes = args.lifetimes()?;
    let stores = store::open(&args.database, lifetimes, args.migrate).await?;
    // Every research-store call is counted, timed and (for changes) audited.
    let stores = store::Stores {
        research: observability::ObservedStore::wrap(stores.research),
        ..stores
    };
    let handle_keys = keys::HandleKeys::load(&args.keys, Arc::clone(&stores.keys)).await?;
    // Stored keys are read again periodically, for the life of the runtime.
    handle_keys.spawn_reloader(args.keys.key_reload_interval, CancellationToken::new());
    let research = Arc::new(Research::new(
        Arc::clone(&stores.research),
        stores.shares.clone(),
        Arc::clone(&handle_keys),
        args.limits(),
        lifetimes,
        args.request_timeout,
    ));
    let mut tools = ToolTable::default();
    research.register(&mut tools)?;
    research.register_report(&mut tools)?;
    let mut specs = Vec::with_capacity(extra.len());
    for tool in extra {
        let name = tool.spec.definition.name.clone();
        tools.register(
            tools::discovery::to_rmcp(&tool.spec.definition)?,
            tool.scopes,
            tool.handler,
        )?;
        tools.set_task_support(&name, tool.task_support)?;
        specs.push(tool.spec);
    }
    if let Some(path) = &args.catalog {
        let added = register_catalog_file(&mut tools, path)?;
        tracing::info!(added, file = %path.display(), "loaded catalog-only tool definitions");
    }
    let (listed, discovery) = match args.tool_exposure {
        ToolExposure::Full => (tools.definitions().cloned().collect(), None),
        ToolExposure::Search => {
            let discovery = Arc::new(Discovery::new(&tools, &specs)?);
            tracing::info!(
                revision = discovery.catalog().revision(),
                tools = discovery.catalog().len(),
                "tool search enabled: tools/list shows pinned tools, search_tools and call_tool"
            );
            (discovery.listed()?, Some(discovery))
        }
    };
    let tool_tasks = match &stores.tool_tasks {
        Some(store) => Some(tool_tasks::ToolTasks::new(
            Arc::clone(store),
            Arc::clone(&handle_keys),
            args.tasks.clone(),
            tools.clone(),
        )),
        None => {
            if let Some(name) = tools.requires_tasks() {
                anyhow::bail!(
                    "tool `{name}` runs only as a task, and this backend keeps no tool tasks \
                     (use SQLite or Postgres)"
                );
            }
            tracing::info!(
                "this backend keeps no tool tasks: the MCP Tasks extension is not offered, \
                 and every tool runs synchronously"
            );
            None
        }
    };
    let handler = Baton::new(BatonParts {
        tools,
        tool_tasks,
        listed: app::ListedTools::new(listed)?,
        instructions: instructions(args.tool_exposure),
        discovery,
        stdio_principal: Principal::new(&args.stdio_principal),
    });
    Ok((handler, stores))
}

/// Runs `baton serve` until SIGINT/SIGTERM (HTTP) or end of input (stdio).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    serve_with(args, Vec::new()).await
}

/// Like [`serve`], with extra tools (see [`ExtraTool`]).
pub async fn serve_with(args: ServeArgs, mut extra: Vec<ExtraTool>) -> anyhow::Result<()> {
    let started = Instant::now();
    args.validate()?;
    if args.conformance_fixtures {
        let fixtures = baton_conformance::Fixtures::new();
        extra.extend(conformance::fixture_tools(&fixtures)?);
        extra.extend(conformance::task_fixture_tools()?);
        let (handler, stores) = build_with(&args, extra).await?;
        tracing::warn!("serving the conformance fixtures (test_* tools, prompts, resources)");
        let tools = tool_names(&handler);
        let scopes = handler.tool_scopes();
        let tasks = handler.tool_tasks();
        let handler = baton_conformance::WithFixtures::new(handler, fixtures);
        return run(args, handler, stores, tasks, tools, scopes, started).await;
    }
    let (handler, stores) = build_with(&args, extra).await?;
    let tools = tool_names(&handler);
    let scopes = handler.tool_scopes();
    let tasks = handler.tool_tasks();
    run(args, handler, stores, tasks, tools, scopes, started).await
}

/// The names of the tools a handler serves (the `tool` label set of the metrics).
fn tool_names(handler: &Baton) -> Vec<String> {
    handler
        .tools()
        .definitions()
        .map(|t| t.name.to_string())
        .collect()
}

/// Serves `handler` (baton's, possibly wrapped) until SIGINT/SIGTERM or end of input.
async fn run<H>(
    args: ServeArgs,
    handler: H,
    stores: store::Stores,
    tool_tasks: Option<Arc<tool_tasks::ToolTasks>>,
    tool_names: Vec<String>,
    scopes: auth::ToolScopes,
    started: Instant,
) -> anyhow::Result<()>
where
    H: rmcp::ServerHandler + Clone,
{
    let tools = tool_names.len();
    let shutdown = CancellationToken::new();
    observability::handle();
    observability::spawn_upkeep(shutdown.clone());
    sweeper::spawn(
        Arc::clone(&stores.research),
        args.sweep_interval,
        args.sweep_batch,
        shutdown.clone(),
    );
    if let Some(tasks) = tool_tasks {
        tasks.spawn_workers(shutdown.clone());
        sweeper::spawn_tool_task_sweeper(
            tasks,
            args.sweep_interval,
            args.sweep_batch,
            shutdown.clone(),
        );
    }
    if let Some(shares) = &stores.shares {
        sweeper::spawn_grant_sweeper(
            Arc::clone(shares),
            args.sweep_interval,
            args.sweep_batch,
            shutdown.clone(),
        );
    }
    spawn_signal_listener(shutdown.clone());

    if args.stdio {
        use rmcp::ServiceExt;
        tracing::info!(tools, "serving MCP on stdio");
        let running = handler
            .serve(rmcp::transport::stdio())
            .await
            .context("stdio transport failed to start")?;
        let cancel = running.cancellation_token();
        tokio::select! {
            quit = running.waiting() => { quit.context("stdio service failed")?; }
            _ = shutdown.cancelled() => { cancel.cancel(); }
        }
        shutdown.cancel();
        return Ok(());
    }

    let auth = auth::HttpAuth::from_args(&args.auth, args.listen, Arc::clone(&stores.keys)).await?;
    let cut = CancellationToken::new();
    let mut options = http::HttpOptions::from_args(&args);
    options.mcp_labels = observability::McpLabels::new(tool_names);
    let metrics = observability::MetricsState::new(stores.counts.clone());
    match args.metrics_listen {
        // `/metrics` on its own listener, and not on the main one.
        Some(addr) => spawn_metrics_listener(addr, metrics, shutdown.clone()).await?,
        None => options.metrics_route = Some(metrics),
    }
    let app = http::app(
        handler,
        stores.research,
        &options,
        Arc::new(auth),
        Arc::new(scopes),
        cut.clone(),
    );
    let grace = args.shutdown_grace;
    let connections = options.connections;
    http::serve(
        args.listen,
        app,
        connections,
        shutdown.clone(),
        grace,
        cut,
        |bound| {
            tracing::info!(
                tools,
                startup_ms = started.elapsed().as_millis() as u64,
                "baton listening on http://{bound}/mcp"
            );
        },
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `GET /metrics` on `addr` until `shutdown`.
async fn spawn_metrics_listener(
    addr: std::net::SocketAddr,
    state: observability::MetricsState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --metrics-listen {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    tracing::info!("metrics on http://{bound}/metrics");
    let app = observability::router(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    Ok(())
}

fn spawn_signal_listener(shutdown: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("shutdown requested: finishing in-flight requests");
        shutdown.cancel();
    });
}
