//! [`StoreStats`] for Postgres: one aggregate statement.

use async_trait::async_trait;
use baton_store::{LaneReadStats, PoolStats, ResearchStatus, StoreError, StoreStats};
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{PostgresStore, error::from_sqlx, store::ms};

#[async_trait]
impl StoreStats for PostgresStore {
    async fn count_by_status(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ResearchStatus, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, count(*) FROM research_tasks WHERE expires_at > $1 GROUP BY status",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| from_sqlx("count_by_status", e))?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row
                .try_get(0)
                .map_err(|e| from_sqlx("count_by_status", e))?;
            let n: i64 = row
                .try_get(1)
                .map_err(|e| from_sqlx("count_by_status", e))?;
            if let Some(status) = ResearchStatus::parse(&status) {
                counts.push((status, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(counts)
    }

    fn pools(&self) -> Vec<PoolStats> {
        vec![PoolStats {
            name: "main",
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }]
    }

    fn lane_reads(&self) -> Option<LaneReadStats> {
        Some(self.lanes.stats())
    }
}
