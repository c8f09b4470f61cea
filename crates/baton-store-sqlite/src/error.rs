//! The one place where sqlx and SQLite errors become [`StoreError`]s.
//!
//! [`StoreErrorKind::Unavailable`] (retryable: nothing was changed) covers a pool timeout or
//! closed pool, an I/O failure, a crashed connection worker, and SQLite's BUSY, LOCKED,
//! IOERR, FULL and CANTOPEN results. Everything else is [`StoreErrorKind::Internal`].
//! Messages name the operation; bound values (secrets, texts) never appear.

use baton_store::{StoreError, StoreErrorKind};

/// Maps a sqlx error of operation `op`.
pub(crate) fn db_err(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
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

/// Maps a migration error.
pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    let kind = match &e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
            StoreErrorKind::Unavailable
        }
        _ => StoreErrorKind::Internal,
    };
    StoreError::new(kind, format!("sqlite: migration failed: {e}")).with_source(e)
}

/// An [`StoreErrorKind::Internal`] error for a value the store cannot make sense of.
pub(crate) fn corrupt(column: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        format!("sqlite: corrupt value in column {column}"),
    )
}

/// The writer task is gone (the store is closing, or it crashed): nothing was changed.
pub(crate) fn writer_stopped() -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        "sqlite: the writer has stopped",
    )
}

/// The writer answered a job with the outcome of another kind of job: a bug.
pub(crate) fn mismatch() -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        "sqlite: the writer answered another kind of job",
    )
}
