//! The [`ResearchStore`] implementation: one SQL statement (or one short transaction) per change.

use async_trait::async_trait;
use baton_store::{
    Finding, FindingsPage, Lifetimes, NewResearchTask, SigningKeyRecord, StartOutcome, StoreError,
    StoreErrorKind, ResearchTask, ResearchTaskId, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTasksPage,
    expiry_after_write,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::{corrupt, from_sqlx};

/// The columns of `tasks`, in the order [`task_from_row`] reads them.
macro_rules! task_columns {
    () => {
        "id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at"
    };
}

/// The same columns qualified with the alias `t`.
macro_rules! t_task_columns {
    () => {
        "t.id, t.owner, t.topic, t.depth, t.status, t.findings_count, t.created_at, t.updated_at, t.expires_at, t.hard_expires_at"
    };
}

/// How many times a change that lost a race against a concurrent change (for example, a
/// conditional update matched no row but the follow-up read found nothing wrong) is retried
/// before giving up with `Unavailable`.
const MAX_RACE_RETRIES: usize = 5;

/// A read refreshes a task's idle expiry only when the stored expiry lags the one a write
/// would give by more than this; so a hot task costs one write a minute, not one per read.
pub(crate) const REFRESH_SLACK: Duration = Duration::seconds(60);

/// Times are stored with millisecond precision; every time is truncated before it is bound,
/// so a task read back equals the task that was written.
pub(crate) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

fn task_from_row(row: &PgRow) -> Result<ResearchTask, StoreError> {
    let get = |e: sqlx::Error| from_sqlx("row decoding", e);
    let id: Vec<u8> = row.try_get("id").map_err(get)?;
    let id = ResearchTaskId::from_slice(&id).ok_or_else(|| corrupt("task id is not 16 bytes"))?;
    let depth: i16 = row.try_get("depth").map_err(get)?;
    let depth = u8::try_from(depth).map_err(|_| corrupt(format!("task depth {depth}")))?;
    let status: String = row.try_get("status").map_err(get)?;
    let status =
        ResearchStatus::parse(&status).ok_or_else(|| corrupt(format!("task status {status:?}")))?;
    let count: i32 = row.try_get("findings_count").map_err(get)?;
    let findings_count =
        u32::try_from(count).map_err(|_| corrupt(format!("findings count {count}")))?;
    Ok(ResearchTask {
        id,
        owner: row.try_get("owner").map_err(get)?,
        topic: row.try_get("topic").map_err(get)?,
        depth,
        status,
        findings_count,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        hard_expires_at: row.try_get("hard_expires_at").map_err(get)?,
    })
}

fn status_of(row: &PgRow) -> Result<ResearchStatus, StoreError> {
    let status: String = row
        .try_get("status")
        .map_err(|e| from_sqlx("row decoding", e))?;
    ResearchStatus::parse(&status).ok_or_else(|| corrupt(format!("task status {status:?}")))
}

fn idempotency_conflict() -> StoreError {
    StoreError::new(
        StoreErrorKind::IdempotencyConflict,
        "idempotency key was used with a different topic or depth",
    )
}

fn too_many(limit: u32) -> StoreError {
    StoreError::new(
        StoreErrorKind::TooManyFindings { limit },
        format!("a task holds at most {limit} findings"),
    )
}

fn lost_too_many_races(operation: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        format!("{operation} kept losing races against concurrent changes; retry"),
    )
}

/// Inserts a fresh running task.
const INSERT_TASK: &str = concat!(
    "INSERT INTO tasks (id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at) \
     VALUES ($1, $2, $3, $4, 'running', 0, $5, $5, $6, $7) RETURNING ",
    task_columns!()
);

/// Claims the idempotency key and, only when the claim succeeded, inserts the task: one
/// statement. `ON CONFLICT DO NOTHING` waits for a concurrent claimer of the same key to
/// commit or roll back, so racing starts create exactly one task. (The key row's foreign key
/// is checked at the end of the statement, when the task row exists.)
const INSERT_TASK_WITH_KEY: &str = concat!(
    "WITH k AS ( \
        INSERT INTO idempotency_keys (owner, key, task_id, topic, depth) \
        VALUES ($2, $8, $1, $3, $4) ON CONFLICT (owner, key) DO NOTHING RETURNING task_id \
     ) \
     INSERT INTO tasks (id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at) \
     SELECT k.task_id, $2, $3, $4, 'running', 0, $5, $5, $6, $7 FROM k RETURNING ",
    task_columns!()
);

/// The task an idempotency key points at, with what the key was first used for.
const SELECT_KEYED_TASK: &str = concat!(
    "SELECT k.topic AS key_topic, k.depth AS key_depth, ",
    t_task_columns!(),
    " FROM idempotency_keys k JOIN tasks t ON t.id = k.task_id WHERE k.owner = $1 AND k.key = $2"
);

/// Frees a key whose task has expired but has not been swept yet.
const RELEASE_STALE_KEY: &str = "DELETE FROM idempotency_keys k USING tasks t \
     WHERE k.owner = $1 AND k.key = $2 AND k.task_id = $3 AND t.id = k.task_id AND t.expires_at <= $4";

const SELECT_TASK: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE id = $1 AND owner = $2 AND expires_at > $3"
);

/// Pushes a live task's idle expiry forward (never backward).
const REFRESH_EXPIRY: &str = concat!(
    "UPDATE tasks SET expires_at = LEAST($3, hard_expires_at) \
     WHERE id = $1 AND owner = $2 AND expires_at > $4 AND expires_at < LEAST($3, hard_expires_at) \
     RETURNING ",
    task_columns!()
);

/// Appends findings and sets the status in one statement. The `UPDATE` is conditional on
/// the task being live, running and having room; its row lock serialises concurrent
/// appenders, and the findings get the indexes just below the count it returns.
/// `$3` count to add, `$4` now, `$5` idle deadline, `$6` limit, `$7` new status, `$8` texts.
const APPEND: &str = concat!(
    "WITH t AS ( \
        UPDATE tasks SET findings_count = findings_count + $3, status = $7, updated_at = $4, \
                         expires_at = LEAST($5, hard_expires_at) \
        WHERE id = $1 AND owner = $2 AND status = 'running' AND expires_at > $4 \
          AND findings_count::bigint + $3 <= $6 \
        RETURNING ",
    task_columns!(),
    " ), f AS ( \
        INSERT INTO findings (task_id, idx, text) \
        SELECT t.id, (t.findings_count - $3 + u.ord)::integer, u.text \
        FROM t, UNNEST($8::text[]) WITH ORDINALITY AS u(text, ord) \
     ) SELECT ",
    task_columns!(),
    " FROM t"
);

/// What a change that matched no row reads to explain itself.
const SELECT_STATE: &str =
    "SELECT status, findings_count FROM tasks WHERE id = $1 AND owner = $2 AND expires_at > $3";

const CANCEL: &str = concat!(
    "UPDATE tasks SET status = 'cancelled', updated_at = $3, expires_at = LEAST($4, hard_expires_at) \
     WHERE id = $1 AND owner = $2 AND status = 'running' AND expires_at > $3 RETURNING ",
    task_columns!()
);

/// The task and one page of its findings, read in one statement (one snapshot).
const LIST_FINDINGS: &str = concat!(
    "SELECT ",
    t_task_columns!(),
    ", f.idxs, f.texts FROM tasks t CROSS JOIN LATERAL ( \
        SELECT COALESCE(array_agg(s.idx ORDER BY s.idx), '{}') AS idxs, \
               COALESCE(array_agg(s.text ORDER BY s.idx), '{}') AS texts \
        FROM (SELECT idx, text FROM findings WHERE task_id = t.id AND idx > $4 ORDER BY idx LIMIT $5) s \
     ) f WHERE t.id = $1 AND t.owner = $2 AND t.expires_at > $3"
);

const LIST_TASKS_FIRST: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE owner = $1 AND expires_at > $2 AND ($3::text IS NULL OR status = $3) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);

const LIST_TASKS_AFTER: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE owner = $1 AND expires_at > $2 AND ($3::text IS NULL OR status = $3) \
       AND (created_at, id) < ($5, $6) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);

/// Every instance may sweep at once: `SKIP LOCKED` hands each sweeper different rows and
/// never waits on rows another transaction holds. Findings and idempotency keys cascade.
const SWEEP: &str = "DELETE FROM tasks WHERE id IN ( \
        SELECT id FROM tasks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 \
        FOR UPDATE SKIP LOCKED)";

const SELECT_SIGNING_KEYS: &str =
    "SELECT key_id, secret, created_at FROM signing_keys ORDER BY created_at, key_id";

const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys (key_id, secret, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING";

impl PostgresStore {
    /// Shared path of `append_findings` and `complete_task`.
    async fn append_and_set(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        status: ResearchStatus,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let operation = match status {
            ResearchStatus::Running => "append_findings",
            _ => "complete_task",
        };
        let now = ms(now);
        let n = i64::try_from(findings.len()).unwrap_or(i64::MAX);
        // A batch that can never fit skips the update, so that the follow-up read reports
        // NotFound and WrongStatus ahead of TooManyFindings.
        let fits = i32::try_from(n).ok().filter(|_| n <= i64::from(max_total));
        let idle_deadline = ms(now + self.lifetimes.idle);
        for _ in 0..MAX_RACE_RETRIES {
            let row = match fits {
                None => None,
                Some(n) => sqlx::query(APPEND)
                    .bind(id.as_bytes().as_slice())
                    .bind(owner)
                    .bind(n)
                    .bind(now)
                    .bind(idle_deadline)
                    .bind(i64::from(max_total))
                    .bind(status.as_str())
                    .bind(findings)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| from_sqlx(operation, e))?,
            };
            if let Some(row) = row {
                return task_from_row(&row);
            }
            // No row changed: say why.
            let state = sqlx::query(SELECT_STATE)
                .bind(id.as_bytes().as_slice())
                .bind(owner)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx(operation, e))?;
            let Some(state) = state else {
                return Err(StoreError::not_found());
            };
            let current = status_of(&state)?;
            if current.is_final() {
                return Err(StoreError::wrong_status(current));
            }
            let count: i32 = state
                .try_get("findings_count")
                .map_err(|e| from_sqlx(operation, e))?;
            if i64::from(count).saturating_add(n) > i64::from(max_total) {
                return Err(too_many(max_total));
            }
            // The task changed between the two statements (or the clock moved); try again.
        }
        Err(lost_too_many_races(operation))
    }

    async fn select_task(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Option<ResearchTask>, StoreError> {
        let row = sqlx::query(SELECT_TASK)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("get_task", e))?;
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
        let hard = ms(now + self.lifetimes.absolute);
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
                .fetch_one(&self.pool)
                .await
                .map_err(|e| from_sqlx("start_task", e))?;
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
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("start_task", e))?;
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
                .map_err(|e| from_sqlx("start_task", e))?;
            let Some(existing) = existing else {
                continue; // Swept or released in between: claim it again.
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
                    .map_err(|e| from_sqlx("start_task", e))?;
                continue;
            }
            let key_topic: String = existing
                .try_get("key_topic")
                .map_err(|e| from_sqlx("start_task", e))?;
            let key_depth: i16 = existing
                .try_get("key_depth")
                .map_err(|e| from_sqlx("start_task", e))?;
            if key_topic != new.topic || key_depth != depth {
                return Err(idempotency_conflict());
            }
            return Ok(StartOutcome {
                task,
                replayed: true,
            });
        }
        Err(lost_too_many_races("start_task"))
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
        let wanted = ms(expiry_after_write(
            now,
            task.hard_expires_at,
            &self.lifetimes,
        ));
        if wanted - task.expires_at <= refresh_slack(&self.lifetimes) {
            return Ok(task);
        }
        let refreshed = sqlx::query(REFRESH_EXPIRY)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(ms(now + self.lifetimes.idle))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("get_task", e))?;
        match refreshed {
            Some(row) => task_from_row(&row),
            // Someone else refreshed (or swept) it meanwhile: read what is there now.
            None => self
                .select_task(owner, id, now)
                .await?
                .ok_or_else(StoreError::not_found),
        }
    }

    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        self.append_and_set(owner, id, findings, max_total, ResearchStatus::Running, now)
            .await
    }

    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        self.append_and_set(owner, id, findings, max_total, ResearchStatus::Complete, now)
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
                .bind(ms(now + self.lifetimes.idle))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("cancel_task", e))?;
            if let Some(row) = row {
                return task_from_row(&row);
            }
            let state = sqlx::query(SELECT_STATE)
                .bind(id.as_bytes().as_slice())
                .bind(owner)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| from_sqlx("cancel_task", e))?;
            let Some(state) = state else {
                return Err(StoreError::not_found());
            };
            let current = status_of(&state)?;
            if current.is_final() {
                return Err(StoreError::wrong_status(current));
            }
        }
        Err(lost_too_many_races("cancel_task"))
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
            .bind(i64::from(limit) + 1)
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
        let mut findings = idxs
            .into_iter()
            .zip(texts)
            .map(|(index, text)| {
                u32::try_from(index)
                    .map(|index| Finding { index, text })
                    .map_err(|_| corrupt(format!("finding index {index}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = findings.len() > limit as usize;
        findings.truncate(limit as usize);
        Ok(FindingsPage {
            task,
            findings,
            has_more,
        })
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
            .map_err(|e| from_sqlx("list_tasks", e))?;
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
        let done = sqlx::query(SWEEP)
            .bind(ms(now))
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("sweep_expired", e))?;
        Ok(done.rows_affected())
    }

    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError> {
        // One statement per chunk, the rows sent as arrays: far fewer round trips than
        // row-by-row inserts, and no parameter-count limit.
        const ROWS_PER_STATEMENT: usize = 10_000;
        let err = |e| from_sqlx("import_tasks", e);
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
            let done = sqlx::query(
                "INSERT INTO tasks (id, owner, topic, depth, status, findings_count, created_at, \
                 updated_at, expires_at, hard_expires_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::smallint[], \
                 $5::text[], $6::integer[], $7::timestamptz[], $8::timestamptz[], \
                 $9::timestamptz[], $10::timestamptz[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
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
        tx.commit().await.map_err(err)?;
        Ok(written)
    }

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
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("insert_signing_key", e))?;
        self.signing_keys().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("ping", e))?;
        Ok(())
    }
}

/// How far a task's stored expiry may lag before a read refreshes it: [`REFRESH_SLACK`],
/// or half the idle lifetime when that is shorter (so that tiny lifetimes still refresh).
pub(crate) fn refresh_slack(lifetimes: &Lifetimes) -> Duration {
    REFRESH_SLACK.min(lifetimes.idle / 2)
}
