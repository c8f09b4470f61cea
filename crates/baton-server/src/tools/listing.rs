//! What `tools/list` shows, paged by `baton-catalog`.
//!
//! There is one way of paging tools in baton: the catalog's. The listed tools are put in a
//! [`Catalog`] of their own at start-up, and `tools/list` hands out that catalog's cursors
//! (opaque, bound to the list's revision, so that a cursor from a differently configured
//! server is refused rather than misread).

use std::collections::HashMap;

use baton_catalog::{Catalog, ErrorKind};
use rmcp::{ErrorData, model::Tool};

use super::discovery::to_catalog;

/// Most tools per `tools/list` page.
pub const TOOLS_PAGE_SIZE: usize = 100;

/// The tools `tools/list` shows, in name order, with the catalog that pages them.
pub struct ListedTools {
    /// The rmcp definitions, in the catalog's order (by name).
    tools: Vec<Tool>,
    catalog: Catalog,
}

impl ListedTools {
    /// Builds the list; fails on a tool the catalog cannot hold (a start-up bug).
    pub fn new(tools: Vec<Tool>) -> anyhow::Result<ListedTools> {
        let mut builder = Catalog::builder();
        for tool in &tools {
            builder
                .add(to_catalog(tool)?)
                .map_err(|e| anyhow::anyhow!("tools/list: {e}"))?;
        }
        let catalog = builder.build();
        let mut by_name: HashMap<String, Tool> = tools
            .into_iter()
            .map(|tool| (tool.name.to_string(), tool))
            .collect();
        let tools = catalog
            .entries()
            .iter()
            .map(|entry| {
                by_name
                    .remove(entry.name())
                    .ok_or_else(|| anyhow::anyhow!("tools/list: `{}` is missing", entry.name()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ListedTools { tools, catalog })
    }

    /// How many tools are listed.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// One page of at most `size` tools, and the cursor of the next page if more follow.
    /// A cursor this list did not issue is an invalid-params error.
    pub fn page(
        &self,
        cursor: Option<&str>,
        size: usize,
    ) -> Result<(Vec<Tool>, Option<String>), ErrorData> {
        let page = self.catalog.page(cursor, size).map_err(|e| {
            let why = match e.kind() {
                ErrorKind::StaleCursor => {
                    "it was issued for another tool list; list again without a cursor"
                }
                _ => "it was not issued by this server",
            };
            ErrorData::invalid_params(format!("invalid cursor for tools/list: {why}"), None)
        })?;
        let tools = self.tools[page.start..page.start + page.entries.len()].to_vec();
        Ok((tools, page.next_cursor))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::ErrorCode;
    use serde_json::json;

    use super::*;

    fn tool(name: &str) -> Tool {
        let schema = json!({"type": "object"});
        let schema = schema.as_object().cloned().unwrap_or_default();
        Tool::new(
            name.to_owned(),
            format!("The {name} tool."),
            Arc::new(schema),
        )
    }

    fn names(tools: &[Tool]) -> Vec<String> {
        tools.iter().map(|t| t.name.to_string()).collect()
    }

    /// Every page, following the cursors, with at most `limit` pages.
    fn list_all(list: &ListedTools, size: usize) -> (Vec<String>, usize) {
        let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
        for _ in 0..1_000 {
            let (tools, next) = list.page(cursor.as_deref(), size).unwrap();
            assert!(tools.len() <= size, "a page holds at most {size} tools");
            assert!(!tools.is_empty(), "no empty page");
            pages += 1;
            seen.extend(names(&tools));
            match next {
                Some(next) => cursor = Some(next),
                None => return (seen, pages),
            }
        }
        panic!("more than 1,000 pages")
    }

    #[test]
    fn every_tool_is_listed_once_in_name_order_across_pages() {
        let given: Vec<String> = (0..253).rev().map(|i| format!("tool_{i:03}")).collect();
        let list = ListedTools::new(given.iter().map(|n| tool(n)).collect()).unwrap();
        assert_eq!(list.len(), 253);
        let mut expected = given.clone();
        expected.sort();
        for size in [1, 7, TOOLS_PAGE_SIZE, 253, 1_000] {
            let (seen, pages) = list_all(&list, size);
            assert_eq!(seen, expected, "page size {size}");
            assert_eq!(pages, 253_usize.div_ceil(size), "page size {size}");
        }
    }

    #[test]
    fn the_cursor_is_the_catalogs() {
        let tools: Vec<Tool> = ["c", "a", "b"].iter().map(|n| tool(n)).collect();
        let list = ListedTools::new(tools.clone()).unwrap();
        let catalog = Catalog::from_specs(tools.iter().map(|t| to_catalog(t).unwrap())).unwrap();
        let (first, next) = list.page(None, 2).unwrap();
        assert_eq!(names(&first), ["a", "b"]);
        let next = next.unwrap();
        // The catalog of the same tools reads the server's cursor: one cursor format.
        let page = catalog.page(Some(&next), 2).unwrap();
        assert_eq!(page.entries[0].name(), "c");
        assert_eq!(page.next_cursor, None);
        let (second, end) = list.page(Some(&next), 2).unwrap();
        assert_eq!(names(&second), ["c"]);
        assert_eq!(end, None);
    }

    #[test]
    fn foreign_and_garbage_cursors_are_invalid_params() {
        let list = ListedTools::new(["a", "b", "c"].iter().map(|n| tool(n)).collect()).unwrap();
        let other = ListedTools::new(["a", "b", "d"].iter().map(|n| tool(n)).collect()).unwrap();
        let (_, next) = other.page(None, 1).unwrap();
        let stale = list.page(next.as_deref(), 1).unwrap_err();
        assert_eq!(stale.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(
            stale.message,
            "invalid cursor for tools/list: it was issued for another tool list; list again without a cursor"
        );
        for garbage in ["", "not a cursor", &"A".repeat(10_000)] {
            let err = list.page(Some(garbage), 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
            assert_eq!(
                err.message,
                "invalid cursor for tools/list: it was not issued by this server"
            );
        }
    }

    #[test]
    fn a_tool_the_catalog_refuses_stops_start_up() {
        let err = ListedTools::new(vec![tool("a"), tool("a")]).err().unwrap();
        assert!(err.to_string().contains("`a`"), "{err}");
        let err = ListedTools::new(vec![tool("bad name")]).err().unwrap();
        assert!(err.to_string().contains("bad name"), "{err}");
    }
}
