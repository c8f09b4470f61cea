//! Read lanes: connections kept apart from the read pool for the hottest read (one task by
//! id, behind `get_task_status`), reached without a pool acquire and released without a
//! ping.
//!
//! sqlx's pool tests every connection it gets back with a ping, in a task it spawns for
//! that: one more round trip to the connection's worker thread per query, because a query
//! future dropped half-way may leave a connection mid-statement. On SQLite the worker runs
//! commands in order, each answered on its own channel, and resets a statement whose reader
//! went away (sqlx-sqlite 0.8, `connection/worker.rs`), so a cut read harms nothing; a lane
//! still remembers whether its last read ran to the end and, when it did not, pings first
//! (the next read then waits for the cut one to stop, as it would in the pool). A lane whose
//! connection failed (I/O, a crashed worker) drops it and opens a new one on next use.
//!
//! Lanes open their connections lazily; a read takes the first free lane, or waits for one
//! in turn, at most the store's acquire timeout (then it fails as a pool acquire would).
//! Once the lanes are closed, reads fail as on a closed pool: a lane never reopens behind
//! the store's final WAL checkpoint. Reads never write, so a lane's snapshot rules are the
//! read pool's: each statement reads one snapshot, and sees every write committed before it
//! began.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::{
    Connection,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow},
};
use tokio::sync::{Mutex, MutexGuard};

/// A fixed set of read connections.
pub(crate) struct ReadLanes {
    lanes: Box<[Mutex<Lane>]>,
    /// Where the next read starts looking for a free lane (spreads the waits).
    next: AtomicUsize,
    options: SqliteConnectOptions,
    /// How long a read waits for a lane before failing as the pool would
    /// (`PoolTimedOut`, which the store reports as unavailable).
    wait: Duration,
    /// Set by [`ReadLanes::close`]: reads then fail with `PoolClosed`.
    closed: AtomicBool,
}

#[derive(Default)]
struct Lane {
    conn: Option<SqliteConnection>,
    /// False while a query runs: still false at the next use means the last one was
    /// dropped half-way, so the connection is pinged (flushed) before it is used again.
    clean: bool,
}

/// Whether an error means the connection itself is gone (not just this statement failed).
fn breaks_connection(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Protocol(_)
    )
}

impl ReadLanes {
    /// `count` lanes (at least one) over connections opened with `options`; a read waits at
    /// most `wait` for one.
    pub(crate) fn new(options: SqliteConnectOptions, count: usize, wait: Duration) -> ReadLanes {
        ReadLanes {
            lanes: (0..count.max(1)).map(|_| Mutex::default()).collect(),
            next: AtomicUsize::new(0),
            options,
            wait,
            closed: AtomicBool::new(false),
        }
    }

    /// A free lane, or the next one in turn once it is free (within `wait`).
    async fn take(&self) -> Result<MutexGuard<'_, Lane>, sqlx::Error> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.lanes.len();
        for i in 0..n {
            if let Ok(lane) = self.lanes[(start + i) % n].try_lock() {
                return Ok(lane);
            }
        }
        tokio::time::timeout(self.wait, self.lanes[start % n].lock())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// Runs `query` on a lane; at most one row.
    pub(crate) async fn fetch_optional<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<Option<SqliteRow>, sqlx::Error> {
        let mut lane = self.take().await?;
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        let was_clean = std::mem::replace(&mut lane.clean, false);
        let result = match lane.conn.as_mut() {
            Some(conn) if was_clean => query.fetch_optional(conn).await,
            Some(conn) => match conn.ping().await {
                Ok(()) => query.fetch_optional(conn).await,
                Err(e) => Err(e),
            },
            None => match SqliteConnection::connect_with(&self.options).await {
                Ok(conn) => query.fetch_optional(lane.conn.insert(conn)).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = &result
            && breaks_connection(e)
        {
            lane.conn = None;
        }
        lane.clean = true;
        result
    }

    /// Closes every lane's connection (waiting for the reads on them); later reads fail.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for lane in self.lanes.iter() {
            let conn = lane.lock().await.conn.take();
            if let Some(conn) = conn
                && let Err(e) = conn.close().await
            {
                tracing::debug!(error = %e, "closing a read lane's connection failed");
            }
        }
    }

    /// How many lanes have an open connection, and how many of those are in use.
    pub(crate) fn stats(&self) -> (u32, u32) {
        let (mut open, mut busy) = (0, 0);
        for lane in self.lanes.iter() {
            match lane.try_lock() {
                Ok(lane) => open += u32::from(lane.conn.is_some()),
                Err(_) => {
                    open += 1;
                    busy += 1;
                }
            }
        }
        (open, busy)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    async fn lanes(count: usize) -> (tempfile::TempDir, ReadLanes) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("lanes.db"))
            .create_if_missing(true);
        let mut setup = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&mut setup)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (7)")
            .execute(&mut setup)
            .await
            .unwrap();
        setup.close().await.unwrap();
        (dir, ReadLanes::new(options, count, Duration::from_secs(5)))
    }

    async fn read_n(lanes: &ReadLanes) -> i64 {
        use sqlx::Row;
        let row = lanes
            .fetch_optional(sqlx::query("SELECT n FROM t"))
            .await
            .unwrap()
            .unwrap();
        row.get(0)
    }

    #[tokio::test]
    async fn a_read_dropped_half_way_leaves_the_lane_to_be_flushed_and_reads_go_on() {
        let (_dir, lanes) = lanes(1).await;
        assert_eq!(read_n(&lanes).await, 7);
        // Dropped after its first poll: the query was sent, its answer never read.
        let cut = tokio::time::timeout(
            Duration::ZERO,
            lanes.fetch_optional(sqlx::query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) \
                 SELECT count(*) FROM c",
            )),
        )
        .await;
        assert!(cut.is_err(), "the read was meant to be cut");
        assert!(
            !lanes.lanes[0].lock().await.clean,
            "the cut read left it clean"
        );
        // The next read flushes the lane and gets its own answer, not the cut one's.
        assert_eq!(read_n(&lanes).await, 7);
        assert!(lanes.lanes[0].lock().await.clean);
        lanes.close().await;
        assert_eq!(lanes.stats(), (0, 0));
        let Err(e) = lanes.fetch_optional(sqlx::query("SELECT n FROM t")).await else {
            panic!("a read went through closed lanes");
        };
        assert!(matches!(e, sqlx::Error::PoolClosed), "{e}");
        assert_eq!(lanes.stats(), (0, 0), "a closed lane reopened");
    }

    #[tokio::test]
    async fn lanes_open_lazily_and_concurrent_reads_spread_over_them() {
        let (_dir, lanes) = lanes(3).await;
        assert_eq!(lanes.stats(), (0, 0), "no connection before the first read");
        let reads: Vec<_> = (0..12).map(|_| read_n(&lanes)).collect();
        for n in futures::future::join_all(reads).await {
            assert_eq!(n, 7);
        }
        let (open, busy) = lanes.stats();
        assert!((1..=3).contains(&open), "{open} lanes open");
        assert_eq!(busy, 0);
    }

    #[tokio::test]
    async fn a_read_waits_for_a_busy_lane_at_most_its_wait() {
        let (_dir, mut lanes) = lanes(1).await;
        lanes.wait = Duration::from_millis(50);
        let held = lanes.lanes[0].lock().await;
        let Err(e) = lanes.fetch_optional(sqlx::query("SELECT n FROM t")).await else {
            panic!("a read went through a lane held by another");
        };
        assert!(matches!(e, sqlx::Error::PoolTimedOut), "{e}");
        drop(held);
        assert_eq!(read_n(&lanes).await, 7);
    }

    #[tokio::test]
    async fn a_statement_error_keeps_the_connection_and_the_lane() {
        let (_dir, lanes) = lanes(1).await;
        assert_eq!(read_n(&lanes).await, 7);
        let Err(e) = lanes
            .fetch_optional(sqlx::query("SELECT * FROM missing"))
            .await
        else {
            panic!("a query of a missing table succeeded");
        };
        assert!(!breaks_connection(&e), "{e}");
        assert_eq!(lanes.stats(), (1, 0));
        assert_eq!(read_n(&lanes).await, 7);
    }
}
