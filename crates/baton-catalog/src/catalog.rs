//! The catalog: registration, digests, revision, JSON loading and pagination.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use data_encoding::BASE64URL_NOPAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::entry::{ToolEntry, hex, validate_name};
use crate::error::{Error, ErrorKind, Result};
use crate::search::{Hit, SearchIndex};
use crate::tool::{ToolDefinition, ToolSpec, json_type, tools_json};

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
        let entries: Vec<ToolEntry> = self.specs.into_values().map(ToolEntry::new).collect();
        let mut h = Sha256::new();
        h.update(b"baton-catalog/v1\n");
        for e in &entries {
            h.update(e.name().as_bytes());
            h.update([0u8]);
            h.update(e.digest().as_bytes());
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
    /// Where `entries` starts in [`Catalog::entries`], so that a caller keeping its own
    /// per-tool data in catalog order can take the same slice of it.
    pub start: usize,
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
            start,
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
    /// Every non-empty query is answered: one made only of common words ("who am I") is
    /// searched with the words given. A valid query that matches nothing returns an empty
    /// vector.
    ///
    /// Errors: empty or whitespace-only query ([`ErrorKind::EmptyQuery`]), more than
    /// [`crate::MAX_QUERY_CHARS`] characters ([`ErrorKind::QueryTooLong`]), `limit` outside
    /// `1..=`[`crate::MAX_SEARCH_LIMIT`] ([`ErrorKind::InvalidLimit`]).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit<'_>>> {
        self.index
            .search(&self.entries, &self.by_name, query, limit)
    }

    /// `{"tools": [...]}` with every definition, as a full `tools/list` result.
    pub fn tools_list_json(&self) -> Value {
        tools_json(self.entries.iter().map(ToolEntry::definition))
    }
}
