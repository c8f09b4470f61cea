//! What tool code calls while it runs as a task: report progress, save a checkpoint to
//! resume from after a takeover, ask the client for input. A tool handler (baton's own or
//! an [`crate::ExtraTool`]) calls these functions from its future; when the call runs
//! synchronously (the client did not declare the extension) they cost nothing:
//! [`report`] and [`checkpoint`] do nothing, [`saved_checkpoint`] is `None`, and [`ask`]
//! answers `-32021` (input needs a task).
//!
//! Every write goes through the worker's claim: once the task is cancelled, or its lease
//! was taken over by another instance, the next call returns an error and the worker stops
//! the work (it does not wait for the tool to notice).
//!
//! ```no_run
//! use baton_server::tool_tasks::context;
//! use serde_json::json;
//!
//! # async fn body() -> Result<(), rmcp::ErrorData> {
//! let start = context::saved_checkpoint()
//!     .await
//!     .and_then(|c| c["done"].as_u64())
//!     .unwrap_or(0);
//! for step in start..10 {
//!     // … one step of work …
//!     context::checkpoint(format!("step {} of 10", step + 1), json!({"done": step + 1})).await?;
//! }
//! # Ok(()) }
//! ```

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use baton_store::{Claim, Progress, StoreError, ToolTaskId, ToolTaskStore};
use chrono::Utc;
use rmcp::{
    ErrorData,
    model::{ClientCapabilities, ErrorCode},
};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static RUN: Arc<Run>;
}

/// The error code of a write made after the task was cancelled or taken over (the worker
/// stops the work; nobody sees this error).
const LOST: ErrorCode = ErrorCode(-32099);

/// One claimed run of a task's work.
pub(crate) struct Run {
    store: Arc<dyn ToolTaskStore>,
    /// The task claimed.
    pub(crate) id: ToolTaskId,
    claim: Mutex<Claim>,
    /// Cancelled when the claim no longer holds: the worker stops the work.
    pub(crate) lost: CancellationToken,
    /// Set when the work asked for input and the task now waits for it.
    pub(crate) suspended: AtomicBool,
}

impl Run {
    pub(crate) fn new(store: Arc<dyn ToolTaskStore>, claim: Claim) -> Arc<Run> {
        Arc::new(Run {
            store,
            id: *claim.id(),
            claim: Mutex::new(claim),
            lost: CancellationToken::new(),
            suspended: AtomicBool::new(false),
        })
    }

    /// Runs `work` with this run as its context.
    pub(crate) async fn scope<F: std::future::Future>(self: &Arc<Self>, work: F) -> F::Output {
        RUN.scope(Arc::clone(self), work).await
    }

    pub(crate) async fn claim(&self) -> Claim {
        self.claim.lock().await.clone()
    }

    /// Extends the claim's lease to `now + lease`; `false` when it no longer holds.
    pub(crate) async fn renew(&self, lease: chrono::Duration) -> Result<bool, StoreError> {
        let claim = self.claim.lock().await;
        self.store
            .renew_tool_task_lease(&claim, lease, Utc::now())
            .await
    }

    fn lost_error(&self) -> ErrorData {
        self.lost.cancel();
        ErrorData::new(LOST, "the task was cancelled or taken over", None)
    }

    async fn save(&self, progress: Progress) -> Result<(), ErrorData> {
        let mut claim = self.claim.lock().await;
        let saved = self
            .store
            .save_tool_task_progress(&claim, progress.clone(), Utc::now())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "saving task progress failed");
                ErrorData::internal_error("could not save the task's progress", None)
            })?;
        if !saved {
            return Err(self.lost_error());
        }
        if let Some(message) = progress.status_message {
            claim.task.status_message = Some(message);
        }
        if let Some(checkpoint) = progress.checkpoint {
            claim.task.checkpoint = Some(checkpoint);
        }
        Ok(())
    }
}

fn current() -> Option<Arc<Run>> {
    RUN.try_with(Arc::clone).ok()
}

/// Whether the calling code runs as a task.
pub fn is_task() -> bool {
    current().is_some()
}

/// Sets the task's status message (what `tasks/get` shows). Fails once the task was
/// cancelled or taken over.
pub async fn report(message: impl Into<String>) -> Result<(), ErrorData> {
    let Some(run) = current() else { return Ok(()) };
    run.save(Progress {
        status_message: Some(message.into()),
        checkpoint: None,
    })
    .await
}

/// Sets the status message and saves `state` as the checkpoint: work that runs again after
/// a takeover starts from it ([`saved_checkpoint`]). Fails once the task was cancelled or
/// taken over.
pub async fn checkpoint(message: impl Into<String>, state: Value) -> Result<(), ErrorData> {
    let Some(run) = current() else { return Ok(()) };
    run.save(Progress {
        status_message: Some(message.into()),
        checkpoint: Some(state),
    })
    .await
}

/// The checkpoint the task's work saved last (`None` on its first run, or synchronously).
pub async fn saved_checkpoint() -> Option<Value> {
    let run = current()?;
    // Waits out a save or a lease renewal in flight (the claim is locked around each).
    let claim = run.claim.lock().await;
    claim.task.checkpoint.clone()
}

/// Asks the client for input: `requests` maps new keys (never used before by this task) to
/// `InputRequest`s (for example `{"method": "elicitation/create", "params": {…}}`).
///
/// When every key has been answered (through `tasks/update`), returns the answers. Until
/// then the task waits in `input_required` and this returns an error that ends the run:
/// once the client answers, the work runs again from the start (or its checkpoint), and
/// this call then returns the answers. A synchronous call gets `-32021`: input needs a task.
pub async fn ask(requests: Map<String, Value>) -> Result<Map<String, Value>, ErrorData> {
    let Some(run) = current() else {
        return Err(ErrorData::missing_required_client_capability(
            ClientCapabilities::builder().enable_tasks().build(),
        ));
    };
    let mut claim = run.claim.lock().await;
    let answered: Option<Map<String, Value>> = requests
        .keys()
        .map(|key| {
            claim
                .task
                .input_responses
                .get(key)
                .map(|answer| (key.clone(), answer.clone()))
        })
        .collect();
    if let Some(answers) = answered {
        return Ok(answers);
    }
    if let Some(reused) = requests
        .keys()
        .find(|key| claim.task.asked_keys.contains(key))
    {
        // Keys are unique for the task's life: asking again under an old key is a bug of
        // the tool's, and the task fails rather than confuse the client.
        return Err(ErrorData::internal_error(
            format!(
                "the tool asked for input under the key `{reused}`, which this task used before"
            ),
            None,
        ));
    }
    let asked = run
        .store
        .request_tool_task_input(&claim, &requests, Progress::default(), Utc::now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "asking for task input failed");
            ErrorData::internal_error("could not ask for input", None)
        })?;
    if !asked {
        drop(claim);
        return Err(run.lost_error());
    }
    claim.task.asked_keys.extend(requests.keys().cloned());
    run.suspended.store(true, Ordering::SeqCst);
    Err(ErrorData::new(LOST, "the task waits for input", None))
}
