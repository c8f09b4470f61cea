//! On-demand tool discovery: the `search_tools` and `call_tool` meta-tools.
//!
//! In `search` exposure mode, `tools/list` shows only pinned tools and these two; a model
//! finds the rest by describing what it wants (`search_tools`) and calls them by name, or
//! through `call_tool` when its client can only call listed tools. Every tool stays
//! callable by name in both modes. The ranking lives in `baton-catalog`.

use std::collections::HashMap;

use baton_catalog::{
    CALL_TOOL_NAME, Catalog, DEFAULT_SEARCH_LIMIT, ErrorKind as CatalogErrorKind,
    SEARCH_TOOLS_NAME, SearchToolsArgs, ToolDefinition, ToolSpec,
};
use baton_protocol::{ToolError, parse_arguments};
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde::Deserialize;

use super::{ToolTable, structured, tool_error};

/// Arguments of `call_tool`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallToolArgs {
    /// The target tool's exact name.
    pub name: String,
    /// The target's arguments.
    #[serde(default)]
    pub arguments: Option<JsonObject>,
}

/// The searchable catalog plus compiled input-schema validators, built once.
pub struct Discovery {
    catalog: Catalog,
    validators: HashMap<String, jsonschema::Validator>,
    search_tools: Tool,
    call_tool: Tool,
}

/// Converts a catalog definition to rmcp's `Tool`.
pub fn to_rmcp(definition: &ToolDefinition) -> anyhow::Result<Tool> {
    Ok(serde_json::from_value(definition.to_json())?)
}

/// Converts rmcp's `Tool` to a catalog definition (checking its name and shape).
pub fn to_catalog(tool: &Tool) -> anyhow::Result<ToolDefinition> {
    ToolDefinition::from_json(serde_json::to_value(tool)?)
        .map_err(|e| anyhow::anyhow!("tool `{}`: {e}", tool.name))
}

impl Discovery {
    /// Builds the catalog from every callable tool (catalog-only definitions included).
    /// `specs` carries catalog metadata (tags, group, pinned) for tools registered with it;
    /// other tools get theirs from their definition's `_meta`.
    pub fn new(tools: &ToolTable, specs: &[ToolSpec]) -> anyhow::Result<Discovery> {
        let mut builder = Catalog::builder();
        for tool in tools.definitions() {
            let spec = match specs.iter().find(|s| s.definition.name == tool.name) {
                Some(spec) => spec.clone(),
                None => ToolSpec::from_definition(to_catalog(tool)?)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            builder.add(spec).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let catalog = builder.build();
        let mut validators = HashMap::new();
        for entry in catalog.entries() {
            let schema = serde_json::to_value(&entry.definition().input_schema)?;
            let validator = jsonschema::validator_for(&schema).map_err(|e| {
                anyhow::anyhow!("input schema of `{}` does not compile: {e}", entry.name())
            })?;
            validators.insert(entry.name().to_owned(), validator);
        }
        Ok(Discovery {
            search_tools: to_rmcp(&baton_catalog::search_tools_definition())?,
            call_tool: to_rmcp(&baton_catalog::call_tool_definition())?,
            catalog,
            validators,
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// What `tools/list` shows in search mode: pinned tools, then the two meta-tools, by name.
    pub fn listed(&self) -> anyhow::Result<Vec<Tool>> {
        let mut listed = self
            .catalog
            .pinned()
            .map(|e| to_rmcp(e.definition()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        listed.push(self.search_tools.clone());
        listed.push(self.call_tool.clone());
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// The definition of a meta-tool.
    pub fn meta_tool(&self, name: &str) -> Option<&Tool> {
        match name {
            SEARCH_TOOLS_NAME => Some(&self.search_tools),
            CALL_TOOL_NAME => Some(&self.call_tool),
            _ => None,
        }
    }

    /// `search_tools`: full definitions of the best matches, best first.
    pub fn search(&self, arguments: JsonObject) -> CallToolResult {
        let outcome = parse_arguments::<SearchToolsArgs>(arguments).and_then(|args| {
            let limit = args.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
            self.catalog.search(&args.query, limit).map_err(|e| {
                let field = if matches!(e.kind(), CatalogErrorKind::InvalidLimit) {
                    "limit"
                } else {
                    "query"
                };
                ToolError::invalid(field, e.to_string())
            })
        });
        match outcome {
            Ok(hits) => structured(&baton_catalog::search_result_json(&hits)).unwrap_or_else(|e| {
                CallToolResult::error(vec![rmcp::model::ContentBlock::text(e.message.to_string())])
            }),
            Err(e) => tool_error(&e),
        }
    }

    /// Checks `call_tool` arguments against the target's input schema. Errors name the
    /// offending field by its path inside `arguments`.
    pub fn validate(&self, target: &str, arguments: &JsonObject) -> Result<(), ToolError> {
        let Some(validator) = self.validators.get(target) else {
            return Err(ToolError::invalid(
                "name",
                format!("no tool is named `{target}`; find tools with search_tools"),
            ));
        };
        let instance = serde_json::Value::Object(arguments.clone());
        if let Some(error) = validator.iter_errors(&instance).next() {
            let path = error.instance_path().to_string();
            let field = if path.is_empty() {
                "arguments".to_owned()
            } else {
                format!("arguments{}", path.replace('/', "."))
            };
            return Err(ToolError::invalid(field, error.to_string()));
        }
        Ok(())
    }
}
