//! The SQLite backend of baton's [`ResearchStore`]: one file, zero setup.
//!
//! [`SqliteStore::open`] creates the database file if it is missing, switches it to WAL
//! (`synchronous = NORMAL`, foreign keys on, a busy timeout) and applies the embedded
//! migrations (`migrations/sqlite` in the repository).
//!
//! SQLite has one writer at a time, so the store keeps two pools: a write pool of a single
//! connection, on which every change runs as one statement or one short `BEGIN IMMEDIATE`
//! transaction, and a read pool of [`SqliteOptions::max_connections`] connections. Concurrent
//! writes queue in the process instead of failing with `SQLITE_BUSY`, and reads never wait
//! for writes.
//!
//! ResearchTask writes (`start_task`, `append_findings`, `complete_task`, `cancel_task`) go through
//! a writer task spawned by [`SqliteStore::open`] (so the store lives on the Tokio runtime
//! that opened it). It commits the writes queued together in one transaction (group commit)
//! and answers each only after that commit; each write stays all-or-nothing, and one write
//! refused or failing never fails the others (see the `writer` module). Reads write only to refresh a task's idle expiry, at most about once a minute
//! per task (see [`SqliteOptions::refresh_after`]).
//!
//! Times are stored as INTEGER milliseconds since the Unix epoch; anything finer is
//! truncated, as the `ResearchStore` contract says.
//!
//! # Example
//!
//! ```
//! use baton_store::{NewResearchTask, ResearchTaskId, ResearchStatus, ResearchStore};
//! use baton_store_sqlite::{SqliteOptions, SqliteStore};
//! use chrono::Utc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("baton.db");
//! let store = SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default()).await?;
//!
//! let now = Utc::now();
//! let id = ResearchTaskId::from_bytes([42; 16]);
//! let new = NewResearchTask {
//!     id,
//!     owner: "alice".into(),
//!     topic: "tidal energy".into(),
//!     depth: 2,
//!     idempotency_key: None,
//! };
//! let started = store.start(new, now).await?;
//! assert!(!started.replayed);
//!
//! let task = store.get("alice", &id, now).await?;
//! assert_eq!(task.status, ResearchStatus::Running);
//! assert_eq!(task.topic, "tidal energy");
//! // Other owners see nothing.
//! assert!(store.get("bob", &id, now).await.is_err());
//! store.close().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use baton_store::{
    Finding, FindingsPage, Lifetimes, NewResearchTask, SigningKeyRecord, StartOutcome, StoreError,
    StoreErrorKind, ResearchTask, ResearchTaskId, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTasksPage,
    expiry_after_write,
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};

/// The columns of `tasks`, in the order `task_from_row` reads them.
macro_rules! task_cols {
    () => {
        "id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at"
    };
}

mod writer;

/// The embedded migrations (`migrations/sqlite`).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long tasks live.
    pub lifetimes: Lifetimes,
    /// Connections in the read pool (the write pool always has one). At least 1.
    pub max_connections: u32,
    /// How long SQLite waits for a lock held by another process before giving up.
    pub busy_timeout: Duration,
    /// How long a call waits for a pooled connection before failing with
    /// `Unavailable`.
    pub acquire_timeout: Duration,
    /// Prepared statements kept per connection.
    pub statement_cache_capacity: usize,
    /// A read refreshes a task's idle expiry only when the stored `expires_at` is more than
    /// this far behind the one a write would give; this keeps reads from writing.
    pub refresh_after: chrono::Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            lifetimes: Lifetimes::default(),
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            statement_cache_capacity: 64,
            refresh_after: chrono::Duration::seconds(60),
        }
    }
}

/// A [`ResearchStore`] on one SQLite file. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    /// The group-commit writer of task writes (see `writer`).
    writer: mpsc::Sender<writer::Job>,
    read: SqlitePool,
    options: SqliteOptions,
    filename: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("filename", &self.filename)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Parses `sqlite:` URLs (`sqlite://path`, `sqlite:path?mode=rwc`) and plain file paths.
fn connect_options(url_or_path: &str) -> Result<SqliteConnectOptions, StoreError> {
    if url_or_path.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url_or_path).map_err(|e| {
            StoreError::new(StoreErrorKind::Internal, "invalid SQLite URL").with_source(e)
        })
    } else {
        Ok(SqliteConnectOptions::new().filename(url_or_path))
    }
}

fn tuned(base: SqliteConnectOptions, options: &SqliteOptions) -> SqliteConnectOptions {
    base.journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true)
        .statement_cache_capacity(options.statement_cache_capacity)
        .pragma("temp_store", "memory")
        // Checkpoint the WAL every 8000 pages (32 MiB at 4 KiB) rather than 1000: hot pages
        // are copied back once per checkpoint, and writes stall less often. Durability is
        // unchanged (a checkpoint only copies committed pages).
        .pragma("wal_autocheckpoint", "8000")
}

/// Applies every pending migration to the database at `url_or_path`, creating the file if
/// it is missing.
pub async fn migrate(url_or_path: &str) -> Result<(), StoreError> {
    let options = tuned(
        connect_options(url_or_path)?.create_if_missing(true),
        &SqliteOptions::default(),
    );
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err("connect"))?;
    let result = MIGRATOR.run(&mut conn).await.map_err(migrate_err);
    let closed = conn.close().await.map_err(db_err("close"));
    result.and(closed)
}

/// The migrations not yet applied to the database at `url_or_path`, as (version,
/// description), oldest first. A missing file has every migration pending; nothing is
/// created or changed.
pub async fn pending_migrations(url_or_path: &str) -> Result<Vec<(i64, String)>, StoreError> {
    let options = connect_options(url_or_path)?.create_if_missing(false);
    let all = || {
        MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.description.to_string()))
            .collect::<Vec<_>>()
    };
    if !options.get_filename().exists() {
        return Ok(all());
    }
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err("connect"))?;
    let applied = async {
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(db_err("read migrations"))?;
        if has_table.is_none() {
            return Ok(HashSet::new());
        }
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&mut conn)
                .await
                .map_err(db_err("read migrations"))?;
        Ok::<_, StoreError>(versions.into_iter().collect::<HashSet<i64>>())
    }
    .await;
    let closed = conn.close().await.map_err(db_err("close"));
    let applied = applied?;
    closed?;
    Ok(all()
        .into_iter()
        .filter(|(v, _)| !applied.contains(v))
        .collect())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url_or_path` — a file path or a
    /// `sqlite:` URL — and applies pending migrations.
    pub async fn open(url_or_path: &str, options: SqliteOptions) -> Result<Self, StoreError> {
        let base = tuned(connect_options(url_or_path)?, &options);
        let filename = base.get_filename().to_path_buf();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(db_err("open"))?;
        MIGRATOR.run(&write).await.map_err(migrate_err)?;
        let read = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(base.create_if_missing(false))
            .await
            .map_err(db_err("open"))?;
        let (writer, jobs) = mpsc::channel(writer::QUEUE);
        let cfg = writer::Config {
            idle_ms: options.lifetimes.idle.num_milliseconds(),
            absolute_ms: options.lifetimes.absolute.num_milliseconds(),
        };
        tokio::spawn(writer::run(write.clone(), cfg, jobs));
        tracing::debug!(file = %filename.display(), "opened SQLite task store");
        Ok(SqliteStore {
            write,
            writer,
            read,
            options,
            filename,
        })
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// The database file.
    pub fn filename(&self) -> &Path {
        &self.filename
    }

    /// Closes both pools, waiting for calls in flight, and checkpoints the WAL.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Refreshes `task`'s idle expiry when a read at `now` finds it well behind. A failed
    /// refresh is logged, not returned: the read itself succeeded.
    async fn refresh_on_read(&self, task: &mut ResearchTask, now: DateTime<Utc>) {
        let now = trunc(now);
        let target = expiry_after_write(now, task.hard_expires_at, &self.options.lifetimes);
        if target - task.expires_at <= self.options.refresh_after {
            return;
        }
        let result: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE tasks SET expires_at = max(expires_at, ?1) \
             WHERE id = ?2 AND expires_at > ?3 RETURNING expires_at",
        )
        .bind(ms(target))
        .bind(&task.id.as_bytes()[..])
        .bind(ms(now))
        .fetch_optional(&self.write)
        .await;
        match result {
            Ok(Some(stored)) => match from_ms(stored) {
                Ok(t) => task.expires_at = t,
                Err(e) => tracing::warn!(error = %e, "bad expires_at after refresh"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not refresh a task's expiry"),
        }
    }

    async fn read_task(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            task_cols!(),
            " FROM tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3"
        ))
        .bind(&id.as_bytes()[..])
        .bind(owner)
        .bind(ms(now))
        .fetch_optional(&self.read)
        .await
        .map_err(db_err("read task"))?;
        match row {
            Some(row) => task_from_row(&row),
            None => Err(StoreError::not_found()),
        }
    }

    /// Hands `op` to the writer and waits for its outcome, which comes after its commit.
    async fn write_op(
        &self,
        op: writer::Op,
        now: DateTime<Utc>,
    ) -> Result<writer::Done, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let job = writer::Job {
            op,
            now_ms: ms(now),
            reply,
        };
        let stopped = || {
            StoreError::new(
                StoreErrorKind::Unavailable,
                "sqlite: the writer has stopped",
            )
        };
        self.writer.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Appends `findings` to a running task and, when `complete`, completes it, atomically.
    async fn write_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
        complete: bool,
    ) -> Result<ResearchTask, StoreError> {
        let json = if findings.is_empty() {
            String::new()
        } else {
            serde_json::to_string(findings).map_err(|e| {
                StoreError::new(StoreErrorKind::Internal, "could not encode findings")
                    .with_source(e)
            })?
        };
        let op = writer::Op::Findings {
            owner: owner.to_owned(),
            id: *id,
            json,
            n: findings.len() as i64,
            max_total,
            complete,
        };
        match self.write_op(op, now).await? {
            writer::Done::ResearchTask(task) => Ok(task),
            writer::Done::Started(_) => Err(mismatch()),
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        "sqlite: writer answered another op",
    )
}

/// Why a conditional update on a task matched nothing.
async fn diagnose(
    conn: &mut SqliteConnection,
    owner: &str,
    id: &ResearchTaskId,
    now_ms: i64,
    adding: i64,
    max_total: u32,
) -> StoreError {
    let row = sqlx::query(
        "SELECT status, findings_count FROM tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3",
    )
    .bind(&id.as_bytes()[..])
    .bind(owner)
    .bind(now_ms)
    .fetch_optional(conn)
    .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return StoreError::not_found(),
        Err(e) => return db_err("read task")(e),
    };
    let status = match row.try_get::<String, _>(0) {
        Ok(s) => s,
        Err(e) => return db_err("read task")(e),
    };
    let count: i64 = row.try_get(1).unwrap_or_default();
    match ResearchStatus::parse(&status) {
        Some(ResearchStatus::Running) if count + adding > i64::from(max_total) => StoreError::new(
            StoreErrorKind::TooManyFindings { limit: max_total },
            format!("a task may hold at most {max_total} findings"),
        ),
        Some(ResearchStatus::Running) => StoreError::new(
            StoreErrorKind::Internal,
            "conditional update on a running task matched nothing",
        ),
        Some(status) => StoreError::wrong_status(status),
        None => corrupt("status"),
    }
}

fn task_from_row(row: &SqliteRow) -> Result<ResearchTask, StoreError> {
    let get_err = |e: sqlx::Error| {
        StoreError::new(StoreErrorKind::Internal, "sqlite: corrupt task row").with_source(e)
    };
    let id: Vec<u8> = row.try_get(0).map_err(get_err)?;
    let id = ResearchTaskId::from_slice(&id).ok_or_else(|| corrupt("id"))?;
    let depth: i64 = row.try_get(3).map_err(get_err)?;
    let status: String = row.try_get(4).map_err(get_err)?;
    let count: i64 = row.try_get(5).map_err(get_err)?;
    Ok(ResearchTask {
        id,
        owner: row.try_get(1).map_err(get_err)?,
        topic: row.try_get(2).map_err(get_err)?,
        depth: u8::try_from(depth).map_err(|_| corrupt("depth"))?,
        status: ResearchStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        findings_count: u32::try_from(count).map_err(|_| corrupt("findings_count"))?,
        created_at: from_ms(row.try_get(6).map_err(get_err)?)?,
        updated_at: from_ms(row.try_get(7).map_err(get_err)?)?,
        expires_at: from_ms(row.try_get(8).map_err(get_err)?)?,
        hard_expires_at: from_ms(row.try_get(9).map_err(get_err)?)?,
    })
}

fn corrupt(column: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        format!("sqlite: corrupt value in column {column}"),
    )
}

/// Milliseconds since the epoch (sub-millisecond parts are dropped).
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt("time"))
}

fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(ms(t)).unwrap_or(t)
}

/// Maps a sqlx error: unreachable, busy or timed-out databases are `Unavailable`, the rest
/// `Internal`. The message names the operation; bound values (secrets) never appear.
fn db_err(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        let kind = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
            sqlx::Error::Database(db) => {
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                match primary {
                    // BUSY, LOCKED, IOERR, FULL, CANTOPEN
                    Some(5 | 6 | 10 | 13 | 14) => StoreErrorKind::Unavailable,
                    _ => StoreErrorKind::Internal,
                }
            }
            _ => StoreErrorKind::Internal,
        };
        StoreError::new(kind, format!("sqlite: {op} failed: {e}")).with_source(e)
    }
}

fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    let kind = match &e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
            StoreErrorKind::Unavailable
        }
        _ => StoreErrorKind::Internal,
    };
    StoreError::new(kind, format!("sqlite: migration failed: {e}")).with_source(e)
}

#[async_trait]
impl ResearchStore for SqliteStore {
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError> {
        match self.write_op(writer::Op::Start(new), now).await? {
            writer::Done::Started(outcome) => Ok(outcome),
            writer::Done::ResearchTask(_) => Err(mismatch()),
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
        findings: &[String],
        max_total: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        self.write_findings(owner, id, findings, max_total, now, false)
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
        self.write_findings(owner, id, findings, max_total, now, true)
            .await
    }

    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let op = writer::Op::Cancel {
            owner: owner.to_owned(),
            id: *id,
        };
        match self.write_op(op, now).await? {
            writer::Done::ResearchTask(task) => Ok(task),
            writer::Done::Started(_) => Err(mismatch()),
        }
    }

    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError> {
        let mut task = self.read_task(owner, id, now).await?;
        // Findings 1..=findings_count were committed with the count and never change, so
        // bounding by the count gives a consistent page without a read transaction.
        let count = task.findings_count;
        let mut findings = Vec::new();
        if after < count && limit > 0 {
            let rows = sqlx::query(
                "SELECT idx, text FROM findings WHERE task_id = ?1 AND idx > ?2 AND idx <= ?3 \
                 ORDER BY idx LIMIT ?4",
            )
            .bind(&id.as_bytes()[..])
            .bind(i64::from(after))
            .bind(i64::from(count))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_err("read findings"))?;
            findings.reserve(rows.len());
            for row in rows {
                let idx: i64 = row.try_get(0).map_err(db_err("read findings"))?;
                findings.push(Finding {
                    index: u32::try_from(idx).map_err(|_| corrupt("idx"))?,
                    text: row.try_get(1).map_err(db_err("read findings"))?,
                });
            }
        }
        let last = findings.last().map_or(after, |f| f.index);
        let has_more = last < count;
        self.refresh_on_read(&mut task, now).await;
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
        let status = status.map(ResearchStatus::as_str);
        let fetch = i64::from(limit) + 1;
        let query = match after {
            None => sqlx::query(concat!(
                "SELECT ",
                task_cols!(),
                " FROM tasks WHERE owner = ?1 AND expires_at > ?2 ",
                "AND (?3 IS NULL OR status = ?3) ",
                "ORDER BY created_at DESC, id DESC LIMIT ?4"
            ))
            .bind(owner)
            .bind(ms(now))
            .bind(status)
            .bind(fetch),
            Some(cursor) => sqlx::query(concat!(
                "SELECT ",
                task_cols!(),
                " FROM tasks WHERE owner = ?1 AND expires_at > ?2 ",
                "AND (?3 IS NULL OR status = ?3) ",
                "AND (created_at, id) < (?5, ?6) ",
                "ORDER BY created_at DESC, id DESC LIMIT ?4"
            ))
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
        let done = sqlx::query(
            "DELETE FROM tasks WHERE id IN \
             (SELECT id FROM tasks WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
        )
        .bind(ms(now))
        .bind(i64::from(batch))
        .execute(&self.write)
        .await
        .map_err(db_err("sweep expired tasks"))?;
        Ok(done.rows_affected())
    }

    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError> {
        // 10 parameters a row; SQLite allows 32766 per statement.
        const ROWS_PER_STATEMENT: usize = 3_000;
        let mut tx = self.write.begin().await.map_err(db_err("import tasks"))?;
        let mut written = 0;
        for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR IGNORE INTO tasks (id, owner, topic, depth, status, findings_count, \
                 created_at, updated_at, expires_at, hard_expires_at) ",
            );
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
        tx.commit().await.map_err(db_err("import tasks"))?;
        Ok(written)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, secret, created_at FROM signing_keys ORDER BY created_at, key_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_err("read signing keys"))?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get(0).map_err(db_err("read signing keys"))?;
                Ok(SigningKeyRecord {
                    key_id: u16::try_from(id).map_err(|_| corrupt("key_id"))?,
                    secret: row.try_get(1).map_err(db_err("read signing keys"))?,
                    created_at: from_ms(row.try_get(2).map_err(db_err("read signing keys"))?)?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(
        &self,
        key: SigningKeyRecord,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (key_id, secret, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(i64::from(key.key_id))
        .bind(&key.secret)
        .bind(ms(key.created_at))
        .execute(&self.write)
        .await
        .map_err(db_err("insert signing key"))?;
        self.signing_keys().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }
}
