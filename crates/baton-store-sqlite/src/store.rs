//! The store traits on SQLite: reads on the read pool, task writes through the writer,
//! the rest (sweeps, keys, imports) on the write pool.

use async_trait::async_trait;
use baton_store::rules::{refreshed_expiry, truncate_to_millis};
use baton_store::{
    Appended, BulkImport, Finding, FindingLimits, FindingsBatch, FindingsPage, KeyStore,
    NewResearchTask, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTask,
    ResearchTaskId, ResearchTasksPage, SigningKeyRecord, StartOutcome, StoreError, StoreErrorKind,
    StoredApiKey,
};
use chrono::{DateTime, Utc};
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

use crate::SqliteStore;
use crate::error::{corrupt, db_err, mismatch, writer_stopped};
use crate::lanes::LaneRead;
use crate::rows::{
    TaskColumns, api_key_columns, api_key_from_row, from_ms, ms, t_task_columns, task_columns,
    task_from_row,
};
use crate::writer::{Done, Job, Op};

/// A live task of `owner`'s.
const SELECT_TASK: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3"
);

/// A live task of `owner`'s with one page of its findings, in one statement (one snapshot).
/// The LEFT JOIN gives one row with NULL findings when the page is empty.
const SELECT_TASK_WITH_FINDINGS: &str = concat!(
    "SELECT ",
    t_task_columns!(),
    ", f.idx, f.text FROM research_tasks AS t \
     LEFT JOIN research_findings AS f ON f.task_id = t.id AND f.idx > ?4 \
     WHERE t.id = ?1 AND t.owner = ?2 AND t.expires_at > ?3 \
     ORDER BY f.idx LIMIT ?5"
);

const LIST_FIRST: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE owner = ?1 AND expires_at > ?2 ",
    "AND (?3 IS NULL OR status = ?3) ",
    "ORDER BY created_at DESC, id DESC LIMIT ?4"
);

const LIST_AFTER: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE owner = ?1 AND expires_at > ?2 ",
    "AND (?3 IS NULL OR status = ?3) ",
    "AND (created_at, id) < (?5, ?6) ",
    "ORDER BY created_at DESC, id DESC LIMIT ?4"
);

/// The sweeper acts for no caller: it deletes by expiry alone. Findings and idempotency
/// keys go with their task (ON DELETE CASCADE).
const SWEEP: &str = "DELETE FROM research_tasks WHERE id IN \
     (SELECT id FROM research_tasks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2) \
     RETURNING owner, stored_bytes";

impl SqliteStore {
    /// Hands `op` to the writer and waits for its outcome, which comes after its commit.
    async fn write(&self, op: Op, now: DateTime<Utc>) -> Result<Done, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            op,
            now_ms: ms(now),
            reply,
        };
        self.writer.send(job).await.map_err(|_| writer_stopped())?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    async fn write_task(&self, op: Op, now: DateTime<Utc>) -> Result<ResearchTask, StoreError> {
        match self.write(op, now).await? {
            Done::Task(task) => Ok(task),
            _ => Err(mismatch()),
        }
    }

    /// Stores the refreshed idle deadline of `task` when a read at `now` finds it lagging
    /// ([`baton_store::rules::refreshed_expiry`]). A failed refresh is logged, not returned: the read
    /// itself succeeded.
    async fn refresh_on_read(&self, task: &mut ResearchTask, now: DateTime<Utc>) {
        let now = truncate_to_millis(now);
        let Some(target) = refreshed_expiry(
            task.expires_at,
            task.hard_expires_at,
            now,
            &self.options.lifetimes,
        ) else {
            return;
        };
        let op = Op::Refresh {
            owner: task.owner.clone(),
            id: task.id,
            expires_ms: ms(target),
        };
        match self.write(op, now).await {
            Ok(Done::Refreshed(Some(stored))) => match from_ms(stored) {
                Ok(t) => task.expires_at = t,
                Err(e) => tracing::warn!(error = %e, "bad expires_at after a refresh"),
            },
            // Expired or swept meanwhile: the read stands as it was.
            Ok(Done::Refreshed(None)) => {}
            Ok(_) => tracing::warn!(error = %mismatch(), "could not refresh a task's expiry"),
            Err(e) => tracing::warn!(error = %e, "could not refresh a task's expiry"),
        }
    }

    /// A live task of `owner`'s: from a read lane when one answers, else from the pool.
    async fn read_task(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let id_bytes = &id.as_bytes()[..];
        let lane = self.lanes.query_row(
            SELECT_TASK,
            (id_bytes, owner, ms(now)),
            TaskColumns::from_lane_row,
        );
        let row = match lane {
            LaneRead::Row(Some(columns)) => return columns.into_task(),
            LaneRead::Row(None) => return Err(StoreError::not_found()),
            LaneRead::Closed => Err(sqlx::Error::PoolClosed),
            LaneRead::Elsewhere => {
                sqlx::query(SELECT_TASK)
                    .bind(id_bytes)
                    .bind(owner)
                    .bind(ms(now))
                    .fetch_optional(&self.read)
                    .await
            }
        };
        match row.map_err(db_err("read task"))? {
            Some(row) => task_from_row(&row),
            None => Err(StoreError::not_found()),
        }
    }

    /// Appends a batch to a running task and, when `complete`, completes it, atomically.
    async fn write_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
        complete: bool,
    ) -> Result<Done, StoreError> {
        let json = if batch.findings.is_empty() {
            String::new()
        } else {
            serde_json::to_string(batch.findings).map_err(|e| {
                StoreError::new(StoreErrorKind::Internal, "could not encode findings")
                    .with_source(e)
            })?
        };
        let op = Op::Findings {
            owner: owner.to_owned(),
            id: *id,
            json,
            n: batch.findings.len(),
            bytes: batch.bytes(),
            limits: batch.limits,
            complete,
            key: batch
                .idempotency_key
                .map(|key| (key.to_owned(), batch.digest())),
        };
        self.write(op, now).await
    }
}

#[async_trait]
impl ResearchStore for SqliteStore {
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError> {
        match self.write(Op::Start(new), now).await? {
            Done::Started(outcome) => Ok(outcome),
            _ => Err(mismatch()),
        }
    }

    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let mut task = self.read_task(owner, id, now).await?;
        self.refresh_on_read(&mut task, now).await;
        Ok(task)
    }

    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        match self.write_findings(owner, id, batch, now, false).await? {
            Done::Appended(appended) => Ok(appended),
            _ => Err(mismatch()),
        }
    }

    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        limits: FindingLimits,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let batch = FindingsBatch::new(findings, limits);
        match self.write_findings(owner, id, batch, now, true).await? {
            Done::Task(task) => Ok(task),
            _ => Err(mismatch()),
        }
    }

    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let op = Op::Cancel {
            owner: owner.to_owned(),
            id: *id,
        };
        self.write_task(op, now).await
    }

    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError> {
        let rows = sqlx::query(SELECT_TASK_WITH_FINDINGS)
            .bind(&id.as_bytes()[..])
            .bind(owner)
            .bind(ms(now))
            .bind(i64::from(after))
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.read)
            .await
            .map_err(db_err("read findings"))?;
        let Some(first) = rows.first() else {
            return Err(StoreError::not_found());
        };
        let mut task = task_from_row(first)?;
        let mut findings = Vec::with_capacity(rows.len());
        if limit > 0 {
            for row in &rows {
                let idx: Option<i64> = row.try_get(10).map_err(db_err("read findings"))?;
                let Some(idx) = idx else { break };
                findings.push(Finding {
                    index: u32::try_from(idx).map_err(|_| corrupt("idx"))?,
                    text: row.try_get(11).map_err(db_err("read findings"))?,
                });
            }
        }
        self.refresh_on_read(&mut task, now).await;
        Ok(FindingsPage::new(task, findings, after))
    }

    async fn list(
        &self,
        owner: &str,
        status: Option<ResearchStatus>,
        after: Option<&ResearchListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTasksPage, StoreError> {
        let status = status.map(ResearchStatus::as_str);
        let fetch = i64::from(limit) + 1;
        let query = match after {
            None => sqlx::query(LIST_FIRST)
                .bind(owner)
                .bind(ms(now))
                .bind(status)
                .bind(fetch),
            Some(cursor) => sqlx::query(LIST_AFTER)
                .bind(owner)
                .bind(ms(now))
                .bind(status)
                .bind(fetch)
                .bind(ms(cursor.created_at))
                .bind(&cursor.id.as_bytes()[..]),
        };
        let rows = query
            .fetch_all(&self.read)
            .await
            .map_err(db_err("list tasks"))?;
        let tasks = rows
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResearchTasksPage::from_overfetch(tasks, limit))
    }

    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let err = db_err("sweep expired tasks");
        let mut conn = self.write.acquire().await.map_err(&err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        let rows = sqlx::query(SWEEP)
            .bind(ms(now))
            .bind(i64::from(batch))
            .fetch_all(&mut *tx)
            .await
            .map_err(&err)?;
        // What the deleted tasks counted against their owners' quotas.
        let mut freed: std::collections::HashMap<String, (i64, i64)> = Default::default();
        for row in &rows {
            let owner: String = row.try_get(0).map_err(&err)?;
            let bytes: i64 = row.try_get(1).map_err(&err)?;
            let entry = freed.entry(owner).or_default();
            entry.0 += 1;
            entry.1 += bytes;
        }
        for (owner, (tasks, bytes)) in freed {
            sqlx::query(
                "UPDATE research_usage SET live_tasks = max(live_tasks - ?2, 0), \
                 stored_bytes = max(stored_bytes - ?3, 0) WHERE owner = ?1",
            )
            .bind(owner)
            .bind(tasks)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(rows.len() as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, secret, created_at, promoted_at, retired_at FROM signing_keys \
             ORDER BY created_at, key_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err("read signing keys"))?;
        rows.iter()
            .map(|row| {
                let err = db_err("read signing keys");
                let id: i64 = row.try_get(0).map_err(&err)?;
                let time = |ms: Option<i64>| ms.map(from_ms).transpose();
                Ok(SigningKeyRecord {
                    key_id: u16::try_from(id).map_err(|_| corrupt("key_id"))?,
                    secret: row.try_get(1).map_err(&err)?,
                    created_at: from_ms(row.try_get(2).map_err(&err)?)?,
                    promoted_at: time(row.try_get(3).map_err(&err)?)?,
                    retired_at: time(row.try_get(4).map_err(&err)?)?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (key_id, secret, created_at, promoted_at, retired_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(i64::from(key.key_id))
        .bind(&key.secret)
        .bind(ms(key.created_at))
        .bind(key.promoted_at.map(ms))
        .bind(key.retired_at.map(ms))
        .execute(&self.write)
        .await
        .map_err(db_err("insert signing key"))?;
        self.signing_keys().await
    }

    async fn update_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET secret = ?2, promoted_at = ?3, retired_at = ?4 \
             WHERE key_id = ?1",
        )
        .bind(i64::from(key.key_id))
        .bind(&key.secret)
        .bind(key.promoted_at.map(ms))
        .bind(key.retired_at.map(ms))
        .execute(&self.write)
        .await
        .map_err(db_err("update signing key"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_api_key(&self, key: StoredApiKey) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO api_keys (id, principal, scopes, hash, created_at, expires_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&key.id)
        .bind(&key.principal)
        .bind(&key.scopes)
        .bind(&key.hash)
        .bind(ms(key.created_at))
        .bind(key.expires_at.map(ms))
        .bind(key.revoked_at.map(ms))
        .execute(&self.write)
        .await
        .map_err(db_err("insert api key"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::new(
                StoreErrorKind::Internal,
                "sqlite: an api key with this id exists already",
            ));
        }
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err("read api key"))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(db_err("read api keys"))?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1 RETURNING ",
            api_key_columns!()
        ))
        .bind(id)
        .bind(ms(now))
        .fetch_optional(&self.write)
        .await
        .map_err(db_err("revoke api key"))?;
        row.as_ref().map(api_key_from_row).transpose()
    }
}

#[async_trait]
impl BulkImport for SqliteStore {
    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError> {
        // 10 parameters a row; SQLite allows 32766 per statement.
        const ROWS_PER_STATEMENT: usize = 3_000;
        let mut tx = self.write.begin().await.map_err(db_err("import tasks"))?;
        let mut written = 0;
        for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(
                "INSERT OR IGNORE INTO research_tasks (",
                task_columns!(),
                ") "
            ));
            insert.push_values(chunk, |mut row, t| {
                row.push_bind(t.id.as_bytes().as_slice())
                    .push_bind(t.owner.as_str())
                    .push_bind(t.topic.as_str())
                    .push_bind(i64::from(t.depth))
                    .push_bind(t.status.as_str())
                    .push_bind(i64::from(t.findings_count))
                    .push_bind(ms(t.created_at))
                    .push_bind(ms(t.updated_at))
                    .push_bind(ms(t.expires_at))
                    .push_bind(ms(t.hard_expires_at));
            });
            written += insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err("import tasks"))?
                .rows_affected();
        }
        // Imported tasks count against their owners' quotas (without checking them).
        sqlx::query(
            "INSERT INTO research_usage (owner, live_tasks, stored_bytes) \
             SELECT owner, count(*), sum(stored_bytes) FROM research_tasks GROUP BY owner \
             ON CONFLICT (owner) DO UPDATE SET live_tasks = excluded.live_tasks, \
             stored_bytes = excluded.stored_bytes",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err("import tasks"))?;
        tx.commit().await.map_err(db_err("import tasks"))?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::SqliteOptions;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_read_is_the_same_from_a_lane_and_from_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanes.db");
        let store = SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
            .await
            .unwrap();
        let now = Utc::now();
        let id = ResearchTaskId::from_bytes([7; 16]);
        let started = store
            .start(
                NewResearchTask {
                    id,
                    owner: "alice".into(),
                    topic: "lanes".into(),
                    depth: 2,
                    idempotency_key: None,
                    max_live_tasks: u64::MAX,
                },
                now,
            )
            .await
            .unwrap()
            .task;
        let missing = ResearchTaskId::from_bytes([8; 16]);

        let from_lane = store.read_task("alice", &id, now).await.unwrap();
        assert_eq!(from_lane, started);
        assert_eq!(store.lanes.stats().0, 1, "the read did not use a lane");
        let foreign = store.read_task("bob", &id, now).await.unwrap_err();
        assert_eq!(foreign.kind(), &StoreErrorKind::NotFound);

        // Every lane taken: the same answers come from the pool.
        let held: Vec<_> = store.lanes.hold_all();
        assert_eq!(store.read_task("alice", &id, now).await.unwrap(), started);
        let unknown = store.read_task("alice", &missing, now).await.unwrap_err();
        assert_eq!(unknown.kind(), &StoreErrorKind::NotFound);
        drop(held);

        store.close().await;
        let closed = store.read_task("alice", &id, now).await.unwrap_err();
        assert_eq!(closed.kind(), &StoreErrorKind::Unavailable, "{closed}");
    }
}
