//! The catalog: registration, digests, revision, JSON loading and pagination.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::Path;

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::search::{Hit, SearchIndex};
use crate::tool::{ToolDefinition, ToolSpec, json_type};

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

fn hex(bytes: &[u8]) -> String {
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

/// Collects tools, then builds a [`Catalog`].
#[derive(Debug, Default, Clone)]
pub struct CatalogBuilder {
    specs: BTreeMap<String, ToolSpec>,
}

impl CatalogBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers one tool; rejects an invalid or already registered name.
    pub fn add(&mut self, spec: impl Into<ToolSpec>) -> Result<&mut Self> {
        let spec = spec.into();
        let name = spec.definition.name.clone();
        validate_name(&name)?;
        if self.specs.contains_key(&name) {
            return Err(Error::new(
                ErrorKind::DuplicateName,
                format!(
                    "duplicate tool name `{name}`: a tool with this name is already registered"
                ),
            ));
        }
        self.specs.insert(name, spec);
        Ok(self)
    }

    /// Registers every tool of a JSON catalog: an array of MCP `Tool` objects or
    /// `{"tools": [...]}`; metadata is read from the baton `_meta` keys.
    pub fn add_json_value(&mut self, value: Value) -> Result<&mut Self> {
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut map) => match map.remove("tools") {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::InvalidDefinition,
                        format!(
                            "invalid catalog JSON: \"tools\" must be an array, got {}",
                            json_type(&other)
                        ),
                    ));
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidDefinition,
                        "invalid catalog JSON: expected an array of tools or an object with a \"tools\" array",
                    ));
                }
            },
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidDefinition,
                    format!(
                        "invalid catalog JSON: expected an array of tools or an object with a \"tools\" array, got {}",
                        json_type(&other)
                    ),
                ));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            if !item.is_object() {
                return Err(Error::new(
                    ErrorKind::InvalidDefinition,
                    format!(
                        "invalid catalog JSON: tool #{i} must be an object, got {}",
                        json_type(&item)
                    ),
                ));
            }
            let def = ToolDefinition::from_json(item)?;
            self.add(ToolSpec::from_definition(def)?)?;
        }
        Ok(self)
    }

    /// Like [`CatalogBuilder::add_json_value`], reading JSON from `reader`.
    pub fn add_json_reader(&mut self, reader: impl Read) -> Result<&mut Self> {
        let value: Value = serde_json::from_reader(reader).map_err(|e| {
            if e.is_io() {
                Error::io(format!("cannot read catalog JSON: {e}"), e.into())
            } else {
                Error::new(
                    ErrorKind::InvalidDefinition,
                    format!("invalid catalog JSON: {e}"),
                )
            }
        })?;
        self.add_json_value(value)
    }

    /// Number of tools registered so far.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Builds the catalog: computes digests, the revision and the search index.
    pub fn build(self) -> Catalog {
        let entries: Vec<ToolEntry> = self
            .specs
            .into_values()
            .map(|spec| ToolEntry {
                digest: digest_of(&spec),
                spec,
            })
            .collect();
        let mut h = Sha256::new();
        h.update(b"baton-catalog/v1\n");
        for e in &entries {
            h.update(e.name().as_bytes());
            h.update([0u8]);
            h.update(e.digest.as_bytes());
        }
        let revision = hex(&h.finalize());
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name().to_owned(), i))
            .collect();
        let index = SearchIndex::build(&entries);
        Catalog {
            entries,
            by_name,
            revision,
            index,
        }
    }
}

/// One page of a catalog listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<'a> {
    /// The tools on this page, in catalog order (by name).
    pub entries: &'a [ToolEntry],
    /// Cursor for the next page, `None` on the last page.
    pub next_cursor: Option<String>,
}

/// An immutable, searchable set of tools in name order.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<ToolEntry>,
    by_name: HashMap<String, usize>,
    revision: String,
    index: SearchIndex,
}

const CURSOR_VERSION: &str = "c1";
const CURSOR_REV_LEN: usize = 16;

impl Catalog {
    /// A new builder.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::new()
    }

    /// Builds a catalog from tool specs (or definitions).
    pub fn from_specs<I, S>(specs: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<ToolSpec>,
    {
        let mut b = CatalogBuilder::new();
        for s in specs {
            b.add(s)?;
        }
        Ok(b.build())
    }

    /// Loads a JSON catalog (array of MCP `Tool` objects, or `{"tools": [...]}`) from a reader.
    pub fn load_json_reader(reader: impl Read) -> Result<Self> {
        let mut b = CatalogBuilder::new();
        b.add_json_reader(reader)?;
        Ok(b.build())
    }

    /// Loads a JSON catalog from a file.
    pub fn load_json_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("cannot open catalog `{}`: {e}", path.display()), e))?;
        Self::load_json_reader(std::io::BufReader::new(file))
            .map_err(|e| Error::new(e.kind(), format!("catalog `{}`: {e}", path.display())))
    }

    /// Loads a JSON catalog from a string.
    pub fn load_json_str(text: &str) -> Result<Self> {
        Self::load_json_reader(text.as_bytes())
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog has no tools.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All tools, ordered by name.
    pub fn entries(&self) -> &[ToolEntry] {
        &self.entries
    }

    /// The tool with this exact name.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Pinned tools, ordered by name.
    pub fn pinned(&self) -> impl Iterator<Item = &ToolEntry> {
        self.entries.iter().filter(|e| e.pinned())
    }

    /// Catalog revision: lower-case hex SHA-256 over every tool's name and digest.
    /// It changes exactly when some tool's definition or metadata changes, or a tool is added or removed.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// One page of at most `size` tools. `cursor` is `None` for the first page, else a
    /// `next_cursor` from an earlier page of this same revision.
    pub fn page(&self, cursor: Option<&str>, size: usize) -> Result<Page<'_>> {
        if size == 0 {
            return Err(Error::new(
                ErrorKind::InvalidPageSize,
                "invalid page size 0: must be at least 1",
            ));
        }
        let start = match cursor {
            None => 0,
            Some(c) => self.decode_cursor(c)?,
        };
        let end = start.saturating_add(size).min(self.entries.len());
        let next_cursor = (end < self.entries.len()).then(|| self.encode_cursor(end));
        Ok(Page {
            entries: &self.entries[start..end],
            next_cursor,
        })
    }

    fn encode_cursor(&self, offset: usize) -> String {
        let raw = format!(
            "{CURSOR_VERSION}:{}:{offset}",
            &self.revision[..CURSOR_REV_LEN]
        );
        BASE64URL_NOPAD.encode(raw.as_bytes())
    }

    fn decode_cursor(&self, cursor: &str) -> Result<usize> {
        let invalid = || {
            Error::new(
                ErrorKind::InvalidCursor,
                format!("invalid cursor `{cursor}`: not a cursor issued by this catalog"),
            )
        };
        let bytes = BASE64URL_NOPAD
            .decode(cursor.as_bytes())
            .map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let mut parts = text.split(':');
        let (Some(version), Some(rev), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if version != CURSOR_VERSION || rev.len() != CURSOR_REV_LEN {
            return Err(invalid());
        }
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        if rev != &self.revision[..CURSOR_REV_LEN] {
            return Err(Error::new(
                ErrorKind::StaleCursor,
                format!(
                    "stale cursor: it was issued for catalog revision {rev}…, the current revision is {}…; restart listing without a cursor",
                    &self.revision[..CURSOR_REV_LEN]
                ),
            ));
        }
        if offset == 0 || offset >= self.entries.len() {
            return Err(Error::new(
                ErrorKind::InvalidCursor,
                format!(
                    "invalid cursor `{cursor}`: offset {offset} is out of range for {} tools",
                    self.entries.len()
                ),
            ));
        }
        Ok(offset)
    }

    /// Ranks tools for a natural-language `query` and returns at most `limit` hits, best first.
    ///
    /// Errors: empty or whitespace-only query ([`ErrorKind::EmptyQuery`]), more than
    /// [`crate::MAX_QUERY_CHARS`] characters ([`ErrorKind::QueryTooLong`]), no searchable term
    /// ([`ErrorKind::NoSearchableTerms`]), `limit` outside `1..=`[`crate::MAX_SEARCH_LIMIT`]
    /// ([`ErrorKind::InvalidLimit`]). A valid query that matches nothing returns an empty vector.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit<'_>>> {
        self.index
            .search(&self.entries, &self.by_name, query, limit)
    }

    /// `{"tools": [...]}` with every definition, as a full `tools/list` result.
    pub fn tools_list_json(&self) -> Value {
        tools_json(self.entries.iter().map(ToolEntry::definition))
    }
}

/// `{"tools": [...]}` for the given definitions.
pub fn tools_json<'a>(defs: impl IntoIterator<Item = &'a ToolDefinition>) -> Value {
    let tools = defs.into_iter().map(ToolDefinition::to_json).collect();
    let mut m = Map::new();
    m.insert("tools".into(), Value::Array(tools));
    Value::Object(m)
}
