//! The research-task tool contract that baton servers and their clients share.
//!
//! This crate is deliberately light: no server, no database, no async runtime. It holds
//!
//! * the tool names ([`tool`]),
//! * the argument and result types of every tool, with JSON Schemas (via `schemars`),
//! * [`ResearchStatus`] and the state machine's vocabulary,
//! * argument validation against configurable [`Limits`],
//! * [`ToolError`], whose `Display` texts are the exact messages sent on the wire, and
//! * with the `schema-check` feature, `strict_schema`: the strict JSON Schema 2020-12
//!   check that every published tool schema passes (for tests).
//!
//! The schemas use only standard JSON Schema 2020-12 vocabulary: integers state their
//! ranges with `minimum`/`maximum`, never a generator's `format` such as `uint8`:
//!
//! ```
//! use baton_protocol::StartResearchTask;
//!
//! let schema = serde_json::to_value(schemars::schema_for!(StartResearchTask)).unwrap();
//! let depth = &schema["properties"]["depth"];
//! assert_eq!((depth["minimum"].as_u64(), depth["maximum"].as_u64()), (Some(1), Some(5)));
//! assert!(depth.get("format").is_none());
//! ```
//!
//! # Examples
//!
//! Validate the arguments of `start_research_task` before doing anything with them:
//!
//! ```
//! use baton_protocol::{Limits, StartResearchTask};
//!
//! let args: StartResearchTask =
//!     serde_json::from_value(serde_json::json!({"topic": "  tidal energy  "})).unwrap();
//! let valid = args.validate(&Limits::default()).unwrap();
//! assert_eq!(valid.topic, "tidal energy");
//! assert_eq!(valid.depth, 2); // the default depth
//! ```
//!
//! Every bad argument names its field:
//!
//! ```
//! use baton_protocol::{Limits, StartResearchTask, ToolError};
//!
//! let args = StartResearchTask { topic: "x".into(), depth: Some(9), idempotency_key: None };
//! let err = args.validate(&Limits::default()).unwrap_err();
//! assert_eq!(err.to_string(), "invalid argument `depth`: must be between 1 and 5, got 9");
//! ```
//!
//! Unknown, expired, malformed, forged and foreign handles all share one message, so that
//! an answer never reveals whether a handle exists for somebody else:
//!
//! ```
//! use baton_protocol::ToolError;
//! assert_eq!(ToolError::UnknownHandle.to_string(), baton_protocol::UNKNOWN_HANDLE_MESSAGE);
//! ```
#![deny(missing_docs)]

mod args;
mod error;
mod results;
mod schema;
#[cfg(feature = "schema-check")]
pub mod strict_schema;

pub use args::{
    AddFindings, CompileResearchReport, CompleteResearchTask, DEFAULT_DEPTH, DEFAULT_PAGE_SIZE,
    DEFAULT_SHARE_EXPIRES_IN, DEPTH_RANGE, GetTaskResults, HandleArgs, Limits, ListResearchTasks,
    MAX_PAGE_SIZE, MAX_PRINCIPAL_BYTES, MAX_SHARE_EXPIRES_IN, MIN_SHARE_EXPIRES_IN,
    RevokeResearchTaskShare, ShareResearchTask, StartResearchTask, ValidShare, ValidStart,
    page_size, parse_arguments, validate_findings, validate_idempotency_key,
};
pub use error::{ToolError, UNKNOWN_HANDLE_MESSAGE};
pub use results::{
    CancelledResearchTask, CompletedResearchTask, Finding, FindingsAdded, ReportFinding,
    ReportSource, ResearchReport, ResearchResults, ResearchTaskList, ResearchTaskShare,
    ResearchTaskShares, ResearchTaskSummary, ResearchTaskView, RevokedResearchTaskShare,
    SharedResearchTask, StartedResearchTask,
};

use serde::{Deserialize, Serialize};

/// The names of baton's research-task tools, as they appear in `tools/list`.
pub mod tool {
    /// Creates a task and returns its handle.
    pub const START_RESEARCH_TASK: &str = "start_research_task";
    /// Reads a task's status.
    pub const GET_TASK_STATUS: &str = "get_task_status";
    /// Appends findings to a running task.
    pub const ADD_FINDINGS: &str = "add_findings";
    /// Appends final findings and completes a task.
    pub const COMPLETE_RESEARCH_TASK: &str = "complete_research_task";
    /// Pages through a task's findings.
    pub const GET_TASK_RESULTS: &str = "get_task_results";
    /// Cancels a running task.
    pub const CANCEL_RESEARCH_TASK: &str = "cancel_research_task";
    /// Lists the caller's own tasks, then those shared with it.
    pub const LIST_RESEARCH_TASKS: &str = "list_research_tasks";
    /// Shares a task with another principal through a delegated handle.
    pub const SHARE_RESEARCH_TASK: &str = "share_research_task";
    /// Lists the live shares of a task.
    pub const LIST_RESEARCH_TASK_SHARES: &str = "list_research_task_shares";
    /// Revokes a share, and every share made from it.
    pub const REVOKE_RESEARCH_TASK_SHARE: &str = "revoke_research_task_share";
    /// Merges the findings of several tasks into one report (runs as an MCP task).
    pub const COMPILE_RESEARCH_REPORT: &str = "compile_research_report";

    /// Every research-task tool name, in a stable order.
    pub const ALL: [&str; 11] = [
        START_RESEARCH_TASK,
        GET_TASK_STATUS,
        ADD_FINDINGS,
        COMPLETE_RESEARCH_TASK,
        GET_TASK_RESULTS,
        CANCEL_RESEARCH_TASK,
        LIST_RESEARCH_TASKS,
        SHARE_RESEARCH_TASK,
        LIST_RESEARCH_TASK_SHARES,
        REVOKE_RESEARCH_TASK_SHARE,
        COMPILE_RESEARCH_REPORT,
    ];
}

/// Where a research task is in its life.
///
/// `running` is the only state that accepts changes; `complete` and `cancelled` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
// The schema keeps its published name: tools' schemas must not change with a Rust rename.
#[schemars(rename = "TaskStatus")]
pub enum ResearchStatus {
    /// Accepting findings.
    Running,
    /// Completed with its findings; final.
    Complete,
    /// Cancelled by its owner; final.
    Cancelled,
}

impl ResearchStatus {
    /// The wire spelling (`running`, `complete`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResearchStatus::Running => "running",
            ResearchStatus::Complete => "complete",
            ResearchStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<ResearchStatus> {
        match text {
            "running" => Some(ResearchStatus::Running),
            "complete" => Some(ResearchStatus::Complete),
            "cancelled" => Some(ResearchStatus::Cancelled),
            _ => None,
        }
    }

    /// Whether the state is final (no further change is possible).
    pub fn is_final(self) -> bool {
        !matches!(self, ResearchStatus::Running)
    }
}

/// What a shared (delegated) handle lets its holder do with a research task. Each right
/// includes the ones before it: `read` < `append` < `complete`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ShareRight {
    /// Read the task's status and findings.
    Read,
    /// `read`, and add findings.
    Append,
    /// `append`, and complete or cancel the task.
    Complete,
}

impl ShareRight {
    /// The wire spelling (`read`, `append`, `complete`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShareRight::Read => "read",
            ShareRight::Append => "append",
            ShareRight::Complete => "complete",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<ShareRight> {
        match text {
            "read" => Some(ShareRight::Read),
            "append" => Some(ShareRight::Append),
            "complete" => Some(ShareRight::Complete),
            _ => None,
        }
    }
}

impl std::fmt::Display for ShareRight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ResearchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_wire_spelling() {
        for s in [
            ResearchStatus::Running,
            ResearchStatus::Complete,
            ResearchStatus::Cancelled,
        ] {
            assert_eq!(ResearchStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ResearchStatus::parse("done"), None);
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
