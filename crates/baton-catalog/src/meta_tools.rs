//! The two meta-tools served in search mode, `search_tools` and `call_tool`, and the
//! `search_tools` result.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::search::{DEFAULT_SEARCH_LIMIT, Hit, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT};
use crate::tool::{ToolDefinition, tools_json};

/// Name of the search meta-tool.
pub const SEARCH_TOOLS_NAME: &str = "search_tools";
/// Name of the call proxy meta-tool.
pub const CALL_TOOL_NAME: &str = "call_tool";

fn def_from(value: Value) -> ToolDefinition {
    // The literals below are valid Tool objects; a failure would be a bug caught by tests.
    serde_json::from_value(value).unwrap_or_else(|_| ToolDefinition::new("invalid", ""))
}

/// The `search_tools` meta-tool served in search mode.
pub fn search_tools_definition() -> ToolDefinition {
    def_from(json!({
        "name": SEARCH_TOOLS_NAME,
        "title": "Search tools",
        "description": "Find tools on this server by describing the task in plain words (for example \"open a pull request\" or \"refund a payment\"). Returns the best-matching tool definitions, best first, with their input schemas. Call a found tool directly by its name, or through call_tool.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "What you want to do, in natural language or keywords, or an exact tool name.",
                    "minLength": 1,
                    "maxLength": MAX_QUERY_CHARS
                },
                "limit": {
                    "type": "integer",
                    "description": "How many tools to return.",
                    "minimum": 1,
                    "maximum": MAX_SEARCH_LIMIT,
                    "default": DEFAULT_SEARCH_LIMIT
                }
            },
            "required": ["query"]
        },
        "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}
    }))
}

/// The `call_tool` meta-tool served in search mode.
pub fn call_tool_definition() -> ToolDefinition {
    def_from(json!({
        "name": CALL_TOOL_NAME,
        "title": "Call a tool",
        "description": "Call a tool found with search_tools by its exact name, passing arguments that match its inputSchema. Returns that tool's result.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Exact name of the tool to call."},
                "arguments": {"type": "object", "description": "Arguments for the tool, as its inputSchema describes."}
            },
            "required": ["name"]
        }
    }))
}

/// Arguments of a `search_tools` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchToolsArgs {
    /// The query.
    pub query: String,
    /// How many results; [`DEFAULT_SEARCH_LIMIT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The `search_tools` result for `hits`: `{"tools": [full definitions, best first]}`.
pub fn search_result_json(hits: &[Hit<'_>]) -> Value {
    tools_json(hits.iter().map(|h| h.entry.definition()))
}
