//! The store traits on Postgres: one SQL statement per change.

use async_trait::async_trait;
use baton_store::rules::{
    Observed, as_db_limit, can_never_fit, expiry_after_write, explain_refusal, hard_expiry,
    refreshed_expiry, truncate_to_millis,
};
use baton_store::{
    Appended, BulkImport, Finding, FindingLimits, FindingsBatch, FindingsPage, KeyStore,
    NewResearchTask, Quota, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTask,
    ResearchTaskId, ResearchTasksPage, SigningKeyRecord, StartOutcome, StoreError, StoreErrorKind,
    StoredApiKey,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use crate::PostgresStore;
use crate::error::{corrupt, from_sqlx};
use crate::lanes::LaneRead;
use crate::statements::*;

/// How many times a change that lost a race against a concurrent change (for example, a
/// conditional update matched no row but the follow-up read found nothing wrong) is retried
/// before giving up with `Unavailable`.
const MAX_RACE_RETRIES: usize = 5;

/// Times are stored with millisecond precision; every time is truncated before it is bound,
/// so a task read back equals the task that was written.
pub(crate) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    truncate_to_millis(t)
}

pub(crate) fn task_from_row(row: &PgRow) -> Result<ResearchTask, StoreError> {
    let get = |e: sqlx::Error| from_sqlx("row decoding", e);
    RawTask {
        id: row.try_get("id").map_err(get)?,
        owner: row.try_get("owner").map_err(get)?,
        topic: row.try_get("topic").map_err(get)?,
        depth: row.try_get("depth").map_err(get)?,
        status: row.try_get("status").map_err(get)?,
        findings_count: row.try_get("findings_count").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        hard_expires_at: row.try_get("hard_expires_at").map_err(get)?,
    }
    .into_task()
}

/// A task row's columns as Postgres types, whichever driver read them (the pool or a read
/// lane), before they are checked against the task's rules.
pub(crate) struct RawTask<'r> {
    pub(crate) id: &'r [u8],
    pub(crate) owner: String,
    pub(crate) topic: String,
    pub(crate) depth: i16,
    pub(crate) status: &'r str,
    pub(crate) findings_count: i32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) hard_expires_at: DateTime<Utc>,
}

impl RawTask<'_> {
    pub(crate) fn into_task(self) -> Result<ResearchTask, StoreError> {
        let id = ResearchTaskId::from_slice(self.id)
            .ok_or_else(|| corrupt("task id is not 16 bytes"))?;
        let depth =
            u8::try_from(self.depth).map_err(|_| corrupt(format!("task depth {}", self.depth)))?;
        let status = ResearchStatus::parse(self.status)
            .ok_or_else(|| corrupt(format!("task status {:?}", self.status)))?;
        let findings_count = u32::try_from(self.findings_count)
            .map_err(|_| corrupt(format!("findings count {}", self.findings_count)))?;
        Ok(ResearchTask {
            id,
            owner: self.owner,
            topic: self.topic,
            depth,
            status,
            findings_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            hard_expires_at: self.hard_expires_at,
        })
    }
}

fn status_of(row: &PgRow) -> Result<ResearchStatus, StoreError> {
    let status: String = row
        .try_get("status")
        .map_err(|e| from_sqlx("row decoding", e))?;
    ResearchStatus::parse(&status).ok_or_else(|| corrupt(format!("task status {status:?}")))
}

/// What a change that matched no row found, for [`explain_refusal`].
fn observed(row: Option<PgRow>, operation: &str) -> Result<Option<Observed>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let status = status_of(&row)?;
    let count: i32 = row
        .try_get("findings_count")
        .map_err(|e| from_sqlx(operation, e))?;
    let findings_count =
        u32::try_from(count).map_err(|_| corrupt(format!("findings count {count}")))?;
    let owner_bytes: i64 = row
        .try_get("owner_bytes")
        .map_err(|e| from_sqlx(operation, e))?;
    Ok(Some(Observed {
        status,
        findings_count,
        owner_bytes: u64::try_from(owner_bytes).unwrap_or(0),
    }))
}

impl PostgresStore {
    /// Shared path of `append_findings` and `complete`: appends `batch` (on `conn`, inside
    /// the caller's transaction, or on the pool) and sets `status`, retrying a lost race.
    async fn append_and_set(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        status: ResearchStatus,
        now: DateTime<Utc>,
        mut conn: Option<&mut PgConnection>,
    ) -> Result<ResearchTask, StoreError> {
        let operation = match status {
            ResearchStatus::Running => "append_findings",
            _ => "complete",
        };
        let findings = batch.findings;
        let (limits, bytes) = (batch.limits, batch.bytes());
        // A batch that can never fit skips the update, so that the follow-up read reports
        // NotFound and WrongStatus ahead of the limits.
        let fits = i32::try_from(findings.len())
            .ok()
            .filter(|_| !can_never_fit(findings.len(), bytes, limits));
        let idle_deadline = ms(self.idle_deadline(now));
        for _ in 0..MAX_RACE_RETRIES {
            let query = match fits {
                None => None,
                // No findings: nothing to count against a quota, no usage row to lock.
                Some(0) if status == ResearchStatus::Complete => Some(
                    sqlx::query(COMPLETE_EMPTY)
                        .bind(id.as_bytes().as_slice())
                        .bind(owner)
                        .bind(now)
                        .bind(idle_deadline),
                ),
                Some(n) => Some(
                    sqlx::query(APPEND)
                        .bind(id.as_bytes().as_slice())
                        .bind(owner)
                        .bind(n)
                        .bind(now)
                        .bind(idle_deadline)
                        .bind(i64::from(limits.per_task))
                        .bind(status.as_str())
                        .bind(findings)
                        .bind(as_db_limit(bytes))
                        .bind(as_db_limit(limits.owner_bytes)),
                ),
            };
            let row = match (query, conn.as_deref_mut()) {
                (None, _) => Ok(None),
                (Some(q), Some(c)) => q.fetch_optional(c).await,
                (Some(q), None) => q.fetch_optional(&self.pool).await,
            }
            .map_err(|e| from_sqlx(operation, e))?;
            if let Some(row) = row {
                return task_from_row(&row);
            }
            // No row changed: say why, or try again if the task changed in between.
            self.explain(owner, id, now, (findings.len(), bytes), limits, operation)
                .await?;
        }
        Err(StoreError::lost_races(operation))
    }

    /// `append_findings` with an idempotency key: one transaction claims the key (a racing
    /// claimer of the same key waits for it), appends, and records the batch's last index;
    /// a key already used answers from what it recorded.
    async fn append_once(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        key: &str,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        let err = |e| from_sqlx("append_findings", e);
        let digest = batch.digest();
        let mut tx = self.pool.begin().await.map_err(err)?;
        let claimed = sqlx::query(CLAIM_APPEND_KEY)
            .bind(id.as_bytes().as_slice())
            .bind(key)
            .bind(digest.as_slice())
            .bind(owner)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        if claimed.is_none() {
            tx.rollback().await.map_err(err)?;
            let earlier = sqlx::query(SELECT_APPEND_KEY)
                .bind(id.as_bytes().as_slice())
                .bind(key)
                .bind(owner)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
            let Some(earlier) = earlier else {
                // No live task of the caller's (or it expired meanwhile).
                return Err(StoreError::not_found());
            };
            let stored: Vec<u8> = earlier.try_get("digest").map_err(err)?;
            if stored.as_slice() != digest.as_slice() {
                return Err(StoreError::idempotency_conflict());
            }
            let last_index: i32 = earlier.try_get("last_index").map_err(err)?;
            return Ok(Appended {
                task: task_from_row(&earlier)?,
                last_index: u32::try_from(last_index)
                    .map_err(|_| corrupt(format!("last index {last_index}")))?,
                replayed: true,
            });
        }
        let appended = self
            .append_and_set(
                owner,
                id,
                batch,
                ResearchStatus::Running,
                now,
                Some(&mut *tx),
            )
            .await;
        let task = match appended {
            Ok(task) => task,
            Err(e) => {
                // Refused or failed: the key is released with the rollback.
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        sqlx::query(SET_APPEND_KEY_INDEX)
            .bind(id.as_bytes().as_slice())
            .bind(key)
            .bind(i32::try_from(task.findings_count).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Appended {
            last_index: task.findings_count,
            task,
            replayed: false,
        })
    }

    /// Reads the task's state after a change matched no row and explains the refusal
    /// ([`explain_refusal`]); `Ok(())` means the task changed in between: try again.
    async fn explain(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
        (adding, adding_bytes): (usize, u64),
        limits: FindingLimits,
        operation: &str,
    ) -> Result<(), StoreError> {
        let state = sqlx::query(SELECT_STATE)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx(operation, e))?;
        explain_refusal(observed(state, operation)?, adding, adding_bytes, limits)
    }

    /// Stores the refreshed idle deadline of `task` when a read at `now` finds it lagging
    /// ([`refreshed_expiry`]) and returns the task as stored.
    async fn refresh_on_read(
        &self,
        task: ResearchTask,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let Some(target) =
            refreshed_expiry(task.expires_at, task.hard_expires_at, now, &self.lifetimes)
        else {
            return Ok(task);
        };
        let refreshed = sqlx::query(REFRESH_EXPIRY)
            .bind(task.id.as_bytes().as_slice())
            .bind(&task.owner)
            .bind(target)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("refresh expiry", e))?;
        match refreshed {
            Some(row) => task_from_row(&row),
            // Someone else refreshed (or swept) it meanwhile: read what is there now.
            None => self
                .select_task(&task.owner, &task.id, now)
                .await?
                .ok_or_else(StoreError::not_found),
        }
    }

    /// The idle deadline of a write at `now` (capped by each task's `hard_expires_at` in SQL).
    fn idle_deadline(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        expiry_after_write(now, DateTime::<Utc>::MAX_UTC, &self.lifetimes)
    }

    async fn select_task(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Option<ResearchTask>, StoreError> {
        if let LaneRead::Row(task) = self.lanes.select_task(id, owner, now).await {
            return Ok(task);
        }
        let row = sqlx::query(SELECT_TASK)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("get", e))?;
        row.as_ref().map(task_from_row).transpose()
    }
}

#[async_trait]
impl ResearchStore for PostgresStore {
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError> {
        let now = ms(now);
        let hard = ms(hard_expiry(now, &self.lifetimes));
        let expires = ms(expiry_after_write(now, hard, &self.lifetimes));
        let depth = i16::from(new.depth);
        let Some(key) = new.idempotency_key.as_deref() else {
            let row = sqlx::query(INSERT_TASK)
                .bind(new.id.as_bytes().as_slice())
                .bind(&new.owner)
                .bind(&new.topic)
                .bind(depth)
                .bind(now)
                .bind(expires)
                .bind(hard)
                .bind(as_db_limit(new.max_live_tasks))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("start", e))?;
            let Some(row) = row else {
                return Err(StoreError::quota_exceeded(Quota::LiveTasks {
                    limit: new.max_live_tasks,
                }));
            };
            return Ok(StartOutcome {
                task: task_from_row(&row)?,
                replayed: false,
            });
        };

        for _ in 0..MAX_RACE_RETRIES {
            let created = sqlx::query(INSERT_TASK_WITH_KEY)
                .bind(new.id.as_bytes().as_slice())
                .bind(&new.owner)
                .bind(&new.topic)
                .bind(depth)
                .bind(now)
                .bind(expires)
                .bind(hard)
                .bind(key)
                .bind(as_db_limit(new.max_live_tasks))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("start", e))?;
            if let Some(row) = created {
                return Ok(StartOutcome {
                    task: task_from_row(&row)?,
                    replayed: false,
                });
            }
            // The key is taken: by a live task (replay or conflict), or by an expired one
            // that the sweeper has not reached yet (free it and try again).
            let existing = sqlx::query(SELECT_KEYED_TASK)
                .bind(&new.owner)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("start", e))?;
            let Some(existing) = existing else {
                // The key is free: the owner's quota refused the task, or the key was swept
                // or released in between (then claim it again).
                let live: Option<i64> = sqlx::query_scalar(SELECT_LIVE_TASKS)
                    .bind(&new.owner)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| from_sqlx("start", e))?;
                if u64::try_from(live.unwrap_or(0)).unwrap_or(0) >= new.max_live_tasks {
                    return Err(StoreError::quota_exceeded(Quota::LiveTasks {
                        limit: new.max_live_tasks,
                    }));
                }
                continue;
            };
            let task = task_from_row(&existing)?;
            if task.expires_at <= now {
                sqlx::query(RELEASE_STALE_KEY)
                    .bind(&new.owner)
                    .bind(key)
                    .bind(task.id.as_bytes().as_slice())
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| from_sqlx("start", e))?;
                continue;
            }
            let key_topic: String = existing
                .try_get("key_topic")
                .map_err(|e| from_sqlx("start", e))?;
            let key_depth: i16 = existing
                .try_get("key_depth")
                .map_err(|e| from_sqlx("start", e))?;
            if key_topic != new.topic || key_depth != depth {
                return Err(StoreError::idempotency_conflict());
            }
            return Ok(StartOutcome {
                task,
                replayed: true,
            });
        }
        Err(StoreError::lost_races("start"))
    }

    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let now = ms(now);
        let task = self
            .select_task(owner, id, now)
            .await?
            .ok_or_else(StoreError::not_found)?;
        self.refresh_on_read(task, now).await
    }

    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        let now = ms(now);
        if let Some(key) = batch.idempotency_key {
            return self.append_once(owner, id, key, batch, now).await;
        }
        let task = self
            .append_and_set(owner, id, batch, ResearchStatus::Running, now, None)
            .await?;
        Ok(Appended {
            last_index: task.findings_count,
            task,
            replayed: false,
        })
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
        self.append_and_set(owner, id, batch, ResearchStatus::Complete, ms(now), None)
            .await
    }

    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let now = ms(now);
        for _ in 0..MAX_RACE_RETRIES {
            let row = sqlx::query(CANCEL)
                .bind(id.as_bytes().as_slice())
                .bind(owner)
                .bind(now)
                .bind(ms(self.idle_deadline(now)))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("cancel", e))?;
            if let Some(row) = row {
                return task_from_row(&row);
            }
            let limits = FindingLimits::per_task(u32::MAX);
            self.explain(owner, id, now, (0, 0), limits, "cancel")
                .await?;
        }
        Err(StoreError::lost_races("cancel"))
    }

    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError> {
        let now = ms(now);
        let row = sqlx::query(LIST_FINDINGS)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(now)
            .bind(i64::from(after))
            .bind(i64::from(limit))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("list_findings", e))?
            .ok_or_else(StoreError::not_found)?;
        let task = task_from_row(&row)?;
        let idxs: Vec<i32> = row
            .try_get("idxs")
            .map_err(|e| from_sqlx("list_findings", e))?;
        let texts: Vec<String> = row
            .try_get("texts")
            .map_err(|e| from_sqlx("list_findings", e))?;
        if idxs.len() != texts.len() {
            return Err(corrupt("findings page arrays differ in length"));
        }
        let findings = idxs
            .into_iter()
            .zip(texts)
            .map(|(index, text)| {
                u32::try_from(index)
                    .map(|index| Finding { index, text })
                    .map_err(|_| corrupt(format!("finding index {index}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let task = self.refresh_on_read(task, now).await?;
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
        let now = ms(now);
        if limit == 0 {
            return Ok(ResearchTasksPage {
                tasks: Vec::new(),
                next: None,
            });
        }
        let query = match after {
            None => sqlx::query(LIST_TASKS_FIRST),
            Some(_) => sqlx::query(LIST_TASKS_AFTER),
        }
        .bind(owner)
        .bind(now)
        .bind(status.map(ResearchStatus::as_str))
        .bind(i64::from(limit) + 1);
        let query = match after {
            None => query,
            Some(cursor) => query
                .bind(cursor.created_at)
                .bind(cursor.id.as_bytes().as_slice()),
        };
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx("list", e))?;
        let tasks = rows
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResearchTasksPage::from_overfetch(tasks, limit))
    }

    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let deleted: i64 = sqlx::query_scalar(SWEEP)
            .bind(ms(now))
            .bind(i64::from(batch))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| from_sqlx("sweep_expired", e))?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("ping", e))?;
        Ok(())
    }
}

#[async_trait]
impl BulkImport for PostgresStore {
    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError> {
        // One statement per chunk, the rows sent as arrays: far fewer round trips than
        // row-by-row inserts, and no parameter-count limit.
        const ROWS_PER_STATEMENT: usize = 10_000;
        let err = |e| from_sqlx("import_research_tasks", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        let mut written = 0;
        for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
            let ids: Vec<Vec<u8>> = chunk.iter().map(|t| t.id.as_bytes().to_vec()).collect();
            let owners: Vec<&str> = chunk.iter().map(|t| t.owner.as_str()).collect();
            let topics: Vec<&str> = chunk.iter().map(|t| t.topic.as_str()).collect();
            let depths: Vec<i16> = chunk.iter().map(|t| i16::from(t.depth)).collect();
            let statuses: Vec<&str> = chunk.iter().map(|t| t.status.as_str()).collect();
            let counts: Vec<i32> = chunk
                .iter()
                .map(|t| i32::try_from(t.findings_count).unwrap_or(i32::MAX))
                .collect();
            let created: Vec<DateTime<Utc>> = chunk.iter().map(|t| ms(t.created_at)).collect();
            let updated: Vec<DateTime<Utc>> = chunk.iter().map(|t| ms(t.updated_at)).collect();
            let expires: Vec<DateTime<Utc>> = chunk.iter().map(|t| ms(t.expires_at)).collect();
            let hard: Vec<DateTime<Utc>> = chunk.iter().map(|t| ms(t.hard_expires_at)).collect();
            let done = sqlx::query(IMPORT_TASKS)
                .bind(ids)
                .bind(owners)
                .bind(topics)
                .bind(depths)
                .bind(statuses)
                .bind(counts)
                .bind(created)
                .bind(updated)
                .bind(expires)
                .bind(hard)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            written += done.rows_affected();
        }
        // Imported tasks count against their owners' quotas (without checking them).
        let mut owners: Vec<&str> = tasks.iter().map(|t| t.owner.as_str()).collect();
        owners.sort_unstable();
        owners.dedup();
        sqlx::query(RECOUNT_USAGE)
            .bind(owners)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(written)
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(SELECT_SIGNING_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx("signing_keys", e))?;
        rows.iter()
            .map(|row| {
                let get = |e| from_sqlx("signing_keys", e);
                let key_id: i32 = row.try_get("key_id").map_err(get)?;
                Ok(SigningKeyRecord {
                    key_id: u16::try_from(key_id)
                        .map_err(|_| corrupt(format!("signing key id {key_id}")))?,
                    secret: row.try_get("secret").map_err(get)?,
                    created_at: row.try_get("created_at").map_err(get)?,
                    promoted_at: row.try_get("promoted_at").map_err(get)?,
                    retired_at: row.try_get("retired_at").map_err(get)?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(INSERT_SIGNING_KEY)
            .bind(i32::from(key.key_id))
            .bind(&key.secret)
            .bind(ms(key.created_at))
            .bind(key.promoted_at.map(ms))
            .bind(key.retired_at.map(ms))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("insert_signing_key", e))?;
        self.signing_keys().await
    }

    async fn update_signing_key(&self, key: SigningKeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(UPDATE_SIGNING_KEY)
            .bind(i32::from(key.key_id))
            .bind(&key.secret)
            .bind(key.promoted_at.map(ms))
            .bind(key.retired_at.map(ms))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("update_signing_key", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_api_key(&self, key: StoredApiKey) -> Result<(), StoreError> {
        let done = sqlx::query(INSERT_API_KEY)
            .bind(&key.id)
            .bind(&key.principal)
            .bind(&key.scopes)
            .bind(&key.hash)
            .bind(ms(key.created_at))
            .bind(key.expires_at.map(ms))
            .bind(key.revoked_at.map(ms))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("insert_api_key", e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::new(
                StoreErrorKind::Internal,
                "postgres: an api key with this id exists already",
            ));
        }
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(SELECT_API_KEY)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("api_key", e))?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let rows = sqlx::query(SELECT_API_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx("api_keys", e))?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(REVOKE_API_KEY)
            .bind(id)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("revoke_api_key", e))?;
        row.as_ref().map(api_key_from_row).transpose()
    }
}

fn api_key_from_row(row: &PgRow) -> Result<StoredApiKey, StoreError> {
    let get = |e| from_sqlx("row decoding", e);
    Ok(StoredApiKey {
        id: row.try_get("id").map_err(get)?,
        principal: row.try_get("principal").map_err(get)?,
        scopes: row.try_get("scopes").map_err(get)?,
        hash: row.try_get("hash").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        revoked_at: row.try_get("revoked_at").map_err(get)?,
    })
}
