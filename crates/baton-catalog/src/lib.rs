//! A searchable catalog of MCP tool definitions, for on-demand tool discovery.
//!
//! Register tool definitions (plain serde mirrors of MCP `Tool` objects) with tags, a group and
//! a pinned flag; get a SHA-256 content digest per tool and a catalog [revision](Catalog::revision);
//! page through the catalog with opaque cursors bound to the revision; and rank tools for a
//! natural-language query with BM25F over names (split on `_`, `-`, `.` and camelCase, camelCase
//! words also kept whole), titles, groups, tags, the description's first sentence, the rest of
//! the description, parameter names and parameter descriptions, with English stemming. On top
//! of BM25F: a bonus for matching the tool's name (idf-weighted, its verb only with its
//! object), the request's leading verb standing also for the tool actions it asks for ("file a
//! ticket" → `create_issue`; a yes/no question, "is … done?", asks for the actions that read),
//! things asked for in the plural favouring a listing action ("which keys …" → `list`), a
//! bonus for the share of the request matched (a word as typed counts more than a synonym), a
//! preference for tools of a service the request names ("… on GitHub", "in k8s"), correction
//! of misspelt words to the closest catalog term, compounds and a few phrases ("how many"), and
//! hand-written lists of general English and software synonyms and of common software
//! abbreviations. Every non-empty query is answered; one made only of common words ("who am
//! I") is searched with the words given. The index is built once, when the catalog is built;
//! search is deterministic.
//!
//! This crate depends on nothing else of baton's and not on any MCP SDK.
//!
//! # Build a catalog and search it
//!
//! ```
//! use baton_catalog::{Catalog, ToolDefinition, ToolSpec};
//! use serde_json::json;
//!
//! let mut builder = Catalog::builder();
//! builder.add(
//!     ToolSpec::new(
//!         ToolDefinition::new("github_create_issue", "Open a new issue in a repository.")
//!             .with_input_schema(json!({
//!                 "type": "object",
//!                 "properties": {"title": {"type": "string", "description": "Issue title"}},
//!                 "required": ["title"]
//!             }))?,
//!     )
//!     .with_tags(["source-control"])
//!     .with_group("github"),
//! )?;
//! builder.add(ToolDefinition::new("slack_post_message", "Post a message to a Slack channel."))?;
//! let catalog = builder.build();
//!
//! let hits = catalog.search("creating issues", 5)?;
//! assert_eq!(hits[0].name(), "github_create_issue");
//!
//! // An exact tool name always ranks that tool first.
//! assert_eq!(catalog.search("slack_post_message", 5)?[0].name(), "slack_post_message");
//! # Ok::<(), baton_catalog::Error>(())
//! ```
//!
//! # Load JSON and page through it
//!
//! ```
//! use baton_catalog::{Catalog, ErrorKind};
//!
//! let catalog = Catalog::load_json_str(r#"{"tools": [
//!     {"name": "b_tool", "description": "Second.", "inputSchema": {"type": "object"}},
//!     {"name": "a_tool", "description": "First.", "inputSchema": {"type": "object"},
//!      "_meta": {"dev.baton/tags": ["demo"], "dev.baton/pinned": true}},
//!     {"name": "c_tool", "description": "Third.", "inputSchema": {"type": "object"}}
//! ]}"#)?;
//! assert!(catalog.get("a_tool").is_some_and(|t| t.pinned()));
//!
//! let first = catalog.page(None, 2)?;
//! assert_eq!(first.entries.len(), 2);
//! assert_eq!(first.entries[0].name(), "a_tool");
//! let cursor = first.next_cursor.expect("more tools follow");
//! let second = catalog.page(Some(&cursor), 2)?;
//! assert_eq!(second.entries[0].name(), "c_tool");
//! assert!(second.next_cursor.is_none());
//!
//! // An empty query is an error; any other query is answered, if need be with nothing.
//! assert_eq!(catalog.search("   ", 5).unwrap_err().kind(), ErrorKind::EmptyQuery);
//! assert!(catalog.search("what is it", 5).is_ok());
//! # Ok::<(), baton_catalog::Error>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod entry;
mod error;
mod meta_tools;
mod search;
mod tool;

pub use catalog::{Catalog, CatalogBuilder, Page};
pub use entry::{MAX_NAME_LEN, ToolDigest, ToolEntry, validate_name};
pub use error::{Error, ErrorKind, Result};
pub use meta_tools::{
    CALL_TOOL_NAME, SEARCH_TOOLS_NAME, SearchToolsArgs, call_tool_definition, search_result_json,
    search_tools_definition,
};
pub use search::{DEFAULT_SEARCH_LIMIT, Hit, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT};
pub use tool::{META_GROUP, META_PINNED, META_TAGS, ToolDefinition, ToolSpec, tools_json};

#[cfg(test)]
mod tests;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
