//! Read lanes: the hottest read (one task by id, behind `get_task_status`) goes over a few
//! pipelined `tokio-postgres` connections of its own instead of sqlx's pool.
//!
//! Why: a read through the pool acquires a connection, sends its statement, waits for the
//! answer, and gives the connection back, and sqlx 0.8 pings every connection it is given
//! back (`sqlx-core` `pool/connection.rs`, unconditional): two loopback round trips and two
//! wake-ups of a Postgres backend per read, each paid in system calls on both sides. A
//! `tokio-postgres` client instead hands its request to the connection's task, which writes
//! every request queued meanwhile in one write and reads their answers in order: under
//! concurrent reads, one system call carries several statements (bench/README.md, "Fourth
//! round").
//!
//! A lane is a shortcut, never a second source of answers or errors: whenever a lane cannot
//! answer (not connected yet, connecting failed, the connection broke, any statement or
//! decoding error), the read says [`LaneRead::Elsewhere`] and the store runs the same
//! statement on its pool, which waits, retries and reports errors as every other call does.
//!
//! - Lanes connect when the store does ([`ReadLanes::connect_all`]), a failure there being no
//!   failure of the store. A lane whose connection failed or broke is connected again in the
//!   background by a later read, at most once per [`RECONNECT_AFTER`]; meanwhile its reads
//!   go to the pool.
//! - Each lane's session is set up as the pool's: the same host, user, database, password
//!   (from the URL, `PGPASSWORD` or `.pgpass`, as sqlx resolved it), `options` and
//!   `statement_timeout`; its application name is the pool's with " (read lane)" after it,
//!   so that `pg_stat_activity` tells them apart.
//! - Lanes speak plain TCP or a Unix socket, like this build's sqlx (no TLS support): a URL
//!   that asks for TLS (`sslmode=require` or stronger) gets no lanes.
//! - A read abandoned half-way (its future dropped) leaves nothing behind: the connection's
//!   task still reads and discards the answer, so the connection stays in step.
//! - Reads never write and each statement reads one snapshot (read committed, as the pool).

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};
use std::time::{Duration, Instant};

use baton_store::{LaneReadStats, ResearchTask, ResearchTaskId};
use chrono::{DateTime, Utc};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::statements::SELECT_TASK;
use crate::store::RawTask;

/// The shortest time between two connection attempts of one lane.
pub(crate) const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// A fixed set of pipelined read connections.
pub(crate) struct ReadLanes {
    /// How lanes connect; `None` when this store has no lanes (then `lanes` is empty).
    config: Option<Config>,
    /// What each lane runs once connected, as pooled connections do (`SET statement_timeout`).
    session_setup: String,
    lanes: Box<[Lane]>,
    /// Round-robin position.
    next: AtomicUsize,
    /// Reads a lane answered, and reads sent to the pool (for the metrics endpoint).
    on_lane: AtomicU64,
    on_pool: AtomicU64,
    /// Set by [`ReadLanes::close`]: reads then go to the (closed) pool.
    closed: AtomicBool,
    /// Whether a failed connection attempt was already logged at `warn`.
    warned: AtomicBool,
}

/// What a lane read came to.
#[derive(Debug)]
pub(crate) enum LaneRead<T> {
    /// The statement ran: its row, if any.
    Row(Option<T>),
    /// No answer here: run the statement on the pool.
    Elsewhere,
}

#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
}

#[derive(Default)]
enum LaneState {
    /// Never connected, or the last connection broke.
    #[default]
    Idle,
    /// A connection attempt is under way.
    Connecting,
    /// The last attempt failed; the next may start at this instant.
    Failed(Instant),
    Ready(Arc<Connected>),
}

struct Connected {
    client: Client,
    select_task: Statement,
}

impl ReadLanes {
    /// `count` lanes to the database of `options`, each running `session_setup` once
    /// connected (none when `count` is 0 or the options ask for TLS).
    pub(crate) fn new(
        options: &PgConnectOptions,
        count: usize,
        connect_timeout: Duration,
        session_setup: String,
    ) -> Arc<ReadLanes> {
        let config = (count > 0)
            .then(|| lane_config(options, connect_timeout))
            .flatten();
        if count > 0 && config.is_none() {
            tracing::debug!("the connection asks for TLS: no read lanes, reads use the pool");
        }
        let count = if config.is_some() { count } else { 0 };
        Arc::new(ReadLanes {
            config,
            session_setup,
            lanes: (0..count).map(|_| Lane::default()).collect(),
            next: AtomicUsize::new(0),
            on_lane: AtomicU64::new(0),
            on_pool: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        })
    }

    /// How many lanes this store reads through (0: every read uses the pool).
    pub(crate) fn count(&self) -> usize {
        self.lanes.len()
    }

    /// Connects every lane, waiting for all attempts to end (a failed one is retried by a
    /// later read).
    pub(crate) async fn connect_all(self: &Arc<Self>) {
        let mut attempts = tokio::task::JoinSet::new();
        for index in 0..self.count() {
            *self.lanes[index].lock() = LaneState::Connecting;
            let lanes = Arc::clone(self);
            attempts.spawn(async move { lanes.connect(index).await });
        }
        while attempts.join_next().await.is_some() {}
    }

    /// How many lanes are connected now.
    pub(crate) fn connected(&self) -> usize {
        self.lanes
            .iter()
            .filter(|lane| matches!(&*lane.lock(), LaneState::Ready(_)))
            .count()
    }

    /// Lanes configured and connected, reads answered on a lane and sent to the pool.
    pub(crate) fn stats(&self) -> LaneReadStats {
        LaneReadStats {
            lanes: u32::try_from(self.count()).unwrap_or(u32::MAX),
            connected: u32::try_from(self.connected()).unwrap_or(u32::MAX),
            on_lane: self.on_lane.load(Ordering::Relaxed),
            on_pool: self.on_pool.load(Ordering::Relaxed),
        }
    }

    /// Reads the live task `id` of `owner` at `now` on the next lane.
    pub(crate) async fn select_task(
        self: &Arc<Self>,
        id: &ResearchTaskId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> LaneRead<ResearchTask> {
        let read = self.select_task_on_lane(id, owner, now).await;
        let counter = match read {
            LaneRead::Row(_) => &self.on_lane,
            LaneRead::Elsewhere => &self.on_pool,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        read
    }

    async fn select_task_on_lane(
        self: &Arc<Self>,
        id: &ResearchTaskId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> LaneRead<ResearchTask> {
        let Some(index) = self.next_lane() else {
            return LaneRead::Elsewhere;
        };
        let Some(connected) = self.ready_or_connect(index) else {
            return LaneRead::Elsewhere;
        };
        let id_bytes: &[u8] = id.as_bytes();
        let result = connected
            .client
            .query_opt(&connected.select_task, &[&id_bytes, &owner, &now])
            .await;
        match result {
            Ok(None) => LaneRead::Row(None),
            Ok(Some(row)) => match task_from_lane_row(&row) {
                Some(task) => LaneRead::Row(Some(task)),
                None => LaneRead::Elsewhere,
            },
            Err(e) => {
                tracing::debug!(error = %e, "read lane failed; reading from the pool");
                if connected.client.is_closed() {
                    self.forget(index, &connected);
                }
                LaneRead::Elsewhere
            }
        }
    }

    /// Stops reading through lanes and drops their connections (each closes once the reads
    /// in flight on it are answered).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for lane in &self.lanes {
            *lane.lock() = LaneState::Idle;
        }
    }

    fn next_lane(&self) -> Option<usize> {
        if self.lanes.is_empty() || self.closed.load(Ordering::Acquire) {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len())
    }

    /// The lane's connection, or `None` after starting (at most one) connection attempt.
    fn ready_or_connect(self: &Arc<Self>, index: usize) -> Option<Arc<Connected>> {
        let mut state = self.lanes[index].lock();
        match &*state {
            LaneState::Ready(connected) => return Some(Arc::clone(connected)),
            LaneState::Connecting => return None,
            LaneState::Failed(retry_at) if Instant::now() < *retry_at => return None,
            LaneState::Idle | LaneState::Failed(_) => {}
        }
        *state = LaneState::Connecting;
        drop(state);
        let lanes = Arc::clone(self);
        tokio::spawn(async move { lanes.connect(index).await });
        None
    }

    async fn connect(&self, index: usize) {
        let outcome = match &self.config {
            Some(config) => connect(config, &self.session_setup).await,
            None => return,
        };
        let mut state = self.lanes[index].lock();
        if self.closed.load(Ordering::Acquire) {
            *state = LaneState::Idle;
            return;
        }
        *state = match outcome {
            Ok(connected) => {
                tracing::debug!(lane = index, "read lane connected");
                LaneState::Ready(Arc::new(connected))
            }
            Err(e) => {
                // Once at `warn` (a lasting cause, e.g. a password only libpq's other
                // sources know, would otherwise repeat every two seconds), then at `debug`.
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::debug!(lane = index, error = %e, "read lane could not connect");
                } else {
                    tracing::warn!(
                        error = %e,
                        "a postgres read lane could not connect; reads use the pool meanwhile"
                    );
                }
                LaneState::Failed(Instant::now() + RECONNECT_AFTER)
            }
        };
    }

    /// Drops the lane's connection if it is still `connected` (a later read reconnects).
    fn forget(&self, index: usize, connected: &Arc<Connected>) {
        let mut state = self.lanes[index].lock();
        if matches!(&*state, LaneState::Ready(current) if Arc::ptr_eq(current, connected)) {
            *state = LaneState::Idle;
        }
    }
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, LaneState> {
        // The state is replaced whole under the lock, so a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The lanes' connection settings, from the pool's; `None` when they ask for TLS.
fn lane_config(options: &PgConnectOptions, connect_timeout: Duration) -> Option<Config> {
    match options.get_ssl_mode() {
        PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer => {}
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => return None,
    }
    let mut config = Config::new();
    match options.get_socket() {
        Some(dir) => config.host_path(dir),
        None => config.host(options.get_host()),
    };
    config
        .port(options.get_port())
        .user(options.get_username())
        .connect_timeout(connect_timeout);
    if let Some(database) = options.get_database() {
        config.dbname(database);
    }
    let name = options.get_application_name().unwrap_or("baton");
    config.application_name(format!("{name} (read lane)"));
    if let Some(extra) = options.get_options() {
        config.options(extra);
    }
    // sqlx keeps the password it resolved (URL, PGPASSWORD, .pgpass) to itself but for the
    // URL it builds back; take it from there.
    if let Some(password) = options.to_url_lossy().password() {
        let decoded = percent_encoding::percent_decode_str(password).collect::<Vec<u8>>();
        config.password(decoded);
    }
    Some(config)
}

async fn connect(config: &Config, session_setup: &str) -> Result<Connected, String> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "read lane connection ended");
        }
    });
    client
        .batch_execute(session_setup)
        .await
        .map_err(|e| e.to_string())?;
    let select_task = client
        .prepare_typed(SELECT_TASK, &[Type::BYTEA, Type::TEXT, Type::TIMESTAMPTZ])
        .await
        .map_err(|e| e.to_string())?;
    Ok(Connected {
        client,
        select_task,
    })
}

/// A task row read on a lane; `None` if any column does not decode (the pool then reads
/// it again and reports what is wrong).
fn task_from_lane_row(row: &tokio_postgres::Row) -> Option<ResearchTask> {
    let raw = RawTask {
        id: row.try_get("id").ok()?,
        owner: row.try_get("owner").ok()?,
        topic: row.try_get("topic").ok()?,
        depth: row.try_get("depth").ok()?,
        status: row.try_get("status").ok()?,
        findings_count: row.try_get("findings_count").ok()?,
        created_at: row.try_get("created_at").ok()?,
        updated_at: row.try_get("updated_at").ok()?,
        expires_at: row.try_get("expires_at").ok()?,
        hard_expires_at: row.try_get("hard_expires_at").ok()?,
    };
    raw.into_task().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn config_of(url: &str) -> Option<Config> {
        let options = PgConnectOptions::from_str(url).expect("a valid url");
        lane_config(&options, Duration::from_secs(1))
    }

    #[test]
    fn lanes_take_the_pool_settings_and_the_decoded_password() {
        let config =
            config_of("postgres://alice:p%40ss%2Fw@db.internal:6543/baton?application_name=x")
                .expect("plain connections get lanes");
        assert_eq!(config.get_user(), Some("alice"));
        assert_eq!(config.get_password(), Some(&b"p@ss/w"[..]));
        assert_eq!(config.get_dbname(), Some("baton"));
        assert_eq!(config.get_ports(), &[6543]);
        assert_eq!(config.get_application_name(), Some("x (read lane)"));
        assert_eq!(
            config.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("db.internal".into())]
        );
    }

    #[test]
    fn a_unix_socket_stays_a_unix_socket() {
        let config = config_of("postgres://root@%2Fvar%2Frun%2Fpostgresql/test").expect("lanes");
        assert_eq!(
            config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );
    }

    #[test]
    fn tls_urls_get_no_lanes() {
        for mode in ["require", "verify-ca", "verify-full"] {
            assert!(config_of(&format!("postgres://u@h/d?sslmode={mode}")).is_none());
        }
        assert!(config_of("postgres://u@h/d?sslmode=prefer").is_some());
    }
}
