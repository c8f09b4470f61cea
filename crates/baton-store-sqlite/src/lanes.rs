//! Read lanes: the hottest read (one task by id, behind `get_task_status`) runs on the
//! calling thread, on `rusqlite` connections of its own, without sqlx's hand-off to a
//! per-connection worker thread.
//!
//! Why: with sqlx every statement is sent to the connection's worker thread, which wakes,
//! steps the statement and sends the row back, and the pool pings the connection when it is
//! given back. For a point read by primary key that is ≈ 50 µs of CPU and two thread
//! switches around ≈ 6 µs of SQLite's own work (bench/README.md, "Where a request's CPU
//! goes"). A lane read is a mutex `try_lock` and one cached statement.
//!
//! A lane read must never hold up the async worker thread it runs on, so it never waits:
//!
//! - its connection has no busy handler (`busy_timeout` 0): if SQLite cannot take the read
//!   lock at once (WAL recovery, an exclusive locker), the read returns at once;
//! - it only takes a lane that is free (`try_lock`); a lane is held only for one read, never
//!   across an `.await`.
//!
//! Whenever a lane cannot answer (every lane taken, the database busy, a connection that
//! cannot be opened, a statement or a row that fails), it says [`LaneRead::Elsewhere`] and
//! the store runs the same statement on its sqlx read pool, which waits for locks and
//! connections within its time-outs and reports errors as every other read does: a lane
//! is a shortcut, never a second source of answers or of errors. A failed lane drops its
//! connection (a busy one keeps it) and opens a new one on next use.
//!
//! Lanes open their connections lazily, read-only. A store that is not a file (an in-memory
//! database) has no lanes: every read goes to the pool. Once closed, lanes answer
//! [`LaneRead::Closed`] and never reopen behind the store's final WAL checkpoint. Reads never
//! write, so a lane's snapshot rules are the pool's: each statement reads one snapshot and
//! sees every write committed before it began.

use std::{
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row};

/// A fixed set of read connections.
pub(crate) struct ReadLanes {
    lanes: Box<[Mutex<Option<Connection>>]>,
    /// The database file; `None` when the store is not a file (no lanes then).
    file: Option<PathBuf>,
    /// Set by [`ReadLanes::close`]: reads then answer [`LaneRead::Closed`].
    closed: AtomicBool,
}

/// What a lane read came to.
#[derive(Debug)]
pub(crate) enum LaneRead<T> {
    /// The statement ran: its first row, if any.
    Row(Option<T>),
    /// No answer here: run the statement on the pool.
    Elsewhere,
    /// The store is closed.
    Closed,
}

/// Whether a lane error only means "not now" (a lock SQLite could not take at once), so
/// the connection is kept.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl ReadLanes {
    /// `count` lanes (at least one) over the database `file` (`None`: no lanes).
    pub(crate) fn new(file: Option<PathBuf>, count: usize) -> ReadLanes {
        ReadLanes {
            lanes: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            file,
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `sql` with `params` on a free lane and maps its first row with `map`, on the
    /// calling thread, without waiting for anything.
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> LaneRead<T> {
        if self.closed.load(Ordering::Acquire) {
            return LaneRead::Closed;
        }
        let Some(file) = &self.file else {
            return LaneRead::Elsewhere;
        };
        // The first free lane: lanes after the first open only under concurrent reads.
        let Some(mut lane) = self.lanes.iter().find_map(|lane| lane.try_lock().ok()) else {
            return LaneRead::Elsewhere;
        };
        // Checked again under the lane: `close` takes every lane after setting the flag, so
        // a read that got its lane before that finishes first, and none opens one after.
        if self.closed.load(Ordering::Acquire) {
            return LaneRead::Closed;
        }
        let conn = match lane.as_mut() {
            Some(conn) => conn,
            None => match open(file) {
                Ok(conn) => lane.insert(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "could not open a read lane; reading from the pool");
                    return LaneRead::Elsewhere;
                }
            },
        };
        let result = conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, map));
        match result {
            Ok(row) => LaneRead::Row(Some(row)),
            Err(rusqlite::Error::QueryReturnedNoRows) => LaneRead::Row(None),
            Err(e) => {
                if !is_busy(&e) {
                    tracing::debug!(error = %e, "a read lane failed; reading from the pool");
                    *lane = None;
                }
                LaneRead::Elsewhere
            }
        }
    }

    /// Closes every lane's connection (after the reads on them); later reads answer
    /// [`LaneRead::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for lane in self.lanes.iter() {
            // A poisoned lane only means a read panicked while holding it: close it too.
            let conn = match lane.lock() {
                Ok(mut lane) => lane.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(conn) = conn
                && let Err((_, e)) = conn.close()
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
                Ok(lane) => open += u32::from(lane.is_some()),
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
impl ReadLanes {
    /// Takes every lane (reads then go elsewhere) until the guards are dropped.
    pub(crate) fn hold_all(&self) -> Vec<std::sync::MutexGuard<'_, Option<Connection>>> {
        self.lanes.iter().map(|lane| lane.lock().unwrap()).collect()
    }
}

/// A read-only connection to `file` that never waits for a lock.
fn open(file: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lanes(count: usize) -> (tempfile::TempDir, PathBuf, ReadLanes) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lanes.db");
        let setup = Connection::open(&file).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (7);",
            )
            .unwrap();
        drop(setup);
        let lanes = ReadLanes::new(Some(file.clone()), count);
        (dir, file, lanes)
    }

    fn read_n(lanes: &ReadLanes) -> LaneRead<i64> {
        lanes.query_row("SELECT n FROM t WHERE n = ?1", [7], |row| row.get(0))
    }

    #[test]
    fn a_read_runs_on_a_lane_opened_on_first_use() {
        let (_dir, _file, lanes) = lanes(2);
        assert_eq!(lanes.stats(), (0, 0), "no connection before the first read");
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
        let none = lanes.query_row("SELECT n FROM t WHERE n = ?1", [8], |row| {
            row.get::<_, i64>(0)
        });
        assert!(matches!(none, LaneRead::Row(None)), "{none:?}");
        let (open, busy) = lanes.stats();
        assert!((1..=2).contains(&open), "{open} lanes open");
        assert_eq!(busy, 0);
    }

    #[test]
    fn a_read_sees_every_write_committed_before_it() {
        let (_dir, file, lanes) = lanes(1);
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
        let writer = Connection::open(&file).unwrap();
        writer.execute("UPDATE t SET n = 9", []).unwrap();
        let read = lanes.query_row("SELECT n FROM t", [], |row| row.get::<_, i64>(0));
        assert!(matches!(read, LaneRead::Row(Some(9))), "{read:?}");
    }

    #[test]
    fn a_locked_database_sends_the_read_elsewhere_at_once_and_keeps_the_lane() {
        let (_dir, file, lanes) = lanes(1);
        // An exclusive-mode writer keeps every other connection out, even WAL readers (it
        // can only take its lock while no other connection is open: every WAL connection
        // holds a shared lock on the file).
        let locker = Connection::open(&file).unwrap();
        locker
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE t SET n = 7;")
            .unwrap();
        let started = std::time::Instant::now();
        let read = read_n(&lanes);
        assert!(matches!(read, LaneRead::Elsewhere), "{read:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the read waited {:?} for the lock",
            started.elapsed()
        );
        assert_eq!(lanes.stats(), (1, 0), "a busy lane dropped its connection");
        drop(locker);
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
    }

    #[test]
    fn a_taken_lane_sends_the_read_elsewhere() {
        let (_dir, _file, lanes) = lanes(1);
        let held = lanes.lanes[0].lock().unwrap();
        assert!(matches!(read_n(&lanes), LaneRead::Elsewhere));
        drop(held);
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
    }

    #[test]
    fn a_failed_statement_drops_the_connection_and_reads_go_on() {
        let (_dir, _file, lanes) = lanes(1);
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
        let missing = lanes.query_row("SELECT * FROM missing", [], |row| row.get::<_, i64>(0));
        assert!(matches!(missing, LaneRead::Elsewhere), "{missing:?}");
        assert_eq!(lanes.stats(), (0, 0));
        // A row the mapping cannot read is not an answer either.
        let wrong = lanes.query_row("SELECT 'text'", [], |row| row.get::<_, i64>(0));
        assert!(matches!(wrong, LaneRead::Elsewhere), "{wrong:?}");
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
    }

    #[test]
    fn a_store_that_is_not_a_file_has_no_lanes() {
        let lanes = ReadLanes::new(None, 4);
        assert!(matches!(read_n(&lanes), LaneRead::Elsewhere));
        assert_eq!(lanes.stats(), (0, 0));
    }

    #[test]
    fn closed_lanes_answer_closed_and_never_reopen() {
        let (_dir, _file, lanes) = lanes(2);
        assert!(matches!(read_n(&lanes), LaneRead::Row(Some(7))));
        lanes.close();
        assert_eq!(lanes.stats(), (0, 0));
        assert!(matches!(read_n(&lanes), LaneRead::Closed));
        assert_eq!(lanes.stats(), (0, 0), "a closed lane reopened");
    }
}
