//! Running tool tasks: every instance runs a dispatcher that claims runnable tasks from the
//! shared store, up to `--task-workers` at once, and runs each claimed task's tool handler
//! under a lease it renews every third of `--task-lease`.
//!
//! The dispatcher looks for work when this instance made some (a new task, an answered
//! one), when the store's change feed says a task changed anywhere, and at least once a
//! second otherwise (a lease that ran out on a dead instance announces nothing).
//!
//! A run ends when the handler returns (its result or error is stored, once: the store
//! refuses the outcome of a claim that no longer holds), when it asked for input (the task
//! waits; a later claim runs it again), or when the claim is lost (cancelled, or taken over
//! after the lease ran out): then the handler's future is dropped at once.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use baton_store::{Claim, ToolTaskOutcome};
use chrono::Utc;
use rmcp::{ErrorData, model::JsonObject};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast::error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{ToolTasks, context::Run};
use crate::principal::Principal;

/// How long an idle dispatcher waits before it looks for work again unprompted.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// How often a store failure of the dispatcher is retried.
const RETRY: Duration = Duration::from_secs(1);

impl ToolTasks {
    /// Starts this instance's dispatcher (nothing with `--task-workers 0`); it stops claiming
    /// at `shutdown`. Work in flight then is left to its lease: another instance (or this
    /// one, restarted) takes it over.
    pub fn spawn_workers(self: &Arc<Self>, shutdown: CancellationToken) {
        let workers = usize::from(self.args.task_workers);
        if workers == 0 {
            tracing::info!("--task-workers 0: this instance runs no tool tasks");
            return;
        }
        let tasks = Arc::clone(self);
        tokio::spawn(async move { tasks.dispatch(workers, shutdown).await });
    }

    async fn dispatch(self: Arc<Self>, workers: usize, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(workers));
        let mut changes = self.store.tool_task_changes();
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            match self
                .store
                .claim_tool_task(&self.instance, self.args.lease(), Utc::now())
                .await
            {
                Ok(Some(claim)) => {
                    let tasks = Arc::clone(&self);
                    tokio::spawn(async move { tasks.run(claim, permit).await });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.wake.notified() => {}
                        _ = next_change(&mut changes, None) => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "claiming a tool task failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
        }
    }

    /// Runs one claimed task to the end of this claim.
    async fn run(self: Arc<Self>, claim: Claim, _slot: OwnedSemaphorePermit) {
        let task = claim.task.clone();
        tracing::debug!(tool = %task.tool, attempt = claim.attempt(), "running a tool task");
        if claim.attempt() > 1 {
            crate::observability::tool_task("resumed");
        }
        let run = Run::new(Arc::clone(&self.store), claim);
        let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat(Arc::clone(&run)));
        let outcome = match self.tools.get(&task.tool) {
            None => Some(Err(ErrorData::method_not_found::<
                rmcp::model::CallToolRequestMethod,
            >())),
            Some(tool) => {
                let arguments = match task.arguments {
                    Value::Object(map) => map,
                    _ => JsonObject::new(),
                };
                let work = (tool.handler)(Principal::new(&task.owner), arguments);
                // Its own Tokio task: a panic is caught, and a lost claim aborts it.
                let scoped = Arc::clone(&run);
                let mut work = tokio::spawn(async move { scoped.scope(work).await });
                tokio::select! {
                    _ = run.lost.cancelled() => {
                        work.abort();
                        None
                    }
                    done = &mut work => Some(done.unwrap_or_else(|e| {
                        tracing::error!(tool = %task.tool, error = %e, "a tool panicked while running as a task");
                        Err(ErrorData::internal_error("the tool failed unexpectedly", None))
                    })),
                }
            }
        };
        heartbeat.abort();
        let outcome = match outcome {
            None => {
                tracing::debug!(tool = %task.tool, "tool task stopped: cancelled or taken over");
                return;
            }
            Some(_) if run.suspended.load(Ordering::SeqCst) => return,
            Some(_) if run.lost.is_cancelled() => return,
            Some(Ok(result)) => match serde_json::to_value(&result) {
                Ok(value) => ToolTaskOutcome::Completed(value),
                Err(e) => ToolTaskOutcome::Failed(error_value(&ErrorData::internal_error(
                    format!("the result could not be stored: {e}"),
                    None,
                ))),
            },
            Some(Err(error)) => ToolTaskOutcome::Failed(error_value(&error)),
        };
        let (action, event) = match &outcome {
            ToolTaskOutcome::Completed(_) => ("tool_task.complete", "completed"),
            ToolTaskOutcome::Failed(_) => ("tool_task.fail", "failed"),
        };
        let claim = run.claim().await;
        // A store that is briefly unavailable gets a few tries; after that the lease runs
        // out and another claim runs the work again (at least once, finished once).
        for attempt in 0..3u32 {
            match self
                .store
                .finish_tool_task(&claim, outcome.clone(), Utc::now())
                .await
            {
                Ok(true) => {
                    crate::audit::tool_task(&task.owner, action, &task.id, "ok");
                    crate::observability::tool_task(event);
                    return;
                }
                Ok(false) => {
                    tracing::info!(tool = %task.tool, "tool task ended after it was cancelled or taken over; its outcome was dropped");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "storing a tool task's outcome failed");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    /// Renews the run's lease every third of it, and at once when the task changes (so a
    /// cancellation stops the work within a round trip); cancels `run.lost` when the claim
    /// no longer holds.
    async fn heartbeat(self: Arc<Self>, run: Arc<Run>) {
        let lease = self.args.lease();
        let every = self.args.task_lease / 3;
        let mut changes = self.store.tool_task_changes();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = next_change(&mut changes, Some(run.id)) => {}
            }
            match run.renew(lease).await {
                Ok(true) => {}
                Ok(false) => {
                    run.lost.cancel();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "renewing a tool task lease failed"),
            }
        }
    }
}

/// Waits for a change on the feed, of task `of` when given (a lagging receiver counts as
/// one: it may have missed it).
async fn next_change(
    changes: &mut tokio::sync::broadcast::Receiver<baton_store::ToolTaskId>,
    of: Option<baton_store::ToolTaskId>,
) {
    loop {
        match changes.recv().await {
            Ok(changed) if of.is_some_and(|id| id != changed) => continue,
            Ok(_) | Err(RecvError::Lagged(_)) => return,
            // No feed: never fires (the other wake-ups remain).
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// A JSON-RPC error object as stored for a `failed` task.
fn error_value(error: &ErrorData) -> Value {
    serde_json::to_value(error)
        .unwrap_or_else(|_| serde_json::json!({"code": -32603, "message": "the tool failed"}))
}
