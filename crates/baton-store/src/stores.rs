//! The store traits, one per job: research tasks, signing keys, and bulk import as an
//! optional capability. A backend implements the ones it supports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Appended, FindingLimits, FindingsBatch, FindingsPage, Grant, GrantId, NewGrant,
    NewResearchTask, ResearchListCursor, ResearchStatus, ResearchTask, ResearchTaskId,
    ResearchTasksPage, SharedListCursor, SharedTasksPage, SigningKeyRecord, StartOutcome,
    StoreError, StoredApiKey,
    tool_tasks::{Claim, NewToolTask, Progress, ToolTask, ToolTaskId, ToolTaskOutcome},
};
use serde_json::{Map, Value};

/// A durable store of research tasks, keyed by [`ResearchTaskId`] and always scoped by
/// owner.
///
/// Every read and write names the owner (the caller's principal), and the backend scopes
/// every query by it. A task owned by someone else, an expired task and a missing task are
/// indistinguishable: all give [`crate::StoreErrorKind::NotFound`].
///
/// Expired tasks (their `expires_at` is at or before `now`) are invisible to every method
/// and are deleted by [`ResearchStore::sweep_expired`]. The rules every backend applies
/// alike (expiry, read refresh, refusal precedence, pages) are the functions of
/// [`crate::rules`].
#[async_trait]
pub trait ResearchStore: Send + Sync + 'static {
    /// Creates a task, or, when `new.idempotency_key` was already used by the same owner,
    /// returns the task that key created (if it is still alive).
    ///
    /// Reusing a key with a different topic or depth fails with
    /// [`crate::StoreErrorKind::IdempotencyConflict`]. Racing calls with one key create one
    /// task. A new task that would give the owner more than `new.max_live_tasks` tasks
    /// fails with [`crate::StoreErrorKind::QuotaExceeded`]. Tasks count against the quota
    /// until the sweeper deletes them (an expired task is freed by the next sweep).
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError>;

    /// Reads a task. Extends its idle expiry when the stored one lags by more than
    /// [`crate::Lifetimes::refresh_slack`] (a read counts as use), and stores that
    /// extension, so that reads stay cheap yet keep a task in use alive.
    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError>;

    /// Appends a batch of findings to a running task, atomically: either all are stored, in
    /// order, after every finding stored before, or none is.
    ///
    /// Fails with [`crate::StoreErrorKind::WrongStatus`] on a final task,
    /// [`crate::StoreErrorKind::TooManyFindings`] when the task would hold more than
    /// `batch.limits.per_task`, and [`crate::StoreErrorKind::QuotaExceeded`] when the owner's
    /// tasks would hold more than `batch.limits.owner_bytes` bytes of findings.
    ///
    /// With an idempotency key, a batch is stored once per (task, key): a retry with the same
    /// findings gets the first call's `last_index` with `replayed: true` (even once the task
    /// is final), and the same key with other findings fails with
    /// [`crate::StoreErrorKind::IdempotencyConflict`]. Racing calls with one key store the
    /// batch once.
    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError>;

    /// Appends `findings` (possibly none) and moves the task to `complete`, atomically, within
    /// `limits` as [`ResearchStore::append_findings`] does. Of two racing completions exactly
    /// one succeeds; the other gets `WrongStatus(Complete)`.
    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        limits: FindingLimits,
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
    /// order, with the task itself, both read from one snapshot. May refresh the task's
    /// idle expiry as [`ResearchStore::get`] does.
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
    /// set exactly when more tasks (of that status, when filtered) follow.
    async fn list(
        &self,
        owner: &str,
        status: Option<ResearchStatus>,
        after: Option<&ResearchListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTasksPage, StoreError>;

    /// Deletes up to `batch` expired tasks (with their findings and idempotency keys), frees
    /// what they counted against their owners' quotas, and returns how many it deleted. Safe
    /// to run on every instance at once.
    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError>;

    /// Checks that the store answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A durable store of keys, shared by every instance on one database: handle-signing keys,
/// and the hashes of API keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Returns every stored handle-signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Stores `key` unless a key with its id exists already (then the stored one is kept),
    /// and returns every stored key, oldest first. Instances that start together and each
    /// offer a fresh key with the same id end up sharing one.
    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Replaces the stored fields (secret, promotion and retirement times) of the key with
    /// `key.key_id`, keeping its `created_at`; returns false when no key has that id.
    async fn update_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StoreError>;

    /// Stores a new API key. An id that exists already is an
    /// [`crate::StoreErrorKind::Internal`] error (ids are random: it means a bug) and
    /// changes nothing.
    async fn insert_api_key(&self, key: StoredApiKey) -> Result<(), StoreError>;

    /// The API key with this id, revoked and expired ones included; `None` when there is
    /// none.
    async fn api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError>;

    /// Every API key, oldest first (ties by id).
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError>;

    /// Marks the API key revoked at `now` (a key revoked before keeps its first revocation
    /// time) and returns it; `None` when there is no key with this id.
    async fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredApiKey>, StoreError>;
}

/// A durable store of delegation grants: a research task shared by its owner (or re-shared
/// by a delegate allowed to) with another principal, with fewer rights and a shorter life.
///
/// A grant is live while it is not revoked, not past `expires_at`, every grant it was
/// re-shared from is live, and its task is live. Only live grants resolve, list or
/// re-share; everything else is [`crate::StoreErrorKind::NotFound`], whichever the reason.
/// A grant goes with its task when the task is swept.
#[async_trait]
pub trait ShareStore: Send + Sync + 'static {
    /// Stores a grant on the live task `new.task` of `new.owner`'s. With `new.parent`, the
    /// parent must be live, on the same task, and held by `new.grantor`. Fails with
    /// `NotFound` otherwise, and with [`crate::StoreErrorKind::QuotaExceeded`] when the task
    /// already has `new.max_grants_per_task` live grants (racing grants may pass the limit
    /// by a few on backends without serializable writes). Rights and lifetimes are the
    /// caller's to attenuate; the store keeps what it is given.
    async fn create_grant(&self, new: NewGrant, now: DateTime<Utc>) -> Result<Grant, StoreError>;

    /// The live grant `id` held by `delegate`: checks the grant, every grant up its chain,
    /// and its task, at `now`, in one snapshot.
    async fn resolve_grant(
        &self,
        id: &GrantId,
        delegate: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError>;

    /// The live grants on `owner`'s task `task`, oldest first (ties by id). A task that is
    /// not `owner`'s or not live has none.
    async fn grants_of(
        &self,
        owner: &str,
        task: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Grant>, StoreError>;

    /// Revokes the live grant `id`, if `by` is its task's owner or its grantor, and every
    /// live grant re-shared from it, down the chain; returns how many it revoked. `NotFound`
    /// when `id` names no live grant `by` may revoke. Revocation is immediate: a revoked
    /// grant (or one whose ancestor is revoked) never resolves again.
    async fn revoke_grant(
        &self,
        by: &str,
        id: &GrantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The live tasks shared with `delegate` through live grants, newest grant first (ties
    /// by id, highest first), optionally only tasks in `status`, after `after`. `next` is
    /// set exactly when more follow.
    async fn shared_with(
        &self,
        delegate: &str,
        status: Option<ResearchStatus>,
        after: Option<&SharedListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SharedTasksPage, StoreError>;

    /// Deletes up to `batch` grants that expired or were revoked (grants of swept tasks go
    /// with them anyway) and returns how many it deleted.
    async fn sweep_grants(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError>;
}

/// Bulk loading of research tasks: an optional capability, for seeding benchmarks and
/// moving tasks between backends.
#[async_trait]
pub trait BulkImport: Send + Sync + 'static {
    /// Writes `tasks` as given (ids, owners, statuses, counts and times), without findings
    /// or idempotency keys, skipping ids that exist already; returns how many were written.
    /// Imported tasks count against their owners' live-task quota (quotas are not checked).
    /// Backends write in large batches, so a million tasks take seconds, not hours.
    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError>;
}

/// A durable store of tool tasks: the MCP Tasks extension's tasks, one tool call each,
/// shared by every instance on one database (see [`crate::tool_tasks`] for the model and
/// the lease).
///
/// Reads and client-side changes name the owner and are scoped by it: a task owned by
/// someone else, an expired task and a missing task are all
/// [`crate::StoreErrorKind::NotFound`]. Worker-side changes name a [`Claim`] and apply only
/// while it holds (they return `false` otherwise, and change nothing). Expired tasks
/// (`expires_at` at or before `now`) are invisible, never claimed, and deleted by
/// [`ToolTaskStore::sweep_tool_tasks`].
///
/// Every change a client can see is published to [`ToolTaskStore::tool_task_changes`]
/// after it commits, on every instance sharing the database where the backend can (the
/// Postgres backend uses `LISTEN/NOTIFY`), so that push notifications reach subscribers
/// whichever instance made the change. Delivery is best effort: polling stays correct.
#[async_trait]
pub trait ToolTaskStore: Send + Sync + 'static {
    /// Stores a new task (status `working`, no lease), durably, before returning it. Fails
    /// with [`crate::StoreErrorKind::QuotaExceeded`] when the owner already holds
    /// `new.max_live` live tasks.
    async fn create_tool_task(
        &self,
        new: NewToolTask,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError>;

    /// Reads a live task of `owner`'s.
    async fn tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError>;

    /// Moves a task that is not final to `cancelled` (its holder's next write then fails,
    /// and it stops), and returns the task; a final task is returned unchanged.
    async fn cancel_tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError>;

    /// Stores the answers to outstanding input requests: keys that are not outstanding
    /// (unknown, answered before, or of a final task) are ignored, and a partial set is
    /// kept. When no request is left outstanding, an `input_required` task becomes
    /// `working` again, so that a worker claims it and the work goes on with the answers.
    async fn answer_tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        responses: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError>;

    /// Claims the oldest live `working` task that no live lease holds, for `lease`, as
    /// `worker`: the attempt count goes up by one. `None` when there is nothing to do.
    /// Racing claims (on any instance) never get the same attempt.
    async fn claim_tool_task(
        &self,
        worker: &str,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError>;

    /// Extends the claim's lease to `now + lease`; `false` when the claim no longer holds
    /// (the task was cancelled, finished, expired, or taken over after the lease ran out).
    async fn renew_tool_task_lease(
        &self,
        claim: &Claim,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Saves progress while the claim holds; `false` (and nothing saved) otherwise.
    async fn save_tool_task_progress(
        &self,
        claim: &Claim,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Moves the task to `input_required` with `requests` outstanding (added to its asked
    /// keys) and releases the lease, while the claim holds; `false` otherwise.
    async fn request_tool_task_input(
        &self,
        claim: &Claim,
        requests: &Map<String, Value>,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores the outcome and moves the task to `completed` or `failed`, while the claim
    /// holds; `false` otherwise. A task is finished at most once.
    async fn finish_tool_task(
        &self,
        claim: &Claim,
        outcome: ToolTaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes up to `batch` expired tasks and returns how many it deleted. Safe to run on
    /// every instance at once.
    async fn sweep_tool_tasks(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError>;

    /// A receiver of the ids of tasks that changed (created, cancelled, answered, asked for
    /// input, progressed, finished), after their change committed. A receiver that lags
    /// loses the oldest ids (`RecvError::Lagged`): re-read what you watch then.
    fn tool_task_changes(&self) -> tokio::sync::broadcast::Receiver<ToolTaskId>;
}
