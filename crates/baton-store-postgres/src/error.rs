//! The one place where sqlx and Postgres errors become [`StoreError`]s.
//!
//! [`StoreErrorKind::Unavailable`] (retryable) covers everything that says "the database
//! could not be reached, or refused or abandoned this statement for a transient reason":
//!
//! * pool timeouts, a closed pool, I/O and TLS failures, a crashed connection worker;
//! * SQLSTATE class `08` (connection exception: refused, reset, failure);
//! * `57P01` admin_shutdown, `57P02` crash_shutdown, `57P03` cannot_connect_now
//!   (the server is stopping, restarting or still starting);
//! * `57014` query_canceled (our `statement_timeout` fired; the statement was rolled back);
//! * `40001` serialization_failure, `40P01` deadlock_detected, `55P03` lock_not_available;
//! * class `53` (insufficient resources, e.g. too_many_connections);
//! * `25006` read_only_sql_transaction (a failover left us on a standby for a moment).
//!
//! [`StoreErrorKind::Interrupted`] is the subset where the statement may have reached the
//! database before the connection broke, so its outcome is unknown: I/O and TLS failures, a
//! crashed connection worker, `08006` connection_failure and `08007`
//! transaction_resolution_unknown.
//!
//! Everything else (constraint violations, type errors, bad configuration, failed migrations)
//! is [`StoreErrorKind::Internal`]. The sqlx error is always attached as the source.

use baton_store::{StoreError, StoreErrorKind};
use sqlx::migrate::MigrateError;

/// SQLSTATE codes (or classes, when two characters long) that mean "try again".
const RETRYABLE_SQLSTATES: &[&str] = &[
    "08", "53", "57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03", "25006",
];

/// Whether a Postgres SQLSTATE code is transient.
pub(crate) fn is_retryable_sqlstate(code: &str) -> bool {
    RETRYABLE_SQLSTATES.iter().any(|c| {
        if c.len() == 2 {
            code.starts_with(c)
        } else {
            code == *c
        }
    })
}

/// Whether a sqlx error is transient (the store is unavailable, not broken).
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_retryable_sqlstate(&code)),
        sqlx::Error::Migrate(m) => matches!(&**m, MigrateError::Execute(e) if is_unavailable(e)),
        _ => false,
    }
}

/// Whether the connection broke with the statement possibly applied.
pub(crate) fn is_interrupted(err: &sqlx::Error) -> bool {
    match err {
        // A refused or unroutable connection never carried a statement.
        sqlx::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        ),
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code == "08006" || code == "08007"),
        _ => false,
    }
}

/// Converts a sqlx error, naming the operation that failed.
pub(crate) fn from_sqlx(operation: &str, err: sqlx::Error) -> StoreError {
    let kind = if is_interrupted(&err) {
        StoreErrorKind::Interrupted
    } else if is_unavailable(&err) {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Internal
    };
    let message = match kind {
        StoreErrorKind::Unavailable => format!("postgres unavailable during {operation}: {err}"),
        StoreErrorKind::Interrupted => {
            format!("postgres connection lost during {operation} (outcome unknown): {err}")
        }
        _ => format!("postgres error during {operation}: {err}"),
    };
    StoreError::new(kind, message).with_source(err)
}

/// Converts a migration error.
pub(crate) fn from_migrate(err: MigrateError) -> StoreError {
    match err {
        MigrateError::Execute(e) => from_sqlx("migration", e),
        other => StoreError::new(
            StoreErrorKind::Internal,
            format!("postgres migration failed: {other}"),
        )
        .with_source(other),
    }
}

/// An [`StoreErrorKind::Internal`] error for a row the store cannot make sense of.
pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::new(
        StoreErrorKind::Internal,
        format!("corrupt row in postgres: {}", what.into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        for code in [
            "08000", "08006", "08001", "57P01", "57P03", "57014", "40001", "40P01", "53300",
        ] {
            assert!(is_retryable_sqlstate(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "22001", "XX000", "57000"] {
            assert!(!is_retryable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn transport_errors_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            from_sqlx("ping", sqlx::Error::Io(io)).kind(),
            &StoreErrorKind::Unavailable
        );
        assert_eq!(
            from_sqlx("ping", sqlx::Error::PoolTimedOut).kind(),
            &StoreErrorKind::Unavailable
        );
        // A connection that broke mid-statement: the outcome is unknown.
        for kind in [
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            let io = std::io::Error::new(kind, "lost");
            assert_eq!(
                from_sqlx("append", sqlx::Error::Io(io)).kind(),
                &StoreErrorKind::Interrupted
            );
        }
        assert_eq!(
            from_sqlx("ping", sqlx::Error::RowNotFound).kind(),
            &StoreErrorKind::Internal
        );
    }
}
