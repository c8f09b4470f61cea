//! Store errors.

use crate::ResearchStatus;

/// What went wrong in a store call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// No live task with this id is owned by the caller (or, for grants, no live grant
    /// with this id is held or revocable by the caller).
    NotFound,
    /// The task is in a final state; it was left unchanged.
    WrongStatus(ResearchStatus),
    /// The task would hold more than the allowed number of findings; nothing was stored.
    TooManyFindings {
        /// The per-task limit.
        limit: u32,
    },
    /// The idempotency key was used before with other arguments (a start with another topic
    /// or depth, an append with other findings).
    IdempotencyConflict,
    /// The owner's quota would be passed; nothing was stored.
    QuotaExceeded(Quota),
    /// The database could not be reached, refused the statement, or rolled it back (a
    /// timeout, a conflict, a shutdown): nothing was changed and the call may be retried.
    Unavailable,
    /// The connection broke while the statement was in flight, so the database may or may
    /// not have applied it. Reads can simply be retried; a write should be checked first
    /// (or carry an idempotency key), since a blind retry may apply it twice.
    Interrupted,
    /// Anything else: a bug, a corrupt row, a failed migration.
    Internal,
}

/// A per-owner quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    /// The most live research tasks an owner may hold.
    LiveTasks {
        /// The limit.
        limit: u64,
    },
    /// The most bytes of findings an owner's live tasks may hold together.
    StoredBytes {
        /// The limit.
        limit: u64,
    },
    /// The most live grants (shares) one task may have.
    GrantsPerTask {
        /// The limit.
        limit: u64,
    },
    /// The most live tool tasks (MCP Tasks extension) an owner may hold.
    LiveToolTasks {
        /// The limit.
        limit: u64,
    },
}

/// An error from a [`crate::ResearchStore`] call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// Creates an error of `kind` with a message for logs.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// [`StoreErrorKind::NotFound`]: no live task with this id is owned by the caller.
    pub fn not_found() -> Self {
        StoreError::new(StoreErrorKind::NotFound, "research task not found")
    }

    /// [`StoreErrorKind::NotFound`] for a tool task: no live tool task with this id is
    /// owned by the caller.
    pub fn tool_task_not_found() -> Self {
        StoreError::new(StoreErrorKind::NotFound, "task not found")
    }

    /// [`StoreErrorKind::WrongStatus`]: the task is final and was left unchanged.
    pub fn wrong_status(status: ResearchStatus) -> Self {
        StoreError::new(
            StoreErrorKind::WrongStatus(status),
            format!("research task is already {status}"),
        )
    }

    /// [`StoreErrorKind::TooManyFindings`]: the change would pass the per-task limit.
    pub fn too_many_findings(limit: u32) -> Self {
        StoreError::new(
            StoreErrorKind::TooManyFindings { limit },
            format!("a research task may hold at most {limit} findings"),
        )
    }

    /// [`StoreErrorKind::IdempotencyConflict`]: the key was first used with other arguments.
    pub fn idempotency_conflict() -> Self {
        StoreError::new(
            StoreErrorKind::IdempotencyConflict,
            "idempotency key was already used with other arguments",
        )
    }

    /// [`StoreErrorKind::QuotaExceeded`]: the owner's quota would be passed.
    pub fn quota_exceeded(quota: Quota) -> Self {
        let message = match quota {
            Quota::LiveTasks { limit } => {
                format!("the owner already holds {limit} live research tasks")
            }
            Quota::StoredBytes { limit } => {
                format!("the owner's research tasks would hold more than {limit} bytes of findings")
            }
            Quota::GrantsPerTask { limit } => {
                format!("the research task already has {limit} live shares")
            }
            Quota::LiveToolTasks { limit } => {
                format!("the owner already holds {limit} live tool tasks")
            }
        };
        StoreError::new(StoreErrorKind::QuotaExceeded(quota), message)
    }

    /// [`StoreErrorKind::Unavailable`] for a change that kept losing races against
    /// concurrent changes of the same task: nothing was changed; retrying is safe.
    pub fn lost_races(operation: &str) -> Self {
        StoreError::new(
            StoreErrorKind::Unavailable,
            format!("{operation} kept losing races against concurrent changes; retry"),
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &StoreErrorKind {
        &self.kind
    }
}
