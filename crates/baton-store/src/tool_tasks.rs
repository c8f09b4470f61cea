//! Tool tasks: the durable record behind the MCP Tasks extension
//! (`io.modelcontextprotocol/tasks`). A `tools/call` that runs as a task is stored before
//! its `CreateTaskResult` is sent, is run by whichever instance claims it, and is read back
//! through `tasks/get` on any instance. What a [`crate::ToolTaskStore`] keeps.
//!
//! Not to be confused with research tasks ([`crate::ResearchTask`]), the domain objects of
//! baton's research tools: a tool task is one tool call in flight.
//!
//! # The lease
//!
//! Work is claimed with a lease: [`crate::ToolTaskStore::claim_tool_task`] takes the oldest
//! runnable task (status `working`, no live lease) and stamps it with the claimer's name, a
//! deadline and a new **attempt** number. Every later write of the worker names its
//! [`Claim`] and applies only while that attempt still holds the task (same attempt, status
//! `working`, lease not taken over): a worker whose lease expired, or whose task was
//! cancelled, learns it from the `false` its next write returns, and stops. The attempt
//! number is the fencing token: a task is finished at most once, by the attempt that holds
//! it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A tool task's identity: 128 random bits, minted with its task id (a handle bound to its
/// owner). The store keys tasks by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolTaskId([u8; 16]);

impl ToolTaskId {
    /// Wraps 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        ToolTaskId(bytes)
    }

    /// Reads an id from a slice; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(ToolTaskId(bytes.try_into().ok()?))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for ToolTaskId {
    // Only a prefix: a task id is a bearer secret on unauthenticated servers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ToolTaskId({:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2]
        )
    }
}

/// Where a tool task stands, as the Tasks extension names it. The last three are final:
/// a final task never changes again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToolTaskStatus {
    /// Queued or running.
    Working,
    /// Waiting for the client to answer its input requests (`tasks/update`).
    InputRequired,
    /// Done; the result is stored.
    Completed,
    /// Ended with a JSON-RPC error, which is stored.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl ToolTaskStatus {
    /// The wire name (`working`, `input_required`, …), also the stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolTaskStatus::Working => "working",
            ToolTaskStatus::InputRequired => "input_required",
            ToolTaskStatus::Completed => "completed",
            ToolTaskStatus::Failed => "failed",
            ToolTaskStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a stored value.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "working" => ToolTaskStatus::Working,
            "input_required" => ToolTaskStatus::InputRequired,
            "completed" => ToolTaskStatus::Completed,
            "failed" => ToolTaskStatus::Failed,
            "cancelled" => ToolTaskStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the task can never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ToolTaskStatus::Completed | ToolTaskStatus::Failed | ToolTaskStatus::Cancelled
        )
    }
}

impl std::fmt::Display for ToolTaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool task as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolTask {
    /// Identity.
    pub id: ToolTaskId,
    /// The principal that called the tool; only it can see the task.
    pub owner: String,
    /// The tool called.
    pub tool: String,
    /// Its arguments (a JSON object), as called.
    pub arguments: Value,
    /// Current status.
    pub status: ToolTaskStatus,
    /// What the work last said it was doing.
    pub status_message: Option<String>,
    /// The input requests not answered yet, by key (while `input_required`).
    pub input_requests: Map<String, Value>,
    /// The answers received, by key, for the work to read when it runs again.
    pub input_responses: Map<String, Value>,
    /// Every input key the task ever asked for: keys are never reused.
    pub asked_keys: Vec<String>,
    /// What the work saved of its progress, to resume from after a takeover.
    pub checkpoint: Option<Value>,
    /// The `CallToolResult` of a completed task, or the JSON-RPC error object of a failed
    /// one.
    pub outcome: Option<Value>,
    /// How often clients should poll, in milliseconds.
    pub poll_interval_ms: u32,
    /// How many times the work was claimed (the fencing token of the current claim).
    pub attempts: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change a client can see.
    pub updated_at: DateTime<Utc>,
    /// When the task stops being visible (creation + its TTL).
    pub expires_at: DateTime<Utc>,
}

impl ToolTask {
    /// The task's TTL in milliseconds (counted from creation), as the extension reports it.
    pub fn ttl_ms(&self) -> u64 {
        u64::try_from((self.expires_at - self.created_at).num_milliseconds()).unwrap_or(0)
    }
}

/// What [`crate::ToolTaskStore::create_tool_task`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewToolTask {
    /// Identity, minted by the caller together with the task id it gives the client.
    pub id: ToolTaskId,
    /// The calling principal.
    pub owner: String,
    /// The tool called.
    pub tool: String,
    /// Its arguments (a JSON object).
    pub arguments: Value,
    /// The first status message (for example "Queued").
    pub status_message: String,
    /// How long the task stays visible, from creation.
    pub ttl: chrono::Duration,
    /// How often clients should poll, in milliseconds.
    pub poll_interval_ms: u32,
    /// The most live (not expired) tool tasks the owner may hold; a new one past it is
    /// refused with [`crate::StoreErrorKind::QuotaExceeded`].
    pub max_live: u64,
}

/// A worker's hold on a task, from [`crate::ToolTaskStore::claim_tool_task`]. Every write
/// of the worker names it, and applies only while the claim still holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The task as it was claimed (its `attempts` is this claim's attempt).
    pub task: ToolTask,
    /// Who claimed it (an instance's worker name, for operators).
    pub worker: String,
    /// Until when the lease holds unless renewed.
    pub lease_until: DateTime<Utc>,
}

impl Claim {
    /// The task claimed.
    pub fn id(&self) -> &ToolTaskId {
        &self.task.id
    }

    /// This claim's attempt number: its fencing token.
    pub fn attempt(&self) -> u32 {
        self.task.attempts
    }
}

/// How the work of a task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolTaskOutcome {
    /// The tool's `CallToolResult` (an `isError` result included).
    Completed(Value),
    /// A JSON-RPC error object (`code`, `message`, optional `data`).
    Failed(Value),
}

/// Progress saved by the worker holding a task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// The new status message (`None` keeps the old one).
    pub status_message: Option<String>,
    /// The new checkpoint (`None` keeps the old one).
    pub checkpoint: Option<Value>,
}
