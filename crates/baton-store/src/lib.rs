//! The storage contract behind baton: the research-task domain model, one trait per job,
//! the rules every backend applies alike, store errors, and a conformance kit.
//!
//! A backend implements [`ResearchStore`] (research tasks), [`KeyStore`] (handle-signing
//! keys) and, optionally, [`ShareStore`] (delegation grants), [`ToolTaskStore`] (the MCP
//! Tasks extension's durable tool calls) and [`BulkImport`]; baton ships SQLite (`baton-store-sqlite`) and
//! Postgres (`baton-store-postgres`). Every state change is one conditional statement or one
//! short transaction, so that racing callers, on one instance or many, get defined outcomes.
//!
//! Everything that is not storage (expiry arithmetic, when a read refreshes a task, how a
//! refused change explains itself, how pages are built) lives in [`rules`] and on the model
//! types, so that a new backend writes only storage code.
//!
//! Time is an argument. Every method takes `now`, so expiry is decided by the caller's clock
//! and tests can move time forward without sleeping. Lifetimes (idle and absolute TTL) are
//! given to the backend when it is opened, as [`Lifetimes`].
//!
//! Times are kept to the millisecond: a backend truncates every time it is given to whole
//! milliseconds ([`rules::truncate_to_millis`]) and returns exactly that, so that every
//! backend round-trips alike.
//!
//! The `testkit` module (feature `testkit`) is the single definition of what a backend must
//! do: a backend's test calls `testkit::run_all` with a factory that opens a fresh store.
//!
//! # Examples
//!
//! Expiry: the idle deadline, capped by the absolute one.
//!
//! ```
//! use baton_store::{Lifetimes, ResearchTaskId, rules};
//! use chrono::{Duration, TimeZone, Utc};
//!
//! let lifetimes = Lifetimes::new(Duration::hours(24), Duration::days(7)).unwrap();
//! let created = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
//! let hard = rules::hard_expiry(created, &lifetimes);
//! // A write six days in pushes the idle deadline past the absolute one, which wins.
//! let written = created + Duration::days(6) + Duration::hours(12);
//! assert_eq!(rules::expiry_after_write(written, hard, &lifetimes), hard);
//! assert_eq!(ResearchTaskId::from_bytes([7; 16]).as_bytes(), &[7; 16]);
//! ```
//!
//! Why a conditional change matched nothing, with the contract's precedence:
//!
//! ```
//! use baton_store::{FindingLimits, ResearchStatus, StoreErrorKind};
//! use baton_store::rules::{Observed, explain_refusal};
//!
//! let done = Observed { status: ResearchStatus::Complete, findings_count: 3, owner_bytes: 0 };
//! let refused = explain_refusal(Some(done), 1, 10, FindingLimits::per_task(10)).unwrap_err();
//! assert_eq!(refused.kind(), &StoreErrorKind::WrongStatus(ResearchStatus::Complete));
//! // No live task of the caller's: not found, whatever else is wrong.
//! let missing = explain_refusal(None, 99, 99, FindingLimits::per_task(1)).unwrap_err();
//! assert_eq!(missing.kind(), &StoreErrorKind::NotFound);
//! ```
#![deny(missing_docs)]

mod counts;
mod error;
mod keys;
mod research;
pub mod rules;
mod shares;
mod stores;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tool_tasks;

pub use counts::{LaneReadStats, PoolStats, StoreStats, WriterStats};
pub use error::{Quota, StoreError, StoreErrorKind};
pub use keys::{SigningKeyRecord, StoredApiKey, signer};
pub use research::{
    Appended, Finding, FindingLimits, FindingsBatch, FindingsPage, NewResearchTask,
    ResearchListCursor, ResearchStatus, ResearchTask, ResearchTaskId, ResearchTasksPage,
    StartOutcome,
};
pub use rules::{Lifetimes, expiry_after_write};
pub use shares::{
    Access, Grant, GrantId, MAX_GRANT_DEPTH, NewGrant, ShareRight, SharedListCursor, SharedTask,
    SharedTasksPage,
};
pub use stores::{BulkImport, KeyStore, ResearchStore, ShareStore, ToolTaskStore};
pub use tool_tasks::{
    Claim, NewToolTask, Progress, ToolTask, ToolTaskId, ToolTaskOutcome, ToolTaskStatus,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
