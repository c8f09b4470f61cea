//! [`ToolTaskStore`] on SQLite: every change is one statement (or one `BEGIN IMMEDIATE`
//! transaction) on the single write connection, so changes are serialized and a claim is
//! atomic; reads use the read pool. Changes are published in process, after they commit:
//! a SQLite database has one server process.

use async_trait::async_trait;
use baton_store::rules::truncate_to_millis;
use baton_store::{
    Claim, NewToolTask, Progress, Quota, StoreError, ToolTask, ToolTaskId, ToolTaskOutcome,
    ToolTaskStatus, ToolTaskStore,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

use crate::SqliteStore;
use crate::error::{corrupt, db_err};
use crate::rows::{from_ms, ms};

/// The columns of `tool_tasks`, in the order [`tool_task_from_row`] reads them.
macro_rules! tool_task_columns {
    () => {
        "id, owner, tool, arguments, status, status_message, input_requests, input_responses, \
         asked_keys, checkpoint, outcome, poll_interval_ms, attempts, created_at, updated_at, \
         expires_at, lease_owner, lease_until"
    };
}

const SELECT: &str = concat!(
    "SELECT ",
    tool_task_columns!(),
    " FROM tool_tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3"
);

/// Inserts a task unless the owner already holds `?13` live ones.
const CREATE: &str = concat!(
    "INSERT INTO tool_tasks (id, owner, tool, arguments, status, status_message, \
       poll_interval_ms, created_at, updated_at, expires_at) \
     SELECT ?1, ?2, ?3, ?4, 'working', ?5, ?6, ?7, ?7, ?8 \
     WHERE (SELECT count(*) FROM tool_tasks WHERE owner = ?2 AND expires_at > ?7) < ?9 \
     RETURNING ",
    tool_task_columns!()
);

const CLAIM: &str = concat!(
    "UPDATE tool_tasks SET attempts = attempts + 1, lease_owner = ?1, lease_until = ?2 \
     WHERE id = (SELECT id FROM tool_tasks \
                 WHERE status = 'working' AND expires_at > ?3 \
                   AND (lease_until IS NULL OR lease_until <= ?3) \
                 ORDER BY created_at, id LIMIT 1) \
     RETURNING ",
    tool_task_columns!()
);

/// The condition of every write of a claim's holder (`?1` id, `?2` attempt, `?3` worker,
/// `?4` now).
macro_rules! held {
    () => {
        " WHERE id = ?1 AND attempts = ?2 AND lease_owner = ?3 AND status = 'working' \
          AND expires_at > ?4"
    };
}

const RENEW: &str = concat!("UPDATE tool_tasks SET lease_until = ?5", held!());

const PROGRESS: &str = concat!(
    "UPDATE tool_tasks SET status_message = coalesce(?5, status_message), \
       checkpoint = coalesce(?6, checkpoint), updated_at = ?4",
    held!()
);

const ASK: &str = concat!(
    "UPDATE tool_tasks SET status = 'input_required', input_requests = ?5, asked_keys = ?6, \
       status_message = coalesce(?7, status_message), checkpoint = coalesce(?8, checkpoint), \
       lease_owner = NULL, lease_until = NULL, updated_at = ?4",
    held!()
);

const FINISH: &str = concat!(
    "UPDATE tool_tasks SET status = ?5, outcome = ?6, lease_owner = NULL, lease_until = NULL, \
       input_requests = '{}', updated_at = ?4",
    held!()
);

const CANCEL: &str = concat!(
    "UPDATE tool_tasks SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, \
       input_requests = '{}', updated_at = ?3 \
     WHERE id = ?1 AND owner = ?2 AND expires_at > ?3 \
       AND status IN ('working', 'input_required') \
     RETURNING ",
    tool_task_columns!()
);

const ANSWER: &str = "UPDATE tool_tasks SET input_requests = ?2, input_responses = ?3, \
       status = ?4, updated_at = ?5 WHERE id = ?1";

const SWEEP: &str = "DELETE FROM tool_tasks WHERE id IN \
     (SELECT id FROM tool_tasks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)";

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn parse_json(text: &str, column: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(column))
}

fn parse_object(text: &str, column: &str) -> Result<Map<String, Value>, StoreError> {
    match parse_json(text, column)? {
        Value::Object(map) => Ok(map),
        _ => Err(corrupt(column)),
    }
}

/// A task with its lease holder and deadline (milliseconds).
type Leased = (ToolTask, Option<String>, Option<i64>);

/// A task, and its lease holder and deadline, from a row of [`tool_task_columns`].
fn tool_task_from_row(row: &SqliteRow) -> Result<Leased, StoreError> {
    let get_err = db_err("read tool task");
    let text = |i: usize| -> Result<String, StoreError> { row.try_get(i).map_err(&get_err) };
    let opt_text =
        |i: usize| -> Result<Option<String>, StoreError> { row.try_get(i).map_err(&get_err) };
    let int = |i: usize| -> Result<i64, StoreError> { row.try_get(i).map_err(&get_err) };
    let id: Vec<u8> = row.try_get(0).map_err(&get_err)?;
    let asked: Vec<String> = serde_json::from_str(&text(8)?).map_err(|_| corrupt("asked_keys"))?;
    let task = ToolTask {
        id: ToolTaskId::from_slice(&id).ok_or_else(|| corrupt("id"))?,
        owner: text(1)?,
        tool: text(2)?,
        arguments: parse_json(&text(3)?, "arguments")?,
        status: ToolTaskStatus::parse(&text(4)?).ok_or_else(|| corrupt("status"))?,
        status_message: opt_text(5)?,
        input_requests: parse_object(&text(6)?, "input_requests")?,
        input_responses: parse_object(&text(7)?, "input_responses")?,
        asked_keys: asked,
        checkpoint: opt_text(9)?
            .map(|t| parse_json(&t, "checkpoint"))
            .transpose()?,
        outcome: opt_text(10)?
            .map(|t| parse_json(&t, "outcome"))
            .transpose()?,
        poll_interval_ms: u32::try_from(int(11)?).map_err(|_| corrupt("poll_interval_ms"))?,
        attempts: u32::try_from(int(12)?).map_err(|_| corrupt("attempts"))?,
        created_at: from_ms(int(13)?)?,
        updated_at: from_ms(int(14)?)?,
        expires_at: from_ms(int(15)?)?,
    };
    Ok((task, opt_text(16)?, row.try_get(17).map_err(&get_err)?))
}

impl SqliteStore {
    fn published(&self, id: ToolTaskId) {
        // No receiver is not an error: nobody is subscribed.
        let _ = self.tool_task_changes.send(id);
    }

    /// Runs a write of `claim`'s holder: `statement` with the [`held`] parameters first,
    /// then `extra`; whether it applied.
    async fn held_write(
        &self,
        op: &'static str,
        claim: &Claim,
        now: DateTime<Utc>,
        statement: &'static str,
        extra: impl FnOnce(
            sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'static>>,
        ) -> sqlx::query::Query<
            'static,
            sqlx::Sqlite,
            sqlx::sqlite::SqliteArguments<'static>,
        >,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(statement)
            .bind(claim.id().as_bytes().to_vec())
            .bind(i64::from(claim.attempt()))
            .bind(claim.worker.clone())
            .bind(ms(now));
        let done = extra(query)
            .execute(&self.write)
            .await
            .map_err(db_err(op))?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl ToolTaskStore for SqliteStore {
    async fn create_tool_task(
        &self,
        new: NewToolTask,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let now = truncate_to_millis(now);
        let row = sqlx::query(CREATE)
            .bind(new.id.as_bytes().to_vec())
            .bind(&new.owner)
            .bind(&new.tool)
            .bind(json_text(&new.arguments))
            .bind(&new.status_message)
            .bind(i64::from(new.poll_interval_ms))
            .bind(ms(now))
            .bind(ms(now + new.ttl))
            .bind(i64::try_from(new.max_live).unwrap_or(i64::MAX))
            .fetch_optional(&self.write)
            .await
            .map_err(db_err("create tool task"))?;
        let Some(row) = row else {
            return Err(StoreError::quota_exceeded(Quota::LiveToolTasks {
                limit: new.max_live,
            }));
        };
        let (task, _, _) = tool_task_from_row(&row)?;
        self.published(task.id);
        Ok(task)
    }

    async fn tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let row = sqlx::query(SELECT)
            .bind(id.as_bytes().to_vec())
            .bind(owner)
            .bind(ms(now))
            .fetch_optional(&self.read)
            .await
            .map_err(db_err("read tool task"))?
            .ok_or_else(StoreError::tool_task_not_found)?;
        Ok(tool_task_from_row(&row)?.0)
    }

    async fn cancel_tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let row = sqlx::query(CANCEL)
            .bind(id.as_bytes().to_vec())
            .bind(owner)
            .bind(ms(truncate_to_millis(now)))
            .fetch_optional(&self.write)
            .await
            .map_err(db_err("cancel tool task"))?;
        match row {
            Some(row) => {
                let (task, _, _) = tool_task_from_row(&row)?;
                self.published(task.id);
                Ok(task)
            }
            // Final already, or not the owner's live task: read says which.
            None => self.tool_task(owner, id, now).await,
        }
    }

    async fn answer_tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        responses: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let now = truncate_to_millis(now);
        let err = db_err("answer tool task");
        let mut conn = self.write.acquire().await.map_err(&err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        let row = sqlx::query(SELECT)
            .bind(id.as_bytes().to_vec())
            .bind(owner)
            .bind(ms(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?
            .ok_or_else(StoreError::tool_task_not_found)?;
        let (mut task, _, _) = tool_task_from_row(&row)?;
        if task.status.is_final() || !baton_store::rules::take_answers(&mut task, responses) {
            return Ok(task);
        }
        task.updated_at = now;
        sqlx::query(ANSWER)
            .bind(id.as_bytes().to_vec())
            .bind(Value::Object(task.input_requests.clone()).to_string())
            .bind(Value::Object(task.input_responses.clone()).to_string())
            .bind(task.status.as_str())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        self.published(task.id);
        Ok(task)
    }

    async fn claim_tool_task(
        &self,
        worker: &str,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let now = truncate_to_millis(now);
        let row = sqlx::query(CLAIM)
            .bind(worker)
            .bind(ms(now + lease))
            .bind(ms(now))
            .fetch_optional(&self.write)
            .await
            .map_err(db_err("claim tool task"))?;
        let Some(row) = row else { return Ok(None) };
        let (task, lease_owner, lease_until) = tool_task_from_row(&row)?;
        Ok(Some(Claim {
            task,
            worker: lease_owner.ok_or_else(|| corrupt("lease_owner"))?,
            lease_until: from_ms(lease_until.ok_or_else(|| corrupt("lease_until"))?)?,
        }))
    }

    async fn renew_tool_task_lease(
        &self,
        claim: &Claim,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = ms(truncate_to_millis(now + lease));
        self.held_write("renew tool task lease", claim, now, RENEW, |q| {
            q.bind(until)
        })
        .await
    }

    async fn save_tool_task_progress(
        &self,
        claim: &Claim,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = truncate_to_millis(now);
        let checkpoint = progress.checkpoint.as_ref().map(json_text);
        let saved = self
            .held_write("save tool task progress", claim, now, PROGRESS, |q| {
                q.bind(progress.status_message).bind(checkpoint)
            })
            .await?;
        if saved {
            self.published(*claim.id());
        }
        Ok(saved)
    }

    async fn request_tool_task_input(
        &self,
        claim: &Claim,
        requests: &Map<String, Value>,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = truncate_to_millis(now);
        let mut asked = claim.task.asked_keys.clone();
        asked.extend(requests.keys().cloned());
        let asked = serde_json::to_string(&asked).map_err(|_| corrupt("asked_keys"))?;
        let requests = Value::Object(requests.clone()).to_string();
        let checkpoint = progress.checkpoint.as_ref().map(json_text);
        let asked_ok = self
            .held_write("request tool task input", claim, now, ASK, |q| {
                q.bind(requests)
                    .bind(asked)
                    .bind(progress.status_message)
                    .bind(checkpoint)
            })
            .await?;
        if asked_ok {
            self.published(*claim.id());
        }
        Ok(asked_ok)
    }

    async fn finish_tool_task(
        &self,
        claim: &Claim,
        outcome: ToolTaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = truncate_to_millis(now);
        let (status, value) = match &outcome {
            ToolTaskOutcome::Completed(v) => (ToolTaskStatus::Completed, v),
            ToolTaskOutcome::Failed(v) => (ToolTaskStatus::Failed, v),
        };
        let value = json_text(value);
        let finished = self
            .held_write("finish tool task", claim, now, FINISH, |q| {
                q.bind(status.as_str()).bind(value)
            })
            .await?;
        if finished {
            self.published(*claim.id());
        }
        Ok(finished)
    }

    async fn sweep_tool_tasks(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(SWEEP)
            .bind(ms(now))
            .bind(i64::from(batch))
            .execute(&self.write)
            .await
            .map_err(db_err("sweep tool tasks"))?;
        Ok(done.rows_affected())
    }

    fn tool_task_changes(&self) -> tokio::sync::broadcast::Receiver<ToolTaskId> {
        self.tool_task_changes.subscribe()
    }
}
