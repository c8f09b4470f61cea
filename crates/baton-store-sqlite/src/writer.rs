//! Group commit: one Tokio task owns the research-task writes (`start`,
//! `append_findings`, `complete`, `cancel`, and the expiry refresh of a read).
//!
//! Callers send a [`Job`] over a channel and wait for its reply. The writer takes every job
//! queued (at most [`MAX_BATCH`]), acquires the write connection once and runs them, in
//! arrival order, inside one `BEGIN IMMEDIATE … COMMIT`; it replies to all of them only after
//! the `COMMIT` succeeded, so an acknowledged write is as durable as before.
//!
//! Each job is all-or-nothing on its own: its conditional statement either changes nothing
//! (the job is refused — not found, wrong status, too many findings, idempotency conflict —
//! and the others go on) or it changes everything the job needs. Should a statement fail
//! with an error (which could leave part of a job in the transaction), the whole batch is
//! rolled back — nothing of it was committed — and its jobs run again one by one, each in
//! its own transaction, so one job's failure never fails the others. Should the batch's
//! `COMMIT` fail, every job in it gets that error, as a lone job would: it is not retried,
//! since a failed `COMMIT` is not a promise that nothing landed.

use baton_store::rules::{Observed, expiry_after_write, explain_refusal};
use baton_store::rules::{as_db_limit, can_never_fit};
use baton_store::{
    Appended, FindingLimits, Lifetimes, NewResearchTask, Quota, ResearchStatus, ResearchTask,
    ResearchTaskId, StartOutcome, StoreError,
};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Connection, Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use crate::error::{corrupt, db_err};
use crate::rows::{from_ms, ms, t_task_columns, task_columns, task_from_row, task_from_row_at};

/// The most jobs one transaction carries.
pub(crate) const MAX_BATCH: usize = 64;

/// Jobs waiting for the writer; senders wait when it is full.
pub(crate) const QUEUE: usize = 1024;

/// A task write.
pub(crate) enum Op {
    Start(NewResearchTask),
    /// Append `n` findings of `bytes` bytes (`json`, a JSON array of strings, when `n > 0`)
    /// within `limits` and, when `complete`, complete the task; with `key`, once per
    /// (task, key): `(key, digest of the findings)`.
    Findings {
        owner: String,
        id: ResearchTaskId,
        json: String,
        n: usize,
        bytes: u64,
        limits: FindingLimits,
        complete: bool,
        key: Option<(String, [u8; 32])>,
    },
    Cancel {
        owner: String,
        id: ResearchTaskId,
    },
    /// Push a live task's idle deadline forward to `expires_ms` (never backward), for a read.
    Refresh {
        owner: String,
        id: ResearchTaskId,
        expires_ms: i64,
    },
}

impl Op {
    /// Ops made of one statement are atomic without a transaction.
    fn single_statement(&self) -> bool {
        match self {
            // The start checks the owner's quota and counts the task in the usage row.
            Op::Start(_) => false,
            Op::Findings { n, key, .. } => *n == 0 && key.is_none(),
            Op::Cancel { .. } | Op::Refresh { .. } => true,
        }
    }
}

/// What a job gives back.
pub(crate) enum Done {
    Started(StartOutcome),
    Task(ResearchTask),
    Appended(Appended),
    /// The stored deadline after a refresh; `None` when the task was no longer live.
    Refreshed(Option<i64>),
}

/// A write, its time and where to send the outcome.
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) now_ms: i64,
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What the writer needs besides its jobs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) lifetimes: Lifetimes,
}

impl Config {
    /// The idle deadline of a task written at `now_ms`, in milliseconds; the statements cap
    /// it by the task's `hard_expires_at` ([`expiry_after_write`]'s second half).
    fn idle_deadline_ms(&self, now_ms: i64) -> Result<i64, StoreError> {
        let now = from_ms(now_ms)?;
        let uncapped = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        Ok(ms(expiry_after_write(now, uncapped, &self.lifetimes)))
    }
}

/// One op run on a connection: `Ok(Ok(_))` done, `Ok(Err(_))` refused with nothing written,
/// `Err(_)` a statement failed and part of the op may be in the transaction.
type OpResult = Result<Result<Done, StoreError>, StoreError>;

/// What the writer has done since the store was opened.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Batches run.
    pub(crate) batches: std::sync::atomic::AtomicU64,
    /// Jobs those batches carried.
    pub(crate) writes: std::sync::atomic::AtomicU64,
}

/// The writer: runs until every sender is gone.
pub(crate) async fn run(
    pool: SqlitePool,
    cfg: Config,
    mut rx: mpsc::Receiver<Job>,
    counts: std::sync::Arc<Counts>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        counts.batches.fetch_add(1, Relaxed);
        counts.writes.fetch_add(jobs.len() as u64, Relaxed);
        run_batch(&pool, cfg, &mut jobs).await;
        jobs.clear();
    }
}

fn copy_err(e: &StoreError) -> StoreError {
    StoreError::new(e.kind().clone(), e.to_string())
}

fn fail_all(jobs: &mut Vec<Job>, err: StoreError) {
    for job in jobs.drain(..) {
        let _ = job.reply.send(Err(copy_err(&err)));
    }
}

/// Runs `jobs` and answers every one of them.
async fn run_batch(pool: &SqlitePool, cfg: Config, jobs: &mut Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(jobs, db_err("acquire")(e)),
    };
    if jobs.len() > 1 && run_together(&mut conn, cfg, jobs).await {
        return;
    }
    for job in jobs.drain(..) {
        let result = run_alone(&mut conn, cfg, &job).await;
        let _ = job.reply.send(result);
    }
}

/// Runs `jobs` in one transaction. Returns false, with the transaction rolled back and no
/// job answered, when a statement failed; true when every job was answered.
async fn run_together(conn: &mut PoolConnection<Sqlite>, cfg: Config, jobs: &mut Vec<Job>) -> bool {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(jobs, db_err("begin")(e));
            return true;
        }
    };
    let mut results = Vec::with_capacity(jobs.len());
    let mut failed = None;
    for job in jobs.iter() {
        match run_op(&mut tx, cfg, job).await {
            Ok(result) => results.push(result),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        tracing::debug!(error = %e, "a write failed in a batch; running the batch's writes one by one");
        if tx.rollback().await.is_err() {
            // The connection's transaction state is unknown: replace it, and fail the batch.
            conn.close_on_drop();
            fail_all(jobs, e);
        }
        // Answered (all failed) if the rollback failed; else run them one by one.
        return jobs.is_empty();
    }
    match tx.commit().await {
        Ok(()) => {
            for (job, result) in jobs.drain(..).zip(results) {
                let _ = job.reply.send(result);
            }
        }
        Err(e) => {
            conn.close_on_drop();
            fail_all(jobs, db_err("commit")(e));
        }
    }
    true
}

/// Runs one job in its own transaction (none for a single statement).
async fn run_alone(
    conn: &mut PoolConnection<Sqlite>,
    cfg: Config,
    job: &Job,
) -> Result<Done, StoreError> {
    if job.op.single_statement() {
        return run_op(conn, cfg, job).await.unwrap_or_else(Err);
    }
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err("begin"))?;
    let result = run_op(&mut tx, cfg, job).await;
    match result {
        Ok(Ok(done)) => match tx.commit().await {
            Ok(()) => Ok(done),
            Err(e) => {
                conn.close_on_drop();
                Err(db_err("commit")(e))
            }
        },
        Ok(Err(e)) | Err(e) => {
            if tx.rollback().await.is_err() {
                conn.close_on_drop();
            }
            Err(e)
        }
    }
}

async fn run_op(conn: &mut SqliteConnection, cfg: Config, job: &Job) -> OpResult {
    let now_ms = job.now_ms;
    match &job.op {
        Op::Start(new) => start(conn, cfg, new, now_ms).await,
        Op::Findings {
            owner,
            id,
            json,
            n,
            bytes,
            limits,
            complete,
            key,
        } => {
            let (n, bytes, limits) = (*n, *bytes, *limits);
            if let Some((key, digest)) = key
                && let Some(replayed) = replay_append(conn, owner, id, key, digest, now_ms).await?
            {
                return Ok(replayed);
            }
            // A batch that can never fit skips the change: the explanation then reports
            // NotFound and WrongStatus ahead of the limits, as the contract orders them.
            if can_never_fit(n, bytes, limits) {
                return Ok(Err(refusal(conn, owner, id, now_ms, n, bytes, limits).await));
            }
            // The INSERT runs first under the UPDATE's own condition (the same rows, unchanged
            // in between: this is the only writer), so both change something or neither does.
            // ?9 bytes, ?10 the owner's byte quota.
            const FITS: &str = "AND coalesce((SELECT u.stored_bytes FROM research_usage AS u \
                 WHERE u.owner = ?6), 0) + ?9 <= ?10 ";
            let sql = if n > 0 {
                format!(
                    "INSERT INTO research_findings (task_id, idx, text) \
                     SELECT ?5, t.findings_count + 1 + j.key, j.value \
                     FROM research_tasks AS t, json_each(?8) AS j \
                     WHERE t.id = ?5 AND t.owner = ?6 AND t.expires_at > ?3 \
                     AND t.status = 'running' AND t.findings_count + ?1 <= ?7 {FITS}; \
                     UPDATE research_tasks SET findings_count = findings_count + ?1, \
                     stored_bytes = stored_bytes + ?9, \
                     status = CASE WHEN ?2 THEN 'complete' ELSE status END, \
                     updated_at = ?3, expires_at = min(?4, hard_expires_at) \
                     WHERE id = ?5 AND owner = ?6 AND expires_at > ?3 AND status = 'running' \
                     AND findings_count + ?1 <= ?7 {FITS}RETURNING {}",
                    task_columns!()
                )
            } else {
                concat!(
                    "UPDATE research_tasks SET ",
                    "status = CASE WHEN ?2 THEN 'complete' ELSE status END, ",
                    "updated_at = ?3, expires_at = min(?4, hard_expires_at) ",
                    "WHERE id = ?5 AND owner = ?6 AND expires_at > ?3 AND status = 'running' ",
                    "AND findings_count + ?1 <= ?7 RETURNING ",
                    task_columns!()
                )
                .to_owned()
            };
            let mut query = sqlx::query(&sql)
                .bind(n as i64)
                .bind(*complete)
                .bind(now_ms)
                .bind(cfg.idle_deadline_ms(now_ms)?)
                .bind(&id.as_bytes()[..])
                .bind(owner.as_str())
                .bind(i64::from(limits.per_task));
            if n > 0 {
                query = query
                    .bind(json.as_str())
                    .bind(as_db_limit(bytes))
                    .bind(as_db_limit(limits.owner_bytes));
            }
            let row = query
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err("update task"))?;
            let Some(row) = row else {
                return Ok(Err(refusal(conn, owner, id, now_ms, n, bytes, limits).await));
            };
            // Written: from here on a failure is a failure of the op, not a refusal.
            let task = task_from_row(&row)?;
            if bytes > 0 {
                sqlx::query(
                    "UPDATE research_usage SET stored_bytes = stored_bytes + ?2 WHERE owner = ?1",
                )
                .bind(owner.as_str())
                .bind(as_db_limit(bytes))
                .execute(&mut *conn)
                .await
                .map_err(db_err("count stored bytes"))?;
            }
            if let Some((key, digest)) = key {
                sqlx::query(
                    "INSERT INTO research_append_keys (task_id, key, digest, last_index) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(&id.as_bytes()[..])
                .bind(key.as_str())
                .bind(&digest[..])
                .bind(i64::from(task.findings_count))
                .execute(&mut *conn)
                .await
                .map_err(db_err("store append key"))?;
            }
            if *complete {
                return Ok(Ok(Done::Task(task)));
            }
            Ok(Ok(Done::Appended(Appended {
                last_index: task.findings_count,
                task,
                replayed: false,
            })))
        }
        Op::Cancel { owner, id } => {
            let row = sqlx::query(concat!(
                "UPDATE research_tasks SET status = 'cancelled', updated_at = ?1, ",
                "expires_at = min(?2, hard_expires_at) ",
                "WHERE id = ?3 AND owner = ?4 AND expires_at > ?1 AND status = 'running' RETURNING ",
                task_columns!()
            ))
            .bind(now_ms)
            .bind(cfg.idle_deadline_ms(now_ms)?)
            .bind(&id.as_bytes()[..])
            .bind(owner.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("cancel task"))?;
            match row {
                Some(row) => task_from_row(&row).map(|t| Ok(Done::Task(t))),
                None => {
                    let limits = FindingLimits::per_task(u32::MAX);
                    Ok(Err(refusal(conn, owner, id, now_ms, 0, 0, limits).await))
                }
            }
        }
        Op::Refresh {
            owner,
            id,
            expires_ms,
        } => {
            let stored: Option<i64> = sqlx::query_scalar(
                "UPDATE research_tasks SET expires_at = max(expires_at, min(?1, hard_expires_at)) \
                 WHERE id = ?2 AND owner = ?3 AND expires_at > ?4 RETURNING expires_at",
            )
            .bind(expires_ms)
            .bind(&id.as_bytes()[..])
            .bind(owner.as_str())
            .bind(now_ms)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("refresh task expiry"))?;
            Ok(Ok(Done::Refreshed(stored)))
        }
    }
}

/// Why a conditional change matched nothing ([`explain_refusal`]). The writer is the only
/// one writing, inside this transaction, so "nothing is wrong" cannot be a race: it is a
/// bug, reported as such.
async fn refusal(
    conn: &mut SqliteConnection,
    owner: &str,
    id: &ResearchTaskId,
    now_ms: i64,
    adding: usize,
    adding_bytes: u64,
    limits: FindingLimits,
) -> StoreError {
    let row = sqlx::query(
        "SELECT t.status, t.findings_count, \
         coalesce((SELECT u.stored_bytes FROM research_usage AS u WHERE u.owner = ?2), 0) \
         FROM research_tasks AS t WHERE t.id = ?1 AND t.owner = ?2 AND t.expires_at > ?3",
    )
    .bind(&id.as_bytes()[..])
    .bind(owner)
    .bind(now_ms)
    .fetch_optional(conn)
    .await;
    let observed = match row {
        Ok(None) => None,
        Ok(Some(row)) => {
            let status: String = match row.try_get(0) {
                Ok(s) => s,
                Err(e) => return db_err("read task")(e),
            };
            let count: i64 = match row.try_get(1) {
                Ok(c) => c,
                Err(e) => return db_err("read task")(e),
            };
            let Some(status) = ResearchStatus::parse(&status) else {
                return corrupt("status");
            };
            let Ok(findings_count) = u32::try_from(count) else {
                return corrupt("findings_count");
            };
            let owner_bytes: i64 = match row.try_get(2) {
                Ok(b) => b,
                Err(e) => return db_err("read usage")(e),
            };
            Some(Observed {
                status,
                findings_count,
                owner_bytes: u64::try_from(owner_bytes).unwrap_or(0),
            })
        }
        Err(e) => return db_err("read task")(e),
    };
    match explain_refusal(observed, adding, adding_bytes, limits) {
        Err(refused) => refused,
        Ok(()) => StoreError::new(
            baton_store::StoreErrorKind::Internal,
            "sqlite: a conditional change on a running task matched nothing",
        ),
    }
}

/// The outcome of an earlier append with `key` to this live task of `owner`'s: a replay when
/// `digest` matches, a conflict when it does not; `None` when the key is unused.
async fn replay_append(
    conn: &mut SqliteConnection,
    owner: &str,
    id: &ResearchTaskId,
    key: &str,
    digest: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Result<Done, StoreError>>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT k.digest, k.last_index, ",
        t_task_columns!(),
        " FROM research_append_keys AS k JOIN research_tasks AS t ON t.id = k.task_id \
         WHERE k.task_id = ?1 AND k.key = ?2 AND t.owner = ?3 AND t.expires_at > ?4"
    ))
    .bind(&id.as_bytes()[..])
    .bind(key)
    .bind(owner)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err("read append key"))?;
    let Some(row) = row else { return Ok(None) };
    let stored: Vec<u8> = row.try_get(0).map_err(db_err("read append key"))?;
    if stored.as_slice() != digest.as_slice() {
        return Ok(Some(Err(StoreError::idempotency_conflict())));
    }
    let last_index: i64 = row.try_get(1).map_err(db_err("read append key"))?;
    let task = task_from_row_at(&row, 2)?;
    Ok(Some(Ok(Done::Appended(Appended {
        task,
        last_index: u32::try_from(last_index).map_err(|_| corrupt("last_index"))?,
        replayed: true,
    }))))
}

async fn start(
    conn: &mut SqliteConnection,
    cfg: Config,
    new: &NewResearchTask,
    now_ms: i64,
) -> OpResult {
    if let Some(key) = &new.idempotency_key {
        let bound = sqlx::query(
            "SELECT task_id, topic, depth FROM research_idempotency_keys WHERE owner = ?1 AND key = ?2",
        )
        .bind(&new.owner)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err("read idempotency key"))?;
        if let Some(bound) = bound {
            let task_id: Vec<u8> = bound.try_get(0).map_err(db_err("read idempotency key"))?;
            let topic: String = bound.try_get(1).map_err(db_err("read idempotency key"))?;
            let depth: i64 = bound.try_get(2).map_err(db_err("read idempotency key"))?;
            let live = sqlx::query(concat!(
                "SELECT ",
                task_columns!(),
                " FROM research_tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3"
            ))
            .bind(&task_id)
            .bind(&new.owner)
            .bind(now_ms)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("read task"))?;
            match live {
                Some(row) => {
                    if topic != new.topic || depth != i64::from(new.depth) {
                        return Ok(Err(StoreError::idempotency_conflict()));
                    }
                    return Ok(task_from_row(&row).map(|task| {
                        Done::Started(StartOutcome {
                            task,
                            replayed: true,
                        })
                    }));
                }
                None => {
                    // The key's task expired: the key is free again.
                    sqlx::query(
                        "DELETE FROM research_idempotency_keys WHERE owner = ?1 AND key = ?2",
                    )
                    .bind(&new.owner)
                    .bind(key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err("free idempotency key"))?;
                }
            }
        }
    }
    let live: Option<i64> =
        sqlx::query_scalar("SELECT live_tasks FROM research_usage WHERE owner = ?1")
            .bind(&new.owner)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("read usage"))?;
    if u64::try_from(live.unwrap_or(0)).unwrap_or(0) >= new.max_live_tasks {
        return Ok(Err(StoreError::quota_exceeded(Quota::LiveTasks {
            limit: new.max_live_tasks,
        })));
    }
    let now = from_ms(now_ms)?;
    let hard = baton_store::rules::hard_expiry(now, &cfg.lifetimes);
    let expires = expiry_after_write(now, hard, &cfg.lifetimes);
    // Every column is known: build the task instead of reading it back.
    let task = ResearchTask {
        id: new.id,
        owner: new.owner.clone(),
        topic: new.topic.clone(),
        depth: new.depth,
        status: ResearchStatus::Running,
        findings_count: 0,
        created_at: now,
        updated_at: now,
        expires_at: expires,
        hard_expires_at: hard,
    };
    let sql = if new.idempotency_key.is_some() {
        concat!(
            "INSERT INTO research_tasks (",
            task_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, 'running', 0, ?5, ?5, ?6, ?7); ",
            "INSERT INTO research_usage (owner, live_tasks, stored_bytes) VALUES (?2, 1, 0) ",
            "ON CONFLICT (owner) DO UPDATE SET live_tasks = live_tasks + 1; ",
            "INSERT INTO research_idempotency_keys (owner, key, task_id, topic, depth) ",
            "VALUES (?2, ?8, ?1, ?3, ?4)"
        )
    } else {
        concat!(
            "INSERT INTO research_tasks (",
            task_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, 'running', 0, ?5, ?5, ?6, ?7); ",
            "INSERT INTO research_usage (owner, live_tasks, stored_bytes) VALUES (?2, 1, 0) ",
            "ON CONFLICT (owner) DO UPDATE SET live_tasks = live_tasks + 1"
        )
    };
    let mut query = sqlx::query(sql)
        .bind(&new.id.as_bytes()[..])
        .bind(&new.owner)
        .bind(&new.topic)
        .bind(i64::from(new.depth))
        .bind(now_ms)
        .bind(ms(expires))
        .bind(ms(hard));
    if let Some(key) = &new.idempotency_key {
        query = query.bind(key);
    }
    query
        .execute(&mut *conn)
        .await
        .map_err(db_err("insert task"))?;
    Ok(Ok(Done::Started(StartOutcome {
        task,
        replayed: false,
    })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{SqliteOptions, SqliteStore};
    use baton_store::ResearchStore;
    use baton_store::StoreErrorKind;
    use chrono::Utc;

    fn new_task(n: u8, key: Option<&str>, topic: &str) -> NewResearchTask {
        NewResearchTask {
            id: ResearchTaskId::from_bytes([n; 16]),
            owner: "alice".into(),
            topic: topic.into(),
            depth: 1,
            idempotency_key: key.map(Into::into),
            max_live_tasks: u64::MAX,
        }
    }

    fn findings(id: u8, texts: &[&str], max_total: u32, complete: bool) -> Op {
        Op::Findings {
            owner: "alice".into(),
            id: ResearchTaskId::from_bytes([id; 16]),
            json: serde_json::to_string(texts).unwrap(),
            n: texts.len(),
            bytes: texts.iter().map(|t| t.len() as u64).sum(),
            limits: FindingLimits::per_task(max_total),
            complete,
            key: None,
        }
    }

    /// Runs `ops` as one batch, as the writer would, and returns their outcomes in order.
    async fn batch(store: &SqliteStore, ops: Vec<Op>) -> Vec<Result<Done, StoreError>> {
        let cfg = Config {
            lifetimes: store.options.lifetimes,
        };
        let now_ms = Utc::now().timestamp_millis();
        let mut jobs = Vec::new();
        let mut outcomes = Vec::new();
        for op in ops {
            let (reply, outcome) = oneshot::channel();
            jobs.push(Job { op, now_ms, reply });
            outcomes.push(outcome);
        }
        run_batch(&store.write, cfg, &mut jobs).await;
        assert!(jobs.is_empty(), "every job answered");
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(outcome.await.unwrap());
        }
        results
    }

    fn task(result: &Result<Done, StoreError>) -> &ResearchTask {
        match result {
            Ok(Done::Task(task)) => task,
            Ok(Done::Appended(appended)) => &appended.task,
            Ok(Done::Started(outcome)) => &outcome.task,
            Ok(Done::Refreshed(_)) => panic!("a refresh where a task was expected"),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn kind(result: &Result<Done, StoreError>) -> StoreErrorKind {
        match result {
            Err(e) => e.kind().clone(),
            Ok(_) => panic!("expected an error"),
        }
    }

    async fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn refused_jobs_leave_the_rest_of_the_batch_committed() {
        let (_dir, store) = open().await;
        let results = batch(
            &store,
            vec![
                Op::Start(new_task(1, None, "one")),
                findings(1, &["a", "b"], 10, false),
                findings(9, &["lost"], 10, false),
                findings(1, &["c"], 10, true),
                findings(1, &["late"], 10, false),
                Op::Start(new_task(2, Some("k"), "two")),
                Op::Start(new_task(3, Some("k"), "two")),
                Op::Start(new_task(4, Some("k"), "other")),
                findings(2, &["x", "y", "z"], 2, false),
                Op::Cancel {
                    owner: "alice".into(),
                    id: ResearchTaskId::from_bytes([2; 16]),
                },
            ],
        )
        .await;
        assert_eq!(task(&results[0]).status, ResearchStatus::Running);
        assert_eq!(task(&results[1]).findings_count, 2);
        assert_eq!(kind(&results[2]), StoreErrorKind::NotFound);
        assert_eq!(task(&results[3]).status, ResearchStatus::Complete);
        assert_eq!(task(&results[3]).findings_count, 3);
        assert_eq!(
            kind(&results[4]),
            StoreErrorKind::WrongStatus(ResearchStatus::Complete)
        );
        let Ok(Done::Started(replay)) = &results[6] else {
            panic!("expected a replay")
        };
        assert!(replay.replayed);
        assert_eq!(replay.task.id, ResearchTaskId::from_bytes([2; 16]));
        assert_eq!(kind(&results[7]), StoreErrorKind::IdempotencyConflict);
        assert_eq!(
            kind(&results[8]),
            StoreErrorKind::TooManyFindings { limit: 2 }
        );
        assert_eq!(task(&results[9]).status, ResearchStatus::Cancelled);

        // All of it was committed, and only that.
        let now = Utc::now();
        let one = ResearchTaskId::from_bytes([1; 16]);
        let page = store
            .list_findings("alice", &one, 0, 10, now)
            .await
            .unwrap();
        let texts: Vec<_> = page.findings.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(page.task.status, ResearchStatus::Complete);
        let two = store
            .get("alice", &ResearchTaskId::from_bytes([2; 16]), now)
            .await
            .unwrap();
        assert_eq!(
            (two.status, two.findings_count),
            (ResearchStatus::Cancelled, 0)
        );
        for absent in [3, 4, 9] {
            let id = ResearchTaskId::from_bytes([absent; 16]);
            assert!(store.get("alice", &id, now).await.is_err());
        }
        store.close().await;
    }

    #[tokio::test]
    async fn a_failed_statement_reruns_the_batch_one_by_one() {
        let (_dir, store) = open().await;
        let results = batch(
            &store,
            vec![
                Op::Start(new_task(1, None, "one")),
                findings(1, &["a"], 10, false),
                // The same id again: the INSERT fails, inside the batch's transaction.
                Op::Start(new_task(1, None, "again")),
                findings(1, &["b"], 10, false),
                Op::Start(new_task(2, Some("k"), "two")),
            ],
        )
        .await;
        let Ok(Done::Started(first)) = &results[0] else {
            panic!("the first start failed: {:?}", results[0].as_ref().err())
        };
        assert!(!first.replayed, "a new task came back replayed");
        assert_eq!(task(&results[1]).findings_count, 1);
        assert_eq!(kind(&results[2]), StoreErrorKind::Internal);
        assert_eq!(task(&results[3]).findings_count, 2);
        assert_eq!(task(&results[4]).topic, "two");

        let now = Utc::now();
        let one = ResearchTaskId::from_bytes([1; 16]);
        let page = store
            .list_findings("alice", &one, 0, 10, now)
            .await
            .unwrap();
        let texts: Vec<_> = page.findings.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(page.task.topic, "one");
        // The key was committed once, bound to task 2.
        let again = store
            .start(new_task(5, Some("k"), "two"), now)
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.task.id, ResearchTaskId::from_bytes([2; 16]));
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_through_the_store_are_all_committed() {
        let (_dir, store) = open().await;
        let now = Utc::now();
        store.start(new_task(1, None, "one"), now).await.unwrap();
        let mut handles = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let id = ResearchTaskId::from_bytes([1; 16]);
                let text = vec![format!("f{i}-a"), format!("f{i}-b")];
                store
                    .append_findings(
                        "alice",
                        &id,
                        baton_store::FindingsBatch::new(&text, FindingLimits::per_task(1000)),
                        Utc::now(),
                    )
                    .await
                    .unwrap()
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let id = ResearchTaskId::from_bytes([1; 16]);
        let page = store
            .list_findings("alice", &id, 0, 1000, now)
            .await
            .unwrap();
        assert_eq!(page.findings.len(), 400);
        // Each call's findings are contiguous.
        for pair in page.findings.chunks(2) {
            let a = pair[0].text.strip_suffix("-a").unwrap();
            assert_eq!(pair[1].text, format!("{a}-b"));
        }
        store.close().await;
    }
}
