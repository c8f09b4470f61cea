//! A registered tool: its spec, its content digest, and the tool-name rule.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::tool::{ToolDefinition, ToolSpec};

/// Longest accepted tool name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// SHA-256 content digest of one tool (definition + metadata, canonical JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolDigest([u8; 32]);

impl ToolDigest {
    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for ToolDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Writes `v` as canonical JSON: object keys sorted by code point, no whitespace.
pub(crate) fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                if let Some(val) = map.get(k) {
                    canonical_json(val, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_json_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// A registered tool, with its computed digest.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    spec: ToolSpec,
    digest: ToolDigest,
}

impl ToolEntry {
    /// Registers `spec`, computing its digest.
    pub(crate) fn new(spec: ToolSpec) -> Self {
        Self {
            digest: digest_of(&spec),
            spec,
        }
    }
    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.spec.definition.name
    }
    /// The MCP definition.
    pub fn definition(&self) -> &ToolDefinition {
        &self.spec.definition
    }
    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.spec.tags
    }
    /// The group, if any.
    pub fn group(&self) -> Option<&str> {
        self.spec.group.as_deref()
    }
    /// Whether the tool is pinned.
    pub fn pinned(&self) -> bool {
        self.spec.pinned
    }
    /// The content digest of definition + metadata.
    pub fn digest(&self) -> ToolDigest {
        self.digest
    }
    /// The registration spec.
    pub fn spec(&self) -> &ToolSpec {
        &self.spec
    }
}

fn digest_of(spec: &ToolSpec) -> ToolDigest {
    let mut doc = Map::new();
    doc.insert("definition".into(), spec.definition.to_json());
    doc.insert(
        "tags".into(),
        Value::Array(spec.tags.iter().cloned().map(Value::String).collect()),
    );
    doc.insert(
        "group".into(),
        spec.group.clone().map_or(Value::Null, Value::String),
    );
    doc.insert("pinned".into(), Value::Bool(spec.pinned));
    let mut text = String::new();
    canonical_json(&Value::Object(doc), &mut text);
    ToolDigest(Sha256::digest(text.as_bytes()).into())
}

/// Checks a tool name: 1–64 characters from `[A-Za-z0-9_.-]`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidName,
            "invalid tool name: the name is empty",
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "invalid tool name `{name}`: {} characters, at most {MAX_NAME_LEN} allowed",
                name.chars().count()
            ),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "invalid tool name `{name}`: character {c:?} not allowed (use A-Z, a-z, 0-9, `_`, `.`, `-`)"
            ),
        ));
    }
    Ok(())
}
