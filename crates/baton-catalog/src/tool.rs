//! Tool definitions (plain serde mirrors of MCP `Tool`) and their baton metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};

/// `_meta` key holding a tool's tags (array of strings).
pub const META_TAGS: &str = "dev.baton/tags";
/// `_meta` key holding a tool's group (string).
pub const META_GROUP: &str = "dev.baton/group";
/// `_meta` key marking a tool as pinned (boolean).
pub const META_PINNED: &str = "dev.baton/pinned";

/// An MCP `Tool` object as it appears in a `tools/list` result.
///
/// Known fields are typed; every other key is kept in [`ToolDefinition::extra`],
/// so deserializing and serializing again loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Programmatic name, unique within a catalog.
    pub name: String,
    /// Human-readable display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (an object schema).
    #[serde(rename = "inputSchema")]
    pub input_schema: Map<String, Value>,
    /// JSON Schema of the structured result, if any.
    #[serde(
        rename = "outputSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_schema: Option<Map<String, Value>>,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
    /// Extension metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// Any other keys, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ToolDefinition {
    /// A definition with the given name and description and an empty object input schema.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        let mut input_schema = Map::new();
        input_schema.insert("type".into(), Value::String("object".into()));
        Self {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            input_schema,
            output_schema: None,
            annotations: None,
            meta: None,
            extra: Map::new(),
        }
    }

    /// Replaces the input schema; a non-object value yields an `InvalidDefinition` error.
    pub fn with_input_schema(mut self, schema: Value) -> Result<Self> {
        match schema {
            Value::Object(map) => {
                self.input_schema = map;
                Ok(self)
            }
            other => Err(Error::new(
                ErrorKind::InvalidDefinition,
                format!(
                    "tool `{}`: inputSchema must be a JSON object, got {}",
                    self.name,
                    json_type(&other)
                ),
            )),
        }
    }

    /// Sets the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Parses one MCP `Tool` JSON object.
    pub fn from_json(value: Value) -> Result<Self> {
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_owned();
        serde_json::from_value(value).map_err(|e| {
            Error::new(
                ErrorKind::InvalidDefinition,
                format!("tool `{name}`: invalid MCP Tool object: {e}"),
            )
        })
    }

    /// The definition as a JSON value.
    pub fn to_json(&self) -> Value {
        // Serializing plain maps and strings cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A tool to register: its definition plus baton's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The MCP definition served to clients.
    pub definition: ToolDefinition,
    /// Free-form tags, searched with the description.
    pub tags: Vec<String>,
    /// Optional group (service or family), searched too.
    pub group: Option<String>,
    /// Whether the tool stays in `tools/list` in search mode.
    pub pinned: bool,
}

impl ToolSpec {
    /// A spec with no tags, no group, not pinned.
    pub fn new(definition: ToolDefinition) -> Self {
        Self {
            definition,
            tags: Vec::new(),
            group: None,
            pinned: false,
        }
    }

    /// Reads tags, group and pinned from the definition's `_meta`
    /// ([`META_TAGS`], [`META_GROUP`], [`META_PINNED`]); the keys stay in the definition.
    pub fn from_definition(definition: ToolDefinition) -> Result<Self> {
        let mut spec = Self::new(definition);
        let Some(meta) = spec.definition.meta.as_ref() else {
            return Ok(spec);
        };
        let name = &spec.definition.name;
        let bad = |key: &str, want: &str, got: &Value| {
            Error::new(
                ErrorKind::InvalidMetadata,
                format!(
                    "tool `{name}`: _meta[\"{key}\"] must be {want}, got {}",
                    json_type(got)
                ),
            )
        };
        let mut tags = Vec::new();
        if let Some(v) = meta.get(META_TAGS) {
            let arr = v
                .as_array()
                .ok_or_else(|| bad(META_TAGS, "an array of strings", v))?;
            for t in arr {
                tags.push(
                    t.as_str()
                        .ok_or_else(|| bad(META_TAGS, "an array of strings", t))?
                        .to_owned(),
                );
            }
        }
        let group = match meta.get(META_GROUP) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(bad(META_GROUP, "a string", v)),
        };
        let pinned = match meta.get(META_PINNED) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(bad(META_PINNED, "a boolean", v)),
        };
        spec.tags = tags;
        spec.group = group;
        spec.pinned = pinned;
        Ok(spec)
    }

    /// Sets the tags.
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Sets whether the tool is pinned.
    pub fn with_pinned(mut self, pinned: bool) -> Self {
        self.pinned = pinned;
        self
    }
}

impl From<ToolDefinition> for ToolSpec {
    fn from(definition: ToolDefinition) -> Self {
        Self::new(definition)
    }
}

/// `{"tools": [...]}` for the given definitions.
pub fn tools_json<'a>(defs: impl IntoIterator<Item = &'a ToolDefinition>) -> Value {
    let tools = defs.into_iter().map(ToolDefinition::to_json).collect();
    let mut m = Map::new();
    m.insert("tools".into(), Value::Array(tools));
    Value::Object(m)
}
