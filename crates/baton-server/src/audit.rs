//! The audit log: one structured event per state change, on the tracing target
//! [`TARGET`] (`baton::audit`), so that a subscriber or a log shipper can route it apart from
//! debug logs (for example `RUST_LOG=info,baton::audit=info` with `--log-format json`, then
//! filter on `"target":"baton::audit"`).
//!
//! Every event has the same fields:
//!
//! | field | what |
//! | --- | --- |
//! | `principal` | who: the first 16 hex digits of SHA-256 over the principal (pseudonymous: the same principal always gives the same value, and the name is not in the log) |
//! | `action` | what, as `area.verb` (e.g. `research.start`) |
//! | `task` | which task: the first 16 hex digits of SHA-256 over its id (task ids are bearer secrets on unauthenticated servers, so they are never logged), or empty |
//! | `outcome` | `ok`, `replayed`, or the reason it was refused (`not_found`, `wrong_status`, `quota_exceeded`, …) |
//!
//! The research-task changes (start, add findings, complete, cancel, sweep) are recorded by
//! the store wrapper ([`crate::observability::ObservedStore`]), so no tool has to remember to.
//! Tool tasks (the MCP Tasks extension) are recorded by their runtime
//! ([`tool_task`]: `tool_task.create`, `.cancel`, `.complete`, `.fail`). Other state changes
//! call [`record`]: the `baton keys` and `baton token` commands (as
//! [`OPERATOR`]: `signing_key.add`, `.promote`, `.retire`, `.rotate`, `.encrypt`,
//! `api_key.create`, `api_key.revoke`).

use baton_store::ResearchTaskId;
use sha2::{Digest, Sha256};

/// The tracing target of every audit event.
pub const TARGET: &str = "baton::audit";

/// The principal of changes made with the `baton` command (keys, tokens): the operator.
pub const OPERATOR: &str = "operator:cli";

/// Records one state change: who (`principal`, hashed here), what (`action`, a short
/// `area.verb` constant), on which task (hashed here), and how it ended (`outcome`: `ok`, or
/// a short reason constant). Values must come from a bounded set the code names, never from
/// arguments.
///
/// ```
/// use baton_server::audit;
/// audit::record("alice", "grant.create", None, "ok");
/// ```
pub fn record(principal: &str, action: &str, task: Option<&ResearchTaskId>, outcome: &str) {
    let principal = principal_ref(principal);
    let task = task.map(task_ref).unwrap_or_default();
    tracing::info!(
        target: "baton::audit",
        principal = %principal,
        action,
        task = %task,
        outcome,
        "audit"
    );
}

/// Records a change of a tool task (MCP Tasks extension): `action` is `tool_task.create`,
/// `.cancel`, `.complete` or `.fail`; the task is hashed as research tasks are.
pub fn tool_task(principal: &str, action: &str, task: &baton_store::ToolTaskId, outcome: &str) {
    record(
        principal,
        action,
        Some(&ResearchTaskId::from_bytes(*task.as_bytes())),
        outcome,
    );
}

/// The pseudonym of a principal in audit events.
pub fn principal_ref(principal: &str) -> String {
    short_hash(b"baton audit principal\0", principal.as_bytes())
}

/// The reference of a task in audit events.
pub fn task_ref(task: &ResearchTaskId) -> String {
    short_hash(b"baton audit task\0", task.as_bytes())
}

fn short_hash(domain: &[u8], value: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(value)
        .finalize();
    data_encoding::HEXLOWER.encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::{fmt::MakeWriter, prelude::*};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// Captures the JSON lines of audit events only (a target filter, as an operator would
    /// route them), while `f` runs.
    pub(crate) fn audit_lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_writer(buffer.clone())
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target(TARGET, tracing::Level::INFO),
                ),
        );
        tracing::subscriber::with_default(subscriber, || {
            f();
            // Another event, not on the audit target: the filter must keep it out.
            tracing::info!(principal = "alice", "not an audit event");
        });
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn an_event_names_who_what_which_and_how_without_the_names() {
        let id = ResearchTaskId::from_bytes([7; 16]);
        let lines = audit_lines(|| record("alice", "research.cancel", Some(&id), "ok"));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let event = &lines[0];
        assert_eq!(event["target"], TARGET);
        assert_eq!(event["action"], "research.cancel");
        assert_eq!(event["outcome"], "ok");
        assert_eq!(event["principal"], principal_ref("alice"));
        assert_eq!(event["task"], task_ref(&id));
        let text = event.to_string();
        assert!(!text.contains("alice"), "{text}");
        assert!(!text.contains(&data_encoding::HEXLOWER.encode(id.as_bytes())));
    }

    #[test]
    fn references_are_stable_and_distinct() {
        assert_eq!(principal_ref("alice"), principal_ref("alice"));
        assert_ne!(principal_ref("alice"), principal_ref("bob"));
        assert_eq!(principal_ref("alice").len(), 16);
        let a = ResearchTaskId::from_bytes([1; 16]);
        let b = ResearchTaskId::from_bytes([2; 16]);
        assert_ne!(task_ref(&a), task_ref(&b));
    }
}
