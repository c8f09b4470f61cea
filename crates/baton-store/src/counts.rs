//! Counting live research tasks by status, for monitoring (an optional capability).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ResearchStatus, StoreError};

/// Counts the live research tasks of every owner, by status: what a metrics endpoint shows.
/// One aggregate query; callers read it rarely (baton at most every 30 s per instance).
#[async_trait]
pub trait ResearchTaskCounts: Send + Sync + 'static {
    /// The number of tasks not expired at `now`, for each status that has any.
    async fn count_by_status(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ResearchStatus, u64)>, StoreError>;
}
