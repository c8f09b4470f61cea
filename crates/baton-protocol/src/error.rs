//! Tool errors and their exact wire messages.

use crate::{ResearchStatus, ShareRight};

/// The one message for every handle that does not lead to a task the caller may see:
/// unknown, expired, malformed, forged, signed by a retired key, or owned by someone else.
/// Keeping it identical, byte for byte, means an answer never says which of these it was.
pub const UNKNOWN_HANDLE_MESSAGE: &str = "unknown or expired handle: no research task with this handle is available; start a new one with start_research_task";

/// A tool execution error: returned to the model in-band (`isError: true`) with its
/// `Display` text as the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The handle does not lead to a task the caller may see. See [`UNKNOWN_HANDLE_MESSAGE`].
    #[error("{}", UNKNOWN_HANDLE_MESSAGE)]
    UnknownHandle,
    /// One argument is wrong; `field` is its path (`topic`, `findings[2]`).
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument {
        /// The argument's name or path.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The arguments as a whole could not be read (a missing or unknown field; serde names it).
    #[error("invalid arguments: {detail}")]
    BadArguments {
        /// serde's description, which names the field.
        detail: String,
    },
    /// A configured limit would be exceeded.
    #[error("limit exceeded for `{field}`: at most {limit} {what}")]
    LimitExceeded {
        /// The argument that would exceed it.
        field: &'static str,
        /// The limit.
        limit: u64,
        /// What is counted (`findings per call`, `findings per task`).
        what: &'static str,
    },
    /// The caller's quota would be passed; nothing was changed.
    #[error("quota exceeded: {what} (at most {limit}); {advice}")]
    QuotaExceeded {
        /// What the quota counts (`live research tasks`, `bytes of findings in your research tasks`).
        what: &'static str,
        /// The quota.
        limit: u64,
        /// What the caller can do about it.
        advice: &'static str,
    },
    /// The task is not in a state that allows the operation.
    #[error("cannot {action}: the task is already {status}")]
    WrongStatus {
        /// What the caller tried (`add findings`, `complete the task`, `cancel the task`).
        action: &'static str,
        /// The task's current status, which the failed call left unchanged.
        status: ResearchStatus,
    },
    /// The handle was shared with the caller without the right the tool needs. (The caller
    /// holds a delegated handle to this task, so saying so leaks nothing.)
    #[error(
        "this handle was shared with you with the `{held}` right; {tool} needs `{needed}`; ask the task's owner for a share with that right"
    )]
    MissingRight {
        /// The tool called.
        tool: &'static str,
        /// The right the tool needs.
        needed: ShareRight,
        /// The right the handle carries.
        held: ShareRight,
    },
    /// Only the task's owner may do this (list a task's shares); nothing was changed.
    #[error("only the task's owner can {action}; this handle was shared with you")]
    OwnerOnly {
        /// What the caller tried (`list the task's shares`).
        action: &'static str,
    },
    /// A share id that names no live share the caller may revoke: unknown, expired, already
    /// revoked, or not the caller's. One answer for all, like handles.
    #[error(
        "unknown share: no live share with this id was made by you or on a task of yours (it may have expired or been revoked already)"
    )]
    UnknownShare,
    /// The store could not be reached; nothing was changed and the call can be retried.
    #[error("the task store is temporarily unavailable; nothing was changed, retry the call")]
    Unavailable,
    /// The store connection broke while a change was being saved: it may or may not have
    /// been applied. The caller should read before retrying (or retry a start with the same
    /// idempotency key).
    #[error(
        "the connection to the task store was lost while saving, so the change may or may not have been applied; check with get_task_status (or retry start_research_task with the same idempotency_key) before retrying"
    )]
    Interrupted,
    /// The store did not confirm a change within the server's time limit: it may still be
    /// applied. The caller should read before retrying (or retry with the same idempotency
    /// key).
    #[error(
        "the task store did not confirm the change in time, so it may or may not have been applied; check with get_task_status (or retry with the same idempotency_key) before retrying"
    )]
    TimedOut,
    /// An unexpected server fault; nothing was changed.
    #[error("internal error; nothing was changed (reference {reference})")]
    Internal {
        /// A reference to find the fault in the server's logs.
        reference: String,
    },
}

impl ToolError {
    /// Shorthand for [`ToolError::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ToolError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Whether retrying the same call later may succeed. ([`ToolError::Interrupted`] is
    /// retryable too, after checking whether the first attempt took effect.)
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ToolError::Unavailable | ToolError::Interrupted | ToolError::TimedOut
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_exact() {
        assert_eq!(ToolError::UnknownHandle.to_string(), UNKNOWN_HANDLE_MESSAGE);
        assert_eq!(
            ToolError::WrongStatus {
                action: "complete the task",
                status: ResearchStatus::Complete
            }
            .to_string(),
            "cannot complete the task: the task is already complete"
        );
        assert_eq!(
            ToolError::LimitExceeded {
                field: "findings",
                limit: 10_000,
                what: "findings per task"
            }
            .to_string(),
            "limit exceeded for `findings`: at most 10000 findings per task"
        );
        assert!(ToolError::Unavailable.is_retryable());
        assert!(!ToolError::UnknownHandle.is_retryable());
    }
}
