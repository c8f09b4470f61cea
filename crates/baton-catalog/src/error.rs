//! The crate's one error type.

use std::fmt;

/// What went wrong; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A tool name is empty, longer than 64 characters, or has a character outside `[A-Za-z0-9_.-]`.
    InvalidName,
    /// Two tools share one name.
    DuplicateName,
    /// A tool definition (or the catalog JSON around it) does not have the expected shape.
    InvalidDefinition,
    /// A baton extension key in `_meta` (`dev.baton/tags`, `dev.baton/group`, `dev.baton/pinned`) has the wrong type.
    InvalidMetadata,
    /// Reading the catalog file failed.
    Io,
    /// The search query is empty or whitespace only.
    EmptyQuery,
    /// The search query is longer than [`crate::MAX_QUERY_CHARS`] characters.
    QueryTooLong,
    /// The search limit is outside `1..=`[`crate::MAX_SEARCH_LIMIT`].
    InvalidLimit,
    /// A page size of zero was asked for.
    InvalidPageSize,
    /// A pagination cursor is malformed or out of range.
    InvalidCursor,
    /// A pagination cursor was issued for another catalog revision.
    StaleCursor,
}

/// The error type of every fallible function in this crate.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<std::io::Error>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        Self {
            kind: ErrorKind::Io,
            message: message.into(),
            source: Some(source),
        }
    }

    /// The category of this error, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Shorthand for `std::result::Result<T, Error>`.
pub type Result<T> = std::result::Result<T, Error>;
