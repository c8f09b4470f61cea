//! BM25F ranking over a prebuilt inverted index: `text` turns text into terms, `vocabulary`
//! holds the hand-written general vocabulary, `index` is built once per catalog, `query` ranks
//! one request.

mod index;
mod query;
mod text;
mod vocabulary;

#[cfg(test)]
mod tests;

pub(crate) use index::SearchIndex;
#[cfg(test)]
pub(crate) use text::{STOP_WORDS_FOR_TEST, is_plural};

use crate::entry::ToolEntry;

/// Longest accepted search query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Largest accepted search limit.
pub const MAX_SEARCH_LIMIT: usize = 50;
/// Search limit used when a `search_tools` call gives none.
pub const DEFAULT_SEARCH_LIMIT: usize = 5;

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit<'a> {
    /// The matching tool.
    pub entry: &'a ToolEntry,
    /// Relevance score; higher is better. Only comparable within one search.
    pub score: f32,
}

impl Hit<'_> {
    /// The matching tool's name.
    pub fn name(&self) -> &str {
        self.entry.name()
    }
}
