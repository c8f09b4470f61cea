//! Tool results: each is returned as `structuredContent`, with a text rendering beside it.

use serde::{Deserialize, Serialize};

use crate::{
    DEPTH_RANGE, ResearchStatus, ShareRight,
    schema::{plain_integer, plain_integer_items},
};

/// Result of `start_research_task`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StartedResearchTask {
    /// The handle to pass to every later call about this task.
    pub handle: String,
    /// Always `running` for a new task.
    pub status: ResearchStatus,
    /// When the handle stops working unless the task is used again (RFC 3339, UTC).
    pub expires_at: String,
    /// True when an earlier call with the same idempotency key created this task.
    pub replayed: bool,
}

/// Result of `get_task_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchTaskView {
    /// The task's handle.
    pub handle: String,
    /// The research topic.
    pub topic: String,
    /// The research depth, 1 to 5.
    #[schemars(
        range(min = *DEPTH_RANGE.start(), max = *DEPTH_RANGE.end()),
        transform = plain_integer
    )]
    pub depth: u8,
    /// Current status.
    pub status: ResearchStatus,
    /// How many findings the task holds.
    #[schemars(transform = plain_integer)]
    pub findings_count: u32,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Time of the last change (RFC 3339, UTC).
    pub updated_at: String,
    /// When the handle stops working unless the task is used again (RFC 3339, UTC).
    pub expires_at: String,
}

/// Result of `add_findings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FindingsAdded {
    /// The task's handle.
    pub handle: String,
    /// Still `running`.
    pub status: ResearchStatus,
    /// How many findings this call added.
    #[schemars(transform = plain_integer)]
    pub added: u32,
    /// How many findings the task holds now.
    #[schemars(transform = plain_integer)]
    pub findings_count: u32,
}

/// Result of `complete_research_task`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompletedResearchTask {
    /// The task's handle.
    pub handle: String,
    /// Always `complete`.
    pub status: ResearchStatus,
    /// How many findings the completed task holds (earlier ones included).
    #[schemars(transform = plain_integer)]
    pub result_count: u32,
}

/// Result of `cancel_research_task`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CancelledResearchTask {
    /// The task's handle.
    pub handle: String,
    /// Always `cancelled`.
    pub status: ResearchStatus,
}

/// One finding of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// Position in the task, from 1, in the order findings were added.
    #[schemars(range(min = 1), transform = plain_integer)]
    pub index: u32,
    /// The finding's text.
    pub text: String,
}

/// Result of `get_task_results`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchResults {
    /// The task's handle.
    pub handle: String,
    /// Current status.
    pub status: ResearchStatus,
    /// How many findings the task holds in total.
    #[schemars(transform = plain_integer)]
    pub findings_count: u32,
    /// This page of findings, in order.
    pub findings: Vec<Finding>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Result of `compile_research_report`: the findings of several research tasks, merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchReport {
    /// The tasks merged, in the order given.
    pub sources: Vec<ReportSource>,
    /// The distinct findings (equal up to case and whitespace count as one), most repeated
    /// first, ties in the order first read.
    pub findings: Vec<ReportFinding>,
    /// Findings read, across every source.
    #[schemars(transform = plain_integer)]
    pub total_findings: u32,
    /// Distinct findings among them.
    #[schemars(transform = plain_integer)]
    pub distinct_findings: u32,
    /// Whether the report is shorter than the sources: `findings` was cut at `max_findings`,
    /// or reading stopped at the report's size bound (a source's `findings_read` then falls
    /// short of its `findings_count`).
    pub truncated: bool,
}

/// One source of a [`ResearchReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportSource {
    /// The handle it was named by.
    pub handle: String,
    /// Its topic.
    pub topic: String,
    /// Its status when it was read.
    pub status: ResearchStatus,
    /// How many findings it held.
    #[schemars(transform = plain_integer)]
    pub findings_count: u32,
    /// How many of them the report read.
    #[schemars(transform = plain_integer)]
    pub findings_read: u32,
}

/// One distinct finding of a [`ResearchReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportFinding {
    /// Its text, as first read.
    pub text: String,
    /// How many times it was read, across every source.
    #[schemars(transform = plain_integer)]
    pub count: u32,
    /// The sources that hold it: indexes into `sources`.
    #[schemars(transform = plain_integer_items)]
    pub sources: Vec<u32>,
}

/// One task in `list_research_tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
// The schema keeps its published name: tools' schemas must not change with a Rust rename.
#[schemars(rename = "TaskSummary")]
pub struct ResearchTaskSummary {
    /// The task's handle.
    pub handle: String,
    /// The research topic.
    pub topic: String,
    /// Current status.
    pub status: ResearchStatus,
    /// How many findings the task holds.
    #[schemars(transform = plain_integer)]
    pub findings_count: u32,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// When the handle stops working unless the task is used again (RFC 3339, UTC).
    pub expires_at: String,
    /// Present when the task was shared with you: the rights your delegated handle carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_rights: Option<ShareRight>,
}

/// Result of `list_research_tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchTaskList {
    /// The caller's own tasks, newest first, then the tasks shared with it (marked by
    /// `shared_rights`), newest share first.
    pub tasks: Vec<ResearchTaskSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Result of `share_research_task`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SharedResearchTask {
    /// The share's id, to list or revoke it.
    pub share: String,
    /// The delegated handle: give it to the delegate, who uses it with its own credentials
    /// in place of a task handle. It works for nobody else.
    pub handle: String,
    /// The delegate.
    pub principal: String,
    /// What the delegate may do.
    pub rights: ShareRight,
    /// Whether the delegate may share onward.
    pub allow_reshare: bool,
    /// When the share ends (RFC 3339, UTC), unless revoked earlier.
    pub expires_at: String,
}

/// One live share in `list_research_task_shares`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchTaskShare {
    /// The share's id.
    pub share: String,
    /// The delegate.
    pub principal: String,
    /// Who made the share: you, or a delegate re-sharing.
    pub shared_by: String,
    /// What the delegate may do.
    pub rights: ShareRight,
    /// Whether the delegate may share onward.
    pub allow_reshare: bool,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// When it ends (RFC 3339, UTC).
    pub expires_at: String,
}

/// Result of `list_research_task_shares`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResearchTaskShares {
    /// The task's handle.
    pub handle: String,
    /// The task's live shares, oldest first.
    pub shares: Vec<ResearchTaskShare>,
}

/// Result of `revoke_research_task_share`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RevokedResearchTaskShare {
    /// The revoked share's id.
    pub share: String,
    /// How many shares ended: this one and every live share made from it.
    #[schemars(transform = plain_integer)]
    pub revoked: u64,
}
