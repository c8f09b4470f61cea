//! [`ToolTaskStore`] on Postgres: claims with `FOR UPDATE SKIP LOCKED`, every other change
//! one conditional statement (answers: one short transaction), and every change a client
//! can see announced with `pg_notify` in the same statement, so it is delivered on commit.
//! Each instance listens on the channel with a connection of its own ([`ChangeFeed`]) and
//! relays the ids to its subscribers: a change made on one instance reaches the
//! subscribers of every instance.

use std::time::Duration;

use async_trait::async_trait;
use baton_store::rules::truncate_to_millis;
use baton_store::{
    Claim, NewToolTask, Progress, Quota, StoreError, ToolTask, ToolTaskId, ToolTaskOutcome,
    ToolTaskStatus, ToolTaskStore,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use tokio::sync::{broadcast, oneshot};

use crate::PostgresStore;
use crate::error::{corrupt, from_sqlx};

/// The notification channel; its payload is the task id in hex.
pub(crate) const CHANNEL: &str = "baton_tool_tasks";

/// How many changes a slow subscriber may fall behind before it loses the oldest.
const BACKLOG: usize = 1024;

/// The columns of `tool_tasks`, in the order [`tool_task_from_row`] reads them.
macro_rules! columns {
    () => {
        "id, owner, tool, arguments::text, status, status_message, input_requests::text, \
         input_responses::text, asked_keys::text, checkpoint::text, outcome::text, \
         poll_interval_ms, attempts, created_at, updated_at, expires_at, lease_owner, lease_until"
    };
}

/// Announces the rows of CTE `u` and returns their columns.
macro_rules! notify_and_return {
    () => {
        " SELECT u.id, u.owner, u.tool, u.arguments::text, u.status, u.status_message, \
           u.input_requests::text, u.input_responses::text, u.asked_keys::text, \
           u.checkpoint::text, u.outcome::text, u.poll_interval_ms, u.attempts, u.created_at, \
           u.updated_at, u.expires_at, u.lease_owner, u.lease_until, \
           pg_notify('baton_tool_tasks', encode(u.id, 'hex')) FROM u"
    };
}

const SELECT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tool_tasks WHERE id = $1 AND owner = $2 AND expires_at > $3"
);

/// Inserts a task unless the owner already holds `$9` live ones.
const CREATE: &str = concat!(
    "WITH u AS (INSERT INTO tool_tasks (id, owner, tool, arguments, status, status_message, \
       poll_interval_ms, created_at, updated_at, expires_at) \
     SELECT $1, $2, $3, $4::jsonb, 'working', $5, $6, $7, $7, $8 \
     WHERE (SELECT count(*) FROM tool_tasks WHERE owner = $2 AND expires_at > $7) < $9 \
     RETURNING *)",
    notify_and_return!()
);

const CLAIM: &str = concat!(
    "UPDATE tool_tasks SET attempts = attempts + 1, lease_owner = $1, lease_until = $2 \
     WHERE id = (SELECT id FROM tool_tasks \
                 WHERE status = 'working' AND expires_at > $3 \
                   AND (lease_until IS NULL OR lease_until <= $3) \
                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING ",
    columns!()
);

/// The condition of every write of a claim's holder (`$1` id, `$2` attempt, `$3` worker,
/// `$4` now).
macro_rules! held {
    () => {
        " WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND status = 'working' \
          AND expires_at > $4"
    };
}

const RENEW: &str = concat!("UPDATE tool_tasks SET lease_until = $5", held!());

const PROGRESS: &str = concat!(
    "WITH u AS (UPDATE tool_tasks SET status_message = coalesce($5, status_message), \
       checkpoint = coalesce($6::jsonb, checkpoint), updated_at = $4",
    held!(),
    " RETURNING *)",
    notify_and_return!()
);

const ASK: &str = concat!(
    "WITH u AS (UPDATE tool_tasks SET status = 'input_required', input_requests = $5::jsonb, \
       asked_keys = $6::jsonb, status_message = coalesce($7, status_message), \
       checkpoint = coalesce($8::jsonb, checkpoint), lease_owner = NULL, lease_until = NULL, \
       updated_at = $4",
    held!(),
    " RETURNING *)",
    notify_and_return!()
);

const FINISH: &str = concat!(
    "WITH u AS (UPDATE tool_tasks SET status = $5, outcome = $6::jsonb, lease_owner = NULL, \
       lease_until = NULL, input_requests = '{}', updated_at = $4",
    held!(),
    " RETURNING *)",
    notify_and_return!()
);

const CANCEL: &str = concat!(
    "WITH u AS (UPDATE tool_tasks SET status = 'cancelled', lease_owner = NULL, \
       lease_until = NULL, input_requests = '{}', updated_at = $3 \
     WHERE id = $1 AND owner = $2 AND expires_at > $3 \
       AND status IN ('working', 'input_required') RETURNING *)",
    notify_and_return!()
);

const ANSWER: &str = "UPDATE tool_tasks SET input_requests = $2::jsonb, \
       input_responses = $3::jsonb, status = $4, updated_at = $5 WHERE id = $1";

const SWEEP: &str = "DELETE FROM tool_tasks WHERE id IN \
     (SELECT id FROM tool_tasks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 \
      FOR UPDATE SKIP LOCKED)";

/// This instance's end of the change channel: a listener on a connection of its own,
/// relaying ids to a broadcast channel until the store is dropped or closed.
pub(crate) struct ChangeFeed {
    sender: broadcast::Sender<ToolTaskId>,
    pool: PgPool,
    // Dropped with the feed (the last clone of the store): stops the relay.
    _stop: oneshot::Sender<()>,
}

impl ChangeFeed {
    /// Connects, starts listening, and only then returns: a change committed after the
    /// store opened is seen.
    pub(crate) async fn start(
        options: &PgConnectOptions,
        acquire_timeout: Duration,
    ) -> Result<ChangeFeed, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(|e| from_sqlx("connect the change listener", e))?;
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| from_sqlx("connect the change listener", e))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| from_sqlx("listen for tool task changes", e))?;
        let (sender, _) = broadcast::channel(BACKLOG);
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(relay(listener, sender.clone(), stopped));
        Ok(ChangeFeed {
            sender,
            pool,
            _stop: stop,
        })
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ToolTaskId> {
        self.sender.subscribe()
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn relay(
    mut listener: PgListener,
    sender: broadcast::Sender<ToolTaskId>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let next = tokio::select! {
            _ = &mut stopped => return,
            next = listener.recv() => next,
        };
        match next {
            Ok(note) => match parse_hex_id(note.payload()) {
                Some(id) => {
                    let _ = sender.send(id);
                }
                None => tracing::warn!(
                    channel = CHANNEL,
                    "ignored a malformed tool task notification"
                ),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                // The listener reconnects on the next receive; changes made meanwhile are
                // not pushed (clients polling still see them).
                tracing::warn!(error = %e, "tool task change listener lost its connection; reconnecting");
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

fn parse_hex_id(text: &str) -> Option<ToolTaskId> {
    if text.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ToolTaskId::from_bytes(bytes))
}

fn parse_json(text: &str, column: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(format!("tool_tasks.{column}")))
}

fn parse_object(text: &str, column: &str) -> Result<Map<String, Value>, StoreError> {
    match parse_json(text, column)? {
        Value::Object(map) => Ok(map),
        _ => Err(corrupt(format!("tool_tasks.{column}"))),
    }
}

/// A task with its lease holder and deadline.
type Leased = (ToolTask, Option<String>, Option<DateTime<Utc>>);

/// A task, and its lease holder and deadline, from a row of [`columns`].
fn tool_task_from_row(row: &PgRow) -> Result<Leased, StoreError> {
    let err = |e| from_sqlx("read tool task", e);
    let text = |i: usize| -> Result<String, StoreError> { row.try_get(i).map_err(err) };
    let opt_text = |i: usize| -> Result<Option<String>, StoreError> { row.try_get(i).map_err(err) };
    let int = |i: usize| -> Result<i32, StoreError> { row.try_get(i).map_err(err) };
    let time = |i: usize| -> Result<DateTime<Utc>, StoreError> { row.try_get(i).map_err(err) };
    let id: Vec<u8> = row.try_get(0).map_err(err)?;
    let task = ToolTask {
        id: ToolTaskId::from_slice(&id).ok_or_else(|| corrupt("tool_tasks.id"))?,
        owner: text(1)?,
        tool: text(2)?,
        arguments: parse_json(&text(3)?, "arguments")?,
        status: ToolTaskStatus::parse(&text(4)?).ok_or_else(|| corrupt("tool_tasks.status"))?,
        status_message: opt_text(5)?,
        input_requests: parse_object(&text(6)?, "input_requests")?,
        input_responses: parse_object(&text(7)?, "input_responses")?,
        asked_keys: serde_json::from_str(&text(8)?)
            .map_err(|_| corrupt("tool_tasks.asked_keys"))?,
        checkpoint: opt_text(9)?
            .map(|t| parse_json(&t, "checkpoint"))
            .transpose()?,
        outcome: opt_text(10)?
            .map(|t| parse_json(&t, "outcome"))
            .transpose()?,
        poll_interval_ms: u32::try_from(int(11)?)
            .map_err(|_| corrupt("tool_tasks.poll_interval_ms"))?,
        attempts: u32::try_from(int(12)?).map_err(|_| corrupt("tool_tasks.attempts"))?,
        created_at: time(13)?,
        updated_at: time(14)?,
        expires_at: time(15)?,
    };
    Ok((task, opt_text(16)?, row.try_get(17).map_err(err)?))
}

fn attempt(claim: &Claim) -> Result<i32, StoreError> {
    i32::try_from(claim.attempt()).map_err(|_| corrupt("tool_tasks.attempts"))
}

impl PostgresStore {
    /// Runs a write of `claim`'s holder whose SQL is `statement` (the [`held`] parameters
    /// first, then `extra`'s); whether it applied.
    async fn held_write<'q>(
        &self,
        op: &'static str,
        claim: &'q Claim,
        now: DateTime<Utc>,
        statement: &'static str,
        extra: impl FnOnce(
            sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        )
            -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(statement)
            .bind(claim.id().as_bytes().as_slice())
            .bind(attempt(claim)?)
            .bind(claim.worker.as_str())
            .bind(now);
        let rows = extra(query)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx(op, e))?;
        Ok(rows.len() == 1)
    }
}

#[async_trait]
impl ToolTaskStore for PostgresStore {
    async fn create_tool_task(
        &self,
        new: NewToolTask,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let now = truncate_to_millis(now);
        let row = sqlx::query(CREATE)
            .bind(new.id.as_bytes().as_slice())
            .bind(&new.owner)
            .bind(&new.tool)
            .bind(new.arguments.to_string())
            .bind(&new.status_message)
            .bind(i32::try_from(new.poll_interval_ms).unwrap_or(i32::MAX))
            .bind(now)
            .bind(truncate_to_millis(now + new.ttl))
            .bind(i64::try_from(new.max_live).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("create tool task", e))?;
        match row {
            Some(row) => Ok(tool_task_from_row(&row)?.0),
            None => Err(StoreError::quota_exceeded(Quota::LiveToolTasks {
                limit: new.max_live,
            })),
        }
    }

    async fn tool_task(
        &self,
        owner: &str,
        id: &ToolTaskId,
        now: DateTime<Utc>,
    ) -> Result<ToolTask, StoreError> {
        let row = sqlx::query(SELECT)
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("read tool task", e))?
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
            .bind(id.as_bytes().as_slice())
            .bind(owner)
            .bind(truncate_to_millis(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("cancel tool task", e))?;
        match row {
            Some(row) => Ok(tool_task_from_row(&row)?.0),
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
        let err = |e| from_sqlx("answer tool task", e);
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let mut tx = conn.begin().await.map_err(err)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tool_tasks WHERE id = $1 AND owner = $2 AND expires_at > $3 FOR UPDATE"
        ))
        .bind(id.as_bytes().as_slice())
        .bind(owner)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?
        .ok_or_else(StoreError::tool_task_not_found)?;
        let (mut task, _, _) = tool_task_from_row(&row)?;
        if task.status.is_final() || !baton_store::rules::take_answers(&mut task, responses) {
            return Ok(task);
        }
        task.updated_at = now;
        sqlx::query(ANSWER)
            .bind(id.as_bytes().as_slice())
            .bind(Value::Object(task.input_requests.clone()).to_string())
            .bind(Value::Object(task.input_responses.clone()).to_string())
            .bind(task.status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("SELECT pg_notify($1, encode($2, 'hex'))")
            .bind(CHANNEL)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
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
            .bind(truncate_to_millis(now + lease))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("claim tool task", e))?;
        let Some(row) = row else { return Ok(None) };
        let (task, lease_owner, lease_until) = tool_task_from_row(&row)?;
        Ok(Some(Claim {
            task,
            worker: lease_owner.ok_or_else(|| corrupt("tool_tasks.lease_owner"))?,
            lease_until: lease_until.ok_or_else(|| corrupt("tool_tasks.lease_until"))?,
        }))
    }

    async fn renew_tool_task_lease(
        &self,
        claim: &Claim,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = truncate_to_millis(now + lease);
        let done = sqlx::query(RENEW)
            .bind(claim.id().as_bytes().as_slice())
            .bind(attempt(claim)?)
            .bind(claim.worker.as_str())
            .bind(now)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("renew tool task lease", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_tool_task_progress(
        &self,
        claim: &Claim,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let checkpoint = progress.checkpoint.as_ref().map(Value::to_string);
        self.held_write(
            "save tool task progress",
            claim,
            truncate_to_millis(now),
            PROGRESS,
            |q| q.bind(progress.status_message).bind(checkpoint),
        )
        .await
    }

    async fn request_tool_task_input(
        &self,
        claim: &Claim,
        requests: &Map<String, Value>,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut asked = claim.task.asked_keys.clone();
        asked.extend(requests.keys().cloned());
        let asked = Value::from(asked).to_string();
        let requests = Value::Object(requests.clone()).to_string();
        let checkpoint = progress.checkpoint.as_ref().map(Value::to_string);
        self.held_write(
            "request tool task input",
            claim,
            truncate_to_millis(now),
            ASK,
            |q| {
                q.bind(requests)
                    .bind(asked)
                    .bind(progress.status_message)
                    .bind(checkpoint)
            },
        )
        .await
    }

    async fn finish_tool_task(
        &self,
        claim: &Claim,
        outcome: ToolTaskOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (status, value) = match &outcome {
            ToolTaskOutcome::Completed(v) => (ToolTaskStatus::Completed, v),
            ToolTaskOutcome::Failed(v) => (ToolTaskStatus::Failed, v),
        };
        let value = value.to_string();
        self.held_write(
            "finish tool task",
            claim,
            truncate_to_millis(now),
            FINISH,
            |q| q.bind(status.as_str()).bind(value),
        )
        .await
    }

    async fn sweep_tool_tasks(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(SWEEP)
            .bind(now)
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("sweep tool tasks", e))?;
        Ok(done.rows_affected())
    }

    fn tool_task_changes(&self) -> broadcast::Receiver<ToolTaskId> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads_parse_as_ids() {
        let id = ToolTaskId::from_bytes([0xab; 16]);
        assert_eq!(parse_hex_id(&"ab".repeat(16)), Some(id));
        assert_eq!(parse_hex_id("ab"), None);
        assert_eq!(parse_hex_id(&"zz".repeat(16)), None);
        assert_eq!(parse_hex_id(&"é".repeat(16)), None);
    }
}
