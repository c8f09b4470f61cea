//! The research-task domain model: what a [`crate::ResearchStore`] keeps.

use chrono::{DateTime, Utc};

pub use baton_protocol::ResearchStatus;

/// A task's identity: 128 random bits, minted with the task's handle. The store keys tasks
/// by it; the handle text itself (with its key id and MAC) is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResearchTaskId([u8; 16]);

impl ResearchTaskId {
    /// Wraps 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        ResearchTaskId(bytes)
    }

    /// Reads an id from a slice; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(ResearchTaskId(bytes.try_into().ok()?))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for ResearchTaskId {
    // Only a prefix: ids are bearer secrets on unauthenticated servers, so logs get a hint.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResearchTaskId({:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2]
        )
    }
}

/// A research task as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResearchTask {
    /// Identity.
    pub id: ResearchTaskId,
    /// The principal that created it; only it can see the task.
    pub owner: String,
    /// The research topic (trimmed, validated).
    pub topic: String,
    /// Research depth, 1 to 5.
    pub depth: u8,
    /// Current status.
    pub status: ResearchStatus,
    /// How many findings it holds.
    pub findings_count: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
    /// When it stops being visible unless used again.
    pub expires_at: DateTime<Utc>,
    /// When it stops being visible whatever happens (creation + absolute lifetime).
    pub hard_expires_at: DateTime<Utc>,
}

/// What `ResearchStore::start` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewResearchTask {
    /// Identity, minted by the caller together with the handle.
    pub id: ResearchTaskId,
    /// The creating principal.
    pub owner: String,
    /// The validated topic.
    pub topic: String,
    /// The validated depth.
    pub depth: u8,
    /// Optional idempotency key, unique per owner.
    pub idempotency_key: Option<String>,
    /// The most live tasks the owner may hold (`u64::MAX`: no limit). A new task that would
    /// pass it is refused with [`crate::StoreErrorKind::QuotaExceeded`]; a replay is not.
    pub max_live_tasks: u64,
}

/// The outcome of `ResearchStore::start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartOutcome {
    /// The task: new, or the one an earlier call with the same idempotency key created.
    pub task: ResearchTask,
    /// True when the task was created by an earlier call.
    pub replayed: bool,
}

/// The limits a write of findings must respect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FindingLimits {
    /// The most findings one task may hold.
    pub per_task: u32,
    /// The most bytes (UTF-8) of findings the owner's live tasks may hold together
    /// (`u64::MAX`: no limit).
    pub owner_bytes: u64,
}

impl FindingLimits {
    /// Only a per-task limit.
    pub const fn per_task(per_task: u32) -> FindingLimits {
        FindingLimits {
            per_task,
            owner_bytes: u64::MAX,
        }
    }
}

/// What `ResearchStore::append_findings` adds.
#[derive(Clone, Copy, Debug)]
pub struct FindingsBatch<'a> {
    /// The findings, in order.
    pub findings: &'a [String],
    /// The limits to respect.
    pub limits: FindingLimits,
    /// With a key, a retried batch (same key, same findings, same task) is stored once: the
    /// retry gets the first call's outcome. The key is scoped to the task.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> FindingsBatch<'a> {
    /// A batch without an idempotency key.
    pub fn new(findings: &'a [String], limits: FindingLimits) -> FindingsBatch<'a> {
        FindingsBatch {
            findings,
            limits,
            idempotency_key: None,
        }
    }

    /// The same batch with an idempotency key.
    #[must_use]
    pub fn with_key(mut self, key: &'a str) -> FindingsBatch<'a> {
        self.idempotency_key = Some(key);
        self
    }

    /// The bytes the findings take (UTF-8), as quotas count them.
    pub fn bytes(&self) -> u64 {
        self.findings.iter().map(|f| f.len() as u64).sum()
    }

    /// A digest of the findings, to tell a retry of this batch from another batch sent with
    /// the same key.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for finding in self.findings {
            hasher.update((finding.len() as u64).to_be_bytes());
            hasher.update(finding.as_bytes());
        }
        hasher.finalize().into()
    }
}

/// The outcome of `ResearchStore::append_findings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The task as it is now.
    pub task: ResearchTask,
    /// The index of the batch's last finding (for a replay: the first call's).
    pub last_index: u32,
    /// True when an earlier call with the same key stored this batch.
    pub replayed: bool,
}

/// One stored finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Position in the task, from 1.
    pub index: u32,
    /// The text.
    pub text: String,
}

/// A page of findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingsPage {
    /// The task the findings belong to.
    pub task: ResearchTask,
    /// The findings, in order.
    pub findings: Vec<Finding>,
    /// True when more findings follow the last one returned.
    pub has_more: bool,
}

impl FindingsPage {
    /// Builds a page from `findings` read in one snapshot with `task`: findings
    /// `1..=task.findings_count` exist and never change, so more follow exactly when the
    /// last one returned (or `after`, when none was) is below the count.
    pub fn new(task: ResearchTask, findings: Vec<Finding>, after: u32) -> FindingsPage {
        let last = findings.last().map_or(after, |f| f.index);
        let has_more = last < task.findings_count;
        FindingsPage {
            task,
            findings,
            has_more,
        }
    }
}

/// Where a task listing resumes: after the task with this creation time and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResearchListCursor {
    /// Creation time of the last task returned.
    pub created_at: DateTime<Utc>,
    /// Id of the last task returned.
    pub id: ResearchTaskId,
}

/// A page of tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResearchTasksPage {
    /// The tasks, newest first.
    pub tasks: Vec<ResearchTask>,
    /// Where the next page starts, when there is one.
    pub next: Option<ResearchListCursor>,
}

impl ResearchTasksPage {
    /// Builds a page from up to `limit + 1` tasks fetched in listing order: the extra task,
    /// if present, only proves that another page follows, and is dropped.
    pub fn from_overfetch(mut tasks: Vec<ResearchTask>, limit: u32) -> ResearchTasksPage {
        let limit = limit as usize;
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| ResearchListCursor {
                created_at: t.created_at,
                id: t.id,
            })
        } else {
            None
        };
        ResearchTasksPage { tasks, next }
    }
}
