//! The MCP server handler: what rmcp calls for every request, on HTTP and stdio alike.
//!
//! Everything here is built once at start-up ([`Baton::new`]) and shared behind an `Arc`:
//! rmcp asks the service factory for a handler on every HTTP request, so a clone must be
//! cheap and must not rebuild tools, schemas or server info.

use std::{borrow::Cow, sync::Arc};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities,
        CreateTaskResult, DiscoverResult, GetTaskParams, GetTaskResult, Implementation,
        ListToolsResult, MetaObject, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
        ServerConfig, Tool, UpdateTaskParams,
    },
    service::RequestContext,
};

use baton_catalog::{CALL_TOOL_NAME, SEARCH_TOOLS_NAME};
use baton_protocol::{ToolError, parse_arguments};

use crate::{
    principal::Principal,
    tool_tasks::{TaskSupport, ToolTasks},
    tools::{
        ToolTable,
        discovery::{CallToolArgs, Discovery},
        tool_error,
    },
};

/// Protocol revisions baton serves: the stateless 2026-07-28 revision and, statelessly on
/// the same endpoint, the initialize-era revisions clients still use.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// How long clients may cache `server/discover` and `tools/list` (they change only when the
/// server is redeployed with another configuration).
pub const LIST_TTL_MS: u64 = 10 * 60 * 1000;

pub use crate::tools::listing::{ListedTools, TOOLS_PAGE_SIZE};

/// What the handler needs, built once.
pub struct BatonParts {
    /// Every callable tool.
    pub tools: ToolTable,
    /// The tool task runtime (MCP Tasks extension), when the store keeps tool tasks.
    pub tool_tasks: Option<Arc<ToolTasks>>,
    /// The tools `tools/list` shows (all of them, or the search entry points), paged by
    /// the catalog's cursors.
    pub listed: ListedTools,
    /// Guidance for models, sent in `server/discover` and `initialize`.
    pub instructions: String,
    /// `search_tools` and `call_tool`, in search exposure mode.
    pub discovery: Option<Arc<Discovery>>,
    /// The principal of stdio callers.
    pub stdio_principal: Principal,
}

struct Inner {
    tools: ToolTable,
    tool_tasks: Option<Arc<ToolTasks>>,
    listed: ListedTools,
    info: ServerConfig,
    result_meta: MetaObject,
    stdio_principal: Principal,
    discovery: Option<Arc<Discovery>>,
}

/// baton's MCP handler. Cheap to clone.
#[derive(Clone)]
pub struct Baton {
    inner: Arc<Inner>,
}

impl Baton {
    /// Builds the handler.
    pub fn new(parts: BatonParts) -> Self {
        let server_info = Implementation::new("baton", env!("CARGO_PKG_VERSION"))
            .with_title("baton research-task server");
        // The Tasks extension is offered only when the store keeps tool tasks.
        let capabilities = match parts.tool_tasks {
            Some(_) => ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
            None => ServerCapabilities::builder().enable_tools().build(),
        };
        let info = ServerConfig::new(capabilities)
            .with_server_info(server_info.clone())
            .with_instructions(parts.instructions);
        let mut result_meta = MetaObject::default();
        result_meta.insert(
            "io.modelcontextprotocol/serverInfo".to_owned(),
            serde_json::to_value(&server_info).unwrap_or_default(),
        );
        Baton {
            inner: Arc::new(Inner {
                tools: parts.tools,
                tool_tasks: parts.tool_tasks,
                listed: parts.listed,
                info,
                result_meta,
                stdio_principal: parts.stdio_principal,
                discovery: parts.discovery,
            }),
        }
    }

    /// Every callable tool.
    pub fn tools(&self) -> &ToolTable {
        &self.inner.tools
    }

    /// The tool task runtime, when the store keeps tool tasks.
    pub fn tool_tasks(&self) -> Option<Arc<ToolTasks>> {
        self.inner.tool_tasks.clone()
    }

    fn tasks_or_unknown(&self) -> Result<&ToolTasks, ErrorData> {
        // rmcp answers -32601 before this when tasks are not advertised.
        self.inner
            .tool_tasks
            .as_deref()
            .ok_or_else(crate::tool_tasks::unknown_task)
    }

    /// The scopes each tool needs, the search meta-tools included when they are served.
    pub fn tool_scopes(&self) -> crate::auth::ToolScopes {
        let search = self
            .inner
            .discovery
            .as_ref()
            .map(|_| (SEARCH_TOOLS_NAME, CALL_TOOL_NAME));
        crate::auth::ToolScopes::new(self.inner.tools.scopes(), search)
    }
}

impl Baton {
    /// `call_tool`: validates the arguments against the target's input schema, then calls
    /// it and returns its result unchanged.
    async fn call_through(
        &self,
        discovery: &Discovery,
        principal: Principal,
        arguments: rmcp::model::JsonObject,
    ) -> Result<rmcp::model::CallToolResult, ErrorData> {
        let args = match parse_arguments::<CallToolArgs>(arguments) {
            Ok(args) => args,
            Err(e) => return Ok(tool_error(&e)),
        };
        let target_arguments = args.arguments.unwrap_or_default();
        let Some(target) = self.inner.tools.get(&args.name) else {
            let reason = if args.name == CALL_TOOL_NAME || args.name == SEARCH_TOOLS_NAME {
                format!(
                    "`{}` cannot be called through call_tool; call it directly",
                    args.name
                )
            } else {
                format!(
                    "no tool is named `{}`; find tools with search_tools",
                    args.name
                )
            };
            return Ok(tool_error(&ToolError::invalid("name", reason)));
        };
        if let Err(e) = discovery.validate(&args.name, &target_arguments) {
            return Ok(tool_error(&e));
        }
        if target.task_support == TaskSupport::Required {
            let reason = format!(
                "`{}` runs only as a task: call it directly, with the io.modelcontextprotocol/tasks extension",
                args.name
            );
            return Ok(tool_error(&ToolError::invalid("name", reason)));
        }
        (target.handler)(principal, target_arguments).await
    }
}

fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

impl ServerHandler for Baton {
    fn get_info(&self) -> ServerConfig {
        self.inner.info.clone()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    async fn discover(
        &self,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let mut result =
            DiscoverResult::from_server_info(SUPPORTED_VERSIONS.to_vec(), self.get_info());
        result.ttl_ms = LIST_TTL_MS;
        result.cache_scope = CacheScope::Public;
        Ok(result)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        let (tools, next_cursor) = self.inner.listed.page(cursor.as_deref(), TOOLS_PAGE_SIZE)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next_cursor;
        if is_modern(&ctx) {
            result.ttl_ms = Some(LIST_TTL_MS);
            result.cache_scope = Some(CacheScope::Public);
            result.meta = Some(self.inner.result_meta.clone());
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        match self.inner.tools.get(name) {
            Some(tool) => Some(tool.definition.clone()),
            None => self.inner.discovery.as_ref()?.meta_tool(name).cloned(),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = Principal::of_request(&ctx, &self.inner.stdio_principal);
        let arguments = request.arguments.unwrap_or_default();
        if let Some(tool) = self.inner.tools.get(&request.name) {
            let declared = ctx
                .client_capabilities()
                .is_some_and(|caps| caps.supports_tasks());
            match (tool.task_support, declared, &self.inner.tool_tasks) {
                (TaskSupport::Required, false, _) => {
                    return Err(ErrorData::missing_required_client_capability(
                        ClientCapabilities::builder().enable_tasks().build(),
                    ));
                }
                (TaskSupport::Optional | TaskSupport::Required, true, Some(tasks)) => {
                    let task = tasks.create(&principal, &request.name, arguments).await?;
                    return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
                }
                _ => {}
            }
        }
        let mut result = match (self.inner.tools.get(&request.name), &self.inner.discovery) {
            (Some(tool), _) => (tool.handler)(principal, arguments).await?,
            (None, Some(discovery)) if request.name == SEARCH_TOOLS_NAME => {
                discovery.search(arguments)
            }
            (None, Some(discovery)) if request.name == CALL_TOOL_NAME => {
                self.call_through(discovery, principal, arguments).await?
            }
            (None, _) => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{}`", request.name),
                    None,
                ));
            }
        };
        if is_modern(&ctx) {
            result.meta = Some(self.inner.result_meta.clone());
        }
        Ok(result.into())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let principal = Principal::of_request(&ctx, &self.inner.stdio_principal);
        let task = self
            .tasks_or_unknown()?
            .get(&principal, &request.task_id)
            .await?;
        Ok(GetTaskResult::new(task))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = Principal::of_request(&ctx, &self.inner.stdio_principal);
        let responses = request.input_responses.into_iter().collect();
        self.tasks_or_unknown()?
            .update(&principal, &request.task_id, responses)
            .await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = Principal::of_request(&ctx, &self.inner.stdio_principal);
        self.tasks_or_unknown()?
            .cancel(&principal, &request.task_id)
            .await
    }
}
