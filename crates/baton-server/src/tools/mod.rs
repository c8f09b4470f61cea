//! The tool table: every tool's definition and handler, built once at start-up.
//!
//! rmcp calls `list_tools`, `get_tool` and `call_tool` on the server handler; the handler
//! looks tools up here. Tools are registered by name, listed in name order (deterministic,
//! so that clients and prompt caches see a stable list).

pub mod discovery;
pub mod listing;
pub mod report;
pub mod research;
pub mod shares;

use std::{borrow::Cow, collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use baton_auth::Scopes;
use baton_protocol::ToolError;
use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock, JsonObject, Tool},
};
use serde::Serialize;

use crate::principal::Principal;

/// What a tool handler returns.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, ErrorData>> + Send>>;

/// A tool handler: takes the caller and the raw arguments.
pub type ToolFn = Arc<dyn Fn(Principal, JsonObject) -> ToolFuture + Send + Sync>;

/// One registered tool.
#[derive(Clone)]
pub struct RegisteredTool {
    /// Its MCP definition.
    pub definition: Tool,
    /// The OAuth/API-key scopes a caller needs to call it (empty: any authenticated caller).
    pub scopes: Scopes,
    /// Its handler.
    pub handler: ToolFn,
    /// Whether it may run as a task (MCP Tasks extension).
    pub task_support: crate::tool_tasks::TaskSupport,
}

/// All tools the server can call, by name.
#[derive(Clone, Default)]
pub struct ToolTable {
    tools: BTreeMap<String, RegisteredTool>,
}

impl ToolTable {
    /// Adds a tool that callers with `scopes` may call. A second tool with the same name
    /// replaces nothing: it is a start-up bug.
    pub fn register(
        &mut self,
        mut definition: Tool,
        scopes: Scopes,
        handler: ToolFn,
    ) -> anyhow::Result<()> {
        let name = definition.name.to_string();
        // rmcp clones a tool's definition on every `tools/call` (to check `Mcp-Param-*`
        // headers against it). Tools are registered once, at start-up, so their texts can
        // live for the whole process: a clone then copies pointers, not strings.
        definition.name = Cow::Borrowed(Box::leak(name.clone().into_boxed_str()));
        definition.description = definition.description.take().map(|text| match text {
            Cow::Owned(text) => Cow::Borrowed(&*Box::leak(text.into_boxed_str())),
            borrowed => borrowed,
        });
        anyhow::ensure!(
            !self.tools.contains_key(&name),
            "tool `{name}` is registered twice"
        );
        self.tools.insert(
            name,
            RegisteredTool {
                definition,
                scopes,
                handler,
                task_support: crate::tool_tasks::TaskSupport::Never,
            },
        );
        Ok(())
    }

    /// Lets the registered tool `name` run as a task (see
    /// [`crate::tool_tasks::TaskSupport`]).
    pub fn set_task_support(
        &mut self,
        name: &str,
        support: crate::tool_tasks::TaskSupport,
    ) -> anyhow::Result<()> {
        let tool = self
            .tools
            .get_mut(name)
            .ok_or_else(|| anyhow::anyhow!("no tool `{name}` is registered"))?;
        tool.task_support = support;
        Ok(())
    }

    /// Whether any tool must run as a task.
    pub fn requires_tasks(&self) -> Option<&str> {
        self.tools
            .iter()
            .find(|(_, t)| t.task_support == crate::tool_tasks::TaskSupport::Required)
            .map(|(name, _)| name.as_str())
    }

    /// Looks a tool up.
    pub fn get(&self, name: &str) -> Option<&RegisteredTool> {
        self.tools.get(name)
    }

    /// Every definition, in name order.
    pub fn definitions(&self) -> impl Iterator<Item = &Tool> {
        self.tools.values().map(|t| &t.definition)
    }

    /// The scopes each tool needs, by name.
    pub fn scopes(&self) -> std::collections::HashMap<String, Scopes> {
        self.tools
            .iter()
            .map(|(name, tool)| (name.clone(), tool.scopes))
            .collect()
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// A successful result: the value as `structuredContent` and its JSON as text.
pub fn structured<T: Serialize>(value: &T) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value)
        .map_err(|e| ErrorData::internal_error(format!("result serialization: {e}"), None))?;
    Ok(CallToolResult::structured(value))
}

/// A tool execution error (`isError: true`) whose text is the error's exact message.
pub fn tool_error(error: &ToolError) -> CallToolResult {
    crate::observability::tool_error(error);
    CallToolResult::error(vec![ContentBlock::text(error.to_string())])
}

/// Turns a tool's outcome into its wire result.
pub fn into_result<T: Serialize>(
    outcome: Result<T, ToolError>,
) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(value) => structured(&value),
        Err(error) => Ok(tool_error(&error)),
    }
}
