//! [`StoreStats`] for SQLite: one aggregate over the reader pool; the pools and read lanes.

use async_trait::async_trait;
use baton_store::{PoolStats, ResearchStatus, StoreError, StoreStats, WriterStats};
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{SqliteStore, error::db_err, rows::ms};

#[async_trait]
impl StoreStats for SqliteStore {
    async fn count_by_status(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ResearchStatus, u64)>, StoreError> {
        let err = db_err("count tasks by status");
        let rows = sqlx::query(
            "SELECT status, count(*) FROM research_tasks WHERE expires_at > ?1 GROUP BY status",
        )
        .bind(ms(now))
        .fetch_all(&self.read)
        .await
        .map_err(&err)?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get(0).map_err(&err)?;
            let n: i64 = row.try_get(1).map_err(&err)?;
            if let Some(status) = ResearchStatus::parse(&status) {
                counts.push((status, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(counts)
    }

    fn pools(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &sqlx::SqlitePool| PoolStats {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        };
        let (open, busy) = self.lanes.stats();
        vec![
            stats("read", &self.read),
            stats("write", &self.write),
            PoolStats {
                name: "read-lanes",
                size: open,
                idle: open - busy,
            },
        ]
    }

    fn writer(&self) -> Option<WriterStats> {
        use std::sync::atomic::Ordering::Relaxed;
        let queued = self.writer.max_capacity() - self.writer.capacity();
        Some(WriterStats {
            queued: queued as u64,
            batches: self.writer_counts.batches.load(Relaxed),
            writes: self.writer_counts.writes.load(Relaxed),
        })
    }
}
