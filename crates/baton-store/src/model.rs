//! The research-task domain model.

use chrono::{DateTime, Duration, Utc};

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

/// How long tasks live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// A task expires this long after its last use.
    pub idle: Duration,
    /// A task expires this long after its creation, however much it is used.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            idle: Duration::hours(24),
            absolute: Duration::days(7),
        }
    }
}

/// The expiry a task gets when it is used at `now`: the idle deadline, capped by the
/// absolute one (`hard_expires_at`).
pub fn expiry_after_write(
    now: DateTime<Utc>,
    hard_expires_at: DateTime<Utc>,
    lifetimes: &Lifetimes,
) -> DateTime<Utc> {
    (now + lifetimes.idle).min(hard_expires_at)
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

/// What `start_task` needs.
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
}

/// The outcome of `start_task`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartOutcome {
    /// The task: new, or the one an earlier call with the same idempotency key created.
    pub task: ResearchTask,
    /// True when the task was created by an earlier call.
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

/// A handle-signing key kept in the store, so that handles survive restarts and every
/// instance on one database signs and verifies alike.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, carried inside each handle.
    pub key_id: u16,
    /// The secret (32 bytes).
    pub secret: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}
