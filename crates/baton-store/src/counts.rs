//! Store statistics for monitoring (an optional capability): live research tasks by status,
//! connection pools, and a writer queue where the backend has one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ResearchStatus, StoreError};

/// One connection pool of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Its name (`main`; SQLite: `read`, `write`, `read-lanes`).
    pub name: &'static str,
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
}

/// A backend's single writer (SQLite's group commit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes waiting for the writer now.
    pub queued: u64,
    /// Batches (transactions) the writer has run since the store was opened.
    pub batches: u64,
    /// Writes those batches carried (`writes / batches` is the mean batch size).
    pub writes: u64,
}

/// A backend's read lanes: connections outside its pools that answer its hottest read
/// (Postgres: the task-by-id read behind `get_task_status`, over pipelined connections). A
/// read no lane can answer goes to the pool: slower, never wrong, so only these counts show
/// that the lanes are down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneReadStats {
    /// Lanes configured (0: every such read uses the pool).
    pub lanes: u32,
    /// Lanes connected now.
    pub connected: u32,
    /// Reads a lane answered since the store was opened.
    pub on_lane: u64,
    /// Reads that went to the pool instead since the store was opened: no lane configured or
    /// connected, or the lane's statement failed.
    pub on_pool: u64,
}

/// What a metrics endpoint shows of a store. The task count is one aggregate query, read
/// rarely (baton: at most every 30 s per instance); the rest is read from memory.
#[async_trait]
pub trait StoreStats: Send + Sync + 'static {
    /// The number of tasks of every owner not expired at `now`, for each status that has any.
    async fn count_by_status(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ResearchStatus, u64)>, StoreError>;

    /// The backend's connection pools.
    fn pools(&self) -> Vec<PoolStats> {
        Vec::new()
    }

    /// The backend's writer, if it has one.
    fn writer(&self) -> Option<WriterStats> {
        None
    }

    /// The backend's read lanes, if it has them.
    fn lane_reads(&self) -> Option<LaneReadStats> {
        None
    }
}
