//! The Postgres backend of baton's stores ([`ResearchStore`], [`KeyStore`], [`BulkImport`]),
//! for a fleet of stateless instances sharing one database.
//!
//! [`PostgresStore::connect`] opens a connection pool (sqlx), runs the embedded migrations
//! (from `migrations/postgres/`) unless told not to, and returns a store that is cheap to
//! clone and share between tasks.
//!
//! # Connecting
//!
//! ```no_run
//! use baton_store::{Lifetimes, ResearchStore};
//! use baton_store_postgres::{PostgresOptions, PostgresStore};
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), baton_store::StoreError> {
//! let options = PostgresOptions {
//!     lifetimes: Lifetimes::default(),
//!     max_connections: 20,
//!     statement_timeout: Duration::from_secs(5),
//!     ..PostgresOptions::default()
//! };
//! let store = PostgresStore::connect("postgres://baton@db.internal/baton", options).await?;
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Connection and pool settings
//!
//! [`PostgresOptions`] holds them; the defaults suit one instance of a small fleet.
//!
//! * `max_connections` (default 10) and `min_connections` (default 0) bound the pool of
//!   each instance; size the fleet so that instances × `max_connections` stays well below
//!   the server's `max_connections`.
//! * `acquire_timeout` (default 5 s): a call that waits longer for a pooled connection
//!   fails with [`StoreErrorKind::Unavailable`].
//! * `statement_timeout` (default 10 s) is set on every pooled connection right after it
//!   connects (`SET statement_timeout`); a statement cancelled by it is rolled back and
//!   reported as `Unavailable`. Zero disables it.
//! * Prepared statements are cached per connection (sqlx's statement cache, 256 entries).
//! * Connections that sat idle for more than a second are pinged before they are handed
//!   out (a database restart or failover leaves idle connections dead, and the pool replaces
//!   them by itself). Connections in steady use are not pinged: a ping before every acquire
//!   doubles a busy pool's round trips. So one that broke while in use fails the call it
//!   was handed to, with `Unavailable` (or `Interrupted` for a write in flight), and is
//!   discarded; the next call gets a fresh one.
//! * **Read lanes:** one of `max_connections` (from 4 on; one per 32 above that, at most 4)
//!   is not pooled but kept for the task-by-id read behind `get` (`get_task_status`): a
//!   `tokio-postgres` connection that pipelines the reads in flight, so one system call and
//!   one wake-up of the Postgres backend carry several of them, and no release ping follows
//!   each. Lanes connect with the pool, show in `pg_stat_activity` as
//!   `baton (read lane)`, and hand a read they cannot answer (not connected, a broken
//!   connection, any error) to the pool; a lost lane reconnects in the background. Below 4
//!   connections there are none; nor when the URL asks for TLS.
//! * `migrate_on_connect` (default true) runs [`migrate`] before the pool opens.
//!
//! # Migrations
//!
//! [`migrate`] applies the embedded migrations. Several instances may start (and migrate)
//! at once: sqlx 0.8's migrator takes a session-level `pg_advisory_lock` (key derived from
//! the database name) before it even creates its `_sqlx_migrations` table and releases it
//! when done (`sqlx-core` `Migrator::run_direct` → `sqlx-postgres` `Migrate::lock`), so the
//! others wait and then find nothing left to do. Migrations run on a dedicated connection
//! without a statement timeout, which is closed afterwards: if a migration fails, closing
//! it releases the lock. [`pending_migrations`] lists what [`migrate`] would apply, without
//! changing anything (for `baton migrate --check`).
//!
//! # Consistency model
//!
//! * **Atomic:** every change is one SQL statement. Appending (and completing) is a single
//!   `UPDATE … WHERE status = 'running' AND expires_at > now AND count + n <= max RETURNING`
//!   with the findings inserted by the same statement (a data-modifying CTE), so a batch
//!   of findings is stored whole, with contiguous indexes, or not at all. Starting with an
//!   idempotency key claims the key (`INSERT … ON CONFLICT DO NOTHING`) and inserts the
//!   task in one statement.
//! * **Racing instances** are serialised by Postgres row locks (read committed): two
//!   completions of one task give one `Ok` and one `WrongStatus(Complete)`; concurrent
//!   appends never lose or reuse an index; racing starts with one key create one task
//!   (the losers see it as a replay, or `IdempotencyConflict` if their topic or depth
//!   differ). A reader sees each change entirely or not at all; `list_findings` reads the
//!   task and its page of findings from one snapshot.
//! * **Sweeping** (`DELETE … FOR UPDATE SKIP LOCKED`) is safe on every instance at once:
//!   sweepers never wait for each other and never delete a row twice.
//! * **Reads** (`get`, `list_findings`) are a primary-key lookup; they write only when the
//!   task's stored expiry lags the idle deadline by more than a minute, or half the idle
//!   lifetime when that is shorter ([`baton_store::rules::refreshed_expiry`]).
//! * **Every query made for a caller names the owner** (see [`statements`]); only the
//!   sweeper, which acts for nobody, deletes by expiry alone.
//! * **Retry** calls that fail with [`StoreErrorKind::Unavailable`] (pool timeout, refused
//!   or reset connection, server shutdown or start-up, statement timeout, serialization
//!   failure, deadlock): the statement was rolled back. One caveat is inherent to any
//!   database client: when the connection dies *while the server commits*, the change may
//!   have happened: such calls fail with `Interrupted`. `start` with an idempotency key is
//!   safe to retry blindly; a retried `append_findings` may store its batch twice, and a
//!   retried `complete` or `cancel` may answer `WrongStatus` for its own earlier success. `Internal` errors
//!   are not worth retrying.
#![deny(missing_docs)]

mod counts;
mod error;
mod lanes;
mod shares;
pub mod statements;
mod store;
mod tool_tasks;

use std::str::FromStr;
use std::time::Duration;

use baton_store::{Lifetimes, StoreError, StoreErrorKind};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, Row};

#[doc(no_inline)]
pub use baton_store::{BulkImport, KeyStore, ResearchStore};

/// Pooled connections idle longer than this are pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The embedded migrations (`migrations/postgres/` at the workspace root, linked as this
/// crate's `migrations/` so that the package carries them).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How a [`PostgresStore`] connects and how long its tasks live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// ResearchTask lifetimes (idle and absolute).
    pub lifetimes: Lifetimes,
    /// The most connections this instance's pool opens.
    pub max_connections: u32,
    /// Connections the pool keeps open even when idle.
    pub min_connections: u32,
    /// How long a call waits for a pooled connection before failing `Unavailable`.
    pub acquire_timeout: Duration,
    /// Set as `statement_timeout` on every pooled connection; zero disables it.
    pub statement_timeout: Duration,
    /// Whether [`PostgresStore::connect`] applies pending migrations first.
    pub migrate_on_connect: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            lifetimes: Lifetimes::default(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            migrate_on_connect: true,
        }
    }
}

/// A [`ResearchStore`] on Postgres. Cloning is cheap: clones share one pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    lifetimes: Lifetimes,
    connect_options: PgConnectOptions,
    acquire_timeout: Duration,
    /// This instance's listener of tool task changes (see `tool_tasks`).
    changes: std::sync::Arc<tool_tasks::ChangeFeed>,
    /// Pipelined connections for the task-by-id read (see `lanes`).
    lanes: std::sync::Arc<lanes::ReadLanes>,
}

impl std::fmt::Debug for PostgresStore {
    // Not the connect options: they may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("lifetimes", &self.lifetimes)
            .field("pool_size", &self.pool.size())
            .field("read_lanes", &self.lanes.count())
            .finish_non_exhaustive()
    }
}

/// How many of `max_connections` are read lanes rather than pooled: one from 4 connections
/// on, one per 32 beyond that, at most 4. A pipelined lane carries many reads at once, and
/// fewer lanes batch more reads per system call (one lane served get_task_status @16 with
/// 10–20 % less CPU than two, bench/README.md); more only spread a very busy instance's reads
/// over several Postgres backends.
fn read_lanes_for(max_connections: u32) -> u32 {
    if max_connections < 4 {
        0
    } else {
        (max_connections / 32).clamp(1, 4)
    }
}

/// The statement every connection of the store (pooled or read lane) runs once connected:
/// `SET statement_timeout` (`0` disables it, whatever the role's or database's default).
fn session_setup(statement_timeout: Duration) -> String {
    format!("SET statement_timeout = {}", statement_timeout.as_millis())
}

/// Prepared statements cached per connection.
const STATEMENT_CACHE_CAPACITY: usize = 256;

fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map(|o| {
            o.statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
                .application_name("baton")
        })
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Internal,
                "invalid postgres connection url".to_string(),
            )
            .with_source(e)
        })
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// with any libpq-style query parameters sqlx understands), migrating it first when
    /// `options.migrate_on_connect` is set.
    ///
    /// Fails with [`StoreErrorKind::Unavailable`] when the database cannot be reached within
    /// `options.acquire_timeout`, and [`StoreErrorKind::Internal`] on a bad URL or a failed
    /// migration.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect_options = parse_url(url)?;
        if options.migrate_on_connect {
            migrate_with(&connect_options, options.acquire_timeout).await?;
        }
        let session_setup = session_setup(options.statement_timeout);
        let max_connections = options.max_connections.max(1);
        let read_lanes = read_lanes_for(max_connections);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections - read_lanes)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            // A ping before every acquire doubles the round trips of a busy pool. Ping only
            // connections that sat idle (they are the ones a database restart leaves dead);
            // a connection in steady use proves itself, and one that breaks mid-use is
            // discarded by sqlx and reported as interrupted.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < IDLE_BEFORE_PING {
                        return Ok(true);
                    }
                    Ok(conn.ping().await.is_ok())
                })
            })
            .after_connect({
                let session_setup = session_setup.clone();
                move |conn, _meta| {
                    let session_setup = session_setup.clone();
                    Box::pin(async move {
                        conn.execute(session_setup.as_str()).await?;
                        Ok(())
                    })
                }
            })
            .connect_with(connect_options.clone())
            .await
            .map_err(|e| error::from_sqlx("connect", e))?;
        let changes = tool_tasks::ChangeFeed::start(&connect_options, options.acquire_timeout)
            .await
            .map(std::sync::Arc::new);
        let changes = match changes {
            Ok(changes) => changes,
            Err(e) => {
                pool.close().await;
                return Err(e);
            }
        };
        let lanes = lanes::ReadLanes::new(
            &connect_options,
            read_lanes as usize,
            options.acquire_timeout,
            session_setup,
        );
        lanes.connect_all().await;
        tracing::debug!(
            max_connections = options.max_connections,
            read_lanes = lanes.connected(),
            "connected to postgres"
        );
        Ok(PostgresStore {
            pool,
            lifetimes: options.lifetimes,
            connect_options,
            acquire_timeout: options.acquire_timeout,
            changes,
            lanes,
        })
    }

    /// Applies pending migrations to this store's database (see [`migrate`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate_with(&self.connect_options, self.acquire_timeout).await
    }

    /// The task lifetimes this store applies.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The underlying pool, for diagnostics and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many read lanes (pipelined connections outside the pool for the task-by-id read)
    /// are connected now, for diagnostics and tests.
    pub fn read_lanes_connected(&self) -> usize {
        self.lanes.connected()
    }

    /// Closes the pool: waits for checked-out connections to come back, then closes all.
    /// Calls made afterwards fail with `Unavailable`.
    pub async fn close(&self) {
        self.lanes.close();
        self.pool.close().await;
        self.changes.close().await;
    }
}

/// Applies every pending embedded migration to the database at `url`.
///
/// Safe to call from many instances at once: the migrator holds a Postgres advisory lock
/// while it works (see the crate docs), so exactly one applies each migration.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    migrate_with(&parse_url(url)?, PostgresOptions::default().acquire_timeout).await
}

/// Runs the migrator; `connect_timeout` bounds the wait for the first connection only.
async fn migrate_with(
    options: &PgConnectOptions,
    connect_timeout: Duration,
) -> Result<(), StoreError> {
    // A dedicated one-connection pool: no statement timeout (waiting for another instance's
    // lock or building an index may take long), and closing it releases the advisory lock
    // even if the migration failed half-way.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(connect_timeout)
        .connect_with(options.clone())
        .await
        .map_err(|e| error::from_sqlx("migration connect", e))?;
    let result = MIGRATOR.run(&pool).await;
    pool.close().await;
    result.map_err(error::from_migrate)
}

/// The embedded migrations not yet applied to the database at `url`, as
/// `(version, description)`, oldest first; empty when the schema is current.
///
/// Reads only. Fails with [`StoreErrorKind::Internal`] when the database holds a migration
/// this build does not know, one whose checksum differs from the embedded one, or one that
/// failed half-way.
pub async fn pending_migrations(url: &str) -> Result<Vec<(i64, String)>, StoreError> {
    let options = parse_url(url)?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| error::from_sqlx("migration check", e))?;
    let result = applied_migrations(&mut conn).await;
    let _ = conn.close().await;
    let applied = result?;

    let internal = |message: String| StoreError::new(StoreErrorKind::Internal, message);
    for (version, checksum, success) in &applied {
        if !success {
            return Err(internal(format!(
                "migration {version} failed part-way; repair the database by hand"
            )));
        }
        match MIGRATOR.iter().find(|m| m.version == *version) {
            None => {
                return Err(internal(format!(
                    "the database has migration {version}, unknown to this build (newer baton?)"
                )));
            }
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => {
                return Err(internal(format!(
                    "migration {version} was changed after it was applied"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect())
}

async fn applied_migrations(
    conn: &mut PgConnection,
) -> Result<Vec<(i64, Vec<u8>, bool)>, StoreError> {
    let map = |e| error::from_sqlx("migration check", e);
    let exists: bool = sqlx::query("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(map)?
        .try_get(0)
        .map_err(map)?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows =
        sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(map)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(map)
}

#[cfg(test)]
mod tests {
    use super::read_lanes_for;

    #[test]
    fn read_lanes_grow_slowly_with_the_pool_and_never_take_a_small_one() {
        let lanes: Vec<u32> = [1, 3, 4, 16, 31, 32, 64, 127, 128, 10_000]
            .into_iter()
            .map(read_lanes_for)
            .collect();
        assert_eq!(lanes, [0, 0, 1, 1, 1, 1, 2, 3, 4, 4]);
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
