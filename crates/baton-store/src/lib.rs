//! The storage contract behind baton's research tasks.
//!
//! A backend implements [`ResearchStore`]; baton ships SQLite (`baton-store-sqlite`) and Postgres
//! (`baton-store-postgres`). The trait is written for both: every state change is one
//! conditional statement or one short transaction, so that racing callers, on one instance
//! or many, get defined outcomes.
//!
//! Time is an argument. Every method takes `now`, so expiry is decided by the caller's clock
//! and tests can move time forward without sleeping. Lifetimes (idle and absolute TTL) are
//! given to the backend when it is opened, as [`Lifetimes`].
//!
//! Times are kept to the millisecond: a backend truncates every time it is given to whole
//! milliseconds and returns exactly that, so that both backends round-trip alike.
//!
//! The [`testkit`] module (feature `testkit`) is the single definition of what a backend must
//! do: a backend's test calls [`testkit::run_all`] with a factory that opens a fresh store.
//!
//! # Example
//!
//! ```
//! use baton_store::{Lifetimes, ResearchTaskId, expiry_after_write};
//! use chrono::{Duration, TimeZone, Utc};
//!
//! let lifetimes = Lifetimes { idle: Duration::hours(24), absolute: Duration::days(7) };
//! let created = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
//! let hard = created + lifetimes.absolute;
//! // A write six days in pushes the idle deadline past the absolute one, which wins.
//! let written = created + Duration::days(6) + Duration::hours(12);
//! assert_eq!(expiry_after_write(written, hard, &lifetimes), hard);
//! assert_eq!(ResearchTaskId::from_bytes([7; 16]).as_bytes(), &[7; 16]);
//! ```
#![deny(missing_docs)]

mod error;
mod model;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{StoreError, StoreErrorKind};
pub use model::{
    Finding, FindingsPage, Lifetimes, NewResearchTask, SigningKeyRecord, StartOutcome, ResearchTask, ResearchTaskId,
    ResearchListCursor, ResearchStatus, ResearchTasksPage, expiry_after_write,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A durable store of research tasks, keyed by [`ResearchTaskId`] and always scoped by owner.
///
/// Every read and write names the owner (the caller's principal). A task owned by someone
/// else, an expired task and a missing task are indistinguishable: all give
/// [`StoreErrorKind::NotFound`].
///
/// Expired tasks (their `expires_at` is at or before `now`) are invisible to every method
/// and are deleted by [`ResearchStore::sweep_expired`].
#[async_trait]
pub trait ResearchStore: Send + Sync + 'static {
    /// Creates a task, or, when `new.idempotency_key` was already used by the same owner,
    /// returns the task that key created (if it is still alive).
    ///
    /// Reusing a key with a different topic or depth fails with
    /// [`StoreErrorKind::IdempotencyConflict`]. Racing calls with one key create one task.
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError>;

    /// Reads a task. May extend its idle expiry (a read counts as use), but at most about
    /// once a minute per task, so that reads stay cheap.
    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError>;

    /// Appends findings to a running task, atomically: either all are stored, in order,
    /// after every finding stored before, or none is.
    ///
    /// Fails with [`StoreErrorKind::WrongStatus`] on a final task and
    /// [`StoreErrorKind::TooManyFindings`] when the total would exceed `max_total`.
    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError>;

    /// Appends `findings` (possibly none) and moves the task to `complete`, atomically.
    /// Of two racing completions exactly one succeeds; the other gets `WrongStatus(Complete)`.
    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError>;

    /// Moves a running task to `cancelled`.
    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError>;

    /// Returns up to `limit` findings with index greater than `after` (0 for the start), in
    /// order, with the task itself.
    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError>;

    /// Returns the owner's live tasks, newest first (ties broken by id, highest first, in
    /// byte order), optionally only those in `status`, starting after `after`. `next` is
    /// set exactly when more tasks follow.
    async fn list(
        &self,
        owner: &str,
        status: Option<ResearchStatus>,
        after: Option<&ResearchListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTasksPage, StoreError>;

    /// Deletes up to `batch` expired tasks (with their findings and idempotency keys) and
    /// returns how many it deleted. Safe to run on every instance at once.
    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError>;

    /// Writes `tasks` as given (ids, owners, statuses, counts and times), without findings
    /// or idempotency keys, skipping ids that exist already; returns how many were written.
    /// For bulk loads: seeding benchmarks, moving tasks between backends. Backends write in
    /// large batches, so a million tasks take seconds, not hours.
    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError>;

    /// Returns every stored handle-signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Stores `key` unless a key with its id exists already (then the stored one is kept),
    /// and returns every stored key, oldest first. Instances that start together and each
    /// offer a fresh key with the same id end up sharing one.
    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Checks that the store answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;
}
