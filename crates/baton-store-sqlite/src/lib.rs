//! The SQLite backend of baton's stores ([`ResearchStore`], [`KeyStore`], [`BulkImport`]):
//! one file, zero setup.
//!
//! [`SqliteStore::open`] creates the database file if it is missing, switches it to WAL
//! (`synchronous = NORMAL`, foreign keys on, a busy timeout) and applies the embedded
//! migrations (`migrations/sqlite` in the repository).
//!
//! SQLite has one writer at a time, so the store keeps two pools: a write pool of a single
//! connection and a read pool of [`SqliteOptions::max_connections`] connections. Concurrent
//! writes queue in the process instead of failing with `SQLITE_BUSY`, and reads never wait
//! for writes. The hottest read (a task by id) has as many read-only connections again of
//! its own, opened on first use, outside the pool, and runs on the calling thread (through
//! `rusqlite`) instead of sqlx's per-connection worker thread: a read never waits there (no
//! busy handler, only a free connection is taken), and when one cannot answer at once the
//! same statement runs on the read pool. An in-memory database has none.
//!
//! Research-task writes (`start`, `append_findings`, `complete`, `cancel`, and a read's
//! expiry refresh) go through a writer task spawned by [`SqliteStore::open`] (so the store
//! lives on the Tokio runtime that opened it). It commits the writes queued together in one
//! `BEGIN IMMEDIATE … COMMIT` (group commit, at most 64 writes) and answers each only after
//! that commit; each write stays all-or-nothing, and one write refused or failing never fails
//! the others (see the `writer` module). Sweeps, signing keys and imports use the write pool
//! directly.
//!
//! Reads are one statement each, so each reads one snapshot: `list_findings` reads the task
//! and its page of findings together. Every query made for a caller names the owner; only
//! the sweeper, which acts for nobody, deletes by expiry alone. Reads write only to refresh a
//! task's idle expiry, when it lags by more than [`Lifetimes::refresh_slack`].
//!
//! Times are stored as INTEGER milliseconds since the Unix epoch; anything finer is
//! truncated, as the store contract says.
//!
//! [`ResearchStore`]: baton_store::ResearchStore
//! [`KeyStore`]: baton_store::KeyStore
//! [`BulkImport`]: baton_store::BulkImport
//! [`Lifetimes::refresh_slack`]: baton_store::Lifetimes::refresh_slack
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
//!     max_live_tasks: u64::MAX,
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

use baton_store::{Lifetimes, StoreError, StoreErrorKind};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use tokio::sync::mpsc;

mod counts;
mod error;
mod lanes;
mod rows;
mod shares;
mod store;
mod tool_tasks;
mod writer;

use error::{db_err, migrate_err};

/// The embedded migrations (`migrations/sqlite` at the workspace root, linked as this crate's
/// `migrations/` so that the package carries them).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long tasks live.
    pub lifetimes: Lifetimes,
    /// Connections in the read pool (the write pool always has one), and as many read lanes
    /// for the task-by-id read, opened on first use. At least 1.
    pub max_connections: u32,
    /// How long SQLite waits for a lock held by another process before giving up.
    pub busy_timeout: Duration,
    /// How long a call waits for a pooled connection before failing with
    /// `Unavailable`.
    pub acquire_timeout: Duration,
    /// Prepared statements kept per connection.
    pub statement_cache_capacity: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            lifetimes: Lifetimes::default(),
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            statement_cache_capacity: 64,
        }
    }
}

/// How many tool task changes a slow subscriber may fall behind before it loses the oldest.
const TOOL_TASK_CHANGES: usize = 1024;

/// baton's stores on one SQLite file. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    /// The group-commit writer of task writes (see `writer`).
    writer: mpsc::Sender<writer::Job>,
    /// What the writer has done (for [`baton_store::StoreStats`]).
    writer_counts: std::sync::Arc<writer::Counts>,
    read: SqlitePool,
    /// The task-by-id read, off the pool (see `lanes`).
    lanes: std::sync::Arc<lanes::ReadLanes>,
    options: SqliteOptions,
    filename: PathBuf,
    /// Tool tasks that changed, published after their change committed.
    tool_task_changes: tokio::sync::broadcast::Sender<baton_store::ToolTaskId>,
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

/// Creates the database `file` of `url_or_path` (not an in-memory one), if missing, readable and writable by its owner only (0600 on Unix): it
/// holds every task and the handle-signing keys. SQLite gives its WAL and shared-memory files
/// the database file's mode. Best effort: when this fails, opening the database reports why.
/// An existing file keeps the mode it has.
fn create_private(url_or_path: &str, file: &Path) {
    if url_or_path.contains(":memory:") || url_or_path.contains("mode=memory") {
        return;
    }
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    if let Err(e) = create.open(file)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        tracing::debug!(error = %e, file = %file.display(), "could not create the database file");
    }
}

/// Applies every pending migration to the database at `url_or_path`, creating the file if
/// it is missing.
pub async fn migrate(url_or_path: &str) -> Result<(), StoreError> {
    let options = tuned(
        connect_options(url_or_path)?.create_if_missing(true),
        &SqliteOptions::default(),
    );
    create_private(url_or_path, options.get_filename());
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
        create_private(url_or_path, &filename);
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
            .connect_with(base.clone().create_if_missing(false))
            .await
            .map_err(db_err("open"))?;
        // An in-memory database (no file) has no lanes: a lane's connection would open
        // another database.
        let lanes = std::sync::Arc::new(lanes::ReadLanes::new(
            filename.is_file().then(|| filename.clone()),
            options.max_connections.max(1) as usize,
        ));
        let (writer, jobs) = mpsc::channel(writer::QUEUE);
        let cfg = writer::Config {
            lifetimes: options.lifetimes,
        };
        let writer_counts = std::sync::Arc::new(writer::Counts::default());
        tokio::spawn(writer::run(
            write.clone(),
            cfg,
            jobs,
            std::sync::Arc::clone(&writer_counts),
        ));
        tracing::debug!(file = %filename.display(), "opened the SQLite store");
        Ok(SqliteStore {
            write,
            writer,
            writer_counts,
            read,
            lanes,
            options,
            filename,
            tool_task_changes: tokio::sync::broadcast::channel(TOOL_TASK_CHANGES).0,
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

    /// Closes both pools and the read lanes, waiting for calls in flight, and checkpoints
    /// the WAL.
    pub async fn close(&self) {
        self.lanes.close();
        self.read.close().await;
        self.write.close().await;
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
