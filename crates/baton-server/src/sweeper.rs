//! Background deletion of expired tasks.
//!
//! Expired tasks are already invisible (every store call checks expiry); the sweeper only
//! reclaims space. It runs on every instance; backends make concurrent sweeps safe.

use std::{sync::Arc, time::Duration};

use baton_store::{ResearchStore, ShareStore};
use tokio_util::sync::CancellationToken;

/// At most this many batches per tick, so one tick never runs away.
const MAX_BATCHES_PER_TICK: u32 = 100;

/// Sweeps once: deletes expired tasks in batches until none are left (or the tick's cap).
pub async fn sweep_once(
    store: &dyn ResearchStore,
    batch: u32,
) -> Result<u64, baton_store::StoreError> {
    in_batches(batch, || store.sweep_expired(chrono::Utc::now(), batch)).await
}

/// Runs `sweep` (one batch of up to `batch` deletions) until a batch comes back short or
/// the tick's cap is reached; returns how many were deleted.
async fn in_batches<F, Fut>(batch: u32, mut sweep: F) -> Result<u64, baton_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, baton_store::StoreError>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES_PER_TICK {
        let deleted = sweep().await?;
        total += deleted;
        if deleted < u64::from(batch) {
            break;
        }
    }
    Ok(total)
}

/// Spawns the sweeper; it stops when `shutdown` is cancelled.
pub fn spawn(
    store: Arc<dyn ResearchStore>,
    every: Duration,
    batch: u32,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let swept = sweep_once(store.as_ref(), batch).await;
            crate::observability::sweep(swept.as_ref().copied());
            match swept {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "swept expired tasks"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired tasks failed; will retry"),
            }
        }
    });
}

/// Spawns the sweeper of ended delegation grants (expired or revoked); it stops when
/// `shutdown` is cancelled. Ended grants are already refused; this only reclaims space.
pub fn spawn_grant_sweeper(
    store: Arc<dyn ShareStore>,
    every: Duration,
    batch: u32,
    shutdown: CancellationToken,
) {
    spawn_ticking(every, shutdown, "ended shares", move || {
        let store = Arc::clone(&store);
        async move { in_batches(batch, || store.sweep_grants(chrono::Utc::now(), batch)).await }
    });
}

/// Spawns the sweeper of expired tool tasks (MCP Tasks extension); it stops when
/// `shutdown` is cancelled. Expired tool tasks are already invisible; this only reclaims
/// space.
pub fn spawn_tool_task_sweeper(
    tasks: Arc<crate::tool_tasks::ToolTasks>,
    every: Duration,
    batch: u32,
    shutdown: CancellationToken,
) {
    spawn_ticking(every, shutdown, "expired tool tasks", move || {
        let tasks = Arc::clone(&tasks);
        async move { in_batches(batch, || tasks.sweep(batch)).await }
    });
}

/// Runs `sweep` every `every` until `shutdown`, logging what it deleted (`what`).
fn spawn_ticking<F, Fut>(every: Duration, shutdown: CancellationToken, what: &'static str, sweep: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u64, baton_store::StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "swept {what}"),
                Err(e) => tracing::warn!(error = %e, "sweeping {what} failed; will retry"),
            }
        }
    });
}
